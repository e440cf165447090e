"""Clean: what is not the article never reaches tags, stories, key points or search.

Real feeds carry more than the article: ratings and emoji markers in titles, curation notes
written by upstream filters, channel headers and footers, bylines and provenance, related-
reading blocks, image credits, and the chrome of whole web pages. The rules are data
(``data/cleaning.toml``); this module applies them to the plain text of a title and a body and
says what it removed (for ``/why`` and for the tests). Linear in the text: each rule is one
regular-expression pass.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from functools import cache
from importlib import resources

from digest.errors import ConfigError


@dataclass(frozen=True, slots=True)
class Cleaned:
    title: str
    body: str
    removed: tuple[str, ...]  # the pieces taken out, in order


@dataclass(frozen=True, slots=True)
class Rules:
    title_prefixes: tuple[re.Pattern[str], ...]
    title_suffixes: tuple[re.Pattern[str], ...]
    body_prefixes: tuple[re.Pattern[str], ...]
    body_cut_markers: tuple[re.Pattern[str], ...]
    body_anywhere: tuple[re.Pattern[str], ...]
    body_lines: re.Pattern[str] | None = None  # whole lines that are page chrome

    @classmethod
    def parse(cls, raw: str) -> Rules:
        names = (
            "title_prefixes",
            "title_suffixes",
            "body_prefixes",
            "body_cut_markers",
            "body_anywhere",
        )
        try:
            data = tomllib.loads(raw)
            lines = data.get("body_lines", ())
            chrome = (
                re.compile(
                    r"^[ \t]*(?:" + "|".join(f"(?:{p})" for p in lines) + r")[ \t]*(?:\n|$)", re.M
                )
                if lines
                else None
            )
            aggregator = _any_of(data.get("aggregators", ()))
            title_prefixes, title_suffixes, body_prefixes, cut_markers, anywhere = (
                tuple(re.compile(p.replace("<aggregator>", aggregator)) for p in data.get(name, ()))
                for name in names
            )
            return cls(title_prefixes, title_suffixes, body_prefixes, cut_markers, anywhere, chrome)
        except (tomllib.TOMLDecodeError, re.error) as exc:
            raise ConfigError(f"cleaning.toml: {exc}") from exc


def _any_of(names: list[str]) -> str:
    """A pattern for any of ``names``, longest first (凤凰网科技 whole, not 凤凰网 and a rest);
    none matches nothing."""
    ordered = sorted(names, key=len, reverse=True)
    return "(?:" + "|".join(map(re.escape, ordered)) + ")" if ordered else "(?!)"


@cache
def default_rules() -> Rules:
    return Rules.parse(resources.files("digest.data").joinpath("cleaning.toml").read_text("utf-8"))


def clean(title: str, body: str, rules: Rules | None = None) -> Cleaned:
    rules = rules or default_rules()
    removed: list[str] = []
    title = _strip_prefixes(title, rules.title_prefixes, removed)
    for pattern in rules.title_suffixes:
        title = pattern.sub(lambda m: _drop(m.group(0), removed), title)
    if rules.body_lines is not None:  # page chrome first: the title echo may stand below it
        body = rules.body_lines.sub(lambda m: _drop(m.group(0), removed).strip(), body)
    body = _strip_title_echo(title, body, removed)
    body = _strip_prefixes(body, rules.body_prefixes, removed)
    body = _cut_at_markers(body, rules.body_cut_markers, removed)
    for pattern in rules.body_anywhere:
        body = pattern.sub(lambda m: _drop(m.group(0), removed), body)
    return Cleaned(title.strip(), _tidy(body), tuple(removed))


def _strip_prefixes(text: str, patterns: tuple[re.Pattern[str], ...], removed: list[str]) -> str:
    changed = True
    while changed:  # a header can follow a curation note, a byline a header
        changed = False
        for pattern in patterns:
            match = pattern.match(text)
            if match and match.end() > 0:
                removed.append(match.group(0).strip())
                text = text[match.end() :]
                changed = True
    return text


_MARKER = re.compile(r"^[\W_]+", re.UNICODE)  # emoji, bullets, punctuation before a headline


def _strip_title_echo(title: str, body: str, removed: list[str]) -> str:
    """A body that opens by repeating its title (a channel post's bold headline, a web page's
    <h1>) loses that line: it is the title, not the article's first sentence."""
    first, newline, rest = body.lstrip().partition("\n")
    if title and newline and _MARKER.sub("", first).strip() == _MARKER.sub("", title).strip():
        removed.append(first.strip())
        return rest
    return body


def _cut_at_markers(text: str, patterns: tuple[re.Pattern[str], ...], removed: list[str]) -> str:
    cut = len(text)
    for pattern in patterns:
        match = pattern.search(text)
        if match and match.start() > 0 and match.start() < cut:  # never the whole body
            cut = match.start()
    if cut < len(text):
        removed.append(text[cut:].strip()[:200])
    return text[:cut]


def _drop(piece: str, removed: list[str]) -> str:
    removed.append(piece.strip())
    return " " if piece[:1].isspace() else ""


def _tidy(text: str) -> str:
    return re.sub(r"[ \t]{2,}", " ", text).strip()
