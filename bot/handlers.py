"""Thin python-telegram-bot adapters: turn an Update into a Caller, ask the Conversation,
send its replies. No command logic lives here."""

from __future__ import annotations

import contextlib
import functools
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from telegram import (
    Chat,
    InlineQueryResultArticle,
    InputFile,
    InputTextMessageContent,
    LinkPreviewOptions,
    Update,
)
from telegram.constants import ChatMemberStatus, ChatType, ParseMode
from telegram.error import TelegramError
from telegram.ext import ContextTypes

from bot import commands
from bot.conversation import Caller, Conversation
from bot.delivery import markup
from bot.reply import Reply
from digest.catalog import t

log = logging.getLogger(__name__)
GROUPS = (ChatType.GROUP, ChatType.SUPERGROUP)


ADMIN_CACHE_SECONDS = 60.0
AdminCache = dict[tuple[int, int], tuple[float, bool]]


async def _is_group_admin(bot: Any, cache: AdminCache, chat_id: int, user_id: int) -> bool:
    """getChatMember, asked only when a command needs it and remembered for a minute."""
    now = time.monotonic()
    known = cache.get((chat_id, user_id))
    if known is not None and now - known[0] < ADMIN_CACHE_SECONDS:
        return known[1]
    try:
        member = await bot.get_chat_member(chat_id, user_id)
        is_admin = member.status in (ChatMemberStatus.ADMINISTRATOR, ChatMemberStatus.OWNER)
    except TelegramError as exc:
        log.warning("could not check admin rights in chat %s: %s", chat_id, exc)
        return False  # not cached: the next try may get through
    if len(cache) > 10_000:
        cache.clear()
    cache[(chat_id, user_id)] = (now, is_admin)
    return is_admin


async def caller_of(update: Update, context: ContextTypes.DEFAULT_TYPE) -> Caller | None:
    chat, user = update.effective_chat, update.effective_user
    if chat is None:
        return None
    message = update.effective_message
    check: Callable[[], Awaitable[bool]] | None = None
    if chat.type in GROUPS:
        sender_chat = message.sender_chat if message is not None else None
        if sender_chat is not None and sender_chat.id == chat.id:
            check = None  # an anonymous admin writes as the group itself
        elif user is None:
            check = _no
        else:
            cache = context.bot_data.setdefault("group_admins", {})  # one per application
            check = functools.partial(_is_group_admin, context.bot, cache, chat.id, user.id)
    code = (user.language_code or "") if user and chat.type == ChatType.PRIVATE else ""
    language = "en" if code.startswith("en") else "zh" if code.startswith("zh") else None
    return Caller(chat.id, chat.type, user.id if user else 0, chat.title, language, check)


async def _no() -> bool:
    return False


def on_text(conversation: Conversation):  # type: ignore[no-untyped-def]
    async def handle(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        message = update.effective_message
        caller = await caller_of(update, context)
        if message is None or caller is None or not message.text:
            return
        if not message.text.startswith("/") and caller.chat_kind != ChatType.PRIVATE:
            return  # in groups, plain talk is not for the bot
        conversation.ctx.bot_username = conversation.ctx.bot_username or context.bot.username
        for reply in await conversation.handle(caller, message.text):
            if reply.file is not None:
                await send_file(message.chat, reply)
                continue
            await message.reply_text(
                reply.text, parse_mode=ParseMode.HTML, reply_markup=markup(reply), do_quote=False
            )

    return handle


def on_button(conversation: Conversation):  # type: ignore[no-untyped-def]
    async def handle(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        query = update.callback_query
        caller = await caller_of(update, context)
        if query is None or caller is None:
            return
        await query.answer()
        for reply in await conversation.callback(caller, query.data or ""):
            if reply.edit and query.message is not None:
                await query.edit_message_text(
                    reply.text, parse_mode=ParseMode.HTML, reply_markup=markup(reply)
                )
            elif update.effective_chat is not None:
                await update.effective_chat.send_message(
                    reply.text, parse_mode=ParseMode.HTML, reply_markup=markup(reply)
                )

    return handle


async def send_file(chat: Chat, reply: Reply) -> None:
    """A chart as a photo, an export as a document; the reply's text is the caption."""
    assert reply.file is not None
    upload = InputFile(reply.file.content, filename=reply.file.filename)
    if reply.file.kind == "photo":
        await chat.send_photo(upload, caption=reply.text, parse_mode=ParseMode.HTML)
    else:
        await chat.send_document(upload, caption=reply.text, parse_mode=ParseMode.HTML)


INLINE_CACHE_SECONDS = 300  # Telegram keeps the answer this long for the same query


def on_inline(conversation: Conversation):  # type: ignore[no-untyped-def]
    """``@bot 寒武纪`` in any chat: the company's card as a result to post there."""

    async def handle(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        query = update.inline_query
        if query is None:
            return
        user = query.from_user
        code = user.language_code or ""
        language = "en" if code.startswith("en") else "zh" if code.startswith("zh") else None
        caller = Caller(user.id, ChatType.SENDER, user.id, None, language)
        cards = await conversation.inline(caller, query.query)
        results = [
            InlineQueryResultArticle(
                id=c.id,
                title=c.title,
                description=c.description,
                input_message_content=InputTextMessageContent(
                    c.text,
                    parse_mode=ParseMode.HTML,
                    link_preview_options=LinkPreviewOptions(is_disabled=True),
                ),
            )
            for c in cards
        ]
        await query.answer(results, cache_time=INLINE_CACHE_SECONDS, is_personal=False)

    return handle


def on_migration(conversation: Conversation):  # type: ignore[no-untyped-def]
    """Telegram's service message in the new supergroup: ``migrate_from_chat_id``."""

    async def handle(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        message = update.effective_message
        if message is None or not message.migrate_from_chat_id:
            return
        commands.migrate_chat(conversation.ctx, message.migrate_from_chat_id, message.chat_id)

    return handle


async def on_error(update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
    """The one error handler: log with context, tell the person something went wrong."""
    log.error("update %r failed", update, exc_info=context.error)
    if isinstance(update, Update) and update.effective_chat is not None:
        with contextlib.suppress(TelegramError):
            await update.effective_chat.send_message(  # the chat's language is unknown here
                f"{t('refuse.failed', 'zh')} {t('refuse.failed', 'en')}"
            )
