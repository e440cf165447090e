"""The fetcher and the pipeline against a real HTTP server with the faults of production."""

from __future__ import annotations

import asyncio
import gzip
import ipaddress
import socket
import zlib
from datetime import timedelta
from email.utils import format_datetime

import pytest

from digest.ingest.fetch import Fetcher, FetchOptions
from storage import Database
from tests.support.feedserver import FIXTURES, FeedServer
from tests.support.helpers import FAST_FETCH, FakeClock


async def test_second_fetch_with_etag_gets_304_and_stores_nothing(
    feed_server: FeedServer, db: Database, make_pipeline, clock: FakeClock
) -> None:
    url = feed_server.add_file("/feed", "rss2.xml", "application/rss+xml", etag='"v1"')
    source, _ = db.sources.add(url, clock())
    pipeline = make_pipeline()

    [first] = await pipeline.run([source])
    [second] = await pipeline.run([db.sources.get(source.id)])

    assert (first.status, first.new) == ("ok", 3)
    assert (second.status, second.new) == ("not_modified", 0)
    assert feed_server.request_headers["/feed"][1]["If-None-Match"] == '"v1"'
    assert db.items.count() == 3


async def test_second_fetch_without_validators_finds_only_duplicates(
    feed_server: FeedServer, db: Database, make_pipeline, clock: FakeClock
) -> None:
    url = feed_server.add_file("/plain", "atom.xml", "application/atom+xml")
    source, _ = db.sources.add(url, clock())
    pipeline = make_pipeline()

    await pipeline.run([source])
    [again] = await pipeline.run([db.sources.get(source.id)])

    assert (again.status, again.new, again.duplicate) == ("ok", 0, 2)
    assert db.items.count() == 2


async def test_same_item_from_another_source_is_not_stored_twice(
    feed_server: FeedServer, db: Database, make_pipeline, clock: FakeClock
) -> None:
    first = feed_server.add_file("/a", "rdf.xml", "application/rdf+xml")
    mirror = feed_server.add_file("/mirror", "rdf.xml", "application/rdf+xml")
    sources = [db.sources.add(u, clock())[0] for u in (first, mirror)]

    outcomes = await make_pipeline().run(sources)

    assert sorted((o.new, o.duplicate) for o in outcomes) == [(0, 2), (2, 0)]
    assert db.items.count() == 2


async def test_redirect_is_followed(
    feed_server: FeedServer, db: Database, make_pipeline, clock: FakeClock
) -> None:
    target = feed_server.add_file("/new-home", "rdf.xml", "application/rdf+xml")
    old = feed_server.add("/old-home", redirect=target)
    source, _ = db.sources.add(old, clock())

    [outcome] = await make_pipeline().run([source])

    assert (outcome.status, outcome.new) == ("ok", 2)


async def test_private_address_is_refused_without_the_setting(
    feed_server: FeedServer, db: Database, make_pipeline, clock: FakeClock
) -> None:
    url = feed_server.add_file("/feed", "rss2.xml", "application/rss+xml")
    source, _ = db.sources.add(url, clock())
    strict = FetchOptions(connect_timeout=2, read_timeout=1, total_timeout=3)

    [outcome] = await make_pipeline(fetch=strict).run([source])

    assert outcome.status == "error"
    assert "non-public address 127.0.0.1" in (outcome.error or "")
    assert "CHIPDIGEST_ALLOW_PRIVATE_SOURCES" in (outcome.error or "")
    assert feed_server.hits["/feed"] == 0  # refused before any byte was sent


