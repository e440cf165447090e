"""A chat's editions and settings, as every front end changes them."""

from __future__ import annotations

from collections.abc import Sequence
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from bot.commands.errors import CommandError
from bot.context import AppContext
from digest.catalog import catalog, t
from storage.types import Chat


def check_editions(ctx: AppContext, names: Sequence[str]) -> list[str]:
    """Configured edition names (the first configured one when none is named)."""
    known = ctx.settings.editions
    wanted = [a.lower() for a in names] or [next(iter(known))]
    for name in wanted:
        if name not in known:
            raise CommandError("error.edition_unknown", edition=name, editions=", ".join(known))
    return wanted


_DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


def edition_label(name: str, cron: str, language: str) -> str:
    """ "早报 08:30" / "morning 08:30" / "周报 周一 09:00" for a daily or weekly cron; the cron
    itself for anything else (the time is in the chat's own zone: editions follow it)."""
    label = t(f"edition.{name}", language) if f"edition.{name}" in catalog() else name
    fields = cron.split()
    if len(fields) != 5 or not (fields[0].isdigit() and fields[1].isdigit()):
        return f"{label} ({cron})"
    when = f"{int(fields[1]):02d}:{int(fields[0]):02d}"
    if fields[2:] == ["*", "*", "*"]:
        return f"{label} {when}"
    day = fields[4].lower()[:3]
    if fields[2:4] == ["*", "*"] and day in _DAYS:
        return f"{label} {t(f'weekday.{day}', language)} {when}"
    return f"{label} ({cron})"


def change_settings(ctx: AppContext, chat: Chat, args: Sequence[str]) -> Chat:
    """``lang zh|en``, ``tz Zone/Name`` or ``editions a,b``; no arguments change nothing."""
    if not args:
        return chat
    what, values = args[0].lower(), list(args[1:])
    if what in ("lang", "language") and values:
        if values[0] not in ("zh", "en"):
            raise CommandError("settings.bad_language")
        return ctx.db.chats.configure(chat.id, ctx.clock(), language=values[0]) or chat
    if what in ("tz", "timezone") and values:
        try:
            ZoneInfo(values[0])
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise CommandError("settings.bad_timezone", zone=values[0][:64]) from exc
        return ctx.db.chats.configure(chat.id, ctx.clock(), timezone=values[0]) or chat
    if what == "editions" and values:
        editions = check_editions(ctx, ",".join(values).replace(",", " ").split())
        ctx.db.chats.unsubscribe(chat.id)
        ctx.db.chats.subscribe(chat.id, editions)
        return ctx.db.chats.get(chat.chat_id) or chat
    raise CommandError("settings.usage")


def migrate_chat(ctx: AppContext, old_chat_id: int, new_chat_id: int) -> Chat | None:
    """A group became a supergroup (Telegram's service message says so): one chat from now on,
    merged with the supergroup's if someone used the bot there already."""
    old = ctx.db.chats.get(old_chat_id)
    if old is None:
        return None
    return ctx.db.chats.migrate(old.id, new_chat_id, ctx.clock())
