"""Shared fixtures: no internet, a clean environment, a real feed server, a real database."""

from __future__ import annotations

import ipaddress
import os
import socket
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from digest.companies import CompanyBase
from digest.ingest.enrich import Enricher, load_domain_terms
from digest.ingest.fetch import FetchOptions
from digest.ingest.pipeline import IngestOptions, IngestPipeline
from storage import Database
from tests.support.fakebotapi import FakeBotAPI
from tests.support.feedserver import FeedServer
from tests.support.helpers import FAST_FETCH, FakeClock, free_port  # noqa: F401  (re-used here)
from tests.support.pgcluster import PostgresCluster

# Read once, before the autouse fixture below clears CHIPDIGEST_* for each test.
POSTGRES_URL = os.environ.get("CHIPDIGEST_TEST_POSTGRES_URL")

_real_connect = socket.socket.connect


def _guarded_connect(self: socket.socket, address: object) -> None:
    """Tests may talk to loopback only; anything else is a bug in the test."""
    if self.family in (socket.AF_INET, socket.AF_INET6):
        host = address[0] if isinstance(address, tuple) else str(address)
        if not ipaddress.ip_address(host).is_loopback:
            raise OSError(f"tests must not touch the network (tried {address})")
    return _real_connect(self, address)  # type: ignore[arg-type]


@pytest.fixture(autouse=True)
def _no_internet(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(socket.socket, "connect", _guarded_connect)


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in list(os.environ):
        if name.startswith("CHIPDIGEST_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)  # no stray .env, and data/ lands in the test's folder


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(datetime(2026, 11, 23, 1, 0, tzinfo=UTC))


@pytest.fixture
def feed_server() -> Iterator[FeedServer]:
    server = FeedServer().start()
    yield server
    server.stop()


@pytest.fixture
def bot_api() -> Iterator[FakeBotAPI]:
    """The fake Telegram Bot API server, on 127.0.0.1."""
    server = FakeBotAPI().start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresCluster | None]:
    """The PostgreSQL server named by CHIPDIGEST_TEST_POSTGRES_URL, if any."""
    cluster = PostgresCluster(POSTGRES_URL) if POSTGRES_URL else None
    yield cluster
    if cluster is not None:
        cluster.close()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgresql)])
def backend(request: pytest.FixtureRequest, postgres: PostgresCluster | None) -> str:
    """Every test that touches a database runs once on SQLite and once on PostgreSQL."""
    if request.param == "postgresql" and postgres is None:
        if os.environ.get("CI") == "true":
            pytest.fail("CI must run the PostgreSQL tests: CHIPDIGEST_TEST_POSTGRES_URL is unset")
        pytest.skip("no PostgreSQL: set CHIPDIGEST_TEST_POSTGRES_URL (.ci/postgres starts one)")
    return str(request.param)


@pytest.fixture
def new_database_url(
    backend: str, postgres: PostgresCluster | None, tmp_path: Path
) -> Iterator[Callable[..., str]]:
    """Makes URLs of fresh databases of the test's backend: empty, or migrated to head."""
    made: list[str] = []

    def make(migrated: bool = True) -> str:
        if backend == "sqlite":
            url = f"sqlite:///{tmp_path / f'db{len(made)}.sqlite'}"
            if migrated:
                database = Database(url)
                database.upgrade()
                database.close()
        else:
            assert postgres is not None
            url = postgres.create(migrated)
        made.append(url)
        return url

    yield make
    if postgres is not None:
        for url in made:
            if not url.startswith("sqlite"):
                postgres.drop(url)


@pytest.fixture
def database_url(new_database_url: Callable[..., str]) -> str:
    """The URL of a fresh database, migrated to head, on the test's backend."""
    return new_database_url()


@pytest.fixture
def db(database_url: str) -> Iterator[Database]:
    database = Database(database_url)
    yield database
    database.close()


@pytest.fixture(scope="session")
def companies() -> CompanyBase:
    return CompanyBase.load()


@pytest.fixture(scope="session")
def enricher(companies: CompanyBase) -> Enricher:
    return Enricher(companies, load_domain_terms(), threshold=3.0)


@pytest.fixture
def make_pipeline(db: Database, enricher: Enricher, clock: FakeClock):
    def make(fetch: FetchOptions = FAST_FETCH, **options: object) -> IngestPipeline:
        return IngestPipeline(db, enricher, fetch, IngestOptions(**options), clock=clock)  # type: ignore[arg-type]

    return make
