"""The bundled sample feeds and an httpx transport that serves them without a network.

``chipdigest demo`` fetches these through the real fetcher, with this transport in place of the
network: conditional GET, size caps and parsing all run as they do against a live server.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import resources

import httpx

SAMPLE_HOST = "samples.chip-digest.invalid"
# The samples are a snapshot: their items were published 19-23 November 2026. The demo runs at
# SAMPLES_NOW, with the sources followed since SAMPLES_ADDED, so none of it is a new source's
# backlog (which never enters a digest).
SAMPLES_ADDED = datetime(2026, 11, 18, tzinfo=UTC)
SAMPLES_NOW = datetime(2026, 11, 23, 1, 0, tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class SampleFeed:
    filename: str
    title: str
    content_type: str  # what the (imaginary) server says; no charset on the GBK one

    @property
    def url(self) -> str:
        return f"https://{SAMPLE_HOST}/{self.filename}"


SAMPLE_FEEDS = (
    SampleFeed("xinzhi.xml", "芯智观察", "application/rss+xml; charset=utf-8"),
    SampleFeed("suanli.xml", "算力日报", "application/rss+xml; charset=utf-8"),
    SampleFeed("computewire.atom", "Compute Wire", "application/atom+xml"),
    SampleFeed("bandaoti-gbk.xml", "半导体快讯", "application/rss+xml"),
    SampleFeed("asiachip.rdf", "Asia Chip Report", "application/rdf+xml"),
    SampleFeed("forum-malformed.xml", "科技社区热帖", "text/xml; charset=utf-8"),
    SampleFeed("offline-page.xml", "A feed that went away", "text/html; charset=utf-8"),
)


def sample_bytes(filename: str) -> bytes:
    return resources.files("digest.data").joinpath("samples", filename).read_bytes()


class BundledFeedTransport(httpx.AsyncBaseTransport):
    """Serves :data:`SAMPLE_FEEDS` with ETags and 304s; anything else is a 404."""

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        feeds = {f.filename: f for f in SAMPLE_FEEDS}
        feed = feeds.get(request.url.path.lstrip("/"))
        if request.url.host != SAMPLE_HOST or feed is None:
            return httpx.Response(404, request=request)
        body = sample_bytes(feed.filename)
        etag = '"' + hashlib.sha1(body).hexdigest()[:16] + '"'
        if request.headers.get("if-none-match") == etag:
            return httpx.Response(304, headers={"ETag": etag}, request=request)
        headers = {"Content-Type": feed.content_type, "ETag": etag}
        # A stream, as from the network (content= would arrive already read).
        return httpx.Response(200, headers=headers, stream=httpx.ByteStream(body), request=request)
