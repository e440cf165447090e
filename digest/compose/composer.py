"""Compose a digest: stories of the window → ranked → key points → template sections →
numbered, checked citations. The one orchestrator of the digest side, as ``pipeline`` is of
ingest.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime, tzinfo
from zoneinfo import ZoneInfo

from digest.companies import CompanyBase
from digest.compose.drafts import Draft, Drafts, Placed
from digest.compose.keypoints import CentroidExtractor, KeyPointExtractor, StoryInput
from digest.compose.languages import for_reader
from digest.compose.model import CompanyCount, Digest, verify_citations
from digest.compose.template import SectionSpec, Template
from digest.compose.writer import ModelWriter
from digest.text import sentence_spans
from storage.types import Item

CORE_MIN, CORE_MAX = 3, 5
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


@dataclass(frozen=True, slots=True)
class DigestSize:
    """How much of a window an edition shows (a morning's read, one Telegram message): at most
    ``points`` points, at most ``per_section`` in a section while others wait. The rest is
    counted and shown on request."""

    points: int = 15
    per_section: int = 4

    def split(self, placed: list[Placed]) -> tuple[list[Placed], list[Placed]]:
        if len(placed) <= self.points:
            return placed, []
        counts: Counter[str] = Counter()
        shown: list[Placed] = []
        for spec, story in placed:
            cap = CORE_MAX if spec.core else self.per_section
            if len(shown) < self.points and counts[spec.id] < cap:
                shown.append((spec, story))
                counts[spec.id] += 1
        taken = {id(story) for _, story in shown}
        for spec, story in placed:  # room left: the best of the crowded sections
            if len(shown) < self.points and id(story) not in taken and not spec.core:
                shown.append((spec, story))
                taken.add(id(story))
        order = {id(story): n for n, (_, story) in enumerate(placed)}
        shown.sort(key=lambda p: order[id(p[1])])
        return shown, [p for p in placed if id(p[1]) not in taken]


class Composer:
    def __init__(
        self,
        template: Template,
        companies: CompanyBase,
        extractor: KeyPointExtractor | None = None,
        timezone: tzinfo | None = None,
        *,
        writer: ModelWriter | None = None,
        size: DigestSize | None = None,
    ) -> None:
        self.template = template
        self.companies = companies
        self.extractor = extractor or CentroidExtractor()
        self.timezone = timezone or ZoneInfo("Asia/Shanghai")
        self.writer = writer
        self.size = size or DigestSize()

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
        placed = self._place(stories)
        shown, more = self.size.split(placed)
        drafts = Drafts.extract(self.extractor, stories, language, self.timezone)
        if self.writer is not None and shown:
            drafts.write(self.writer, [(spec.core, story) for spec, story in shown])
        sections, more_sections, sources = drafts.number(
            self._grouped(shown, drafts), self._grouped(more, drafts)
        )
        sections, more_sections, sources = for_reader(sections, more_sections, sources, language)
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
            headings=self._headings(language),
            more=more_sections,
        )
        verify_citations(digest)
        return digest

    def _headings(self, language: str) -> dict[str, str]:
        return {
            key: self.template.text(f"{key}_heading" if key != "empty" else key, language)
            for key in ("companies", "sources", "empty")
        }

    def _grouped(
        self, placed: list[Placed], drafts: Drafts
    ) -> list[tuple[SectionSpec, list[Draft]]]:
        """Sections in template order, each with its drafts in rank order (the core: Core
        Insights first, then the core stories no insight draws on)."""
        by_section: dict[str, list[Draft]] = defaultdict(list)
        covered = {sid for insight in drafts.insights for sid in insight.story_ids}
        for spec, story in placed:
            if spec.core and drafts.insights and not by_section[spec.id]:
                by_section[spec.id].extend(drafts.insight_drafts())
            if not (spec.core and story.story_id in covered):
                by_section[spec.id].append(drafts.story_draft(story))
        return [
            (spec, by_section[spec.id]) for spec in self.template.sections if by_section[spec.id]
        ]

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
        more = tuple(
            replace(s, heading=specs[s.id].heading(language)) if s.id in specs else s
            for s in digest.more
        )
        sections, more, sources = for_reader(sections, more, digest.sources, language)
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
            headings=self._headings(language),
            more=more,
        )

    def _title(self, language: str, created_at: datetime) -> str:
        local = created_at.astimezone(self.timezone)
        date = (
            f"{local.year}年{local.month}月{local.day}日"
            if language == "zh"
            else f"{local:%Y-%m-%d}"
        )
        return f"{self.template.text('title', language)} · {date}"

    def _place(self, stories: list[StoryInput]) -> list[Placed]:
        """Each story's section, in rank order: the best few are the core."""
        core = core_size(len(stories))
        placed: list[Placed] = []
        for rank_number, story in enumerate(stories):
            section: SectionSpec = (
                self.template.core
                if rank_number < core
                else self.template.classify(*_section_words(story))
            )
            if section.core and rank_number >= core:
                section = self.template.default
            placed.append((section, story))
        return placed

    def _company_counts(self, stories: list[StoryInput], language: str) -> tuple[CompanyCount, ...]:
        counts = Counter(c for s in stories for c in {c for i in s.items for c in i.companies})
        result = []
        for company_id, count in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])):
            company = self.companies.get(company_id)
            name = company.display_name(language) if company else company_id
            result.append(CompanyCount(company_id, name, count))
        return tuple(result)
