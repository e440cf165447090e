"""Near-duplicates across outlets become one story, across restarts too."""

from __future__ import annotations

from digest.ingest.samples import sample_bytes
from storage import Database
from tests.support.feedserver import FeedServer
from tests.support.helpers import FakeClock


def serve_samples(server: FeedServer, *names: str) -> list[str]:
    return [
        server.add(f"/{n}", body=sample_bytes(n), headers={"Content-Type": "application/rss+xml"})
        for n in names
    ]


def story_of(db: Database, needle: str) -> set[int]:
    return {i.story_id for i in db.items.latest(limit=500) if needle in i.title}


async def test_one_story_told_by_several_outlets_shares_a_story_id(
    feed_server: FeedServer, db: Database, make_pipeline, clock: FakeClock
) -> None:
    urls = serve_samples(feed_server, "xinzhi.xml", "suanli.xml", "bandaoti-gbk.xml")
    await make_pipeline().run([db.sources.add(u, clock())[0] for u in urls])

    cambricon = [i for i in db.items.latest(limit=500) if "6000亿" in i.title]
    assert len(cambricon) == 3
    assert len({i.story_id for i in cambricon}) == 1
    assert len({i.outlet for i in cambricon}) == 3


async def test_similar_words_about_different_companies_stay_apart(
    feed_server: FeedServer, db: Database, make_pipeline, clock: FakeClock
) -> None:
    urls = serve_samples(feed_server, "xinzhi.xml", "bandaoti-gbk.xml")
    await make_pipeline().run([db.sources.add(u, clock())[0] for u in urls])

    moore = story_of(db, "摩尔线程")
    metax = story_of(db, "沐曦")
    assert len(moore) == 1 and len(metax) == 1 and moore != metax


async def test_stories_join_across_a_restart(
    feed_server: FeedServer, db: Database, make_pipeline, clock: FakeClock
) -> None:
    first, second = serve_samples(feed_server, "xinzhi.xml", "suanli.xml")
    await make_pipeline().run([db.sources.add(first, clock())[0]])
    clock.advance(hours=2)

    # A new pipeline is a new process: its index is rebuilt from the stored signatures.
    await make_pipeline().run([db.sources.add(second, clock())[0]])

    stories = db.items.stories(min_items=2, limit=50)
    assert any({i.outlet for i in s} == {"芯智观察", "算力日报"} for s in stories)
    assert len(story_of(db, "6000亿")) == 1


async def test_old_items_are_outside_the_story_window(
    feed_server: FeedServer, db: Database, make_pipeline, clock: FakeClock
) -> None:
    first, second = serve_samples(feed_server, "xinzhi.xml", "suanli.xml")
    await make_pipeline().run([db.sources.add(first, clock())[0]])
    clock.advance(days=30)

    await make_pipeline().run([db.sources.add(second, clock())[0]])

    assert len(story_of(db, "6000亿")) == 2  # a month later it is news again, not the same story
