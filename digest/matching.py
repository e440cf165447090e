"""Find phrases as whole words: Latin script by word boundaries, Chinese by jieba tokens.

A Chinese phrase counts only where it starts and ends on token boundaries, so 海光 is not found
in 上海光源 (上海 / 光源) and 算能 is not found in 计算能力 (计算 / 能力).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from digest.text import HAN

_LATIN_EDGE_BEFORE = r"(?<![A-Za-z0-9])"
_LATIN_EDGE_AFTER = r"(?![A-Za-z0-9])"


@dataclass(frozen=True, slots=True)
class Match:
    phrase: str
    start: int
    end: int


def _alternation(phrases: Iterable[str]) -> str:
    ordered = sorted(set(phrases), key=lambda p: (-len(p), p))  # longest first wins
    return "|".join(re.escape(p).replace(r"\ ", r"\s+") for p in ordered)


class PhraseMatcher:
    """Compiled once per phrase set; ``find`` is a few regex scans per text."""

    def __init__(self, phrases: Iterable[str], case_sensitive: Iterable[str] = ()) -> None:
        phrases = set(phrases)
        exact = set(case_sensitive) & phrases
        han = {p for p in phrases if HAN.search(p)}
        latin = phrases - han
        self._lookup = {p.casefold(): p for p in latin - exact}
        self._lookup.update({p: p for p in exact | han})
        self._han = self._compile(han, r"", r"", 0)
        self._latin_exact = self._compile(exact & latin, _LATIN_EDGE_BEFORE, _LATIN_EDGE_AFTER, 0)
        self._latin_folded = self._compile(
            latin - exact, _LATIN_EDGE_BEFORE, _LATIN_EDGE_AFTER, re.IGNORECASE
        )

    @staticmethod
    def _compile(phrases: set[str], before: str, after: str, flags: int) -> re.Pattern[str] | None:
        if not phrases:
            return None
        return re.compile(f"{before}(?:{_alternation(phrases)}){after}", flags)

    def _canonical(self, found: str) -> str:
        squeezed = re.sub(r"\s+", " ", found)
        return self._lookup.get(squeezed) or self._lookup.get(squeezed.casefold(), squeezed)

    def find(self, text: str, boundaries: frozenset[int]) -> list[Match]:
        """Occurrences in ``text``; Chinese ones only on the given token boundaries."""
        found: list[Match] = []
        if self._han is not None:
            for m in self._han.finditer(text):
                if m.start() in boundaries and m.end() in boundaries:
                    found.append(Match(self._canonical(m.group()), m.start(), m.end()))
        for pattern in (self._latin_exact, self._latin_folded):
            if pattern is not None:
                found.extend(
                    Match(self._canonical(m.group()), m.start(), m.end())
                    for m in pattern.finditer(text)
                )
        found.sort(key=lambda m: m.start)
        return found
