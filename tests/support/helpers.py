"""Small helpers the tests share: a free loopback port, a clock tests move by hand, fast fetch
options."""

from __future__ import annotations

import socket
from dataclasses import dataclass
from datetime import datetime, timedelta

from digest.ingest.fetch import FetchOptions


def free_port() -> int:
    """A loopback port nobody listens on (for servers a test starts, or a dead one)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class FakeClock:
    now: datetime

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **kwargs: float) -> None:
        self.now += timedelta(**kwargs)


# Short timeouts: a test server answers at once or is meant to hang.
FAST_FETCH = FetchOptions(
    connect_timeout=2,
    read_timeout=1.0,
    total_timeout=3.0,
    max_bytes=256 * 1024,
    allow_private=True,
)
