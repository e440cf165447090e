"""Counts over the stored items: per source, per company, over a period (for /stats,
/sources, the demo's summary)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import case, func, select

from storage.engine import SessionSource
from storage.tables import ItemCompanyRow, ItemRow, SourceRow


class ItemCounts:
    _store: SessionSource

    def activity_by_source(self, since: datetime) -> dict[int, tuple[int, int]]:
        """Per source: (items, relevant items) stored since ``since``."""
        query = (
            select(
                ItemRow.source_id,
                func.count(ItemRow.id),
                func.count(ItemRow.id).filter(ItemRow.relevant.is_(True)),
            )
            .where(ItemRow.fetched_at >= since, ItemRow.source_id.is_not(None))
            .group_by(ItemRow.source_id)
        )
        with self._store.session() as session:
            rows = session.execute(query)
            return {sid: (int(n), int(r)) for sid, n, r in rows if sid is not None}

    def count_for_source(self, source_id: int) -> int:
        query = select(func.count(ItemRow.id)).where(ItemRow.source_id == source_id)
        with self._store.session() as session:
            return session.scalar(query) or 0

    def stored_since(self, since: datetime) -> tuple[int, int]:
        """(items, relevant items) stored since ``since``."""
        query = select(
            func.count(ItemRow.id), func.count(ItemRow.id).filter(ItemRow.relevant.is_(True))
        ).where(ItemRow.fetched_at >= since)
        with self._store.session() as session:
            total, relevant = session.execute(query).one()
            return int(total or 0), int(relevant or 0)

    def counts_by_source(self) -> list[tuple[str, int, int]]:
        """(outlet or source URL, items, relevant items) per source."""
        label = func.coalesce(SourceRow.title, SourceRow.url, ItemRow.outlet)
        query = (
            select(
                label,
                func.count(ItemRow.id),
                func.sum(case((ItemRow.relevant.is_(True), 1), else_=0)),
            )
            .select_from(ItemRow)
            .outerjoin(SourceRow, SourceRow.id == ItemRow.source_id)
            .group_by(label)
            .order_by(func.count(ItemRow.id).desc())
        )
        with self._store.session() as session:
            return [(name, n, int(r or 0)) for name, n, r in session.execute(query)]

    def counts_by_company(self) -> list[tuple[str, int]]:
        query = (
            select(ItemCompanyRow.company_id, func.count(ItemCompanyRow.item_id))
            .group_by(ItemCompanyRow.company_id)
            .order_by(func.count(ItemCompanyRow.item_id).desc(), ItemCompanyRow.company_id)
        )
        with self._store.session() as session:
            return [(c, n) for c, n in session.execute(query)]

    def co_mentioned(
        self, company: str, since: datetime, limit: int = 5, reports: int = 300
    ) -> list[tuple[str, int]]:
        """The companies most often named in the same items as ``company`` — over its latest
        ``reports`` items since ``since`` (a bound: a busy company's card stays fast)."""
        latest = (
            select(ItemCompanyRow.item_id)
            .where(ItemCompanyRow.company_id == company, ItemCompanyRow.published_at >= since)
            .order_by(ItemCompanyRow.published_at.desc())
            .limit(reports)
            .scalar_subquery()
        )
        count = func.count(ItemCompanyRow.item_id)
        query = (
            select(ItemCompanyRow.company_id, count)
            .where(ItemCompanyRow.item_id.in_(latest), ItemCompanyRow.company_id != company)
            .group_by(ItemCompanyRow.company_id)
            .order_by(count.desc(), ItemCompanyRow.company_id)
            .limit(limit)
        )
        with self._store.session() as session:
            return [(c, int(n)) for c, n in session.execute(query)]
