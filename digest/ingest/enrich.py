"""Enrichment: segment, tag companies, score relevance. One pass over each item's text."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources

from digest.companies import CompanyBase
from digest.errors import ConfigError
from digest.matching import PhraseMatcher
from digest.text import (
    Segmenter,
    detect_language,
    match_form,
    sentence_spans,
    token_boundaries,
)

# What makes global chip news bear on China: the country named, or one of its companies.
_CHINA = re.compile(
    r"中国|国内|国产|对华|中方|大陆|内地|中资|\bChina\b|\bChinese\b|\bBeijing\b|\bShanghai\b"
    r"|\bShenzhen\b|出口管制|export control|H20|H200|B30|MI308",
    re.IGNORECASE,
)
# Companies whose news is mostly not about compute (games, phones, shopping, mobile plans; a
# model maker's apps and benchmarks): without a compute term in the title or lead, their name
# counts half.
BROAD_SEGMENTS = frozenset({"internet", "telecom", "ai-models"})
# Terms too general to say an item is about compute ("AI", "large model"): they add to the
# score but do not make a broad company's news about compute.
WEAK_TERM = 1.0
TITLE_BOOST = 1.25  # a name or term in the title counts a quarter more than in the body
# Relevance reads the title and the lead only: a long article that names a chipmaker in its
# eighth paragraph is not about chips.
LEAD_CHARS = 300
_WORDLIKE = re.compile(r"\w", re.UNICODE)
# What makes a broad company's news (a model maker, an internet giant) count: its compute,
# pricing, chips or capital, named in the title or lead.
_COMPUTE_OR_CAPITAL = re.compile(
    r"算力|芯片|国产卡|GPU|数据中心|智算|融资|估值|募资|上市|IPO|配售|市值|股价|涨价|降价|定价|价格"
    r"|资本开支|capex|funding|valuation|pricing|price cut|data cent(?:er|re)",
    re.IGNORECASE,
)
_HAN = re.compile(r"[\u4e00-\u9fff]")


@dataclass(frozen=True, slots=True)
class Enrichment:
    language: str
    tokens: tuple[str, ...]  # word tokens of the match form (no spaces or punctuation)
    lead_tokens: tuple[str, ...]  # those of the title and the lead (near-duplicate shingles)
    sentence_tokens: tuple[tuple[str, ...], ...]  # word tokens sentence by sentence
    companies: tuple[str, ...]
    title_companies: frozenset[str]
    relevance: float
    relevant: bool
    lead_companies: frozenset[str] = frozenset()  # named in the title or the lead

    @property
    def leading_companies(self) -> frozenset[str]:
        """The companies a report leads with: its title's, else its lead's."""
        return self.title_companies or self.lead_companies


def load_domain_terms(text: str | None = None) -> dict[str, float]:
    """Parse ``term weight`` lines (the bundled file unless ``text`` is given)."""
    if text is None:
        text = resources.files("digest.data").joinpath("domain_terms.txt").read_text("utf-8")
    terms: dict[str, float] = {}
    for number, line in enumerate(text.splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        term, _, weight = line.rpartition(" ")
        try:
            terms[term.strip()] = float(weight)
        except ValueError as exc:
            raise ConfigError(f"domain_terms line {number}: expected 'term weight'") from exc
    return terms


def _group_tokens(
    text: str, tokens: list[str], lead_end: int
) -> tuple[tuple[str, ...], tuple[str, ...], tuple[tuple[str, ...], ...]]:
    """Word tokens: all of them, those before ``lead_end``, and grouped by sentence."""
    spans = sentence_spans(text)
    sentences: list[list[str]] = [[] for _ in spans]
    words: list[str] = []
    lead = 0
    index = position = 0
    for token in tokens:
        start, position = position, position + len(token)
        if not _WORDLIKE.search(token):
            continue
        words.append(token)
        lead += start < lead_end
        while index < len(spans) and start >= spans[index][1]:
            index += 1
        if index < len(spans) and start >= spans[index][0]:
            sentences[index].append(token)
    return tuple(words), tuple(words[:lead]), tuple(tuple(s) for s in sentences)


class Enricher:
    def __init__(
        self,
        companies: CompanyBase,
        terms: Mapping[str, float],
        threshold: float,
        segmenter: Segmenter | None = None,
    ) -> None:
        self.companies = companies
        self.threshold = threshold
        self._terms = dict(terms)
        self._term_matcher = PhraseMatcher(self._terms)
        self._segmenter = segmenter or Segmenter(companies.user_words() | set(self._terms))

    @property
    def segmenter(self) -> Segmenter:
        return self._segmenter

    def enrich(self, title: str, summary: str) -> Enrichment:
        text = match_form(f"{title}\n{summary}")
        title_end = len(match_form(title))
        tokens = self._segmenter.cut(text)
        boundaries = token_boundaries(tokens)
        tagging = self.companies.tag(text, boundaries)
        lead_end = title_end + 1 + LEAD_CHARS
        score, _ = self._score(
            text, boundaries, title_end, lead_end, tagging.named_before(lead_end)
        )
        words, lead_words, sentences = _group_tokens(text, tokens, lead_end)
        return Enrichment(
            language=detect_language(text),
            tokens=words,
            lead_tokens=lead_words,
            sentence_tokens=sentences,
            companies=tagging.companies,
            title_companies=tagging.named_before(title_end),
            relevance=round(score, 3),
            relevant=score >= self.threshold,
            lead_companies=tagging.named_before(lead_end),
        )

    def _score(
        self,
        text: str,
        boundaries: frozenset[int],
        title_end: int,
        lead_end: int,
        companies: frozenset[str],
    ) -> tuple[float, list[tuple[str, float]]]:
        """The relevance score and what made it: (domain term or company id, points)."""
        best: dict[str, float] = {}
        for match in self._term_matcher.find(text[:lead_end], boundaries):
            boost = TITLE_BOOST if match.end <= title_end else 1.0
            weight = self._terms.get(match.phrase, 0.0) * boost
            # a term counts once, at its strongest (or, for a negative term, its weakest)
            known = best.get(match.phrase)
            best[match.phrase] = weight if known is None else max(known, weight, key=abs)
        score = sum(best.values())
        anchors = sorted(best.items(), key=lambda pair: -pair[1])
        lead = text[:lead_end]
        # a compute term in the title or lead: the item is about compute
        on_topic = any(weight > WEAK_TERM for weight in best.values())
        capital_or_compute = bool(_COMPUTE_OR_CAPITAL.search(lead))
        on_topic = on_topic or capital_or_compute
        segments = {c: company.segment for c in companies if (company := self.companies.get(c))}
        chinese = any(s != "foreign" for s in segments.values()) or bool(_CHINA.search(lead))
        if not chinese and (segments or not _HAN.search(lead)):
            # Global chip news counts when it bears on China: named foreign companies only, or
            # an English report naming none, and no word of China in the title or lead.
            return score / 2, anchors
        for company_id in sorted(companies):
            company = self.companies.get(company_id)
            if company is None:
                continue
            broad = company.broad or company.segment in BROAD_SEGMENTS
            points = company.weight / 2 if broad and not on_topic else company.weight
            if company.segment == "ai-models" and capital_or_compute:
                points = company.weight * 2  # a model maker's compute, pricing or capital
            score += points
            anchors.append((company_id, points))
        return score, anchors

    def explain(self, title: str, summary: str) -> list[tuple[str, float]]:
        """What made an item's relevance: the domain terms of its title and lead (title terms
        count double) and the companies named there, with their points."""
        text = match_form(f"{title}\n{summary}")
        title_end = len(match_form(title))
        boundaries = token_boundaries(self._segmenter.cut(text))
        lead_end = title_end + 1 + LEAD_CHARS
        named = self.companies.tag(text, boundaries).named_before(lead_end)
        return self._score(text, boundaries, title_end, lead_end, named)[1]
