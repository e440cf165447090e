"""The write path of items: one transaction adds items one by one, each new story or its
existing one, the item, its company tags (Core statements, compiled once per dialect)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import bindparam, delete, insert, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from storage.tables import Base
from storage.types import NewItem, StoredItemRef, encode_tokens

_ITEMS = Base.metadata.tables["items"]
_STORIES = Base.metadata.tables["stories"]


@dataclass(frozen=True, slots=True)
class Statements:
    new_story: Any
    new_item: Any
    drop_story: Any
    touch_story: Any
    tag_item: Any

    @classmethod
    def build(cls, dialect_name: str) -> Statements:
        dialect = postgresql if dialect_name == "postgresql" else sqlite
        return cls(
            new_story=insert(_STORIES).returning(_STORIES.c.id),
            new_item=dialect.insert(_ITEMS).on_conflict_do_nothing().returning(_ITEMS.c.id),
            drop_story=delete(_STORIES).where(_STORIES.c.id == bindparam("story_id")),
            touch_story=update(_STORIES)
            .where(_STORIES.c.id == bindparam("story_id"))
            .values(last_seen_at=bindparam("seen")),
            tag_item=insert(Base.metadata.tables["item_companies"]),
        )


def _item_values(item: NewItem, story_id: int) -> dict[str, Any]:
    return {
        "source_id": item.source_id,
        "story_id": story_id,
        "outlet": item.outlet,
        "guid": item.guid,
        "guid_key": item.guid_key,
        "link": item.link,
        "link_key": item.link_key,
        "content_key": item.content_key,
        "title": item.title,
        "summary": item.summary,
        "published_at": item.published_at,
        "fetched_at": item.fetched_at,
        "language": item.language,
        "relevance": item.relevance,
        "relevant": item.relevant,
        "tokens": encode_tokens(item.tokens),
        "signature": item.signature,
        "title_companies": " ".join(item.title_companies),
        "embedding": item.embedding,
        "event": item.event,
        "raw_summary": item.raw_summary,
    }


class ItemWriter:
    """Adds items one by one inside a single transaction (see ``ItemRepository.writer``)."""

    def __init__(self, session: Session, statements: Statements) -> None:
        self._session = session
        self._statements = statements

    def add(self, item: NewItem) -> StoredItemRef | None:
        # Core statements with bound parameters: compiled once, then one round trip each.
        conn = self._session.connection()
        sql = self._statements
        story_id = item.story_id
        if story_id is None:
            seen = {"first_seen_at": item.fetched_at, "last_seen_at": item.fetched_at}
            story_id = conn.execute(sql.new_story, seen).scalar_one()
        item_id = conn.execute(sql.new_item, _item_values(item, story_id)).scalar()
        if item_id is None:  # lost a race with another writer: the unique index said no
            if item.story_id is None:
                conn.execute(sql.drop_story, {"story_id": story_id})
            return None
        if item.story_id is not None:
            conn.execute(sql.touch_story, {"story_id": story_id, "seen": item.fetched_at})
        if item.companies:
            tag = {
                "item_id": item_id,
                "published_at": item.published_at,
                "story_id": story_id,
                "relevant": item.relevant,
            }
            rows = [{**tag, "company_id": c} for c in item.companies]
            conn.execute(sql.tag_item, rows)
        return StoredItemRef(item_id=item_id, story_id=story_id)
