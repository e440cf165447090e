"""A window's key points before they are numbered.

Each story has a version of its point per language: first the extractive one (a sentence of a
report in that language), then — when a model is configured and the story is shown — the
model's, where it wrote one that passed the check. The core may open with Core Insights across
stories. Numbering gives every cited report a number in order of first citation.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import tzinfo

from digest.compose.answers import InsightBrief, StoryBrief, WrittenInsight
from digest.compose.keypoints import KeyPointExtractor, StoryInput
from digest.compose.languages import LANGUAGES, extract_versions, primary
from digest.compose.model import KeyPoint, Section, SourceRef, Version
from digest.compose.template import SectionSpec
from digest.compose.writer import ModelWriter
from storage.types import Item

MAX_CITED = 4  # sources a key point cites; a story told 800 times says "and 796 more"
INSIGHT_CITES = 2  # sources an insight cites per story it draws on
_CITATION = re.compile(r"\[(\d+)\]")

Placed = tuple[SectionSpec, StoryInput]


@dataclass(frozen=True, slots=True)
class Draft:
    point: KeyPoint  # without citations yet
    item_ids: tuple[int, ...]  # what it cites


@dataclass(slots=True)
class Drafts:
    language: str  # the digest's
    versions: dict[int, dict[str, Version]]  # story → language → version (best first)
    cited: dict[int, tuple[Item, ...]]  # story → the reports its point cites, best first
    stories: dict[int, StoryInput]
    timezone: tzinfo | None = None  # for each point's date
    insights: list[WrittenInsight] = field(default_factory=list)
    headlines: dict[int, dict[str, str]] = field(default_factory=dict)  # item → lang → text

    @classmethod
    def extract(
        cls,
        extractor: KeyPointExtractor,
        stories: Sequence[StoryInput],
        language: str,
        timezone: tzinfo | None = None,
    ) -> Drafts:
        extracted = extract_versions(extractor, stories)
        versions: dict[int, dict[str, Version]] = {}
        cited: dict[int, tuple[Item, ...]] = {}
        for story in stories:
            points = extracted[story.story_id]
            own: dict[str, Version] = {}
            for p in points:  # best first: the best of a language told twice wins
                # "[3]" in a report is not one of our citations
                text = _CITATION.sub(r"［\1］", p.text)
                own.setdefault(p.language, Version(p.language, text, p.item_id))
            versions[story.story_id] = own
            lead = primary(points, language).item_id
            cited[story.story_id] = tuple(
                sorted(story.items, key=lambda i: i.id != lead)[:MAX_CITED]
            )
        return cls(language, versions, cited, {s.story_id: s for s in stories}, timezone)

    def write(self, writer: ModelWriter, shown: Sequence[tuple[bool, StoryInput]]) -> None:
        """The model's points for the shown stories in both languages, and Core Insights
        across the core stories; whatever fails keeps its extractive version."""
        budget = writer.budget()
        briefs = [StoryBrief(s.story_id, self.cited[s.story_id]) for _, s in shown]
        for (story_id, language), point in writer.write_points(briefs, LANGUAGES, budget).items():
            self.versions[story_id][language] = Version(
                language, point.text, point.item_ids[0], by="model"
            )
            for item_id, headline in point.headlines.items():
                self.headlines.setdefault(item_id, {})[language] = headline
        core = [story for is_core, story in shown if is_core]
        if len(core) >= 2:
            insight_briefs = [
                InsightBrief(
                    s.story_id,
                    {lang: v.text for lang, v in self.versions[s.story_id].items()},
                    self.cited[s.story_id],
                )
                for s in core
            ]
            self.insights = writer.write_insights(insight_briefs, budget)

    def day_of(self, stories: Sequence[StoryInput]) -> str | None:
        if self.timezone is None:
            return None
        newest = max(i.published_at for s in stories for i in s.items)
        return newest.astimezone(self.timezone).date().isoformat()

    def story_draft(self, story: StoryInput) -> Draft:
        versions = self.versions[story.story_id]
        first = versions.get(self.language) or next(iter(versions.values()))
        point = KeyPoint(
            first.text,
            first.language,
            story.story_id,
            (),
            _companies([story]),
            max(len(story.items) - MAX_CITED, 0),
            tuple(versions.values()),
            first.by,
            day=self.day_of([story]),
        )
        return Draft(point, tuple(i.id for i in self.cited[story.story_id]))

    def insight_drafts(self) -> list[Draft]:
        drafts = []
        for insight in self.insights:
            item_ids = tuple(
                i.id for sid in insight.story_ids for i in self.cited[sid][:INSIGHT_CITES]
            )
            versions = tuple(
                Version(lang, text, item_ids[0], by="model") for lang, text in insight.texts.items()
            )
            first = next((v for v in versions if v.language == self.language), versions[0])
            point = KeyPoint(
                first.text,
                first.language,
                insight.story_ids[0],
                (),
                _companies([self.stories[sid] for sid in insight.story_ids]),
                0,
                versions,
                "model",
                insight.story_ids,
                self.day_of([self.stories[sid] for sid in insight.story_ids]),
            )
            drafts.append(Draft(point, item_ids))
        return drafts

    def number(
        self,
        shown: Sequence[tuple[SectionSpec, list[Draft]]],
        more: Sequence[tuple[SectionSpec, list[Draft]]],
    ) -> tuple[tuple[Section, ...], tuple[Section, ...], tuple[SourceRef, ...]]:
        """Sources numbered in order of first citation, the shown points first."""
        items = {i.id: i for s in self.stories.values() for i in s.items}
        numbers: dict[int, int] = {}

        def sections(groups: Sequence[tuple[SectionSpec, list[Draft]]]) -> tuple[Section, ...]:
            result = []
            for spec, drafts in groups:
                points = []
                for draft in drafts:
                    for item_id in draft.item_ids:
                        numbers.setdefault(item_id, len(numbers) + 1)
                    cited = tuple(dict.fromkeys(numbers[i] for i in draft.item_ids))
                    points.append(replace(draft.point, citations=cited))
                result.append(Section(spec.id, spec.heading(self.language), tuple(points)))
            return tuple(result)

        shown_sections, more_sections = sections(shown), sections(more)
        sources = tuple(
            SourceRef(
                number, i.id, i.title, i.outlet, i.link, dict(self.headlines.get(item_id, {}))
            )
            for item_id, number in numbers.items()
            if (i := items[item_id])
        )
        return shown_sections, more_sections, sources


def _companies(stories: Sequence[StoryInput]) -> tuple[str, ...]:
    counts = Counter(c for s in stories for i in s.items for c in i.companies)
    return tuple(c for c, _ in counts.most_common())
