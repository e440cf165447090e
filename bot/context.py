"""The composition root shared by the CLI, the console and (later) the Telegram bot."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from functools import cached_property
from zoneinfo import ZoneInfo

import httpx

from bot.config import Settings
from bot.metrics import Metrics
from digest.companies import CompanyBase
from digest.compose.checks import Checker
from digest.compose.composer import Composer, DigestSize
from digest.compose.llm import ModelClient
from digest.compose.template import Template
from digest.compose.writer import ModelWriter
from digest.ingest.embed import Embedder, OpenAIEmbedder, shared_process_embedder
from digest.ingest.enrich import Enricher, load_domain_terms
from digest.ingest.pipeline import IngestPipeline, utcnow
from digest.ingest.sources import load_source_specs
from storage import Database, StorageError


class AppContext:
    """Settings, database and the heavy singletons (company base, jieba), built once."""

    def __init__(
        self,
        settings: Settings,
        *,
        database_url: str | None = None,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.settings = settings
        self.db = Database(database_url or settings.effective_database_url)
        self.clock = clock
        self.bot_username: str | None = None  # known once the Telegram bot has started

    def prepare(self) -> None:
        """Bring an embedded SQLite database up to date; insist on it for a server database."""
        if self.db.is_sqlite:
            self.db.ensure_schema()
        elif self.db.current_revision() != self.db.head_revision():
            raise StorageError("the database schema is not current: run `chipdigest db upgrade`")

    @cached_property
    def metrics(self) -> Metrics:
        return Metrics(self.db)

    @cached_property
    def companies(self) -> CompanyBase:
        return CompanyBase.load()

    @cached_property
    def enricher(self) -> Enricher:
        return Enricher(self.companies, load_domain_terms(), self.settings.relevance_threshold)

    @cached_property
    def composer(self) -> Composer:
        settings = self.settings
        return Composer(
            Template.load(),
            self.companies,
            timezone=ZoneInfo(settings.timezone),
            writer=self.writer,
            size=DigestSize(settings.digest_points, settings.digest_points_per_section),
        )

    @cached_property
    def writer(self) -> ModelWriter | None:
        """The language model's writer, when one is configured (else nothing touches the
        network: key points stay extractive)."""
        model = self.settings.model_settings()
        if model is None:
            return None
        embedder = self.embedder
        checker = Checker(
            lambda text: frozenset(self.enricher.enrich(text, "").companies),
            embed=embedder.embed if embedder is not None else None,
        )
        return ModelWriter(
            ModelClient(model),
            checker,
            self.db.writings,
            clock=self.clock,
            on_call=self.metrics.record_model_call,
        )

    @cached_property
    def embedder(self) -> Embedder | None:
        """The sentence embedder stories across languages are found with (None: off)."""
        settings = self.settings
        if settings.embeddings == "off":
            return None
        if settings.embeddings == "openai":
            assert settings.embedding_base_url and settings.embedding_model  # the settings say
            key = (
                settings.embedding_api_key.get_secret_value()
                if settings.embedding_api_key
                else None
            )
            return OpenAIEmbedder(
                settings.embedding_base_url, settings.embedding_model, key, timeout=30.0
            )
        return shared_process_embedder()  # the bundled model, in a worker process

    def pipeline(self, transport: httpx.AsyncBaseTransport | None = None) -> IngestPipeline:
        return IngestPipeline(
            self.db,
            self.enricher,
            self.settings.fetch_options(),
            self.settings.ingest_options(),
            clock=self.clock,
            transport=transport,
            embedder=self.embedder,
        )

    def seed_sources(self) -> int:
        """Fill an empty sources table from the sources file; returns how many were added."""
        if self.db.sources.all():
            return 0
        specs = load_source_specs(self.settings.sources_file)
        now = self.clock()
        return sum(self.db.sources.add(s.url, now, s.title)[1] for s in specs)

    def close(self) -> None:
        writer = self.__dict__.get("writer")  # only if it was built: no model, nothing to close
        if writer is not None:
            writer.client.close()
        self.db.close()
