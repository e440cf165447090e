"""Near-duplicate detection: one story told by several outlets shares one ``story_id``.

Exact duplicates (same guid, canonical link or content) are stopped by unique keys in storage.
Near-duplicates (a reworded title over the same facts) are found with MinHash over the set of
content words (jieba tokens, stop words dropped) and an LSH index of recent items, then
confirmed by the estimated Jaccard similarity and by the companies in the titles: two titles
that name different companies are two stories ("Moore Threads lists" vs "MetaX files to list"
share most of their words). The index is bounded: it holds the items of the last few days, at
most ``capacity`` of them, so memory stays flat however much is ingested.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
from datasketch import MinHash, MinHashLSH

from digest.text import HAN

NUM_PERM = 128
# Reworded reports of one story measured 0.21-0.57 word Jaccard on the sample feeds; different
# stories about different companies reached 0.29, which the title-company check separates.
LSH_THRESHOLD = 0.15
MATCH_THRESHOLD = 0.2

# Generating permutations is most of MinHash's cost; every signature shares one set.
_PERMUTATIONS = MinHash(num_perm=NUM_PERM).permutations

STOP_WORDS = frozenset(
    "的 了 和 与 及 是 在 将 对 为 也 等 并 其 中 上 下 从 被 把 让 向 而 或 于 以 之 这 那 "
    "一个 我们 他们 今日 日前 近日 表示 宣布 消息 记者 报道 据悉 目前 已经 正在 进行 相关 "
    "the a an of to in and for on with is are was were be been its it as at by from that this "
    "has have had will would said says new into over than more after about up".split()
)


def shingles(tokens: Iterable[str]) -> set[str]:
    """Content words: multi-character Chinese words, Latin words and numbers, lower-cased."""
    words = set()
    for token in tokens:
        token = token.strip().lower()
        if not token or token in STOP_WORDS:
            continue
        if HAN.match(token) and len(token) < 2:
            continue
        words.add(token)
    return words


def minhash(words: set[str]) -> MinHash:
    signature = MinHash(num_perm=NUM_PERM, permutations=_PERMUTATIONS)
    if words:
        signature.update_batch([w.encode("utf-8") for w in words])
    return signature


def to_bytes(signature: MinHash) -> bytes:
    # datasketch keeps hash values below 2**32, so four bytes a permutation are exact.
    return signature.hashvalues.astype("<u4").tobytes()


def from_bytes(data: bytes) -> MinHash:
    values = np.frombuffer(data, dtype="<u4").astype(np.uint64)
    return MinHash(num_perm=len(values), hashvalues=values, permutations=_PERMUTATIONS)


@dataclass(frozen=True, slots=True)
class _Entry:
    story_id: int
    signature: MinHash
    title_companies: frozenset[str]


def _compatible(a: frozenset[str], b: frozenset[str]) -> bool:
    return not a or not b or bool(a & b)


class StoryIndex:
    """Recent items' signatures in an LSH index, oldest evicted first."""

    def __init__(self, capacity: int = 10_000) -> None:
        self.capacity = capacity
        self._lsh = MinHashLSH(threshold=LSH_THRESHOLD, num_perm=NUM_PERM)
        self._entries: dict[int, _Entry] = {}
        self._order: deque[int] = deque()

    def __len__(self) -> int:
        return len(self._entries)

    def find_story(self, signature: MinHash, title_companies: Iterable[str] = ()) -> int | None:
        """The story of the most similar recent item, if similar enough."""
        companies = frozenset(title_companies)
        best_story, best_score = None, MATCH_THRESHOLD
        for key in self._lsh.query(signature):
            entry = self._entries[key]
            if not _compatible(companies, entry.title_companies):
                continue
            score = signature.jaccard(entry.signature)
            if score >= best_score:
                best_story, best_score = entry.story_id, score
        return best_story

    def add(
        self, item_id: int, story_id: int, signature: MinHash, title_companies: Iterable[str] = ()
    ) -> None:
        if item_id in self._entries:
            return
        self._lsh.insert(item_id, signature)
        self._entries[item_id] = _Entry(story_id, signature, frozenset(title_companies))
        self._order.append(item_id)
        while len(self._order) > self.capacity:
            oldest = self._order.popleft()
            self._lsh.remove(oldest)
            del self._entries[oldest]
