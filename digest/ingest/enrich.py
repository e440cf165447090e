"""Enrichment: segment, tag companies, score relevance. One pass over each item's text."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources

from digest.companies import Company, CompanyBase, Tagging
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
    r"|\bShenzhen\b|出口管制|export control|H20|H200|B30|MI308"
    # its markets and cities: memory prices in 华强北, an A-share sector's results ("北京时间"
    # is a clock and a sum "约合…元人民币" a conversion: neither says China)
    r"|(?:北京|上海)(?!时间)|深圳|杭州|华强北|A\s?股|港股|科创板|创业板|沪深",
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
# What makes a broad company's news count in full: compute, or capital and pricing, named in
# the title or the first sentence (a model maker's counts double then; see _company_points).
_COMPUTE = re.compile(
    r"算力|芯片|国产卡|GPU|数据中心|智算|资本开支|capex|\bchips?\b|data cent(?:er|re)"
    r"|AI infrastructure|computing power",
    re.IGNORECASE,
)
_CAPITAL = re.compile(
    r"融资|估值|募资|上市|IPO|配售|市值|股价|涨价|降价|定价|价格|funding|valuation|pricing"
    r"|price cut",
    re.IGNORECASE,
)
# An internet giant's compute: its data centres and servers, its AI infrastructure, its capex.
_INFRA = re.compile(
    r"算力|数据中心|智算|服务器|资本开支|capex|GPU|data cent(?:er|re)|AI infrastructure"
    r"|computing power",
    re.IGNORECASE,
)
# Global chip news naming China (its export rules, its customers) bears on China's industry;
# naming no word of China, only foreign companies or places, it counts a third.
CHINA_BEARING = 1.0
GLOBAL_SHARE = 1 / 3
_FOREIGN = re.compile(
    r"微软|Microsoft|\bMeta\b|OpenAI|Anthropic|苹果公司|\bApple\b|特斯拉|Tesla|亚马逊|Amazon"
    r"|\bAWS\b|甲骨文|Oracle|Rapidus|三星|SK集团|韩国|韩媒|日本|欧洲|欧盟|印度|摩根士丹利|高盛",
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
    # what the item is about: its title's companies, else the subject of its lead
    about_companies: frozenset[str] = frozenset()

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


LEAD_SUBJECTS = 2  # a lead naming more is a sector's news ("A, B, C rose"), not theirs


def _listed_once(points: Mapping[str, float], in_title: frozenset[str]) -> dict[str, float]:
    """Each company's points; but the companies a lead lists beside a title that names none of
    them (seven phone makers' AI services approved) count as one: the best of them."""
    listed = [c for c in points if c not in in_title]
    if len(listed) <= LEAD_SUBJECTS:
        return dict(points)
    best = max(listed, key=lambda c: points[c])
    return {c: p if c in in_title or c == best else 0.0 for c, p in points.items()}


def _about(tagging: Tagging, title_end: int, clause_end: int) -> frozenset[str]:
    """The companies an item is about: its title's, else its lead's subject."""
    in_title = tagging.named_before(title_end)
    if in_title:
        return in_title
    in_lead = tagging.named_before(clause_end)
    return in_lead if len(in_lead) <= LEAD_SUBJECTS else frozenset()


def _first_sentence(text: str, title_end: int, lead_end: int) -> tuple[int, int]:
    """(start, end) of the body's first sentence, read within the lead only (a 1 MB body is
    not split into sentences for this)."""
    for start, end in sentence_spans(text[:lead_end]):
        if start > title_end:
            return start, end
    return title_end, title_end


_CLAUSE_BREAK = re.compile(r"[，,：:；;（(]")
LEAD_CLAUSE_CHARS = 60


def _clause_end(text: str, sentence: tuple[int, int]) -> int:
    """Where the first clause of the body ends: its subject is named there ("华为开始向…",
    "Kunlunxin, Baidu's chip unit, hired…"), not in what the sentence goes on to say."""
    start, end = sentence
    stop = min(end, start + LEAD_CLAUSE_CHARS)
    brk = _CLAUSE_BREAK.search(text, start, stop)
    return brk.start() if brk else stop


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
        sentence = _first_sentence(text, title_end, lead_end)
        score, _ = self._score(
            text,
            boundaries,
            title_end,
            sentence[1],
            lead_end,
            tagging.named_before(lead_end),
            tagging.named_before(title_end),
        )
        words, lead_words, sentences = _group_tokens(text, tokens, lead_end)
        return Enrichment(
            language=detect_language(text),
            tokens=words,
            lead_tokens=lead_words,
            sentence_tokens=sentences,
            companies=tagging.companies,
            title_companies=tagging.named_before(title_end),
            about_companies=_about(tagging, title_end, _clause_end(text, sentence)),
            relevance=round(score, 3),
            relevant=score >= self.threshold,
            lead_companies=tagging.named_before(lead_end),
        )

    def _score(
        self,
        text: str,
        boundaries: frozenset[int],
        title_end: int,
        opening_end: int,
        lead_end: int,
        companies: frozenset[str],
        in_title: frozenset[str],
    ) -> tuple[float, list[tuple[str, float]]]:
        """The relevance score and what made it: (domain term or company id, points)."""
        best, title_terms = self._term_points(text[:lead_end], boundaries, title_end)
        title_anchored = any(self._terms[t] > 0 for t in title_terms)
        score = sum(best.values())
        anchors = sorted(best.items(), key=lambda pair: -pair[1])
        lead = text[:lead_end]
        opening = text[:opening_end]  # what the item says it is about: title, first sentence
        compute, capital = bool(_COMPUTE.search(opening)), bool(_CAPITAL.search(opening))
        # a term's own weight says whether it is about compute (the title's boost does not make
        # "large model" a compute word)
        on_topic = any(self._terms[t] > WEAK_TERM for t in best) or compute or capital
        segments = {c: company.segment for c in companies if (company := self.companies.get(c))}
        china = bool(_CHINA.search(lead))
        foreign_only = all(s == "foreign" for s in segments.values())
        named_abroad = bool(segments) or not _HAN.search(lead) or bool(_FOREIGN.search(lead))
        if not china and foreign_only and named_abroad:
            # Global chip news counts when it bears on China: foreign companies or places only,
            # or an English report naming none, and no word of China in the lead.
            return score * GLOBAL_SHARE, anchors
        if not segments and not title_anchored:
            return score / 2, anchors  # domain words in a body whose title is about else
        if self._off_topic_title(title_terms):
            return score / 2, anchors  # a phone's or a car's launch that names a model or AI
        if "foreign" in segments.values() and _CHINA.search(opening):
            score += CHINA_BEARING  # a foreign chipmaker's China business, export rules...
            anchors.append(("china", CHINA_BEARING))
        infra = bool(_INFRA.search(opening))
        points = {
            company_id: self._company_points(company, on_topic, compute or capital, infra)
            for company_id in sorted(companies)
            if (company := self.companies.get(company_id))
        }
        for company_id, share in _listed_once(points, in_title).items():
            score += share
            anchors.append((company_id, share))
        return score, anchors

    def _off_topic_title(self, title_terms: frozenset[str]) -> bool:
        """A title whose only domain words are weak ones ("large model") beside a consumer
        word (phone, new car)."""
        weights = [self._terms[t] for t in title_terms]
        return any(w < 0 for w in weights) and not any(w > WEAK_TERM for w in weights)

    def _term_points(
        self, lead: str, boundaries: frozenset[int], title_end: int
    ) -> tuple[dict[str, float], frozenset[str]]:
        """Each domain term of the title and lead, once, with its points; and the terms the
        title has."""
        best: dict[str, float] = {}
        in_title: set[str] = set()
        for match in self._term_matcher.find(lead, boundaries):
            titled = match.end <= title_end
            weight = self._terms.get(match.phrase, 0.0) * (TITLE_BOOST if titled else 1.0)
            if titled:
                in_title.add(match.phrase)
            # a term counts once, at its strongest (or, for a negative term, its weakest)
            known = best.get(match.phrase)
            best[match.phrase] = weight if known is None else max(known, weight, key=abs)
        return best, frozenset(in_title)

    @staticmethod
    def _company_points(
        company: Company, on_topic: bool, compute_or_capital: bool, infra: bool
    ) -> float:
        """A company's weight; half for a broad company's news that is not about compute; double
        for a model maker's compute, pricing or capital, or an internet giant's data centres."""
        if company.segment == "ai-models":  # its compute or capital in the opening, or little
            return company.weight * 2 if compute_or_capital else company.weight / 2
        if company.segment == "internet" and not company.broad and infra:
            return company.weight * 2
        broad = company.broad or company.segment in BROAD_SEGMENTS
        return company.weight / 2 if broad and not on_topic else company.weight

    def explain(self, title: str, summary: str) -> list[tuple[str, float]]:
        """What made an item's relevance: the domain terms of its title and lead (title terms
        count double) and the companies named there, with their points."""
        text = match_form(f"{title}\n{summary}")
        title_end = len(match_form(title))
        boundaries = token_boundaries(self._segmenter.cut(text))
        lead_end = title_end + 1 + LEAD_CHARS
        tagging = self.companies.tag(text, boundaries)
        named, in_title = tagging.named_before(lead_end), tagging.named_before(title_end)
        opening_end = _first_sentence(text, title_end, lead_end)[1]
        return self._score(text, boundaries, title_end, opening_end, lead_end, named, in_title)[1]
