"""Find phrases as whole words: Latin script by whole words, Chinese by jieba tokens.

A Chinese phrase counts only where it starts and ends on token boundaries, so 海光 is not found
in 上海光源 (上海 / 光源) and 算能 is not found in 计算能力 (计算 / 能力). A Latin phrase is a
run of whole words (letters and digits, joined inside a word by ``-``, ``.`` or ``&``), so AMD
is not found in amd64 and Intel is not found in intelligence; a name of four letters or more
is found before a version (Qwen3.6, DeepSeek-V4-Pro). Latin matching looks word n-grams
up in a dictionary: linear in the text, whatever the number of phrases.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from digest.text import HAN

LATIN_WORD = re.compile(r"[A-Za-z0-9]+(?:[-.&][A-Za-z0-9]+)*")
_SPACE_ONLY = re.compile(r"\s+")
# A name of four letters or more followed by a version or a hyphenated qualifier (Qwen3.6,
# DeepSeek-V4, Nvidia-backed) names it; shorter ones do not (amd64, MU-MIMO).
_VERSIONED = re.compile(r"([A-Za-z]{4,})(?=[0-9]|-)")
# A three-letter name in capitals (GLM, MLU), then a hyphen and a number, is a product and its
# version (GLM-5.1, MLU-370); amd64 and MU-MIMO are not.
_CODE_VERSIONED = re.compile(r"([A-Za-z]{3})(?=-[0-9])")


@dataclass(frozen=True, slots=True)
class Match:
    phrase: str
    start: int
    end: int


class PhraseMatcher:
    """Compiled once per phrase set; ``find`` is one regex scan and a few dict look-ups."""

    def __init__(self, phrases: Iterable[str], case_sensitive: Iterable[str] = ()) -> None:
        phrases = set(phrases)
        exact = set(case_sensitive) & phrases
        han = {p for p in phrases if HAN.search(p)}
        latin = phrases - han
        self._exact = {self._key(p): p for p in latin & exact}
        self._folded = {self._key(p).casefold(): p for p in latin - exact}
        self._longest = max((len(LATIN_WORD.findall(p)) for p in latin), default=0)
        ordered = sorted(han, key=lambda p: (-len(p), p))  # longest first wins
        self._han = re.compile("|".join(map(re.escape, ordered))) if ordered else None

    @staticmethod
    def _key(phrase: str) -> str:
        return " ".join(LATIN_WORD.findall(phrase))

    def find(self, text: str, boundaries: frozenset[int]) -> list[Match]:
        """Occurrences in ``text``; Chinese ones only on the given token boundaries."""
        found = self._find_latin(text) if self._longest else []
        if self._han is not None:
            for m in self._han.finditer(text):
                if m.start() in boundaries and m.end() in boundaries:
                    found.append(Match(m.group(), m.start(), m.end()))
        found.sort(key=lambda m: m.start)
        return found

    def _find_latin(self, text: str) -> list[Match]:
        words = list(LATIN_WORD.finditer(text))
        found: list[Match] = []
        i = 0
        while i < len(words):
            match = self._longest_at(text, words, i)
            if match is None:
                i += 1
                continue
            found.append(match[0])
            i += match[1]
        return found

    def _longest_at(
        self, text: str, words: list[re.Match[str]], i: int
    ) -> tuple[Match, int] | None:
        n_max = 1
        while (
            n_max < self._longest
            and i + n_max < len(words)
            and _SPACE_ONLY.fullmatch(text, words[i + n_max - 1].end(), words[i + n_max].start())
        ):
            n_max += 1
        for n in range(n_max, 0, -1):
            key = " ".join(w.group() for w in words[i : i + n])
            phrase = self._lookup(key)
            if phrase is not None:
                return Match(phrase, words[i].start(), words[i + n - 1].end()), n
        versioned = _VERSIONED.match(words[i].group())
        if versioned and (phrase := self._lookup(versioned.group(1))) is not None:
            start = words[i].start()  # Qwen3.6, DeepSeek-V4-Pro, Intel-based: the name
            return Match(phrase, start, start + len(versioned.group(1))), 1
        coded = _CODE_VERSIONED.match(words[i].group())
        if coded and coded.group(1).isupper() and (phrase := self._lookup(coded.group(1))):
            start = words[i].start()
            return Match(phrase, start, start + 3), 1
        return None

    def _lookup(self, key: str) -> str | None:
        return self._exact.get(key) or self._folded.get(key.casefold())
