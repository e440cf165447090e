"""What a language model wrote, and its calls: a cache keyed by what the text depends on, and
a log of calls and their outcomes (``/stats`` reads it on whichever process answers)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.dialects import postgresql, sqlite

from storage.engine import SessionSource
from storage.tables import ModelCallRow, WritingRow
from storage.types import ModelCall, Writing


class WritingRepository:
    def __init__(self, store: SessionSource) -> None:
        self._store = store

    def get_many(self, keys: Iterable[str]) -> dict[str, Writing]:
        wanted = sorted(set(keys))
        if not wanted:
            return {}
        with self._store.session() as session:
            rows = session.scalars(select(WritingRow).where(WritingRow.key.in_(wanted)))
            return {
                r.key: Writing(
                    r.key, r.kind, r.story_id, r.language, r.model, r.payload, r.created_at
                )
                for r in rows
            }

    def put(self, writing: Writing) -> None:
        """Keep ``writing``; another process that wrote the same key first wins (same text
        or not, both were checked)."""
        dialect = postgresql if self._store.engine.dialect.name == "postgresql" else sqlite
        statement = dialect.insert(WritingRow).on_conflict_do_nothing()
        with self._store.session() as session:
            session.execute(
                statement,
                [
                    {
                        "key": writing.key,
                        "kind": writing.kind,
                        "story_id": writing.story_id,
                        "language": writing.language,
                        "model": writing.model,
                        "payload": writing.payload,
                        "created_at": writing.created_at,
                    }
                ],
            )

    def record_calls(self, calls: Iterable[ModelCall]) -> None:
        rows = [
            ModelCallRow(
                created_at=c.created_at,
                kind=c.kind,
                outcome=c.outcome,
                reason=c.reason[:500] if c.reason else None,
                tokens=c.tokens,
            )
            for c in calls
        ]
        if rows:
            with self._store.session() as session:
                session.add_all(rows)

    def call_counts(self, since: datetime) -> Counter[str]:
        """Calls by outcome since ``since``."""
        query = (
            select(ModelCallRow.outcome, func.count())
            .where(ModelCallRow.created_at >= since)
            .group_by(ModelCallRow.outcome)
        )
        with self._store.session() as session:
            return Counter({outcome: count for outcome, count in session.execute(query)})
