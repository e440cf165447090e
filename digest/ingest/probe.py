"""A feed read before it is added: fetched and parsed by the same code as a fetch cycle, its
items split, cleaned and scored as ingest would — and nothing stored. An admin sees what a
source would bring (its title, how many items, how many relevant) before it is added."""

from __future__ import annotations

from dataclasses import dataclass

import httpx

from digest.ingest.clean import clean
from digest.ingest.enrich import Enricher
from digest.ingest.fetch import Fetcher, FetchOptions
from digest.ingest.normalise import html_to_text, one_line
from digest.ingest.parse import parse_feed
from digest.ingest.pipeline import ENRICH_CHARS, newest
from digest.ingest.roundups import split as split_roundup


@dataclass(frozen=True, slots=True)
class FeedPreview:
    url: str  # where the feed was found (after redirects)
    title: str | None
    items: int
    relevant: int


async def probe_feed(
    url: str,
    options: FetchOptions,
    enricher: Enricher,
    max_items: int,
    transport: httpx.AsyncBaseTransport | None = None,
) -> FeedPreview:
    """Raises the :class:`~digest.errors.FetchError` or :class:`~digest.errors.ParseError`
    a fetch cycle would record against the source."""
    async with Fetcher(options, transport) as fetcher:
        result = await fetcher.fetch(url)
    if result.error is not None:
        raise result.error
    feed = parse_feed(result.body, result.headers, result.final_url or url)
    entries = newest([p for e in feed.entries for p in split_roundup(e)], max_items)
    relevant = 0
    for entry in entries:
        cleaned = clean(one_line(html_to_text(entry.title)), html_to_text(entry.summary))
        relevant += enricher.enrich(cleaned.title, cleaned.body[:ENRICH_CHARS]).relevant
    return FeedPreview(result.final_url or url, feed.title, len(entries), relevant)
