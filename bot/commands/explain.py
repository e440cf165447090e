"""Why an item was kept or dropped (``/why 1234``, admins): its relevance and what made it,
the companies it is about or mentions, its story, what cleaning took out of its text."""

from __future__ import annotations

from dataclasses import dataclass

from bot.commands.errors import CommandError
from bot.context import AppContext
from storage.types import Item


@dataclass(frozen=True, slots=True)
class Explanation:
    item: Item
    threshold: float
    anchors: tuple[tuple[str, float], ...]  # domain term or company id, points
    about: tuple[str, ...]  # companies named in the title
    mentioned: tuple[str, ...]  # named elsewhere only
    story: tuple[Item, ...]  # the other reports of its story
    removed: str | None  # what cleaning took out (the feed's text beyond the clean one)


def explain_item(ctx: AppContext, text: str) -> Explanation:
    if not text.strip().lstrip("#").isdigit():
        raise CommandError("why.usage")
    item_id = int(text.strip().lstrip("#"))
    members, raw = ctx.db.items.story_of(item_id)
    if not members:
        raise CommandError("why.unknown", id=item_id)
    item, *others = members
    anchors = ctx.enricher.explain(item.title, item.summary)
    about = tuple(c for c in item.companies if item.is_about(c))
    mentioned = tuple(c for c in item.companies if not item.is_about(c))
    return Explanation(
        item,
        ctx.settings.relevance_threshold,
        tuple(anchors),
        about,
        mentioned,
        tuple(others),
        _removed(raw, item.summary),
    )


def _removed(raw: str | None, clean: str) -> str | None:
    """The part of the feed's text that is not in the clean text (a rating, a byline, a
    related-reading block...), or None when cleaning changed nothing."""
    if not raw or raw == clean:
        return None
    kept = [line for line in raw.splitlines() if line.strip() and line.strip() not in clean]
    return "\n".join(kept) or raw[: max(0, len(raw) - len(clean))] or None
