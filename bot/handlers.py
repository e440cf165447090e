"""Thin python-telegram-bot adapters: turn an Update into a Caller, ask the Conversation,
send its replies. No command logic lives here."""

from __future__ import annotations

import contextlib
import logging

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.constants import ChatMemberStatus, ChatType, ParseMode
from telegram.error import TelegramError
from telegram.ext import ContextTypes

from bot import commands
from bot.conversation import Caller, Conversation, Reply

log = logging.getLogger(__name__)
GROUPS = (ChatType.GROUP, ChatType.SUPERGROUP)


def markup(reply: Reply) -> InlineKeyboardMarkup | None:
    if not reply.buttons:
        return None
    return InlineKeyboardMarkup(
        [[InlineKeyboardButton(b.text, callback_data=b.data) for b in row] for row in reply.buttons]
    )


async def caller_of(update: Update, context: ContextTypes.DEFAULT_TYPE) -> Caller | None:
    chat, user = update.effective_chat, update.effective_user
    if chat is None:
        return None
    is_admin = True
    if chat.type in GROUPS and user is not None:
        try:
            member = await context.bot.get_chat_member(chat.id, user.id)
            is_admin = member.status in (ChatMemberStatus.ADMINISTRATOR, ChatMemberStatus.OWNER)
        except TelegramError as exc:
            log.warning("could not check admin rights in chat %s: %s", chat.id, exc)
            is_admin = False
    language = "en" if user and (user.language_code or "").startswith("en") else "zh"
    return Caller(chat.id, chat.type, user.id if user else 0, chat.title, is_admin, language)


def on_text(conversation: Conversation):  # type: ignore[no-untyped-def]
    async def handle(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        message = update.effective_message
        caller = await caller_of(update, context)
        if message is None or caller is None or not message.text:
            return
        if not message.text.startswith("/") and caller.chat_kind != ChatType.PRIVATE:
            return  # in groups, plain talk is not for the bot
        for reply in await conversation.handle(caller, message.text):
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
            await update.effective_chat.send_message(
                "出错了，请稍后再试。 Something went wrong; please try again later."
            )
