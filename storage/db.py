"""Engine, sessions and schema upgrades.

SQLite gets WAL (readers never block the writer), foreign keys and a busy timeout on every
connection. The schema is owned by Alembic from the first table on; :meth:`Database.upgrade`
runs it programmatically so the CLI can bring an embedded database up to date by itself.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine, event
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import ArgumentError, SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

log = logging.getLogger(__name__)

MIGRATIONS = Path(__file__).parent / "migrations"


class StorageError(Exception):
    """Base of every error this package raises on purpose."""


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def make_engine(url: str) -> Engine:
    """An engine for ``url``; a SQLite file's folder is created if missing."""
    try:
        parsed = make_url(url)
    except ArgumentError as exc:
        raise StorageError(f"not a database URL: {url!r}") from exc
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).expanduser().parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(parsed, connect_args={"timeout": 10})
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    return create_engine(parsed, pool_pre_ping=True)


def alembic_config(engine: Engine) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", engine.url.render_as_string(hide_password=False))
    config.attributes["engine"] = engine
    return config


class Database:
    """The composition point of storage: one engine, one session factory, the repositories."""

    def __init__(self, url: str) -> None:
        from storage.chats import ChatRepository, DeliveryRepository, FollowRepository
        from storage.digests import DigestRepository, PushRequestRepository
        from storage.items import ItemRepository
        from storage.sources import SourceRepository

        self.url = url
        self.engine = make_engine(url)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)
        self.sources = SourceRepository(self)
        self.items = ItemRepository(self)
        self.digests = DigestRepository(self)
        self.chats = ChatRepository(self)
        self.deliveries = DeliveryRepository(self)
        self.follows = FollowRepository(self)
        self.push_requests = PushRequestRepository(self)

    @property
    def is_sqlite(self) -> bool:
        return self.engine.dialect.name == "sqlite"

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A unit of work: committed on success, rolled back on any error."""
        session = self._sessions()
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise
        finally:
            session.close()

    def current_revision(self) -> str | None:
        with self.engine.connect() as conn:
            return MigrationContext.configure(conn).get_current_revision()

    def head_revision(self) -> str | None:
        return ScriptDirectory.from_config(alembic_config(self.engine)).get_current_head()

    def upgrade(self, revision: str = "head") -> None:
        try:
            command.upgrade(alembic_config(self.engine), revision)
        except SQLAlchemyError as exc:
            raise StorageError(f"database upgrade failed: {exc}") from exc

    def downgrade(self, revision: str) -> None:
        command.downgrade(alembic_config(self.engine), revision)

    def ensure_schema(self) -> None:
        """Upgrade if behind (the CLI calls this for the embedded SQLite database)."""
        if self.current_revision() != self.head_revision():
            log.info("upgrading database schema to %s", self.head_revision())
            self.upgrade()

    def close(self) -> None:
        self.engine.dispose()
