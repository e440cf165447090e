"""The company knowledge base and the tagger that finds its companies in an item.

The base is a data file (``data/companies.toml``) loaded once. Tagging runs on the match form
of a text and its jieba tokens (see :mod:`digest.matching`); aliases that are also ordinary words
carry a guard: ``requires`` (some context word must be in the item) or ``unless`` (a nearby word
that means something else, as in 寒武纪大爆发, the Cambrian explosion).
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from digest.errors import ConfigError
from digest.matching import Match, PhraseMatcher
from digest.text import HAN

_UNLESS_WINDOW = 6  # characters either side of an alias in which an `unless` word vetoes it


@dataclass(frozen=True, slots=True)
class Company:
    id: str
    name_en: str
    name_zh: str
    segment: str
    weight: float
    description: str
    aliases: tuple[str, ...]
    tickers: tuple[str, ...]
    products: tuple[str, ...]
    people: tuple[str, ...] = ()  # founders and chiefs whose name in the news stands for it
    broad: bool = False  # a business far beyond AI compute (phones, games): a mention says less
    description_zh: str = ""

    def display_name(self, language: str = "en") -> str:
        return f"{self.name_zh} ({self.name_en})" if language == "zh" else self.name_en

    def describe(self, language: str) -> str:
        """The card's one line, in the reader's language where the base has it."""
        return self.description_zh if language == "zh" and self.description_zh else self.description

    @property
    def all_names(self) -> tuple[str, ...]:
        return (
            self.name_en,
            self.name_zh,
            *self.aliases,
            *self.tickers,
            *self.products,
            *self.people,
        )


@dataclass(frozen=True, slots=True)
class Guard:
    company_id: str
    alias: str
    requires: tuple[str, ...] = ()
    unless: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Tagging:
    """Companies found in one text, in order of first mention, with mention counts."""

    companies: tuple[str, ...] = ()
    mentions: dict[str, int] = field(default_factory=dict)
    first_end: dict[str, int] = field(default_factory=dict)  # where each is first named

    def named_before(self, offset: int) -> frozenset[str]:
        return frozenset(c for c, end in self.first_end.items() if end <= offset)


def _word_pattern(words: Iterable[str]) -> re.Pattern[str] | None:
    words = sorted(set(words), key=len, reverse=True)
    if not words:
        return None
    parts = [
        re.escape(w) if HAN.search(w) else rf"(?<![A-Za-z0-9]){re.escape(w)}(?![A-Za-z0-9])"
        for w in words
    ]
    return re.compile("|".join(parts))


@dataclass(frozen=True, slots=True)
class _CompiledGuard:
    guard: Guard
    requires: re.Pattern[str] | None
    unless: re.Pattern[str] | None

    def allows(self, text: str, match: Match) -> bool:
        if self.requires is not None and not self.requires.search(text):
            return False
        if self.unless is not None:
            window = text[max(0, match.start - _UNLESS_WINDOW) : match.end + _UNLESS_WINDOW]
            if self.unless.search(window):
                return False
        return True


class CompanyBase:
    """Every tracked company, a phrase → company index, and the tagger built on it."""

    def __init__(
        self,
        companies: Sequence[Company],
        guards: Sequence[Guard] = (),
        case_sensitive: Iterable[str] = (),
        checked: str | None = None,
    ) -> None:
        self.companies = {c.id: c for c in companies}
        self.checked = checked  # when listing facts were last checked (ISO date)
        self._owner: dict[str, str] = {}
        for company in companies:
            for name in company.all_names:
                self._owner.setdefault(name, company.id)
        self._guards = {
            g.alias: _CompiledGuard(g, _word_pattern(g.requires), _word_pattern(g.unless))
            for g in guards
        }
        for guard in guards:
            self._owner[guard.alias] = guard.company_id
        self._matcher = PhraseMatcher(self._owner, case_sensitive)

    def names(self) -> dict[str, str]:
        """Every name the matcher looks for (guarded aliases included), with its company's id."""
        return dict(self._owner)

    @classmethod
    def load(cls, path: Path | None = None) -> CompanyBase:
        """Read the data file (the bundled one unless ``path`` is given)."""
        try:
            if path is None:
                raw = resources.files("digest.data").joinpath("companies.toml").read_bytes()
            else:
                raw = path.read_bytes()
            data = tomllib.loads(raw.decode("utf-8"))
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise ConfigError(f"cannot read the company knowledge base: {exc}") from exc
        return cls._from_data(data)

    @classmethod
    def _from_data(cls, data: dict[str, Any]) -> CompanyBase:
        companies: list[Company] = []
        guards: list[Guard] = []
        exact: list[str] = []
        for entry in data.get("company", []):
            try:
                companies.append(
                    Company(
                        id=entry["id"],
                        name_en=entry["name_en"],
                        name_zh=entry["name_zh"],
                        segment=entry["segment"],
                        weight=float(entry["weight"]),
                        broad=bool(entry.get("broad", False)),
                        description=entry["description"],
                        description_zh=entry.get("description_zh", ""),
                        aliases=tuple(entry.get("aliases", ())),
                        tickers=tuple(entry.get("tickers", ())),
                        products=tuple(entry.get("products", ())),
                        people=tuple(entry.get("people", ())),
                    )
                )
            except KeyError as exc:
                raise ConfigError(f"company {entry.get('id', '?')!r} lacks {exc}") from exc
            guards.extend(
                Guard(
                    entry["id"],
                    g["alias"],
                    tuple(g.get("requires", ())),
                    tuple(g.get("unless", ())),
                )
                for g in entry.get("guarded", ())
            )
            exact.extend(entry.get("case_sensitive", ()))
            exact.extend(t for t in entry.get("tickers", ()) if not t.isdigit())
        return cls(companies, guards, exact, data.get("checked"))

    def __len__(self) -> int:
        return len(self.companies)

    def __iter__(self) -> Iterator[Company]:
        return iter(self.companies.values())

    def get(self, company_id: str) -> Company | None:
        return self.companies.get(company_id)

    def user_words(self) -> set[str]:
        """Names for jieba's user dictionary (the Chinese ones matter; jieba ignores the rest)."""
        return {name for name in self._owner if HAN.search(name)}

    def tag(self, text: str, boundaries: frozenset[int]) -> Tagging:
        """Companies in ``text`` (a match form) given its jieba token boundaries."""
        mentions: dict[str, int] = {}
        first_end: dict[str, int] = {}
        matches = self._matcher.find(text, boundaries)
        vetoed = self._vetoed(text, matches)
        for match in matches:
            guard = self._guards.get(match.phrase)
            if match.phrase in vetoed or (guard is not None and not guard.allows(text, match)):
                continue
            company_id = self._owner[match.phrase]
            mentions[company_id] = mentions.get(company_id, 0) + 1
            first_end.setdefault(company_id, match.end)
        return Tagging(tuple(mentions), mentions, first_end)

    def _vetoed(self, text: str, matches: list[Match]) -> set[str]:
        """One sense per text: once an `unless` word shows that 寒武纪 is the Cambrian period,
        every 寒武纪 of that text is the period."""
        vetoed = set()
        for match in matches:
            guard = self._guards.get(match.phrase)
            if guard is not None and guard.unless is not None and not guard.allows(text, match):
                vetoed.add(match.phrase)
        return vetoed

    def owner_of(self, name: str) -> str | None:
        """Exact name, alias, ticker or product → company id (case-insensitive for Latin)."""
        if name in self._owner:
            return self._owner[name]
        folded = name.casefold()
        for known, company_id in self._owner.items():
            if known.casefold() == folded:
                return company_id
        return self.companies[folded].id if folded in self.companies else None