async def test_redirect_to_a_private_address_is_refused(
    feed_server: FeedServer, db: Database, make_pipeline, clock: FakeClock
) -> None:
    # 127.0.0.1 is trusted here (as an operator would trust a LAN RSSHub); the redirect
    # points at 127.0.0.2, another private address nobody allowed.
    inner = feed_server.url("/internal", host="127.0.0.2")
    url = feed_server.add("/public", redirect=inner)
    feed_server.add_file("/internal", "rss2.xml", "application/rss+xml")
    source, _ = db.sources.add(url, clock())
    options = FetchOptions(
        connect_timeout=2,
        read_timeout=1,
        total_timeout=3,
        private_allowlist=(ipaddress.ip_network("127.0.0.1/32"),),
    )

    [outcome] = await make_pipeline(fetch=options).run([source])

    assert outcome.status == "error"
    assert "127.0.0.2" in (outcome.error or "")
    assert feed_server.hits["/public"] == 1
    assert feed_server.hits["/internal"] == 0


async def test_non_http_scheme_is_refused() -> None:
    async with Fetcher(FAST_FETCH) as fetcher:
        result = await fetcher.fetch("file:///etc/passwd")
    assert result.status == "error"
    assert "only http(s)" in (result.error_message or "")


async def test_body_over_the_cap_is_an_error(
    feed_server: FeedServer, db: Database, make_pipeline, clock: FakeClock
) -> None:
    declared = feed_server.add("/big", body=b"<rss>" + b"x" * 300_000, headers={})
    endless = feed_server.add("/endless", chunked_forever=True, headers={})
    sources = [db.sources.add(u, clock())[0] for u in (declared, endless)]

    outcomes = await make_pipeline().run(sources)

    assert [o.status for o in outcomes] == ["error", "error"]
    assert all("cap" in (o.error or "") for o in outcomes)


async def test_server_that_never_answers_times_out_and_others_go_on(
    feed_server: FeedServer, db: Database, make_pipeline, clock: FakeClock
) -> None:
    slow = feed_server.add("/hang", delay=30)
    good = feed_server.add_file("/good", "rdf.xml", "application/rdf+xml")
    sources = [db.sources.add(u, clock())[0] for u in (slow, good)]

    hung, ok = await make_pipeline().run(sources)

    assert hung.status == "error" and "timed out" in (hung.error or "")
    assert (ok.status, ok.new) == ("ok", 2)


async def test_server_errors_back_off_and_then_disable_the_source(
    feed_server: FeedServer, db: Database, make_pipeline, clock: FakeClock
) -> None:
    url = feed_server.add("/broken", status=500, body=b"oops")
    source, _ = db.sources.add(url, clock())
    pipeline = make_pipeline(max_errors=3, backoff_base=timedelta(minutes=10))

    await pipeline.run()
    after_one = db.sources.get(source.id)
    assert after_one.error_count == 1 and "HTTP 500" in after_one.last_error  # type: ignore[union-attr,operator]
    assert after_one.next_check_at == clock() + timedelta(minutes=10)  # type: ignore[union-attr]
    assert await pipeline.run() == []  # backing off: not due yet

    clock.advance(minutes=10)
    await pipeline.run()
    assert db.sources.get(source.id).next_check_at == clock() + timedelta(minutes=20)  # type: ignore[union-attr]

    clock.advance(minutes=20)
    [third] = await pipeline.run()
    assert third.disabled
    assert not db.sources.get(source.id).enabled  # type: ignore[union-attr]
    clock.advance(days=2)
    assert await pipeline.run() == []  # disabled sources are skipped

    db.sources.set_enabled(source.id, True)  # an admin re-enables it
    assert [s.id for s in db.sources.due(clock())] == [source.id]


async def test_429_retry_after_lengthens_the_backoff(
    feed_server: FeedServer, db: Database, make_pipeline, clock: FakeClock
) -> None:
    url = feed_server.add("/busy", status=429, headers={"Retry-After": "7200"})
    source, _ = db.sources.add(url, clock())

    [outcome] = await make_pipeline().run([source])

    assert "HTTP 429" in (outcome.error or "")
    assert db.sources.get(source.id).next_check_at == clock() + timedelta(seconds=7200)  # type: ignore[union-attr]


