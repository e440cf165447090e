"""Logging set-up: human-readable lines or one JSON object per line (for a log collector),
with secrets blanked out of every line."""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterable
from pathlib import Path
from urllib.parse import quote, quote_plus

from pythonjsonlogger.json import JsonFormatter
from sqlalchemy.engine import make_url

from bot.config import Settings

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
NOISY = (
    "httpx",
    "httpcore",
    "alembic",
    "tornado.access",
    "apscheduler.scheduler",
    "apscheduler.executors.default",  # two INFO lines per job run, every few seconds
)  # a line per request or step


class Redacting(logging.Formatter):
    """Replaces each secret (the bot token, the webhook secret, a database password) in the
    whole formatted record — message, arguments and traceback: an httpx line carries the token
    in its URL, python-telegram-bot's InvalidToken error in its text."""

    secrets: tuple[str, ...] = ()

    def format(self, record: logging.LogRecord) -> str:
        return redact(super().format(record), self.secrets)


class JsonLinesFormatter(Redacting, JsonFormatter):
    pass


def redact(text: str, secrets: Iterable[str]) -> str:
    for secret in secrets:
        text = text.replace(secret, "[secret]")
    return text


def secrets_of(settings: Settings) -> list[str]:
    values = [
        settings.telegram_token,
        settings.webhook_secret,
        settings.embedding_api_key,
        settings.llm_api_key,
    ]
    found = [v.get_secret_value() for v in values if v is not None]
    if settings.database_url:
        password = make_url(settings.database_url).password
        if password:  # as typed, and as it appears inside a URL (percent-encoded)
            found += dict.fromkeys(
                [str(password), quote(str(password), safe=""), quote_plus(str(password))]
            )
    return found


def configure_logging(settings: Settings, to_file: Path | None = None) -> None:
    """Lines on stderr, or appended to ``to_file`` (the console: replies on screen, logs
    aside)."""
    handler: logging.Handler = (
        logging.FileHandler(to_file, encoding="utf-8")
        if to_file
        else logging.StreamHandler(sys.stderr)
    )
    formatter: Redacting
    if settings.log_format == "json":
        formatter = JsonLinesFormatter(
            "%(levelname)s %(name)s %(message)s",
            rename_fields={"levelname": "level", "name": "logger"},
            timestamp=True,
        )
    else:
        formatter = Redacting(TEXT_FORMAT)
    formatter.secrets = tuple(s for s in secrets_of(settings) if len(s) >= 6)
    handler.setFormatter(formatter)
    handler.set_name("chipdigest")
    root = logging.getLogger()
    for old in list(root.handlers):
        if old.get_name() == "chipdigest":  # ours, from an earlier call; others stay
            root.removeHandler(old)
            old.close()  # a file handler holds its file open
    root.addHandler(handler)
    root.setLevel(settings.log_level)
    for noisy in NOISY:
        logging.getLogger(noisy).setLevel(max(logging.WARNING, root.level))
