"""Run one broadcast in a child process (the crash test kills it mid-send)."""

from __future__ import annotations

import asyncio
import sys

from bot.delivery import Broadcaster, RateLimiter, make_bot
from storage import Database
from tests.support.fakebotapi import TOKEN


async def main(database_url: str, base_url: str, digest_id: int, parts: int) -> None:
    db = Database(database_url)
    bot = make_bot(TOKEN, base_url, timeout=5)
    async with bot:
        limiter = RateLimiter(overall=200, chat_interval=0.01)
        messages = [f"<b>part {n}</b> of the digest" for n in range(parts)]
        chats = db.chats.subscribers("morning")
        await Broadcaster(db, bot, limiter, concurrency=4).broadcast(digest_id, messages, chats)


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])))
