"""Roundups: one feed item that packs several stories — a morning briefing whose title lists
three headlines, a day's news as a list of linked headlines under section headings. Such an
item is split into one entry per story before anything else sees it, so each story is cleaned,
tagged, scored, clustered and cited on its own: its sub-headline as its title, its own link
where the roundup gives one (the roundup's otherwise).
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, replace
from functools import cache
from html.parser import HTMLParser
from importlib import resources

from digest.ingest.parse import RawEntry

MIN_STORIES = 3  # fewer is a story with a list in it, not a roundup
MIN_HEADLINE = 6  # characters: shorter is a label, not a headline


@dataclass(frozen=True, slots=True)
class RoundupRules:
    title_markers: tuple[re.Pattern[str], ...]
    separators: re.Pattern[str]


@cache
def _rules() -> RoundupRules:
    raw = resources.files("digest.data").joinpath("cleaning.toml").read_text("utf-8")
    data = tomllib.loads(raw).get("roundups", {})
    return RoundupRules(
        tuple(re.compile(p) for p in data.get("title_markers", ())),
        re.compile("|".join(data.get("separators", ["；"]))),
    )


class _Links(HTMLParser):
    """The links of a body: (text, href) in order, each a candidate headline."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.links: list[tuple[str, str]] = []
        self._href: str | None = None
        self._text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "a":
            self._href = dict(attrs).get("href")
            self._text = []

    def handle_data(self, data: str) -> None:
        if self._href is not None:
            self._text.append(data)

    def handle_endtag(self, tag: str) -> None:
        if tag == "a" and self._href is not None:
            text = " ".join("".join(self._text).split())
            if len(text) >= MIN_HEADLINE and self._href.startswith(("http://", "https://")):
                self.links.append((text, self._href))
            self._href = None


def _linked_headlines(body: str) -> list[tuple[str, str]]:
    parser = _Links()
    try:
        parser.feed(body)
        parser.close()
    except (AssertionError, ValueError):  # HTMLParser on hostile markup
        return []
    return parser.links


def _plain_headlines(text: str) -> list[str]:
    parts = [" ".join(p.split()) for p in _rules().separators.split(text)]
    return [p.strip(" 。.;；") for p in parts if len(p.strip()) >= MIN_HEADLINE]


def is_roundup_title(title: str) -> bool:
    """A briefing's name (早知道, Stock Movers...) or three headlines in one title."""
    if any(p.search(title) for p in _rules().title_markers):
        return True
    parts = [p for p in re.split(r"[；;]", title) if len(p.strip()) >= MIN_HEADLINE]
    return len(parts) >= MIN_STORIES


_HEADING = re.compile(
    r"<(h[2-4])\b[^>]*>(.*?)</\1>|<p\b[^>]*>\s*<(?:strong|b)\b[^>]*>(.*?)</(?:strong|b)>\s*</p>",
    re.IGNORECASE | re.DOTALL,
)


def _sections(body: str) -> list[tuple[str, str]]:
    """(sub-headline, its HTML) for a body organised under headings."""
    marks = [
        (m.start(), m.end(), " ".join(re.sub(r"<[^>]+>", "", m.group(2) or m.group(3)).split()))
        for m in _HEADING.finditer(body)
    ]
    marks = [m for m in marks if len(m[2]) >= MIN_HEADLINE]
    sections = []
    for number, (_, end, heading) in enumerate(marks):
        stop = marks[number + 1][0] if number + 1 < len(marks) else len(body)
        sections.append((heading, body[end:stop]))
    return sections


def split(entry: RawEntry) -> list[RawEntry]:
    """The stories of a roundup, or the entry itself."""
    if is_roundup_title(entry.title):
        sections = _sections(entry.summary)
        if len(sections) >= MIN_STORIES:
            return [
                replace(_story(entry, n, heading, _first_link(html)), summary=html or heading)
                for n, (heading, html) in enumerate(sections)
            ]
    links = _linked_headlines(entry.summary)
    if len(links) >= MIN_STORIES and _mostly_links(entry.summary, links):
        return [_story(entry, n, title, href) for n, (title, href) in enumerate(links)]
    if is_roundup_title(entry.title):
        text = re.sub(r"<[^>]+>", "\n", entry.summary)
        headlines = _plain_headlines(text) or _plain_headlines(_strip_marker(entry.title))
        if len(headlines) >= MIN_STORIES:
            return [_story(entry, n, h, None) for n, h in enumerate(headlines)]
    return [entry]


_HREF = re.compile(r"""href=["'](https?://[^"']+)["']""", re.IGNORECASE)


def _first_link(html: str) -> str | None:
    links = set(_HREF.findall(html))
    return links.pop() if len(links) == 1 else None  # one link in its text: the story's own


def _mostly_links(body: str, links: list[tuple[str, str]]) -> bool:
    """A list of linked headlines, not an article that cites a few sources."""
    text = re.sub(r"<[^>]+>", " ", body)
    linked = sum(len(t) for t, _ in links)
    return linked >= 0.5 * len(" ".join(text.split()))


def _strip_marker(title: str) -> str:
    return re.sub(r"[｜|]\s*[^｜|]{0,10}$", "", title)


def _story(entry: RawEntry, number: int, title: str, href: str | None) -> RawEntry:
    base = entry.guid or entry.link or entry.title
    return replace(
        entry,
        guid=f"roundup-story:{number + 1}:{base}",  # not a URL: no canonical form merges them
        link=href,
        title=title,
        summary=title,
        roundup_link=None if href else entry.link,
    )
