"""A company's coverage as a CSV an analyst opens in a spreadsheet (``/export 寒武纪 30d``)."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from bot.commands.companies import require_company
from bot.commands.errors import CommandError, parse_duration
from bot.context import AppContext
from digest.companies import Company

EXPORT_LIMIT = 5000  # rows; a year of a busy company fits
DEFAULT_SPAN = "30d"
COLUMNS = ("date", "title", "outlet", "link", "about_or_mentioned", "story", "relevant")


@dataclass(frozen=True, slots=True)
class Export:
    company: Company
    filename: str
    content: bytes  # UTF-8 with a byte-order mark: spreadsheets then read Chinese right
    rows: int
    span: str


def export_company(ctx: AppContext, args: list[str]) -> Export:
    """The reports naming a company in the last ``span`` (default 30 days), newest first."""
    if not args:
        raise CommandError("export.usage")
    span = DEFAULT_SPAN
    if len(args) > 1 and args[-1][:-1].isdigit():
        span, args = args[-1], args[:-1]
    company = require_company(ctx, " ".join(args))
    since = ctx.clock() - parse_duration(span)
    items = ctx.db.items.latest(company=company.id, since=since, limit=EXPORT_LIMIT)
    zone = ZoneInfo(ctx.settings.timezone)
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(COLUMNS)
    for item in items:
        writer.writerow(
            (
                item.published_at.astimezone(zone).strftime("%Y-%m-%d %H:%M"),
                item.title,
                item.outlet,
                item.link or "",
                "about" if item.is_about(company.id) else "mentioned",
                item.story_id,
                "yes" if item.relevant else "no",
            )
        )
    stamp = ctx.clock().astimezone(zone).strftime("%Y%m%d")
    content = buffer.getvalue().encode("utf-8-sig")
    return Export(company, f"{company.id}-{span}-{stamp}.csv", content, len(items), span)
