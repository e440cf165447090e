"""Prometheus metrics, one registry per running process (per :class:`AppContext`).

Two kinds of figures:

* counters of what this process did since it started (fetches by source and outcome, items
  ingested, digests composed and how long that took, deliveries by outcome); Prometheus sums
  them over processes;
* gauges read from the database at scrape time (pending deliveries, deliveries by status,
  subscribers, items, failing sources), the same queries ``/stats`` shows, so the two agree
  whichever process answers.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from digest.ingest.pipeline import SourceOutcome
from storage import Database, StorageError
from storage.types import ModelCall

if TYPE_CHECKING:
    from bot.delivery import BroadcastReport

log = logging.getLogger(__name__)
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


@dataclass(frozen=True)
class DatabaseFigures:
    """What both ``/stats`` and the metrics show of the database."""

    deliveries: dict[str, int]
    chats: dict[str, int]
    items: int
    failing_sources: int

    @classmethod
    def read(cls, db: Database) -> DatabaseFigures:
        sources = db.sources.all()
        return cls(
            deliveries=db.deliveries.counts(),
            chats=db.chats.counts(),
            items=db.items.count(),
            failing_sources=sum(1 for s in sources if s.enabled and s.error_count),
        )

    @property
    def pending_deliveries(self) -> int:
        return self.deliveries.get("pending", 0)


class DatabaseGauges(Collector):
    """Gauges computed from the database when Prometheus scrapes."""

    def __init__(self, db: Database) -> None:
        self._db = db

    def collect(self) -> Iterator[Metric]:
        try:
            figures = DatabaseFigures.read(self._db)
        except StorageError as exc:  # the process's own counters are still worth a scrape
            log.warning("metrics: the database did not answer: %s", exc)
            yield GaugeMetricFamily("chipdigest_database_up", "1 if the database answered", 0)
            return
        yield GaugeMetricFamily("chipdigest_database_up", "1 if the database answered", 1)
        deliveries = GaugeMetricFamily(
            "chipdigest_deliveries", "Digest deliveries by status", labels=["status"]
        )
        for status, count in sorted(figures.deliveries.items()):
            deliveries.add_metric([status], count)
        yield deliveries
        yield GaugeMetricFamily(
            "chipdigest_pending_deliveries",
            "Deliveries queued and not yet finished",
            value=figures.pending_deliveries,
        )
        chats = GaugeMetricFamily("chipdigest_chats", "Chats by kind", labels=["kind"])
        for kind, count in sorted(figures.chats.items()):
            chats.add_metric([kind], count)
        yield chats
        yield GaugeMetricFamily("chipdigest_items", "Items stored", value=figures.items)
        yield GaugeMetricFamily(
            "chipdigest_failing_sources",
            "Enabled sources whose last fetch failed",
            value=figures.failing_sources,
        )


class Metrics:
    def __init__(self, db: Database) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.fetches = Counter(
            "chipdigest_fetches",
            "Feed fetches by source and outcome (ok, not_modified, error)",
            ["source", "outcome"],
            registry=self.registry,
        )
        self.items_ingested = Counter(
            "chipdigest_items_ingested", "New items stored", registry=self.registry
        )
        self.items_relevant = Counter(
            "chipdigest_items_relevant",
            "New items stored that are relevant (the digest's material)",
            registry=self.registry,
        )
        self.last_fetch_success = Gauge(
            "chipdigest_last_successful_fetch_timestamp_seconds",
            "When this process last read a source successfully (Unix time; 0: never)",
            registry=self.registry,
        )
        self.compose_seconds = Histogram(
            "chipdigest_digest_compose_seconds",
            "Time to compose a digest",
            buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
            registry=self.registry,
        )
        self.delivery_outcomes = Counter(
            "chipdigest_delivery_outcomes",
            "Digest deliveries finished by this process, by outcome (sent, failed, blocked)",
            ["outcome"],
            registry=self.registry,
        )
        self.model_calls = Counter(
            "chipdigest_model_calls",
            "Language-model requests by kind (point, insights) and outcome (ok, rejected by the "
            "check, failed, skipped for the token budget)",
            ["kind", "outcome"],
            registry=self.registry,
        )
        self.is_leader = Gauge(
            "chipdigest_leader", "1 if this process runs the scheduler", registry=self.registry
        )
        self.registry.register(DatabaseGauges(db))

    def record_fetches(self, outcomes: Iterable[SourceOutcome]) -> None:
        for outcome in outcomes:
            self.fetches.labels(str(outcome.source_id), outcome.status).inc()
            self.items_ingested.inc(outcome.new)
            self.items_relevant.inc(outcome.relevant)
            if outcome.status in ("ok", "not_modified"):
                self.last_fetch_success.set_to_current_time()

    def record_broadcast(self, report: BroadcastReport) -> None:
        for outcome in ("sent", "failed", "blocked"):
            self.delivery_outcomes.labels(outcome).inc(getattr(report, outcome))

    def record_model_call(self, call: ModelCall) -> None:
        self.model_calls.labels(call.kind, call.outcome).inc()

    def exposition(self) -> bytes:
        return generate_latest(self.registry)
