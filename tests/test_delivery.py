"""Delivery against the fake Bot API, through the real python-telegram-bot."""

from __future__ import annotations

import itertools
import os
import signal
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from telegram import Bot

from bot.delivery import Broadcaster, RateLimiter, make_bot
from storage import Database
from storage.types import Chat
from tests.support.fakebotapi import TOKEN, FakeBotAPI, Fault
from tests.support.helpers import FakeClock, saved_digest

MESSAGES = [
    "<b>核心要点</b>\n• 寒武纪 &amp; 海光 [1]",
    '[1] <a href="https://a.example/1">t</a> — o',
]


@pytest.fixture
async def bot(bot_api: FakeBotAPI) -> AsyncIterator[Bot]:
    async with make_bot(TOKEN, bot_api.base_url, timeout=1.0) as telegram_bot:
        yield telegram_bot


def fast_limiter() -> RateLimiter:
    return RateLimiter(overall=500, chat_interval=0.02, group_per_minute=3000)


def digest_id(db: Database, clock: FakeClock) -> int:
    return saved_digest(db, clock)


def subscribers(db: Database, clock: FakeClock, ids: list[int]) -> list[Chat]:
    for chat_id in ids:
        chat = db.chats.upsert(chat_id, "private" if chat_id > 0 else "group", None, clock())
        db.chats.subscribe(chat.id, ["morning"])
    return db.chats.subscribers("morning")


async def no_sleep(seconds: float) -> None:
    return None


async def test_every_subscriber_gets_every_message_once_in_order(
    bot: Bot, bot_api: FakeBotAPI, db: Database, clock: FakeClock
) -> None:
    chats = subscribers(db, clock, [101, 102, 103, -500])
    report = await Broadcaster(db, bot, fast_limiter()).broadcast(
        digest_id(db, clock), MESSAGES, chats
    )
    assert report.sent == 4 and report.messages == 8
    for chat in chats:
        assert bot_api.texts(chat.chat_id) == MESSAGES
        assert all(m["parse_mode"] == "HTML" for m in bot_api.messages[chat.chat_id])
    assert db.deliveries.counts() == {"sent": 4}


async def test_a_second_broadcast_of_the_same_digest_sends_nothing(
    bot: Bot, bot_api: FakeBotAPI, db: Database, clock: FakeClock
) -> None:
    chats = subscribers(db, clock, [101, 102])
    digest = digest_id(db, clock)
    broadcaster = Broadcaster(db, bot, fast_limiter())
    await broadcaster.broadcast(digest, MESSAGES, chats)
    again = await broadcaster.broadcast(digest, MESSAGES, chats)
    assert again.messages == 0
    assert all(len(bot_api.texts(c.chat_id)) == 2 for c in chats)


async def test_a_429_storm_loses_nothing(
    bot: Bot, bot_api: FakeBotAPI, db: Database, clock: FakeClock
) -> None:
    chats = subscribers(db, clock, list(range(201, 211)))
    bot_api.faults.append(
        Fault(
            "sendMessage",
            429,
            "Too Many Requests: retry after 1",
            times=15,
            parameters={"retry_after": 1},
        )
    )
    report = await Broadcaster(db, bot, fast_limiter()).broadcast(
        digest_id(db, clock), MESSAGES, chats
    )
    assert report.retried_after == 15
    assert report.sent == 10 and report.failed == 0
    assert all(bot_api.texts(c.chat_id) == MESSAGES for c in chats)


