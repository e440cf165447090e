"""Ingest benchmark: N generated items (mostly Chinese) served from 127.0.0.1, fetched, parsed,
tagged, de-duplicated and stored in a fresh SQLite file; jieba alone on the same text, measured
in the same process, is the baseline.

    python bench/ingest.py                 # N = 1000 2000 5000 10000, 3 runs each
    python bench/ingest.py --n 2000 --runs 5

Each (N, run) is a separate process, so peak RSS per N is comparable. "growth" is the peak minus
the resident size just before the pipeline starts (the generated feeds, which the benchmark
itself holds in memory, are excluded): flat growth as N grows means the pipeline's memory does
not grow with the amount ingested.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

ITEMS_PER_FEED = 250

COMPANIES = [
    "寒武纪",
    "华为昇腾",
    "海光信息",
    "摩尔线程",
    "沐曦",
    "壁仞科技",
    "燧原科技",
    "天数智芯",
    "昆仑芯",
    "平头哥",
    "龙芯中科",
    "中芯国际",
    "北方华创",
    "中微公司",
    "长鑫存储",
    "浪潮信息",
]
ACTIONS = [
    "发布新一代AI芯片",
    "完成新一轮融资",
    "科创板上市",
    "季度营收创新高",
    "获得智算中心订单",
    "推出超节点方案",
    "扩产先进制程",
    "与大模型厂商完成适配",
    "发布训练加速卡",
    "股价大涨",
]
TERMS = [
    "算力",
    "智算中心",
    "超节点",
    "AI芯片",
    "国产GPU",
    "大模型",
    "HBM",
    "先进制程",
    "光模块",
    "液冷",
]
ENGLISH = [
    "Chinese",
    "chipmakers",
    "expand",
    "capacity",
    "as",
    "demand",
    "for",
    "AI",
    "compute",
    "grows",
    "the",
    "company",
    "said",
    "its",
    "accelerators",
    "are",
    "deployed",
    "in",
    "data",
    "centres",
    "analysts",
    "expect",
    "domestic",
    "GPUs",
    "to",
    "gain",
    "share",
    "under",
    "export",
    "controls",
    "orders",
    "quarter",
    "revenue",
    "rose",
    "shipments",
]


def common_words() -> tuple[list[str], list[float]]:
    """Everyday Chinese words with jieba's own frequencies, so text has a realistic spread."""
    import jieba

    words, weights = [], []
    with open(Path(jieba.__file__).parent / "dict.txt", encoding="utf-8") as dictionary:
        for line in dictionary:
            word, freq, _ = line.split(" ")
            if len(word) >= 2 and int(freq) >= 300:
                words.append(word)
                weights.append(int(freq) ** 0.5)
    return words, weights


def pseudo_english(rng: random.Random, size: int = 5000) -> list[str]:
    syllables = ["ka", "lo", "mi", "ten", "ra", "vor", "sel", "du", "nix", "ber", "at", "on"]
    return ["".join(rng.choices(syllables, k=rng.randint(1, 4))) for _ in range(size)]


def make_items(n: int, seed: int = 7) -> list[tuple[str, str]]:
    """N items, four in five Chinese; one in ten retells an earlier story in other words."""
    rng = random.Random(seed)
    words, weights = common_words()
    english = pseudo_english(rng)
    english_weights = [1 / rank for rank in range(1, len(english) + 1)]  # Zipf
    items: list[tuple[str, str]] = []
    for i in range(n):
        if i % 10 == 9 and items:
            title, summary = items[rng.randrange(len(items))]
            pieces = summary.split("，")
            rng.shuffle(pieces)
            items.append((f"快讯：{title}", "，".join(pieces[:-1]) + f"，{rng.choice(TERMS)}。"))
        elif i % 5 == 4:
            title = f"{rng.choice(['Cambricon', 'Moore Threads', 'SMIC', 'Hygon'])} update {i}"
            body = rng.choices(english, english_weights, k=40) + rng.sample(ENGLISH, 5)
            items.append((title, " ".join(body) + f" Ref {i}."))
        else:
            title = (
                rng.choice(COMPANIES)
                + rng.choice(ACTIONS)
                + "".join(rng.choices(words, weights, k=3))
            )
            body = [
                *rng.choices(words, weights, k=55),
                rng.choice(COMPANIES),
                *rng.sample(TERMS, 2),
            ]
            rng.shuffle(body)
            summary = "，".join("".join(body[j : j + 6]) for j in range(0, len(body), 6)) + "。"
            items.append((title, summary))
    return items


def feed_xml(items: list[tuple[str, str]], offset: int) -> bytes:
    start = datetime(2026, 11, 20, tzinfo=UTC)
    parts = [
        '<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel>',
        f"<title>Bench feed {offset}</title><link>https://bench.example/</link>",
    ]
    for i, (title, summary) in enumerate(items, offset):
        date = format_datetime(start + timedelta(minutes=i))
        parts.append(
            f"<item><title>{escape(title)}</title><link>https://bench.example/{i}</link>"
            f"<guid>https://bench.example/{i}</guid><pubDate>{date}</pubDate>"
            f"<description>{escape(summary)}</description></item>"
        )
    parts.append("</channel></rss>")
    return "".join(parts).encode("utf-8")


