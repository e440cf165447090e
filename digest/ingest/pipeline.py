"""The one orchestrator of ingest: fetch → parse → normalise → enrich → de-duplicate → store.

Each step is a small function of its own module; only :class:`IngestPipeline` chains them.
Every source's outcome is returned as a value, so one bad feed stops nothing, and its health
(ETag, error count, last error, next check) is written on its row.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Literal
from urllib.parse import urlsplit

import httpx

from digest.errors import DigestError, HTTPStatusError, ParseError
from digest.ingest.clean import clean
from digest.ingest.dedup import Probe
from digest.ingest.embed import Embedder
from digest.ingest.enrich import Enricher, Enrichment
from digest.ingest.fetch import Fetcher, FetchOptions, FetchResult
from digest.ingest.normalise import (
    canonical_link,
    content_key,
    guid_key,
    has_asides,
    html_to_text,
    one_line,
    to_utc,
)
from digest.ingest.parse import ParsedFeed, RawEntry, parse_feed
from digest.ingest.roundups import split as split_roundup
from digest.ingest.stories import Stories, stored_forms, to_embed
from digest.text import shorten
from digest.urls import display_url
from storage import Database, StorageError
from storage.types import NewItem, Source

log = logging.getLogger(__name__)

SUMMARY_CHARS = 4000  # stored: enough for key points; full-text feeds carry whole articles
ENRICH_CHARS = 20_000  # tagged: a company named in paragraph nine of a long article counts
TITLE_CHARS = 300
OUTLET_CHARS = 80
NO_DATE = datetime(1970, 1, 1, tzinfo=UTC)


def utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class IngestOptions:
    max_errors: int = 10
    backoff_base: timedelta = timedelta(minutes=15)
    backoff_max: timedelta = timedelta(hours=24)
    story_window: timedelta = timedelta(days=3)
    story_capacity: int = 10_000  # about 15 KB of index per item: ~150 MB at most
    max_items_per_feed: int = 200  # the newest this many of one fetch (a 50,000-item feed)


def newest(entries: Sequence[RawEntry], limit: int) -> list[RawEntry]:
    """At most ``limit`` entries, the newest by date (undated ones keep the feed's order)."""
    if len(entries) <= limit:
        return list(entries)
    order = sorted(
        range(len(entries)),
        key=lambda i: (
            entries[i].published is None,
            -(entries[i].published or NO_DATE).timestamp(),
            i,
        ),
    )
    return [entries[i] for i in sorted(order[:limit])]


@dataclass(frozen=True, slots=True)
class SourceOutcome:
    source_id: int
    url: str
    title: str | None
    status: Literal["ok", "not_modified", "error"]
    new: int = 0
    duplicate: int = 0
    relevant: int = 0
    error: str | None = None
    warning: str | None = None
    disabled: bool = False
    error_kind: str | None = None


@dataclass(frozen=True, slots=True)
class _Candidate:
    entry: RawEntry
    title: str
    summary: str
    full_text: str
    link: str | None
    published: datetime
    keys: tuple[str, str | None, str]  # guid, link, content
    raw_summary: str | None = None  # the text as the feed gave it, when cleaning changed it


@dataclass(frozen=True, slots=True)
class _Prepared:
    outlet: str
    items: list[tuple[_Candidate, Enrichment, Probe]]
    duplicate: int
    to_embed: list[tuple[int, str]]  # (index, text) still to embed


class IngestPipeline:
    def __init__(
        self,
        db: Database,
        enricher: Enricher,
        fetch_options: FetchOptions,
        options: IngestOptions | None = None,
        *,
        clock: Callable[[], datetime] = utcnow,
        transport: httpx.AsyncBaseTransport | None = None,
        embedder: Embedder | None = None,
    ) -> None:
        self.db = db
        self.embedder = embedder  # None: stories by words only (no meaning across languages)
        self.enricher = enricher
        self.fetch_options = fetch_options
        self.options = options or IngestOptions()
        self._clock = clock
        self._transport = transport
        self._write_lock = asyncio.Lock()
        self._prepare_lock = asyncio.Lock()

    async def run(
        self,
        sources: Sequence[Source] | None = None,
        on_outcome: Callable[[SourceOutcome], None] | None = None,
    ) -> list[SourceOutcome]:
        """One cycle over ``sources`` (default: every enabled source that is due)."""
        now = self._clock()
        if sources is None:
            sources = self.db.sources.due(now)
        stories = self._load_stories(now)

        async def one(fetcher: Fetcher, source: Source) -> SourceOutcome:
            outcome = await self._ingest_source(fetcher, source, stories)
            if on_outcome is not None:
                on_outcome(outcome)
            return outcome

        async with Fetcher(self.fetch_options, self._transport) as fetcher:
            results = await asyncio.gather(
                *(one(fetcher, s) for s in sources), return_exceptions=True
            )
        # A bug is not a feed's fault (reader's rule): the other sources were still ingested,
        # nothing was counted against the source, and the bug is raised for the caller to log.
        for result in results:
            if isinstance(result, BaseException):
                raise result
        return [r for r in results if isinstance(r, SourceOutcome)]

    def ingest_parsed(self, source: Source, feed: ParsedFeed) -> SourceOutcome:
        """Store an already-parsed feed by the same path as a fetched one (importers, tests)."""
        return self.ingest_many([(source, feed)])[0]

    def ingest_many(self, feeds: Sequence[tuple[Source, ParsedFeed]]) -> list[SourceOutcome]:
        """Several parsed feeds, one story index for all (loaded once)."""
        now = self._clock()
        stories = self._load_stories(now)
        return [self._store_feed(source, feed, now, stories) for source, feed in feeds]

    def _load_stories(self, now: datetime) -> Stories:
        since = now - self.options.story_window
        return Stories.load(self.db, since, self.options.story_capacity, self.embedder)

    async def _ingest_source(
        self, fetcher: Fetcher, source: Source, stories: Stories
    ) -> SourceOutcome:
        result = await fetcher.fetch(source.url, source.etag, source.last_modified)
        now = self._clock()
        try:
            return await self._ingest_result(source, result, now, stories)
        except StorageError as exc:  # what this feed brought could not be stored: its error
            where = display_url(source.url)
            log.warning("storing what source %s (%s) gave failed: %s", source.id, where, exc)
            return self._failed(source, DigestError(f"storing failed: {exc}"), now)
        except Exception:
            log.exception("bug while ingesting source %s (%s)", source.id, display_url(source.url))
            raise

    async def _ingest_result(
        self, source: Source, result: FetchResult, now: datetime, stories: Stories
    ) -> SourceOutcome:
        if result.error is not None:
            return self._failed(source, result.error, now)
        if result.status == "not_modified":
            self._succeeded(source, result, now, "not_modified", None, None)
            return SourceOutcome(source.id, display_url(source.url), source.title, "not_modified")
        try:
            feed = parse_feed(result.body, result.headers, result.final_url or source.url)
        except ParseError as exc:
            return self._failed(source, exc, now)
        async with self._prepare_lock:  # one at a time too: beside the writer, not four-way
            prepared = await asyncio.to_thread(
                self._prepare_feed, source, feed, now, stories, False
            )
        # embedded outside the lock: the next feed is prepared meanwhile
        probes = await stories.embedded([p for _, _, p in prepared.items], prepared.to_embed)
        prepared.items[:] = [(c, e, p) for (c, e, _), p in zip(prepared.items, probes, strict=True)]
        async with self._write_lock:  # one writer; the event loop stays free for fetches
            outcome = await asyncio.to_thread(self._write_feed, source, prepared, now, stories)
        self._succeeded(source, result, now, "ok", feed.title, feed.warning)
        if feed.warning:
            log.warning(
                "source %s (%s) is malformed but usable: %s",
                source.id,
                display_url(source.url),
                feed.warning,
            )
        return replace(outcome, warning=feed.warning, title=source.title or feed.title)

    def _succeeded(
        self,
        source: Source,
        result: FetchResult,
        now: datetime,
        status: str,
        title: str | None,
        warning: str | None,
    ) -> None:
        self.db.sources.record_success(
            source.id,
            now=now,
            status=status,
            etag=result.etag,
            last_modified=result.last_modified,
            title=title,
            next_check_at=None,
            warning=warning,
        )

    def _failed(self, source: Source, error: DigestError, now: datetime) -> SourceOutcome:
        errors = source.error_count + 1
        delay = min(self.options.backoff_max, self.options.backoff_base * 2 ** (errors - 1))
        if isinstance(error, HTTPStatusError) and error.retry_after:
            delay = max(delay, timedelta(seconds=error.retry_after))
        updated = self.db.sources.record_failure(
            source.id,
            now=now,
            status=getattr(error, "kind", "error"),
            error=str(error),
            next_check_at=now + delay,
            max_errors=self.options.max_errors,
        )
        disabled = updated is not None and not updated.enabled
        log.warning(
            "source %s (%s) failed (%d in a row): %s%s",
            source.id,
            display_url(source.url),
            errors,
            error,
            "; disabled" if disabled else "",
        )
        return SourceOutcome(
            source.id,
            display_url(source.url),
            source.title,
            "error",
            error=str(error),
            disabled=disabled,
            error_kind=getattr(error, "kind", "error"),
        )

    # --- the synchronous part, run in a worker thread -----------------------------------

    def _store_feed(
        self, source: Source, feed: ParsedFeed, now: datetime, stories: Stories
    ) -> SourceOutcome:
        return self._write_feed(
            source, self._prepare_feed(source, feed, now, stories), now, stories
        )

    def _prepare_feed(
        self, source: Source, feed: ParsedFeed, now: datetime, stories: Stories, embed: bool = True
    ) -> _Prepared:
        """What needs no lock: normalise, drop known items, enrich, and embed (now, or later
        when ``embed`` is False). Runs beside the previous feed's writing."""
        base = feed.link or source.url
        parts = [part for entry in feed.entries for part in split_roundup(entry)]
        entries = newest(parts, self.options.max_items_per_feed)
        candidates = [c for e in entries if (c := self._normalise(source, e, base, now))]
        known = self.db.items.existing_keys(k for c in candidates for k in c.keys if k is not None)
        fresh, duplicate = [], 0
        for candidate in candidates:
            keys = [k for k in candidate.keys if k is not None]
            if known.intersection(keys):
                duplicate += 1
                continue
            known.update(keys)
            fresh.append(candidate)
        enriched = [self.enricher.enrich(c.title, c.full_text) for c in fresh]
        texts = [(c.title, c.summary, e) for c, e in zip(fresh, enriched, strict=True)]
        probes = stories.probes(texts, embed_now=embed)
        outlet = source.title or feed.title or urlsplit(source.url).hostname or "?"
        outlet = shorten(one_line(outlet), OUTLET_CHARS)  # it is on every item of the feed
        items = list(zip(fresh, enriched, probes, strict=True))
        return _Prepared(outlet, items, duplicate, [] if embed else to_embed(texts))

    def _write_feed(
        self, source: Source, prepared: _Prepared, now: datetime, stories: Stories
    ) -> SourceOutcome:
        """One writer at a time: stories are found and items stored in order."""
        new = relevant = 0
        duplicate = prepared.duplicate
        with self.db.items.writer() as writer:
            for candidate, enrichment, probe in prepared.items:
                item = self._item(
                    source, prepared.outlet, candidate, enrichment, probe, now, stories
                )
                stored = writer.add(item)
                if stored is None:
                    duplicate += 1
                    continue
                stories.remember(stored.item_id, stored.story_id, probe)
                new += 1
                relevant += enrichment.relevant
        return SourceOutcome(
            source.id, display_url(source.url), source.title, "ok", new, duplicate, relevant
        )

    def _normalise(
        self, source: Source, entry: RawEntry, base: str, now: datetime
    ) -> _Candidate | None:
        raw_title = one_line(html_to_text(entry.title))
        text = html_to_text(entry.summary)[:ENRICH_CHARS]  # fine print and quotes dropped
        cleaned = clean(raw_title, text)  # what else is not the article goes here
        title = one_line(cleaned.title)[:TITLE_CHARS]
        full_text = cleaned.body
        summary = full_text[:SUMMARY_CHARS]
        if not title and not summary:
            return None
        title = title or one_line(summary)[:60]
        link = canonical_link(entry.link, base)
        if entry.roundup_link is None:
            link = link or canonical_link(entry.guid)
        keys = (
            guid_key(entry.guid, source.url, link, title),
            None if link is None else guid_key(link, "", None, ""),
            content_key(title, summary, link),
        )
        # A story of a roundup without a link of its own is cited with the roundup's link,
        # which is not its identity (the roundup's other stories share it).
        link = link or canonical_link(entry.roundup_link, base)
        published = to_utc(entry.published, now)
        raw = None
        if cleaned.removed or has_asides(entry.summary):  # the feed's own text stays stored
            raw = html_to_text(entry.summary, drop_asides=False)[:SUMMARY_CHARS]
        return _Candidate(entry, title, summary, full_text, link, published, keys, raw)

    def _item(
        self,
        source: Source,
        outlet: str,
        candidate: _Candidate,
        enrichment: Enrichment,
        probe: Probe,
        now: datetime,
        stories: Stories,
    ) -> NewItem:
        signature, embedding, event = stored_forms(probe)
        return NewItem(
            source_id=source.id,
            outlet=outlet,
            guid=candidate.entry.guid,
            guid_key=candidate.keys[0],
            link=candidate.link,
            link_key=candidate.keys[1],
            content_key=candidate.keys[2],
            title=candidate.title,
            summary=candidate.summary,
            published_at=candidate.published,
            fetched_at=now,
            language=enrichment.language,
            companies=enrichment.companies,
            relevance=enrichment.relevance,
            relevant=enrichment.relevant,
            tokens=enrichment.sentence_tokens,
            signature=signature,
            title_companies=tuple(sorted(enrichment.about_companies)),  # what it is about
            story_id=stories.find(probe),
            embedding=embedding,
            event=event,
            raw_summary=candidate.raw_summary,
        )
