"""Companies: find one by any name, and the card an analyst reads (counts, stories, points)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from rapidfuzz import fuzz, process

from bot.commands.errors import CommandError, parse_duration
from bot.context import AppContext
from digest.companies import Company
from digest.compose.keypoints import StoryInput
from digest.query import expand
from storage.types import Item

COMPANY_PAGE = 5
RELATED = 4  # companies offered as buttons under a card


@dataclass(frozen=True, slots=True)
class CompanyMatch:
    company: Company | None
    suggestions: tuple[Company, ...] = ()


def find_company(ctx: AppContext, query: str) -> CompanyMatch:
    """Exact id, name, alias or ticker first; then close names (fuzzy) as suggestions."""
    query = query.strip()
    if not query:
        raise CommandError("error.company_empty")
    owner = ctx.companies.owner_of(query)
    if owner is not None:
        return CompanyMatch(ctx.companies.get(owner))
    names = {
        name: company.id for company in ctx.companies for name in (company.id, *company.all_names)
    }
    hits = process.extract(query, list(names), scorer=fuzz.WRatio, limit=8, score_cutoff=70)
    ordered: list[Company] = []
    for name, _score, _ in hits:
        company = ctx.companies.get(names[name])
        if company is not None and company not in ordered:
            ordered.append(company)
    if len(ordered) == 1 or (ordered and hits[0][1] >= 90 and len(query) >= 4):
        return CompanyMatch(ordered[0], tuple(ordered[1:]))
    return CompanyMatch(None, tuple(ordered[:5]))


def require_company(ctx: AppContext, query: str) -> Company:
    match = find_company(ctx, query)
    if match.company is not None:
        return match.company
    hint = ", ".join(f"{c.name_en} ({c.id})" for c in match.suggestions)
    if hint:
        raise CommandError("error.company_unknown_hint", query=query[:100], hint=hint)
    raise CommandError("error.company_unknown", query=query[:100])


def list_items(
    ctx: AppContext,
    *,
    company: str | None = None,
    since: str | None = None,
    limit: int = 20,
    relevant_only: bool = False,
) -> list[Item]:
    if limit < 1:
        raise CommandError("error.limit")
    company_id = require_company(ctx, company).id if company else None
    start = ctx.clock() - parse_duration(since) if since else None
    return ctx.db.items.latest(
        company=company_id, since=start, limit=limit, relevant_only=relevant_only
    )


def companies_named(ctx: AppContext, text: str) -> list[Company]:
    """The companies a command names: the whole text if it is one name ("Moore Threads"),
    else each word ("寒武纪 华为"). A word that names none is refused, with suggestions."""
    text = text.strip()
    whole = find_company(ctx, text) if text else CompanyMatch(None)
    if whole.company is not None and ctx.companies.owner_of(text) is not None:
        return [whole.company]
    words = text.split()
    if len(words) <= 1:
        return [require_company(ctx, text)]
    return list(dict.fromkeys(require_company(ctx, word) for word in words))


# --- the company card -------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CardLine:
    story: StoryInput
    point: str


@dataclass(frozen=True, slots=True)
class CompanyCard:
    company: Company
    week: int
    month: int
    lines: tuple[CardLine, ...]
    offset: int
    has_more: bool
    quarter: int = 0  # stories in 90 days
    last_mentioned: datetime | None = None
    related: tuple[Company, ...] = ()  # most often in the same reports over 90 days


def company_card(ctx: AppContext, company: Company, offset: int = 0) -> CompanyCard:
    """One page of a company's card: reports naming it in 7 / 30 / 90 days, when it was last
    mentioned, and its latest stories with a key point."""
    now = ctx.clock()
    counts = tuple(
        ctx.db.items.company_stories(company.id, now - timedelta(days=days)) for days in (7, 30, 90)
    )
    stories = _latest_stories(ctx, company.id, offset + COMPANY_PAGE + 1)
    page = stories[offset : offset + COMPANY_PAGE]
    lines = tuple(CardLine(s, p) for s, p in zip(page, _points(ctx, page), strict=True))
    return CompanyCard(
        company,
        counts[0],
        counts[1],
        lines,
        offset,
        len(stories) > offset + COMPANY_PAGE,
        counts[2],
        ctx.db.items.company_last_mentioned(company.id),
        tuple(
            related
            for company_id, _ in ctx.db.items.co_mentioned(company.id, now - timedelta(days=90))
            if (related := ctx.companies.get(company_id)) is not None
        )[:RELATED],
    )


def _latest_stories(ctx: AppContext, company_id: str, count: int) -> list[StoryInput]:
    """The company's latest stories (items of one story together), newest first."""
    items = ctx.db.items.latest(company=company_id, relevant_only=True, limit=count * 4)
    stories: dict[int, list[Item]] = {}
    for item in items:
        stories.setdefault(item.story_id, []).append(item)
    # The stories about the company (named in a title) before those that only mention it,
    # each group newest first (the items came newest first).
    ordered = sorted(
        stories.items(), key=lambda pair: not any(i.is_about(company_id) for i in pair[1])
    )
    return [StoryInput(sid, tuple(group)) for sid, group in ordered[:count]]


def _points(ctx: AppContext, stories: Sequence[StoryInput]) -> list[str]:
    """A key point for each story, by the digest's own extractor."""
    ids = [i.id for s in stories for i in s.items]
    if not ids:
        return []
    full = {i.id: i for i in ctx.db.items.by_ids(ids)}
    with_tokens = [
        StoryInput(s.story_id, tuple(full.get(i.id, i) for i in s.items)) for s in stories
    ]
    return [p.text for p in ctx.composer.extractor.extract(with_tokens)]


def search(ctx: AppContext, query: str, limit: int = 8) -> list[Item]:
    """Stored items matching every word of ``query`` (segmented as items were at ingest), in
    either language: each word also matches the other names of its concept or company."""
    groups = expand(query, ctx.enricher.segmenter.cut, ctx.companies)
    return ctx.db.items.search(groups, limit=limit) if groups else []
