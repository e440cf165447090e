"""Spacing sends within Telegram's limits (the physical limit of a broadcast)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from telegram.constants import FloodLimit

from storage.types import Chat


class RateLimiter:
    """Spaces sends: ``overall`` per second across chats, ``chat_interval`` seconds between
    two messages to one chat, ``group_per_minute`` for groups and channels.

    A send reserves its slot without awaiting (so concurrent tasks never take the same one),
    then sleeps until it.
    """

    def __init__(
        self,
        overall: float = FloodLimit.MESSAGES_PER_SECOND,
        chat_interval: float = 1.0 / FloodLimit.MESSAGES_PER_SECOND_PER_CHAT,
        group_per_minute: float = FloodLimit.MESSAGES_PER_MINUTE_PER_GROUP,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.overall_interval = 1.0 / overall
        self.chat_interval = chat_interval
        self.group_interval = 60.0 / group_per_minute
        self._clock = clock
        self._next_overall = 0.0
        self._next_chat: dict[int, float] = {}

    def reserve(self, chat: Chat) -> float:
        """Seconds to wait before sending to ``chat``."""
        now = self._clock()
        interval = self.chat_interval if chat.kind == "private" else self.group_interval
        slot = max(now, self._next_overall, self._next_chat.get(chat.chat_id, 0.0))
        self._next_overall = slot + self.overall_interval
        self._next_chat[chat.chat_id] = slot + interval
        return slot - now

    async def acquire(self, chat: Chat) -> None:
        delay = self.reserve(chat)
        if delay > 0:
            await asyncio.sleep(delay)

    def pause(self, seconds: float) -> bool:
        """Flood control for the whole bot: no send goes before ``seconds`` from now. Returns
        whether this extended the pause (so the caller logs it once, not once per chat)."""
        until = self._clock() + seconds
        if until <= self._next_overall:
            return False
        self._next_overall = until
        return True
