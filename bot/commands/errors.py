"""The command layer's one error, and the small parsers every front end shares."""

from __future__ import annotations

import re
from datetime import timedelta

import httpx

from digest.catalog import t


class CommandError(Exception):
    """A command could not be done; the message says why, to the user, in the catalog's words.

    ``str(exc)`` is the English text (the CLI's); :meth:`text` gives it in a chat's language.
    """

    def __init__(self, key: str, /, **params: object) -> None:
        super().__init__(t(key, "en", **params))
        self.key, self.params = key, params

    def text(self, language: str) -> str:
        return t(self.key, language, **self.params)


_DURATION = re.compile(r"^\s*(\d+)\s*([mhdw])\s*$", re.IGNORECASE)
_UNITS = {"m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def parse_duration(text: str) -> timedelta:
    """``90m``, ``24h``, ``7d``, ``2w`` → a timedelta."""
    match = _DURATION.match(text)
    if not match:
        raise CommandError("error.duration", text=text)
    return timedelta(**{_UNITS[match.group(2).lower()]: int(match.group(1))})


MAX_URL = 2048  # the sources table's limit; longer is no feed URL anyone means


def check_feed_url(url: str) -> str:
    url = url.strip()
    if len(url) > MAX_URL:
        raise CommandError("error.feed_url_long", limit=MAX_URL)
    parsed = httpx.URL(url) if "://" in url else None
    if parsed is None or parsed.scheme not in ("http", "https") or not parsed.host:
        raise CommandError("error.feed_url", url=url[:200])
    return url
