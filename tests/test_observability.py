"""The Grafana dashboard and the alerting rules in deploy/ ask only for metrics the bot
exposes (a renamed metric would leave a panel blank and an alert silent)."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from pathlib import Path

from bot.delivery import BroadcastReport
from bot.metrics import Metrics
from digest.ingest.pipeline import SourceOutcome
from storage import Database
from storage.types import ModelCall

DEPLOY = Path(__file__).parent.parent / "deploy" / "grafana"
METRIC = re.compile(r"\bchipdigest_[a-z_]+")


def exposed(db: Database) -> set[str]:
    metrics = Metrics(db)
    metrics.record_fetches([SourceOutcome(1, "https://x.example/feed", None, "ok", 3, 0, 2)])
    metrics.record_broadcast(BroadcastReport(sent=2))
    metrics.record_model_call(ModelCall(datetime.now(UTC), "point", "ok"))
    text = metrics.exposition().decode()
    return {
        line.split("{")[0].split(" ")[0]
        for line in text.splitlines()
        if line.startswith("chipdigest_")
    }


def test_the_dashboard_and_the_alerts_use_only_exposed_metrics(db: Database) -> None:
    names = exposed(db)
    dashboard = json.loads((DEPLOY / "chipdigest-dashboard.json").read_text("utf-8"))
    panels = {p["title"]: [t["expr"] for t in p["targets"]] for p in dashboard["panels"]}
    alerts = (DEPLOY / "chipdigest-alerts.yml").read_text("utf-8")
    wanted = {m for exprs in panels.values() for e in exprs for m in METRIC.findall(e)}
    wanted |= set(METRIC.findall(alerts))
    assert wanted and wanted <= names, wanted - names
    for needed in (
        "Fetches by outcome",
        "Deliveries by outcome",
        "Pending deliveries",
        "Digest composition time",
        "Leader and database",
        "Items stored",
    ):
        assert needed in panels
    assert {
        "ChipDigestNoSuccessfulFetch",
        "ChipDigestPendingDeliveriesGrowing",
        "ChipDigestDatabaseDown",
    } <= set(re.findall(r"alert: (\w+)", alerts))