async def test_blocked_users_are_deactivated_and_not_tried_again(
    bot: Bot, bot_api: FakeBotAPI, db: Database, clock: FakeClock
) -> None:
    chats = subscribers(db, clock, [301, 302, 303])
    bot_api.blocked.add(302)
    report = await Broadcaster(db, bot, fast_limiter()).broadcast(
        digest_id(db, clock), MESSAGES, chats
    )
    assert (report.sent, report.blocked) == (2, 1)
    assert not db.chats.get(302).active  # type: ignore[union-attr]
    assert [c.chat_id for c in db.chats.subscribers("morning")] == [301, 303]
    calls = bot_api.calls["sendMessage"]
    await Broadcaster(db, bot, fast_limiter()).broadcast(
        digest_id(db, clock), MESSAGES, db.chats.subscribers("morning")
    )
    assert bot_api.calls["sendMessage"] == calls + 4  # nothing more tried for 302
    assert db.chats.upsert(302, "private", None, clock()).active  # /start again: active


async def test_a_migrated_group_gets_its_new_id_and_the_message(
    bot: Bot, bot_api: FakeBotAPI, db: Database, clock: FakeClock
) -> None:
    chats = subscribers(db, clock, [-400])
    bot_api.migrated[-400] = -1004000
    report = await Broadcaster(db, bot, fast_limiter()).broadcast(
        digest_id(db, clock), MESSAGES, chats
    )
    assert report.migrated == 1 and report.sent == 1
    assert bot_api.texts(-1004000) == MESSAGES
    assert db.chats.get(-1004000) is not None and db.chats.get(-400) is None


async def test_rejected_html_is_resent_as_plain_text(
    bot: Bot, bot_api: FakeBotAPI, db: Database, clock: FakeClock
) -> None:
    chats = subscribers(db, clock, [501])
    bot_api.faults.append(
        Fault("sendMessage", 400, "Bad Request: can't parse entities: x", chat_id=501)
    )
    report = await Broadcaster(db, bot, fast_limiter()).broadcast(
        digest_id(db, clock), MESSAGES, chats
    )
    assert report.plain_fallbacks == 1 and report.sent == 1
    first = bot_api.messages[501][0]
    assert first["parse_mode"] is None and first["text"] == "核心要点\n• 寒武纪 & 海光 [1]"


async def test_network_errors_and_timeouts_are_retried_with_backoff(
    bot: Bot, bot_api: FakeBotAPI, db: Database, clock: FakeClock
) -> None:
    chats = subscribers(db, clock, [601, 602])
    bot_api.faults += [
        Fault("sendMessage", 502, "Bad Gateway", chat_id=601, times=2),
        Fault("sendMessage", 200, "slow", chat_id=602, times=1, delay=1.5),  # client times out
    ]
    pauses: list[float] = []

    async def record(seconds: float) -> None:
        pauses.append(seconds)

    report = await Broadcaster(db, bot, fast_limiter(), sleep=record).broadcast(
        digest_id(db, clock), MESSAGES, chats
    )
    assert report.sent == 2
    assert sorted(pauses) == [0.5, 0.5, 1.0]  # 601: two 502s, 602: one timeout
    assert bot_api.texts(601) == MESSAGES


async def test_a_chat_that_keeps_failing_is_retried_later_and_given_up_for_the_next_edition(
    bot: Bot, bot_api: FakeBotAPI, db: Database, clock: FakeClock
) -> None:
    """5xx is passing: the delivery stays pending and is tried again after its backoff, until
    the next digest of its edition supersedes it (then it is failed, with the reason)."""
    chats = subscribers(db, clock, [701, 702])
    bot_api.faults.append(Fault("sendMessage", 500, "Internal Server Error", chat_id=701, times=99))
    broadcaster = Broadcaster(db, bot, fast_limiter(), max_attempts=3, sleep=no_sleep, clock=clock)
    first = digest_id(db, clock)
    report = await broadcaster.broadcast(first, MESSAGES, chats)
    assert (report.sent, report.failed, report.deferred) == (1, 0, 1)
    assert db.deliveries.counts() == {"sent": 1, "pending": 1}
    calls = bot_api.calls["sendMessage"]
    await broadcaster.broadcast(first, MESSAGES)  # too soon: its backoff has not passed
    assert bot_api.calls["sendMessage"] == calls
    clock.advance(seconds=31)
    again = await broadcaster.broadcast(first, MESSAGES)
    assert again.deferred == 1 and bot_api.calls["sendMessage"] == calls + 3  # tried again
    await broadcaster.broadcast(digest_id(db, clock), MESSAGES, [chats[0]])  # the next edition
    assert db.deliveries.counts(first) == {"sent": 1, "failed": 1}


