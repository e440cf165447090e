"""Small helpers the tests share: a free loopback port, a clock tests move by hand, fast fetch
options."""

from __future__ import annotations

import socket
import zlib
from dataclasses import dataclass
from datetime import datetime, timedelta

from bot.context import AppContext
from digest.ingest.fetch import FetchOptions
from digest.ingest.parse import ParsedFeed, RawEntry
from digest.ingest.pipeline import IngestPipeline
from storage import Database


def free_port() -> int:
    """A loopback port nobody listens on (for servers a test starts, or a dead one)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class FakeClock:
    now: datetime

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **kwargs: float) -> None:
        self.now += timedelta(**kwargs)


# Short timeouts: a test server answers at once or is meant to hang.
FAST_FETCH = FetchOptions(
    connect_timeout=2,
    read_timeout=1.0,
    total_timeout=3.0,
    max_bytes=256 * 1024,
    allow_private=True,
)


# Four more Huawei events, each of another kind, so a company card has a second page (the
# bundled samples tell Huawei's news in four stories once languages are merged).
MORE_HUAWEI = (
    ("华为昇腾910C获运营商集采大单", "华为昇腾910C服务器在运营商集中采购中获得大额订单。"),
    ("华为起诉一家芯片公司侵犯昇腾专利", "华为起诉一家芯片设计公司侵犯昇腾相关专利。"),
    ("华为云昇腾算力服务价格下调四成", "华为云宣布昇腾AI算力服务价格下调40%。"),
    ("华为海思与三家车企签署智驾芯片合作协议", "华为海思与三家车企签署智能驾驶芯片合作协议。"),
)


def add_more_huawei_stories(ctx: AppContext) -> None:
    now = ctx.clock()
    for number, (title, lead) in enumerate(MORE_HUAWEI):
        name = f"来源{number}"
        source, _ = ctx.db.sources.add(f"https://more{number}.example/feed", now, name)
        entry = RawEntry(None, f"https://more{number}.example/1", title, lead, now)
        ctx.pipeline().ingest_parsed(source, ParsedFeed(name, None, [entry], "utf-8", None))


def saved_digest(db: Database, clock: FakeClock, structure: str = "{}") -> int:
    """A digest row of the morning edition (what deliveries hang on), with ``structure``."""
    return db.digests.save(
        edition="morning",
        created_at=clock(),
        after_item_id=0,
        last_item_id=0,
        since=None,
        language="zh",
        structure=structure,
        item_ids=(),
    )


def ingest(pipeline: IngestPipeline, db: Database, clock: FakeClock, rows: list[dict]) -> None:
    """Store rows (outlet, title, summary, published) through the real ingest path."""
    by_outlet: dict[str, list[RawEntry]] = {}
    for number, row in enumerate(rows):
        slug = zlib.crc32(f"{row['outlet']}|{row['title']}".encode())  # the same every run
        by_outlet.setdefault(row["outlet"], []).append(
            RawEntry(
                guid=None,
                link=f"https://{slug}.example/{number}",
                title=row["title"],
                summary=row["summary"],
                published=datetime.fromisoformat(row["published"]),
            )
        )
    for outlet, entries in by_outlet.items():
        source, _ = db.sources.add(
            f"https://{zlib.crc32(outlet.encode())}.example/feed", clock(), outlet
        )
        pipeline.ingest_parsed(source, ParsedFeed(outlet, None, entries, "utf-8", None))
