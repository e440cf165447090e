"""Alerts for followed companies: new relevant items, batched, at most N messages an hour.

After each fetch cycle every follow of an active chat looks at the items stored since its
watermark. A chat gets what is new about everything it follows, in as few messages as fit
Telegram's limit; a chat that has had its hourly share keeps its items for a later, bigger
batch (nothing is dropped). Chats are served concurrently through the bot's rate limiter, so
one chat under a long flood-control wait holds up no other: its alert waits for the next run.
The watermark moves per message sent, so a batch cut short is never skipped nor repeated.
"""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta

from telegram.error import RetryAfter, TelegramError

from bot.commands.follows import Target, new_items
from bot.context import AppContext
from bot.delivery import Blocked, BroadcastReport, Sender
from digest.catalog import t
from digest.html import MESSAGE_LIMIT, esc, link, strip_tags, telegram_length
from digest.text import shorten
from storage.types import Chat, Item

log = logging.getLogger(__name__)
MAX_ITEMS_PER_ALERT = 10
ALERT_WINDOW = timedelta(hours=24)  # a new source's older backlog is never an alert
CONCURRENCY = 16


@dataclass(frozen=True, slots=True)
class AlertBatch:
    chat: Chat
    items: dict[str, list[Item]]  # follow key (company, segment:, keyword:) → new items


@dataclass(frozen=True, slots=True)
class AlertMessage:
    text: str
    newest: dict[str, int]  # company id → the newest item id this message carries
    items: int


def pending_alerts(ctx: AppContext) -> list[AlertBatch]:
    by_chat: dict[int, tuple[Chat, dict[str, list[Item]]]] = {}
    backlog = ctx.clock() - ALERT_WINDOW
    for chat, key, last in ctx.db.follows.all():  # a company, a segment or a keyword
        items = new_items(ctx, key, last, MAX_ITEMS_PER_ALERT, backlog)
        if items:
            by_chat.setdefault(chat.id, (chat, defaultdict(list)))[1][key].extend(items)
    return [AlertBatch(chat, dict(items)) for chat, items in by_chat.values()]


def _lines(ctx: AppContext, batch: AlertBatch) -> Iterator[tuple[str, str | None, int]]:
    """(HTML line, company, item id) in order: a company's name, then its items."""
    language = batch.chat.language
    yield f"<b>{esc(t('alert.title', language))}</b>", None, 0
    for key, items in batch.items.items():
        yield f"<b>{esc(Target(key).label(ctx, language))}</b>", None, 0
        for item in sorted(items, key=lambda i: i.id)[:MAX_ITEMS_PER_ALERT]:
            yield f"• {link(item.link, item.title)} — {esc(item.outlet)}", key, item.id


def render_alert(ctx: AppContext, batch: AlertBatch) -> list[AlertMessage]:
    """The batch as messages within Telegram's limit, each knowing which items it carries."""
    messages: list[AlertMessage] = []
    lines: list[str] = []
    newest: dict[str, int] = {}
    count = length = 0
    for line, company, item_id in _lines(ctx, batch):
        if telegram_length(line) > MESSAGE_LIMIT // 2:  # a hostile title: plain and short
            line = esc(shorten(strip_tags(line), 500))
        size = telegram_length(line) + 1  # and its newline
        if lines and length + size > MESSAGE_LIMIT:
            messages.append(AlertMessage("\n".join(lines), newest, count))
            lines, newest, count, length = [], {}, 0, 0
        lines.append(line)
        length += size
        if company is not None:
            newest[company] = max(newest.get(company, 0), item_id)
            count += 1
    if count:
        messages.append(AlertMessage("\n".join(lines), newest, count))
    return messages


async def send_alerts(ctx: AppContext, sender: Sender, per_hour: int) -> int:
    """Send what is due, chats concurrently; returns the number of alert messages sent."""
    now = ctx.clock()
    slots = asyncio.Semaphore(CONCURRENCY)

    async def one(batch: AlertBatch) -> int:
        async with slots:
            return await _send_batch(ctx, sender, batch, per_hour, now)

    return sum(await asyncio.gather(*(one(b) for b in pending_alerts(ctx))))


async def _send_batch(
    ctx: AppContext, sender: Sender, batch: AlertBatch, per_hour: int, now: datetime
) -> int:
    chat, sent = batch.chat, 0
    allowed = per_hour - ctx.db.follows.alerts_since(chat.id, now - timedelta(hours=1))
    for message in render_alert(ctx, batch)[: max(allowed, 0)]:
        try:
            await sender.send(chat, message.text, BroadcastReport())
        except Blocked:
            return sent
        except RetryAfter as exc:  # a long wait for this chat: its items wait for next time
            log.info("alert to chat %s deferred by flood control: %s", chat.chat_id, exc)
            return sent
        except TelegramError as exc:
            log.warning("alert to chat %s failed: %s", chat.chat_id, exc)
            return sent
        ctx.db.follows.record_alert(chat.id, now, message.items)
        for company, newest in message.newest.items():
            ctx.db.follows.advance(chat.id, company, newest)
        sent += 1
    return sent
