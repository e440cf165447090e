"""Normalise parsed entries: plain text, UTC times, canonical links, stable keys."""

from __future__ import annotations

import hashlib
import html
import re
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser
from urllib.parse import parse_qsl, urlencode, urljoin, urlsplit, urlunsplit

_BLOCK_TAGS = frozenset(
    [
        "p",
        "div",
        "br",
        "li",
        "ul",
        "ol",
        "h1",
        "h2",
        "h3",
        "h4",
        "h5",
        "h6",
        "tr",
        "table",
        "blockquote",
        "section",
        "article",
        "header",
        "footer",
        "figure",
        "figcaption",
        "pre",
        "hr",
    ]
)
_SKIP_TAGS = frozenset({"script", "style", "noscript", "template", "iframe", "svg", "head"})
_SPACES = re.compile(r"[ \t\u00a0\u3000\r\f\v]+")
_NEWLINES = re.compile(r"\s*\n\s*")

# Query parameters that identify a campaign or a share, never the page itself.
_TRACKING_PREFIXES = ("utm_", "mtm_", "pk_", "hmsr", "hmpl", "hmcu", "hmkw", "hmci")
_TRACKING_NAMES = frozenset(
    [
        "fbclid",
        "gclid",
        "dclid",
        "msclkid",
        "yclid",
        "mc_cid",
        "mc_eid",
        "igshid",
        "spm",
        "scm",
        "ref",
        "ref_src",
        "from",
        "source",
        "share_token",
        "sharer_shareid",
        "sharer_sharetime",
        "shareid",
        "share_from",
        "wechat_redirect",
        "isappinstalled",
        "scene",
        "clicktime",
        "enterid",
        "ncid",
        "_hsenc",
        "_hsmi",
    ]
)
# A feed date more than this far ahead of the fetch is treated as wrong.
FUTURE_TOLERANCE = timedelta(minutes=15)


class _TextExtractor(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._skipping = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _SKIP_TAGS:
            self._skipping += 1
        elif tag in _BLOCK_TAGS:
            self.parts.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in _SKIP_TAGS:
            self._skipping = max(0, self._skipping - 1)
        elif tag in _BLOCK_TAGS:
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        if not self._skipping:
            self.parts.append(data)


def html_to_text(markup: str) -> str:
    """Visible text of an HTML fragment: tags and scripts dropped, entities decoded."""
    if "<" not in markup and "&" not in markup:
        return _squeeze(markup)
    parser = _TextExtractor()
    parser.feed(markup)
    parser.close()
    # Entities escaped twice (&amp;lt;) are common in feeds; one more unescape is harmless
    # because the result is plain text that the renderers escape again.
    return _squeeze(html.unescape("".join(parser.parts)))


def _squeeze(text: str) -> str:
    text = _SPACES.sub(" ", text)
    return _NEWLINES.sub("\n", text).strip()


def one_line(text: str) -> str:
    return " ".join(text.split())


def to_utc(value: datetime | None, fetched_at: datetime) -> datetime:
    """A tz-aware UTC time; missing or future dates fall back to the fetch time."""
    if value is None:
        return fetched_at
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    value = value.astimezone(UTC)
    return fetched_at if value > fetched_at + FUTURE_TOLERANCE else value


def canonical_link(link: str | None, base: str | None = None) -> str | None:
    """Absolute http(s) link without fragment, tracking parameters or default port."""
    if not link:
        return None
    link = link.strip()
    if base:
        link = urljoin(base, link)
    parts = urlsplit(link)
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        return None
    scheme = parts.scheme.lower()
    host = parts.hostname.lower()
    port = parts.port if parts.port and parts.port != {"http": 80, "https": 443}[scheme] else None
    netloc = f"{host}:{port}" if port else host
    query = [
        (k, v)
        for k, v in parse_qsl(parts.query, keep_blank_values=True)
        if k.lower() not in _TRACKING_NAMES and not k.lower().startswith(_TRACKING_PREFIXES)
    ]
    return urlunsplit((scheme, netloc, parts.path or "/", urlencode(query), ""))


def digest_key(*parts: str) -> str:
    """A stable 40-hex key for unique indexes."""
    return hashlib.sha1("\x1f".join(parts).encode("utf-8")).hexdigest()


_GLOBAL_GUID = re.compile(r"^(https?://|urn:|tag:)", re.IGNORECASE)


def guid_key(guid: str | None, feed_url: str, link: str | None, title: str) -> str:
    """Key of an entry's identity. A URL-, URN- or tag-shaped guid is global; a bare one
    ("123") only means something inside its own feed."""
    if guid:
        guid = guid.strip()
        return digest_key(guid) if _GLOBAL_GUID.match(guid) else digest_key(feed_url, guid)
    return digest_key(feed_url, link or "", title)


_CONTENT_NOISE = re.compile(r"[\W_]+", re.UNICODE)


def content_key(title: str, summary: str, link: str | None) -> str:
    """Key of an entry's content: the same words from any outlet are the same item.

    With a body too short to tell two articles apart, the link is part of the key, so two
    different articles under one generic headline ("早报") are not merged.
    """
    body = _CONTENT_NOISE.sub("", summary.casefold())
    head = _CONTENT_NOISE.sub("", title.casefold())
    if len(body) < 20:
        return digest_key(head, body, link or "")
    return digest_key(head, body)