async def test_a_permanent_answer_ends_a_delivery_at_once(
    bot: Bot, bot_api: FakeBotAPI, db: Database, clock: FakeClock
) -> None:
    chats = subscribers(db, clock, [703, 704])
    bot_api.faults.append(Fault("sendMessage", 400, "Bad Request: message is too long", 703))
    report = await Broadcaster(db, bot, fast_limiter(), sleep=no_sleep).broadcast(
        digest_id(db, clock), MESSAGES, chats
    )
    assert (report.sent, report.failed, report.deferred) == (1, 1, 0)
    assert db.deliveries.counts() == {"sent": 1, "failed": 1}


async def test_an_outage_of_the_bot_api_loses_no_part_of_the_edition(
    bot: Bot, bot_api: FakeBotAPI, db: Database, clock: FakeClock
) -> None:
    """Every send answered 502 for a while (the audit: a 25 s burst lost 120 of 120 parts):
    the deliveries wait and are all finished once the API is back, each part exactly once."""
    ids = list(range(1001, 1021))
    chats = subscribers(db, clock, ids)
    bot_api.faults.append(Fault("sendMessage", 502, "Bad Gateway", times=10_000))
    broadcaster = Broadcaster(db, bot, fast_limiter(), max_attempts=2, sleep=no_sleep, clock=clock)
    digest = digest_id(db, clock)
    for _ in range(4):  # the deliveries job during the outage, each run after the backoff
        await broadcaster.broadcast(digest, MESSAGES, chats)
        clock.advance(minutes=5)
    assert db.deliveries.counts() == {"pending": len(ids)}
    bot_api.faults.clear()  # the API is back
    report = await broadcaster.broadcast(digest, MESSAGES)
    assert report.sent == len(ids) and db.deliveries.counts() == {"sent": len(ids)}
    assert all(bot_api.texts(chat_id) == MESSAGES for chat_id in ids)


async def test_per_chat_spacing_is_respected(
    bot: Bot, bot_api: FakeBotAPI, db: Database, clock: FakeClock
) -> None:
    chats = subscribers(db, clock, [801])
    limiter = RateLimiter(overall=500, chat_interval=0.2)
    await Broadcaster(db, bot, limiter).broadcast(digest_id(db, clock), MESSAGES * 2, chats)
    times = bot_api.send_times[801]
    assert len(times) == 4
    assert all(b - a >= 0.18 for a, b in itertools.pairwise(times))


def test_rate_limiter_spaces_overall_per_chat_and_groups() -> None:
    now = [0.0]
    limiter = RateLimiter(overall=30, chat_interval=1.0, group_per_minute=20, clock=lambda: now[0])
    private = [Chat(i, i, "private", None, "zh", "UTC", True) for i in range(1, 4)]
    group = Chat(9, -9, "group", None, "zh", "UTC", True)
    waits = [limiter.reserve(c) for c in private]
    assert waits == pytest.approx([0, 1 / 30, 2 / 30])
    assert limiter.reserve(private[0]) == pytest.approx(1.0)  # one a second to one chat
    first, second = limiter.reserve(group), limiter.reserve(group)
    assert second - first == pytest.approx(3.0)  # twenty a minute to a group


