"""Regression tests of the adversarial audit (issue 10): what one feed or one digest does may
not stop the others. Hostile feeds come from a real HTTP server on 127.0.0.1; Telegram is the
fake Bot API reached by the real python-telegram-bot."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from datetime import timedelta
from email.utils import format_datetime
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url
from telegram import Bot

from bot import commands
from bot.alerts import pending_alerts
from bot.config import load_settings
from bot.context import AppContext
from bot.delivery import Broadcaster, RateLimiter, Sender, make_bot
from bot.runtime import Runtime
from digest.compose.render import render_telegram
from digest.html import MESSAGE_LIMIT, telegram_length
from tests.support.fakebotapi import TOKEN, FakeBotAPI
from tests.support.feedserver import FeedServer
from tests.support.helpers import FakeClock, free_port, saved_digest


@pytest.fixture
def ctx(
    database_url: str, monkeypatch: pytest.MonkeyPatch, clock: FakeClock
) -> Iterator[AppContext]:
    monkeypatch.setenv("CHIPDIGEST_ALLOW_PRIVATE_SOURCES", "true")
    monkeypatch.setenv("CHIPDIGEST_MAX_ITEMS_PER_FEED", "1000")  # the audit's 800 in one feed
    context = AppContext(load_settings(), database_url=database_url, clock=clock)
    context.prepare()
    yield context
    context.close()


@pytest.fixture
async def bot(bot_api: FakeBotAPI) -> AsyncIterator[Bot]:
    async with make_bot(TOKEN, bot_api.base_url, timeout=2.0) as telegram_bot:
        yield telegram_bot


def rss(title: str, items: list[tuple[str, str, str]], clock: FakeClock) -> bytes:
    date = format_datetime(clock() - timedelta(hours=1))
    entries = "".join(
        f"<item><title>{t}</title><link>{link}</link><description>{d}</description>"
        f"<pubDate>{date}</pubDate></item>"
        for t, link, d in items
    )
    return (
        f'<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel>'
        f"<title>{title}</title><link>https://hostile.example/</link>{entries}</channel></rss>"
    ).encode()


def flood(count: int) -> list[tuple[str, str, str]]:
    """One event told ``count`` times with a different number each time (near duplicates)."""
    return [
        (
            f"寒武纪思元新一代训练芯片量产 第{i}次转载",
            f"https://hostile.example/a/{i}",
            f"寒武纪宣布思元训练芯片进入量产，首批产品交付智算中心客户，国产算力再添一员。转载编号{i}。",
        )
        for i in range(count)
    ]


HEALTHY = [
    (
        "摩尔线程完成新一轮融资",
        "https://healthy.example/1",
        "国产GPU厂商摩尔线程宣布完成新一轮融资，资金将用于新一代GPU研发与量产。",
    ),
    (
        "海光信息发布新一代DCU",
        "https://healthy.example/2",
        "海光信息发布新一代DCU加速卡，面向智算中心的大模型训练与推理。",
    ),
]


async def test_a_hostile_feed_cannot_make_the_digest_unsendable(
    ctx: AppContext,
    feed_server: FeedServer,
    bot: Bot,
    bot_api: FakeBotAPI,
    clock: FakeClock,
) -> None:
    """A 4,500-character channel title (every item's outlet), a 600-character ETag and ~800
    near-identical items in one story: the fetch succeeds, the digest fits Telegram, the key
    point cites a few and counts the rest, and every subscriber gets it."""
    hostile = feed_server.add(
        "/hostile.xml",
        body=rss("芯" * 4500, flood(800), clock),
        headers={
            "Content-Type": "application/rss+xml",
            "ETag": '"' + "e" * 600 + '"',
            "Last-Modified": "Mon, " + "x" * 200,
        },
    )
    healthy = feed_server.add(
        "/healthy.xml",
        body=rss("健康的源", HEALTHY, clock),
        headers={"Content-Type": "application/rss+xml"},
    )
    outcomes = await commands.fetch(ctx, [hostile, healthy])
    assert [o.status for o in outcomes] == ["ok", "ok"]
    assert all(len(s.title or "") <= 120 and s.etag is None for s in ctx.db.sources.all()[:1])

    result = commands.compose_digest(ctx, edition="morning", save=True)
    digest = result.digest
    flooded = next(p for p in digest.key_points() if "寒武纪" in p.text)
    assert len(flooded.citations) == 4 and flooded.uncited > 700
    for language in ("zh", "en"):
        messages = render_telegram(ctx.composer.in_language(digest, language))
        assert all(telegram_length(m) <= MESSAGE_LIMIT for m in messages)
    joined = "\n".join(render_telegram(digest))
    assert f"等另 {flooded.uncited} 篇报道" in joined and "摩尔线程" in joined

    for chat_id in (801, 802):
        chat = ctx.db.chats.upsert(chat_id, "private", None, clock())
        ctx.db.chats.subscribe(chat.id, ["morning"])
    limiter = RateLimiter(overall=500, chat_interval=0.01, group_per_minute=6000)
    assert result.saved_id is not None
    report = await Broadcaster(ctx.db, bot, limiter).broadcast(
        result.saved_id,
        commands.messages_for_chats(ctx, digest),
        ctx.db.chats.subscribers("morning"),
    )
    assert report.sent == 2 and report.failed == 0
    assert bot_api.texts(801) == bot_api.texts(802) != []


async def test_an_undeliverable_digest_fails_with_a_reason_and_the_queue_goes_on(
    ctx: AppContext, bot: Bot, bot_api: FakeBotAPI, clock: FakeClock
) -> None:
    """A queued digest that cannot be rendered (its citations do not check out) is marked
    failed with the reason; the healthy digest queued behind it is delivered."""
    chat = ctx.db.chats.upsert(901, "private", None, clock())
    broken = commands.compose_digest(ctx, edition="morning").digest.to_dict()
    broken["sections"] = [
        {
            "id": "core",
            "heading": "核心要点",
            "key_points": [
                {
                    "text": "无来源",
                    "language": "zh",
                    "story_id": 1,
                    "citations": [7],
                    "companies": [],
                }
            ],
        }
    ]
    bad_id = saved_digest(ctx.db, clock, json.dumps(broken))
    ctx.db.deliveries.enqueue(bad_id, [chat], clock())
    good = commands.compose_digest(ctx, edition="evening", save=True)
    assert good.saved_id is not None
    ctx.db.deliveries.enqueue(good.saved_id, [chat], clock())

    limiter = RateLimiter(overall=500, chat_interval=0.01, group_per_minute=6000)
    runtime = Runtime(ctx, Broadcaster(ctx.db, bot, limiter), Sender(ctx.db, bot, limiter))
    await runtime.deliver_pending()
    await runtime.deliver_pending()  # the next interval: nothing left to retry

    assert ctx.db.deliveries.counts(bad_id) == {"failed": 1}
    assert ctx.db.deliveries.counts(good.saved_id) == {"sent": 1}
    assert len(bot_api.texts(901)) == len(render_telegram(good.digest))


def test_a_database_password_that_needs_escaping_works_and_is_never_printed(
    database_url: str, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """``%`` in the URL (an escaped password, or a SQLite path with ``%25``) broke Alembic's
    config parsing and printed the password in the traceback."""
    from bot.cli import main

    url = make_url(database_url)
    if url.get_backend_name() == "sqlite":
        folder = tmp_path / "odd%folder"
        folder.mkdir()
        escaped = f"sqlite:///{folder}/chip%25digest.db"
        secret = None
    else:  # trust authentication on the test server: any password is accepted
        escaped = url.set(password="s3cr/et@pw").render_as_string(hide_password=False)
        secret = "s3cr/et@pw"
        assert "s3cr%2Fet%40pw" in escaped
    assert main(["--database", escaped, "db", "upgrade"]) == 0
    assert main(["--database", escaped, "items"]) == 0
    out, err = capsys.readouterr()
    assert "no items match" in out and "Traceback" not in err
    if secret is not None:  # the server gone: one line, and no password in any form
        down = make_url(escaped).set(port=free_port()).render_as_string(hide_password=False)
        assert main(["--database", down, "items"]) == 1
        _, err = capsys.readouterr()
        assert err.count("\n") == 1 and "Traceback" not in err
        assert secret not in err and "s3cr%2Fet%40pw" not in err and "et@pw" not in err


async def test_sources_are_checked_when_added_and_shown_without_credentials(
    database_url: str,
    feed_server: FeedServer,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A metadata address is refused by /addsource (not only when fetched), and a feed URL
    with a user, a password and a key is never shown or logged with them."""
    from bot.conversation import Caller, Conversation

    monkeypatch.setenv("CHIPDIGEST_ALLOW_PRIVATE_SOURCES", "127.0.0.1/32")  # a LAN RSSHub
    ctx = AppContext(load_settings(), database_url=database_url)
    ctx.prepare()
    talk = Conversation(ctx, admins=frozenset({1}))
    admin = Caller(1, "private", 1)
    [refused] = await talk.handle(admin, "/addsource http://100.100.100.200/latest/meta-data")
    assert "non-public address" in refused.text and ctx.db.sources.all() == []

    feed_server.add("/private.xml", status=500)
    secret_url = (
        feed_server.url("/private.xml").replace("http://", "http://reader:hunter2pw@")
        + "?key=k3y-s3cret&lang=zh"
    )
    [added] = await talk.handle(admin, f"/addsource {secret_url}")
    await commands.fetch(ctx)
    [listed] = await talk.handle(Caller(2, "private", 2), "/sources")
    [stats] = await talk.handle(admin, "/stats")
    shown = added.text + listed.text + stats.text + caplog.text
    assert "hunter2pw" not in shown and "k3y-s3cret" not in shown and "reader" not in shown
    assert "lang=zh" in added.text and "key=***" in added.text
    ctx.close()


async def test_a_new_sources_backlog_is_stored_and_searchable_but_never_in_a_digest_or_alert(
    ctx: AppContext, feed_server: FeedServer, clock: FakeClock
) -> None:
    """The audit found an item of September 2024 in a digest of November 2026: windows
    counted storage time. A feed added today brings its old items; they are kept, found by
    /search, but the next edition and the alerts carry only what is new."""
    from datetime import timedelta as td

    chat = ctx.db.chats.upsert(950, "private", None, clock())
    ctx.db.follows.follow(chat.id, "cambricon", ctx.db.items.max_id())
    old = clock() - td(days=400)
    body = (
        '<rss version="2.0"><channel><title>老源</title>'
        "<item><title>寒武纪发布思元290训练芯片</title><link>https://old.example/1</link>"
        f"<pubDate>{format_datetime(old)}</pubDate>"
        "<description>寒武纪推出思元290训练芯片，面向数据中心。</description></item>"
        "<item><title>寒武纪获智算中心大额订单</title><link>https://old.example/2</link>"
        f"<pubDate>{format_datetime(clock() - td(hours=2))}</pubDate>"
        "<description>寒武纪获得一家智算中心的大额芯片订单。</description></item>"
        "</channel></rss>"
    ).encode()
    url = feed_server.add("/old.xml", body=body, headers={"Content-Type": "application/rss+xml"})
    [outcome] = await commands.fetch(ctx, [url])
    assert outcome.new == 2

    digest = commands.compose_digest(ctx, edition="morning").digest
    shown = render_telegram(digest)
    assert any("大额订单" in m for m in shown) and not any("思元290" in m for m in shown)
    assert [i.title for i in commands.search(ctx, "思元290")] == ["寒武纪发布思元290训练芯片"]
    [batch] = pending_alerts(ctx)
    assert [i.title for items in batch.items.values() for i in items] == [
        "寒武纪获智算中心大额订单"
    ]
    since = commands.compose_digest(ctx, since="7d").digest  # publication time, not fetch time
    assert not any("思元290" in m for m in render_telegram(since))


async def test_fetch_answers_with_one_summary_not_a_line_per_unchanged_source(
    ctx: AppContext, feed_server: FeedServer, clock: FakeClock
) -> None:
    from bot.conversation import Caller, Conversation

    urls = [
        feed_server.add(f"/same{n}.xml", body=rss(f"源{n}", [], clock), status=304, etag='"e"')
        for n in range(5)
    ]
    urls.append(
        feed_server.add(
            "/news.xml",
            body=rss("新闻源", HEALTHY, clock),
            headers={"Content-Type": "application/rss+xml"},
        )
    )
    for url in urls:
        ctx.db.sources.add(url, clock())
    await commands.fetch(ctx)  # a first cycle: every source answers once
    talk = Conversation(ctx, admins=frozenset({1}))
    [reply] = await talk.handle(Caller(1, "private", 1), "/fetch")
    lines = reply.text.split("\n")
    assert lines[1] == "6 个来源无更新；0 个有新内容：新增 0 条，其中相关 0 条；0 个失败"
    assert len(lines) == 2  # no line per unchanged source
