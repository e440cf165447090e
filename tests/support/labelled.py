"""Labelled items and how the pipeline is scored on them, for the test of the fixture set
(tests/fixtures/real_text.toml) and for the bench on real feeds (bench/realfeeds.py, whose
labels are facts only: links and judgements).

A label says whether an item belongs in a digest, which companies it is about (its title's, or
its lead's subject when the title names none) and which others it names. Roundups are labelled
story by story, keyed ``roundup-story:N:<the roundup's guid>`` as the splitter keys them.
"""

from __future__ import annotations

import asyncio
import re
import tomllib
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import format_datetime
from html import escape
from pathlib import Path

from sqlalchemy import select

from digest.ingest.embed import Embedder
from digest.ingest.enrich import Enricher
from digest.ingest.fetch import FetchOptions
from digest.ingest.pipeline import IngestPipeline, SourceOutcome
from storage import Database
from storage.tables import ItemRow
from storage.types import Item
from tests.support.feedserver import FeedServer

FIXTURE = Path(__file__).parent.parent / "fixtures" / "real_text.toml"
# Independent of the cleaning rules on purpose: what a reader would call not-the-article.
BOILERPLATE = re.compile(
    r"⭐|^\s*\[|\[(?:recommended|optional|unknown)\]|责任编辑|責任編輯|编辑\s*[|丨｜:：]"
    r"|作者\s*[:：|丨]|本文来自|阅读原文|相关阅读|相關閱讀|推荐阅读|延伸阅读|您可能也感兴趣"
    r"|图片来源|圖片來源|图源|https?://|Advertisement|Bookmark|Share\s+(?:WhatsApp|Telegram|Facebook)"
    r"|投稿|频道|Source:|Made with love|FILE PHOTO|newsletter|preferred source|在花|🌸",
    re.IGNORECASE,
)


@dataclass(frozen=True, slots=True)
class Label:
    relevant: bool
    about: frozenset[str]
    mentioned: frozenset[str] | None  # None: not checked (a long article)

    @property
    def companies(self) -> frozenset[str] | None:
        return None if self.mentioned is None else self.about | self.mentioned

    @classmethod
    def parse(cls, text: str) -> Label:
        """``"relevant | about | mentioned"``, as the fixture writes it."""
        relevant, about, mentioned = (part.strip() for part in text.split("|"))
        if relevant not in ("0", "1"):
            raise ValueError(f"label {text!r}: relevance is 0 or 1")
        return cls(relevant == "1", ids(about), ids(mentioned))


def ids(field: str) -> frozenset[str]:
    return frozenset(part.strip() for part in field.split(",") if part.strip() not in ("", "-"))


@dataclass(frozen=True, slots=True)
class Stored:
    item: Item
    key: str  # the label's key: the item's link, or its roundup part's guid
    file: str  # the feed it came from


def stored_items(db: Database, files: dict[int, str]) -> list[Stored]:
    items = {item.id: item for item in db.items.latest(limit=100_000)}
    with db.engine.connect() as connection:
        rows = connection.execute(select(ItemRow.id, ItemRow.guid, ItemRow.link, ItemRow.source_id))
        keyed = []
        for item_id, guid, link, source_id in rows:
            assert source_id is not None  # every labelled item comes from a feed
            part = guid if guid and guid.startswith("roundup-story:") else None
            keyed.append(Stored(items[item_id], part or link or guid or "", files[source_id]))
    return sorted(keyed, key=lambda s: (s.file, s.item.id))


def serve_and_ingest(
    db: Database,
    feeds: list[tuple[str, bytes, dict[str, str]]],
    enricher: Enricher,
    *,
    added: datetime | None = None,
    now: datetime | None = None,
    embedder: Embedder | None = None,
) -> tuple[dict[int, str], list[SourceOutcome]]:
    """Serve each (name, body, headers) from 127.0.0.1 and run one fetch cycle over them all:
    each feed's name by source id, and the cycle's outcomes. ``added``: when the sources were
    added (an item published before it is their backlog)."""
    now = now or datetime.now(UTC)
    server = FeedServer().start()
    try:
        names = {}
        sources = []
        for number, (name, body, headers) in enumerate(feeds):
            url = server.add(f"/{number}/{name}", body=body, headers=headers)
            source = db.sources.add(url, added or now)[0]
            sources.append(source)
            names[source.id] = name
        options = FetchOptions(allow_private=True, max_bytes=20 * 1024 * 1024)
        pipeline = IngestPipeline(db, enricher, options, clock=lambda: now, embedder=embedder)
        outcomes = asyncio.run(pipeline.run(sources))
    finally:
        server.stop()
    return names, outcomes


