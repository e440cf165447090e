"""The one error of :mod:`storage`: every database fault reaches callers as
:class:`StorageError`, with a one-line reason that holds no password."""

from __future__ import annotations

from sqlalchemy.exc import DBAPIError, SQLAlchemyError


class StorageError(Exception):
    """The database could not do what was asked (unreachable, read-only, a constraint...)."""


def describe(exc: SQLAlchemyError) -> str:
    """One line about a database fault: the driver's first line, without SQL or parameters."""
    original = exc.orig if isinstance(exc, DBAPIError) and exc.orig is not None else exc
    first = (str(original).strip().splitlines() or [type(original).__name__])[0]
    return f"database error ({type(original).__name__}): {first[:300]}"
