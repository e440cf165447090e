"""Chats, subscriptions and deliveries."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import delete, func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from storage.tables import (
    AlertRow,
    Base,
    ChatRow,
    DeliveryRow,
    DigestRow,
    FollowRow,
    SubscriptionRow,
)
from storage.types import Chat, Delivery

if TYPE_CHECKING:
    from storage.db import Database


def _editions(session: Session, chat_pk: int) -> tuple[str, ...]:
    rows = session.scalars(
        select(SubscriptionRow.edition)
        .where(SubscriptionRow.chat_pk == chat_pk)
        .order_by(SubscriptionRow.edition)
    )
    return tuple(rows)


def _to_chat(row: ChatRow, editions: tuple[str, ...] = ()) -> Chat:
    return Chat(
        row.id, row.chat_id, row.kind, row.title, row.language, row.timezone, row.active, editions
    )


class ChatRepository:
    def __init__(self, db: Database) -> None:
        self._db = db

    def upsert(self, chat_id: int, kind: str, title: str | None, now: datetime) -> Chat:
        """Register a chat, or mark a known one active again (a user who came back)."""
        with self._db.session() as session:
            row = session.scalar(select(ChatRow).where(ChatRow.chat_id == chat_id))
            if row is None:
                row = ChatRow(
                    chat_id=chat_id,
                    kind=kind,
                    title=title,
                    language="zh",
                    timezone="Asia/Shanghai",
                    active=True,
                    created_at=now,
                    updated_at=now,
                )
                session.add(row)
                session.flush()
            else:
                row.active, row.title, row.updated_at = True, title or row.title, now
            return _to_chat(row, _editions(session, row.id))

    def everyone(self) -> list[Chat]:
        """Every chat, active or not, with its editions (for an export)."""
        with self._db.session() as session:
            rows = list(session.scalars(select(ChatRow).order_by(ChatRow.id)))
            return [_to_chat(row, _editions(session, row.id)) for row in rows]

    def get(self, chat_id: int) -> Chat | None:
        with self._db.session() as session:
            row = session.scalar(select(ChatRow).where(ChatRow.chat_id == chat_id))
            return None if row is None else _to_chat(row, _editions(session, row.id))

    def subscribe(self, chat_pk: int, editions: Iterable[str]) -> None:
        with self._db.session() as session:
            known = set(_editions(session, chat_pk))
            session.add_all(
                SubscriptionRow(chat_pk=chat_pk, edition=e) for e in sorted(set(editions) - known)
            )

    def unsubscribe(self, chat_pk: int, editions: Iterable[str] | None = None) -> None:
        query = delete(SubscriptionRow).where(SubscriptionRow.chat_pk == chat_pk)
        if editions is not None:
            query = query.where(SubscriptionRow.edition.in_(list(editions)))
        with self._db.session() as session:
            session.execute(query)

    def subscribers(self, edition: str, timezone: str | None = None) -> list[Chat]:
        """Active chats subscribed to ``edition`` (in ``timezone`` when given)."""
        query = (
            select(ChatRow)
            .join(SubscriptionRow, SubscriptionRow.chat_pk == ChatRow.id)
            .where(SubscriptionRow.edition == edition, ChatRow.active.is_(True))
            .order_by(ChatRow.id)
        )
        if timezone is not None:
            query = query.where(ChatRow.timezone == timezone)
        with self._db.session() as session:
            return [_to_chat(row) for row in session.scalars(query)]

    def timezones(self, edition: str) -> set[str]:
        """The time zones of the active chats subscribed to ``edition``."""
        query = (
            select(ChatRow.timezone)
            .join(SubscriptionRow, SubscriptionRow.chat_pk == ChatRow.id)
            .where(SubscriptionRow.edition == edition, ChatRow.active.is_(True))
            .distinct()
        )
        with self._db.session() as session:
            return set(session.scalars(query))

    def configure(
        self,
        chat_pk: int,
        now: datetime,
        *,
        language: str | None = None,
        timezone: str | None = None,
    ) -> Chat | None:
        with self._db.session() as session:
            row = session.get(ChatRow, chat_pk)
            if row is None:
                return None
            row.language = language or row.language
            row.timezone = timezone or row.timezone
            row.updated_at = now
            return _to_chat(row, _editions(session, row.id))

    def deactivate(self, chat_pk: int, now: datetime) -> None:
        with self._db.session() as session:
            row = session.get(ChatRow, chat_pk)
            if row is not None:
                row.active, row.updated_at = False, now

    def migrate(self, chat_pk: int, new_chat_id: int, now: datetime) -> Chat | None:
        """A group became a supergroup: Telegram gave it a new id."""
        with self._db.session() as session:
            row = session.get(ChatRow, chat_pk)
            if row is None:
                return None
            row.chat_id, row.kind, row.updated_at = new_chat_id, "supergroup", now
            return _to_chat(row)

    def counts(self) -> dict[str, int]:
        with self._db.session() as session:
            rows = session.execute(select(ChatRow.kind, ChatRow.active))
            counts = Counter(kind if active else "inactive" for kind, active in rows)
        return dict(counts)


class DeliveryRepository:
    def __init__(self, db: Database) -> None:
        self._db = db

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
        dialect = postgresql if self._db.engine.dialect.name == "postgresql" else sqlite
        with self._db.session() as session:
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
        with self._db.session() as session:
            return list(session.scalars(query))

    def pending(self, digest_id: int) -> list[Delivery]:
        query = (
            select(DeliveryRow, ChatRow)
            .join(ChatRow, ChatRow.id == DeliveryRow.chat_pk)
            .where(DeliveryRow.digest_id == digest_id, DeliveryRow.status == "pending")
            .order_by(DeliveryRow.id)
        )
        with self._db.session() as session:
            return [
                Delivery(
                    d.id, d.digest_id, _to_chat(c), d.status, d.parts_sent, d.attempts, d.last_error
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
        with self._db.session() as session:
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

    def counts(self, digest_id: int | None = None) -> dict[str, int]:
        query = select(DeliveryRow.status, func.count()).group_by(DeliveryRow.status)
        if digest_id is not None:
            query = query.where(DeliveryRow.digest_id == digest_id)
        with self._db.session() as session:
            return {status: count for status, count in session.execute(query)}


class FollowRepository:
    def __init__(self, db: Database) -> None:
        self._db = db

    def follow(self, chat_pk: int, company_id: str, last_item_id: int) -> bool:
        """Follow from now on (items after ``last_item_id``); False if already followed."""
        with self._db.session() as session:
            if session.get(FollowRow, (chat_pk, company_id)) is not None:
                return False
            session.add(
                FollowRow(chat_pk=chat_pk, company_id=company_id, last_item_id=last_item_id)
            )
            return True

    def unfollow(self, chat_pk: int, company_id: str) -> bool:
        with self._db.session() as session:
            result = session.execute(
                delete(FollowRow).where(
                    FollowRow.chat_pk == chat_pk, FollowRow.company_id == company_id
                )
            )
            return bool(result.rowcount)  # type: ignore[attr-defined]

    def following(self, chat_pk: int) -> list[str]:
        with self._db.session() as session:
            return list(
                session.scalars(
                    select(FollowRow.company_id)
                    .where(FollowRow.chat_pk == chat_pk)
                    .order_by(FollowRow.company_id)
                )
            )

    def all(self) -> list[tuple[Chat, str, int]]:
        """(chat, company, last alerted item) for every follow of an active chat."""
        query = (
            select(ChatRow, FollowRow.company_id, FollowRow.last_item_id)
            .join(FollowRow, FollowRow.chat_pk == ChatRow.id)
            .where(ChatRow.active.is_(True))
            .order_by(ChatRow.id, FollowRow.company_id)
        )
        with self._db.session() as session:
            return [(_to_chat(c), company, last) for c, company, last in session.execute(query)]

    def advance(self, chat_pk: int, company_id: str, last_item_id: int) -> None:
        with self._db.session() as session:
            row = session.get(FollowRow, (chat_pk, company_id))
            if row is not None and last_item_id > row.last_item_id:
                row.last_item_id = last_item_id

    def record_alert(self, chat_pk: int, sent_at: datetime, items: int) -> None:
        with self._db.session() as session:
            session.add(AlertRow(chat_pk=chat_pk, sent_at=sent_at, items=items))

    def alerts_since(self, chat_pk: int, since: datetime) -> int:
        with self._db.session() as session:
            return len(
                list(
                    session.scalars(
                        select(AlertRow.id).where(
                            AlertRow.chat_pk == chat_pk, AlertRow.sent_at >= since
                        )
                    )
                )
            )
