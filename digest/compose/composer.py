"""Compose a digest: stories of the window → ranked → key points → template sections →
numbered, checked citations. The one orchestrator of the digest side, as ``pipeline`` is of
ingest.
"""

from __future__ import annotations

import math
import re
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime, tzinfo
from zoneinfo import ZoneInfo

from digest.companies import CompanyBase
from digest.compose.keypoints import (
    CentroidExtractor,
    ExtractedPoint,
    KeyPointExtractor,
    StoryInput,
)
from digest.compose.languages import (
    extract_versions,
    primary,
    reader_sections,
    renumber,
    versions_of,
)
from digest.compose.model import (
    CompanyCount,
    Digest,
    KeyPoint,
    Section,
    SourceRef,
    verify_citations,
)
from digest.compose.template import SectionSpec, Template
from digest.text import sentence_spans
from storage.types import Item

CORE_MIN, CORE_MAX = 3, 5
MAX_CITED = 6  # sources a key point cites; a story told 800 times says "and 794 more"
_CITATION = re.compile(r"\[(\d+)\]")
RECENCY_HOURS = 24.0


@dataclass(frozen=True, slots=True)
class RankedStory:
    story: StoryInput
    score: float


def group_stories(items: Sequence[Item]) -> list[StoryInput]:
    """The window's items by story; within a story the most relevant, then earliest, first."""
    groups: dict[int, list[Item]] = defaultdict(list)
    for item in items:
        groups[item.story_id].append(item)
    return [
        StoryInput(sid, tuple(sorted(group, key=lambda i: (-i.relevance, i.id))))
        for sid, group in groups.items()
    ]


def rank(stories: Sequence[StoryInput], companies: CompanyBase, now: datetime) -> list[RankedStory]:
    """Outlets carrying it first, then relevance, recency and the weight of the companies."""

    def score(story: StoryInput) -> float:
        outlets = len({i.outlet for i in story.items})
        relevance = max(i.relevance for i in story.items)
        newest = max(i.fetched_at for i in story.items)
        age_hours = max(0.0, (now - newest).total_seconds() / 3600)
        named = {c for i in story.items for c in i.companies}
        weight = max(
            (companies.companies[c].weight for c in named if c in companies.companies), default=0.0
        )
        return (
            3.0 * math.log2(1 + outlets)
            + min(relevance, 12.0) / 4
            + math.exp(-age_hours / RECENCY_HOURS)
            + weight / 3
        )

    ranked = [RankedStory(s, score(s)) for s in stories]
    ranked.sort(key=lambda r: (-r.score, r.story.story_id))
    return ranked


