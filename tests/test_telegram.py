"""End to end: the real python-telegram-bot Application, polling the fake Bot API server."""

from __future__ import annotations

import asyncio
import csv
import io
import logging
import re
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import text
from telegram.ext import Application

from bot import commands
from bot.alerts import pending_alerts, send_alerts
from bot.app import build_application
from bot.config import load_settings
from bot.context import AppContext
from bot.delivery import RateLimiter
from bot.runtime import Runtime, last_fire_time
from digest.html import strip_tags, telegram_length
from digest.ingest.parse import ParsedFeed, RawEntry
from storage import Database
from storage.leader import LOCK_KEY, LeaderLock
from tests.support.fakebotapi import TOKEN, FakeBotAPI, Fault, previews_off
from tests.support.feedserver import FeedServer
from tests.support.helpers import add_more_huawei_stories

ADMIN, ALICE, BOB = 42, 501, 502
Running = tuple[Application[Any, Any, Any, Any, Any, Any], AppContext]


@pytest.fixture
async def running(
    bot_api: FakeBotAPI, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[Running]:
    monkeypatch.setenv("CHIPDIGEST_TELEGRAM_TOKEN", TOKEN)
    monkeypatch.setenv("CHIPDIGEST_TELEGRAM_BASE_URL", bot_api.base_url)
    monkeypatch.setenv("CHIPDIGEST_ADMIN_IDS", str(ADMIN))
    ctx = AppContext(load_settings(), database_url=database_url)
    ctx.prepare()
    await commands.ingest_samples(ctx)
    limiter = RateLimiter(overall=500, chat_interval=0.01, group_per_minute=6000)
    application = build_application(ctx, schedule=False, limiter=limiter)
    async with application:
        await application.start()
        assert application.updater is not None
        await application.updater.start_polling(poll_interval=0.0, timeout=1)
        yield application, ctx
        await application.updater.stop()
        await application.stop()
    ctx.close()


async def until(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not condition():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("timed out waiting for the bot")
        await asyncio.sleep(0.02)


def runtime(application: Application[Any, Any, Any, Any, Any, Any]) -> Runtime:
    return application.bot_data["runtime"]


async def test_start_subscribe_and_the_scheduled_digest_arrives(
    running: Running, bot_api: FakeBotAPI
) -> None:
    application, _ = running
    bot_api.push_message(ALICE, ALICE, "/start")
    await until(lambda: len(bot_api.texts(ALICE)) == 1)
    assert "/subscribe" in bot_api.texts(ALICE)[0]
    bot_api.push_message(ALICE, ALICE, "/subscribe morning")
    await until(lambda: len(bot_api.texts(ALICE)) == 2)
    assert "morning" in bot_api.texts(ALICE)[1]

    report = await runtime(application).run_edition("morning")  # the 08:30 job

    assert report.sent == 1
    digest_messages = bot_api.texts(ALICE)[2:]
    assert digest_messages and "核心要点" in digest_messages[0]
    assert all(m["parse_mode"] == "HTML" for m in bot_api.messages[ALICE][2:])


async def test_an_edition_is_one_message_and_a_button_sends_the_rest(
    running: Running, bot_api: FakeBotAPI
) -> None:
    application, ctx = running
    chat = ctx.db.chats.upsert(ALICE, "private", None, datetime.now(UTC))
    ctx.db.chats.subscribe(chat.id, ["morning"])
    report = await runtime(application).run_edition("morning")
    assert report.sent == 1 and len(bot_api.messages[ALICE]) == 1  # one screen
    edition = bot_api.messages[ALICE][0]
    assert "另有" in edition["text"] and "<blockquote expandable>" in edition["text"]
    button = edition["reply_markup"]["inline_keyboard"][0][0]
    assert button["text"].startswith("其余") and button["callback_data"].startswith("rest:")

    bot_api.push_callback(ALICE, ALICE, button["callback_data"])
    await until(lambda: len(bot_api.messages[ALICE]) >= 2)
    await asyncio.sleep(0.2)
    rest = [m["text"] for m in bot_api.messages[ALICE][1:]]
    assert "（其余 1–" in rest[0] and "•" in rest[0]
    assert all(telegram_length(m) <= 4096 for m in rest)
    shown = {line for line in strip_tags(edition["text"]).split("\n") if line.startswith("•")}
    assert not shown & {line for m in rest for line in strip_tags(m).split("\n")}  # no repeats


async def test_inline_query_offers_the_company_card_to_post_anywhere(
    running: Running, bot_api: FakeBotAPI
) -> None:
    bot_api.push_inline(ALICE, "寒武纪")
    await until(lambda: len(bot_api.inline_answers) == 1)
    answer = bot_api.inline_answers[0]
    first = answer["results"][0]
    assert first["id"] == "cambricon" and first["type"] == "article"
    content = first["input_message_content"]
    assert content["message_text"].startswith("<b>寒武纪 · Cambricon</b>")
    assert content["link_preview_options"]["is_disabled"] is True
    bot_api.push_inline(ALICE, "Cambrcon", language="en")  # a typo still finds it
    await until(lambda: len(bot_api.inline_answers) == 2)
    assert bot_api.inline_answers[1]["results"][0]["id"] == "cambricon"
    bot_api.push_inline(ALICE, "")
    await until(lambda: len(bot_api.inline_answers) == 3)
    assert bot_api.inline_answers[2]["results"] == []


async def test_a_deep_link_opens_a_card_and_the_digest_links_to_them(
    running: Running, bot_api: FakeBotAPI
) -> None:
    application, ctx = running
    bot_api.push_message(ALICE, ALICE, "/start c_moore-threads")
    await until(lambda: len(bot_api.texts(ALICE)) == 1)
    assert bot_api.texts(ALICE)[0].startswith("<b>摩尔线程 · Moore Threads</b>")
    chat = ctx.db.chats.upsert(BOB, "private", None, datetime.now(UTC))
    ctx.db.chats.subscribe(chat.id, ["morning"])
    await runtime(application).run_edition("morning")
    edition = bot_api.texts(BOB)[0]
    assert '<a href="https://t.me/chipdigest_bot?start=c_huawei">华为 (Huawei)</a>' in edition


async def test_export_sends_a_csv_document_an_analyst_opens(
    running: Running, bot_api: FakeBotAPI
) -> None:
    bot_api.push_message(ALICE, ALICE, "/export 寒武纪 30d")
    await until(lambda: bool(bot_api.files.get(ALICE)))
    document = bot_api.files[ALICE][0]
    assert document["kind"] == "document" and document["filename"].startswith("cambricon-30d-")
    assert document["content"].startswith("\ufeff".encode())  # BOM: spreadsheets read UTF-8
    rows = list(csv.reader(io.StringIO(document["content"].decode("utf-8-sig"))))
    assert rows[0] == ["date", "title", "outlet", "link", "about_or_mentioned", "story", "relevant"]
    assert len(rows) > 3 and {r[4] for r in rows[1:]} <= {"about", "mentioned"}
    assert any(r[4] == "about" and "寒武纪" in r[1] for r in rows[1:])
    assert f"{len(rows) - 1} 条" in document["caption"]
    bot_api.push_message(ALICE, ALICE, "/export")
    await until(lambda: len(bot_api.texts(ALICE)) == 1)
    assert "/export" in bot_api.texts(ALICE)[0]  # the usage, in the chat's language


async def test_trend_sends_a_chart_of_the_companys_stories(
    running: Running, bot_api: FakeBotAPI
) -> None:
    bot_api.push_message(ALICE, ALICE, "/trend 华为 30d")
    await until(lambda: bool(bot_api.files.get(ALICE)), timeout=20)
    photo = bot_api.files[ALICE][0]
    assert photo["kind"] == "photo" and photo["content"].startswith(b"\x89PNG\r\n\x1a\n")
    assert "华为" in photo["caption"] and "个事件" in photo["caption"]
    assert "\n1. " in photo["caption"]  # the biggest stories, numbered as on the chart
    bot_api.push_message(ALICE, ALICE, "/trend 华为 3d")
    await until(lambda: len(bot_api.texts(ALICE)) == 1)
    assert "7" in bot_api.texts(ALICE)[0]  # the span's bounds, in the chat's language


async def test_the_weekly_edition_carries_a_chart_of_the_weeks_companies(
    running: Running, bot_api: FakeBotAPI
) -> None:
    application, ctx = running
    chat = ctx.db.chats.upsert(BOB, "private", None, datetime.now(UTC), language="en")
    ctx.db.chats.subscribe(chat.id, ["weekly"])
    report = await runtime(application).run_edition("weekly")
    assert report.sent == 1 and report.failed == 0
    [chart] = bot_api.files[BOB]
    assert chart["kind"] == "photo" and chart["content"].startswith(b"\x89PNG")
    assert chart["caption"] == "The week's most-covered companies"
    assert ctx.db.deliveries.counts().get("sent") == 1  # the chart is a part of the delivery


async def test_company_by_chinese_name_and_ticker_gives_the_same_card(
    running: Running, bot_api: FakeBotAPI
) -> None:
    bot_api.push_message(ALICE, ALICE, "/company 寒武纪")
    await until(lambda: len(bot_api.texts(ALICE)) == 1)
    bot_api.push_message(ALICE, ALICE, "/company 688256")
    await until(lambda: len(bot_api.texts(ALICE)) == 2)
    first, second = bot_api.texts(ALICE)
    assert first == second and first.startswith("<b>寒武纪 · Cambricon</b>")


async def test_more_button_edits_the_card(running: Running, bot_api: FakeBotAPI) -> None:
    add_more_huawei_stories(running[1])
    bot_api.push_message(ALICE, ALICE, "/company 华为")
    await until(lambda: len(bot_api.texts(ALICE)) == 1)
    markup = bot_api.messages[ALICE][0]["reply_markup"]
    data = markup["inline_keyboard"][0][0]["callback_data"]
    bot_api.push_callback(ALICE, ALICE, data)
    await until(lambda: len(bot_api.edits) == 1)
    assert bot_api.answered_callbacks == 1 and "•" in bot_api.edits[0]["text"]


async def test_follow_then_a_new_item_gives_one_alert(
    running: Running, bot_api: FakeBotAPI
) -> None:
    application, ctx = running
    bot_api.push_message(BOB, BOB, "/follow 摩尔线程")
    await until(lambda: len(bot_api.texts(BOB)) == 1)
    source, _ = ctx.db.sources.add("https://new.example/feed", ctx.clock(), "新来源")
    entries = [
        RawEntry(
            None,
            f"https://new.example/{n}",
            title,
            "摩尔线程发布新一代GPU，面向AI训练。",
            datetime.now(UTC),
        )
        for n, title in enumerate(["摩尔线程发布新一代训练GPU", "摩尔线程夸娥集群扩容至万卡"])
    ]
    ctx.pipeline().ingest_parsed(source, ParsedFeed("新来源", None, entries, "utf-8", None))

    sent = await send_alerts(ctx, runtime(application).sender, per_hour=4)
    again = await send_alerts(ctx, runtime(application).sender, per_hour=4)

    assert (sent, again) == (1, 0)
    alert = bot_api.texts(BOB)[1]
    assert "摩尔线程发布新一代训练GPU" in alert and "万卡" in alert


async def test_a_non_admin_push_is_refused(running: Running, bot_api: FakeBotAPI) -> None:
    bot_api.push_message(BOB, BOB, "/push")
    await until(lambda: len(bot_api.texts(BOB)) == 1)
    assert "管理员命令" in bot_api.texts(BOB)[0]


async def test_admin_push_preview_approve_reaches_every_subscriber_once(
    running: Running, bot_api: FakeBotAPI
) -> None:
    for user in (ALICE, BOB):
        bot_api.push_message(user, user, "/subscribe morning")
    await until(lambda: all(bot_api.texts(u) for u in (ALICE, BOB)))
    bot_api.push_message(ADMIN, ADMIN, "/push morning")
    await until(lambda: any(m["reply_markup"] for m in bot_api.messages.get(ADMIN, [])))
    question = next(m for m in bot_api.messages[ADMIN] if m["reply_markup"])
    approve = question["reply_markup"]["inline_keyboard"][0][0]["callback_data"]
    assert "核心要点" in bot_api.texts(ADMIN)[0] and not bot_api.texts(ALICE)[1:]

    bot_api.push_callback(ADMIN, ADMIN, approve)
    bot_api.push_callback(ADMIN, ADMIN, approve)  # a double tap
    await until(lambda: len(bot_api.edits) == 2)

    for user in (ALICE, BOB):
        digest = bot_api.texts(user)[1:]
        assert digest and "核心要点" in digest[0]
        assert len(digest) == len(set(digest))  # nobody gets it twice
    outcomes = sorted(e["text"] for e in bot_api.edits)
    assert "成功 2" in outcomes[0] and "已处理" in outcomes[1]  # one broadcast, one refusal
    assert "用时" in outcomes[0]  # the report, with how long it took
    await asyncio.sleep(0.3)
    assert not any("发送完毕" in text for text in bot_api.texts(ADMIN))  # told once, not twice


async def test_group_members_cannot_change_settings_but_admins_can(
    running: Running, bot_api: FakeBotAPI
) -> None:
    group = -100777
    bot_api.push_message(group, BOB, "/subscribe", kind="supergroup")
    await until(lambda: len(bot_api.texts(group)) == 1)
    assert "群管理员" in bot_api.texts(group)[0]
    bot_api.chat_admins.add((group, ALICE))
    bot_api.push_message(group, ALICE, "/subscribe", kind="supergroup")
    await until(lambda: len(bot_api.texts(group)) == 2)
    assert "已订阅" in bot_api.texts(group)[1]


async def test_command_menu_in_both_languages_and_a_failure_is_not_fatal(
    running,
    bot_api: FakeBotAPI,
    caplog: pytest.LogCaptureFixture,
) -> None:
    application, _ = running
    bot_api.faults.append(Fault("setMyCommands", 500, "Internal Server Error"))
    with caplog.at_level(logging.WARNING):
        await application.post_init(application)
    assert "en" in bot_api.commands and "zh" not in bot_api.commands
    assert "could not set the zh command menu" in caplog.text
    names = {c["command"] for c in bot_api.commands["en"]}
    assert {"company", "subscribe", "search"} <= names
    assert "push" not in names  # the public menu lists no admin command
    admin_menu = {c["command"] for c in bot_api.scoped_commands[(str(ADMIN), "en")]}
    assert {"company", "push", "stats"} <= admin_menu
    zh_admin = {c["command"]: c["description"] for c in bot_api.scoped_commands[(str(ADMIN), "zh")]}
    assert "管理员" in zh_admin["push"]


def test_one_leader_at_a_time_and_the_lock_passes_on_release(db: Database) -> None:
    first, second = LeaderLock(db.store), LeaderLock(db.store)
    assert first.try_acquire() and first.still_held()
    assert not second.try_acquire()  # polling refuses to start; a webhook process stands by
    first.release()
    assert second.try_acquire() and second.still_held()
    assert not first.try_acquire()
    second.release()


def test_last_fire_time_in_the_configured_zone() -> None:
    zone = ZoneInfo("Asia/Shanghai")
    now = datetime(2026, 11, 23, 1, 0, tzinfo=UTC)  # 09:00 in Shanghai
    fired = last_fire_time("30 8 * * *", zone, now)
    assert fired == datetime(2026, 11, 23, 8, 30, tzinfo=zone)


async def test_a_missed_edition_is_caught_up_once_not_twice(
    running: Running, bot_api: FakeBotAPI
) -> None:
    application, ctx = running
    bot_api.push_message(ALICE, ALICE, "/subscribe morning")
    await until(lambda: len(bot_api.texts(ALICE)) == 1)
    ctx.db.digests.save(
        edition="morning",
        created_at=datetime.now(UTC) - timedelta(days=2),
        after_item_id=0,
        last_item_id=0,
        since=None,
        language="zh",
        structure="{}",
        item_ids=(),
    )  # the last run, before the bot went down
    await runtime(application).catch_up()
    got = len(bot_api.texts(ALICE))
    await runtime(application).catch_up()
    assert got > 1 and len(bot_api.texts(ALICE)) == got


async def test_alerts_are_capped_per_hour_and_nothing_is_dropped(
    running: Running, bot_api: FakeBotAPI
) -> None:
    application, ctx = running
    bot_api.push_message(BOB, BOB, "/follow 沐曦")
    await until(lambda: len(bot_api.texts(BOB)) == 1)
    source, _ = ctx.db.sources.add("https://cap.example/feed", ctx.clock(), "来源")

    def new_item(n: int, title: str) -> None:
        entry = RawEntry(
            None, f"https://cap.example/{n}", title, f"{title}，面向AI训练。", datetime.now(UTC)
        )
        ctx.pipeline().ingest_parsed(source, ParsedFeed("来源", None, [entry], "utf-8", None))

    new_item(1, "沐曦发布曦云C700训练GPU")
    assert await send_alerts(ctx, runtime(application).sender, per_hour=1) == 1
    new_item(2, "沐曦科创板上市首日大涨")
    assert await send_alerts(ctx, runtime(application).sender, per_hour=1) == 0  # capped
    assert len(bot_api.texts(BOB)) == 2
    [waiting] = pending_alerts(ctx)
    assert [i.title for i in waiting.items["metax"]] == ["沐曦科创板上市首日大涨"]


def test_scheduler_runs_fetch_and_each_edition_in_the_configured_zone(running: Running) -> None:
    application, _ = running
    scheduler = runtime(application).schedule()
    ids = {job.id for job in scheduler.get_jobs()}
    assert ids == {"fetch", "deliveries", "edition:morning", "edition:evening", "edition:weekly"}
    morning = scheduler.get_job("edition:morning").trigger
    after = datetime(2026, 11, 23, 0, 0, tzinfo=UTC)  # 08:00 in Shanghai
    assert morning.get_next_fire_time(None, after) == datetime(
        2026, 11, 23, 8, 30, tzinfo=ZoneInfo("Asia/Shanghai")
    )


async def test_each_subscriber_gets_headings_in_its_own_language(
    running: Running, bot_api: FakeBotAPI
) -> None:
    application, _ = running
    for user in (ALICE, BOB):
        bot_api.push_message(user, user, "/subscribe evening")
    bot_api.push_message(BOB, BOB, "/settings lang en")
    await until(lambda: len(bot_api.texts(ALICE)) == 1 and len(bot_api.texts(BOB)) == 2)

    report = await runtime(application).run_edition("evening")

    assert report.sent == 2
    alice, bob = bot_api.texts(ALICE)[1:], bot_api.texts(BOB)[2:]
    assert "核心要点" in alice[0] and "Core Insights" in bob[0]
    alice_points = [line for line in "\n".join(alice).split("\n") if line.startswith("• ")]
    bob_points = [line for line in "\n".join(bob).split("\n") if line.startswith("• ")]
    assert len(alice_points) == len(bob_points) > 0  # the same stories, each once
    # Each reader gets the points of stories told in their language in that language.
    assert any(_is_chinese(p) for p in alice_points) and any(not _is_chinese(p) for p in bob_points)
    # (a point may start with its date when the edition's points are of several days)
    assert all(_is_chinese(p) or re.match(r"• (\d+月\d+日 )?〔英文〕", p) for p in alice_points)


async def test_editions_arrive_at_the_subscribers_own_local_time(
    running: Running, bot_api: FakeBotAPI
) -> None:
    application, _ = running
    for user in (ALICE, BOB):
        bot_api.push_message(user, user, "/subscribe morning")
    bot_api.push_message(BOB, BOB, "/settings tz Europe/Berlin")
    await until(lambda: len(bot_api.texts(ALICE)) == 1 and len(bot_api.texts(BOB)) == 2)
    scheduler = runtime(application).schedule()
    berlin = scheduler.get_job("edition:morning@Europe/Berlin")
    assert berlin is not None
    after = datetime(2026, 11, 23, 0, 0, tzinfo=UTC)
    assert berlin.trigger.get_next_fire_time(None, after) == datetime(
        2026, 11, 23, 8, 30, tzinfo=ZoneInfo("Europe/Berlin")
    )

    shanghai = await runtime(application).run_edition("morning")
    berlin_run = await runtime(application).run_edition("morning", "Europe/Berlin")

    assert (shanghai.sent, berlin_run.sent) == (1, 1)
    assert "核心要点" in bot_api.texts(ALICE)[1] and "核心要点" in bot_api.texts(BOB)[2]


async def test_a_leader_that_loses_its_lock_stops_at_once_and_stands_by(
    database_url: str, bot_api: FakeBotAPI, feed_server: FeedServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The lock's session ends while the process lives (a failover, a network cut, an admin's
    pg_terminate_backend): the process must stop leading before anyone else can start."""
    if database_url.startswith("sqlite"):
        pytest.skip("a file lock cannot be lost while its process lives")
    monkeypatch.setenv("CHIPDIGEST_TELEGRAM_TOKEN", TOKEN)
    monkeypatch.setenv("CHIPDIGEST_TELEGRAM_BASE_URL", bot_api.base_url)
    monkeypatch.setenv("CHIPDIGEST_ALLOW_PRIVATE_SOURCES", "true")
    ctx = AppContext(load_settings(leader_check_seconds=0.2), database_url=database_url)
    ctx.db.sources.add(
        feed_server.add_file("/f.xml", "rss2.xml", "application/rss+xml"), ctx.clock()
    )
    application = build_application(ctx, schedule=False)
    runtime: Runtime = application.bot_data["runtime"]
    leadership = application.bot_data["leadership"]
    other = LeaderLock(Database(database_url).store)
    async with application:
        await leadership.check()
        assert leadership.is_leader
        await until(lambda: runtime.scheduler is not None and runtime.scheduler.running)

        with ctx.db.engine.connect() as connection:
            connection.execute(
                text(
                    "SELECT pg_terminate_backend(pid) FROM pg_locks "
                    "WHERE locktype = 'advisory' AND objid = :key"
                ),
                {"key": LOCK_KEY},
            )
        assert other.try_acquire()  # someone else may now lead ...
        await leadership.check()  # ... and this process has stopped
        assert not leadership.is_leader and runtime.scheduler is None
        await leadership.check()
        assert not leadership.is_leader  # it stands by while the other leads

        other.release()
        await leadership.check()
        assert leadership.is_leader
        await leadership.stop()
    ctx.close()


async def test_health_and_metrics_say_when_the_database_is_gone() -> None:
    import httpx

    from bot.status import StatusServer
    from tests.support.helpers import free_port

    dead, http = free_port(), free_port()  # nobody listens on `dead`: the database is down
    ctx = AppContext(
        load_settings(), database_url=f"postgresql+psycopg://nobody@127.0.0.1:{dead}/gone"
    )
    ctx.metrics.items_ingested.inc(3)
    status = StatusServer(ctx, lambda: False)
    status.start("127.0.0.1", http)
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{http}") as client:
            health = await client.get("/healthz")
            metrics = await client.get("/metrics")
    finally:
        await status.stop()
        ctx.close()
    assert health.status_code == 503 and health.json()["database"] is False
    assert metrics.status_code == 200
    assert "chipdigest_database_up 0.0" in metrics.text
    assert "chipdigest_items_ingested_total 3.0" in metrics.text


async def test_the_upgrade_of_a_group_to_a_supergroup_moves_its_subscription(
    running: Running, bot_api: FakeBotAPI
) -> None:
    _, ctx = running
    bot_api.chat_admins.add((-300, ALICE))
    bot_api.push_message(-300, ALICE, "/subscribe morning", kind="group")
    await until(lambda: len(bot_api.texts(-300)) == 1)
    assert ctx.db.chats.get(-300) is not None
    bot_api.push_message(-1003000, BOB, "/start", kind="supergroup")  # used there already
    await until(lambda: len(bot_api.texts(-1003000)) == 1)
    bot_api.push_migration(-300, -1003000, ALICE)
    await until(lambda: ctx.db.chats.get(-300) is None)
    merged = ctx.db.chats.get(-1003000)
    assert merged is not None and merged.editions == ("morning",)


async def test_one_follower_under_long_flood_control_holds_up_neither_others_nor_fetching(
    running: Running, bot_api: FakeBotAPI
) -> None:
    """The audit: ``retry_after=3600`` for one follower blocked every other follower's alert
    and every later fetch. Now the others get theirs at once, the fetch job returns, and the
    held-up chat's items wait for a later run (its watermark did not move)."""
    application, ctx = running
    for user in (ALICE, BOB):
        bot_api.push_message(user, user, "/follow 摩尔线程")
    await until(lambda: len(bot_api.texts(ALICE)) == len(bot_api.texts(BOB)) == 1)
    source, _ = ctx.db.sources.add("https://flood.example/feed", ctx.clock(), "来源")
    entry = RawEntry(
        None,
        "https://flood.example/1",
        "摩尔线程发布新一代训练GPU",
        "摩尔线程发布GPU。",
        datetime.now(UTC),
    )
    ctx.pipeline().ingest_parsed(source, ParsedFeed("来源", None, [entry], "utf-8", None))
    bot_api.faults.append(
        Fault(
            "sendMessage",
            429,
            "Too Many Requests: retry after 3600",
            ALICE,
            1,
            {"retry_after": 3600},
        )
    )
    started = asyncio.get_running_loop().time()
    await runtime(application).fetch_and_alert()  # fetches (the samples fail offline), returns
    await asyncio.wait_for(runtime(application).alerting, 10)  # type: ignore[arg-type]
    assert asyncio.get_running_loop().time() - started < 10
    assert len(bot_api.texts(BOB)) == 2 and len(bot_api.texts(ALICE)) == 1
    [waiting] = pending_alerts(ctx)
    assert waiting.chat.chat_id == ALICE  # nothing lost: it goes with the next run
    assert await send_alerts(ctx, runtime(application).sender, per_hour=4) == 1
    assert "摩尔线程发布新一代训练GPU" in bot_api.texts(ALICE)[1]


async def test_an_alert_batch_longer_than_a_message_is_split_and_advances_per_message(
    running: Running, bot_api: FakeBotAPI
) -> None:
    """The audit: a batch over 4,096 characters was refused every cycle, the watermark never
    moved, the chat never got another alert."""
    application, ctx = running
    bot_api.push_message(BOB, BOB, "/follow 寒武纪")
    await until(lambda: len(bot_api.texts(BOB)) == 1)
    bot_api.push_message(BOB, BOB, "/follow 海光信息")
    await until(lambda: len(bot_api.texts(BOB)) == 2)
    source, _ = ctx.db.sources.add("https://long.example/feed", ctx.clock(), "来源" * 30)
    entries = [
        RawEntry(
            None,
            f"https://long.example/{company}/{n}",
            f"{name}第{n}款芯片发布，" + "性能与能效详解" * 30,
            f"{name}发布新芯片，面向智算中心。",
            datetime.now(UTC),
        )
        for company, name in (("c", "寒武纪"), ("h", "海光信息"))
        for n in range(10)
    ]
    ctx.pipeline().ingest_parsed(source, ParsedFeed("来源", None, entries, "utf-8", None))
    sent = await send_alerts(ctx, runtime(application).sender, per_hour=10)
    alerts = bot_api.texts(BOB)[2:]
    assert sent == len(alerts) >= 2
    assert all(telegram_length(a) <= 4096 for a in alerts)
    assert pending_alerts(ctx) == []  # every item went out, the watermarks moved
    assert sum(a.count("芯片发布") for a in alerts) == 20


async def test_group_rights_are_asked_only_when_needed_and_anonymous_admins_count(
    running: Running, bot_api: FakeBotAPI
) -> None:
    _, ctx = running
    bot_api.push_message(-500, BOB, "/help", kind="supergroup")
    await until(lambda: len(bot_api.texts(-500)) == 1)
    assert bot_api.calls["getChatMember"] == 0  # /help changes nothing: nobody is asked
    bot_api.push_message(-500, BOB, "/subscribe morning", kind="supergroup")
    await until(lambda: len(bot_api.texts(-500)) == 2)
    assert "群管理员" in bot_api.texts(-500)[1] and bot_api.calls["getChatMember"] == 1
    bot_api.push_anonymous(-500, "/subscribe morning")  # an admin hidden behind the group
    await until(lambda: len(bot_api.texts(-500)) == 3)
    chat = ctx.db.chats.get(-500)
    assert chat is not None and chat.editions == ("morning",)
    assert bot_api.calls["getChatMember"] == 1


def _is_chinese(line: str) -> bool:
    line = strip_tags(line)  # citations are links now
    return sum("\u4e00" <= ch <= "\u9fff" for ch in line) > len(line) // 4


async def test_no_message_the_bot_sends_shows_a_link_preview(
    running: Running, bot_api: FakeBotAPI
) -> None:
    application, ctx = running
    add_more_huawei_stories(ctx)
    for command in ("/start", "/subscribe evening", "/company 华为", "/search 寒武纪", "/digest"):
        bot_api.push_message(ALICE, ALICE, command)
    bot_api.push_message(ADMIN, ADMIN, "/preview")
    await until(lambda: len(bot_api.texts(ALICE)) >= 5 and len(bot_api.texts(ADMIN)) >= 1)
    card = next(m for m in bot_api.messages[ALICE] if m["reply_markup"])
    bot_api.push_callback(
        ALICE, ALICE, card["reply_markup"]["inline_keyboard"][0][0]["callback_data"]
    )
    await until(lambda: len(bot_api.edits) == 1)
    await runtime(application).run_edition("evening")
    sent = [m for messages in bot_api.messages.values() for m in messages] + bot_api.edits
    assert len(sent) >= 8 and [m["text"][:40] for m in sent if not previews_off(m)] == []
