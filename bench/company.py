"""/company, /search, inline-query and /trend latency with a large database.

    python bench/company.py --items 1000000 --queries 200 [--database URL]

Fills a fresh SQLite file (or the empty PostgreSQL database given) with N items spread over
the tracked companies (bulk inserts through the real schema, full-text indexes included), then
times the command layer answering ``/company`` for names, tickers and near-misses, ``/search``
for a word found in one item in forty (one query in five for a word no item has), inline
queries (``@bot 寒武纪``: up to five cards), and ``/trend`` (the 90 days' stories read and the
chart drawn as PNG): p50 and p95 in milliseconds.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import insert

from bot import charts, commands
from bot.config import load_settings
from bot.context import AppContext
from bot.conversation import Caller, Conversation
from storage.tables import Base
from storage.types import encode_tokens

ABSENT = "量子退火"  # written in no generated item
QUERIES = [
    "寒武纪",
    "Cambricon",
    "688256",
    "Cambrcon",
    "摩尔线程",
    "华为",
    "0981.HK",
    "海光信息",
    "Moore Threads",
    "英伟达",
]


def fill(ctx: AppContext, total: int, batch: int = 20_000) -> float:
    started = time.perf_counter()
    rng = random.Random(5)
    companies = [c.id for c in ctx.companies]
    items, stories, tags = (Base.metadata.tables[t] for t in ("items", "stories", "item_companies"))
    now = datetime(2026, 11, 23, tzinfo=UTC)
    for start in range(1, total + 1, batch):
        ids = range(start, min(start + batch, total + 1))
        rows, pairs = [], []
        for i in ids:
            company = companies[i % len(companies)]
            when = now - timedelta(minutes=rng.randrange(60 * 24 * 365))
            rows.append(
                {
                    "id": i,
                    "source_id": None,
                    "story_id": i,
                    "outlet": f"Outlet {i % 50}",
                    "guid": None,
                    "guid_key": f"g{i:039d}",
                    "link": f"https://x.example/{i}",
                    "link_key": f"l{i:039d}",
                    "content_key": f"c{i:039d}",
                    "title": f"{company} 新闻 {i}",
                    "summary": f"{company} 的第 {i} 条消息。",
                    "published_at": when,
                    "fetched_at": when,
                    "language": "zh",
                    "relevance": 5.0,
                    "relevant": True,
                    "tokens": encode_tokens(((company, "新闻"), (company, "消息"))),
                    "signature": b"",
                    "title_companies": company,
                }
            )
            pairs.append(
                {
                    "item_id": i,
                    "company_id": company,
                    "published_at": when,
                    "story_id": i,  # one report a story: counts are the same either way
                    "relevant": True,
                }
            )
        with ctx.db.engine.begin() as conn:  # a story a report (its id the item's)
            conn.execute(
                insert(stories), [{"id": i, "first_seen_at": now, "last_seen_at": now} for i in ids]
            )
            conn.execute(insert(items), rows)
            conn.execute(insert(tags), pairs)
    return time.perf_counter() - started


async def timed(answer: Callable[[str], Awaitable[object]], queries: list[str]) -> list[float]:
    """Seconds each query took (after one warm-up), sorted; every answer must be non-empty."""
    await answer(queries[0])
    seconds = []
    for query in queries:
        started = time.perf_counter()
        result = await answer(query)
        seconds.append(time.perf_counter() - started)
        assert result, query
    return sorted(seconds)


async def time_queries(ctx: AppContext, queries: list[str]) -> list[float]:
    talk, caller = Conversation(ctx), Caller(1, "private", 1)

    async def answer(query: str) -> object:
        replies = await talk.handle(caller, query)  # a card or hits; "none found" for ABSENT
        return replies and (ABSENT in query or "<b>" in replies[0].text)

    return await timed(answer, queries)


async def time_inline(ctx: AppContext, queries: list[str]) -> list[float]:
    talk, caller = Conversation(ctx), Caller(1, "sender", 1)
    return await timed(lambda query: talk.inline(caller, query), queries)


def time_trend(ctx: AppContext, runs: int) -> list[float]:
    charts.trend_chart(commands.company_trend(ctx, ["寒武纪", "90d"]), "zh")  # warm-up: imports
    seconds = []
    for n in range(runs):
        started = time.perf_counter()
        trend = commands.company_trend(ctx, [QUERIES[n % len(QUERIES)], "90d"])
        charts.trend_chart(trend, "zh")
        seconds.append(time.perf_counter() - started)
    return sorted(seconds)


def percentiles(latencies: list[float]) -> str:
    p50 = statistics.median(latencies) * 1000
    p95 = latencies[int(len(latencies) * 0.95) - 1] * 1000
    return f"p50 {p50:.1f} ms, p95 {p95:.1f} ms"


def measure(url: str, items: int, queries: int) -> None:
    ctx = AppContext(load_settings(), database_url=url)
    ctx.db.upgrade()
    filled = fill(ctx, items)
    if not ctx.db.is_sqlite:
        with ctx.db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql("VACUUM ANALYZE")  # as autovacuum would after a bulk load
    company = [f"/company {QUERIES[n % len(QUERIES)]}" for n in range(queries)]
    companies = [c.id for c in ctx.companies]
    # one in five for a word no item has: the case a planner guesses worst
    search = [
        f"/search {ABSENT if n % 5 == 4 else companies[n % len(companies)]}" for n in range(queries)
    ]
    by_company = asyncio.run(time_queries(ctx, company))
    by_search = asyncio.run(time_queries(ctx, search))
    inline = [QUERIES[n % len(QUERIES)] for n in range(queries)]
    by_inline = asyncio.run(time_inline(ctx, inline))
    by_trend = time_trend(ctx, max(10, queries // 10))
    print(
        f"{ctx.db.engine.dialect.name}, {items} items (filled in {filled:.0f} s), "
        f"{queries} queries each: /company {percentiles(by_company)}; "
        f"/search {percentiles(by_search)}; inline {percentiles(by_inline)}; "
        f"/trend 90d ({len(by_trend)} runs) {percentiles(by_trend)}"
    )
    ctx.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--items", type=int, default=1_000_000)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--database", help="an empty database URL (default: a temporary SQLite)")
    args = parser.parse_args()
    if args.database:
        measure(args.database, args.items, args.queries)
        return
    with tempfile.TemporaryDirectory() as folder:
        measure(f"sqlite:///{folder}/company.db", args.items, args.queries)


if __name__ == "__main__":
    main()
