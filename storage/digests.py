"""Digest repository: saved digests, their windows and the items they used."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import insert, select

from storage.engine import SessionSource
from storage.tables import DigestItemRow, DigestRow
from storage.types import DigestRecord


class DigestRepository:
    def __init__(self, store: SessionSource) -> None:
        self._store = store

    def save(
        self,
        *,
        edition: str,
        created_at: datetime,
        after_item_id: int,
        last_item_id: int,
        since: datetime | None,
        language: str,
        structure: str,
        item_ids: Sequence[int],
    ) -> int:
        with self._store.session() as session:
            row = DigestRow(
                edition=edition,
                created_at=created_at,
                after_item_id=after_item_id,
                last_item_id=last_item_id,
                since=since,
                language=language,
                structure=structure,
            )
            session.add(row)
            session.flush()
            if item_ids:
                session.execute(
                    insert(DigestItemRow),
                    [{"digest_id": row.id, "item_id": i} for i in sorted(set(item_ids))],
                )
            return row.id

    def latest(self, edition: str | None = None) -> DigestRecord | None:
        """The newest saved digest (of ``edition`` when given)."""
        query = select(DigestRow).order_by(DigestRow.id.desc()).limit(1)
        if edition is not None:
            query = query.where(DigestRow.edition == edition)
        with self._store.session() as session:
            row = session.scalar(query)
            return None if row is None else self._record(session, row)

    def get(self, digest_id: int) -> DigestRecord | None:
        with self._store.session() as session:
            row = session.get(DigestRow, digest_id)
            return None if row is None else self._record(session, row)

    @staticmethod
    def _record(session, row: DigestRow) -> DigestRecord:  # type: ignore[no-untyped-def]
        item_ids = session.scalars(
            select(DigestItemRow.item_id)
            .where(DigestItemRow.digest_id == row.id)
            .order_by(DigestItemRow.item_id)
        )
        return DigestRecord(
            id=row.id,
            edition=row.edition,
            created_at=row.created_at,
            after_item_id=row.after_item_id,
            last_item_id=row.last_item_id,
            since=row.since,
            language=row.language,
            structure=row.structure,
            item_ids=tuple(item_ids),
        )
