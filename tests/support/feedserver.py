"""A real HTTP server on 127.0.0.1 for the tests: routes with bodies, headers and faults."""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from pathlib import Path

from tests.support.loopback import Loopback

FIXTURES = Path(__file__).parent.parent / "fixtures" / "feeds"


@dataclass
class Route:
    body: bytes = b""
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    etag: str | None = None  # answer 304 when If-None-Match matches
    redirect: str | None = None
    delay: float = 0.0  # seconds before answering (a server that hangs)
    chunked_forever: bool = False  # stream bytes without end (a body over any cap)


class FeedServer:
    def __init__(self) -> None:
        self.routes: dict[str, Route] = {}
        self.hits: Counter[str] = Counter()
        self.request_headers: dict[str, list[dict[str, str]]] = {}
        self._server = Loopback(self._handle)
        self._stop = self._server.stopping
        self.port = self._server.port

    def start(self) -> FeedServer:
        self._server.start()
        return self

    def stop(self) -> None:
        self._server.stop()

    def url(self, path: str, host: str = "127.0.0.1") -> str:
        return f"http://{host}:{self.port}{path}"

    def add(self, path: str, **kwargs: object) -> str:
        self.routes[path] = Route(**kwargs)  # type: ignore[arg-type]
        return self.url(path)

    def add_file(self, path: str, filename: str, content_type: str, **kwargs: object) -> str:
        body = (FIXTURES / filename).read_bytes()
        headers = {"Content-Type": content_type, **kwargs.pop("headers", {})}  # type: ignore[dict-item]
        return self.add(path, body=body, headers=headers, **kwargs)

    def _handle(self, request: BaseHTTPRequestHandler) -> None:
        path = request.path
        self.hits[path] += 1
        self.request_headers.setdefault(path, []).append(dict(request.headers.items()))
        route = self.routes.get(path)
        if route is None:
            return self._send(request, 404, {}, b"not found")
        if route.delay:
            self._stop.wait(route.delay)
        if route.redirect:
            return self._send(request, 302, {"Location": route.redirect}, b"")
        if route.etag and request.headers.get("If-None-Match") == route.etag:
            return self._send(request, 304, {"ETag": route.etag}, b"")
        headers = dict(route.headers)
        if route.etag:
            headers["ETag"] = route.etag
        if route.chunked_forever:
            return self._stream_forever(request, headers)
        self._send(request, route.status, headers, route.body)

    def _send(
        self, request: BaseHTTPRequestHandler, status: int, headers: dict[str, str], body: bytes
    ) -> None:
        try:
            request.send_response(status)
            for name, value in headers.items():
                request.send_header(name, value)
            request.send_header("Content-Length", str(len(body)))
            request.end_headers()
            request.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            pass

    def _stream_forever(self, request: BaseHTTPRequestHandler, headers: dict[str, str]) -> None:
        try:
            request.send_response(200)
            for name, value in headers.items():
                request.send_header(name, value)
            request.send_header("Transfer-Encoding", "chunked")
            request.end_headers()
            chunk = b"<item>" + b"x" * 65_000 + b"</item>"
            deadline = time.monotonic() + 10
            while not self._stop.is_set() and time.monotonic() < deadline:
                request.wfile.write(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n")
        except (BrokenPipeError, ConnectionResetError):
            pass
