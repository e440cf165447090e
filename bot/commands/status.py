"""What an admin wants to know at a glance (``/stats``): the day's and the week's items, the
last and the next edition, deliveries, chats, failing sources, the language model's day."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from apscheduler.triggers.cron import CronTrigger

from bot.context import AppContext
from storage.types import Source


@dataclass(frozen=True, slots=True)
class Overview:
    today: tuple[int, int]  # (items, relevant items) stored since local midnight
    week: tuple[int, int]  # ... in the last 7 days
    last_edition: tuple[str, datetime] | None
    next_edition: tuple[str, datetime] | None
    deliveries: dict[str, int]
    chats: dict[str, int]
    failing: tuple[Source, ...]
    model_calls: Counter[str] | None  # None: no model configured


def overview(ctx: AppContext) -> Overview:
    now = ctx.clock()
    zone = ZoneInfo(ctx.settings.timezone)
    midnight = now.astimezone(zone).replace(hour=0, minute=0, second=0, microsecond=0)
    latest = ctx.db.digests.latest()
    model = ctx.db.writings.call_counts(now - timedelta(hours=24)) if ctx.writer else None
    return Overview(
        today=ctx.db.items.stored_since(midnight),
        week=ctx.db.items.stored_since(now - timedelta(days=7)),
        last_edition=(latest.edition, latest.created_at) if latest else None,
        next_edition=next_edition(ctx.settings.editions, zone, now),
        deliveries=ctx.db.deliveries.counts(),
        chats=ctx.db.chats.counts(),
        failing=tuple(s for s in ctx.db.sources.all() if s.enabled and s.error_count),
        model_calls=model,
    )


def next_edition(
    editions: dict[str, str], zone: ZoneInfo, now: datetime
) -> tuple[str, datetime] | None:
    upcoming = [
        (name, fire)
        for name, cron in editions.items()
        if (fire := CronTrigger.from_crontab(cron, timezone=zone).get_next_fire_time(None, now))
    ]
    return min(upcoming, key=lambda pair: pair[1]) if upcoming else None
