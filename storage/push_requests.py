"""Admin push requests: a preview waiting for Approve / Cancel, decided once on any process."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select, update

from storage.engine import SessionSource
from storage.tables import PushRequestRow
from storage.types import PushRequest


class PushRequestRepository:
    """Admins' /push previews awaiting a decision."""

    def __init__(self, store: SessionSource) -> None:
        self._store = store

    def add(self, request: PushRequest) -> None:
        with self._store.session() as session:
            session.add(
                PushRequestRow(
                    token=request.token,
                    edition=request.edition,
                    admin_id=request.admin_id,
                    structure=request.structure,
                    created_at=request.created_at,
                )
            )

    def decide(self, token: str, decision: str, now: datetime) -> PushRequest | None:
        """Record ``decision`` if nobody decided before; the request, or None if it was
        already decided (a double tap, or another process) or never existed."""
        claim = (
            update(PushRequestRow)
            .where(PushRequestRow.token == token, PushRequestRow.decision.is_(None))
            .values(decision=decision, decided_at=now)
        )
        with self._store.session() as session:
            if session.execute(claim).rowcount != 1:  # type: ignore[attr-defined]
                return None
            row = session.get(PushRequestRow, token)
            assert row is not None
            return _request(row)

    def attach_digest(self, token: str, digest_id: int) -> None:
        """The digest an approved push was saved as (its deliveries tell how it went)."""
        with self._store.session() as session:
            session.execute(
                update(PushRequestRow)
                .where(PushRequestRow.token == token)
                .values(digest_id=digest_id)
            )

    def claim_report(self, digest_id: int, now: datetime) -> PushRequest | None:
        """The approved push of ``digest_id`` whose admin has not been told yet, claimed once
        (whichever process finishes the deliveries reports)."""
        with self._store.session() as session:
            token = session.scalar(
                select(PushRequestRow.token).where(
                    PushRequestRow.digest_id == digest_id, PushRequestRow.reported_at.is_(None)
                )
            )
            if token is None:
                return None
            claim = (
                update(PushRequestRow)
                .where(PushRequestRow.token == token, PushRequestRow.reported_at.is_(None))
                .values(reported_at=now)
            )
            if session.execute(claim).rowcount != 1:  # type: ignore[attr-defined]
                return None
            row = session.get(PushRequestRow, token)
            assert row is not None
            return _request(row)

    def count_pending(self) -> int:
        query = select(PushRequestRow.token).where(PushRequestRow.decision.is_(None))
        with self._store.session() as session:
            return len(list(session.scalars(query)))


def _request(row: PushRequestRow) -> PushRequest:
    return PushRequest(
        row.token,
        row.edition,
        row.admin_id,
        row.structure,
        row.created_at,
        row.decided_at,
        row.digest_id,
    )
