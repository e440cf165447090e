"""Stories across languages and the reader's language, measured.

    python bench/stories.py                       # the labelled set (tests/fixtures/stories.tsv)
    python bench/stories.py --feeds ../shared/corpora/real-feeds-2 ../shared/corpora/real-feeds

The labelled set is ingested with embeddings off and on, and scored pair by pair (precision,
recall, cross-language recall, must-not-merge pairs kept apart), with the time embeddings
take. With ``--feeds``, every feed file of the folders is ingested (served from 127.0.0.1,
embeddings on), a digest of all of it is composed, and for a Chinese and an English reader it
prints: the stories told in more than one language, and the share of bullets in the reader's
language among stories that have a report in it (target 0.9 without a model).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.corpus import headers_of
from digest.companies import CompanyBase
from digest.compose.composer import Composer
from digest.compose.template import Template
from digest.ingest.embed import shared_use_embedder
from digest.ingest.enrich import Enricher, load_domain_terms
from digest.ingest.fetch import FetchOptions
from digest.ingest.pipeline import IngestOptions, IngestPipeline
from storage import Database
from tests.support.feedserver import FeedServer
from tests.support.storyeval import ingest_reports, score

NOW = datetime(2026, 11, 23, 1, 0, tzinfo=UTC)


def labelled(enricher: Enricher) -> None:
    for label, embedder in (("off", None), ("on", shared_use_embedder())):
        with tempfile.TemporaryDirectory() as folder:
            db = Database(f"sqlite:///{folder}/s.db")
            db.upgrade()
            pipeline = IngestPipeline(
                db, enricher, FetchOptions(), clock=lambda: NOW, embedder=embedder
            )
            started = time.perf_counter()
            scores = score(db, ingest_reports(pipeline, db, NOW))
            took = time.perf_counter() - started
            db.close()
        print(f"embeddings {label:>3}: {scores}  ({took:.1f} s for {len(load_count())} reports)")


def load_count() -> list[object]:
    from tests.support.storyeval import load_reports

    return list(load_reports())


def real_feeds(enricher: Enricher, folders: list[Path]) -> None:
    files = sorted(f for folder in folders for f in folder.glob("*.xml"))
    server = FeedServer().start()
    with tempfile.TemporaryDirectory() as folder:
        db = Database(f"sqlite:///{folder}/r.db")
        db.upgrade()
        sources = []
        for number, path in enumerate(files):
            body = path.read_bytes()
            url = server.add(f"/{number}.xml", body=body, headers=headers_of(body))
            sources.append(db.sources.add(url, NOW, path.stem)[0])
        options = FetchOptions(allow_private=True, max_bytes=50 * 1024 * 1024)
        pipeline = IngestPipeline(
            db,
            enricher,
            options,
            IngestOptions(max_items_per_feed=1000),
            clock=lambda: NOW,
            embedder=shared_use_embedder(),
        )
        asyncio.run(pipeline.run(sources))
        every = db.items.latest(limit=100_000)
        told: dict[int, set[str]] = {}
        for item in every:
            told.setdefault(item.story_id, set()).add(item.language)
        print(
            f"all {len(every)} items: {len(told)} stories, "
            f"{sum(len(v) > 1 for v in told.values())} told in more than one language, "
            f"{sum(1 for i in every) - len(told)} reports joined another's story"
        )
        items = db.items.window(after_id=0, last_id=db.items.max_id())
        composer = Composer(Template.load(), enricher.companies)
        digest = composer.compose(
            items,
            edition="bench",
            language="zh",
            created_at=NOW,
            after_item_id=0,
            last_item_id=db.items.max_id(),
        )
        stories: dict[int, set[str]] = {}
        for item in items:
            stories.setdefault(item.story_id, set()).add(item.language)
        mixed = sum(len(langs) > 1 for langs in stories.values())
        print(
            f"{len(files)} feeds, {len(items)} relevant items in {len(stories)} stories; "
            f"{mixed} stories told in more than one language"
        )
        for reader in ("zh", "en"):
            version = composer.in_language(digest, reader)
            points = version.key_points()
            eligible = [p for p in points if reader in {v.language for v in p.versions}]
            theirs = sum(p.language == reader for p in eligible)
            share = theirs / len(eligible) if eligible else 1.0
            print(
                f"reader {reader}: {len(points)} bullets; {theirs}/{len(eligible)} = {share:.2f} "
                f"in the reader's language among stories told in it; "
                f"{sum(p.language != reader for p in points)} marked as the other language"
            )
        db.close()
    server.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--feeds", type=Path, nargs="*", default=[])
    args = parser.parse_args()
    enricher = Enricher(CompanyBase.load(), load_domain_terms(), threshold=3.0)
    labelled(enricher)
    if args.feeds:
        real_feeds(enricher, args.feeds)


if __name__ == "__main__":
    main()
