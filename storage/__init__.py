"""Persistence for chip-digest: tables, migrations and repositories.

This package knows nothing of fetching, digests or Telegram. It hands the rest of the code plain
dataclasses from :mod:`storage.types`, never ORM rows.
"""

from storage.database import Database
from storage.errors import StorageError

__all__ = ["Database", "StorageError"]
