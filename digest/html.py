"""Telegram HTML, in one place: escape text, escape attribute values, make a link, strip tags,
and measure a message as Telegram does.

Telegram's HTML parse mode accepts a few tags (b, i, a, blockquote...) and needs ``<``, ``>`` and
``&`` escaped in text; an ``href`` also needs ``"`` escaped, or a feed's link could close the
attribute and add its own. Everything from a feed or a user goes through :func:`esc` or
:func:`link` before it reaches a message.
"""

from __future__ import annotations

import html
import re

# telegram.constants.MessageLimit.MAX_TEXT_LENGTH — digest does not import telegram; a test
# checks that the two agree.
MESSAGE_LIMIT = 4096

_TAG = re.compile(r"<[^>]+>")


def esc(text: str) -> str:
    """Text for a message body."""
    return html.escape(text, quote=False)


def attr(value: str) -> str:
    """A value for inside a double-quoted attribute (quotes escaped too)."""
    return html.escape(value, quote=True)


def link(href: str | None, text: str) -> str:
    """``text`` as a link to ``href`` (plain escaped text when there is no link)."""
    return f'<a href="{attr(href)}">{esc(text)}</a>' if href else esc(text)


def strip_tags(message: str) -> str:
    """The same content without markup (for a chat where Telegram rejected the HTML)."""
    return html.unescape(_TAG.sub("", message))


def telegram_length(message: str) -> int:
    """Length as Telegram counts it: UTF-16 code units of the text once tags and entities are
    parsed."""
    return len(strip_tags(message).encode("utf-16-le")) // 2
