"""The command layer: what every front end (CLI, console, Telegram) calls.

Functions here take an :class:`AppContext` and plain arguments, return plain data, and raise
:class:`CommandError` with a message meant for the person who typed the command.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import httpx
from rapidfuzz import fuzz, process

from bot.context import AppContext
from digest.companies import Company
from digest.errors import ConfigError
from digest.model import Digest
from digest.pipeline import SourceOutcome
from digest.render import render_telegram
from digest.sources import SourceSpec, read_opml, write_opml
from storage.types import Chat, Item, Source


class CommandError(Exception):
    """A command could not be done; the message says why, to the user."""


_DURATION = re.compile(r"^\s*(\d+)\s*([mhdw])\s*$", re.IGNORECASE)
_UNITS = {"m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def parse_duration(text: str) -> timedelta:
    """``90m``, ``24h``, ``7d``, ``2w`` → a timedelta."""
    match = _DURATION.match(text)
    if not match:
        raise CommandError(f"not a duration: {text!r} (use e.g. 90m, 24h, 7d, 2w)")
    return timedelta(**{_UNITS[match.group(2).lower()]: int(match.group(1))})


def check_feed_url(url: str) -> str:
    url = url.strip()
    parsed = httpx.URL(url) if "://" in url else None
    if parsed is None or parsed.scheme not in ("http", "https") or not parsed.host:
        raise CommandError(f"not an http(s) feed URL: {url!r}")
    return url


# --- companies --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CompanyMatch:
    company: Company | None
    suggestions: tuple[Company, ...] = ()


def find_company(ctx: AppContext, query: str) -> CompanyMatch:
    """Exact id, name, alias or ticker first; then close names (fuzzy) as suggestions."""
    query = query.strip()
    if not query:
        raise CommandError("name a company, e.g. 寒武纪, Cambricon or 688256")
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
    raise CommandError(f"unknown company {query!r}" + (f"; did you mean: {hint}?" if hint else ""))


# --- items ------------------------------------------------------------------------------


def list_items(
    ctx: AppContext,
    *,
    company: str | None = None,
    since: str | None = None,
    limit: int = 20,
    relevant_only: bool = False,
) -> list[Item]:
    if limit < 1:
        raise CommandError("--limit must be at least 1")
    company_id = require_company(ctx, company).id if company else None
    start = ctx.clock() - parse_duration(since) if since else None
    return ctx.db.items.latest(
        company=company_id, since=start, limit=limit, relevant_only=relevant_only
    )


# --- digests ----------------------------------------------------------------------------

DEFAULT_EDITION = "default"


@dataclass(frozen=True, slots=True)
class DigestResult:
    digest: Digest
    saved_id: int | None = None


def compose_digest(
    ctx: AppContext,
    *,
    since: str | None = None,
    edition: str | None = None,
    language: str | None = None,
    save: bool = False,
) -> DigestResult:
    """Compose the digest of an edition's window (everything stored since its last saved
    digest) or of the last ``since``; ``save`` records it as the edition's latest."""
    if since and edition:
        raise CommandError("use --since or --edition, not both")
    if since and save:
        raise CommandError("--save needs an edition: a --since window is not tracked")
    language = language or ctx.settings.digest_language
    if language not in ("zh", "en"):
        raise CommandError(f"language must be zh or en, not {language!r}")
    edition = edition or DEFAULT_EDITION
    now = ctx.clock()
    last_id = ctx.db.items.max_id()  # the window ends here even if a fetch stores more meanwhile
    if since:
        start = now - parse_duration(since)
        after_id = 0
        items = ctx.db.items.window(after_id=0, last_id=last_id, fetched_since=start)
    else:
        start = None
        previous = ctx.db.digests.latest(edition)
        after_id = previous.last_item_id if previous else 0
        items = ctx.db.items.window(after_id=after_id, last_id=last_id)
    with ctx.metrics.compose_seconds.time():
        digest = ctx.composer.compose(
            items,
            edition=edition,
            language=language,
            created_at=now,
            after_item_id=after_id,
            last_item_id=last_id,
            since=start,
        )
    return DigestResult(digest, save_digest(ctx, digest) if save else None)


