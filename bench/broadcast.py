"""Broadcast benchmark: one digest to many subscribers through python-telegram-bot against the
fake Bot API server (run in its own process, on 127.0.0.1).

    python bench/broadcast.py --chats 10000 --rate 1000
    python bench/broadcast.py --chats 300 --rate 30 [--database URL-of-an-empty-database]

Prints the achieved message rate as a fraction of the limiter's, messages lost and duplicated
(counted by the server), and this process's peak memory.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import subprocess
import sys
import tempfile
import time
import urllib.request
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bot.delivery import Broadcaster, RateLimiter, make_bot
from storage import Database
from tests.support.fakebotapi import TOKEN

MESSAGES = [
    "<b>国产算力简报 · 2026年11月23日</b>\n\n<b>核心要点</b>\n• 寒武纪总市值突破6000亿元 [1][2]",
    '<b>来源</b>\n[1] <a href="https://a.example/1">寒武纪市值</a> — 芯智观察',
]


async def run(
    chats: int,
    rate: float,
    base_url: str,
    database_url: str,
    args_connections: int = 16,
    concurrency: int = 32,
) -> dict[str, float]:
    db = Database(database_url)
    db.upgrade()
    now = datetime.now(UTC)
    for chat_id in range(1, chats + 1):
        chat = db.chats.upsert(100_000 + chat_id, "private", None, now)
        db.chats.subscribe(chat.id, ["morning"])
    digest = db.digests.save(
        edition="morning",
        created_at=now,
        after_item_id=0,
        last_item_id=0,
        since=None,
        language="zh",
        structure="{}",
        item_ids=(),
    )
    subscribers = db.chats.subscribers("morning")
    async with make_bot(TOKEN, base_url, connections=args_connections) as bot:
        limiter = RateLimiter(overall=rate, chat_interval=1.0)
        broadcaster = Broadcaster(db, bot, limiter, concurrency=concurrency)
        started = time.perf_counter()
        report = await broadcaster.broadcast(digest, MESSAGES, subscribers)
        elapsed = time.perf_counter() - started
    return {"elapsed": elapsed, "sent": report.messages, "failed": report.failed}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--chats", type=int, default=10_000)
    parser.add_argument("--rate", type=float, default=1000.0)
    parser.add_argument("--database", help="an empty database URL (default: a temporary SQLite)")
    args = parser.parse_args()
    server = subprocess.Popen(
        [sys.executable, "-m", "tests.support.fakebotapi"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        cwd=Path(__file__).resolve().parent.parent,
    )
    try:
        assert server.stdout is not None
        port = int(server.stdout.readline())
        base_url = f"http://127.0.0.1:{port}/bot"
        with tempfile.TemporaryDirectory() as folder:
            url = args.database or f"sqlite:///{folder}/broadcast.db"
            result = asyncio.run(run(args.chats, args.rate, base_url, url))
        with urllib.request.urlopen(f"{base_url}{TOKEN}/stats") as answer:
            counts = json.load(answer)["result"]
    finally:
        if server.stdin:
            server.stdin.close()
        server.wait(10)
    expected = args.chats * len(MESSAGES)
    received = sum(counts.values())
    lost = sum(
        max(0, len(MESSAGES) - counts.get(str(100_000 + c), 0)) for c in range(1, args.chats + 1)
    )
    duplicated = sum(max(0, n - len(MESSAGES)) for n in counts.values())
    achieved = received / result["elapsed"]
    backend = (args.database or "sqlite").split(":")[0].split("+")[0]
    print(
        f"{backend}: {args.chats} chats × {len(MESSAGES)} messages = {expected} at a limit of "
        f"{args.rate:g}/s: {result['elapsed']:.1f} s, achieved {achieved:.0f}/s "
        f"({achieved / args.rate:.2f} of the limit); lost {lost}, duplicated {duplicated}; "
        f"peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB"
    )


if __name__ == "__main__":
    main()
