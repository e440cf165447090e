"""Delivering digests within Telegram's limits, recording every (digest, chat) delivery.

Telegram's limits are the physical limit here: about 30 messages a second overall, one a
second to a chat, 20 a minute to a group. :class:`RateLimiter` spaces sends to stay under
them; :class:`Broadcaster` turns Telegram's answers into actions:

==========================  ==============================================================
``RetryAfter``              wait as long as asked, send the same message again
``TimedOut``/``NetworkError`` retry at once with backoff, up to ``max_attempts``; then the
                            delivery stays pending and the deliveries job tries again
                            (30 s doubling to 30 min) until a newer digest of its edition
                            supersedes it or a day has passed (5xx answers are NetworkError)
``Forbidden``               blocked, kicked, deactivated: the chat is marked inactive
``ChatMigrated``            the group became a supergroup: store the new id, send again
``BadRequest`` on entities  send the same content as plain text, and log it
==========================  ==============================================================

Every delivery is a row (``deliveries``) created before the first send; ``parts_sent`` is
committed after each message Telegram accepts. A restart resumes every pending delivery at
its next message, so nobody is skipped and nobody gets a message twice. The one message that
can repeat is one in flight when the process died whose acceptance Telegram had not yet
answered: it is sent again (a repeat beats a loss).
"""

from __future__ import annotations

import asyncio
import logging
import os
import warnings
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, TypeAlias

from telegram import (
    Bot,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    InputFile,
    LinkPreviewOptions,
)
from telegram.constants import ParseMode
from telegram.error import (
    BadRequest,
    ChatMigrated,
    Forbidden,
    NetworkError,
    RetryAfter,
    TelegramError,
)
from telegram.request import HTTPXRequest

from bot.ratelimit import RateLimiter
from bot.reply import Reply, Upload
from digest.errors import DigestError
from digest.html import strip_tags
from storage import Database
from storage.types import Chat, Delivery

log = logging.getLogger(__name__)

# Opt in to python-telegram-bot's coming timedelta durations (RetryAfter.retry_after), so the
# library neither warns on every flood-control answer nor changes type under us later.
os.environ.setdefault("PTB_TIMEDELTA", "1")


TELEGRAM_API = "https://api.telegram.org/bot"


# How long a send waits for Telegram's answer. Telegram (or a Bot API proxy in front of it)
# sometimes accepts a message and answers late; giving up after PTB's default 5 s would send it
# again — a duplicate in the reader's chat. A slow answer is waited for; a dead connection is
# still caught by the connect timeout.
SEND_TIMEOUT = 30.0


def make_request(
    proxy: str | None = None, connections: int = 64, timeout: float = SEND_TIMEOUT
) -> HTTPXRequest:
    """The HTTP client every send goes through (the bot's, the broadcaster's, the CLI's)."""
    return HTTPXRequest(
        connection_pool_size=connections,
        proxy=proxy,
        read_timeout=timeout,
        write_timeout=timeout,
        connect_timeout=min(timeout, 10.0),
        pool_timeout=timeout,
    )


def make_bot(
    token: str,
    base_url: str | None = None,
    proxy: str | None = None,
    connections: int = 64,
    timeout: float = SEND_TIMEOUT,
) -> Bot:
    """A python-telegram-bot ``Bot``; ``base_url`` points at a Bot API proxy or server."""
    request = make_request(proxy, connections, timeout)
    return Bot(token, base_url=base_url or TELEGRAM_API, request=request)


@dataclass
class BroadcastReport:
    sent: int = 0
    failed: int = 0
    blocked: int = 0
    messages: int = 0
    retried_after: int = 0
    plain_fallbacks: int = 0
    migrated: int = 0
    queued: int = 0  # left for the leader to send (a standby process does not broadcast)
    deferred: int = 0  # a transient failure: still pending, tried again later
    errors: list[str] = field(default_factory=list)


class Blocked(Exception):
    """The chat blocked the bot, kicked it, or no longer exists."""


def _seconds(exc: RetryAfter) -> float:
    with warnings.catch_warnings():  # PTB 22 warns about the int/timedelta type change
        warnings.simplefilter("ignore")
        value = exc.retry_after
    return value.total_seconds() if isinstance(value, timedelta) else float(value)


