"""The HTTP server under every fake of the tests (feeds, the Bot API, a language model): real
sockets on 127.0.0.1, a thread per request, a free port, and a quick stop."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

Handle = Callable[[BaseHTTPRequestHandler], None]


class Loopback:
    def __init__(self, handle: Handle, methods: Iterable[str] = ("GET",), backlog: int = 5):
        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: object) -> None:
                pass

        for method in methods:
            setattr(Handler, f"do_{method}", lambda request: handle(request))
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.httpd.request_queue_size = backlog
        self.port = self.httpd.server_address[1]
        self.stopping = threading.Event()  # handlers that wait (a slow answer) wake on it
        # A short poll: shutdown() waits up to one interval (0.5 s by default, per test).
        self._thread = threading.Thread(
            target=self.httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self.stopping.set()
        self.httpd.shutdown()
        self.httpd.server_close()