async def test_403_is_an_error_on_the_source(
    feed_server: FeedServer, db: Database, make_pipeline, clock: FakeClock
) -> None:
    url = feed_server.add("/blocked", status=403, body=b"forbidden")
    source, _ = db.sources.add(url, clock())

    [outcome] = await make_pipeline().run([source])

    assert outcome.status == "error" and "HTTP 403" in (outcome.error or "")
    assert db.sources.get(source.id).last_status == "http_error"  # type: ignore[union-attr]


async def test_html_and_script_in_titles_become_plain_text(
    feed_server: FeedServer, db: Database, make_pipeline, clock: FakeClock
) -> None:
    url = feed_server.add_file("/feed", "rss2.xml", "application/rss+xml")
    source, _ = db.sources.add(url, clock())

    await make_pipeline().run([source])

    for item in db.items.latest(limit=10):
        for text in (item.title, item.summary):
            assert "<" not in text and "alert(1)" not in text and "document.write" not in text


async def test_user_agent_names_the_bot(
    feed_server: FeedServer, db: Database, make_pipeline, clock: FakeClock
) -> None:
    url = feed_server.add_file("/feed", "rdf.xml", "application/rdf+xml")
    await make_pipeline().run([db.sources.add(url, clock())[0]])
    assert feed_server.request_headers["/feed"][0]["User-Agent"].startswith("chip-digest/")


STRICT = FetchOptions(connect_timeout=2, read_timeout=1, total_timeout=3)


@pytest.mark.parametrize(
    "host",
    [
        "100.100.100.200",  # Alibaba Cloud's metadata service, in 100.64.0.0/10
        "[2002:7f00:1::]",  # 6to4 form of 127.0.0.1
        "[2002:a9fe:a9fe::]",  # 6to4 form of 169.254.169.254
        "[64:ff9b::7f00:1]",  # NAT64 form of 127.0.0.1
        "[::ffff:10.0.0.1]",  # IPv4-mapped private
        "198.18.0.1",  # benchmarking range
    ],
)
async def test_special_purpose_addresses_are_refused(
    host: str, db: Database, make_pipeline, clock: FakeClock
) -> None:
    source, _ = db.sources.add(f"http://{host}/feed.xml", clock())
    [outcome] = await make_pipeline(fetch=STRICT).run([source])
    assert outcome.status == "error" and "non-public address" in (outcome.error or "")