# --- scoring --------------------------------------------------------------------------------


def ratio(hits: int, total: int) -> float:
    return hits / total if total else 1.0


def relevance_scores(stored: list[Stored], labels: dict[str, Label]) -> tuple[float, float, int]:
    """Precision, recall and how many stored items were labelled."""
    pairs = [(s.item.relevant, labels[s.key].relevant) for s in stored if s.key in labels]
    true_pos = sum(p and t for p, t in pairs)
    return (
        ratio(true_pos, sum(p for p, _ in pairs)),
        ratio(true_pos, sum(t for _, t in pairs)),
        len(pairs),
    )


def relevance_errors(stored: list[Stored], labels: dict[str, Label]) -> list[str]:
    return [
        f"{'kept' if s.item.relevant else 'dropped'} {s.key}: {s.item.title[:60]}"
        for s in stored
        if s.key in labels and s.item.relevant != labels[s.key].relevant
    ]


def tagging_scores(
    stored: list[Stored], labels: dict[str, Label], about: bool
) -> tuple[float, float, list[str]]:
    """Precision, recall and the disagreements, over every company an item names or over the
    companies it is about."""
    predicted = truth = hits = 0
    errors = []
    for s in stored:
        label = labels.get(s.key)
        if label is None or (not about and label.companies is None):
            continue
        got = set(s.item.title_companies if about else s.item.companies)
        want = set(label.about if about else label.companies or ())
        predicted, truth, hits = predicted + len(got), truth + len(want), hits + len(got & want)
        if got != want:
            extra, missing = sorted(got - want), sorted(want - got)
            errors.append(
                f"{s.key[:70]} {s.item.title[:40]}  +{','.join(extra)} -{','.join(missing)}"
            )
    return ratio(hits, predicted), ratio(hits, truth), errors


# --- the fixture set ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class FixtureItem:
    link: str
    published: datetime
    title: str
    html: str
    labels: tuple[Label, ...]  # one, or one per story of a roundup

    @property
    def keys(self) -> list[str]:
        if len(self.labels) == 1:
            return [self.link]
        return [f"roundup-story:{n}:{self.link}" for n in range(1, len(self.labels) + 1)]


@dataclass(frozen=True, slots=True)
class FixtureFeed:
    name: str
    title: str
    items: tuple[FixtureItem, ...]

    def rss(self) -> bytes:
        """The feed as RSS 2.0, its HTML in CDATA as the feeds carry it."""
        entries = "".join(
            f"<item><title>{escape(i.title)}</title><link>{escape(i.link)}</link>"
            f"<guid>{escape(i.link)}</guid><pubDate>{format_datetime(i.published)}</pubDate>"
            f"<description><![CDATA[{i.html}]]></description></item>"
            for i in self.items
        )
        return (
            '<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel>'
            f"<title>{escape(self.title)}</title><link>https://{self.name}.example/</link>"
            f"{entries}</channel></rss>"
        ).encode()


def load_fixture(path: Path = FIXTURE) -> list[FixtureFeed]:
    data = tomllib.loads(path.read_text("utf-8"))
    return [
        FixtureFeed(
            feed["name"],
            feed["title"],
            tuple(
                FixtureItem(
                    item["link"],
                    datetime.fromisoformat(item["date"]),
                    item["title"],
                    item["html"],
                    tuple(Label.parse(t) for t in item.get("parts", [item.get("label", "")])),
                )
                for item in feed["item"]
            ),
        )
        for feed in data["feed"]
    ]


def fixture_labels(feeds: list[FixtureFeed]) -> dict[str, Label]:
    return {
        key: label
        for feed in feeds
        for item in feed.items
        for key, label in zip(item.keys, item.labels, strict=True)
    }
