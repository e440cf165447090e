"""Chats and their subscriptions."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from storage.engine import SessionSource
from storage.tables import AlertRow, ChatRow, DeliveryRow, FollowRow, SubscriptionRow
from storage.types import Chat

TITLE_CHARS = 256


def _editions(session: Session, chat_pk: int) -> tuple[str, ...]:
    rows = session.scalars(
        select(SubscriptionRow.edition)
        .where(SubscriptionRow.chat_pk == chat_pk)
        .order_by(SubscriptionRow.edition)
    )
    return tuple(rows)


def to_chat(row: ChatRow, editions: tuple[str, ...] = ()) -> Chat:
    return Chat(
        row.id, row.chat_id, row.kind, row.title, row.language, row.timezone, row.active, editions
    )


class ChatRepository:
    def __init__(self, store: SessionSource) -> None:
        self._store = store

    def upsert(
        self,
        chat_id: int,
        kind: str,
        title: str | None,
        now: datetime,
        *,
        language: str = "zh",
        timezone: str = "Asia/Shanghai",
    ) -> Chat:
        """Register a chat with ``language`` and ``timezone``, or mark a known one active again
        (a user who came back keeps their settings)."""
        title = title[:TITLE_CHARS] if title else None  # the column's size, whatever came in
        with self._store.session() as session:
            row = session.scalar(select(ChatRow).where(ChatRow.chat_id == chat_id))
            if row is None:
                row = ChatRow(
                    chat_id=chat_id,
                    kind=kind,
                    title=title,
                    language=language,
                    timezone=timezone,
                    active=True,
                    created_at=now,
                    updated_at=now,
                )
                session.add(row)
                session.flush()
            else:
                row.active, row.title, row.updated_at = True, title or row.title, now
            return to_chat(row, _editions(session, row.id))

    def everyone(self) -> list[Chat]:
        """Every chat, active or not, with its editions (for an export)."""
        with self._store.session() as session:
            rows = list(session.scalars(select(ChatRow).order_by(ChatRow.id)))
            return [to_chat(row, _editions(session, row.id)) for row in rows]

    def get(self, chat_id: int) -> Chat | None:
        with self._store.session() as session:
            row = session.scalar(select(ChatRow).where(ChatRow.chat_id == chat_id))
            return None if row is None else to_chat(row, _editions(session, row.id))

    def subscribe(self, chat_pk: int, editions: Iterable[str]) -> None:
        with self._store.session() as session:
            known = set(_editions(session, chat_pk))
            session.add_all(
                SubscriptionRow(chat_pk=chat_pk, edition=e) for e in sorted(set(editions) - known)
            )

    def unsubscribe(self, chat_pk: int, editions: Iterable[str] | None = None) -> None:
        query = delete(SubscriptionRow).where(SubscriptionRow.chat_pk == chat_pk)
        if editions is not None:
            query = query.where(SubscriptionRow.edition.in_(list(editions)))
        with self._store.session() as session:
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
        with self._store.session() as session:
            return [to_chat(row) for row in session.scalars(query)]

    def timezones(self, edition: str) -> set[str]:
        """The time zones of the active chats subscribed to ``edition``."""
        query = (
            select(ChatRow.timezone)
            .join(SubscriptionRow, SubscriptionRow.chat_pk == ChatRow.id)
            .where(SubscriptionRow.edition == edition, ChatRow.active.is_(True))
            .distinct()
        )
        with self._store.session() as session:
            return set(session.scalars(query))

    def configure(
        self,
        chat_pk: int,
        now: datetime,
        *,
        language: str | None = None,
        timezone: str | None = None,
    ) -> Chat | None:
        with self._store.session() as session:
            row = session.get(ChatRow, chat_pk)
            if row is None:
                return None
            row.language = language or row.language
            row.timezone = timezone or row.timezone
            row.updated_at = now
            return to_chat(row, _editions(session, row.id))

    def deactivate(self, chat_pk: int, now: datetime) -> None:
        with self._store.session() as session:
            row = session.get(ChatRow, chat_pk)
            if row is not None:
                row.active, row.updated_at = False, now

    def migrate(self, chat_pk: int, new_chat_id: int, now: datetime) -> Chat | None:
        """A group became a supergroup: Telegram gave it a new id. When the supergroup is
        already known (someone used the bot there first), the two become one chat: this row,
        so deliveries in flight stay valid, with the union of both chats' subscriptions,
        follows, alerts and deliveries; the group's own settings are kept."""
        with self._store.session() as session:
            row = session.get(ChatRow, chat_pk)
            if row is None:
                return None
            other = session.scalar(
                select(ChatRow).where(ChatRow.chat_id == new_chat_id, ChatRow.id != chat_pk)
            )
            if other is not None:
                _merge_into(session, row.id, other.id)
                row.title = other.title or row.title
                session.delete(other)
                session.flush()  # the unique chat_id is free before this row takes it
            row.chat_id, row.kind, row.active, row.updated_at = new_chat_id, "supergroup", True, now
            return to_chat(row, _editions(session, row.id))

    def counts(self) -> dict[str, int]:
        with self._store.session() as session:
            rows = session.execute(select(ChatRow.kind, ChatRow.active))
            counts = Counter(kind if active else "inactive" for kind, active in rows)
        return dict(counts)


def _merge_into(session: Session, keep: int, gone: int) -> None:
    """Move what chat ``gone`` has and chat ``keep`` lacks over to ``keep``."""
    kept = set(_editions(session, keep))
    for edition in _editions(session, gone):
        if edition not in kept:
            session.add(SubscriptionRow(chat_pk=keep, edition=edition))
    follows = {
        f.company_id: f for f in session.scalars(select(FollowRow).where(FollowRow.chat_pk == keep))
    }
    for follow in session.scalars(select(FollowRow).where(FollowRow.chat_pk == gone)):
        mine = follows.get(follow.company_id)
        if mine is None:
            session.add(
                FollowRow(
                    chat_pk=keep, company_id=follow.company_id, last_item_id=follow.last_item_id
                )
            )
        else:  # alerted up to the later of the two: nothing is alerted twice
            mine.last_item_id = max(mine.last_item_id, follow.last_item_id)
    delivered = set(
        session.scalars(select(DeliveryRow.digest_id).where(DeliveryRow.chat_pk == keep))
    )
    session.execute(
        update(DeliveryRow)
        .where(DeliveryRow.chat_pk == gone, DeliveryRow.digest_id.not_in(delivered or {-1}))
        .values(chat_pk=keep)
    )
    session.execute(update(AlertRow).where(AlertRow.chat_pk == gone).values(chat_pk=keep))
    session.flush()
