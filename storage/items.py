"""Item repository: exact de-duplication by unique keys, stories, and item queries."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from functools import cached_property
from typing import Any

from sqlalchemy import func, literal, or_, select, text
from sqlalchemy.orm import Session

from storage.engine import SessionSource
from storage.item_counts import ItemCounts
from storage.item_writer import ItemWriter, Statements
from storage.tables import ItemCompanyRow, ItemRow, SourceRow
from storage.types import (
    Item,
    NewItem,
    StoredItemRef,
    StoredSignature,
    decode_tokens,
)


def _search_words(alternative: str) -> list[str]:
    """The words of one alternative, without the quotes that would break a query."""
    return [w for w in alternative.replace('"', " ").replace("'", " ").split() if w]


def _lexeme(word: str) -> str:
    """A word quoted for to_tsquery (its operators and spaces lose their meaning inside)."""
    return "'" + word.replace("\\", "\\\\").replace("'", "''") + "'"


def _not_backlog(before: datetime) -> Any:
    """Not a source's backlog: published after the source was added, or after ``before``."""
    added = select(SourceRow.created_at).where(SourceRow.id == ItemRow.source_id)
    return or_(
        ItemRow.published_at >= before,
        ItemRow.published_at >= added.scalar_subquery(),
        ItemRow.source_id.is_(None),
    )


_KEY_CHUNK = 500  # stays under SQLite's bound-parameter limit
# PostgreSQL /search reads the newest ids first. Its planner cannot tell a word's real frequency
# (an unknown word, two words always written together): it walks the primary key backwards,
# computing the tsvector of every row until ten match — 1.7 s at a million items for a word
# nobody wrote. Within the newest window that walk is bounded; past it, the GIN bitmap of every
# match is sorted (``id + 0`` keeps the planner off the key), cheap because a word with fewer
# than ten matches among the newest is rare (docs/benchmarks.md, session 7).
_PG_SEARCH = (
    "SELECT id FROM items WHERE to_tsvector('simple', tokens) @@ to_tsquery('simple', :match) "
    "AND id > :after ORDER BY {key} {order} LIMIT :n"
)
NEWEST_WINDOW = 5000


def _chunks(values: Sequence[str]) -> Iterable[Sequence[str]]:
    for start in range(0, len(values), _KEY_CHUNK):
        yield values[start : start + _KEY_CHUNK]


