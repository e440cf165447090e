"""Asynchronous feed fetching with httpx.

Conditional GET (ETag / Last-Modified), connect/read timeouts and an overall deadline, a cap on
the body size (read in chunks, so a huge body is an error and not a memory spike), limited
redirects, a clear User-Agent and an optional proxy. Each hop of a redirect chain passes through
:class:`GuardedTransport`, which refuses anything but http(s) and any host that resolves to a
private, loopback or link-local address unless private sources are allowed.

A fetch never raises for a problem of its source: :meth:`Fetcher.fetch` returns a
:class:`FetchResult` whose ``error`` says what went wrong.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import socket
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any, Literal

import httpx

from digest.errors import BlockedURL, FetchError, HTTPStatusError, NetworkError, ResponseTooLarge

log = logging.getLogger(__name__)

USER_AGENT = "chip-digest/0.1 (+https://github.com/chip-digest/chip-digest; feed reader)"


@dataclass(frozen=True, slots=True)
class FetchOptions:
    connect_timeout: float = 10.0
    read_timeout: float = 20.0
    total_timeout: float = 60.0
    max_bytes: int = 5 * 1024 * 1024
    max_redirects: int = 5
    concurrency: int = 8
    proxy: str | None = None
    allow_private: bool = False
    # Networks trusted although private (e.g. a self-hosted RSSHub at 10.0.0.5).
    private_allowlist: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...] = ()
    user_agent: str = USER_AGENT


@dataclass(frozen=True, slots=True)
class FetchResult:
    url: str
    status: Literal["ok", "not_modified", "error"]
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    final_url: str | None = None
    http_status: int | None = None
    etag: str | None = None
    last_modified: str | None = None
    error: FetchError | None = None

    @property
    def error_message(self) -> str | None:
        return None if self.error is None else str(self.error)


Networks = tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]


def _is_public(address: str, allowlist: Networks = ()) -> bool:
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    if any(ip in network for network in allowlist):
        return True
    return not (
        ip.is_private
        or ip.is_loopback
        or ip.is_link_local
        or ip.is_multicast
        or ip.is_reserved
        or ip.is_unspecified
    )


async def check_url(url: httpx.URL | str, allow_private: bool, allowlist: Networks = ()) -> None:
    """Raise :class:`BlockedURL` unless ``url`` is http(s) to a public address (or allowed)."""
    url = httpx.URL(url) if isinstance(url, str) else url
    if url.scheme not in ("http", "https"):
        raise BlockedURL(f"only http(s) URLs are fetched, not {url.scheme or 'a bare path'!r}")
    host = url.host
    if not host:
        raise BlockedURL("URL has no host")
    if allow_private:
        return
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(
            host, url.port or (443 if url.scheme == "https" else 80), type=socket.SOCK_STREAM
        )
    except socket.gaierror as exc:
        raise NetworkError(f"cannot resolve {host}: {exc.strerror}") from exc
    for info in infos:
        address = str(info[4][0])
        if not _is_public(address, allowlist):
            raise BlockedURL(
                f"{host} resolves to non-public address {address} "
                "(set CHIPDIGEST_ALLOW_PRIVATE_SOURCES=1 to allow)"
            )


class GuardedTransport(httpx.AsyncBaseTransport):
    """Checks every request, redirects included, before it reaches the network."""

    def __init__(
        self, inner: httpx.AsyncBaseTransport, allow_private: bool, allowlist: Networks = ()
    ) -> None:
        self._inner = inner
        self._allow_private = allow_private
        self._allowlist = allowlist

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        await check_url(request.url, self._allow_private, self._allowlist)
        return await self._inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self._inner.aclose()


def _retry_after(value: str | None) -> float | None:
    if not value:
        return None
    if value.strip().isdigit():
        return float(value.strip())
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


class Fetcher:
    """One httpx client shared by a fetch cycle; use it as an async context manager."""

    def __init__(
        self, options: FetchOptions, transport: httpx.AsyncBaseTransport | None = None
    ) -> None:
        self.options = options
        inner = transport or httpx.AsyncHTTPTransport(proxy=options.proxy, retries=0)
        if transport is None:
            inner = GuardedTransport(inner, options.allow_private, options.private_allowlist)
        self._client = httpx.AsyncClient(
            transport=inner,
            timeout=httpx.Timeout(
                connect=options.connect_timeout,
                read=options.read_timeout,
                write=options.read_timeout,
                pool=options.total_timeout,
            ),
            follow_redirects=True,
            max_redirects=options.max_redirects,
            headers={"User-Agent": options.user_agent, "Accept": _ACCEPT},
        )
        self._slots = asyncio.Semaphore(options.concurrency)

    async def __aenter__(self) -> Fetcher:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self._client.aclose()

    async def fetch(
        self, url: str, etag: str | None = None, last_modified: str | None = None
    ) -> FetchResult:
        async with self._slots:
            try:
                async with asyncio.timeout(self.options.total_timeout):
                    return await self._fetch(url, etag, last_modified)
            except FetchError as exc:
                return FetchResult(url, "error", error=exc)
            except TimeoutError:
                error = NetworkError(f"no complete answer within {self.options.total_timeout:g}s")
                return FetchResult(url, "error", error=error)
            except httpx.TimeoutException as exc:
                return FetchResult(url, "error", error=NetworkError(f"timed out ({_name(exc)})"))
            except httpx.TooManyRedirects:
                error = NetworkError(f"more than {self.options.max_redirects} redirects")
                return FetchResult(url, "error", error=error)
            except httpx.HTTPError as exc:
                return FetchResult(url, "error", error=NetworkError(f"{_name(exc)}: {exc}"))

    async def _fetch(self, url: str, etag: str | None, last_modified: str | None) -> FetchResult:
        await check_url(url, allow_private=True)  # scheme check; the transport checks hosts
        headers = {}
        if etag:
            headers["If-None-Match"] = etag
        if last_modified:
            headers["If-Modified-Since"] = last_modified
        async with self._client.stream("GET", url, headers=headers) as response:
            common: dict[str, Any] = {
                "final_url": str(response.url),
                "http_status": response.status_code,
                "etag": _validator(response.headers.get("etag"), MAX_ETAG),
                "last_modified": _validator(response.headers.get("last-modified"), MAX_DATE),
            }
            if response.status_code == 304:
                return FetchResult(url, "not_modified", **common)
            if response.status_code >= 400:
                raise HTTPStatusError(
                    f"HTTP {response.status_code} {response.reason_phrase}".strip(),
                    response.status_code,
                    _retry_after(response.headers.get("retry-after")),
                )
            body = await self._read_capped(response)
            return FetchResult(url, "ok", body=body, headers=dict(response.headers), **common)

    async def _read_capped(self, response: httpx.Response) -> bytes:
        """Read the (decompressed) body in chunks, stopping at the cap: no zip bombs either."""
        cap = self.options.max_bytes
        declared = response.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > cap:
            raise ResponseTooLarge(f"body of {int(declared)} bytes is over the {cap}-byte cap")
        chunks: list[bytes] = []
        size = 0
        async for chunk in response.aiter_bytes():
            size += len(chunk)
            if size > cap:
                raise ResponseTooLarge(f"body passed the {cap}-byte cap")
            chunks.append(chunk)
        return b"".join(chunks)


_ACCEPT = (
    "application/rss+xml, application/atom+xml, application/rdf+xml, "
    "application/xml;q=0.9, text/xml;q=0.9, */*;q=0.5"
)


# A validator longer than these is not one a server means (RFC 9110 dates are 29 characters);
# cut, it would never match again, so it is not kept at all.
MAX_ETAG, MAX_DATE = 256, 64


def _validator(value: str | None, limit: int) -> str | None:
    return value if value and len(value) <= limit else None


def _name(exc: BaseException) -> str:
    return type(exc).__name__
