"""What a chat follows: companies (``寒武纪``), segments (``gpu``, ``AI芯片``) and keywords
(``HBM``). Each is a key of the follows table: a company id, ``segment:<slug>`` or
``keyword:<word>``; alerts read new relevant items for each since its watermark."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from bot.commands.companies import find_company
from bot.commands.errors import CommandError
from bot.context import AppContext
from digest.catalog import LANGUAGES, t
from digest.query import expand
from storage.types import Item

SEGMENT, KEYWORD = "segment:", "keyword:"
KEYWORD_CHARS = 40


@dataclass(frozen=True, slots=True)
class Target:
    key: str  # what the follows table stores

    @property
    def kind(self) -> str:
        if self.key.startswith(SEGMENT):
            return "segment"
        return "keyword" if self.key.startswith(KEYWORD) else "company"

    @property
    def value(self) -> str:
        return self.key.partition(":")[2] if self.kind != "company" else self.key

    def label(self, ctx: AppContext, language: str) -> str:
        """How a reader sees it: 寒武纪, “HBM”, GPU (a segment)."""
        if self.kind == "company":
            company = ctx.companies.get(self.key)
            return company.display_name(language) if company else self.key
        if self.kind == "segment":
            return t("follow.segment", language, name=t(f"segment.{self.value}", language))
        return t("follow.keyword", language, word=self.value)


def _segments(ctx: AppContext) -> dict[str, str]:
    """Every way to name a segment (its slug, its zh and en names) → the slug."""
    slugs = {c.segment for c in ctx.companies}
    names = {slug.casefold(): slug for slug in slugs}
    for slug in slugs:
        for language in LANGUAGES:
            names[t(f"segment.{slug}", language).casefold()] = slug
    return names


def follow_targets(ctx: AppContext, text: str) -> list[Target]:
    """``/follow 寒武纪 gpu HBM``: a company's name (one or several words), else a segment,
    else a keyword."""
    text = text.strip()
    if not text:
        raise CommandError("follow.usage")
    if ctx.companies.owner_of(text) is not None:  # "Moore Threads": one name of two words
        return [Target(ctx.companies.owner_of(text) or text)]
    segments = _segments(ctx)
    targets = []
    for word in text.split():
        owner = ctx.companies.owner_of(word)
        if owner is not None:
            targets.append(Target(owner))
        elif word.casefold() in segments:
            targets.append(Target(SEGMENT + segments[word.casefold()]))
        elif (match := find_company(ctx, word)).company is not None and len(word) >= 4:
            targets.append(Target(match.company.id))  # a near-miss of a name: "Cambrcon"
        elif len(word) < 2 or len(word) > KEYWORD_CHARS:
            raise CommandError("follow.bad_keyword", word=word[:KEYWORD_CHARS])
        else:
            targets.append(Target(KEYWORD + word.casefold()))
    return list(dict.fromkeys(targets))


def new_items(
    ctx: AppContext, key: str, after_id: int, limit: int, backlog_before: datetime
) -> list[Item]:
    """Relevant items for a follow stored after its watermark, oldest first (a new source's
    backlog published before ``backlog_before`` is never an alert)."""
    target = Target(key)
    items = ctx.db.items
    if target.kind == "company":  # an alert is for news about the company, not a mention
        return items.company_items_after(key, after_id, limit, backlog_before, about_only=True)
    if target.kind == "segment":
        found = {
            i.id: i
            for company in ctx.companies
            if company.segment == target.value
            for i in items.company_items_after(
                company.id, after_id, limit, backlog_before, about_only=True
            )
        }
        return sorted(found.values(), key=lambda i: i.id)[:limit]
    groups = expand(target.value, ctx.enricher.segmenter.cut, ctx.companies)  # HBM, 高带宽内存
    return items.search(groups, limit, after_id=after_id, backlog_before=backlog_before)
