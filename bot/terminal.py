"""Terminal output of the CLI: tables, digests and replies, on stdout; notes and errors on
stderr. When a stream is not a terminal (a pipe, journald, Docker logs) nothing is wrapped: one
line stays one line."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

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


async def fetch_with_progress(ctx: AppContext, urls: Sequence[str], **kwargs: object) -> list:
    total = len(urls) or len(ctx.db.sources.due(ctx.clock())) or None
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

        return await commands.fetch(ctx, urls, on_outcome=advance, **kwargs)  # type: ignore[arg-type]


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


def print_sources(sources: Sequence[Source]) -> None:
    table = Table(title_justify="left")
    for header in ("id", "url", "title", "enabled", "errors", "last status", "last error"):
        table.add_column(header, overflow="fold")
    for s in sources:
        table.add_row(
            str(s.id),
            s.url,
            s.title or "",
            "yes" if s.enabled else "no",
            str(s.error_count),
            s.last_status or "",
            s.last_error or "",
        )
    out.print(table)


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