class ItemRepository(ItemCounts):
    def __init__(self, store: SessionSource) -> None:
        self._store = store

    def existing_keys(self, keys: Iterable[str]) -> set[str]:
        """Which of ``keys`` (guid, link or content keys, all hex digests) are stored already."""
        wanted = sorted(set(keys))
        found: set[str] = set()
        with self._store.session() as session:
            for column in (ItemRow.guid_key, ItemRow.link_key, ItemRow.content_key):
                for chunk in _chunks(wanted):
                    found.update(
                        k for k in session.scalars(select(column).where(column.in_(chunk))) if k
                    )
        return found

    def add_many(self, items: Sequence[NewItem]) -> list[StoredItemRef | None]:
        """Store items in one transaction; a duplicate key yields ``None`` in its place."""
        with self.writer() as writer:
            return [writer.add(item) for item in items]

    @contextmanager
    def writer(self) -> Iterator[ItemWriter]:
        """One transaction for a batch whose later items depend on earlier ones' ids."""
        with self._store.session() as session:
            yield ItemWriter(session, self._statements)

    @cached_property
    def _statements(self) -> Statements:
        return Statements.build(self._store.engine.dialect.name)

    def recent_signatures(self, since: datetime, limit: int) -> list[StoredSignature]:
        """Signatures of items fetched since ``since``, newest first, at most ``limit``."""
        query = (
            select(
                ItemRow.id,
                ItemRow.story_id,
                ItemRow.signature,
                ItemRow.title_companies,
                ItemRow.embedding,
                ItemRow.event,
            )
            .where(ItemRow.fetched_at >= since)
            .order_by(ItemRow.id.desc())
            .limit(limit)
        )
        with self._store.session() as session:
            return [
                StoredSignature(i, s, sig, tuple(companies.split()), embedding, event)
                for i, s, sig, companies, embedding, event in session.execute(query)
            ]

    def latest(
        self,
        *,
        company: str | None = None,
        since: datetime | None = None,
        source_id: int | None = None,
        relevant_only: bool = False,
        limit: int = 50,
    ) -> list[Item]:
        """Stored items, newest first."""
        query = select(ItemRow).order_by(ItemRow.published_at.desc(), ItemRow.id.desc())
        if company:
            query = (
                select(ItemRow)
                .join(ItemCompanyRow, ItemCompanyRow.item_id == ItemRow.id)
                .where(ItemCompanyRow.company_id == company)
                .order_by(ItemCompanyRow.published_at.desc(), ItemRow.id.desc())
            )
        if since is not None:
            query = query.where(ItemRow.published_at >= since)
        if source_id is not None:
            query = query.where(ItemRow.source_id == source_id)
        if relevant_only:
            query = query.where(ItemRow.relevant.is_(True))
        with self._store.session() as session:
            rows = list(session.scalars(query.limit(limit)))
            return self._to_items(session, rows)

    def window(
        self,
        *,
        after_id: int = 0,
        last_id: int | None = None,
        fetched_since: datetime | None = None,
        published_since: datetime | None = None,
        backlog_before: datetime | None = None,
        relevant_only: bool = True,
    ) -> list[Item]:
        """Items stored after item ``after_id`` (up to ``last_id``), oldest first, with tokens.

        Ids grow in the order items are stored, so an item fetched late with an old date still
        falls in the window of the next digest, and no item falls in two windows. A source's
        backlog — items published before the source was added and before ``backlog_before`` —
        is left out: a feed added today does not flood the next digest with last year.
        """
        query = select(ItemRow).where(ItemRow.id > after_id).order_by(ItemRow.id)
        if last_id is not None:
            query = query.where(ItemRow.id <= last_id)
        if fetched_since is not None:
            query = query.where(ItemRow.fetched_at >= fetched_since)
        if published_since is not None:
            query = query.where(ItemRow.published_at >= published_since)
        if backlog_before is not None:
            query = query.where(_not_backlog(backlog_before))
        if relevant_only:
            query = query.where(ItemRow.relevant.is_(True))
        with self._store.session() as session:
            return self._to_items(session, list(session.scalars(query)), with_tokens=True)

    def search(
        self,
        groups: Sequence[Sequence[str]],
        limit: int = 10,
        *,
        after_id: int | None = None,
        backlog_before: datetime | None = None,
    ) -> list[Item]:
        """Items whose tokens match every group, newest first — or, ``after_id`` given, the
        relevant ones stored after it, oldest first (a keyword's alerts). A group is a set of
        alternatives (any one will do); an alternative of several words is a phrase.

        SQLite: the FTS5 table of migration 0004. PostgreSQL: the GIN index of migration 0006
        over to_tsvector('simple', tokens), with a tsquery of the same shape (``<->`` for a
        phrase).
        """
        clean = [[a for a in (_search_words(alt) for alt in group) if a] for group in groups]
        clean = [group for group in clean if group]
        if not clean:
            return []
        rows_query = select(ItemRow)
        if after_id is not None:
            rows_query = rows_query.where(ItemRow.relevant.is_(True))
        if backlog_before is not None:
            rows_query = rows_query.where(_not_backlog(backlog_before))
        with self._store.session() as session:
            if self._store.is_sqlite:
                ids = self._sqlite_ids(session, clean, limit, after_id)
            else:
                ids = self._pg_ids(session, clean, limit, after_id)
            rows = list(session.scalars(rows_query.where(ItemRow.id.in_(ids))))
            items = {i.id: i for i in self._to_items(session, rows)}
        return [items[i] for i in ids if i in items]

    @staticmethod
    def _sqlite_ids(
        session: Session, groups: list[list[list[str]]], limit: int, after_id: int | None
    ) -> list[int]:
        """FTS5 matches in rowid order: newest first, or oldest first after ``after_id``."""
        order = "DESC" if after_id is None else "ASC"
        query = text(
            "SELECT rowid FROM items_fts WHERE items_fts MATCH :match AND rowid > :after "
            f"ORDER BY rowid {order} LIMIT :n"
        )
        match = " AND ".join(
            "(" + " OR ".join('"' + " ".join(words) + '"' for words in group) + ")"
            for group in groups
        )
        after = -1 if after_id is None else after_id
        return list(session.scalars(query, {"match": match, "n": limit, "after": after}))

    @staticmethod
    def _pg_ids(
        session: Session, groups: list[list[list[str]]], limit: int, after_id: int | None
    ) -> list[int]:
        """The matches on PostgreSQL. After ``after_id`` (a keyword's alerts: few new rows),
        oldest first in one query; otherwise the newest, in a time that does not depend on the
        planner's guess of the words' frequency (see _PG_SEARCH)."""
        match = " & ".join(
            "("
            + " | ".join("(" + " <-> ".join(_lexeme(w) for w in words) + ")" for words in group)
            + ")"
            for group in groups
        )
        if after_id is not None:
            query = text(_PG_SEARCH.format(key="id", order="ASC"))
            return list(session.scalars(query, {"match": match, "n": limit, "after": after_id}))
        top = session.scalar(select(func.max(ItemRow.id))) or 0
        params = {"match": match, "n": limit, "after": top - NEWEST_WINDOW}
        recent = list(session.scalars(text(_PG_SEARCH.format(key="id", order="DESC")), params))
        if len(recent) >= limit:
            return recent
        params["after"] = -1
        return list(session.scalars(text(_PG_SEARCH.format(key="id + 0", order="DESC")), params))

    def company_stories(self, company: str, since: datetime) -> int:
        """Stories with a relevant report naming ``company`` published since ``since`` (what
        the card lists): one range of an index that carries the story (migration 0013)."""
        query = select(func.count(func.distinct(ItemCompanyRow.story_id))).where(
            ItemCompanyRow.company_id == company,
            ItemCompanyRow.relevant.is_(True),
            ItemCompanyRow.published_at >= since,
        )
        with self._store.session() as session:
            return session.scalar(query) or 0

    def company_last_mentioned(self, company: str) -> datetime | None:
        query = select(func.max(ItemCompanyRow.published_at)).where(
            ItemCompanyRow.company_id == company
        )
        with self._store.session() as session:
            return session.scalar(query)

    def company_items_after(
        self,
        company: str,
        after_id: int,
        limit: int = 50,
        backlog_before: datetime | None = None,
        *,
        about_only: bool = False,
    ) -> list[Item]:
        """Relevant items naming ``company`` stored after item ``after_id``, oldest first
        (without a new source's backlog published before ``backlog_before``); ``about_only``:
        those that name it in their title (about it, not mentioning it in passing)."""
        query = (
            select(ItemRow)
            .join(ItemCompanyRow, ItemCompanyRow.item_id == ItemRow.id)
            .where(
                ItemCompanyRow.company_id == company,
                ItemRow.id > after_id,
                ItemRow.relevant.is_(True),
            )
            .order_by(ItemRow.id)
            .limit(limit)
        )
        if backlog_before is not None:
            query = query.where(_not_backlog(backlog_before))
        if about_only:  # title_companies is space-separated ids
            padded = literal(" ") + func.coalesce(ItemRow.title_companies, "") + literal(" ")
            query = query.where(padded.like(f"% {company} %"))
        with self._store.session() as session:
            return self._to_items(session, list(session.scalars(query)), with_tokens=True)

    def by_ids(self, ids: Sequence[int]) -> list[Item]:
        """These items, with their tokens, in id order."""
        with self._store.session() as session:
            rows = list(
                session.scalars(
                    select(ItemRow).where(ItemRow.id.in_(list(ids))).order_by(ItemRow.id)
                )
            )
            return self._to_items(session, rows, with_tokens=True)

    def story_of(self, item_id: int, limit: int = 20) -> tuple[list[Item], str | None]:
        """The item's story (the item first, then the others, oldest first) and the feed's
        own text of the item when cleaning took something out."""
        with self._store.session() as session:
            row = session.get(ItemRow, item_id)
            if row is None:
                return [], None
            others = session.scalars(
                select(ItemRow)
                .where(ItemRow.story_id == row.story_id, ItemRow.id != item_id)
                .order_by(ItemRow.id)
                .limit(limit)
            )
            return self._to_items(session, [row, *others], with_tokens=False), row.raw_summary

    def max_id(self) -> int:
        with self._store.session() as session:
            return session.scalar(select(func.max(ItemRow.id))) or 0

    def _to_items(
        self, session: Session, rows: Sequence[ItemRow], with_tokens: bool = False
    ) -> list[Item]:
        companies: dict[int, list[str]] = {row.id: [] for row in rows}
        ids = sorted(companies)
        for start in range(0, len(ids), _KEY_CHUNK):
            pairs = session.execute(
                select(ItemCompanyRow.item_id, ItemCompanyRow.company_id)
                .where(ItemCompanyRow.item_id.in_(ids[start : start + _KEY_CHUNK]))
                .order_by(ItemCompanyRow.company_id)
            )
            for item_id, company_id in pairs:
                companies[item_id].append(company_id)
        return [
            Item(
                id=row.id,
                source_id=row.source_id,
                outlet=row.outlet,
                title=row.title,
                link=row.link,
                summary=row.summary,
                published_at=row.published_at,
                fetched_at=row.fetched_at,
                language=row.language,
                companies=tuple(companies[row.id]),
                story_id=row.story_id,
                relevance=row.relevance,
                relevant=row.relevant,
                tokens=decode_tokens(row.tokens) if with_tokens else (),
                title_companies=tuple((row.title_companies or "").split()),
            )
            for row in rows
        ]

    def count(self) -> int:
        with self._store.session() as session:
            return session.scalar(select(func.count(ItemRow.id))) or 0

    def stories(self, *, min_items: int = 1, limit: int = 20) -> list[list[Item]]:
        """Stories with at least ``min_items`` items, largest first, each a list of its items."""
        size = func.count(ItemRow.id)
        query = (
            select(ItemRow.story_id)
            .group_by(ItemRow.story_id)
            .having(size >= min_items)
            .order_by(size.desc(), func.max(ItemRow.published_at).desc())
            .limit(limit)
        )
        with self._store.session() as session:
            story_ids = list(session.scalars(query))
            if not story_ids:
                return []
            rows = session.scalars(
                select(ItemRow).where(ItemRow.story_id.in_(story_ids)).order_by(ItemRow.id)
            )
            items = self._to_items(session, list(rows))
        grouped: dict[int, list[Item]] = {sid: [] for sid in story_ids}
        for item in items:
            grouped[item.story_id].append(item)
        return list(grouped.values())
