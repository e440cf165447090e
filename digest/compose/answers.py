"""What goes to the language model and what comes back: the briefs (a story's numbered
sources, with feed text that speaks to a model left out), the JSON answers as pydantic models
(their schema is sent with the request), the checked results and their cached form."""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field

from pydantic import BaseModel, ConfigDict

from digest.compose.checks import normalise
from digest.compose.rules import ModelRules
from digest.text import sentence_spans
from storage.types import Item, Writing

log = logging.getLogger(__name__)
LEAD_CHARS = 400  # of each source's text sent to the model
LANGUAGES = ("zh", "en")


class Headline(BaseModel):
    model_config = ConfigDict(extra="forbid")
    source: int
    text: str


class PointAnswer(BaseModel):
    model_config = ConfigDict(extra="forbid")
    text: str
    citations: list[int]
    headlines: list[Headline]


class InsightAnswer(BaseModel):
    model_config = ConfigDict(extra="forbid")
    zh: str
    en: str
    stories: list[int]


class InsightsAnswer(BaseModel):
    model_config = ConfigDict(extra="forbid")
    insights: list[InsightAnswer]


@dataclass(frozen=True, slots=True)
class StoryBrief:
    story_id: int
    sources: tuple[Item, ...]  # the story's cited reports, best first: [1], [2]...


@dataclass(frozen=True, slots=True)
class WrittenPoint:
    story_id: int
    language: str
    text: str
    item_ids: tuple[int, ...]  # the sources the point draws on
    headlines: dict[int, str] = field(default_factory=dict)  # item id → headline in language


@dataclass(frozen=True, slots=True)
class Refusal:
    """The model's point was refused twice: the story keeps its extractive point, and the
    same question (same sources, model and prompt) is not asked again."""

    story_id: int
    language: str
    reason: str


@dataclass(frozen=True, slots=True)
class InsightBrief:
    story_id: int
    points: dict[str, str]  # language → the story's checked point
    sources: tuple[Item, ...]


@dataclass(frozen=True, slots=True)
class WrittenInsight:
    texts: dict[str, str]  # language → text
    story_ids: tuple[int, ...]


def source_text(item: Item, rules: ModelRules) -> str:
    """A report as the model and the check see it: its title and lead, unless it carries a
    sentence that speaks to a model — then its title only (the rest is not trusted)."""
    if rules.is_instruction(item.title):
        return ""
    sentences = [item.summary[a:b] for a, b in sentence_spans(item.summary)]
    if any(rules.is_instruction(s) for s in sentences):
        return item.title
    return f"{item.title}\n{item.summary[:LEAD_CHARS]}"


def stories_message(briefs: Sequence[InsightBrief]) -> str:
    lines = ["Stories:"]
    for number, brief in enumerate(briefs, 1):
        lines.append(f"\n[{number}]")
        lines.extend(f"{lang}: {text}" for lang, text in sorted(brief.points.items()))
    return "\n".join(lines)


def insight_from(answer: InsightAnswer, briefs: Sequence[InsightBrief]) -> WrittenInsight:
    texts = {lang: normalise(getattr(answer, lang), lang) for lang in LANGUAGES}
    stories = tuple(briefs[n - 1].story_id for n in dict.fromkeys(sorted(answer.stories)))
    return WrittenInsight(texts, stories)


def is_refusal(writing: Writing) -> bool:
    try:
        data = json.loads(writing.payload)
    except ValueError:
        return False
    return isinstance(data, dict) and "refused" in data


def point_from(writing: Writing) -> WrittenPoint | None:
    try:
        data = json.loads(writing.payload)
        headlines = {int(k): str(v) for k, v in data.get("headlines", {}).items()}
        assert writing.story_id is not None
        return WrittenPoint(
            writing.story_id, writing.language, data["text"], tuple(data["item_ids"]), headlines
        )
    except (ValueError, KeyError, TypeError, AssertionError):
        log.warning("model: cached writing %s is unreadable; writing it again", writing.key[:12])
        return None


def insights_from(writing: Writing) -> list[WrittenInsight]:
    try:
        return [
            WrittenInsight(dict(i["texts"]), tuple(i["stories"]))
            for i in json.loads(writing.payload)
        ]
    except (ValueError, KeyError, TypeError):
        return []
