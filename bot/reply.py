"""A reply as every front end renders it: Telegram HTML and rows of buttons (no Telegram
types, so the command layer, the console and the broadcaster share it)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Button:
    text: str
    data: str


Buttons = tuple[tuple[Button, ...], ...]  # rows of buttons


@dataclass(frozen=True, slots=True)
class Upload:
    """A file a reply carries: a chart (photo) or an export (document)."""

    kind: str  # "photo" or "document"
    filename: str
    content: bytes


@dataclass(frozen=True, slots=True)
class Reply:
    text: str  # Telegram HTML (a file's caption when the reply carries one: at most 1024)
    buttons: Buttons = ()
    edit: bool = False  # replace the message the button was on
    file: Upload | None = None


@dataclass(frozen=True, slots=True)
class InlineCard:
    """One inline-mode result (``@bot 寒武纪`` in any chat): posted as ``text``."""

    id: str
    title: str
    description: str
    text: str  # Telegram HTML
