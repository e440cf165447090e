"""``chipdigest``: argument parsing and the sub-commands, each a thin call into the command
layer; output is :mod:`bot.terminal`'s, starting the bot is :mod:`bot.runner`'s."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from bot import commands, transfer
from bot.commands import CommandError
from bot.config import Settings, SettingsError, load_settings
from bot.context import AppContext
from bot.conversation import Button, Caller, Conversation
from bot.logs import configure_logging
from bot.runner import run_bot
from bot.terminal import (
    err,
    fetch_with_progress,
    item_json,
    out,
    print_added,
    print_digest,
    print_items,
    print_outcomes,
    print_replies,
    print_sources,
    print_store_summary,
    print_waiting,
    unwrap_when_not_a_terminal,
)
from digest.compose.render import render_text
from digest.errors import DigestError
from digest.ingest.samples import SAMPLES_NOW
from storage import StorageError

log = logging.getLogger("chipdigest")


# --- output helpers ---------------------------------------------------------------------


# --- sub-commands -----------------------------------------------------------------------


def cmd_demo(ctx: AppContext, args: argparse.Namespace) -> int:
    """Ingest the bundled sample feeds into a fresh demo database and show what was stored."""
    ctx.prepare()
    out.rule("chip-digest demo: ingesting the bundled sample feeds (no network, no token)")
    outcomes = asyncio.run(commands.ingest_samples(ctx))
    print_outcomes(outcomes)
    print_store_summary(ctx)
    result = commands.compose_digest(ctx, edition="demo", save=True)
    out.rule(f"The digest of the sample feeds (saved as digest #{result.saved_id})")
    print(render_text(result.digest))
    out.print(
        "\nTry: chipdigest --database sqlite:///data/demo.db digest --edition demo --latest "
        "--lang en --format markdown"
    )
    return 0


def cmd_fetch(ctx: AppContext, args: argparse.Namespace) -> int:
    ctx.prepare()
    due, waiting = (None, []) if args.url else commands.fetch_plan(ctx, force=args.force)
    outcomes = asyncio.run(fetch_with_progress(ctx, args.url or (), sources=due))
    if outcomes:
        print_outcomes(outcomes)
    elif not waiting:
        out.print("no enabled source: see `chipdigest sources list`")
    print_waiting(waiting, ctx.settings.timezone)
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
        print_sources(commands.source_health(ctx), ctx.settings.timezone)
    elif action == "add":
        feed = asyncio.run(commands.probe_source(ctx, args.url))  # a feed, or a refusal
        print_added(*commands.add_source(ctx, args.url, feed.title), feed)
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
        raw = sys.stdin.read() if args.file == "-" else Path(args.file).read_text("utf-8-sig")
        data = json.loads(raw.removeprefix("\ufeff"))  # a BOM, as some editors write
    except OSError as exc:
        raise CommandError("error.cannot_read", path=args.file, reason=exc.strerror) from exc
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise CommandError("error.not_json", path=args.file, reason=exc) from exc
    except RecursionError as exc:  # nesting thousands deep: no export looks like that
        raise CommandError("error.not_json", path=args.file, reason="nested too deeply") from exc
    report = transfer.import_state(ctx, transfer.parse_export(data))
    out.print(f"imported {args.file}: {report}", markup=False)
    return 0


def cmd_digest(ctx: AppContext, args: argparse.Namespace) -> int:
    known = {*ctx.settings.editions, commands.DEFAULT_EDITION, "demo"}
    if args.edition and args.edition.split("@")[0] not in known:  # "morning@Europe/Berlin"
        names = ", ".join(ctx.settings.editions)
        raise CommandError("error.edition_unknown", edition=args.edition, editions=names)
    ctx.prepare()
    if args.latest:
        digest = commands.latest_digest(ctx, args.edition)
        if args.lang:
            digest = ctx.composer.in_language(digest, args.lang)
    else:
        result = commands.compose_digest(
            ctx, since=args.since, edition=args.edition, language=args.lang, save=args.save
        )
        digest = result.digest
        if result.saved_id is not None:
            err.print(f"saved as digest #{result.saved_id} ({digest.edition})")
    if args.json:
        print(json.dumps(digest.to_dict(), ensure_ascii=False, indent=2))
        return 0
    print_digest(digest, args.format, everything=args.all)
    return 0


LOCAL_CHAT = 1  # the terminal's "chat" in ask / console
LOCAL_USER = 1


def local_conversation(ctx: AppContext) -> tuple[Conversation, Caller]:
    """The terminal user owns the database, so it acts as an admin."""
    admins = frozenset({*ctx.settings.admin_ids, LOCAL_USER})
    return Conversation(ctx, admins), Caller(LOCAL_CHAT, "private", LOCAL_USER, "terminal")


def cmd_ask(ctx: AppContext, args: argparse.Namespace) -> int:
    ctx.prepare()
    conversation, caller = local_conversation(ctx)
    print_replies(asyncio.run(conversation.handle(caller, " ".join(args.text))))
    return 0


def cmd_console(ctx: AppContext, args: argparse.Namespace) -> int:
    """A chat with the bot in the terminal; a number presses the button it labels. Log lines
    go to a file beside the database, not into the conversation."""
    log_file = ctx.settings.data_dir / "console.log"
    log_file.parent.mkdir(parents=True, exist_ok=True)
    configure_logging(ctx.settings, to_file=log_file)
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

    try:
        asyncio.run(loop())
    finally:
        configure_logging(ctx.settings)  # the file is closed; stderr again
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
    fetch.add_argument(
        "--force",
        action="store_true",
        help="also fetch the sources waiting out a backoff (they are named otherwise)",
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
    digest.add_argument(
        "--all", action="store_true", help="also print the points beyond the edition's size"
    )
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
        # The demo is a snapshot: it runs at the time of its bundled samples.
        return AppContext(settings, database_url=f"sqlite:///{demo_db}", clock=lambda: SAMPLES_NOW)
    if args.database:
        _check_database_folder(args.database)
    return AppContext(settings, database_url=args.database)


def _check_database_folder(url: str) -> None:
    """``--database sqlite:////no/such/dir/x.db`` is a mistake: nothing is created for it."""
    try:
        parsed = make_url(url)
    except ArgumentError:
        return  # the database layer says so, in one line
    path = parsed.database if parsed.get_backend_name() == "sqlite" else None
    if path and path != ":memory:" and not Path(path).expanduser().parent.is_dir():
        raise CommandError("error.no_folder", path=str(Path(path).parent))


def cmd_run(ctx: AppContext, args: argparse.Namespace) -> int:
    return run_bot(ctx)


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    unwrap_when_not_a_terminal()
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
    except StorageError as exc:  # one line, naming where the database comes from
        where = "--database" if args.database else "CHIPDIGEST_DATABASE_URL"
        err.print(f"chipdigest: {where}: {exc}", markup=False)
        return 1
    except DigestError as exc:
        err.print(f"chipdigest: {exc}", markup=False)
        return 1


if __name__ == "__main__":
    sys.exit(main())
