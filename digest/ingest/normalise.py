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
# Not the article, by structure: fine print (where upstream filters put their curation notes,
# and pages their credits), image captions, and the quoted earlier message a channel post
# replies to (RSSHub's Telegram route wraps it in a "rsshub-quote" block).
_ASIDE_TAGS = frozenset({"small", "figcaption"})
_ASIDE_CLASSES = ("rsshub-quote",)
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
    def __init__(self, drop_asides: bool) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._drop_asides = drop_asides
        self._skipping: list[str] = []  # the tags open inside a skipped element, outermost first

    def _skips(self, tag: str, attrs: list[tuple[str, str | None]]) -> bool:
        if tag in _SKIP_TAGS:
            return True
        if not self._drop_asides:
            return False
        classes = " ".join(value or "" for name, value in attrs if name == "class")
        return tag in _ASIDE_TAGS or any(c in classes for c in _ASIDE_CLASSES)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if self._skipping:
            if tag == self._skipping[0]:
                self._skipping.append(tag)  # nested like the skipped one: count its depth
        elif self._skips(tag, attrs):
            self._skipping.append(tag)
        elif tag in _BLOCK_TAGS:
            self.parts.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if self._skipping:
            if tag == self._skipping[0]:
                self._skipping.pop()
            if not self._skipping:
                self.parts.append("\n")
        elif tag in _BLOCK_TAGS:
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        if not self._skipping:
            self.parts.append(data)


def has_asides(markup: str) -> bool:
    """Whether :func:`html_to_text` may drop something of ``markup`` as not the article."""
    lowered = markup.lower()
    return any(f"<{tag}" in lowered for tag in _ASIDE_TAGS) or any(
        c in lowered for c in _ASIDE_CLASSES
    )


def html_to_text(markup: str, *, drop_asides: bool = True) -> str:
    """Visible text of an HTML fragment: tags and scripts dropped, entities decoded; with
    ``drop_asides``, fine print, captions and quoted messages dropped too (not the article)."""
    if "<" not in markup and "&" not in markup:
        return _squeeze(markup)
    parser = _TextExtractor(drop_asides)
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