async def test_killed_mid_broadcast_and_restarted_everyone_gets_it_exactly_once(
    bot: Bot, bot_api: FakeBotAPI, db: Database, clock: FakeClock, tmp_path: Path
) -> None:
    chats = subscribers(db, clock, list(range(1001, 1021)))
    digest = digest_id(db, clock)
    bot_api.hold_after = 23  # from the 24th message on nothing is answered; then the kill
    child = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tests.support.broadcast_child",
            db.url,
            bot_api.base_url,
            str(digest),
            "3",
        ],
        cwd=Path(__file__).parent.parent,
        env={**os.environ, "PYTHONPATH": str(Path(__file__).parent.parent)},
    )
    try:
        # Every one of the child's 4 senders is stuck on an unanswered message: whatever
        # Telegram answered before, the child has recorded.
        assert bot_api.wait_held(4, 30), "the child never reached the held messages"
        child.send_signal(signal.SIGKILL)
        child.wait(10)
    finally:
        if child.poll() is None:
            child.kill()
    bot_api.hold_after = None
    bot_api.release()
    delivered_before = sum(len(m) for m in bot_api.messages.values())
    assert 0 < delivered_before < 60

    messages = [f"<b>part {n}</b> of the digest" for n in range(3)]
    await Broadcaster(db, bot, fast_limiter()).broadcast(digest, messages)  # the restart

    for chat in chats:
        assert bot_api.texts(chat.chat_id) == messages, chat.chat_id
    assert db.deliveries.counts(digest) == {"sent": 20}


async def test_a_group_migrated_to_a_supergroup_already_known_is_merged_and_nobody_misses_out(
    bot: Bot, bot_api: FakeBotAPI, db: Database, clock: FakeClock
) -> None:
    """Someone used the bot in the new supergroup before the first broadcast reached the old
    group's id: the two chats become one (subscriptions, follows, settings) and the broadcast
    goes on for everyone, every part once."""
    old = subscribers(db, clock, [-400, 700, 701])[0]
    assert old.chat_id == -400
    db.chats.configure(old.id, clock(), language="en", timezone="Europe/Berlin")
    db.follows.follow(old.id, "cambricon", 10)
    known = db.chats.upsert(-1004000, "supergroup", "the new group", clock())
    db.chats.subscribe(known.id, ["evening"])
    db.follows.follow(known.id, "cambricon", 25)
    db.follows.follow(known.id, "huawei", 3)
    bot_api.migrated[-400] = -1004000

    report = await Broadcaster(db, bot, fast_limiter()).broadcast(
        digest_id(db, clock), MESSAGES, db.chats.subscribers("morning")
    )

    assert report.migrated == 1 and report.sent == 3 and report.failed == 0
    for chat_id in (-1004000, 700, 701):
        assert bot_api.texts(chat_id) == MESSAGES  # every part, once, to everyone
    merged = db.chats.get(-1004000)
    assert merged is not None and db.chats.get(-400) is None
    assert merged.editions == ("evening", "morning") and merged.kind == "supergroup"
    assert (merged.language, merged.timezone) == ("en", "Europe/Berlin")  # the group's own
    assert sorted(db.follows.following(merged.id)) == ["cambricon", "huawei"]
    assert db.deliveries.counts() == {"sent": 3}
    again = await Broadcaster(db, bot, fast_limiter()).broadcast(
        digest_id(db, clock), MESSAGES, db.chats.subscribers("morning")
    )
    assert again.sent == 3 and bot_api.texts(-1004000) == MESSAGES * 2  # a new digest: once more


async def test_a_slow_answer_is_waited_for_not_sent_again(
    bot_api: FakeBotAPI, db: Database, clock: FakeClock
) -> None:
    """Telegram accepts the message and answers after 6 s (PTB's default read timeout is 5 s):
    the bot's own client waits, so the reader gets each part once (the audit saw 10 of 10
    duplicated)."""
    chats = subscribers(db, clock, [1101])
    bot_api.slow_answers[1101] = 6.0
    async with make_bot(TOKEN, bot_api.base_url) as slow_bot:  # the bot's own settings
        report = await Broadcaster(db, slow_bot, fast_limiter()).broadcast(
            digest_id(db, clock), MESSAGES[:1], chats
        )
    assert report.sent == 1 and report.deferred == 0
    assert bot_api.texts(1101) == MESSAGES[:1]
