"""The chat front end: a table of commands, and the dispatch that every chat front end calls.

Telegram handlers (``bot/handlers.py``), ``chipdigest ask`` and ``chipdigest console`` call
:meth:`Conversation.handle` and :meth:`Conversation.callback`. The dispatch resolves the chat's
language once, checks the admin list and group-admin rights from the table, and hands a
:class:`~bot.chat.Turn` to the reply function; replies are Telegram HTML with every piece of
feed or user text escaped, plus optional inline buttons.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from bot import admin_replies, commands, replies
from bot.chat import BroadcastFn, Button, Caller, Reply, Turn
from bot.commands import CommandError
from bot.context import AppContext
from bot.reply import InlineCard
from digest.catalog import t
from digest.html import esc, strip_tags

ReplyFn = Callable[[Turn], Awaitable[list[Reply]]]
INVISIBLE = re.compile("[\u200b-\u200f\u2060-\u2064\ufeff\u00ad]")


@dataclass(frozen=True, slots=True)
class Command:
    name: str
    run: ReplyFn
    admin: bool = False  # bot admins only (CHIPDIGEST_ADMIN_IDS)
    group_admin: bool = False  # in a group, only the group's admins

    def description(self, language: str) -> str:
        """The one-line description of the command menu and /help (from the catalog)."""
        return t(f"menu.{self.name}", language)


async def _help(turn: Turn) -> list[Reply]:
    return [help_reply(turn)]


COMMANDS: dict[str, Command] = {
    c.name: c
    for c in (
        Command("start", replies.start),
        Command("help", _help),
        Command("subscribe", replies.subscribe, group_admin=True),
        Command("unsubscribe", replies.unsubscribe, group_admin=True),
        Command("digest", replies.digest),
        Command("company", replies.company),
        Command("companies", replies.companies),
        Command("search", replies.search),
        Command("trend", replies.trend),
        Command("export", replies.export),
        Command("follow", replies.follow, group_admin=True),
        Command("unfollow", replies.unfollow, group_admin=True),
        Command("following", replies.following),
        Command("settings", replies.settings, group_admin=True),
        Command("sources", replies.sources),
        Command("push", admin_replies.push, admin=True),
        Command("preview", admin_replies.preview, admin=True),
        Command("fetch", admin_replies.fetch, admin=True),
        Command("stats", admin_replies.stats, admin=True),
        Command("why", admin_replies.why, admin=True),
        Command("addsource", admin_replies.addsource, admin=True),
        Command("delsource", admin_replies.delsource, admin=True),
    )
}


def help_reply(turn: Turn, unknown: str | None = None) -> Reply:
    lines = [turn.t("help.unknown", text=unknown[:100])] if unknown else []
    lines.append(f"<b>{turn.t('help.title')}</b>")
    for command in COMMANDS.values():
        if command.admin and not turn.is_admin:
            continue
        lines.append(f"/{command.name} — {esc(command.description(turn.language))}")
    return Reply("\n".join(lines))


@dataclass
class Conversation:
    ctx: AppContext
    admins: frozenset[int] = frozenset()
    broadcast: BroadcastFn | None = None  # set by the app; None in ask / console
    bot_username: str | None = None  # "/start@otherbot" in a group is not for us

    def _turn(self, caller: Caller, args: list[str] | None = None, rest: str = "") -> Turn:
        chat = self.ctx.db.chats.get(caller.chat_id)  # the one language look-up of a message
        language = chat.language if chat else caller.language or self.ctx.settings.digest_language
        is_admin = caller.user_id in self.admins
        return Turn(self.ctx, caller, language, is_admin, args or [], rest, self.broadcast)

    async def handle(self, caller: Caller, text: str) -> list[Reply]:
        text = INVISIBLE.sub("", text).strip()  # zero-width characters pasted with a name
        if not text.startswith("/"):
            turn = self._turn(caller, text.split(), text)
            if self.ctx.companies.owner_of(text) is not None:  # just a name: its card
                return await replies.company(turn)
            return [help_reply(turn, unknown=text)]
        head, _, rest = text[1:].partition(" ")
        name, _, addressee = head.partition("@")
        if addressee and self.bot_username and addressee.lower() != self.bot_username.lower():
            return []
        turn = self._turn(caller, rest.split(), rest.strip())
        command = COMMANDS.get(name.lower())
        if command is None:
            return [help_reply(turn, unknown=text)]
        if command.admin and not turn.is_admin:
            return turn.reply("refuse.admin_command")
        in_group = caller.chat_kind in ("group", "supergroup")
        if command.group_admin and in_group and not await caller.is_chat_admin():
            return turn.reply("refuse.group_admin")
        try:
            return await command.run(turn)
        except CommandError as exc:
            return [Reply(esc(exc.text(turn.language)))]

    async def inline(self, caller: Caller, query: str) -> list[InlineCard]:
        """``@bot 寒武纪`` typed in any chat: company cards to post there."""
        return replies.inline_cards(self._turn(caller), query)

    async def callback(self, caller: Caller, data: str) -> list[Reply]:
        kind, _, value = data.partition(":")
        turn = self._turn(caller)
        if kind == "company":
            company_id, _, offset = value.partition(":")
            company = self.ctx.companies.get(company_id)
            if company is not None and offset.isdigit() and int(offset) < 10_000:
                return [replies.card(turn, commands.company_card(self.ctx, company, int(offset)))]
        elif kind in ("approve", "cancel") and value:
            return await admin_replies.decide_push(turn, kind, value)
        elif kind == "source":
            source_id, _, action = value.partition(":")
            if source_id.isdigit() and action in ("add", "cancel", "delete", "keep"):
                try:
                    return await admin_replies.decide_source(turn, int(source_id), action)
                except CommandError as exc:
                    return [Reply(esc(exc.text(turn.language)), edit=True)]
        elif kind == "rest":
            digest_id, _, start = value.partition(":")
            if digest_id.isdigit() and start.isdigit():
                try:
                    return await replies.rest(turn, int(digest_id), int(start))
                except CommandError as exc:
                    return [Reply(esc(exc.text(turn.language)))]
        return turn.reply("refuse.button_expired")


def plain(reply: Reply) -> str:
    """A reply as terminal text (for ask and console)."""
    text = strip_tags(reply.text)
    for row in reply.buttons:
        text += "\n" + "  ".join(f"[{b.text}]" for b in row)
    return text


__all__ = ["COMMANDS", "Button", "Caller", "Command", "Conversation", "Reply", "plain"]
