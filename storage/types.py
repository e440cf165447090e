"""Plain dataclasses that cross the storage boundary (no ORM rows leave this package)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

SentenceTokens = tuple[tuple[str, ...], ...]


def encode_tokens(sentences: SentenceTokens) -> str:
    """The stored form: a line a sentence, tokens separated by spaces (FTS5 and PostgreSQL's
    ``to_tsvector('simple', …)`` index the same text)."""
    return "\n".join(" ".join(sentence) for sentence in sentences)


def decode_tokens(text: str | None) -> SentenceTokens:
    return tuple(tuple(line.split()) for line in text.split("\n")) if text else ()


@dataclass(frozen=True, slots=True)
class Source:
    """A feed we poll, with its health kept on the same row (as miniflux does)."""

    id: int
    url: str
    title: str | None
    enabled: bool
    etag: str | None
    last_modified: str | None
    error_count: int
    last_error: str | None
    last_status: str | None
    next_check_at: datetime | None
    last_fetched_at: datetime | None  # the last attempt, whatever it gave
    created_at: datetime
    last_success_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class NewItem:
    """An enriched entry ready to be stored. Keys are hex digests used by unique indexes."""

    source_id: int | None
    outlet: str
    guid: str | None
    guid_key: str
    link: str | None
    link_key: str | None
    content_key: str
    title: str
    summary: str
    published_at: datetime
    fetched_at: datetime
    language: str
    companies: tuple[str, ...]
    relevance: float
    relevant: bool
    tokens: SentenceTokens  # word tokens sentence by sentence (match form)
    signature: bytes
    title_companies: tuple[str, ...] = ()
    story_id: int | None = None  # None: the item starts a new story
    embedding: bytes | None = None
    event: str | None = None  # the event signature as JSON
    raw_summary: str | None = None  # the feed's own text, when cleaning took something out


@dataclass(frozen=True, slots=True)
class Item:
    """A stored item as the rest of the code sees it."""

    id: int
    source_id: int | None
    outlet: str
    title: str
    link: str | None
    summary: str
    published_at: datetime
    fetched_at: datetime
    language: str
    companies: tuple[str, ...]
    story_id: int
    relevance: float
    relevant: bool
    tokens: SentenceTokens = ()  # word tokens sentence by sentence (match form), when read
    title_companies: tuple[str, ...] = ()  # named in the title: the item is about them

    def is_about(self, company_id: str) -> bool:
        """About the company (named in the title), not only mentioning it."""
        return company_id in self.title_companies


@dataclass(frozen=True, slots=True)
class DigestRecord:
    id: int
    edition: str
    created_at: datetime
    after_item_id: int
    last_item_id: int
    since: datetime | None
    language: str
    structure: str
    item_ids: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class Chat:
    id: int  # ours
    chat_id: int  # Telegram's
    kind: str
    title: str | None
    language: str
    timezone: str
    active: bool
    editions: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Delivery:
    id: int
    digest_id: int
    chat: Chat
    status: str
    parts_sent: int
    attempts: int  # runs that ended on a transient failure (network, timeout, 5xx)
    last_error: str | None
    updated_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class StoredSignature:
    """A recent item's MinHash signature, used to rebuild the near-duplicate index."""

    item_id: int
    story_id: int
    signature: bytes
    title_companies: tuple[str, ...]
    embedding: bytes | None = None
    event: str | None = None


@dataclass(frozen=True, slots=True)
class StoredItemRef:
    """The ids a newly stored item received."""

    item_id: int
    story_id: int


@dataclass(frozen=True, slots=True)
class PushRequest:
    """An admin's /push: the digest exactly as previewed, awaiting Approve or Cancel."""

    token: str
    edition: str
    admin_id: int
    structure: str
    created_at: datetime
    decided_at: datetime | None = None
    digest_id: int | None = None


@dataclass(frozen=True, slots=True)
class Writing:
    key: str
    kind: str  # "point" or "insights"
    story_id: int | None
    language: str
    model: str
    payload: str  # JSON, as checked
    created_at: datetime


@dataclass(frozen=True, slots=True)
class ModelCall:
    created_at: datetime
    kind: str
    outcome: str  # ok, rejected, failed, skipped
    reason: str | None = None
    tokens: int = 0
