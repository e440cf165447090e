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
MAX_HEADLINE = 120  # characters: longer is a paragraph (the body is an article, not a list)


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


_BULLET = re.compile(r"^\s*(?:[-•·*]|\d{1,2}[.、)）])\s+")
_FIRST_SENTENCE = re.compile(r"^.{6,}?(?:[。！？!?]|[.;](?=\s))")


def _plain_stories(text: str) -> list[tuple[str, str]]:
    """(headline, text) of a plain-text roundup: a bulleted list (each bullet a story, its
    first sentence the headline), one headline per line, or headlines in one line split at
    semicolons; none when the body reads as an article."""
    lines = [" ".join(line.split()) for line in text.split("\n")]
    lines = [line for line in lines if line and not line.endswith((":", "："))]  # intros
    bullets = [_BULLET.sub("", line) for line in lines if _BULLET.match(line)]
    if len(bullets) >= MIN_STORIES:
        return [(_headline_of(b), b) for b in bullets if len(b) >= MIN_HEADLINE]
    if len(lines) < MIN_STORIES:
        lines = [" ".join(p.split()) for p in _rules().separators.split(" ".join(lines))]
    if any(len(line) > MAX_HEADLINE for line in lines):
        return []
    headlines = [line.strip(" 。.;；") for line in lines]
    return [(h, h) for h in headlines if len(h) >= MIN_HEADLINE]


def _headline_of(text: str) -> str:
    match = _FIRST_SENTENCE.match(text)
    headline = match.group(0) if match else text
    return headline[:MAX_HEADLINE].rstrip(" 。.;；")


def is_roundup_title(title: str) -> bool:
    """A briefing's name (早知道, Stock Movers...) or three headlines in one title."""
    if any(p.search(title) for p in _rules().title_markers):
        return True
    parts = [p for p in re.split(r"[；;]", title) if len(p.strip()) >= MIN_HEADLINE]
    return len(parts) >= MIN_STORIES


_HEADING = re.compile(
    r"<(h[1-4])\b[^>]*>(.*?)</\1>"
    # a paragraph that is all bold: its text may not run into the next paragraph
    r"|<p\b[^>]*>\s*<(?:strong|b)\b[^>]*>((?:(?!</?(?:p|strong|b)\b).)*)</(?:strong|b)>\s*</p>",
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
    # Linked headlines first: a list of them under topic headings is a story per link, the
    # headings being topics ("芯片"), not stories.
    links = _linked_headlines(entry.summary)
    if len(links) >= MIN_STORIES and _mostly_links(entry.summary, links):
        return [_story(entry, n, title, href) for n, (title, href) in enumerate(links)]
    if is_roundup_title(entry.title):
        sections = _sections(entry.summary)
        if len(sections) >= MIN_STORIES:
            return [
                _story(entry, n, heading, _first_link(html), html or heading)
                for n, (heading, html) in enumerate(sections)
            ]
    if is_roundup_title(entry.title):
        text = re.sub(r"<[^>]+>", "\n", entry.summary)
        stories = _plain_stories(text) or _plain_stories(_strip_marker(entry.title))
        if len(stories) >= MIN_STORIES:
            return [_story(entry, n, h, None, story) for n, (h, story) in enumerate(stories)]
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


def _story(
    entry: RawEntry, number: int, title: str, href: str | None, text: str | None = None
) -> RawEntry:
    base = entry.guid or entry.link or entry.title
    return replace(
        entry,
        guid=f"roundup-story:{number + 1}:{base}",  # not a URL: no canonical form merges them
        link=href,
        title=title,
        summary=text or title,
        roundup_link=None if href else entry.link,
    )
