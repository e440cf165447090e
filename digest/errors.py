"""The exception tree of :mod:`digest`.

    DigestError
    ├── ConfigError        a data file or option is unusable (start-up stops)
    ├── FetchError         one source could not be fetched (a value on its outcome, not a crash)
    │   ├── BlockedURL         not http(s), or it resolves to a private/loopback address
    │   ├── ResponseTooLarge   the body passed the size cap
    │   ├── HTTPStatusError    4xx / 5xx
    │   └── NetworkError       DNS, connect, read, timeout, too many redirects
    ├── ParseError         the body is not a feed that yields entries
    └── CitationError      a composed digest whose [n] do not check out (never sent)

The pipeline catches FetchError and ParseError per source and records them on the source row;
one bad feed stops nothing.
"""

from __future__ import annotations


class DigestError(Exception):
    """Base class for errors raised on purpose by this package."""


class ConfigError(DigestError):
    pass


class FetchError(DigestError):
    kind = "error"


class BlockedURL(FetchError):
    kind = "blocked"


class ResponseTooLarge(FetchError):
    kind = "too_large"


class HTTPStatusError(FetchError):
    kind = "http_error"

    def __init__(self, message: str, status_code: int, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.retry_after = retry_after


class NetworkError(FetchError):
    kind = "network"


class ParseError(DigestError):
    kind = "parse_error"


class CitationError(DigestError):
    """A digest whose citations do not check out; it must never be sent."""
