"""Deliveries: one row per (digest, chat, part), so a restart neither skips nor repeats."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import func, select, update
from sqlalchemy.dialects import postgresql, sqlite

from storage.chats import to_chat
from storage.engine import SessionSource
from storage.tables import (
    Base,
    ChatRow,
    DeliveryRow,
    DigestRow,
)
from storage.types import Chat, Delivery


class DeliveryRepository:
    def __init__(self, store: SessionSource) -> None:
        self._store = store

    def enqueue(self, digest_id: int, chats: Iterable[Chat], now: datetime) -> int:
        """A pending delivery for each chat that has none for this digest yet."""
        rows = [
            {
                "digest_id": digest_id,
                "chat_pk": c.id,
                "status": "pending",
                "parts_sent": 0,
                "attempts": 0,
                "updated_at": now,
            }
            for c in chats
        ]
        if not rows:
            return 0
        dialect = postgresql if self._store.engine.dialect.name == "postgresql" else sqlite
        with self._store.session() as session:
            table = Base.metadata.tables["deliveries"]
            statement = dialect.insert(table).on_conflict_do_nothing()
            return int(session.connection().execute(statement, rows).rowcount or 0)

    def digests_with_pending(self, created_since: datetime) -> list[int]:
        """Digests created since then that still have deliveries waiting, oldest first."""
        query = (
            select(DeliveryRow.digest_id)
            .join(DigestRow, DigestRow.id == DeliveryRow.digest_id)
            .where(DeliveryRow.status == "pending", DigestRow.created_at >= created_since)
            .distinct()
            .order_by(DeliveryRow.digest_id)
        )
        with self._store.session() as session:
            return list(session.scalars(query))

    def pending(self, digest_id: int) -> list[Delivery]:
        query = (
            select(DeliveryRow, ChatRow)
            .join(ChatRow, ChatRow.id == DeliveryRow.chat_pk)
            .where(DeliveryRow.digest_id == digest_id, DeliveryRow.status == "pending")
            .order_by(DeliveryRow.id)
        )
        with self._store.session() as session:
            return [
                Delivery(
                    d.id,
                    d.digest_id,
                    to_chat(c),
                    d.status,
                    d.parts_sent,
                    d.attempts,
                    d.last_error,
                    d.updated_at,
                )
                for d, c in session.execute(query)
            ]

    def update(
        self,
        delivery_id: int,
        now: datetime,
        *,
        status: str | None = None,
        parts_sent: int | None = None,
        error: str | None = None,
        attempted: bool = False,
    ) -> None:
        with self._store.session() as session:
            row = session.get(DeliveryRow, delivery_id)
            if row is None:
                return
            if status is not None:
                row.status = status
            if parts_sent is not None:
                row.parts_sent = parts_sent
            if error is not None:
                row.last_error = error
            if attempted:
                row.attempts += 1
            row.updated_at = now

    def supersede(self, digest_id: int, now: datetime) -> int:
        """Deliveries of earlier digests of the same edition still pending for the chats this
        digest goes to are given up: a reader gets the new edition, not two at once."""
        with self._store.session() as session:
            digest = session.get(DigestRow, digest_id)
            if digest is None:
                return 0
            chats = select(DeliveryRow.chat_pk).where(DeliveryRow.digest_id == digest_id)
            earlier = select(DigestRow.id).where(
                DigestRow.edition == digest.edition, DigestRow.id < digest_id
            )
            result = session.execute(
                update(DeliveryRow)
                .where(
                    DeliveryRow.status == "pending",
                    DeliveryRow.chat_pk.in_(chats),
                    DeliveryRow.digest_id.in_(earlier),
                )
                .values(
                    status="failed",
                    last_error=f"superseded by digest {digest_id} of the same edition",
                    updated_at=now,
                )
                .execution_options(synchronize_session=False)
            )
            return int(getattr(result, "rowcount", 0) or 0)

    def expire(self, created_before: datetime, now: datetime) -> int:
        """Pending deliveries of digests older than the retry window are given up."""
        old = select(DigestRow.id).where(DigestRow.created_at < created_before)
        with self._store.session() as session:
            result = session.execute(
                update(DeliveryRow)
                .where(DeliveryRow.status == "pending", DeliveryRow.digest_id.in_(old))
                .values(
                    status="failed",
                    last_error="gave up: still failing after the retry window",
                    updated_at=now,
                )
                .execution_options(synchronize_session=False)
            )
            return int(getattr(result, "rowcount", 0) or 0)

    def fail_pending(self, digest_id: int, reason: str, now: datetime) -> int:
        """Every pending delivery of a digest that cannot be sent becomes ``failed`` with
        ``reason`` (admins see it), so it no longer holds up the queue."""
        with self._store.session() as session:
            result = session.execute(
                update(DeliveryRow)
                .where(DeliveryRow.digest_id == digest_id, DeliveryRow.status == "pending")
                .values(status="failed", last_error=reason[:2000], updated_at=now)
            )
            return int(getattr(result, "rowcount", 0) or 0)

    def counts(self, digest_id: int | None = None) -> dict[str, int]:
        query = select(DeliveryRow.status, func.count()).group_by(DeliveryRow.status)
        if digest_id is not None:
            query = query.where(DeliveryRow.digest_id == digest_id)
        with self._store.session() as session:
            return {status: count for status, count in session.execute(query)}