def save_digest(ctx: AppContext, digest: Digest) -> int:
    """Record a composed digest as its edition's latest (its window is now digested)."""
    return ctx.db.digests.save(
        edition=digest.edition,
        created_at=digest.created_at,
        after_item_id=digest.after_item_id,
        last_item_id=digest.last_item_id,
        since=digest.since,
        language=digest.language,
        structure=json.dumps(digest.to_dict()),
        item_ids=digest.item_ids,
    )


def messages_for_chats(ctx: AppContext, digest: Digest) -> Callable[[Chat], list[str]]:
    """Each chat's Telegram messages of ``digest``, headings in the chat's language."""
    rendered: dict[str, list[str]] = {}

    def messages(chat: Chat) -> list[str]:
        language = chat.language if chat.language in ("zh", "en") else digest.language
        if language not in rendered:
            rendered[language] = render_telegram(ctx.composer.in_language(digest, language))
        return rendered[language]

    return messages


def digest_by_id(ctx: AppContext, digest_id: int) -> Digest:
    record = ctx.db.digests.get(digest_id)
    if record is None:
        raise CommandError(f"no digest #{digest_id}")
    return Digest.from_dict(json.loads(record.structure))


def latest_digest(ctx: AppContext, edition: str | None = None) -> Digest:
    """The latest saved digest, exactly as it was composed."""
    record = ctx.db.digests.latest(edition)
    if record is None:
        raise CommandError(
            "no digest has been saved yet" + (f" for {edition!r}" if edition else "")
        )
    return Digest.from_dict(json.loads(record.structure))


# --- fetching ---------------------------------------------------------------------------


async def fetch(
    ctx: AppContext,
    urls: Sequence[str] = (),
    on_outcome: Callable[[SourceOutcome], None] | None = None,
    transport: httpx.AsyncBaseTransport | None = None,
    sources: Sequence[Source] | None = None,
) -> list[SourceOutcome]:
    """One fetch cycle: the given URLs (added as sources), or every source that is due."""
    if urls:
        now = ctx.clock()
        sources = [ctx.db.sources.add(check_feed_url(url), now)[0] for url in urls]
    elif sources is None:
        ctx.seed_sources()
    outcomes = await ctx.pipeline(transport).run(sources, on_outcome)
    ctx.metrics.record_fetches(outcomes)
    return outcomes


# --- sources ----------------------------------------------------------------------------


def list_sources(ctx: AppContext) -> list[Source]:
    return ctx.db.sources.all()


def add_source(ctx: AppContext, url: str, title: str | None = None) -> tuple[Source, bool]:
    return ctx.db.sources.add(check_feed_url(url), ctx.clock(), title)


def remove_source(ctx: AppContext, source_id: int) -> None:
    if not ctx.db.sources.remove(source_id):
        raise CommandError(f"no source with id {source_id}")


def enable_source(ctx: AppContext, source_id: int, enabled: bool = True) -> Source:
    source = ctx.db.sources.set_enabled(source_id, enabled)
    if source is None:
        raise CommandError(f"no source with id {source_id}")
    return source


def import_opml(ctx: AppContext, path: Path) -> tuple[int, int]:
    """Add every feed of an OPML file; returns (added, already present)."""
    try:
        specs = read_opml(path.read_bytes())
    except OSError as exc:
        raise CommandError(f"cannot read {path}: {exc.strerror}") from exc
    except ConfigError as exc:
        raise CommandError(str(exc)) from exc
    added = present = 0
    for spec in specs:
        try:
            _, created = add_source(ctx, spec.url, spec.title)
        except CommandError:
            continue  # an outline with a non-http URL is not a feed we can poll
        added, present = added + created, present + (not created)
    return added, present


def export_opml(ctx: AppContext) -> str:
    return write_opml([SourceSpec(s.url, s.title) for s in ctx.db.sources.all()])
