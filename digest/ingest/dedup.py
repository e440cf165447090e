"""Stories: one event told by several outlets, in several languages, shares one ``story_id``.

Exact duplicates (same guid, canonical link or content) are stopped by unique keys in storage.
Two signals find the rest, over a bounded index of recent items (the last few days, at most
``capacity`` of them, so memory stays flat however much is ingested):

* **words** — MinHash over the content words (jieba tokens, stop words dropped) and an LSH
  index: a reworded report in the same language;
* **meaning** — a multilingual sentence embedding of the title and lead: the same event told
  in Chinese, traditional Chinese and English, or in other words.

Either way a match must not contradict the **event signature** (:mod:`digest.signature`):
titles naming different companies, different kinds of event ("raises funds" vs "launches a
GPU"), different product codes or different amounts of one unit are different stories, however
close their words or meaning ("X完成新一轮融资" for two companies; the same 8.3万片 at two fabs).
A meaning match also needs agreement the further apart the meanings are.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
from datasketch import MinHash, MinHashLSH

from digest.signature import EventSignature, kinds_meet
from digest.text import HAN

NUM_PERM = 128
# Reworded reports of one story measured 0.21-0.57 word Jaccard on the sample feeds; different
# stories about different companies reached 0.29, which the title-company check separates.
LSH_THRESHOLD = 0.15
MATCH_THRESHOLD = 0.2
# Cosine of multilingual embeddings (title + lead), measured on tests/fixtures/stories.tsv
# (bench/stories.py prints them). One event in one language: 0.79-0.93 (5th-95th percentile);
# different events in one language: up to 0.49. One event across languages or scripts:
# 0.45-0.72; different events across languages: up to 0.35. So a report in the same language
# joins on meaning alone; across languages meaning is weighed with the facts both share.
SAME_LANGUAGE = 0.70
ACROSS_ALONE = 0.80
ACROSS_WITH_FACTS = (  # (cosine at least, what must be shared)
    (0.36, "number or product, and company or kind"),
    (0.40, "the same companies and kind"),
    (0.48, "a company and kind"),
    (0.55, "a company, or a kind"),
)

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
    signature: MinHash | None
    title_companies: frozenset[str]
    event: EventSignature
    row: int | None  # its embedding's row in the matrix
    language: str  # zh, zh-Hant or en: similarity runs lower across languages and scripts


def _compatible(a: frozenset[str], b: frozenset[str]) -> bool:
    return not a or not b or bool(a & b)


def _shares(a: EventSignature, b: EventSignature) -> dict[str, bool]:
    company = bool(a.companies & b.companies)
    kind = bool(a.kinds and b.kinds and kinds_meet(a.kinds, b.kinds))
    fact = bool(a.numbers & b.numbers or a.products & b.products)
    same_companies = bool(a.companies) and a.companies == b.companies
    return {
        "number or product, and company or kind": fact and (company or kind),
        "the same companies and kind": same_companies and kind,
        "a company and kind": company and kind,
        "a company, or a kind": company or kind,
    }


def same_event(cosine: float, a: EventSignature, b: EventSignature, across: bool) -> bool:
    """Whether two reports whose meanings are ``cosine`` apart tell one event."""
    if a.conflicts(b):
        return False
    if not across:  # a company named by one report only: a closer meaning is needed
        uneven = bool(a.companies) != bool(b.companies) or a.companies != b.companies
        return cosine >= (ACROSS_ALONE if uneven else SAME_LANGUAGE)
    if cosine >= ACROSS_ALONE:
        return True
    shares = _shares(a, b)
    return any(cosine >= bound and shares[what] for bound, what in ACROSS_WITH_FACTS)


@dataclass(frozen=True, slots=True)
class Probe:
    """What is known of a new item when its story is looked for."""

    signature: MinHash | None  # None: too few content words
    title_companies: frozenset[str]
    event: EventSignature
    embedding: np.ndarray | None = None
    language: str = "zh"


class StoryIndex:
    """Recent items' word signatures (LSH), embeddings (a matrix) and event signatures,
    oldest evicted first."""

    def __init__(self, capacity: int = 10_000) -> None:
        self.capacity = capacity
        self._lsh = MinHashLSH(threshold=LSH_THRESHOLD, num_perm=NUM_PERM)
        self._entries: dict[int, _Entry] = {}
        self._order: deque[int] = deque()
        self._matrix: np.ndarray | None = None  # capacity x dimensions, rows reused
        self._row_items = np.full(capacity, -1, dtype=np.int64)
        self._free_rows = list(range(capacity - 1, -1, -1))
        self._rows_used = 0  # rows below this may hold a vector: the only ones multiplied

    def __len__(self) -> int:
        return len(self._entries)

    def find(self, probe: Probe) -> int | None:
        """The story the new item belongs to, if any."""
        by_words = self._by_words(probe)
        if by_words is not None:
            return by_words
        return self._by_meaning(probe)

    def _cosine(self, probe: Probe, entry: _Entry) -> float | None:
        if probe.embedding is None or entry.row is None or self._matrix is None:
            return None
        return float(self._matrix[entry.row] @ probe.embedding)

    def _by_words(self, probe: Probe) -> int | None:
        if probe.signature is None:
            return None
        best_story, best_score = None, MATCH_THRESHOLD
        for key in self._lsh.query(probe.signature):
            entry = self._entries[key]
            if not _compatible(probe.title_companies, entry.title_companies):
                continue
            if probe.event.conflicts(entry.event) or entry.signature is None:
                continue
            cosine = self._cosine(probe, entry)
            across = probe.language != entry.language
            if cosine is not None and not same_event(cosine, probe.event, entry.event, across):
                continue  # shared words, other meaning: page chrome, a template headline
            score = probe.signature.jaccard(entry.signature)
            if score >= best_score:
                best_story, best_score = entry.story_id, score
        return best_story

    def _by_meaning(self, probe: Probe) -> int | None:
        if probe.embedding is None or self._matrix is None or not self._rows_used:
            return None
        cosines = self._matrix[: self._rows_used] @ probe.embedding
        nearest = np.argpartition(-cosines, min(20, len(cosines) - 1))[:20]
        best_story, best_score = None, -1.0
        for row in sorted(nearest, key=lambda r: -cosines[r]):  # the rest are further still
            item_id = int(self._row_items[row])
            cosine = float(cosines[row])
            if item_id < 0 or cosine < ACROSS_WITH_FACTS[0][0]:
                break
            entry = self._entries[item_id]
            if not _compatible(probe.title_companies, entry.title_companies):
                continue
            across = probe.language != entry.language
            if same_event(cosine, probe.event, entry.event, across) and cosine > best_score:
                best_story, best_score = entry.story_id, cosine
        return best_story

    def add(
        self,
        item_id: int,
        story_id: int,
        signature: MinHash | None,
        title_companies: Iterable[str] = (),
        event: EventSignature | None = None,
        embedding: np.ndarray | None = None,
        language: str = "zh",
    ) -> None:
        if item_id in self._entries:
            return
        if signature is not None:
            self._lsh.insert(item_id, signature)
        row = self._store_embedding(item_id, embedding)
        companies = frozenset(title_companies)
        entry = _Entry(story_id, signature, companies, event or EventSignature(), row, language)
        self._entries[item_id] = entry
        self._order.append(item_id)
        while len(self._order) > self.capacity:
            self._evict(self._order.popleft())

    def _store_embedding(self, item_id: int, embedding: np.ndarray | None) -> int | None:
        if embedding is None or not self._free_rows:
            return None
        if self._matrix is None:
            self._matrix = np.zeros((self.capacity, len(embedding)), dtype=np.float32)
        if len(embedding) != self._matrix.shape[1]:
            return None  # another model's vector (the operator switched): not comparable
        row = self._free_rows.pop()
        self._rows_used = max(self._rows_used, row + 1)
        self._matrix[row] = embedding
        self._row_items[row] = item_id
        return row

    def _evict(self, item_id: int) -> None:
        entry = self._entries.pop(item_id)
        if entry.signature is not None:
            self._lsh.remove(item_id)
        if entry.row is not None and self._matrix is not None:
            self._matrix[entry.row] = 0.0
            self._row_items[entry.row] = -1
            self._free_rows.append(entry.row)
