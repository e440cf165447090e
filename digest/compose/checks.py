"""The mechanical check of what a language model wrote, before anything is sent.

A written text passes only if all of this holds:

* it is plain text in the requested language (no URL, no markup, no citation marks, no
  leaked reasoning, nothing addressed to the reader), within the length bounds;
* every number, percentage and amount in it (normalised across languages and units:
  6000亿元 = 600 billion yuan), every product code and ticker, and every company of the
  knowledge base it names appears in the sources it cites;
* every sentence of it is grounded in those sources: it shares most of its words with a
  source in its own language, or its meaning is close to a source sentence (the multilingual
  sentence encoder, when one is configured), or — across languages without an encoder — it
  states only facts (names, numbers, codes) the sources state.

The check returns the reason a text fails (a short English phrase for the logs and the retry
prompt), or None.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from digest.compose.rules import ModelRules, model_rules
from digest.signature import numbers, product_codes
from digest.text import (
    HAN,
    detect_language,
    is_traditional,
    match_form,
    sentence_spans,
    to_simplified,
)

CompanyFinder = Callable[[str], frozenset[str]]
Embed = Callable[[Sequence[str]], np.ndarray]  # rows of unit length

_URL = re.compile(
    r"https?://|www\.|t\.me/|\b[\w-]+\.(?:com|cn|net|org|io|me|ai|xyz|top|info|biz)\b", re.I
)
_MARKUP = re.compile(r"<[a-zA-Z/!]|&[a-z]+;|\*\*|__|`|\[[^\]]*\]\(|^\s*(?:#|[-*•]\s)", re.M)
_CITATION_MARK = re.compile(r"\[\s*\d+\s*\]|【\s*\d+\s*】|［\s*\d+\s*］")
_TRAILING_MARKS = re.compile(r"(?:\s*(?:\[\s*\d+\s*\]|【\s*\d+\s*】|［\s*\d+\s*］))+\s*$")
_EN_WORD = re.compile(r"[a-z][a-z0-9'-]+")
_STOP = frozenset(
    "the and for with from that this its their has have had was were are will would into over "
    "after than more most such which who what when where while also been being about said says "
    "new not but all can could per other as at by of on in to is it be an or".split()
)
LEXICAL_SHARE = {"zh": 0.4, "en": 0.5}
MEANING = 0.35  # cosine of a sentence with the closest source sentence (USE multilingual)
NUMBER_TOLERANCE = 0.005


def normalise(text: str, language: str) -> str:
    """What a model's text becomes before it is checked: trimmed, citation marks it put at
    the end dropped (we add ours), traditional script made simplified for Chinese readers."""
    text = _TRAILING_MARKS.sub("", " ".join(text.split()))
    if language == "zh" and is_traditional(text):
        text = to_simplified(text)
    return text


def _bigrams(text: str) -> set[str]:
    han = "".join(HAN.findall(match_form(text)))
    return {han[i : i + 2] for i in range(len(han) - 1)}


def _stems(text: str) -> set[str]:
    return {w[:6] for w in _EN_WORD.findall(match_form(text).lower()) if w not in _STOP}


def _sentences(text: str) -> list[str]:
    return [text[a:b] for a, b in sentence_spans(text)]


@dataclass(frozen=True, slots=True)
class Evidence:
    """What a written text may draw on: the sentences of the sources it cites."""

    sentences: tuple[str, ...]
    languages: frozenset[str]
    numbers: frozenset[tuple[str, float]]
    products: frozenset[str]
    companies: frozenset[str]
    bigrams: frozenset[str]
    stems: frozenset[str]
    vectors: np.ndarray | None


class Checker:
    def __init__(
        self,
        find_companies: CompanyFinder,
        embed: Embed | None = None,
        rules: ModelRules | None = None,
    ) -> None:
        self.find_companies = find_companies
        self.embed = embed
        self.rules = rules or model_rules()
        self._embed_lock = threading.Lock()

    def evidence(self, texts: Sequence[str]) -> Evidence:
        sentences = tuple(s for text in texts for s in _sentences(text))
        return Evidence(
            sentences=sentences,
            languages=frozenset(detect_language(s) for s in sentences),
            numbers=frozenset(n for t in texts for n in numbers(t)),
            products=frozenset(p for t in texts for p in product_codes(t)),
            companies=frozenset(c for t in texts for c in self.find_companies(t)),
            bigrams=frozenset(b for t in texts for b in _bigrams(t)),
            stems=frozenset(s for t in texts for s in _stems(t)),
            vectors=self._embed(list(sentences)) if sentences else None,
        )

    def _embed(self, texts: list[str]) -> np.ndarray | None:
        """Sentence vectors, one thread at a time (the writer checks from several)."""
        if self.embed is None:
            return None
        with self._embed_lock:
            return self.embed(texts)

    def join(self, parts: Sequence[Evidence]) -> Evidence:
        """The evidence of several sources together."""
        vectors = [p.vectors for p in parts if p.vectors is not None and len(p.vectors)]
        return Evidence(
            sentences=tuple(s for p in parts for s in p.sentences),
            languages=frozenset().union(*(p.languages for p in parts)),
            numbers=frozenset().union(*(p.numbers for p in parts)),
            products=frozenset().union(*(p.products for p in parts)),
            companies=frozenset().union(*(p.companies for p in parts)),
            bigrams=frozenset().union(*(p.bigrams for p in parts)),
            stems=frozenset().union(*(p.stems for p in parts)),
            vectors=np.vstack(vectors) if vectors else None,
        )

    def check(self, text: str, language: str, kind: str, evidence: Evidence) -> str | None:
        """Why ``text`` (already :func:`normalise`d) may not be sent, or None."""
        return (
            self._form(text, language, kind)
            or self._facts(text, evidence)
            or self._grounded(text, evidence)
        )

    # --- form -------------------------------------------------------------------------------

    def _form(self, text: str, language: str, kind: str) -> str | None:
        if not text:
            return "empty text"
        if _URL.search(text):
            return "contains a URL"
        if _MARKUP.search(text):
            return "contains markup"
        if _CITATION_MARK.search(text):
            return "citation marks inside the text"
        lowered = match_form(text).lower()
        if found := self.rules.reasoning.search(lowered):
            return f"leaked reasoning ({found.group(0)!r})"
        if found := self.rules.promotion.search(lowered):
            return f"addresses the reader ({found.group(0)!r})"
        if found := self.rules.instruction.search(lowered):
            return f"speaks of instructions ({found.group(0)!r})"
        if detect_language(text) != language:
            return f"written in {detect_language(text)}, not {language}"
        return self._length(text, language, kind)

    def _length(self, text: str, language: str, kind: str) -> str | None:
        low, high = self.rules.limits[f"{kind}_{language}"]
        size = len(text.replace(" ", "")) if language == "zh" else len(text.split())
        unit = "characters" if language == "zh" else "words"
        if size > high:
            return f"too long ({size} {unit}, at most {high})"
        if size < low:
            return f"too short ({size} {unit}, at least {low})"
        if len(_sentences(text)) > self.rules.max_sentences:
            return f"{len(_sentences(text))} sentences (at most {self.rules.max_sentences})"
        return None

    # --- facts ------------------------------------------------------------------------------

    def _facts(self, text: str, evidence: Evidence) -> str | None:
        for unit, value in sorted(numbers(text)):
            if not _known_number(unit, value, evidence.numbers):
                return f"a number its sources do not give ({_show(unit, value)})"
        if unknown := sorted(product_codes(text) - evidence.products):
            return f"a product code its sources do not give ({unknown[0]})"
        if unknown := sorted(self.find_companies(text) - evidence.companies):
            return f"names a company its sources do not ({unknown[0]})"
        return None

    # --- grounding --------------------------------------------------------------------------

    def _grounded(self, text: str, evidence: Evidence) -> str | None:
        sentences = _sentences(text)
        closeness = self._closeness(sentences, evidence)
        for index, sentence in enumerate(sentences):
            language = detect_language(sentence)
            if language in evidence.languages and _lexical(sentence, language, evidence):
                continue
            if closeness is not None and closeness[index] >= MEANING:
                continue
            if (
                closeness is None
                and language not in evidence.languages
                and self._anchored(sentence)
            ):
                continue  # across languages without an encoder: its facts were checked above
            return f"a sentence its sources do not support ({sentence[:40]!r})"
        return None

    def _anchored(self, sentence: str) -> bool:
        return bool(numbers(sentence) or product_codes(sentence) or self.find_companies(sentence))

    def _closeness(self, sentences: list[str], evidence: Evidence) -> np.ndarray | None:
        if self.embed is None or evidence.vectors is None or not len(evidence.vectors):
            return None
        vectors = self._embed(sentences)
        assert vectors is not None
        return np.asarray((vectors @ evidence.vectors.T).max(axis=1))


def _lexical(sentence: str, language: str, evidence: Evidence) -> bool:
    units = _bigrams(sentence) if language == "zh" else _stems(sentence)
    known = evidence.bigrams if language == "zh" else evidence.stems
    return bool(units) and len(units & known) / len(units) >= LEXICAL_SHARE[language]


def _known_number(unit: str, value: float, known: frozenset[tuple[str, float]]) -> bool:
    return any(
        u == unit and abs(v - value) <= NUMBER_TOLERANCE * max(abs(v), abs(value)) for u, v in known
    )


def _show(unit: str, value: float) -> str:
    return f"{value:g}" + ("" if unit == "n" else f" {unit}")