async def test_dns_rebinding_cannot_reach_loopback(
    feed_server: FeedServer,
    db: Database,
    make_pipeline,
    clock: FakeClock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The name resolves to a public address when checked and to 127.0.0.1 afterwards: the
    connection goes to the address that was checked (which the test's socket guard stops),
    never to the feed server on loopback."""
    feed_server.add_file("/feed.xml", "rss2.xml", "application/rss+xml")
    answers = iter(["8.8.8.8"])
    real = asyncio.base_events.BaseEventLoop.getaddrinfo

    async def rebinding(self, host, port, *args, **kwargs):
        if host in ("rebind.test", b"rebind.test"):
            address = next(answers, "127.0.0.1")
            return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (address, port))]
        return await real(self, host, port, *args, **kwargs)

    monkeypatch.setattr(asyncio.base_events.BaseEventLoop, "getaddrinfo", rebinding)
    source, _ = db.sources.add(f"http://rebind.test:{feed_server.port}/feed.xml", clock())
    [outcome] = await make_pipeline(fetch=STRICT).run([source])
    assert outcome.status == "error"
    assert feed_server.hits["/feed.xml"] == 0


async def test_a_utf8_feed_with_a_few_bad_bytes_keeps_its_chinese(
    feed_server: FeedServer, db: Database, make_pipeline, clock: FakeClock
) -> None:
    """Left to feedparser, the whole feed was re-read as ISO-8859-2 (mojibake everywhere)."""
    body = (
        '<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>芯片源</title>'
        "<item><title>寒武纪发布新一代思元芯片</title><link>https://bad.example/1</link>"
        "<description>坏字节在这里：".encode()
        + b"\xff\xfe"
        + "之后仍是中文。</description></item></channel></rss>".encode()
    )
    url = feed_server.add("/bad-bytes.xml", body=body, headers={"Content-Type": "text/xml"})
    source, _ = db.sources.add(url, clock())
    [outcome] = await make_pipeline().run([source])
    [item] = db.items.latest()
    assert outcome.status == "ok" and item.title == "寒武纪发布新一代思元芯片"
    assert "之后仍是中文" in item.summary


async def test_a_huge_feed_gives_only_its_newest_items(
    feed_server: FeedServer, db: Database, make_pipeline, clock: FakeClock
) -> None:
    entries = "".join(
        f"<item><title>第{n}条：海光信息DCU出货</title><link>https://huge.example/{n}</link>"
        f"<pubDate>{format_datetime(clock() - timedelta(minutes=n))}</pubDate></item>"
        for n in range(1000)
    )
    body = f'<rss version="2.0"><channel><title>大源</title>{entries}</channel></rss>'.encode()
    url = feed_server.add("/huge.xml", body=body, headers={"Content-Type": "text/xml"})
    source, _ = db.sources.add(url, clock())
    [outcome] = await make_pipeline(max_items_per_feed=50).run([source])
    assert outcome.new == 50
    titles = {i.title for i in db.items.latest(limit=100)}
    assert "第0条：海光信息DCU出货" in titles and "第50条：海光信息DCU出货" not in titles


@pytest.mark.parametrize("encoding", ["gzip", "deflate"])
async def test_a_compressed_feed_is_read_and_a_compression_bomb_stops_at_the_cap(
    encoding: str, feed_server: FeedServer, db: Database, make_pipeline, clock: FakeClock
) -> None:
    feed = (FIXTURES / "rss2.xml").read_bytes()
    pack = gzip.compress if encoding == "gzip" else zlib.compress
    good = feed_server.add(
        "/packed.xml",
        body=pack(feed),
        headers={"Content-Type": "application/rss+xml", "Content-Encoding": encoding},
    )
    bomb = feed_server.add(  # 64 MB of zeros in about 64 KB: the cap is 256 KB
        "/bomb.xml",
        body=pack(b"<rss>" + b"\0" * (64 * 1024 * 1024)),
        headers={"Content-Type": "application/rss+xml", "Content-Encoding": encoding},
    )
    sources = [db.sources.add(url, clock())[0] for url in (good, bomb)]
    packed, exploded = await make_pipeline().run(sources)
    assert packed.status == "ok" and packed.new > 0
    assert exploded.status == "error" and "cap" in (exploded.error or "")


async def test_a_bug_in_ingest_is_raised_and_never_counted_against_the_source(
    feed_server: FeedServer, db: Database, make_pipeline, clock: FakeClock, monkeypatch
) -> None:
    """Reader's rule: only fetch and parse problems are a source's. A programming error is
    raised after the other sources are done; no source's error count moves (the audit saw one
    injected error disable every source after MAX_SOURCE_ERRORS cycles)."""
    good = feed_server.add_file("/good.xml", "rss2.xml", "application/rss+xml")
    bad = feed_server.add_file("/bad.xml", "atom.xml", "application/atom+xml")
    sources = [db.sources.add(url, clock())[0] for url in (good, bad)]
    pipeline = make_pipeline()
    real_enrich = pipeline.enricher.enrich

    def enrich(title: str, summary: str):
        if "Ascend 950" in title:  # an item of the Atom feed trips the bug
            raise RuntimeError("a bug")
        return real_enrich(title, summary)

    monkeypatch.setattr(pipeline.enricher, "enrich", enrich)
    for _ in range(3):
        with pytest.raises(RuntimeError, match="a bug"):
            await pipeline.run(sources)
    assert [s.error_count for s in db.sources.all()] == [0, 0]
    assert all(s.enabled for s in db.sources.all())
