"""Story assignment at ingest: the recent items' index, rebuilt from storage at the start of a
cycle, and what a new item brings to it (words, meaning, event signature).

:class:`Stories` is what the pipeline holds for a cycle; the rules of a match live in
:mod:`digest.ingest.dedup`, the event signature in :mod:`digest.signature`.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime

import numpy as np

from digest.ingest import embed
from digest.ingest.dedup import Probe, StoryIndex, from_bytes, minhash, shingles, to_bytes
from digest.ingest.embed import Embedder, EmbeddingError
from digest.ingest.enrich import Enrichment
from digest.signature import EventSignature
from digest.text import is_traditional
from storage import Database

log = logging.getLogger(__name__)

SIGNATURE_LEAD = 240  # characters of the lead whose numbers and products count


class Stories:
    def __init__(self, index: StoryIndex, embedder: Embedder | None) -> None:
        self.index = index
        self.embedder = embedder

    @classmethod
    def load(
        cls, db: Database, since: datetime, capacity: int, embedder: Embedder | None
    ) -> Stories:
        """The index of the items stored since ``since`` (at most ``capacity``)."""
        index = StoryIndex(capacity)
        for stored in reversed(db.items.recent_signatures(since, capacity)):  # oldest first
            event = json.loads(stored.event) if stored.event else {}
            index.add(
                stored.item_id,
                stored.story_id,
                from_bytes(stored.signature) if stored.signature else None,
                stored.title_companies,
                EventSignature.from_json(event),
                embed.from_bytes(stored.embedding) if stored.embedding else None,
                event.get("script", "zh"),
            )
        return cls(index, embedder)

    def probes(
        self, items: Sequence[tuple[str, str, Enrichment]], *, embed_now: bool = True
    ) -> list[Probe]:
        """For each (title, lead, enrichment): what the index is asked with — with embeddings
        computed for the whole batch at once, unless ``embed_now`` is False (then
        :meth:`embedded` adds them)."""
        probes = []
        for title, lead, enrichment in items:
            words = shingles(enrichment.lead_tokens)
            event = EventSignature.of(title, lead[: embed.LEAD_CHARS], enrichment.leading_companies)
            probes.append(
                Probe(
                    minhash(words) if words else None,
                    frozenset(enrichment.about_companies),
                    event,
                    None,
                    script_language(title, enrichment.language),
                )
            )
        wanted = to_embed(items)
        if not embed_now or self.embedder is None or not wanted:
            return probes
        try:
            return with_vectors(probes, wanted, self.embedder.embed([t for _, t in wanted]))
        except EmbeddingError as exc:
            log.warning("embedding %d items failed (stories by words only): %s", len(wanted), exc)
            return probes

    async def embedded(self, probes: list[Probe], wanted: list[tuple[int, str]]) -> list[Probe]:
        """The probes with the embeddings of ``wanted`` (index, text), computed off the event
        loop: in the embedder's worker process when it has one, else in a thread."""
        if self.embedder is None or not wanted:
            return probes
        texts = [text for _, text in wanted]
        try:
            vectors = await self.embedder.embed_async(texts)
        except EmbeddingError as exc:
            log.warning("embedding %d items failed (stories by words only): %s", len(texts), exc)
            return probes
        return with_vectors(probes, wanted, vectors)

    def find(self, probe: Probe) -> int | None:
        return self.index.find(probe)

    def remember(self, item_id: int, story_id: int, probe: Probe) -> None:
        self.index.add(
            item_id,
            story_id,
            probe.signature,
            probe.title_companies,
            probe.event,
            probe.embedding,
            probe.language,
        )


def to_embed(items: Sequence[tuple[str, str, Enrichment]]) -> list[tuple[int, str]]:
    """(index, text) of each item to embed: all of them — a report that scores under the
    threshold may still be the other language's report of a relevant story."""
    return [
        (number, embed.embedding_text(title, lead)) for number, (title, lead, _) in enumerate(items)
    ]


def with_vectors(
    probes: list[Probe], wanted: list[tuple[int, str]], vectors: np.ndarray
) -> list[Probe]:
    probes = list(probes)
    for (number, _), vector in zip(wanted, vectors, strict=True):
        probes[number] = replace(probes[number], embedding=vector)
    return probes


def script_language(title: str, language: str) -> str:
    """zh, zh-Hant or en: embeddings of one event are closer within one script."""
    return "zh-Hant" if language == "zh" and is_traditional(title) else language


def stored_forms(probe: Probe) -> tuple[bytes, bytes | None, str]:
    """(MinHash bytes, embedding bytes, event JSON) as the item row keeps them."""
    signature = to_bytes(probe.signature) if probe.signature is not None else b""
    vector = embed.to_bytes(probe.embedding) if probe.embedding is not None else None
    event = {**probe.event.to_json(), "script": probe.language}
    return signature, vector, json.dumps(event, ensure_ascii=False)
