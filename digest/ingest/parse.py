"""feedparser at the boundary: bytes and headers in, our own dataclasses out.

feedparser gets the raw body and the response headers, never a URL and never a decoded string,
so a GBK or GB18030 feed decodes by its own declaration (or by the HTTP charset when the feed is
silent). No ``FeedParserDict`` leaves this module.
"""

from __future__ import annotations

import calendar
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import feedparser

from digest.errors import ParseError
from digest.ingest.normalise import one_line
from digest.text import shorten


@dataclass(frozen=True, slots=True)
class RawEntry:
    guid: str | None
    link: str | None
    title: str  # may hold HTML
    summary: str  # may hold HTML; the longest of summary and content
    published: datetime | None
    roundup_link: str | None = None  # a story split out of a roundup without a link of its own


FEED_TITLE_CHARS = 120  # a channel title becomes every item's outlet


@dataclass(frozen=True, slots=True)
class ParsedFeed:
    title: str | None
    link: str | None
    entries: list[RawEntry]
    encoding: str | None
    warning: str | None  # feedparser's bozo exception, when the feed was usable anyway


def _struct_to_datetime(value: time.struct_time | None) -> datetime | None:
    if value is None:
        return None
    try:
        return datetime.fromtimestamp(calendar.timegm(value), tz=UTC)
    except (OverflowError, ValueError, OSError):
        return None


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""


def _longest_body(entry: Mapping[str, Any]) -> str:
    bodies = [_text(entry.get("summary"))]
    bodies.extend(_text(c.get("value")) for c in entry.get("content", ()) if hasattr(c, "get"))
    return max(bodies, key=len)


def _entry(entry: Mapping[str, Any]) -> RawEntry:
    published = entry.get("published_parsed") or entry.get("updated_parsed")
    published = published or entry.get("created_parsed")
    link = _text(entry.get("link")) or None
    guid = _text(entry.get("id")) or None
    return RawEntry(
        guid=guid,
        link=link,
        title=_text(entry.get("title")),
        summary=_longest_body(entry),
        published=_struct_to_datetime(published),
    )


_XML_DECLARATION = re.compile(rb"^\s*<\?xml[^>]*encoding=[\"']([A-Za-z0-9._-]+)", re.I)


def _repair_utf8(body: bytes, content_type: str) -> bytes:
    """A feed that says it is UTF-8 but carries a few invalid bytes: decode it as UTF-8 with
    replacement characters. Left to feedparser, the whole feed would be re-read in another
    encoding (ISO-8859-2, say), and every Chinese character would turn to mojibake."""
    declared = _XML_DECLARATION.match(body[:200])
    charset = declared.group(1).decode().lower() if declared else ""
    if not charset:
        charset = content_type.lower().partition("charset=")[2].split(";")[0].strip()
    if charset not in ("utf-8", "utf8", ""):
        return body
    try:
        body.decode("utf-8")
    except UnicodeDecodeError:
        text = body.decode("utf-8", errors="replace")
        if text.count("\ufffd") * 100 < len(text):  # a few bad bytes, not another encoding
            return text.encode("utf-8")
    return body


def parse_feed(body: bytes, headers: Mapping[str, str], url: str) -> ParsedFeed:
    """Parse a feed body. A bozo feed with entries is used; one with none is an error."""
    lowered = {k.lower(): v for k, v in headers.items()}
    lowered.setdefault("content-location", url)
    body = _repair_utf8(body, lowered.get("content-type", ""))
    result = feedparser.parse(
        body, response_headers=lowered, sanitize_html=False, resolve_relative_uris=False
    )
    warning = None
    if result.get("bozo"):
        exc = result.get("bozo_exception")
        warning = f"{type(exc).__name__}: {exc}" if exc else "malformed feed"
    entries = [_entry(e) for e in result.get("entries", [])]
    usable = [e for e in entries if e.title or e.summary or e.link]
    if not usable:
        # A news feed with nothing in it is almost always a broken generator or a login wall.
        version = result.get("version")
        problem = f"the {version} feed has no entries" if version else "not a feed"
        raise ParseError(problem + (f" ({warning})" if warning else ""))
    feed = result.get("feed", {})
    return ParsedFeed(
        title=shorten(one_line(_text(feed.get("title"))), FEED_TITLE_CHARS) or None,
        link=_text(feed.get("link")) or None,
        entries=usable,
        encoding=result.get("encoding"),
        warning=warning,
    )
