"""The composition point of storage: one engine, its session source, every repository, and
schema upgrades (Alembic, run programmatically so the CLI can bring an embedded database up to
date by itself). Nothing in :mod:`storage` imports this module back.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
from collections.abc import Iterator
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import text
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError

from storage.chats import ChatRepository
from storage.deliveries import DeliveryRepository
from storage.digests import DigestRepository
from storage.engine import SessionSource, make_engine
from storage.errors import StorageError, describe
from storage.follows import FollowRepository
from storage.items import ItemRepository
from storage.push_requests import PushRequestRepository
from storage.sources import SourceRepository
from storage.writings import WritingRepository

log = logging.getLogger(__name__)

MIGRATIONS = Path(__file__).parent / "migrations"


def alembic_config(engine: Engine) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["engine"] = engine  # env.py runs on it; no URL in the ini config
    return config


class Database:
    """One engine, one session source, the repositories."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.engine = make_engine(url)
        self.store = SessionSource(self.engine)
        self.sources = SourceRepository(self.store)
        self.items = ItemRepository(self.store)
        self.digests = DigestRepository(self.store)
        self.chats = ChatRepository(self.store)
        self.deliveries = DeliveryRepository(self.store)
        self.follows = FollowRepository(self.store)
        self.push_requests = PushRequestRepository(self.store)
        self.writings = WritingRepository(self.store)

    @property
    def is_sqlite(self) -> bool:
        return self.store.is_sqlite

    def ping(self) -> None:
        """Raise :class:`StorageError` unless the database answers a trivial query."""
        try:
            with self.engine.connect() as conn:
                conn.execute(text("SELECT 1"))
        except SQLAlchemyError as exc:
            raise StorageError(describe(exc)) from exc

    def current_revision(self) -> str | None:
        try:
            with self.engine.connect() as conn:
                return MigrationContext.configure(conn).get_current_revision()
        except SQLAlchemyError as exc:
            raise StorageError(describe(exc)) from exc

    def head_revision(self) -> str | None:
        return ScriptDirectory.from_config(alembic_config(self.engine)).get_current_head()

    def upgrade(self, revision: str = "head") -> None:
        try:
            command.upgrade(alembic_config(self.engine), revision)
        except SQLAlchemyError as exc:
            raise StorageError(f"database upgrade failed: {describe(exc)}") from exc

    def downgrade(self, revision: str) -> None:
        try:
            command.downgrade(alembic_config(self.engine), revision)
        except SQLAlchemyError as exc:
            raise StorageError(f"database downgrade failed: {describe(exc)}") from exc

    def ensure_schema(self) -> None:
        """Upgrade if behind (the CLI calls this for the embedded SQLite database). Two
        processes starting on a fresh file take turns (PostgreSQL's upgrades lock in env.py)."""
        with self._schema_lock():
            if self.current_revision() != self.head_revision():
                log.info("upgrading database schema to %s", self.head_revision())
                self.upgrade()

    @contextlib.contextmanager
    def _schema_lock(self) -> Iterator[None]:
        path = self.engine.url.database if self.is_sqlite else None
        if not path or path == ":memory:":
            yield
            return
        with open(f"{path}.schema-lock", "a+") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def close(self) -> None:
        self.engine.dispose()
