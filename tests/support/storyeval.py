"""The labelled set of stories (tests/fixtures/stories.tsv) and how story assignment is scored
on it: every report ingested as its own outlet, then every pair of reports judged."""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

from digest.ingest.parse import ParsedFeed, RawEntry
from digest.ingest.pipeline import IngestPipeline
from storage import Database

LABELS = Path(__file__).parent.parent / "fixtures" / "stories.tsv"


@dataclass(frozen=True, slots=True)
class Report:
    event: str
    language: str
    title: str
    lead: str


def load_reports(path: Path = LABELS) -> list[Report]:
    rows = (line.split("\t") for line in path.read_text("utf-8").splitlines())
    return [Report(*row) for row in rows if len(row) == 4 and not row[0].startswith("#")]


def must_stay_apart(a: Report, b: Report) -> bool:
    """a01a and a01b: two different events that look alike."""
    return a.event.startswith("a") and b.event.startswith("a") and a.event[:-1] == b.event[:-1]


@dataclass
class Scores:
    true_pairs: int = 0
    predicted_pairs: int = 0
    correct_pairs: int = 0
    cross_true: int = 0
    cross_found: int = 0
    apart_pairs: int = 0
    apart_kept: int = 0
    misses: list[str] = field(default_factory=list)
    false_merges: list[str] = field(default_factory=list)

    @property
    def precision(self) -> float:
        return self.correct_pairs / self.predicted_pairs if self.predicted_pairs else 1.0

    @property
    def recall(self) -> float:
        return self.correct_pairs / self.true_pairs if self.true_pairs else 1.0

    @property
    def cross_recall(self) -> float:
        return self.cross_found / self.cross_true if self.cross_true else 1.0

    @property
    def apart(self) -> float:
        return self.apart_kept / self.apart_pairs if self.apart_pairs else 1.0

    def __str__(self) -> str:
        return (
            f"pair precision {self.precision:.3f}, recall {self.recall:.3f}, "
            f"cross-language recall {self.cross_recall:.3f}, must-not-merge kept apart "
            f"{self.apart:.3f} ({self.apart_kept}/{self.apart_pairs})"
        )


def ingest_reports(pipeline: IngestPipeline, db: Database, now: datetime) -> dict[int, Report]:
    """Each report from its own outlet, an hour apart at most; item id → report."""
    reports = load_reports()
    feeds = []
    for number, report in enumerate(reports):
        outlet = f"outlet-{number}"
        source, _ = db.sources.add(f"https://{outlet}.example/feed", now, outlet)
        entry = RawEntry(
            None,
            f"https://{outlet}.example/{report.event}",
            report.title,
            report.lead,
            now - timedelta(minutes=number % 60),
        )
        feeds.append((source, ParsedFeed(outlet, None, [entry], "utf-8", None)))
    pipeline.ingest_many(feeds)
    by_item: dict[int, Report] = {}
    for (source, _), report in zip(feeds, reports, strict=True):
        [item] = db.items.latest(source_id=source.id, limit=1)
        by_item[item.id] = report
    return by_item


def score(db: Database, by_item: dict[int, Report]) -> Scores:
    story = {item.id: item.story_id for item in db.items.by_ids(list(by_item))}
    scores = Scores()
    for (a_id, a), (b_id, b) in itertools.combinations(by_item.items(), 2):
        same_event = a.event == b.event
        same_story = story[a_id] == story[b_id]
        scores.true_pairs += same_event
        scores.predicted_pairs += same_story
        scores.correct_pairs += same_event and same_story
        if same_event and a.language != b.language:  # across languages or scripts
            scores.cross_true += 1
            scores.cross_found += same_story
        if same_event and not same_story:
            scores.misses.append(f"{a.title} | {b.title}")
        if same_story and not same_event:
            scores.false_merges.append(f"{a.title} | {b.title}")
        if must_stay_apart(a, b):
            scores.apart_pairs += 1
            scores.apart_kept += not same_story
    return scores
