"""SQLAlchemy 2.x typed ORM models. Private to :mod:`storage`; Alembic migrations mirror them."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class UTCDateTime(TypeDecorator[datetime]):
    """Stores UTC without a zone (SQLite has none) and always returns tz-aware UTC."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        return None if value is None else value.replace(tzinfo=UTC)


class Base(DeclarativeBase):
    pass


class SourceRow(Base):
    __tablename__ = "sources"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    url: Mapped[str] = mapped_column(String(2048), unique=True)
    title: Mapped[str | None] = mapped_column(String(512))
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    etag: Mapped[str | None] = mapped_column(String(512))
    last_modified: Mapped[str | None] = mapped_column(String(128))
    error_count: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    last_status: Mapped[str | None] = mapped_column(String(32))
    next_check_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_fetched_at: Mapped[datetime | None] = mapped_column(UTCDateTime)  # the last attempt
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    last_success_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class StoryRow(Base):
    __tablename__ = "stories"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    first_seen_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime)


class ItemRow(Base):
    __tablename__ = "items"
    __table_args__ = (
        Index("ix_items_published_at", "published_at"),
        Index("ix_items_fetched_at", "fetched_at"),
        Index("ix_items_story_id", "story_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    source_id: Mapped[int | None] = mapped_column(
        ForeignKey("sources.id", ondelete="SET NULL"), index=True
    )
    story_id: Mapped[int] = mapped_column(ForeignKey("stories.id", ondelete="CASCADE"))
    outlet: Mapped[str] = mapped_column(String(512))
    guid: Mapped[str | None] = mapped_column(String(2048))
    guid_key: Mapped[str] = mapped_column(String(40), unique=True)
    link: Mapped[str | None] = mapped_column(String(2048))
    link_key: Mapped[str | None] = mapped_column(String(40), unique=True)
    content_key: Mapped[str] = mapped_column(String(40), unique=True)
    title: Mapped[str] = mapped_column(Text)
    summary: Mapped[str] = mapped_column(Text)
    published_at: Mapped[datetime] = mapped_column(UTCDateTime)
    fetched_at: Mapped[datetime] = mapped_column(UTCDateTime)
    language: Mapped[str] = mapped_column(String(8))
    relevance: Mapped[float] = mapped_column(Float)
    relevant: Mapped[bool] = mapped_column(Boolean)
    tokens: Mapped[str] = mapped_column(Text)
    signature: Mapped[bytes] = mapped_column(LargeBinary)
    # companies named in the title, space-separated: two titles naming different companies
    # are different stories however alike their words
    title_companies: Mapped[str] = mapped_column(String(512), default="")
    # A multilingual sentence embedding of the title and lead (float16), and the event
    # signature (JSON: companies, numbers, products, kinds): stories across languages.
    embedding: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    event: Mapped[str | None] = mapped_column(Text, nullable=True)
    # The text as the feed gave it, when cleaning removed something (summary is the clean text).
    raw_summary: Mapped[str | None] = mapped_column(Text, nullable=True)


class DigestRow(Base):
    """A saved digest: its window, edition and structure, so it can be shown again exactly
    and its deliveries recorded against it."""

    __tablename__ = "digests"
    __table_args__ = (Index("ix_digests_edition_id", "edition", "id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    edition: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    after_item_id: Mapped[int] = mapped_column(Integer)  # the window: after_item_id < id
    last_item_id: Mapped[int] = mapped_column(Integer)  # ... and id <= last_item_id
    since: Mapped[datetime | None] = mapped_column(UTCDateTime)
    language: Mapped[str] = mapped_column(String(8))
    structure: Mapped[str] = mapped_column(Text)  # JSON of the composed digest


class DigestItemRow(Base):
    __tablename__ = "digest_items"

    digest_id: Mapped[int] = mapped_column(
        ForeignKey("digests.id", ondelete="CASCADE"), primary_key=True
    )
    item_id: Mapped[int] = mapped_column(
        ForeignKey("items.id", ondelete="CASCADE"), primary_key=True
    )


class ChatRow(Base):
    """A Telegram chat the bot talks to: a private chat, a group or a channel."""

    __tablename__ = "chats"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    chat_id: Mapped[int] = mapped_column(BigInteger, unique=True)  # Telegram's, may change
    kind: Mapped[str] = mapped_column(String(16))  # private, group, supergroup, channel
    title: Mapped[str | None] = mapped_column(String(256))
    language: Mapped[str] = mapped_column(String(8), default="zh")
    timezone: Mapped[str] = mapped_column(String(64), default="Asia/Shanghai")
    active: Mapped[bool] = mapped_column(Boolean, default=True)  # False once it blocked us
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class SubscriptionRow(Base):
    __tablename__ = "subscriptions"

    chat_pk: Mapped[int] = mapped_column(
        ForeignKey("chats.id", ondelete="CASCADE"), primary_key=True
    )
    edition: Mapped[str] = mapped_column(String(64), primary_key=True, index=True)


class DeliveryRow(Base):
    """One digest to one chat. ``parts_sent`` counts the messages already accepted, so a
    restart resumes at the next one; the unique pair makes a second delivery impossible."""

    __tablename__ = "deliveries"
    __table_args__ = (
        UniqueConstraint("digest_id", "chat_pk", name="uq_deliveries_digest_chat"),
        Index("ix_deliveries_status", "status", "digest_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    digest_id: Mapped[int] = mapped_column(ForeignKey("digests.id", ondelete="CASCADE"))
    chat_pk: Mapped[int] = mapped_column(ForeignKey("chats.id", ondelete="CASCADE"))
    status: Mapped[str] = mapped_column(String(16))  # pending, sent, failed, blocked
    parts_sent: Mapped[int] = mapped_column(Integer, default=0)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class FollowRow(Base):
    """A chat follows a company; ``last_item_id`` is the newest item already alerted."""

    __tablename__ = "follows"

    chat_pk: Mapped[int] = mapped_column(
        ForeignKey("chats.id", ondelete="CASCADE"), primary_key=True
    )
    company_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    last_item_id: Mapped[int] = mapped_column(Integer)


class AlertRow(Base):
    """An alert message sent to a chat (for the per-hour cap)."""

    __tablename__ = "alerts"
    __table_args__ = (Index("ix_alerts_chat_sent", "chat_pk", "sent_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    chat_pk: Mapped[int] = mapped_column(ForeignKey("chats.id", ondelete="CASCADE"))
    sent_at: Mapped[datetime] = mapped_column(UTCDateTime)
    items: Mapped[int] = mapped_column(Integer)


class ItemCompanyRow(Base):
    __tablename__ = "item_companies"
    __table_args__ = (
        Index("ix_item_companies_company", "company_id", "item_id"),
        Index("ix_item_companies_company_published", "company_id", "published_at"),
        Index("ix_item_companies_stories", "company_id", "relevant", "published_at", "story_id"),
    )

    item_id: Mapped[int] = mapped_column(
        ForeignKey("items.id", ondelete="CASCADE"), primary_key=True
    )
    company_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    # the item's date, story and relevance, copied here so a company's latest items and its
    # 7/30/90-day story counts are read from one index instead of a lookup per item
    published_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    story_id: Mapped[int | None] = mapped_column(Integer)
    relevant: Mapped[bool | None] = mapped_column(Boolean)


class PushRequestRow(Base):
    """An admin's /push awaiting Approve or Cancel. In the database, not in memory, so the
    button works whichever process receives it and after a restart; the decision is taken
    once (an UPDATE guarded by ``decision IS NULL``)."""

    __tablename__ = "push_requests"

    token: Mapped[str] = mapped_column(String(32), primary_key=True)
    edition: Mapped[str] = mapped_column(String(64))
    admin_id: Mapped[int] = mapped_column(BigInteger)
    structure: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    decision: Mapped[str | None] = mapped_column(String(16))
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Once approved: the digest saved for it, and when its admin was told how it went.
    digest_id: Mapped[int | None] = mapped_column(Integer)
    reported_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class WritingRow(Base):
    """What a language model wrote, kept so a story is written once across editions,
    languages, restarts and processes. ``key`` is a digest of everything the text depends on
    (kind, subject and its members, language, model, prompt version)."""

    __tablename__ = "model_writings"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))
    story_id: Mapped[int | None] = mapped_column(Integer)
    language: Mapped[str] = mapped_column(String(8))
    model: Mapped[str] = mapped_column(String(128))
    payload: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class ModelCallRow(Base):
    """One request to the language model and how it ended (for /stats and the logs)."""

    __tablename__ = "model_calls"
    __table_args__ = (Index("ix_model_calls_created", "created_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    kind: Mapped[str] = mapped_column(String(16))
    outcome: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str | None] = mapped_column(Text)
    tokens: Mapped[int] = mapped_column(Integer, default=0)
