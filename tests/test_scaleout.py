"""Scale-out, for real: `chipdigest run` processes in webhook mode sharing one database.

The leader is killed in the middle of a broadcast; the standby takes the leader lock, finishes
the deliveries and nobody gets a message twice. The same processes answer webhook requests
(only with the secret token), serve /healthz and /metrics, and /stats agrees with the metrics.
Runs on SQLite (a file lock) and on PostgreSQL (an advisory lock).
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from sqlalchemy import text

from bot import commands
from bot.config import load_settings
from bot.context import AppContext
from storage import Database
from tests.support.fakebotapi import TOKEN, FakeBotAPI
from tests.support.feedserver import FeedServer
from tests.support.helpers import free_port

ROOT = Path(__file__).parent.parent
ADMIN, USER = 42, 777
SUBSCRIBERS = list(range(2001, 2021))
SECRET = "s3cret-token-for-the-webhook"
HEADER = "X-Telegram-Bot-Api-Secret-Token"


@dataclass
class BotProcess:
    process: subprocess.Popen[bytes]
    webhook_port: int
    http_port: int
    log: Path

    def get(self, path: str) -> httpx.Response:
        return httpx.get(f"http://127.0.0.1:{self.http_port}{path}", timeout=5)

    def post_update(self, update: dict[str, object], secret: str | None) -> httpx.Response:
        headers = {HEADER: secret} if secret is not None else {}
        url = f"http://127.0.0.1:{self.webhook_port}/telegram"
        return httpx.post(url, json=update, headers=headers, timeout=5)

    def health(self) -> dict[str, object] | None:
        try:
            return dict(self.get("/healthz").json())
        except httpx.HTTPError:
            return None


def listening(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
        return True
    except OSError:
        return False


def wait_for(condition: Callable[[], bool], timeout: float, what: str) -> float:
    start = time.monotonic()
    while not condition():
        if time.monotonic() - start > timeout:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.05)
    return time.monotonic() - start


@pytest.fixture
def start_bot(
    bot_api: FakeBotAPI, database_url: str, tmp_path: Path
) -> Iterator[Callable[[str], BotProcess]]:
    started: list[BotProcess] = []

    def start(name: str) -> BotProcess:
        webhook_port, http_port = free_port(), free_port()
        env = {
            **os.environ,
            "PYTHONPATH": str(ROOT),
            "CHIPDIGEST_DATABASE_URL": database_url,
            "CHIPDIGEST_TELEGRAM_TOKEN": TOKEN,
            "CHIPDIGEST_TELEGRAM_BASE_URL": bot_api.base_url,
            "CHIPDIGEST_ADMIN_IDS": str(ADMIN),
            "CHIPDIGEST_WEBHOOK_URL": "https://bot.example.org/telegram",
            "CHIPDIGEST_WEBHOOK_SECRET": SECRET,
            "CHIPDIGEST_WEBHOOK_LISTEN": "127.0.0.1",
            "CHIPDIGEST_WEBHOOK_PORT": str(webhook_port),
            "CHIPDIGEST_HTTP_PORT": str(http_port),
            "CHIPDIGEST_LEADER_CHECK_SECONDS": "0.5",
            "CHIPDIGEST_ALLOW_PRIVATE_SOURCES": "true",
            "CHIPDIGEST_LOG_FORMAT": "json",
        }
        log = tmp_path / f"{name}.log"
        with log.open("wb") as stderr:
            process = subprocess.Popen(
                [sys.executable, "-m", "bot.cli", "run"],
                cwd=tmp_path,
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=stderr,
            )
        bot = BotProcess(process, webhook_port, http_port, log)
        started.append(bot)
        wait_for(lambda: bot.health() is not None, 60, f"{name} to serve /healthz")
        wait_for(lambda: listening(webhook_port), 30, f"{name} to serve its webhook")
        return bot

    yield start
    for bot in started:
        if bot.process.poll() is None:
            bot.process.send_signal(signal.SIGTERM)
            try:
                bot.process.wait(15)
            except subprocess.TimeoutExpired:
                bot.process.kill()


@pytest.fixture
async def prepared(database_url: str, feed_server: FeedServer) -> str:
    """Sample items stored, twenty morning subscribers, a morning digest two days old (so
    the leader catches the missed edition up at once) and one live source to fetch."""
    ctx = AppContext(load_settings(), database_url=database_url)
    ctx.prepare()
    now = ctx.clock()
    await commands.ingest_samples(ctx)
    for source in ctx.db.sources.all():  # stored; not to be fetched again by the bots (no network)
        ctx.db.sources.set_enabled(source.id, False)
    ctx.db.sources.add(feed_server.add_file("/live.xml", "rss2.xml", "application/rss+xml"), now)
    for chat_id in SUBSCRIBERS:
        chat = ctx.db.chats.upsert(chat_id, "private", None, now)
        ctx.db.chats.subscribe(chat.id, ["morning"])
    ctx.db.digests.save(
        edition="morning",
        created_at=now - timedelta(days=2),
        after_item_id=0,
        last_item_id=0,
        since=None,
        language="zh",
        structure="{}",
        item_ids=(),
    )
    ctx.close()
    return database_url


def metric(body: str, name: str, **labels: str) -> float:
    """The sum of the samples of ``name`` whose labels include ``labels``."""
    total, found = 0.0, False
    for line in body.splitlines():
        sample = re.fullmatch(r"(\w+)(?:\{(.*)\})? (\S+)", line)
        if sample is None or sample.group(1) != name:
            continue
        have = dict(re.findall(r'(\w+)="([^"]*)"', sample.group(2) or ""))
        if labels.items() <= have.items():
            total, found = total + float(sample.group(3)), True
    assert found, f"{name} {labels} not in the metrics"
    return total


def test_the_standby_takes_over_a_killed_leader_and_nobody_gets_a_digest_twice(
    prepared: str,
    bot_api: FakeBotAPI,
    start_bot: Callable[[str], BotProcess],
    database_url: str,
) -> None:
    bot_api.hold_after = 10  # ten messages answered; the leader's next ones hang, then: kill
    leader = start_bot("leader")
    wait_for(lambda: (leader.health() or {}).get("leader") is True, 30, "the first leader")
    assert bot_api.wait_held(3, 30), "the leader never started the caught-up broadcast"
    standby = start_bot("standby")
    time.sleep(1.5)  # three of its tries at the lock
    assert standby.health() == {"status": "ok", "database": True, "leader": False}

    leader.process.send_signal(signal.SIGKILL)
    leader.process.wait(10)
    bot_api.hold_after = None
    bot_api.release()
    took = wait_for(lambda: (standby.health() or {}).get("leader") is True, 60, "a takeover")
    assert took < 10  # the grace period is 1.5 checks of 0.5 s; 10 s is a broken election

    wait_for(lambda: all(bot_api.texts(c) for c in SUBSCRIBERS), 60, "every subscriber")
    wait_for(lambda: "chipdigest_pending_deliveries 0.0" in standby.get("/metrics").text, 30, "")
    first = bot_api.texts(SUBSCRIBERS[0])
    assert first and "核心要点" in first[0]
    for chat_id in SUBSCRIBERS:
        assert bot_api.texts(chat_id) == first, f"chat {chat_id} got a part twice or not at all"

    db = Database(database_url)
    with db.engine.connect() as connection:
        query = text("SELECT id FROM digests WHERE edition = 'morning' ORDER BY id")
        digests = list(connection.execute(query).scalars())
    assert len(digests) == 2  # the old one and one caught-up edition: composed once
    assert db.deliveries.counts(digests[-1]) == {"sent": len(SUBSCRIBERS)}
    db.close()


def test_webhook_requires_the_secret_and_stats_agree_with_metrics(
    prepared: str, bot_api: FakeBotAPI, start_bot: Callable[[str], BotProcess]
) -> None:
    bot = start_bot("only")
    assert bot_api.webhook == {"url": "https://bot.example.org/telegram", "secret_token": SECRET}
    wait_for(lambda: (bot.health() or {}).get("leader") is True, 30, "leadership")
    wait_for(lambda: all(bot_api.texts(c) for c in SUBSCRIBERS), 60, "the caught-up edition")

    update = bot_api.message_update(USER, USER, "/company 寒武纪")
    assert bot.post_update(update, None).status_code == 403
    assert bot.post_update(update, "not-the-secret-at-all").status_code == 403
    assert not bot_api.texts(USER)
    assert bot.post_update(update, SECRET).status_code == 200
    wait_for(lambda: bool(bot_api.texts(USER)), 20, "the answer to /company")
    assert bot_api.texts(USER)[0].startswith("<b>寒武纪")

    wait_for(lambda: "chipdigest_fetches_total{" in bot.get("/metrics").text, 30, "a fetch")
    bot.post_update(bot_api.message_update(ADMIN, ADMIN, "/stats"), SECRET)
    wait_for(lambda: bool(bot_api.texts(ADMIN)), 20, "the answer to /stats")
    stats = bot_api.texts(ADMIN)[0]
    body = bot.get("/metrics").text
    sent = metric(body, "chipdigest_deliveries", status="sent")
    pending = metric(body, "chipdigest_pending_deliveries")
    assert sent == len(SUBSCRIBERS)
    assert f"投递：成功 {int(sent)}，失败 0，已屏蔽 0，待发送 {int(pending)}。" in stats
    outcomes = metric(body, "chipdigest_delivery_outcomes_total", outcome="sent")
    assert outcomes == sent and "chipdigest_" not in stats  # sentences; raw names at /metrics
    fetched = metric(body, "chipdigest_fetches_total", outcome="ok")
    assert fetched >= 1 and "今天收录" in stats
    assert metric(body, "chipdigest_leader") == 1.0
    composed = metric(body, "chipdigest_digest_compose_seconds_count")
    assert composed == 1.0 and "上一期：morning" in stats

    log_lines = [json.loads(line) for line in bot.log.read_text().splitlines() if line]
    assert any("now the leader" in line["message"] for line in log_lines)
    assert all({"level", "logger", "message", "timestamp"} <= line.keys() for line in log_lines)
    assert TOKEN not in bot.log.read_text() and SECRET not in bot.log.read_text()


def test_a_push_approved_on_a_standby_is_sent_by_the_leader_once(
    prepared: str, bot_api: FakeBotAPI, start_bot: Callable[[str], BotProcess]
) -> None:
    leader = start_bot("leader")
    wait_for(lambda: (leader.health() or {}).get("leader") is True, 30, "the leader")

    def caught_up() -> bool:
        body = leader.get("/metrics").text
        done = "chipdigest_delivery_outcomes_total{" in body
        return done and metric(body, "chipdigest_delivery_outcomes_total") == len(SUBSCRIBERS)

    wait_for(caught_up, 60, "the caught-up edition")
    edition = bot_api.texts(SUBSCRIBERS[0])
    standby = start_bot("standby")

    standby.post_update(bot_api.message_update(ADMIN, ADMIN, "/push morning"), SECRET)
    wait_for(lambda: any(m["reply_markup"] for m in bot_api.messages.get(ADMIN, [])), 20, "")
    preview = [m for m in bot_api.messages[ADMIN] if not m["reply_markup"]]
    buttons = next(m["reply_markup"] for m in bot_api.messages[ADMIN] if m["reply_markup"])
    approve = buttons["inline_keyboard"][0][0]["callback_data"]
    assert approve.startswith("approve:")
    assert standby.post_update(bot_api.callback_update(ADMIN, ADMIN, approve), SECRET).is_success

    wait_for(
        lambda: any("Queued" in e["text"] or "排队" in e["text"] for e in bot_api.edits), 20, ""
    )
    pushed = [m["text"] for m in preview]
    wait_for(lambda: bot_api.texts(SUBSCRIBERS[-1]) == edition + pushed, 30, "the push")
    for chat_id in SUBSCRIBERS:
        assert bot_api.texts(chat_id) == edition + pushed, f"chat {chat_id}"
    total = lambda: metric(leader.get("/metrics").text, "chipdigest_delivery_outcomes_total")  # noqa: E731
    wait_for(lambda: total() == 2 * len(SUBSCRIBERS), 20, "the leader to count both broadcasts")
    assert "chipdigest_delivery_outcomes_total{" not in standby.get("/metrics").text  # sent none

    def reported() -> list[str]:  # the leader tells the admin how the push went, once
        return [t for t in bot_api.texts(ADMIN) if "发送完毕" in t or "has finished" in t]

    wait_for(lambda: bool(reported()), 20, "the push's report to its admin")
    time.sleep(1.0)
    [report] = reported()
    assert f"{len(SUBSCRIBERS)}" in report and ("失败 0" in report or "0 failed" in report)
