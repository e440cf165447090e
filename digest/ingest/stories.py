"""Story assignment at ingest: the recent items' index, rebuilt from storage at the start of a
cycle, and what a new item brings to it (words, meaning, event signature).

:class:`Stories` is what the pipeline holds for a cycle; the rules of a match live in
:mod:`digest.ingest.dedup`, the event signature in :mod:`digest.signature`.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime

import numpy as np

from digest.ingest import embed
from digest.ingest.dedup import Probe, StoryIndex, from_bytes, minhash, shingles, to_bytes
from digest.ingest.embed import Embedder
from digest.ingest.enrich import Enrichment
from digest.signature import EventSignature
from digest.text import is_traditional
from storage import Database

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

    def probes(self, items: Sequence[tuple[str, str, Enrichment]]) -> list[Probe]:
        """For each (title, lead, enrichment): what the index is asked with. Embeddings are
        computed for the whole batch at once (several times faster than one by one)."""
        vectors = self._embed([embed.embedding_text(title, lead) for title, lead, _ in items])
        probes = []
        for number, (title, lead, enrichment) in enumerate(items):
            words = shingles(enrichment.lead_tokens)
            event = EventSignature.of(title, lead[: embed.LEAD_CHARS], enrichment.leading_companies)
            vector = None if vectors is None else vectors[number]
            probes.append(
                Probe(
                    minhash(words) if words else None,
                    frozenset(enrichment.about_companies),
                    event,
                    vector,
                    script_language(title, enrichment.language),
                )
            )
        return probes

    def _embed(self, texts: list[str]) -> np.ndarray | None:
        if self.embedder is None or not texts:
            return None
        return self.embedder.embed(texts)

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


def script_language(title: str, language: str) -> str:
    """zh, zh-Hant or en: embeddings of one event are closer within one script."""
    return "zh-Hant" if language == "zh" and is_traditional(title) else language


def stored_forms(probe: Probe) -> tuple[bytes, bytes | None, str]:
    """(MinHash bytes, embedding bytes, event JSON) as the item row keeps them."""
    signature = to_bytes(probe.signature) if probe.signature is not None else b""
    vector = embed.to_bytes(probe.embedding) if probe.embedding is not None else None
    event = {**probe.event.to_json(), "script": probe.language}
    return signature, vector, json.dumps(event, ensure_ascii=False)
