"""Alerts for followed companies: new relevant items, batched, at most N messages an hour.

After each fetch cycle every follow of an active chat looks at the items stored since its
watermark. A chat gets one message listing what is new about everything it follows; a chat
that has had its hourly share keeps its items for a later, bigger batch (nothing is dropped).
"""

from __future__ import annotations

import logging
from collections import defaultdict
from dataclasses import dataclass
from datetime import timedelta

from telegram.error import TelegramError

from bot.context import AppContext
from bot.delivery import Blocked, BroadcastReport, Sender
from digest.html import esc, link
from storage.types import Chat, Item

log = logging.getLogger(__name__)
MAX_ITEMS_PER_ALERT = 10


@dataclass(frozen=True, slots=True)
class AlertBatch:
    chat: Chat
    items: dict[str, list[Item]]  # company id → new items

    @property
    def newest(self) -> dict[str, int]:
        return {c: max(i.id for i in items) for c, items in self.items.items()}


def pending_alerts(ctx: AppContext) -> list[AlertBatch]:
    by_chat: dict[int, tuple[Chat, dict[str, list[Item]]]] = {}
    for chat, company, last in ctx.db.follows.all():
        items = ctx.db.items.company_items_after(company, last, limit=MAX_ITEMS_PER_ALERT)
        if items:
            by_chat.setdefault(chat.id, (chat, defaultdict(list)))[1][company].extend(items)
    return [AlertBatch(chat, dict(items)) for chat, items in by_chat.values()]


def render_alert(ctx: AppContext, batch: AlertBatch) -> str:
    zh = batch.chat.language == "zh"
    lines = ["<b>" + ("关注提醒" if zh else "Alert") + "</b>"]
    for company_id, items in batch.items.items():
        company = ctx.companies.get(company_id)
        name = company.display_name(batch.chat.language) if company else company_id
        lines.append(f"<b>{esc(name)}</b>")
        for item in items[:MAX_ITEMS_PER_ALERT]:
            lines.append(f"• {link(item.link, item.title)} — {esc(item.outlet)}")
    return "\n".join(lines)


async def send_alerts(ctx: AppContext, sender: Sender, per_hour: int) -> int:
    """Send what is due; returns the number of alert messages sent."""
    now = ctx.clock()
    sent = 0
    for batch in pending_alerts(ctx):
        if ctx.db.follows.alerts_since(batch.chat.id, now - timedelta(hours=1)) >= per_hour:
            continue  # its items wait for the next batch
        try:
            await sender.send(batch.chat, render_alert(ctx, batch), BroadcastReport())
        except Blocked:
            continue
        except TelegramError as exc:
            log.warning("alert to chat %s failed: %s", batch.chat.chat_id, exc)
            continue
        ctx.db.follows.record_alert(batch.chat.id, now, sum(len(v) for v in batch.items.values()))
        for company, newest in batch.newest.items():
            ctx.db.follows.advance(batch.chat.id, company, newest)
        sent += 1
    return sent
