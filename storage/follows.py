"""Follows: which chat wants alerts about which company, and the alert watermark."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, select

from storage.chats import to_chat
from storage.engine import SessionSource
from storage.tables import (
    AlertRow,
    ChatRow,
    FollowRow,
)
from storage.types import Chat


class FollowRepository:
    def __init__(self, store: SessionSource) -> None:
        self._store = store

    def follow(self, chat_pk: int, company_id: str, last_item_id: int) -> bool:
        """Follow from now on (items after ``last_item_id``); False if already followed."""
        with self._store.session() as session:
            if session.get(FollowRow, (chat_pk, company_id)) is not None:
                return False
            session.add(
                FollowRow(chat_pk=chat_pk, company_id=company_id, last_item_id=last_item_id)
            )
            return True

    def unfollow(self, chat_pk: int, company_id: str) -> bool:
        with self._store.session() as session:
            result = session.execute(
                delete(FollowRow).where(
                    FollowRow.chat_pk == chat_pk, FollowRow.company_id == company_id
                )
            )
            return bool(result.rowcount)  # type: ignore[attr-defined]

    def following(self, chat_pk: int) -> list[str]:
        with self._store.session() as session:
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
        with self._store.session() as session:
            return [(to_chat(c), company, last) for c, company, last in session.execute(query)]

    def advance(self, chat_pk: int, company_id: str, last_item_id: int) -> None:
        with self._store.session() as session:
            row = session.get(FollowRow, (chat_pk, company_id))
            if row is not None and last_item_id > row.last_item_id:
                row.last_item_id = last_item_id

    def record_alert(self, chat_pk: int, sent_at: datetime, items: int) -> None:
        with self._store.session() as session:
            session.add(AlertRow(chat_pk=chat_pk, sent_at=sent_at, items=items))

    def alerts_since(self, chat_pk: int, since: datetime) -> int:
        with self._store.session() as session:
            return len(
                list(
                    session.scalars(
                        select(AlertRow.id).where(
                            AlertRow.chat_pk == chat_pk, AlertRow.sent_at >= since
                        )
                    )
                )
            )
