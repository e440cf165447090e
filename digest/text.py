"""Text forms used for matching, and jieba segmentation with the domain's user dictionary.

Matching runs on a *match form* of the text: NFKC (full-width letters and digits become ASCII)
and, when the text is written in traditional characters, OpenCC's Taiwan-to-simplified phrase
conversion (晶片 → 芯片). Display text is never converted: a key point quotes its source.
"""

from __future__ import annotations

import logging
import re
import unicodedata
from collections.abc import Iterable
from functools import cache

import jieba
import opencc

HAN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")

# Characters that OpenCC's t2s changes but that simplified Chinese uses too: 昇 (昇腾) must
# stay 昇, and one of them alone is no sign that a text is traditional.
_SHARED_CHARS = frozenset("昇吒乾著於")

jieba.setLogLevel(logging.WARNING)


@cache
def _to_simplified() -> opencc.OpenCC:
    return opencc.OpenCC("tw2sp")


@cache
def _char_t2s() -> opencc.OpenCC:
    return opencc.OpenCC("t2s")


def is_traditional(text: str) -> bool:
    """True when the text uses characters that only traditional Chinese writes."""
    converted = _char_t2s().convert(text)
    if converted == text:  # the common case, one C call
        return False
    if len(converted) != len(text):
        return True
    changed = {a for a, b in zip(text, converted, strict=True) if a != b}
    return bool(changed - _SHARED_CHARS)


def to_simplified(text: str) -> str:
    """Traditional → simplified, keeping the characters simplified text shares (昇)."""
    if not is_traditional(text):
        return text
    converter = _to_simplified()
    pieces = re.split(f"([{''.join(sorted(_SHARED_CHARS))}])", text)
    return "".join(p if p in _SHARED_CHARS else converter.convert(p) for p in pieces)


def match_form(text: str) -> str:
    """The form every matcher sees: NFKC, then simplified characters."""
    return to_simplified(unicodedata.normalize("NFKC", text))


def han_ratio(text: str) -> float:
    letters = sum(1 for ch in text if ch.isalpha())
    return len(HAN.findall(text)) / letters if letters else 0.0


def detect_language(text: str) -> str:
    """``zh`` or ``en``: Chinese when a fifth of the letters are Han characters.

    Two languages are all the product needs; counting scripts is exact for them where a
    statistical detector guesses on short titles.
    """
    return "zh" if han_ratio(text) >= 0.2 else "en"


# A sentence ends after 。！？；!?; (full- or half-width: the match form is NFKC), at a line
# break, or after ". " before a capital (not inside 8.08 or U.S.-style abbreviations).
_SENTENCE_BREAK = re.compile(
    r"(?<=[。！？；!?;])\s*|(?<=[a-z0-9%)\]”\"]\.)\s+(?=[A-Z“\"(])|\s*\n\s*"
)
_WORD = re.compile(r"\w")


def sentence_spans(text: str) -> list[tuple[int, int]]:
    """(start, end) of each sentence that has at least one word character."""
    spans, start = [], 0
    for brk in _SENTENCE_BREAK.finditer(text):
        if brk.end() == 0:
            continue
        spans.append((start, brk.start()))
        start = brk.end()
    spans.append((start, len(text)))
    return [(a, b) for a, b in spans if _WORD.search(text, a, b)]


class Segmenter:
    """A private jieba tokenizer with the knowledge base's names and domain terms added."""

    def __init__(self, user_words: Iterable[str]) -> None:
        self._tokenizer = jieba.Tokenizer()
        self._tokenizer.initialize()
        for word in sorted(set(user_words)):
            if HAN.search(word):
                # suggest_freq makes the word win against the dictionary's own split of it,
                # without a frequency so high that it steals characters from its neighbours.
                self._tokenizer.add_word(word, freq=self._tokenizer.suggest_freq(word, False))

    def cut(self, text: str) -> list[str]:
        """Tokens that concatenate back to ``text`` exactly (offsets stay valid)."""
        return self._tokenizer.lcut(text, HMM=True)


def token_boundaries(tokens: Iterable[str]) -> frozenset[int]:
    """Character offsets where a token starts or ends."""
    offsets = {0}
    position = 0
    for token in tokens:
        position += len(token)
        offsets.add(position)
    return frozenset(offsets)


def shorten(text: str, limit: int) -> str:
    """``text`` cut to at most ``limit`` characters, marked with an ellipsis."""
    return text if len(text) <= limit else text[: max(limit - 1, 0)].rstrip() + "…"
