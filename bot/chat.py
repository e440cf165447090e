"""What a chat front end hands the command replies, and what it gets back: plain dataclasses
shared by the Telegram handlers, ``chipdigest ask`` and ``chipdigest console``."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from zoneinfo import ZoneInfo

from bot.context import AppContext
from bot.delivery import BroadcastReport, Messages
from bot.reply import Button, Buttons, Reply
from digest.catalog import t
from digest.html import esc
from storage.types import Chat

__all__ = ["BroadcastFn", "Button", "Buttons", "Caller", "Reply", "Turn"]

BroadcastFn = Callable[[int, Messages, list[Chat]], Awaitable[BroadcastReport]]


@dataclass(frozen=True, slots=True)
class Caller:
    chat_id: int
    chat_kind: str  # private, group, supergroup, channel
    user_id: int
    chat_title: str | None = None
    language: str | None = None  # the user's Telegram language, when it is zh or en
    # Whether the user may change a group's settings; asked only for commands that need it
    # (a Telegram front end asks getChatMember, cached briefly). None: yes (private chats,
    # the console).
    check_chat_admin: Callable[[], Awaitable[bool]] | None = None

    async def is_chat_admin(self) -> bool:
        return True if self.check_chat_admin is None else await self.check_chat_admin()


@dataclass(slots=True)
class Turn:
    """One message being answered: who asked, in which language, with which arguments."""

    ctx: AppContext
    caller: Caller
    language: str  # resolved once per message
    is_admin: bool
    args: list[str] = field(default_factory=list)
    rest: str = ""
    broadcast: BroadcastFn | None = None

    def t(self, key: str, /, **params: object) -> str:
        """The catalog's text in the chat's language, escaped for Telegram HTML."""
        return esc(t(key, self.language, **params))

    def reply(self, key: str, /, **params: object) -> list[Reply]:
        return [Reply(self.t(key, **params))]

    def chat(self) -> Chat:
        """The caller's chat, registered on first use with the configured defaults."""
        settings = self.ctx.settings
        return self.ctx.db.chats.upsert(
            self.caller.chat_id,
            self.caller.chat_kind,
            self.caller.chat_title,
            self.ctx.clock(),
            language=self.language,
            timezone=settings.timezone,
        )

    def when(self, moment: datetime | None, zone: str) -> str:
        """ "11月25日 08:30" / "11/25 08:30" in ``zone`` (the chat's); "从未" / "never"."""
        if moment is None:
            return self.t("sources.never")
        local = moment.astimezone(ZoneInfo(zone))
        day = t("digest.day", self.language, month=local.month, day=local.day)
        return f"{esc(day)} {local:%H:%M}"
