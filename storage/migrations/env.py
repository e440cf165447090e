"""Alembic environment: runs on the engine handed in by :func:`storage.database.alembic_config`.

The URL never goes through Alembic's ini-style config: its interpolation breaks on any ``%``
(a URL-escaped password) and its errors would print the URL.
"""

from __future__ import annotations

import zlib

from alembic import context
from sqlalchemy import text

from storage.tables import Base

config = context.config
target_metadata = Base.metadata
UPGRADE_LOCK = zlib.crc32(b"chip-digest schema upgrade")


def run_migrations_offline() -> None:
    context.configure(
        url=config.attributes["engine"].url,
        target_metadata=target_metadata,
        literal_binds=True,
        render_as_batch=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    engine = config.attributes["engine"]
    with engine.connect() as connection:
        context.configure(
            connection=connection,
            target_metadata=target_metadata,
            render_as_batch=connection.dialect.name == "sqlite",
        )
        with context.begin_transaction():
            if connection.dialect.name == "postgresql":
                # Several processes starting at once (replicas, ExecStartPre) upgrade one after
                # the other; the later ones find the schema at head and do nothing.
                connection.execute(
                    text("SELECT pg_advisory_xact_lock(:key)"), {"key": UPGRADE_LOCK}
                )
            context.run_migrations()
        connection.commit()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
