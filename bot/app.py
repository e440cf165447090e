"""The composition root of ``chipdigest run``: the bot, the scheduler and the command layer
wired together on one event loop (python-telegram-bot's ``Application``)."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from telegram import BotCommand, BotCommandScopeChat, BotCommandScopeDefault, LinkPreviewOptions
from telegram.error import TelegramError
from telegram.ext import (
    Application,
    ApplicationBuilder,
    CallbackQueryHandler,
    Defaults,
    InlineQueryHandler,
    MessageHandler,
    filters,
)
from telegram.request import HTTPXRequest

from bot.context import AppContext
from bot.conversation import COMMANDS, Conversation
from bot.delivery import (
    TELEGRAM_API,
    Broadcaster,
    RateLimiter,
    Sender,
    make_request,
)
from bot.handlers import on_button, on_error, on_inline, on_migration, on_text
from bot.leadership import Leadership
from bot.runtime import ALERT_MAX_WAIT, Runtime
from bot.status import StatusServer
from storage.leader import LeaderLock

log = logging.getLogger(__name__)


def command_menu(language: str, admin: bool = False) -> list[BotCommand]:
    """The command menu in ``language``: everyone's commands, and the admin ones for admins."""
    return [
        BotCommand(c.name, c.description(language))
        for c in COMMANDS.values()
        if admin or not c.admin
    ]


async def set_command_menus(bot: Any, admin_ids: Sequence[int]) -> None:
    """Everyone's menu by default; each admin's private chat also lists the admin commands."""
    scopes: list[tuple[Any, bool]] = [(BotCommandScopeDefault(), False)]
    scopes += [(BotCommandScopeChat(admin_id), True) for admin_id in admin_ids]
    for scope, admin in scopes:
        for language in ("zh", "en"):
            try:  # optional: a failure here is logged, not fatal
                await bot.set_my_commands(
                    command_menu(language, admin), scope, language_code=language
                )
            except TelegramError as exc:
                log.warning("could not set the %s command menu (%s): %s", language, scope, exc)


def build_application(
    ctx: AppContext,
    *,
    schedule: bool = True,
    limiter: RateLimiter | None = None,
    lock: LeaderLock | None = None,
) -> Application[Any, Any, Any, Any, Any, Any]:
    """The bot; with ``schedule``, the leader's work runs while this process holds ``lock``
    (taken here if not given); the status server runs when ``http_port`` is set."""
    settings = ctx.settings
    token = settings.telegram_token.get_secret_value() if settings.telegram_token else ""
    request = make_request(settings.http_proxy)
    application = (
        ApplicationBuilder()
        .token(token)
        .base_url(settings.telegram_base_url or TELEGRAM_API)
        .request(request)
        .get_updates_request(HTTPXRequest(proxy=settings.http_proxy))
        .concurrent_updates(True)
        # No link preview on any message: a digest or a card is text, not a big card for the
        # first link it holds.
        .defaults(Defaults(link_preview_options=LinkPreviewOptions(is_disabled=True)))
        .job_queue(None)  # our own scheduler runs on the leader only
        .build()
    )
    limiter = limiter or RateLimiter()
    runtime = Runtime(
        ctx,
        Broadcaster(
            ctx.db,
            application.bot,
            limiter,
            on_report=ctx.metrics.record_broadcast,
            clock=ctx.clock,
        ),
        # Alerts wait out short flood control (all sending pauses), not an hour for one chat.
        Sender(ctx.db, application.bot, limiter, clock=ctx.clock, max_wait=ALERT_MAX_WAIT),
    )
    conversation = Conversation(ctx, frozenset(settings.admin_ids), broadcast=runtime.broadcast)
    leadership = Leadership(
        runtime, lock or LeaderLock(ctx.db.store), settings.leader_check_seconds
    )
    status = StatusServer(ctx, lambda: leadership.is_leader)
    if schedule:
        runtime.sends_itself = lambda: leadership.is_leader
    application.bot_data["runtime"] = runtime
    application.bot_data["leadership"] = leadership
    application.bot_data["conversation"] = conversation
    application.add_handler(
        MessageHandler(filters.StatusUpdate.MIGRATE, on_migration(conversation))
    )
    application.add_handler(MessageHandler(filters.TEXT, on_text(conversation)))
    application.add_handler(CallbackQueryHandler(on_button(conversation)))
    application.add_handler(InlineQueryHandler(on_inline(conversation)))
    application.add_error_handler(on_error)

    async def post_init(app: Application[Any, Any, Any, Any, Any, Any]) -> None:
        conversation.bot_username = app.bot.username
        ctx.bot_username = app.bot.username  # the digest links company names to their cards
        await set_command_menus(app.bot, settings.admin_ids)
        if settings.http_port:
            status.start(settings.http_listen, settings.http_port)
        if schedule:
            leadership.start()

    async def post_shutdown(app: Application[Any, Any, Any, Any, Any, Any]) -> None:
        await leadership.stop()
        await status.stop()

    application.post_init = post_init
    application.post_shutdown = post_shutdown
    return application