def run_once(n: int, capacity: int, embeddings: str) -> dict[str, float]:
    from digest.companies import CompanyBase
    from digest.ingest.enrich import Enricher, load_domain_terms
    from digest.ingest.fetch import FetchOptions
    from digest.ingest.normalise import html_to_text
    from digest.ingest.pipeline import IngestOptions, IngestPipeline
    from storage import Database
    from tests.support.feedserver import FeedServer

    items = make_items(n)
    server = FeedServer().start()
    urls = []
    for offset in range(0, n, ITEMS_PER_FEED):
        chunk = items[offset : offset + ITEMS_PER_FEED]
        urls.append(
            server.add(
                f"/f{offset}.xml",
                body=feed_xml(chunk, offset),
                headers={"Content-Type": "application/rss+xml"},
            )
        )
    enricher = Enricher(CompanyBase.load(), load_domain_terms(), 3.0)
    enricher.enrich("预热", "")  # jieba's dictionary loads before the clock starts
    embedder: Any = None
    if embeddings == "on":
        from digest.ingest.embed import shared_use_embedder

        embedder = shared_use_embedder()
        embedder.embed(["预热"])  # so does the model
    elif embeddings == "worker":
        from digest.ingest.embed import ProcessEmbedder

        embedder = ProcessEmbedder()
        embedder.embed(["预热"])  # the worker starts and loads the model before the clock
    with tempfile.TemporaryDirectory() as folder:
        db = Database(f"sqlite:///{folder}/bench.db")
        db.upgrade()
        now = datetime(2026, 11, 23, tzinfo=UTC)
        sources = [db.sources.add(u, now)[0] for u in urls]
        options = FetchOptions(allow_private=True, max_bytes=50 * 1024 * 1024)
        ingest = IngestOptions(story_capacity=capacity, max_items_per_feed=ITEMS_PER_FEED)
        pipeline = IngestPipeline(
            db, enricher, options, ingest, clock=lambda: now, embedder=embedder
        )
        rss_before = current_rss_mb()
        started = time.perf_counter()
        outcomes = asyncio.run(pipeline.run(sources))
        pipeline_seconds = time.perf_counter() - started
        stored = db.items.count()
        db.close()
    server.stop()
    worker_mb = worker_peak_mb(embedder) if embeddings == "worker" else 0.0
    assert all(o.status == "ok" for o in outcomes), [o.error for o in outcomes if o.error]

    texts = [f"{t}\n{html_to_text(s)}" for t, s in items]
    started = time.perf_counter()
    for text in texts:
        enricher.segmenter.cut(text)
    jieba_seconds = time.perf_counter() - started
    return {
        "n": n,
        "stored": stored,
        "pipeline_items_per_s": n / pipeline_seconds,
        "jieba_items_per_s": n / jieba_seconds,
        "ratio": jieba_seconds / pipeline_seconds,
        "chars": sum(len(t) for t in texts),
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "pipeline_growth_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        - rss_before,
        "worker_peak_mb": worker_mb,
    }


def worker_peak_mb(embedder: Any) -> float:
    """The embedding worker's peak resident memory (VmHWM), read before it is stopped."""
    pool = embedder._executor()
    peak = 0.0
    for pid in list(pool._processes or {}):
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    peak = max(peak, int(line.split()[1]) / 1024)
    embedder.close()
    return peak


def current_rss_mb() -> float:
    """Resident memory now (Linux), so the pipeline's own growth can be told from the
    generated test data that this process also holds."""
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * resource.getpagesize() / 2**20


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, nargs="+", default=[1000, 2000, 5000, 10000])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument(
        "--capacity", type=int, default=10_000, help="items the story index holds (default 10000)"
    )
    parser.add_argument(
        "--embeddings",
        choices=["on", "off", "worker", "all"],
        default="all",
        help="multilingual embeddings at ingest: off, on (in the process), worker (in a "
        "worker process, as `chipdigest run` does); default all three side by side",
    )
    parser.add_argument("--single", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.single:
        print(json.dumps(run_once(args.single, args.capacity, args.embeddings)))
        return
    modes = ["off", "on", "worker"] if args.embeddings == "all" else [args.embeddings]
    print(
        f"{'emb':>6} {'N':>6} {'stored':>7} {'pipeline it/s':>14} {'jieba it/s':>11} "
        f"{'ratio':>6} {'peak RSS MB':>12} {'growth MB':>10} {'worker MB':>10}   "
        f"(medians of {args.runs} runs, "
        f"one process each, story index capacity {args.capacity})"
    )
    for n, mode in ((n, mode) for n in args.n for mode in modes):
        runs = [
            json.loads(
                subprocess.run(
                    [
                        sys.executable,
                        __file__,
                        "--single",
                        str(n),
                        "--capacity",
                        str(args.capacity),
                        "--embeddings",
                        mode,
                    ],
                    check=True,
                    capture_output=True,
                    text=True,
                )
                .stdout.strip()
                .splitlines()[-1]
            )
            for _ in range(args.runs)
        ]
        med = {k: statistics.median(r[k] for r in runs) for k in runs[0]}
        print(
            f"{mode:>6} {n:>6} {int(med['stored']):>7} {med['pipeline_items_per_s']:>14.0f} "
            f"{med['jieba_items_per_s']:>11.0f} {med['ratio']:>6.2f} {med['peak_rss_mb']:>12.0f} "
            f"{med['pipeline_growth_mb']:>10.0f} {med['worker_peak_mb']:>10.0f}"
        )


if __name__ == "__main__":
    main()
