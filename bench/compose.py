"""Digest benchmark: compose a digest from a window of 2,000 stored items (~600 stories).

    python bench/compose.py [--items 2000] [--stories 600] [--runs 5] [--model-latency 0.2]

Items are generated (Chinese-heavy, words from jieba's dictionary), ingested through the real
pipeline into a fresh SQLite file, then the digest is composed from the window and rendered to
Telegram messages. It prints the median time of reading the window, composing and rendering,
and the peak memory the composition allocates (tracemalloc, in a separate run).

With ``--model-latency S`` it also composes with a language model: a fake OpenAI-compatible
server on 127.0.0.1 (the tests' own) that answers every request after S seconds, reached by
the real ``openai`` SDK at concurrency 8, every answer checked. It prints the time of a digest
written from scratch (a point per shown story in both languages, and the Core Insights) and of
the same digest again, when every story is cached in the database and no call is made.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.ingest import COMPANIES, TERMS, common_words
from digest.companies import CompanyBase
from digest.compose.checks import Checker
from digest.compose.composer import Composer, DigestSize
from digest.compose.llm import ModelClient, ModelSettings
from digest.compose.render import render_telegram
from digest.compose.template import Template
from digest.compose.writer import ModelWriter
from digest.ingest.enrich import Enricher, load_domain_terms
from digest.ingest.fetch import FetchOptions
from digest.ingest.parse import ParsedFeed, RawEntry
from digest.ingest.pipeline import IngestPipeline
from storage import Database
from tests.support.fakemodel import ChatRequest, FakeModel, FakeReply, faithful

OUTLETS = [f"Outlet {n}" for n in range(12)]


def make_rows(items: int, stories: int, seed: int = 11) -> list[tuple[str, str, str]]:
    """(outlet, title, summary): ``stories`` stories, the rest retold by other outlets."""
    rng = random.Random(seed)
    words, weights = common_words()
    base = []
    for _ in range(stories):
        company = rng.choice(COMPANIES)
        title = company + "".join(rng.choices(words, weights, k=4))
        sentences = [
            "".join(rng.choices(words, weights, k=8)) + rng.choice(TERMS) for _ in range(4)
        ]
        base.append((title, company, sentences))
    rows = [(rng.choice(OUTLETS), t, c + "，".join(s) + "。") for t, c, s in base]
    while len(rows) < items:  # a retelling: other outlet, other order, a sentence left out
        title, company, sentences = rng.choice(base)
        retold = [*rng.sample(sentences, 3), "".join(rng.choices(words, weights, k=5))]
        rows.append((rng.choice(OUTLETS), "快讯：" + title, company + "，".join(retold) + "。"))
    return rows


def build(folder: str, items: int, stories: int) -> tuple[Database, CompanyBase]:
    companies = CompanyBase.load()
    enricher = Enricher(companies, load_domain_terms(), 0.0)  # keep all: the window is the test
    db = Database(f"sqlite:///{folder}/compose.db")
    db.upgrade()
    now = datetime(2026, 11, 23, tzinfo=UTC)
    pipeline = IngestPipeline(db, enricher, FetchOptions(), clock=lambda: now)
    by_outlet: dict[str, list[RawEntry]] = {}
    for number, (outlet, title, summary) in enumerate(make_rows(items, stories)):
        by_outlet.setdefault(outlet, []).append(
            RawEntry(
                None,
                f"https://{outlet.replace(' ', '')}.example/{number}",
                title,
                summary,
                now - timedelta(minutes=number),
            )
        )
    for outlet, entries in by_outlet.items():
        source, _ = db.sources.add(f"https://{outlet.replace(' ', '')}.example/feed", now, outlet)
        pipeline.ingest_parsed(source, ParsedFeed(outlet, None, entries, "utf-8", None))
    return db, companies


def compose_once(db: Database, composer: Composer) -> tuple[float, int, int, int]:
    started = time.perf_counter()
    last = db.items.max_id()
    items = db.items.window(after_id=0, last_id=last)
    digest = composer.compose(
        items,
        edition="bench",
        language="zh",
        created_at=datetime.now(UTC),
        after_item_id=0,
        last_item_id=last,
    )
    messages = render_telegram(digest)
    return time.perf_counter() - started, len(items), len(digest.key_points()), len(messages)


def english_gist(companies: CompanyBase) -> Callable[[ChatRequest], FakeReply]:
    """A fake model for generated Chinese stories: the Chinese point is a source's title, the
    English one names the story's companies in English (what the check can verify)."""
    chinese = faithful()

    def respond(request: ChatRequest) -> FakeReply:
        if request.kind == "insights" or request.language == "zh":
            reply = chinese(request)
        else:
            title = request.sources[0].title
            names = [c.name_en for c in companies if c.name_zh and c.name_zh in title]
            text = f"{' and '.join(names) or 'A chip maker'} reported new AI-chip business news"
            reply = FakeReply(json.dumps({"text": text, "citations": [1], "headlines": []}))
        return FakeReply(reply.content, delay=request_delay[0])

    return respond


request_delay = [0.2]


def with_model(db: Database, companies: CompanyBase, latency: float) -> None:
    request_delay[0] = latency
    server = FakeModel(english_gist(companies)).start()
    enricher = Enricher(companies, load_domain_terms(), 0.0)
    settings = ModelSettings(server.base_url, "fake", timeout=10, concurrency=8, max_retries=0)
    checker = Checker(lambda text: frozenset(enricher.enrich(text, "").companies))
    writer = ModelWriter(ModelClient(settings), checker, db.writings)
    composer = Composer(Template.load(), companies, writer=writer, size=DigestSize())
    try:
        cold = compose_once(db, composer)[0]
        calls = len(server.requests)
        cached = [compose_once(db, composer)[0] for _ in range(3)]
    finally:
        server.stop()
    print(
        f"with a model answering in {latency * 1000:.0f} ms at concurrency 8: written from "
        f"scratch {cold:.2f} s ({calls} calls, both languages); cached median "
        f"{statistics.median(cached):.3f} s ({len(server.requests) - calls} calls)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--items", type=int, default=2000)
    parser.add_argument("--stories", type=int, default=600)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--model-latency", type=float, default=None)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        db, companies = build(folder, args.items, args.stories)
        composer = Composer(Template.load(), companies)
        compose_once(db, composer)  # warm-up: imports, compiled statements
        runs = [compose_once(db, composer) for _ in range(args.runs)]
        tracemalloc.start()
        compose_once(db, composer)
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        if args.model_latency is not None:
            with_model(db, companies, args.model_latency)
        db.close()
    seconds = [r[0] for r in runs]
    _, items, points, messages = runs[0]
    print(f"window: {items} items, {points} stories (key points), {messages} Telegram messages")
    print(
        f"compose + render: median {statistics.median(seconds):.3f} s "
        f"(min {min(seconds):.3f}, max {max(seconds):.3f}, {args.runs} runs); "
        f"peak allocated {peak / 2**20:.1f} MiB"
    )


if __name__ == "__main__":
    main()
