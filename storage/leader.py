"""Leader election: which of several processes sharing one database runs the scheduler and
broadcasts.

PostgreSQL: a session-level advisory lock (scoped to the database) held on one dedicated
connection. The server releases it when that connection ends, so a leader that dies (killed,
crashed, its host gone) frees it: at once when the kernel closes the socket, and within
about half a minute when the host vanishes, thanks to the TCP keepalives set on that session.
SQLite: an exclusive ``flock`` on a file beside the database, released by the kernel when the
process dies (SQLite is shared only by processes on one host anyway).

A follower calls :meth:`LeaderLock.try_acquire` every few seconds; the leader calls
:meth:`LeaderLock.still_held` as often and steps down when it returns False.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import zlib
from pathlib import Path
from typing import IO

from sqlalchemy import create_engine, text
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.pool import NullPool

from storage.engine import SessionSource

log = logging.getLogger(__name__)

# One key per database: advisory locks are scoped to the database they are taken in.
LOCK_KEY = zlib.crc32(b"chip-digest leader")
_KEEPALIVES = (
    "SET tcp_keepalives_idle = 10; SET tcp_keepalives_interval = 5; SET tcp_keepalives_count = 3"
)


class LeaderLock:
    """Try, check and release leadership; never blocks."""

    def __init__(self, store: SessionSource) -> None:
        self._store = store
        self._connection: Connection | None = None
        self._file: IO[str] | None = None
        self._engine: Engine | None = None  # PostgreSQL: for the lock's own connection

    @property
    def held(self) -> bool:
        return self._connection is not None or self._file is not None

    def try_acquire(self) -> bool:
        """Take the lock if nobody holds it; True if this process is (now) the leader."""
        if self.held:
            return self.still_held()
        try:
            return self._acquire_sqlite() if self._store.is_sqlite else self._acquire_postgres()
        except (SQLAlchemyError, OSError) as exc:
            log.warning("could not try the leader lock: %s", exc)
            self.release()
            return False

    def still_held(self) -> bool:
        """True while the lock is ours; False (and released) when its connection was lost."""
        if self._file is not None:
            return True
        if self._connection is None:
            return False
        try:
            query = text(
                "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted "
                "AND pid = pg_backend_pid() AND objid = :key"
            )
            if self._connection.execute(query, {"key": LOCK_KEY}).scalar() == 1:
                return True
            log.error("the leader lock is no longer held by this process")
        except SQLAlchemyError as exc:
            log.error("lost the connection that holds the leader lock: %s", exc)
        self.release()
        return False

    def abandon(self) -> None:
        """Forget a lock whose connection no longer answers, without waiting on it: the
        server frees the lock when it notices the connection is gone."""
        self._connection = None

    def release(self) -> None:
        if self._connection is not None:
            with contextlib.suppress(SQLAlchemyError):  # if the connection is gone, so is the lock
                self._connection.execute(text("SELECT pg_advisory_unlock_all()"))
            self._connection.close()
            self._connection = None
        if self._file is not None:
            self._file.close()
            self._file = None

    def _lock_engine(self) -> Engine:
        # Its own engine, no pool: the lock lives as long as one connection of its own.
        if self._engine is None:
            self._engine = create_engine(
                self._store.engine.url,
                poolclass=NullPool,
                # the client side notices a dead server as fast as the server notices us
                connect_args={
                    "connect_timeout": 10,
                    "keepalives": 1,
                    "keepalives_idle": 10,
                    "keepalives_interval": 5,
                    "keepalives_count": 3,
                },
            )
        return self._engine

    def _acquire_postgres(self) -> bool:
        connection = self._lock_engine().connect().execution_options(isolation_level="AUTOCOMMIT")
        connection.exec_driver_sql(_KEEPALIVES)
        taken = connection.execute(
            text("SELECT pg_try_advisory_lock(:key)"), {"key": LOCK_KEY}
        ).scalar()
        if not taken:
            connection.close()
            return False
        self._connection = connection
        return True

    def _acquire_sqlite(self) -> bool:
        path = self._lock_path()
        path.parent.mkdir(parents=True, exist_ok=True)
        handle = path.open("a+")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.close()
            return False
        handle.seek(0)
        handle.truncate()
        handle.write(str(os.getpid()))
        handle.flush()
        self._file = handle
        return True

    def _lock_path(self) -> Path:
        database = self._store.engine.url.database
        if not database or database == ":memory:":
            return Path("chipdigest.leader")
        return Path(f"{database}.leader")
