"""Starting the bot: the token check, the leader lock, webhook or long polling."""

from __future__ import annotations

import asyncio
import logging

from telegram.error import InvalidToken, TelegramError

from bot.app import build_application
from bot.config import Settings
from bot.context import AppContext
from bot.delivery import make_bot
from bot.logs import redact, secrets_of
from bot.terminal import err
from storage.leader import LeaderLock

log = logging.getLogger("chipdigest")


def run_bot(ctx: AppContext) -> int:
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
    lock = LeaderLock(ctx.db.store)
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
