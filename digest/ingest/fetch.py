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
import zlib
from collections.abc import Callable
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


_NAT64 = ipaddress.ip_network("64:ff9b::/96")


def _embedded_ipv4(ip: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 one carries (mapped, 6to4, Teredo, NAT64), if any: each is a
    way to reach 127.0.0.1 or a metadata service through an address that looks global."""
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip.sixtofour is not None:
        return ip.sixtofour
    if ip.teredo is not None:
        return ip.teredo[1]
    if ip in _NAT64:
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return None


def _is_public(address: str, allowlist: Networks = ()) -> bool:
    """Whether ``address`` is on the public internet, by what :mod:`ipaddress` knows of the
    special-purpose registries (100.64.0.0/10 — Alibaba Cloud's metadata service is at
    100.100.100.200 —, link-local, loopback, private, documentation, ...)."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address):
        inner = _embedded_ipv4(ip)
        if inner is not None:
            return _is_public(str(inner), allowlist)
    if any(ip in network for network in allowlist):
        return True
    return ip.is_global and not ip.is_multicast


def _check_addresses(host: str, addresses: list[str], allowlist: Networks) -> str:
    """The first address of ``host`` if every one is public; else :class:`BlockedURL`."""
    for address in addresses:
        if not _is_public(address, allowlist):
            raise BlockedURL(
                f"{host} resolves to non-public address {address} "
                "(set CHIPDIGEST_ALLOW_PRIVATE_SOURCES=1 to allow)"
            )
    if not addresses:
        raise NetworkError(f"cannot resolve {host}")
    return addresses[0]


def _split(url: httpx.URL | str) -> tuple[httpx.URL, str, int]:
    url = httpx.URL(url) if isinstance(url, str) else url
    if url.scheme not in ("http", "https"):
        raise BlockedURL(f"only http(s) URLs are fetched, not {url.scheme or 'a bare path'!r}")
    if not url.host:
        raise BlockedURL("URL has no host")
    return url, url.host, url.port or (443 if url.scheme == "https" else 80)


async def check_url(
    url: httpx.URL | str, allow_private: bool, allowlist: Networks = ()
) -> str | None:
    """Raise :class:`BlockedURL` unless ``url`` is http(s) to a public address (or allowed);
    returns the checked address to connect to (None when private addresses are allowed)."""
    url, host, port = _split(url)
    if allow_private:
        return None
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise NetworkError(f"cannot resolve {host}: {exc.strerror}") from exc
    return _check_addresses(host, [str(i[4][0]) for i in infos], allowlist)


def check_url_now(url: str, allow_private: bool, allowlist: Networks = ()) -> None:
    """:func:`check_url` for code that is not async (a source being added)."""
    _, host, port = _split(url)
    if allow_private:
        return
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise NetworkError(f"cannot resolve {host}: {exc.strerror}") from exc
    _check_addresses(host, [str(i[4][0]) for i in infos], allowlist)


class GuardedTransport(httpx.AsyncBaseTransport):
    """Checks every request, redirects included, before it reaches the network, and connects
    to the very address it checked: a name that resolves to a public address for the check
    and to 127.0.0.1 for the connection (DNS rebinding) never reaches the second. The Host
    header and the TLS server name stay the original host's."""

    def __init__(
        self,
        inner: httpx.AsyncBaseTransport,
        allow_private: bool,
        allowlist: Networks = (),
        pin: bool = True,
    ) -> None:
        self._inner = inner
        self._allow_private = allow_private
        self._allowlist = allowlist
        self._pin = pin  # not through a proxy: the proxy resolves and connects

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        address = await check_url(request.url, self._allow_private, self._allowlist)
        if address is not None and self._pin:
            request = httpx.Request(
                request.method,
                request.url.copy_with(host=address),
                headers=request.headers,  # Host: the original name
                stream=request.stream,
                extensions={**request.extensions, "sni_hostname": request.url.host},
            )
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
            inner = GuardedTransport(
                inner, options.allow_private, options.private_allowlist, pin=not options.proxy
            )
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
            # Only what _read_capped can inflate with a bound on every step.
            headers={
                "User-Agent": options.user_agent,
                "Accept": _ACCEPT,
                "Accept-Encoding": "gzip, deflate",
            },
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
        """Read the body in chunks, decompressing it here with a bound on every step: a small
        gzip chunk that would inflate to gigabytes stops at the cap, not in memory."""
        cap = self.options.max_bytes
        declared = response.headers.get("content-length", "")
        encoding = response.headers.get("content-encoding", "identity").strip().lower()
        if encoding in ("identity", "") and declared.isdigit() and int(declared) > cap:
            raise ResponseTooLarge(f"body of {int(declared)} bytes is over the {cap}-byte cap")
        if response.is_stream_consumed:  # a transport that hands over a body already read
            if len(response.content) > cap:
                raise ResponseTooLarge(f"body passed the {cap}-byte cap")
            return response.content
        inflate = _decompressor(encoding)
        chunks: list[bytes] = []
        size = 0
        async for raw in response.aiter_raw():
            data = raw
            while data:
                piece, data = inflate(data, cap - size + 1)
                size += len(piece)
                if size > cap:
                    raise ResponseTooLarge(f"body passed the {cap}-byte cap")
                chunks.append(piece)
        return b"".join(chunks)


Inflate = Callable[[bytes, int], tuple[bytes, bytes]]


def _decompressor(encoding: str) -> Inflate:
    """(data, at most n bytes out) → (bytes out, input left over) for a content encoding."""
    if encoding in ("identity", ""):
        return lambda data, limit: (data, b"")
    if encoding not in ("gzip", "x-gzip", "deflate"):
        raise FetchError(f"unsupported content encoding {encoding!r}")
    # wbits 47: gzip or zlib header, detected; raw deflate (some servers) is tried on failure.
    state = {"z": zlib.decompressobj(47)}

    def inflate(data: bytes, limit: int) -> tuple[bytes, bytes]:
        try:
            out = state["z"].decompress(data, max(limit, 1))
        except zlib.error:
            if encoding != "deflate":
                raise FetchError("the compressed body is corrupt") from None
            state["z"] = zlib.decompressobj(-zlib.MAX_WBITS)
            out = state["z"].decompress(data, max(limit, 1))
        return out, state["z"].unconsumed_tail

    return inflate


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
