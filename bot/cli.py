"""``chipdigest``: the command-line front end of the command layer."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import sys
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn
from rich.table import Table
from telegram.error import InvalidToken, TelegramError

from bot import commands, transfer
from bot.app import build_application
from bot.commands import CommandError
from bot.config import Settings, SettingsError, load_settings
from bot.context import AppContext
from bot.conversation import Button, Caller, Conversation, Reply
from bot.delivery import make_bot, plain_text
from bot.logs import configure_logging, redact, secrets_of
from digest.errors import DigestError
from digest.model import Digest
from digest.pipeline import SourceOutcome
from digest.render import RENDERERS, render_telegram, render_text, telegram_length
from digest.samples import SAMPLE_FEEDS, BundledFeedTransport
from storage import StorageError
from storage.leader import LeaderLock
from storage.types import Item, Source

log = logging.getLogger("chipdigest")

out = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False)


# --- output helpers ---------------------------------------------------------------------


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


async def _fetch_with_progress(ctx: AppContext, urls: Sequence[str], **kwargs: object) -> list:
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


# --- sub-commands -----------------------------------------------------------------------


def cmd_demo(ctx: AppContext, args: argparse.Namespace) -> int:
    """Ingest the bundled sample feeds into a fresh demo database and show what was stored."""
    ctx.prepare()
    now = ctx.clock()
    sources = [ctx.db.sources.add(feed.url, now, feed.title)[0] for feed in SAMPLE_FEEDS]
    out.rule("chip-digest demo: ingesting the bundled sample feeds (no network, no token)")
    outcomes = asyncio.run(commands.fetch(ctx, sources=sources, transport=BundledFeedTransport()))
    print_outcomes(outcomes)
    _print_store_summary(ctx)
    result = commands.compose_digest(ctx, edition="demo", save=True)
    out.rule(f"The digest of the sample feeds (saved as digest #{result.saved_id})")
    print(render_text(result.digest))
    out.print(
        "\nTry: chipdigest --database sqlite:///data/demo.db digest --since 7d --lang en "
        "--format markdown"
    )
    return 0


def _print_store_summary(ctx: AppContext) -> None:
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


def cmd_fetch(ctx: AppContext, args: argparse.Namespace) -> int:
    ctx.prepare()
    outcomes = asyncio.run(_fetch_with_progress(ctx, args.url or ()))
    if not outcomes:
        out.print(
            "no source is due (all are backing off or disabled): see `chipdigest sources list`"
        )
        return 0
    print_outcomes(outcomes)
    return 0


def cmd_items(ctx: AppContext, args: argparse.Namespace) -> int:
    ctx.prepare()
    items = commands.list_items(
        ctx,
        company=args.company,
        since=args.since,
        limit=args.limit,
        relevant_only=args.relevant,
    )
    if args.json:
        for item in items:
            print(item_json(item))
    elif items:
        print_items(items)
    else:
        out.print("no items match")
    return 0


def cmd_sources(ctx: AppContext, args: argparse.Namespace) -> int:
    ctx.prepare()
    action = args.action
    if action == "list":
        ctx.seed_sources()
        print_sources(commands.list_sources(ctx))
    elif action == "add":
        source, created = commands.add_source(ctx, args.url)
        out.print(f"{'added' if created else 'already present'}: #{source.id} {source.url}")
    elif action == "remove":
        commands.remove_source(ctx, args.id)
        out.print(f"removed source #{args.id}")
    elif action in ("enable", "disable"):
        source = commands.enable_source(ctx, args.id, action == "enable")
        out.print(f"source #{source.id} {action}d")
    elif action == "import-opml":
        added, present = commands.import_opml(ctx, Path(args.file))
        out.print(f"imported {added} new sources ({present} already present)")
    elif action == "export-opml":
        text = commands.export_opml(ctx)
        if args.file:
            Path(args.file).write_text(text, encoding="utf-8")
            out.print(f"wrote {args.file}")
        else:
            print(text)
    return 0


def cmd_export(ctx: AppContext, args: argparse.Namespace) -> int:
    """Sources, chats and their settings and follows, as JSON."""
    ctx.prepare()
    data = transfer.export_state(ctx)
    text = json.dumps(data, ensure_ascii=False, indent=2)
    if args.file and args.file != "-":
        Path(args.file).write_text(text + "\n", encoding="utf-8")
        err.print(
            f"wrote {args.file}: {len(data['sources'])} sources, {len(data['chats'])} chats",
            markup=False,
        )
    else:
        print(text)
    return 0


def cmd_import(ctx: AppContext, args: argparse.Namespace) -> int:
    """Merge an export into this database (sources by URL, chats by Telegram id)."""
    ctx.prepare()
    try:
        raw = sys.stdin.read() if args.file == "-" else Path(args.file).read_text("utf-8")
        data = json.loads(raw)
    except OSError as exc:
        raise CommandError(f"cannot read {args.file}: {exc.strerror}") from exc
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise CommandError(f"{args.file} is not JSON: {exc}") from exc
    report = transfer.import_state(ctx, transfer.parse_export(data))
    out.print(f"imported {args.file}: {report}", markup=False)
    return 0


def print_digest(digest: Digest, fmt: str) -> None:
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


def cmd_digest(ctx: AppContext, args: argparse.Namespace) -> int:
    ctx.prepare()
    if args.latest:
        digest = commands.latest_digest(ctx, args.edition)
    else:
        result = commands.compose_digest(
            ctx, since=args.since, edition=args.edition, language=args.lang, save=args.save
        )
        digest = result.digest
        if result.saved_id is not None:
            err.print(f"saved as digest #{result.saved_id} ({digest.edition})")
    if args.json:
        print(json.dumps(digest.to_dict(), ensure_ascii=False, indent=2))
    else:
        print_digest(digest, args.format)
    return 0


LOCAL_CHAT = 1  # the terminal's "chat" in ask / console
LOCAL_USER = 1


def local_conversation(ctx: AppContext) -> tuple[Conversation, Caller]:
    """The terminal user owns the database, so it acts as an admin."""
    admins = frozenset({*ctx.settings.admin_ids, LOCAL_USER})
    return Conversation(ctx, admins), Caller(LOCAL_CHAT, "private", LOCAL_USER, "terminal")


def print_replies(replies: Sequence[Reply]) -> list[Button]:
    buttons: list[Button] = []
    for reply in replies:
        print(plain_text(reply.text))
        for row in reply.buttons:
            for button in row:
                buttons.append(button)
                print(f"  [{len(buttons)}] {button.text}")
        print()
    return buttons


def cmd_ask(ctx: AppContext, args: argparse.Namespace) -> int:
    ctx.prepare()
    conversation, caller = local_conversation(ctx)
    print_replies(asyncio.run(conversation.handle(caller, " ".join(args.text))))
    return 0


def cmd_console(ctx: AppContext, args: argparse.Namespace) -> int:
    """A chat with the bot in the terminal; a number presses the button it labels."""
    ctx.prepare()
    conversation, caller = local_conversation(ctx)
    out.print("chip-digest console: type /help, a number to press a button, Ctrl-D to leave.")

    async def loop() -> None:
        buttons: list[Button] = []
        while True:
            try:
                line = await asyncio.to_thread(input, "> ")
            except EOFError:
                return
            line = line.strip()
            if line in ("exit", "quit"):
                return
            if line.isdigit() and 0 < int(line) <= len(buttons):
                replies = await conversation.callback(caller, buttons[int(line) - 1].data)
            elif line:
                replies = await conversation.handle(caller, line)
            else:
                continue
            buttons = print_replies(replies)

    asyncio.run(loop())
    return 0


def cmd_run(ctx: AppContext, args: argparse.Namespace) -> int:
    """The bot and its scheduler, until interrupted: long polling (one process), or webhook
    mode when CHIPDIGEST_WEBHOOK_URL is set (any number of processes, one leader)."""
    settings = ctx.settings
    if settings.telegram_token is None:
        err.print(
            "chipdigest: no bot token. Create a bot with @BotFather in Telegram, then set "
            "CHIPDIGEST_TELEGRAM_TOKEN; until then try `chipdigest console` or `chipdigest demo`.",
            markup=False,
        )
        return 2
    ctx.prepare()
    lock = LeaderLock(ctx.db)
    try:
        asyncio.run(_check_token(settings))  # fail early and cleanly on a rejected token
        return _run_bot(ctx, lock)
    except InvalidToken:
        err.print(
            "chipdigest: Telegram rejected the bot token: check CHIPDIGEST_TELEGRAM_TOKEN "
            "(and CHIPDIGEST_TELEGRAM_BASE_URL if you use a Bot API proxy).",
            markup=False,
        )
        return 2
    except TelegramError as exc:
        secrets = secrets_of(settings)
        err.print(
            f"chipdigest: Telegram refused to start the bot: {redact(str(exc), secrets)}",
            markup=False,
        )
        return 1
    finally:
        lock.release()


async def _check_token(settings: Settings) -> None:
    assert settings.telegram_token is not None
    token = settings.telegram_token.get_secret_value()
    async with make_bot(token, settings.telegram_base_url, settings.http_proxy):
        pass  # getMe succeeded


def _run_bot(ctx: AppContext, lock: LeaderLock) -> int:
    settings = ctx.settings
    updates = ["message", "callback_query"]
    if settings.webhook_url:
        assert settings.webhook_secret is not None  # the settings insist on it
        log.info(
            "webhook mode: serving %s on %s:%d",
            settings.webhook_url,
            settings.webhook_listen,
            settings.webhook_port,
        )
        build_application(ctx, lock=lock).run_webhook(
            listen=settings.webhook_listen,
            port=settings.webhook_port,
            url_path=settings.webhook_path,
            webhook_url=settings.webhook_url,
            secret_token=settings.webhook_secret.get_secret_value(),
            allowed_updates=updates,
        )
        return 0
    # Two pollers of one bot would take each other's updates: one process only.
    if not lock.try_acquire():
        err.print(
            "chipdigest: another `chipdigest run` already uses this database: stop it "
            "first (two instances would both deliver), or run several in webhook mode.",
            markup=False,
        )
        return 3
    build_application(ctx, lock=lock).run_polling(allowed_updates=updates)
    return 0


def cmd_db(ctx: AppContext, args: argparse.Namespace) -> int:
    if args.action == "upgrade":
        ctx.db.upgrade(args.revision)
    elif args.action == "downgrade":
        ctx.db.downgrade(args.revision)
    out.print(
        f"database at revision {ctx.db.current_revision() or 'base (empty)'}"
        f" (head is {ctx.db.head_revision()})"
    )
    return 0


# --- parser -----------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="chipdigest",
        description="News digests of China's AI-compute industry.",
    )
    parser.add_argument("--database", help="database URL (overrides CHIPDIGEST_DATABASE_URL)")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    demo = sub.add_parser("demo", help="ingest the bundled sample feeds and show the result")
    demo.add_argument("--keep", action="store_true", help="keep the demo database of a last run")
    demo.set_defaults(handler=cmd_demo)

    fetch = sub.add_parser("fetch", help="run one fetch cycle over the sources")
    fetch.add_argument(
        "--url", nargs="+", metavar="URL", help="fetch these feeds (added as sources)"
    )
    fetch.set_defaults(handler=cmd_fetch)

    items = sub.add_parser("items", help="list stored items, newest first")
    items.add_argument("--company", help="company id, name, alias or ticker")
    items.add_argument("--since", help="only items published in the last 90m / 24h / 7d / 2w")
    items.add_argument("--limit", type=int, default=20)
    items.add_argument("--relevant", action="store_true", help="only items marked relevant")
    items.add_argument("--json", action="store_true", help="one JSON object a line")
    items.set_defaults(handler=cmd_items)

    sources = sub.add_parser("sources", help="manage feed sources")
    actions = sources.add_subparsers(dest="action", required=True, metavar="ACTION")
    actions.add_parser("list", help="list sources and their health")
    add = actions.add_parser("add", help="add a feed URL")
    add.add_argument("url")
    for name, text in (("remove", "remove"), ("enable", "re-enable"), ("disable", "disable")):
        action = actions.add_parser(name, help=f"{text} a source by id")
        action.add_argument("id", type=int)
    imp = actions.add_parser("import-opml", help="add the feeds of an OPML file")
    imp.add_argument("file")
    exp = actions.add_parser("export-opml", help="write the sources as OPML")
    exp.add_argument("file", nargs="?", help="output file (default: standard output)")
    sources.set_defaults(handler=cmd_sources)

    export = sub.add_parser("export", help="write sources, chats and settings as JSON")
    export.add_argument("file", nargs="?", help="output file (default: standard output)")
    export.set_defaults(handler=cmd_export)
    import_ = sub.add_parser("import", help="merge an export into this database")
    import_.add_argument("file", help="an export file, or - for standard input")
    import_.set_defaults(handler=cmd_import)

    digest = sub.add_parser("digest", help="compose a digest from stored items and print it")
    window = digest.add_mutually_exclusive_group()
    window.add_argument("--since", help="items stored in the last 90m / 24h / 7d")
    window.add_argument("--edition", help="everything since this edition's last saved digest")
    digest.add_argument(
        "--format",
        choices=["text", "html", "markdown"],
        default="text",
        help="html: the Telegram messages",
    )
    digest.add_argument("--lang", choices=["zh", "en"], help="language of the headings")
    digest.add_argument("--save", action="store_true", help="record it as the edition's latest")
    digest.add_argument(
        "--latest", action="store_true", help="show the latest saved digest again, exactly"
    )
    digest.add_argument("--json", action="store_true", help="print the digest's structure")
    digest.set_defaults(handler=cmd_digest)

    ask = sub.add_parser("ask", help="send the bot a message and print its reply, no Telegram")
    ask.add_argument("text", nargs="+", help='e.g. "/company 寒武纪"')
    ask.set_defaults(handler=cmd_ask)
    console = sub.add_parser("console", help="chat with the bot in the terminal")
    console.set_defaults(handler=cmd_console)
    run = sub.add_parser("run", help="start the Telegram bot and its scheduler")
    run.set_defaults(handler=cmd_run)

    db = sub.add_parser("db", help="database schema")
    db_actions = db.add_subparsers(dest="action", required=True, metavar="ACTION")
    up = db_actions.add_parser("upgrade", help="upgrade the schema (default: to head)")
    up.add_argument("revision", nargs="?", default="head")
    down = db_actions.add_parser("downgrade", help="downgrade the schema to a revision")
    down.add_argument("revision")
    db_actions.add_parser("current", help="show the schema revision")
    db.set_defaults(handler=cmd_db)
    return parser


def _context(settings: Settings, args: argparse.Namespace) -> AppContext:
    if args.command == "demo" and not args.database:
        demo_db = settings.data_dir / "demo.db"
        if not args.keep:
            for suffix in ("", "-wal", "-shm"):
                Path(f"{demo_db}{suffix}").unlink(missing_ok=True)
        return AppContext(settings, database_url=f"sqlite:///{demo_db}")
    return AppContext(settings, database_url=args.database)


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        settings = load_settings()
    except SettingsError as exc:
        err.print(f"chipdigest: {exc}", markup=False)
        return 2
    configure_logging(settings)
    try:
        ctx = _context(settings, args)
        try:
            return int(args.handler(ctx, args))
        finally:
            ctx.close()
    except CommandError as exc:
        err.print(f"chipdigest: {exc}", markup=False)
        return 1
    except (DigestError, StorageError) as exc:
        log.error("%s failed: %s", args.command, exc)
        err.print(f"chipdigest: {exc}", markup=False)
        return 1


if __name__ == "__main__":
    sys.exit(main())
