"""Settings: environment variables with the ``CHIPDIGEST_`` prefix (and a ``.env`` file).

Loaded once at start-up into a typed object and passed down. A missing or malformed value stops
start-up with one line naming the setting (:func:`load_settings`).
"""

from __future__ import annotations

import importlib.util
import ipaddress
import os
import re
from datetime import timedelta
from pathlib import Path
from typing import Annotated
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from apscheduler.triggers.cron import CronTrigger
from pydantic import (
    AfterValidator,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from digest.compose.llm import ModelSettings
from digest.ingest.fetch import FetchOptions, Networks
from digest.ingest.pipeline import IngestOptions

ENV_PREFIX = "CHIPDIGEST_"
_TRUE = frozenset({"1", "true", "yes", "on"})
_FALSE = frozenset({"0", "false", "no", "off", ""})


def known_zone(value: str) -> str:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"unknown time zone {value!r}") from exc
    return value


# An IANA time zone name, checked (settings, imported chats).
ZoneName = Annotated[str, AfterValidator(known_zone)]


class SettingsError(Exception):
    """A setting is missing or malformed; the message is one line naming it."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX, env_file=".env", env_file_encoding="utf-8", extra="ignore"
    )

    data_dir: Path = Path("data")
    database_url: str | None = Field(
        default=None, description="SQLAlchemy URL; default: a SQLite file in data_dir"
    )
    telegram_token: SecretStr | None = None
    telegram_base_url: str | None = None
    admin_ids: Annotated[list[int], NoDecode] = []
    timezone: ZoneName = "Asia/Shanghai"
    digest_language: str = Field(default="zh", pattern="^(zh|en)$")
    # name=cron (minute hour day month weekday) in the time zone, separated by ";"
    editions: Annotated[dict[str, str], NoDecode] = {
        "morning": "30 8 * * *",
        "evening": "0 20 * * *",
        "weekly": "0 9 * * mon",
    }
    alerts_per_hour: int = Field(default=4, ge=1, le=60)
    fetch_interval_minutes: int = Field(default=30, ge=1, le=24 * 60)
    sources_file: Path | None = None
    http_proxy: str | None = None
    # "true" allows every private address; a comma-separated list of networks allows those only
    allow_private_sources: str = "false"
    relevance_threshold: float = Field(default=3.0, ge=0)
    max_source_errors: int = Field(default=10, ge=1)
    fetch_concurrency: int = Field(default=8, ge=1, le=64)
    fetch_timeout_seconds: float = Field(default=20.0, gt=0, le=300)
    max_feed_bytes: int = Field(default=5 * 1024 * 1024, ge=1024)
    story_window_hours: int = Field(default=72, ge=1)
    story_index_capacity: int = Field(default=10_000, ge=100)
    max_items_per_feed: int = Field(default=200, ge=1, le=5000)
    # Stories across languages: "use" (the bundled multilingual model, offline), "openai" (an
    # OpenAI-compatible /embeddings endpoint, e.g. bge-m3 on your own machine), or "off".
    embeddings: str = Field(default="use", pattern="^(use|openai|off)$")
    embedding_base_url: str | None = None
    embedding_model: str | None = None
    embedding_api_key: SecretStr | None = None
    # An optional language model (any OpenAI-compatible chat endpoint: DeepSeek, Qwen,
    # Moonshot, Zhipu, vLLM, Ollama...) writes key points, Core Insights and headlines in each
    # reader's language; every text is checked before it is sent. Off unless both are set.
    llm_base_url: str | None = None
    llm_model: str | None = None
    llm_api_key: SecretStr | None = None
    llm_timeout_seconds: float = Field(default=30.0, gt=0, le=600)
    llm_concurrency: int = Field(default=4, ge=1, le=32)
    llm_token_budget: int = Field(default=60_000, ge=1000)  # per digest
    llm_max_retries: int = Field(default=2, ge=0, le=5)  # 429 / 5xx / timeouts, by the SDK
    # "schema": response_format json_schema (OpenAI, vLLM, Ollama, DashScope); "object": for
    # servers that take only json_object — the schema goes in the prompt
    llm_json_mode: str = Field(default="schema", pattern="^(schema|object)$")
    # An edition shows at most this many points (a morning's read), at most per_section in a
    # section while others wait; the rest are counted and shown on request
    digest_points: int = Field(default=15, ge=3, le=100)
    digest_points_per_section: int = Field(default=4, ge=1, le=100)
    log_level: str = "INFO"
    log_format: str = Field(default="text", pattern="^(text|json)$")
    # Webhook mode (instead of long polling) when webhook_url is set: the public HTTPS URL
    # Telegram posts updates to; the path part is the path this process serves.
    webhook_url: str | None = None
    webhook_secret: SecretStr | None = None
    webhook_listen: str = "0.0.0.0"
    webhook_port: int = Field(default=8443, ge=1, le=65535)
    # Health (/healthz) and Prometheus metrics (/metrics); off unless a port is given
    http_listen: str = "127.0.0.1"
    http_port: int | None = Field(default=None, ge=1, le=65535)
    # How often a standby process tries to become the leader (and the leader checks its lock)
    leader_check_seconds: float = Field(default=10.0, gt=0, le=50)

    @field_validator("admin_ids", mode="before")
    @classmethod
    def _split_ids(cls, value: object) -> object:
        if isinstance(value, str):
            return [part.strip() for part in value.replace(";", ",").split(",") if part.strip()]
        return value

    @field_validator("editions", mode="before")
    @classmethod
    def _parse_editions(cls, value: object) -> object:
        if not isinstance(value, str):
            return value
        editions = {}
        for part in value.split(";"):
            name, _, cron = part.partition("=")
            if not part.strip():
                continue
            if not name.strip() or len(cron.split()) != 5:
                raise ValueError(
                    "expected name=cron pairs, e.g. morning=30 8 * * *;evening=0 20 * * *"
                )
            try:
                CronTrigger.from_crontab(cron.strip())
            except ValueError as exc:
                raise ValueError(f"edition {name.strip()!r}: bad cron {cron.strip()!r}") from exc
            editions[name.strip()] = " ".join(cron.split())
        return editions

    @field_validator("allow_private_sources")
    @classmethod
    def _private_sources(cls, value: str) -> str:
        value = value.strip().lower()
        if value in _TRUE | _FALSE:
            return value
        for part in value.split(","):
            try:
                ipaddress.ip_network(part.strip(), strict=False)
            except ValueError as exc:
                raise ValueError("expected true, false or networks such as 10.0.0.0/8") from exc
        return value

    def private_policy(self) -> tuple[bool, Networks]:
        """(allow every private address, networks allowed although private)."""
        value = self.allow_private_sources
        if value in _TRUE | _FALSE:
            return value in _TRUE, ()
        networks = tuple(ipaddress.ip_network(p.strip(), strict=False) for p in value.split(","))
        return False, networks

    @field_validator("database_url")
    @classmethod
    def _database_url(cls, value: str | None) -> str | None:
        if value is not None and "://" not in value:
            raise ValueError("expected a URL such as sqlite:///data/chipdigest.db")
        return value

    @field_validator("data_dir")
    @classmethod
    def _data_dir(cls, value: Path) -> Path:
        """It must be a folder this process can write, or one it can create."""
        existing = next((p for p in (value, *value.parents) if p.exists()), None)
        if existing is not None and existing == value and not value.is_dir():
            raise ValueError("is a file, not a folder")
        if existing is not None and not os.access(existing, os.W_OK | os.X_OK):
            raise ValueError(f"{existing} is not writable")
        return value

    @field_validator("http_proxy")
    @classmethod
    def _http_proxy(cls, value: str | None) -> str | None:
        if not value:
            return None
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https", "socks5", "socks5h") or not parts.hostname:
            raise ValueError("expected a proxy URL such as http://127.0.0.1:7890")
        if parts.scheme.startswith("socks") and importlib.util.find_spec("socksio") is None:
            raise ValueError("a SOCKS proxy needs httpx's socks extra: pip install 'httpx[socks]'")
        return value

    @field_validator("webhook_listen", "http_listen")
    @classmethod
    def _listen_address(cls, value: str) -> str:
        try:
            ipaddress.ip_address(value)
        except ValueError as exc:
            if value != "localhost":
                raise ValueError("expected an IP address such as 0.0.0.0 or 127.0.0.1") from exc
        return value

    @field_validator("log_level")
    @classmethod
    def _log_level(cls, value: str) -> str:
        if value.upper() not in {"DEBUG", "INFO", "WARNING", "ERROR"}:
            raise ValueError("expected DEBUG, INFO, WARNING or ERROR")
        return value.upper()

    @field_validator("webhook_url")
    @classmethod
    def _webhook_url(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith("https://"):
            raise ValueError("Telegram posts only to https:// URLs")
        return value

    @model_validator(mode="after")
    def _embedding_endpoint(self) -> Settings:
        if self.embeddings == "openai" and not (self.embedding_base_url and self.embedding_model):
            raise ValueError(
                "CHIPDIGEST_EMBEDDINGS=openai needs CHIPDIGEST_EMBEDDING_BASE_URL and "
                "CHIPDIGEST_EMBEDDING_MODEL"
            )
        return self

    @model_validator(mode="after")
    def _model_endpoint(self) -> Settings:
        if bool(self.llm_base_url) != bool(self.llm_model):
            raise ValueError(
                "a language model needs both CHIPDIGEST_LLM_BASE_URL and CHIPDIGEST_LLM_MODEL"
            )
        if self.llm_base_url and urlsplit(self.llm_base_url).scheme not in ("http", "https"):
            raise ValueError("CHIPDIGEST_LLM_BASE_URL must be an http(s) URL")
        return self

    def model_settings(self) -> ModelSettings | None:
        """The language model's settings, or None when none is configured."""
        if not (self.llm_base_url and self.llm_model):
            return None
        return ModelSettings(
            base_url=self.llm_base_url,
            model=self.llm_model,
            api_key=self.llm_api_key.get_secret_value() if self.llm_api_key else None,
            timeout=self.llm_timeout_seconds,
            concurrency=self.llm_concurrency,
            token_budget=self.llm_token_budget,
            json_mode=self.llm_json_mode,
            max_retries=self.llm_max_retries,
        )

    @model_validator(mode="after")
    def _webhook_needs_a_secret(self) -> Settings:
        secret = self.webhook_secret.get_secret_value() if self.webhook_secret else ""
        if self.webhook_url and not re.fullmatch(r"[A-Za-z0-9_-]{16,256}", secret):
            raise ValueError(
                "CHIPDIGEST_WEBHOOK_SECRET must be 16-256 letters, digits, _ or - "
                "when CHIPDIGEST_WEBHOOK_URL is set"
            )
        return self

    @property
    def webhook_path(self) -> str:
        """The path this process serves updates on, from the public webhook URL."""
        return urlsplit(self.webhook_url or "").path.strip("/") or "telegram"

    @property
    def effective_database_url(self) -> str:
        return self.database_url or f"sqlite:///{self.data_dir / 'chipdigest.db'}"

    def fetch_options(self) -> FetchOptions:
        return FetchOptions(
            read_timeout=self.fetch_timeout_seconds,
            connect_timeout=min(10.0, self.fetch_timeout_seconds),
            total_timeout=self.fetch_timeout_seconds * 3,
            max_bytes=self.max_feed_bytes,
            concurrency=self.fetch_concurrency,
            proxy=self.http_proxy,
            allow_private=self.private_policy()[0],
            private_allowlist=self.private_policy()[1],
        )

    def ingest_options(self) -> IngestOptions:
        return IngestOptions(
            max_errors=self.max_source_errors,
            backoff_base=timedelta(minutes=self.fetch_interval_minutes),
            story_window=timedelta(hours=self.story_window_hours),
            story_capacity=self.story_index_capacity,
            max_items_per_feed=self.max_items_per_feed,
        )


def load_settings(**overrides: object) -> Settings:
    """Read settings, turning a validation error into one line that names the setting."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        error = exc.errors()[0]
        name = ENV_PREFIX + str(error["loc"][0]).upper() if error["loc"] else "settings"
        value = error.get("input")
        shown = "" if isinstance(value, dict) or value is None else f" (got {value!r})"
        if "token" in name.lower() or "secret" in name.lower():
            shown = ""  # never echo a secret
        raise SettingsError(f"invalid setting {name}: {error['msg']}{shown}") from exc
