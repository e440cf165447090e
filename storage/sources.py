"""Source repository: the feeds we poll and their health (ETag, errors, next check)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, or_, select

from storage.engine import SessionSource
from storage.tables import SourceRow
from storage.types import Source

TITLE_CHARS = 512


def _to_source(row: SourceRow) -> Source:
    return Source(
        id=row.id,
        url=row.url,
        title=row.title,
        enabled=row.enabled,
        etag=row.etag,
        last_modified=row.last_modified,
        error_count=row.error_count,
        last_error=row.last_error,
        last_status=row.last_status,
        next_check_at=row.next_check_at,
        last_fetched_at=row.last_fetched_at,
        created_at=row.created_at,
        last_success_at=row.last_success_at,
    )


class SourceRepository:
    def __init__(self, store: SessionSource) -> None:
        self._store = store

    def add(
        self, url: str, now: datetime, title: str | None = None, *, enabled: bool = True
    ) -> tuple[Source, bool]:
        """Add ``url`` unless present; returns the source and whether it was created
        (``enabled=False``: added, awaiting an admin's confirmation)."""
        with self._store.session() as session:
            row = session.scalar(select(SourceRow).where(SourceRow.url == url))
            if row is not None:
                return _to_source(row), False
            title = title[:TITLE_CHARS] if title else None  # the column's size, whatever came in
            row = SourceRow(url=url, title=title, enabled=enabled, error_count=0, created_at=now)
            session.add(row)
            session.flush()
            return _to_source(row), True

    def get(self, source_id: int) -> Source | None:
        with self._store.session() as session:
            row = session.get(SourceRow, source_id)
            return None if row is None else _to_source(row)

    def all(self) -> list[Source]:
        with self._store.session() as session:
            rows = session.scalars(select(SourceRow).order_by(SourceRow.id))
            return [_to_source(row) for row in rows]

    def due(self, now: datetime) -> list[Source]:
        """Enabled sources whose backoff has run out."""
        query = (
            select(SourceRow)
            .where(SourceRow.enabled.is_(True))
            .where(or_(SourceRow.next_check_at.is_(None), SourceRow.next_check_at <= now))
            .order_by(SourceRow.id)
        )
        with self._store.session() as session:
            return [_to_source(row) for row in session.scalars(query)]

    def remove(self, source_id: int) -> bool:
        with self._store.session() as session:
            result = session.execute(delete(SourceRow).where(SourceRow.id == source_id))
            return bool(result.rowcount)  # type: ignore[attr-defined]

    def record_success(
        self,
        source_id: int,
        *,
        now: datetime,
        status: str,
        etag: str | None,
        last_modified: str | None,
        title: str | None,
        next_check_at: datetime | None,
        warning: str | None = None,
    ) -> None:
        """A fetch that worked: errors reset; a parse warning (bozo) is kept as last_error."""
        with self._store.session() as session:
            row = session.get(SourceRow, source_id)
            if row is None:
                return
            row.error_count = 0
            row.last_error = warning
            row.last_status = status
            row.last_fetched_at = now
            row.last_success_at = now
            row.next_check_at = next_check_at
            row.etag = etag or row.etag
            row.last_modified = last_modified or row.last_modified
            if title and not row.title:
                row.title = title[:TITLE_CHARS]

    def record_failure(
        self,
        source_id: int,
        *,
        now: datetime,
        status: str,
        error: str,
        next_check_at: datetime,
        max_errors: int,
    ) -> Source | None:
        """Count a failure; past ``max_errors`` consecutive ones the source is disabled."""
        with self._store.session() as session:
            row = session.get(SourceRow, source_id)
            if row is None:
                return None
            row.error_count += 1
            row.last_error = error
            row.last_status = status
            row.last_fetched_at = now
            row.next_check_at = next_check_at
            if row.error_count >= max_errors:
                row.enabled = False
            return _to_source(row)

    def set_enabled(self, source_id: int, enabled: bool) -> Source | None:
        """Enable (an admin's re-enable clears the error count and backoff) or disable."""
        with self._store.session() as session:
            row = session.get(SourceRow, source_id)
            if row is None:
                return None
            row.enabled = enabled
            if enabled:
                row.error_count = 0
                row.next_check_at = None
            return _to_source(row)
