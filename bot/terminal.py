"""Terminal output of the CLI: tables, digests and replies, on stdout; notes and errors on
stderr. When a stream is not a terminal (a pipe, journald, Docker logs) nothing is wrapped: one
line stays one line."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from rich.cells import cell_len, set_cell_size
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn
from rich.table import Table

from bot import commands
from bot.chat import Button, Reply
from bot.context import AppContext
from digest.catalog import t
from digest.compose.model import Digest, rest_of
from digest.compose.render import RENDERERS, render_telegram
from digest.html import strip_tags, telegram_length
from digest.ingest.pipeline import SourceOutcome
from digest.ingest.probe import FeedPreview
from digest.text import shorten
from digest.urls import display_url
from storage.types import Item, Source

PIPE_COLUMNS = 200  # tables and rules on a stream that is not a terminal

out = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, soft_wrap=True)


def unwrap_when_not_a_terminal() -> None:
    """Rich assumes 80 columns when it cannot ask a terminal and folds table cells to fit;
    messages never wrap (``soft_wrap``), so a log collector sees one line as one line."""
    if not out.is_terminal:
        out.width = PIPE_COLUMNS


def _outcome_row(outcome: SourceOutcome) -> tuple[str, ...]:
    status = {"ok": "ok", "not_modified": "not modified", "error": "error"}[outcome.status]
    note = outcome.error or outcome.warning or ""
    if outcome.disabled:
        note += " (disabled after repeated failures)"
    return (
        str(outcome.source_id),
        outcome.title or outcome.url,
        status,
        str(outcome.new),
        str(outcome.relevant),
        str(outcome.duplicate),
        note,
    )


def print_outcomes(outcomes: Sequence[SourceOutcome]) -> None:
    table = Table(title="Fetch cycle", title_justify="left")
    for header in ("id", "source", "status", "new", "relevant", "duplicate", "note"):
        table.add_column(header, overflow="fold")
    for outcome in sorted(outcomes, key=lambda o: o.source_id):
        table.add_row(*_outcome_row(outcome))
    out.print(table)
    new = sum(o.new for o in outcomes)
    failed = sum(o.status == "error" for o in outcomes)
    out.print(f"{len(outcomes)} sources, {new} new items, {failed} failed")


async def fetch_with_progress(
    ctx: AppContext, urls: Sequence[str], sources: Sequence[Source] | None = None
) -> list[SourceOutcome]:
    total = len(urls) or len(sources if sources is not None else ctx.db.sources.due(ctx.clock()))
    with Progress(
        TextColumn("fetching"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.description}"),
        console=err,
        disable=not err.is_terminal,
        transient=True,
    ) as progress:
        task = progress.add_task("", total=total)

        def advance(outcome: SourceOutcome) -> None:
            progress.update(task, advance=1, description=outcome.title or outcome.url)

        return await commands.fetch(ctx, urls, on_outcome=advance, sources=sources)


def print_added(source: Source, created: bool, feed: FeedPreview) -> None:
    state = "added" if created else "already present"
    found = f"{feed.title or '(untitled)'}: {feed.items} items, {feed.relevant} relevant"
    out.print(f"{state}: #{source.id} {display_url(source.url)} — {found}", markup=False)


def print_waiting(waiting: Sequence[Source], zone: str) -> None:
    """The sources a cycle skipped: in backoff after failures (or not yet due)."""
    if not waiting:
        return
    out.print(f"{len(waiting)} sources waiting (fetch --force to read them now):", markup=False)
    for s in waiting:
        until = (
            f"{s.next_check_at.astimezone(ZoneInfo(zone)):%m-%d %H:%M}" if s.next_check_at else "-"
        )
        why = f", {s.error_count} failures: {s.last_error or ''}" if s.error_count else ""
        line = f"  #{s.id} {s.title or display_url(s.url)} until {until}{why}"
        out.print(shorten(line, 200), markup=False, overflow="ellipsis", no_wrap=True)


def item_json(item: Item) -> str:
    return json.dumps(
        {
            "id": item.id,
            "title": item.title,
            "link": item.link,
            "published": item.published_at.isoformat().replace("+00:00", "Z"),
            "source": item.outlet,
            "language": item.language,
            "companies": list(item.companies),
            "story_id": item.story_id,
            "relevant": item.relevant,
            "relevance": item.relevance,
            "summary": item.summary,
        },
        ensure_ascii=False,
    )


def print_items(items: Sequence[Item]) -> None:
    table = Table(title_justify="left")
    for header in ("id", "published (UTC)", "source", "title", "companies", "story", "rel."):
        table.add_column(header, overflow="fold")
    for item in items:
        table.add_row(
            str(item.id),
            item.published_at.strftime("%Y-%m-%d %H:%M"),
            item.outlet,
            item.title,
            ", ".join(item.companies),
            str(item.story_id),
            "yes" if item.relevant else "no",
        )
    out.print(table)


SOURCE_COLUMNS = (
    ("id", 3, ">"),
    ("source", 18, "<"),
    ("state", 7, "<"),
    ("last ok", 11, "<"),
    ("/day", 5, ">"),
    ("rel", 4, ">"),
)


def _cell(text: str, width: int, align: str) -> str:
    """``text`` in exactly ``width`` terminal cells (CJK counts two), cut with "…"."""
    if cell_len(text) > width:
        text = set_cell_size(text, width - 1) + "…"
    pad = " " * (width - cell_len(text))
    return pad + text if align == ">" else text + pad


def print_sources(health: Sequence[commands.SourceHealth], zone: str) -> None:
    """One line a source, cut to the terminal's width (80 columns stay readable): id, name,
    state, last success, items a day this week, share relevant, next try and last error."""
    local = ZoneInfo(zone)

    def when(moment: datetime | None) -> str:
        return f"{moment.astimezone(local):%m-%d %H:%M}" if moment else "never"

    width = out.width if out.is_terminal else PIPE_COLUMNS
    header = [*(name for name, _, _ in SOURCE_COLUMNS), "next try / error"]
    rows = [header]
    for h in health:
        s = h.source
        share = f"{h.relevant_share:.0%}" if h.relevant_share is not None else "-"
        detail = f"{when(h.waiting_until)} " if h.waiting_until else ""
        detail += f"{s.error_count}× {s.last_error}" if s.error_count else (s.last_error or "")
        name = s.title or display_url(s.url)
        rows.append(
            [str(s.id), name, h.state, when(s.last_success_at), f"{h.per_day:.1f}", share, detail]
        )
    for row in rows:
        cells = [_cell(v, w, a) for v, (_, w, a) in zip(row, SOURCE_COLUMNS, strict=False)]
        line = " ".join(cells) + "  " + " ".join(row[len(SOURCE_COLUMNS) :])
        print(
            _cell(line.rstrip(), width, "<").rstrip() if cell_len(line) > width else line.rstrip()
        )


def print_store_summary(ctx: AppContext) -> None:
    table = Table(title="Stored per feed", title_justify="left")
    for header in ("feed", "items", "relevant"):
        table.add_column(header)
    for name, total, relevant in ctx.db.items.counts_by_source():
        table.add_row(name, str(total), str(relevant))
    out.print(table)

    table = Table(title="Stored per company", title_justify="left")
    for header in ("company", "id", "items"):
        table.add_column(header)
    for company_id, count in ctx.db.items.counts_by_company():
        company = ctx.companies.get(company_id)
        table.add_row(company.display_name("zh") if company else company_id, company_id, str(count))
    out.print(table)

    stories = ctx.db.items.stories(min_items=2, limit=30)
    table = Table(title="Stories told by several outlets", title_justify="left")
    for header in ("story", "outlets", "headline"):
        table.add_column(header, overflow="fold")
    for items in stories:
        outlets = Counter(i.outlet for i in items)
        table.add_row(str(items[0].story_id), ", ".join(outlets), items[0].title)
    out.print(table)
    out.print(f"{ctx.db.items.count()} items stored in {ctx.db.url}")


def print_digest(digest: Digest, fmt: str, *, everything: bool = False) -> None:
    """The edition as a reader gets it; ``everything``: then the points beyond its size, as
    the reader's "more" button would send them."""
    _print_digest(digest, fmt)
    if everything and digest.more:
        title = t(
            "digest.rest_title", digest.language, title=digest.title, first=1, last=digest.omitted
        )
        print()
        _print_digest(rest_of(digest, title), fmt)


def _print_digest(digest: Digest, fmt: str) -> None:
    if fmt == "html":
        messages = render_telegram(digest)
        for number, message in enumerate(messages, 1):
            print(
                f"----- message {number}/{len(messages)} "
                f"({telegram_length(message)} characters) -----"
            )
            print(message)
    else:
        print(RENDERERS[fmt](digest))


def print_replies(replies: Sequence[Reply]) -> list[Button]:
    """Replies as terminal text; a chart or an export is saved in the working folder."""
    buttons: list[Button] = []
    for reply in replies:
        print(strip_tags(reply.text))
        if reply.file is not None:
            path = Path(reply.file.filename)
            path.write_bytes(reply.file.content)
            print(f"  [{reply.file.kind} saved as {path.resolve()}]")
        for row in reply.buttons:
            for button in row:
                buttons.append(button)
                print(f"  [{len(buttons)}] {button.text}")
        print()
    return buttons
