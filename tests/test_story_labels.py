"""Stories across outlets and languages, scored on the labelled set written for this project
(tests/fixtures/stories.tsv: 62 events told in Chinese and English — two also in traditional
Chinese —, 40 told by two Chinese outlets in their own words, 25 pairs of different events that
look alike). Targets from the issue: pair precision >= 0.95, recall >= 0.9, cross-language
recall >= 0.85, >= 97 % of the must-not-merge pairs kept apart."""

from __future__ import annotations

import pytest

from digest.ingest.embed import shared_use_embedder
from digest.ingest.fetch import FetchOptions
from digest.ingest.pipeline import IngestPipeline
from storage import Database
from tests.support.helpers import FakeClock
from tests.support.storyeval import ingest_reports, load_reports, score


def test_the_labelled_set_is_as_described() -> None:
    reports = load_reports()
    events = {r.event for r in reports}
    cross = {e for e in events if e.startswith("x")}
    assert len(cross) >= 60 and len({e for e in events if e.startswith("s")}) >= 40
    assert len({e[:-1] for e in events if e.startswith("a")}) >= 25
    assert all({r.language for r in reports if r.event == e} >= {"zh", "en"} for e in cross)


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)  # the scoring, not the database
def test_one_event_one_story_across_languages_and_different_events_apart(
    db: Database, enricher, clock: FakeClock
) -> None:
    pipeline = IngestPipeline(
        db, enricher, FetchOptions(), clock=clock, embedder=shared_use_embedder()
    )
    scores = score(db, ingest_reports(pipeline, db, clock()))
    print(scores)
    assert scores.precision >= 0.95, scores.false_merges
    assert scores.recall >= 0.90, scores.misses
    assert scores.cross_recall >= 0.85, scores.misses
    assert scores.apart >= 0.97, scores.false_merges


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_without_embeddings_languages_stay_apart_as_before(
    db: Database, enricher, clock: FakeClock
) -> None:
    """The seam holds: with embeddings off, the word signal alone still groups rewordings
    in one language and never merges the look-alike pairs (it cannot join languages)."""
    pipeline = IngestPipeline(db, enricher, FetchOptions(), clock=clock, embedder=None)
    scores = score(db, ingest_reports(pipeline, db, clock()))
    assert scores.cross_recall < 0.2 and scores.apart >= 0.9
