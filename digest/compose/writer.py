"""Key points, Core Insights and headlines written by a language model, each checked before
it may be sent (:mod:`digest.compose.checks`).

For each chosen story and each language, the model gets the story's sources (numbered, feed
text that speaks to a model removed) and answers JSON: the point, the sources it used, and
headlines in that language for sources written in another. A refused answer is asked again
once with the reason; then the story keeps its extractive point. What passed is cached in the
database per (story, its members, language, model, prompt version), so a story is written
once across editions, languages, restarts and processes. Calls run ``concurrency`` at a time,
within a token budget and a deadline per digest.
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor, TimeoutError, as_completed
from datetime import UTC, datetime
from functools import partial
from typing import Protocol, TypeVar

from pydantic import BaseModel

from digest.compose.answers import (
    LANGUAGES,
    InsightAnswer,
    InsightBrief,
    InsightsAnswer,
    PointAnswer,
    Refusal,
    StoryBrief,
    WrittenInsight,
    WrittenPoint,
    insight_from,
    insights_from,
    is_refusal,
    point_from,
    source_text,
    stories_message,
)
from digest.compose.checks import Checker, Evidence, normalise
from digest.compose.llm import Failure, Message, ModelClient
from digest.compose.rules import model_rules
from storage.types import Item, ModelCall, Writing

log = logging.getLogger(__name__)
T = TypeVar("T", bound=BaseModel)
PointResult = WrittenPoint | Refusal | None


class WritingStore(Protocol):
    """Where written text is cached and calls are counted (``storage.writings``)."""

    def get_many(self, keys: Iterable[str]) -> dict[str, Writing]: ...

    def put(self, writing: Writing) -> None: ...

    def record_calls(self, calls: Iterable[ModelCall]) -> None: ...


class Budget:
    """Tokens a digest may spend, shared by the threads writing it."""

    def __init__(self, tokens: int) -> None:
        self.left = tokens
        self._lock = threading.Lock()

    def spend(self, tokens: int) -> None:
        with self._lock:
            self.left -= tokens

    @property
    def spent(self) -> bool:
        return self.left <= 0


class ModelWriter:
    def __init__(
        self,
        client: ModelClient,
        checker: Checker,
        store: WritingStore | None = None,
        *,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        on_call: Callable[[ModelCall], None] | None = None,
    ) -> None:
        self.client = client
        self.checker = checker
        self.store = store
        self.clock = clock
        self.on_call = on_call
        self.rules = model_rules()
        self._calls: list[ModelCall] = []
        self._lock = threading.Lock()

    @property
    def model(self) -> str:
        return self.client.model

    # --- key points -------------------------------------------------------------------------

    def budget(self) -> Budget:
        """The tokens one digest may spend (points and insights together)."""
        return Budget(self.client.settings.token_budget)

    def write_points(
        self,
        briefs: Sequence[StoryBrief],
        languages: Sequence[str] = LANGUAGES,
        budget: Budget | None = None,
    ) -> dict[tuple[int, str], WrittenPoint]:
        """The model's checked point for each (story, language) it could write; the others
        are left out (the caller keeps its extractive point)."""
        jobs = [(b, lang) for b in briefs for lang in languages]
        keys = {(b.story_id, lang): self._point_key(b, lang) for b, lang in jobs}
        cached = self.store.get_many(keys.values()) if self.store else {}
        written: dict[tuple[int, str], WrittenPoint] = {}
        settled = set()  # refused before: the extractive point, without asking again
        for job, key in keys.items():
            if key in cached and is_refusal(cached[key]):
                settled.add(job)
            elif key in cached and (point := point_from(cached[key])) is not None:
                written[job] = point
        done = settled | set(written)
        todo = [(b, lang) for b, lang in jobs if (b.story_id, lang) not in done]
        if todo:
            evidence = {b.story_id: self._evidence(b.sources) for b, _ in todo}
            spend = budget or self.budget()
            results = self._run(
                [partial(self._point, b, lang, evidence[b.story_id], spend) for b, lang in todo]
            )
            for result in results:
                if result is None:
                    continue
                key = keys[(result.story_id, result.language)]
                if isinstance(result, Refusal):
                    payload = {"refused": result.reason}
                    self._put(key, "point", result.story_id, result.language, payload)
                    continue
                written[(result.story_id, result.language)] = result
                self._cache(key, "point", result)
        self._flush_calls()
        return written

    def _point(
        self, brief: StoryBrief, language: str, evidence: dict[int, Evidence], budget: Budget
    ) -> WrittenPoint | Refusal | None:
        messages: list[Message] = [
            {"role": "system", "content": self._point_prompt(language)},
            {"role": "user", "content": self._sources_message(brief.sources)},
        ]
        where = f"story {brief.story_id} ({language})"
        answer = self._ask_checked(
            messages,
            PointAnswer,
            "point",
            where,
            budget,
            lambda a: self._check_point(a, brief, language, evidence),
        )
        if answer is None or isinstance(answer, str):
            return None if answer is None else Refusal(brief.story_id, language, answer)
        used = tuple(brief.sources[n - 1].id for n in dict.fromkeys(answer.citations))
        return WrittenPoint(
            brief.story_id,
            language,
            normalise(answer.text, language),
            used,
            self._headlines(answer, brief, language, evidence),
        )

    def _check_point(
        self, answer: PointAnswer, brief: StoryBrief, language: str, evidence: dict[int, Evidence]
    ) -> str | None:
        numbers = set(answer.citations)
        if not numbers:
            return "cites no source"
        if wrong := sorted(n for n in numbers if not 1 <= n <= len(brief.sources)):
            return f"cites [{wrong[0]}], which is not a source of this story"
        cited = [brief.sources[n - 1] for n in sorted(numbers)]
        return self.checker.check(
            normalise(answer.text, language), language, "point", self._joined(cited, evidence)
        )

    def _headlines(
        self, answer: PointAnswer, brief: StoryBrief, language: str, evidence: dict[int, Evidence]
    ) -> dict[int, str]:
        """Headlines in ``language`` for sources written in another; one that fails its check
        is left out (the source keeps its own)."""
        result = {}
        for headline in answer.headlines:
            if not 1 <= headline.source <= len(brief.sources):
                continue
            item = brief.sources[headline.source - 1]
            text = normalise(headline.text, language)
            if item.language == language:
                continue
            reason = self.checker.check(text, language, "headline", evidence[item.id])
            if reason is None:
                result[item.id] = text
            else:
                log.info("headline of item %s (%s) refused: %s", item.id, language, reason)
        return result

    # --- Core Insights ----------------------------------------------------------------------

    def write_insights(
        self, briefs: Sequence[InsightBrief], budget: Budget | None = None
    ) -> list[WrittenInsight]:
        """3-5 insights across ``briefs`` in both languages, each checked against the sources
        of the stories it draws on; those that fail are left out."""
        if len(briefs) < 2:
            return []
        key = self._key("insights", sorted((b.story_id, [i.id for i in b.sources]) for b in briefs))
        if self.store and (hit := self.store.get_many([key]).get(key)):
            return [] if is_refusal(hit) else insights_from(hit)
        evidence = {b.story_id: self._evidence(b.sources) for b in briefs}
        messages: list[Message] = [
            {"role": "system", "content": self.rules.prompts["insights"]},
            {"role": "user", "content": stories_message(briefs)},
        ]
        kept: list[WrittenInsight] = []

        def check(answer: InsightsAnswer) -> str | None:
            kept.clear()
            reasons = []
            for insight in answer.insights[:5]:
                reason = self._check_insight(insight, briefs, evidence)
                if reason is None:
                    kept.append(insight_from(insight, briefs))
                else:
                    reasons.append(reason)
            return None if kept or not reasons else reasons[0]

        outcome = self._ask_checked(
            messages, InsightsAnswer, "insights", "insights", budget or self.budget(), check
        )
        self._flush_calls()
        if isinstance(outcome, str):
            self._put(key, "insights", None, "both", {"refused": outcome})
        elif outcome is not None and kept:
            payload = [{"texts": i.texts, "stories": list(i.story_ids)} for i in kept]
            self._put(key, "insights", None, "both", payload)
        return kept if outcome is not None and not isinstance(outcome, str) else []

    def _check_insight(
        self,
        insight: InsightAnswer,
        briefs: Sequence[InsightBrief],
        evidence: dict[int, dict[int, Evidence]],
    ) -> str | None:
        numbers = sorted(set(insight.stories))
        if not numbers:
            return "an insight draws on no story"
        if wrong := [n for n in numbers if not 1 <= n <= len(briefs)]:
            return f"an insight cites story {wrong[0]}, which is not given"
        chosen = [briefs[n - 1] for n in numbers]
        joined = self._joined(
            [i for b in chosen for i in b.sources],
            {k: v for b in chosen for k, v in evidence[b.story_id].items()},
        )
        for language in LANGUAGES:
            text = normalise(getattr(insight, language), language)
            if reason := self.checker.check(text, language, "insight", joined):
                return f"insight in {language}: {reason}"
        return None

    # --- asking -----------------------------------------------------------------------------

    def _ask_checked(
        self,
        messages: list[Message],
        schema: type[T],
        kind: str,
        where: str,
        budget: Budget,
        check: Callable[[T], str | None],
    ) -> T | str | None:
        """Ask; a refused answer is asked again once with the reason. The checked answer; or
        the reason of the last refusal (settled: asking again would be refused again); or
        None when the server failed or the budget is spent (worth asking next time)."""
        for attempt in (1, 2):
            if budget.spent:
                self._record(kind, "skipped", "the digest's token budget is spent")
                return None
            result = self.client.ask(messages, schema)
            budget.spend(result.tokens)
            if isinstance(result, Failure):
                self._record(kind, "failed", result.reason, result.tokens)
                log.warning("model: %s: %s (attempt %d)", where, result.reason, attempt)
                if result.transient:
                    return None  # the SDK has retried already; the extractive point will do
                retry = result.reason
            else:
                reason = check(result.value)
                if reason is None:
                    self._record(kind, "ok", None, result.tokens)
                    return result.value
                self._record(kind, "rejected", reason, result.tokens)
                log.warning("model: %s refused: %s (attempt %d)", where, reason, attempt)
                retry = reason
                messages = [*messages, {"role": "assistant", "content": result.raw}]
            prompt = self.rules.prompts["retry"].format(reason=retry)
            messages = [*messages, {"role": "user", "content": prompt}]
        return retry

    def _run(self, tasks: list[Callable[[], PointResult]]) -> list[PointResult]:
        """Run ``tasks`` ``concurrency`` at a time; those unfinished at the deadline are left
        (their threads end at the request timeout) and the digest goes on without them."""
        settings = self.client.settings
        deadline = settings.timeout * (settings.max_retries + 1) * 2
        pool = ThreadPoolExecutor(max_workers=settings.concurrency, thread_name_prefix="model")
        futures = [pool.submit(task) for task in tasks]
        results: list[PointResult] = []
        try:
            for future in as_completed(futures, timeout=deadline):
                results.append(future.result())
        except TimeoutError:
            log.warning(
                "model: %d of %d points unwritten at the deadline (%.0f s)",
                sum(not f.done() for f in futures),
                len(futures),
                deadline,
            )
        finally:
            pool.shutdown(wait=False, cancel_futures=True)
        return results

    # --- prompts, evidence, cache, calls ----------------------------------------------------

    def _point_prompt(self, language: str) -> str:
        return self.rules.prompts["point"].format(
            language=self.rules.language_names[language], limit=self.rules.limit_words[language]
        )

    def _sources_message(self, sources: Sequence[Item]) -> str:
        blocks = []
        for number, item in enumerate(sources, 1):
            name = self.rules.language_names.get(item.language, item.language)
            blocks.append(f"[{number}] ({name}, {item.outlet})\n{source_text(item, self.rules)}")
        return "Sources:\n\n" + "\n\n".join(blocks)

    def _evidence(self, sources: Sequence[Item]) -> dict[int, Evidence]:
        return {i.id: self.checker.evidence([source_text(i, self.rules)]) for i in sources}

    def _joined(self, items: Sequence[Item], evidence: dict[int, Evidence]) -> Evidence:
        return self.checker.join([evidence[i.id] for i in items])

    def _point_key(self, brief: StoryBrief, language: str) -> str:
        return self._key("point", brief.story_id, [i.id for i in brief.sources], language)

    def _key(self, *parts: object) -> str:
        data = json.dumps([*parts, self.model, self.rules.version], ensure_ascii=False)
        return hashlib.sha256(data.encode()).hexdigest()

    def _cache(self, key: str, kind: str, point: WrittenPoint) -> None:
        payload = {
            "text": point.text,
            "item_ids": list(point.item_ids),
            "headlines": {str(k): v for k, v in point.headlines.items()},
        }
        self._put(key, kind, point.story_id, point.language, payload)

    def _put(
        self, key: str, kind: str, story_id: int | None, language: str, payload: object
    ) -> None:
        if self.store:
            text = json.dumps(payload, ensure_ascii=False)
            self.store.put(Writing(key, kind, story_id, language, self.model, text, self.clock()))

    def _record(self, kind: str, outcome: str, reason: str | None, tokens: int = 0) -> None:
        call = ModelCall(self.clock(), kind, outcome, reason, tokens)
        with self._lock:
            self._calls.append(call)
        if self.on_call:
            self.on_call(call)

    def _flush_calls(self) -> None:
        with self._lock:
            calls, self._calls = self._calls, []
        if self.store and calls:
            self.store.record_calls(calls)