def core_size(stories: int) -> int:
    """3-5 for a busy window; a quiet one puts all of its (few) stories in the core."""
    if stories <= CORE_MIN:
        return stories
    return max(CORE_MIN, min(CORE_MAX, stories // 4))


def _section_words(story: StoryInput) -> tuple[list[str], list[str]]:
    """Words of the story's titles and of their first two lead sentences (stored tokens)."""
    title_words: list[str] = []
    lead_words: list[str] = []
    for item in story.items:
        title_lines = len(sentence_spans(item.title))
        for number, sentence in enumerate(item.tokens[: title_lines + 2]):
            (title_words if number < title_lines else lead_words).extend(sentence)
    return title_words, lead_words


class Composer:
    def __init__(
        self,
        template: Template,
        companies: CompanyBase,
        extractor: KeyPointExtractor | None = None,
        timezone: tzinfo | None = None,
    ) -> None:
        self.template = template
        self.companies = companies
        self.extractor = extractor or CentroidExtractor()
        self.timezone = timezone or ZoneInfo("Asia/Shanghai")

    def compose(
        self,
        items: Sequence[Item],
        *,
        edition: str,
        language: str,
        created_at: datetime,
        after_item_id: int,
        last_item_id: int,
        since: datetime | None = None,
    ) -> Digest:
        ranked = rank(group_stories(items), self.companies, created_at)
        stories = [r.story for r in ranked]
        versions = extract_versions(self.extractor, stories)
        points = [primary(versions[s.story_id], language) for s in stories]
        by_section = self._sections(stories, points)
        sections, sources = self._number(by_section, {s.story_id: s for s in stories}, language)
        sections = tuple(
            replace(
                section,
                key_points=tuple(
                    replace(p, versions=versions_of(versions[p.story_id]))
                    for p in section.key_points
                ),
            )
            for section in sections
        )
        sections, sources = renumber(reader_sections(sections, language), sources)
        digest = Digest(
            edition=edition,
            language=language,
            title=self._title(language, created_at),
            created_at=created_at,
            after_item_id=after_item_id,
            last_item_id=last_item_id,
            since=since,
            sections=sections,
            sources=sources,
            companies=self._company_counts(stories, language),
            headings={
                "companies": self.template.text("companies_heading", language),
                "sources": self.template.text("sources_heading", language),
                "empty": self.template.text("empty", language),
            },
        )
        verify_citations(digest)
        return digest

    def in_language(self, digest: Digest, language: str) -> Digest:
        """The same digest for a reader of ``language``: headings, and each key point in
        that language where its story was told in it (see :mod:`digest.compose.languages`)."""
        if digest.language == language:
            return digest
        specs = {s.id: s for s in self.template.sections}
        sections = tuple(
            replace(s, heading=specs[s.id].heading(language)) if s.id in specs else s
            for s in digest.sections
        )
        sections, sources = renumber(reader_sections(sections, language), digest.sources)
        names = {c.id: self.companies.get(c.id) for c in digest.companies}
        companies = tuple(
            replace(c, name=company.display_name(language)) if (company := names[c.id]) else c
            for c in digest.companies
        )
        return replace(
            digest,
            language=language,
            title=self._title(language, digest.created_at),
            sections=sections,
            sources=sources,
            companies=companies,
            headings={
                "companies": self.template.text("companies_heading", language),
                "sources": self.template.text("sources_heading", language),
                "empty": self.template.text("empty", language),
            },
        )

    def _title(self, language: str, created_at: datetime) -> str:
        local = created_at.astimezone(self.timezone)
        date = (
            f"{local.year}年{local.month}月{local.day}日"
            if language == "zh"
            else f"{local:%Y-%m-%d}"
        )
        return f"{self.template.text('title', language)} · {date}"

    def _sections(
        self, stories: list[StoryInput], points: list[ExtractedPoint]
    ) -> dict[str, list[tuple[StoryInput, ExtractedPoint]]]:
        core = core_size(len(stories))
        placed: dict[str, list[tuple[StoryInput, ExtractedPoint]]] = defaultdict(list)
        for rank_number, (story, point) in enumerate(zip(stories, points, strict=True)):
            section: SectionSpec = (
                self.template.core
                if rank_number < core
                else self.template.classify(*_section_words(story))
            )
            if section.core and rank_number >= core:
                section = self.template.default
            placed[section.id].append((story, point))
        return placed

    def _number(
        self,
        placed: dict[str, list[tuple[StoryInput, ExtractedPoint]]],
        stories: dict[int, StoryInput],
        language: str,
    ) -> tuple[tuple[Section, ...], tuple[SourceRef, ...]]:
        """Sources numbered in order of first citation; a key point cites all its story's."""
        sources: list[SourceRef] = []
        numbers: dict[int, int] = {}
        sections = []
        for spec in self.template.sections:
            key_points = []
            for story, point in placed.get(spec.id, ()):
                cited = []
                members = stories[story.story_id].items
                for item in sorted(members, key=lambda i: i.id != point.item_id)[:MAX_CITED]:
                    if item.id not in numbers:
                        numbers[item.id] = len(sources) + 1
                        sources.append(
                            SourceRef(numbers[item.id], item.id, item.title, item.outlet, item.link)
                        )
                    cited.append(numbers[item.id])
                companies = Counter(c for i in story.items for c in i.companies)
                text = _CITATION.sub(r"［\1］", point.text)  # "[3]" in a source is not ours
                key_points.append(
                    KeyPoint(
                        text,
                        point.language,
                        story.story_id,
                        tuple(cited),
                        tuple(c for c, _ in companies.most_common()),
                        max(len(members) - MAX_CITED, 0),
                    )
                )
            if key_points:
                sections.append(Section(spec.id, spec.heading(language), tuple(key_points)))
        return tuple(sections), tuple(sources)

    def _company_counts(self, stories: list[StoryInput], language: str) -> tuple[CompanyCount, ...]:
        counts = Counter(c for s in stories for c in {c for i in s.items for c in i.companies})
        result = []
        for company_id, count in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])):
            company = self.companies.get(company_id)
            name = company.display_name(language) if company else company_id
            result.append(CompanyCount(company_id, name, count))
        return tuple(result)