class Sender:
    """Sends one message to one chat, handling Telegram's answers (see the module's table)."""

    def __init__(
        self,
        db: Database,
        bot: Bot,
        limiter: RateLimiter | None = None,
        *,
        max_attempts: int = 5,
        backoff: float = 0.5,
        max_wait: float | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.db = db
        self.bot = bot
        # A flood-control wait longer than this is not waited out here: RetryAfter is raised
        # for the caller to try that chat later (None: wait as long as Telegram asks).
        self.max_wait = max_wait
        self.limiter = limiter or RateLimiter()
        self.max_attempts = max_attempts
        self.backoff = backoff
        self.clock = clock
        self._sleep = sleep

    async def send(
        self,
        chat: Chat,
        message: str,
        report: BroadcastReport,
        buttons: InlineKeyboardMarkup | None = None,
        file: Upload | None = None,
    ) -> Chat:
        """Send one message; returns the chat (its id may have changed). Raises
        :class:`Blocked` when the chat is gone for good, TelegramError when it kept failing."""
        attempts = 0
        parse_mode: str | None = ParseMode.HTML
        text = message
        while True:
            await self.limiter.acquire(chat)
            try:
                if file is not None:  # a chart: the text is its caption
                    upload = InputFile(file.content, filename=file.filename)
                    await self.bot.send_photo(
                        chat.chat_id, upload, caption=text, parse_mode=parse_mode
                    )
                    return chat
                await self.bot.send_message(
                    chat.chat_id,
                    text,
                    parse_mode=parse_mode,
                    reply_markup=buttons,
                    link_preview_options=LinkPreviewOptions(is_disabled=True),
                )
                return chat
            except RetryAfter as exc:
                report.retried_after += 1
                seconds = _seconds(exc)
                if self.max_wait is not None and seconds > self.max_wait:
                    raise  # the caller tries this chat again later; the others go on
                if self.limiter.pause(seconds):  # every send waits, not only this chat's
                    log.warning("Telegram's flood control: all sending paused for %.0f s", seconds)
                await self._sleep(seconds)
            except Forbidden as exc:
                self.db.chats.deactivate(chat.id, self.clock())
                raise Blocked(str(exc)) from exc
            except ChatMigrated as exc:
                report.migrated += 1
                log.info("chat %s moved to %s", chat.chat_id, exc.new_chat_id)
                chat = self.db.chats.migrate(chat.id, int(exc.new_chat_id), self.clock()) or chat
            except BadRequest as exc:
                if parse_mode is None or "parse entities" not in str(exc):
                    raise
                log.warning("chat %s rejected the HTML (%s); sending plain text", chat.chat_id, exc)
                report.plain_fallbacks += 1
                parse_mode, text = None, strip_tags(message)
            except NetworkError as exc:  # TimedOut is a NetworkError
                attempts += 1
                if attempts >= self.max_attempts:
                    raise
                await self._sleep(self.backoff * 2 ** (attempts - 1))
                log.info("retrying chat %s after %s", chat.chat_id, exc)


def markup(reply: Reply) -> InlineKeyboardMarkup | None:
    if not reply.buttons:
        return None
    return InlineKeyboardMarkup(
        [[InlineKeyboardButton(b.text, callback_data=b.data) for b in row] for row in reply.buttons]
    )


# A chat's messages: HTML text, or a Reply when it carries buttons ("the rest of the edition").
Part: TypeAlias = str | Reply
Messages = Sequence[Part] | Callable[[Chat], Sequence[Part]]

RETRY_FIRST, RETRY_MAX = timedelta(seconds=30), timedelta(minutes=30)


def retry_delay(attempts: int) -> timedelta:
    """Backoff between runs of a delivery that failed for a passing reason: 30 s doubling to
    30 min, so an outage of hours is ridden out without hammering a recovering API."""
    return min(RETRY_MAX, RETRY_FIRST * 2 ** max(attempts - 1, 0))


def is_due(delivery: Delivery, now: datetime) -> bool:
    if not delivery.attempts or delivery.updated_at is None:
        return True
    return now >= delivery.updated_at + retry_delay(delivery.attempts)


@dataclass
class _Progress:
    delivery: Delivery
    chat: Chat
    messages: Sequence[Part]
    done: bool = False  # failed or blocked: no further parts


class Broadcaster:
    """One digest to many chats; ``sender_options`` go to its :class:`Sender`."""

    def __init__(
        self,
        db: Database,
        bot: Bot,
        limiter: RateLimiter | None = None,
        *,
        concurrency: int = 64,
        on_report: Callable[[BroadcastReport], None] | None = None,
        **sender_options: Any,
    ) -> None:
        self.db = db
        self.sender = Sender(db, bot, limiter, **sender_options)
        self.concurrency = concurrency
        self._on_report = on_report  # the metrics, in the running bot
        self._clock = self.sender.clock

    async def broadcast(
        self, digest_id: int, messages: Messages, chats: Sequence[Chat] | None = None
    ) -> BroadcastReport:
        """Deliver ``messages`` (or, when it is a function, each chat's own messages, e.g. in
        its language) to ``chats`` (queued once) and to every delivery of this digest still
        pending from an earlier, interrupted run."""
        if chats is not None:
            self.db.deliveries.enqueue(digest_id, chats, self._clock())
            self.db.deliveries.supersede(digest_id, self._clock())
        report = BroadcastReport()
        slots = asyncio.Semaphore(self.concurrency)
        # Round by round: every chat gets message 1, then every chat message 2, ... so a
        # sender never sits idle on one chat's one-second spacing while others could go.
        active = {}
        now = self._clock()
        for delivery in self.db.deliveries.pending(digest_id):
            if not is_due(delivery, now):
                continue  # it failed for a passing reason and waits out its backoff
            parts = self._render(delivery, messages, report)
            if parts is not None:
                active[delivery.id] = _Progress(delivery, delivery.chat, parts)
        rounds = max((len(p.messages) for p in active.values()), default=0)
        for part in range(rounds):

            async def one(progress: _Progress, part: int = part) -> None:
                async with slots:
                    await self._deliver_part(progress, part, progress.messages[part], report)

            await asyncio.gather(
                *(
                    one(p)
                    for p in active.values()
                    if p.delivery.parts_sent <= part < len(p.messages) and not p.done
                )
            )
        for progress in active.values():
            if not progress.done:
                self.db.deliveries.update(progress.delivery.id, self._clock(), status="sent")
                report.sent += 1
        if self._on_report is not None:
            self._on_report(report)
        return report

    def _fail(self, progress: _Progress, exc: TelegramError, report: BroadcastReport) -> None:
        progress.done = True
        delivery = progress.delivery
        self.db.deliveries.update(delivery.id, self._clock(), status="failed", error=str(exc))
        report.failed += 1
        report.errors.append(f"{progress.chat.chat_id}: {exc}")
        log.warning(
            "delivery of digest %s to chat %s failed: %s",
            delivery.digest_id,
            progress.chat.chat_id,
            exc,
        )

    def _render(
        self, delivery: Delivery, messages: Messages, report: BroadcastReport
    ) -> Sequence[Part] | None:
        """The chat's messages; a digest that cannot be rendered fails this delivery with the
        reason, instead of holding up every chat behind it."""
        try:
            return messages(delivery.chat) if callable(messages) else messages
        except (DigestError, ValueError) as exc:
            reason = f"the digest cannot be rendered: {exc}"
            log.error("digest %s to chat %s: %s", delivery.digest_id, delivery.chat.chat_id, reason)
            self.db.deliveries.update(delivery.id, self._clock(), status="failed", error=reason)
            report.failed += 1
            report.errors.append(f"{delivery.chat.chat_id}: {reason}")
            return None

    async def _deliver_part(
        self, progress: _Progress, part: int, message: Part, report: BroadcastReport
    ) -> None:
        delivery = progress.delivery
        if isinstance(message, str):
            text, buttons, file = message, None, None
        else:
            text, buttons, file = message.text, markup(message), message.file
        try:
            progress.chat = await self.sender.send(progress.chat, text, report, buttons, file)
        except Blocked as exc:
            progress.done = True
            self.db.deliveries.update(delivery.id, self._clock(), status="blocked", error=str(exc))
            report.blocked += 1
            log.info("chat %s blocked the bot or is gone: %s", progress.chat.chat_id, exc)
            return
        except BadRequest as exc:  # PTB's BadRequest is a NetworkError, but nothing passing
            self._fail(progress, exc, report)
            return
        except NetworkError as exc:  # 5xx, timeouts, the network: passing, so tried again later
            progress.done = True
            self.db.deliveries.update(
                delivery.id, self._clock(), parts_sent=part, error=str(exc), attempted=True
            )
            report.deferred += 1
            log.warning(
                "delivery of digest %s to chat %s deferred (attempt %d): %s",
                delivery.digest_id,
                progress.chat.chat_id,
                delivery.attempts + 1,
                exc,
            )
            return
        except TelegramError as exc:  # a permanent answer: it ends here
            self._fail(progress, exc, report)
            return
        self.db.deliveries.update(delivery.id, self._clock(), parts_sent=part + 1)
        report.messages += 1
