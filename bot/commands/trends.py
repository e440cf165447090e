"""A company's coverage over time (``/trend 寒武纪 90d``): stories per day or week, those
about the company apart from those that only mention it, and the biggest stories."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date, timedelta
from zoneinfo import ZoneInfo

from bot.commands.companies import require_company
from bot.commands.errors import CommandError, parse_duration
from bot.context import AppContext
from digest.companies import Company
from storage.types import Item

DEFAULT_SPAN = "90d"
MAX_DAYS = 366
DAILY_UP_TO = 45  # days; longer spans count by week
TREND_ITEMS = 20_000
BIGGEST = 3


@dataclass(frozen=True, slots=True)
class Story:
    day: date  # its first report in the span
    reports: int
    title: str
    about: bool


@dataclass(frozen=True, slots=True)
class Trend:
    company: Company
    span: str
    weekly: bool
    buckets: tuple[date, ...]  # the first day of each day or week
    about: tuple[int, ...]  # stories about the company, per bucket
    mentioned: tuple[int, ...]  # stories that only mention it
    biggest: tuple[Story, ...]  # the stories told by most reports

    @property
    def stories(self) -> int:
        return sum(self.about) + sum(self.mentioned)


def company_trend(ctx: AppContext, args: list[str]) -> Trend:
    if not args:
        raise CommandError("trend.usage")
    span = DEFAULT_SPAN
    if len(args) > 1 and args[-1][:-1].isdigit():
        span, args = args[-1], args[:-1]
    days = parse_duration(span).days
    if not 7 <= days <= MAX_DAYS:
        raise CommandError("trend.span", low=7, high=MAX_DAYS)
    company = require_company(ctx, " ".join(args))
    zone = ZoneInfo(ctx.settings.timezone)
    today = ctx.clock().astimezone(zone).date()
    start = today - timedelta(days=days - 1)
    items = ctx.db.items.latest(
        company=company.id,
        since=ctx.clock() - timedelta(days=days),
        relevant_only=True,
        limit=TREND_ITEMS,
    )
    stories = _stories(items, company.id, zone)
    weekly = days > DAILY_UP_TO
    first = start - timedelta(days=start.weekday()) if weekly else start
    step = timedelta(days=7 if weekly else 1)
    buckets = []
    while first <= today:
        buckets.append(first)
        first += step
    about, mentioned = [0] * len(buckets), [0] * len(buckets)
    for story in stories:
        index = min(max((story.day - buckets[0]) // step, 0), len(buckets) - 1)
        (about if story.about else mentioned)[index] += 1
    biggest = sorted(stories, key=lambda s: (-s.reports, s.day))[:BIGGEST]
    return Trend(
        company, span, weekly, tuple(buckets), tuple(about), tuple(mentioned), tuple(biggest)
    )


def _stories(items: list[Item], company_id: str, zone: ZoneInfo) -> list[Story]:
    by_story: dict[int, list[Item]] = defaultdict(list)
    for item in items:
        by_story[item.story_id].append(item)
    stories = []
    for members in by_story.values():
        first = min(members, key=lambda i: i.published_at)
        stories.append(
            Story(
                first.published_at.astimezone(zone).date(),
                len(members),
                first.title,
                any(i.is_about(company_id) for i in members),
            )
        )
    return stories
