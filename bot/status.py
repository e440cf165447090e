"""The status server: ``/healthz`` for a container's health check or a load balancer, and
``/metrics`` for Prometheus. Tornado (which python-telegram-bot's webhook server already
uses) on the bot's own event loop, on a port of its own so it never shares the webhook's."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable

from tornado.httpserver import HTTPServer
from tornado.web import Application, RequestHandler

from bot.context import AppContext
from bot.metrics import CONTENT_TYPE
from storage import StorageError

log = logging.getLogger(__name__)


def database_ok(ctx: AppContext) -> bool:
    try:
        ctx.db.ping()
        return True
    except StorageError as exc:
        log.warning("health check: database unreachable: %s", exc)
        return False


class _Health(RequestHandler):
    def initialize(self, ctx: AppContext, is_leader: Callable[[], bool]) -> None:
        self.ctx, self.is_leader = ctx, is_leader

    async def get(self) -> None:
        ok = await asyncio.to_thread(database_ok, self.ctx)
        self.set_status(200 if ok else 503)
        self.set_header("Content-Type", "application/json")
        body = {
            "status": "ok" if ok else "database unreachable",
            "database": ok,
            "leader": self.is_leader(),
        }
        self.finish(json.dumps(body))


class _Metrics(RequestHandler):
    def initialize(self, ctx: AppContext, is_leader: Callable[[], bool]) -> None:
        self.ctx = ctx

    async def get(self) -> None:
        body = await asyncio.to_thread(self.ctx.metrics.exposition)
        self.set_header("Content-Type", CONTENT_TYPE)
        self.finish(body)


class StatusServer:
    def __init__(self, ctx: AppContext, is_leader: Callable[[], bool]) -> None:
        options = {"ctx": ctx, "is_leader": is_leader}
        self._app = Application([("/healthz", _Health, options), ("/metrics", _Metrics, options)])
        self._server: HTTPServer | None = None

    def start(self, listen: str, port: int) -> None:
        self._server = self._app.listen(port, address=listen, xheaders=True)
        log.info("health and metrics on http://%s:%d/healthz and /metrics", listen, port)

    async def stop(self) -> None:
        if self._server is not None:
            self._server.stop()
            await self._server.close_all_connections()
            self._server = None
