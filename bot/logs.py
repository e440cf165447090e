"""Logging set-up: human-readable lines or one JSON object per line (for a log collector),
and a filter that blanks secrets out of every record before any handler sees it."""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterable

from pythonjsonlogger.json import JsonFormatter

from bot.config import Settings

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
NOISY = ("httpx", "httpcore", "alembic", "tornado.access")  # a line per request or step


class RedactSecrets(logging.Filter):
    """Replaces each secret (the bot token, the webhook secret, a database password) in the
    message and its arguments: an httpx or library line may carry the token in a URL."""

    def __init__(self, secrets: Iterable[str]) -> None:
        super().__init__()
        self._secrets = [s for s in secrets if len(s) >= 6]

    def filter(self, record: logging.LogRecord) -> bool:
        if self._secrets:
            message = record.getMessage()
            redacted = message
            for secret in self._secrets:
                redacted = redacted.replace(secret, "[secret]")
            if redacted != message:
                record.msg, record.args = redacted, None
        return True


def secrets_of(settings: Settings) -> list[str]:
    from sqlalchemy.engine import make_url

    values = [settings.telegram_token, settings.webhook_secret]
    found = [v.get_secret_value() for v in values if v is not None]
    if settings.database_url:
        password = make_url(settings.database_url).password
        if password:
            found.append(str(password))
    return found


def configure_logging(settings: Settings) -> None:
    handler = logging.StreamHandler(sys.stderr)
    if settings.log_format == "json":
        handler.setFormatter(
            JsonFormatter(
                "%(levelname)s %(name)s %(message)s",
                rename_fields={"levelname": "level", "name": "logger"},
                timestamp=True,
            )
        )
    else:
        handler.setFormatter(logging.Formatter(TEXT_FORMAT))
    handler.addFilter(RedactSecrets(secrets_of(settings)))
    handler.set_name("chipdigest")
    root = logging.getLogger()
    for old in list(root.handlers):
        if old.get_name() == "chipdigest":  # ours, from an earlier call; others stay
            root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(settings.log_level)
    for noisy in NOISY:
        logging.getLogger(noisy).setLevel(max(logging.WARNING, root.level))
