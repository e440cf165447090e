"""Key points: the most informative sentence or two of a story, taken from its sources.

Extraction sits behind :class:`KeyPointExtractor`, so a model-based summariser can replace it
without touching ranking, sections or rendering. The default, :class:`CentroidExtractor`, is a
classic extractive method over the jieba tokens stored at ingest:

1. every candidate sentence (titles and the first sentences of each source) becomes a TF-IDF
   vector, IDF taken over the stories of the window;
2. a story's centroid is the sum of its sentences' vectors, so facts that several outlets
   repeat weigh more;
3. a sentence scores its cosine with the centroid, plus a little for being a lead sentence,
   minus (MMR) its greatest similarity to key points already chosen in this digest, so two key
   points do not say the same thing;
4. the best sentence, joined with the next one of the same source when that fits and adds
   something, is trimmed at a clause boundary to the length cap.

The text of a key point is always a verbatim span of one source (plus "…" when trimmed).
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from digest.compose.rules import model_rules
from digest.text import HAN, match_form, sentence_spans
from storage.types import Item

ZH_CAP = 120  # characters
EN_CAP = 40  # words
LEAD_SENTENCES = 6
MMR_PENALTY = 0.6
LEAD_BONUS = 0.12
_CLAUSE_END = re.compile(r"[，,；;、：:）)]")
_FALLBACK_WORDS = re.compile(r"[A-Za-z0-9]+|[\u4e00-\u9fff]{2}")


@dataclass(frozen=True, slots=True)
class StoryInput:
    story_id: int
    items: tuple[Item, ...]  # the story's items in this window, best first


@dataclass(frozen=True, slots=True)
class ExtractedPoint:
    story_id: int
    text: str
    language: str
    item_id: int  # the source the text comes from


class KeyPointExtractor(Protocol):
    def extract(self, stories: Sequence[StoryInput]) -> list[ExtractedPoint]:
        """One key point per story, in the order given (the stories' rank)."""
        ...


@dataclass(slots=True)
class _Sentence:
    item: Item
    text: str
    start: int  # span in the item's "title\nsummary"
    end: int
    is_lead: bool
    words: list[str]
    vector: dict[str, float]


def item_text(item: Item) -> str:
    return f"{item.title}\n{item.summary}"


def _candidates(item: Item) -> list[_Sentence]:
    text = item_text(item)
    spans = sentence_spans(text)
    stored = [list(sentence) for sentence in item.tokens]
    if len(stored) != len(spans):  # conversions changed the sentence count: re-tokenise roughly
        stored = [_FALLBACK_WORDS.findall(match_form(text[a:b]).lower()) for a, b in spans]
    title_sentences = len(sentence_spans(item.title))
    picked: Sequence[int] = range(min(len(spans), title_sentences + LEAD_SENTENCES))
    rules = model_rules()
    if rules.is_instruction(text):
        # A report that speaks to a model (a prompt injection) is not trusted beyond its title.
        title = range(min(len(spans), title_sentences))
        picked = [i for i in title if not rules.is_instruction(text[slice(*spans[i])])] or [0]
    sentences = []
    for i in picked:
        a, b = spans[i]
        sentences.append(_Sentence(item, text[a:b], a, b, i == title_sentences, stored[i], {}))
    return sentences


def _cosine(a: dict[str, float], b: dict[str, float]) -> float:
    if len(a) > len(b):
        a, b = b, a
    return sum(value * b.get(key, 0.0) for key, value in a.items())


def _normalise(vector: dict[str, float]) -> dict[str, float]:
    norm = math.sqrt(sum(v * v for v in vector.values()))
    return {k: v / norm for k, v in vector.items()} if norm else vector


class _ChosenIndex:
    """Vectors of the key points chosen so far, inverted by word: the greatest cosine of a new
    sentence with any of them costs the postings of its own words, not one pass per key point."""

    def __init__(self) -> None:
        self._postings: dict[str, list[tuple[int, float]]] = {}
        self._count = 0

    def add(self, vector: dict[str, float]) -> None:
        for word, value in vector.items():
            self._postings.setdefault(word, []).append((self._count, value))
        self._count += 1

    def max_similarity(self, vector: dict[str, float]) -> float:
        totals: dict[int, float] = {}
        for word, value in vector.items():
            for index, other in self._postings.get(word, ()):
                totals[index] = totals.get(index, 0.0) + value * other
        return max(totals.values(), default=0.0)


class CentroidExtractor:
    def __init__(self, zh_cap: int = ZH_CAP, en_cap: int = EN_CAP) -> None:
        self.zh_cap = zh_cap
        self.en_cap = en_cap

    def extract(self, stories: Sequence[StoryInput]) -> list[ExtractedPoint]:
        candidates = {s.story_id: [c for i in s.items for c in _candidates(i)] for s in stories}
        idf = self._idf(candidates.values())
        for sentences in candidates.values():
            for sentence in sentences:
                counts = Counter(w.lower() for w in sentence.words)
                sentence.vector = _normalise({w: n * idf[w] for w, n in counts.items()})
        chosen = _ChosenIndex()
        points = []
        for story in stories:
            point, vector = self._best(story, candidates[story.story_id], chosen)
            points.append(point)
            chosen.add(vector)
        return points

    @staticmethod
    def _idf(stories: object) -> dict[str, float]:
        df: Counter[str] = Counter()
        total = 0
        for sentences in stories:  # type: ignore[attr-defined]
            total += 1
            df.update({w.lower() for s in sentences for w in s.words})
        return {w: math.log((1 + total) / (1 + n)) + 1.0 for w, n in df.items()}

    def _best(
        self, story: StoryInput, sentences: list[_Sentence], chosen: _ChosenIndex
    ) -> tuple[ExtractedPoint, dict[str, float]]:
        centroid: dict[str, float] = {}
        for sentence in sentences:
            for word, value in sentence.vector.items():
                centroid[word] = centroid.get(word, 0.0) + value
        centroid = _normalise(centroid)

        scores = {
            id(s): _cosine(s.vector, centroid)
            + (LEAD_BONUS if s.is_lead else 0.0)
            - MMR_PENALTY * chosen.max_similarity(s.vector)
            for s in sentences
        }

        def score(sentence: _Sentence) -> float:
            return scores[id(sentence)]

        best = max(sentences, key=lambda s: (score(s), -s.item.id, -s.start))
        start, end = self._extend(best, sentences, score(best), score)
        text, language = self._trim(best, start, end)
        point = ExtractedPoint(story.story_id, text, language, best.item.id)
        return point, best.vector

    def _extend(
        self, best: _Sentence, sentences: list[_Sentence], best_score: float, score: object
    ) -> tuple[int, int]:
        """Add the next sentence of the same source when both fit and it adds something."""
        following = [s for s in sentences if s.item is best.item and s.start >= best.end]
        if not following:
            return best.start, best.end
        nxt = min(following, key=lambda s: s.start)
        text = item_text(best.item)[best.start : nxt.end]
        if "\n" in text:  # never glue a headline to the body, or one paragraph to the next
            return best.start, best.end
        fits = self._length(text, best.item.language) <= self._cap(best.item.language)
        novel = _cosine(nxt.vector, best.vector) < 0.5
        good = score(nxt) >= 0.6 * best_score  # type: ignore[operator]
        return (best.start, nxt.end) if fits and novel and good else (best.start, best.end)

    def _cap(self, language: str) -> int:
        return self.zh_cap if language == "zh" else self.en_cap

    @staticmethod
    def _length(text: str, language: str) -> int:
        return len(text) if language == "zh" else len(text.split())

    def _trim(self, best: _Sentence, start: int, end: int) -> tuple[str, str]:
        text = item_text(best.item)[start:end].strip()
        language = "zh" if HAN.search(text) and len(HAN.findall(text)) * 3 >= len(text) else "en"
        return trim(text, language, self._cap(language), best.words), language


def trim(text: str, language: str, cap: int, words: Sequence[str] = ()) -> str:
    """Cut ``text`` to ``cap`` (characters for Chinese, words otherwise) at a clause boundary,
    never inside a word (jieba's ``words`` of the text tell where words end); "…" marks a cut."""
    if language == "zh":
        if len(text) <= cap:
            return text
        head = text[:cap]
        clauses = [m.end() for m in _CLAUSE_END.finditer(head)]
        if clauses and clauses[-1] >= cap // 2:
            return head[: clauses[-1]].rstrip("，,；;、：: ") + "…"
        ends = _word_ends(text, words)
        fitting = [e for e in ends if cap // 2 <= e <= cap]
        if fitting:
            return text[: fitting[-1]] + "…"
        return _cut_between_words(head) + "…"
    words = text.split()
    if len(words) <= cap:
        return text
    head = " ".join(words[:cap])
    clauses = [m.end() for m in _CLAUSE_END.finditer(head)]
    if clauses and clauses[-1] >= len(head) // 2:
        head = head[: clauses[-1]]
    return head.rstrip("，,；;、：: ") + "…"


def _word_ends(text: str, words: Sequence[str]) -> list[int]:
    """Offsets in ``text`` where one of its jieba words ends (when its match form lines up)."""
    form = match_form(text).lower()
    if len(form) != len(text):
        return []
    ends, position = [], 0
    for word in words:
        found = form.find(word.lower(), position)
        if found < 0:
            continue
        position = found + len(word)
        ends.append(position)
    return ends


def _cut_between_words(head: str) -> str:
    """Back off to a point between a Han character and a Latin/digit run (or a space), so a
    number or an English name is never split."""
    for cut in range(len(head), len(head) // 2, -1):
        before, after = head[cut - 1], head[cut] if cut < len(head) else " "
        if before.isspace() or after.isspace():
            return head[:cut].rstrip()
        if bool(HAN.match(before)) != bool(HAN.match(after)):
            return head[:cut]
    return head
