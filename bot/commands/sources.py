"""Sources: fetch now, list, add, remove, enable, OPML in and out."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import httpx

from bot.commands.errors import CommandError, check_feed_url
from bot.context import AppContext
from digest.errors import BlockedURL, ConfigError, FetchError, NetworkError, ParseError
from digest.ingest.fetch import check_url_now
from digest.ingest.pipeline import SourceOutcome
from digest.ingest.probe import FeedPreview, probe_feed
from digest.ingest.samples import SAMPLE_FEEDS, SAMPLES_ADDED, BundledFeedTransport
from digest.ingest.sources import SourceSpec, read_opml, write_opml
from digest.urls import display_url
from storage.types import Source


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


async def ingest_samples(ctx: AppContext) -> list[SourceOutcome]:
    """The bundled sample feeds, added as sources (followed since SAMPLES_ADDED) and fetched
    offline (the demo, the tests)."""
    since = SAMPLES_ADDED
    sources = [ctx.db.sources.add(feed.url, since, feed.title)[0] for feed in SAMPLE_FEEDS]
    return await fetch(ctx, sources=sources, transport=BundledFeedTransport())


HEALTH_DAYS = 7


@dataclass(frozen=True, slots=True)
class SourceHealth:
    """A source as an admin needs to see it to act on it."""

    source: Source
    state: str  # ok, failing, off, new (never fetched), waiting (added, not yet confirmed)
    per_day: float  # items stored a day over the last week
    relevant_share: float | None  # of those, the share relevant (None: no items)
    waiting_until: datetime | None  # in backoff (failing) or not yet due


def source_health(ctx: AppContext) -> list[SourceHealth]:
    ctx.seed_sources()
    now = ctx.clock()
    activity = ctx.db.items.activity_by_source(now - timedelta(days=HEALTH_DAYS))
    result = []
    for source in ctx.db.sources.all():
        items, relevant = activity.get(source.id, (0, 0))
        waiting = (
            source.next_check_at if source.next_check_at and source.next_check_at > now else None
        )
        result.append(
            SourceHealth(
                source,
                _state(source),
                items / HEALTH_DAYS,
                relevant / items if items else None,
                waiting if source.enabled else None,
            )
        )
    return result


def _state(source: Source) -> str:
    if not source.enabled:
        return "waiting" if source.last_fetched_at is None else "off"
    if source.last_fetched_at is None:
        return "new"
    return "failing" if source.error_count else "ok"


def fetch_plan(ctx: AppContext, force: bool = False) -> tuple[list[Source], list[Source]]:
    """(the sources a cycle fetches now, those it skips: in backoff after failures or not
    yet due). ``force``: every enabled source now, none skipped."""
    ctx.seed_sources()
    due = ctx.db.sources.due(ctx.clock())
    known = {s.id for s in due}
    waiting = [s for s in ctx.db.sources.all() if s.enabled and s.id not in known]
    return ([*due, *waiting], []) if force else (due, waiting)


def check_source(ctx: AppContext, url: str) -> str:
    """A URL fit to be a source: http(s), not too long, and (unless private sources are
    allowed) resolving only to public addresses — checked when it is added, not only when
    fetched."""
    url = check_feed_url(url)
    options = ctx.settings.fetch_options()
    try:
        check_url_now(url, options.allow_private, options.private_allowlist)
    except NetworkError:
        pass  # a name that does not resolve today is the fetch's to report, not a refusal
    except BlockedURL as exc:
        raise CommandError("error.source_refused", url=display_url(url), reason=str(exc)) from exc
    return url


def add_source(ctx: AppContext, url: str, title: str | None = None) -> tuple[Source, bool]:
    return ctx.db.sources.add(check_source(ctx, url), ctx.clock(), title)


async def probe_source(
    ctx: AppContext, url: str, transport: httpx.AsyncBaseTransport | None = None
) -> FeedPreview:
    """Fetch and read ``url`` as a fetch cycle would, storing nothing: its title, items and
    relevant items; a URL that is refused, unreachable or not a feed is refused with why."""
    url = check_source(ctx, url)
    shown = display_url(url)
    settings = ctx.settings
    try:
        return await probe_feed(
            url, settings.fetch_options(), ctx.enricher, settings.max_items_per_feed, transport
        )
    except BlockedURL as exc:
        raise CommandError("error.source_refused", url=shown, reason=str(exc)) from exc
    except FetchError as exc:
        raise CommandError("error.source_unreachable", url=shown, reason=str(exc)) from exc
    except ParseError as exc:
        raise CommandError("error.source_not_feed", url=shown, reason=str(exc)) from exc


async def propose_source(
    ctx: AppContext, url: str, transport: httpx.AsyncBaseTransport | None = None
) -> tuple[Source, FeedPreview | None]:
    """A feed checked and added disabled, awaiting the admin's confirmation (kept in the
    database, so the button works on any process); (the source, None) if already present."""
    preview = await probe_source(ctx, url, transport)
    source, created = ctx.db.sources.add(
        check_feed_url(url), ctx.clock(), preview.title, enabled=False
    )
    return source, preview if created else None


def confirm_source(ctx: AppContext, source_id: int, add: bool) -> Source | None:
    """Add (enable) or drop a proposed source; None when it is no longer awaiting."""
    source = ctx.db.sources.get(source_id)
    if source is None or source.enabled or source.last_fetched_at is not None:
        return None
    if add:
        return enable_source(ctx, source_id)
    ctx.db.sources.remove(source_id)
    return source


def remove_source(ctx: AppContext, source_id: int) -> None:
    if not ctx.db.sources.remove(source_id):
        raise CommandError("error.no_source", id=source_id)


def enable_source(ctx: AppContext, source_id: int, enabled: bool = True) -> Source:
    source = ctx.db.sources.set_enabled(source_id, enabled)
    if source is None:
        raise CommandError("error.no_source", id=source_id)
    return source


def import_opml(ctx: AppContext, path: Path) -> tuple[int, int]:
    """Add every feed of an OPML file; returns (added, already present)."""
    try:
        specs = read_opml(path.read_bytes())
    except OSError as exc:
        raise CommandError("error.cannot_read", path=path, reason=exc.strerror) from exc
    except ConfigError as exc:
        raise CommandError("error.opml", reason=str(exc)) from exc
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
