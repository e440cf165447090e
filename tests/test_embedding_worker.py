"""The bundled model in a worker process, as `chipdigest run` embeds: the same vectors as in
the process, and a worker that dies costs one batch its embeddings, never its items."""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import Iterator

import numpy as np
import pytest

from digest.ingest.embed import EmbeddingError, ProcessEmbedder, shared_use_embedder
from digest.ingest.fetch import FetchOptions
from digest.ingest.pipeline import IngestPipeline
from storage import Database
from tests.support.feedserver import FeedServer
from tests.support.helpers import FakeClock

TEXTS = ["寒武纪发布新一代训练芯片。", "Cambricon launches a new training chip."]


@pytest.fixture
def worker() -> Iterator[ProcessEmbedder]:
    embedder = ProcessEmbedder()
    yield embedder
    embedder.close()


def kill(embedder: ProcessEmbedder) -> None:
    for pid in list(embedder._executor()._processes or {}):  # the test reaches in: a crash
        os.kill(pid, signal.SIGKILL)


def test_the_worker_embeds_as_the_process_does(worker: ProcessEmbedder) -> None:
    here = shared_use_embedder().embed(TEXTS)
    there = worker.embed(TEXTS)
    assert there.shape == (2, 512)
    assert np.allclose(here, there, atol=1e-5)
    assert float(there[0] @ there[1]) > 0.5  # one event in two languages, near each other


def test_a_killed_worker_fails_one_batch_and_the_next_starts_a_new_one(
    worker: ProcessEmbedder,
) -> None:
    worker.embed(["预热"])
    kill(worker)
    with pytest.raises(EmbeddingError, match="worker died"):
        worker.embed(TEXTS)
    assert worker.embed(TEXTS).shape == (2, 512)


RSS = (
    '<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>A</title>'
    + "".join(
        f"<item><title>{t}</title><link>https://a.example/{n}</link><description>{t}"
        "</description></item>"
        for n, t in enumerate(TEXTS)
    )
    + "</channel></rss>"
).encode()


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_items_are_stored_when_the_worker_dies_mid_cycle(
    db: Database,
    enricher,
    clock: FakeClock,
    worker: ProcessEmbedder,
    feed_server: FeedServer,
    caplog: pytest.LogCaptureFixture,
) -> None:
    worker.embed(["预热"])
    kill(worker)
    url = feed_server.add("/a.xml", body=RSS, headers={"Content-Type": "application/rss+xml"})
    source = db.sources.add(url, clock())[0]
    pipeline = IngestPipeline(
        db, enricher, FetchOptions(allow_private=True), clock=clock, embedder=worker
    )
    [outcome] = asyncio.run(pipeline.run([source]))
    assert outcome.status == "ok" and outcome.new == 2 and db.items.count() == 2
    assert "stories by words only" in caplog.text
    [outcome] = asyncio.run(pipeline.run([source]))  # the next cycle embeds again
    assert outcome.status == "ok"
