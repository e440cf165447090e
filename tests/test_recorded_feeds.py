"""Recorded feeds beside their expected results, served over real HTTP and ingested whole."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from storage import Database
from tests.support.feedserver import FIXTURES, FeedServer
from tests.support.helpers import FakeClock

CASES = sorted(p.name.removesuffix(".expected.json") for p in FIXTURES.glob("*.expected.json"))


@pytest.mark.parametrize("filename", CASES)
async def test_feed_is_ingested_as_recorded(
    filename: str, feed_server: FeedServer, db: Database, make_pipeline, clock: FakeClock
) -> None:
    expected = json.loads((FIXTURES / f"{filename}.expected.json").read_text("utf-8"))
    url = feed_server.add_file(f"/{filename}", filename, expected["content_type"])
    source, _ = db.sources.add(url, clock())

    [outcome] = await make_pipeline().run([source])

    assert outcome.status == expected["status"]
    if "error" in expected:
        assert expected["error"] in (outcome.error or "")
        assert db.sources.get(source.id).error_count == 1  # type: ignore[union-attr]
    if "warning" in expected:
        assert expected["warning"] in (outcome.warning or "")
        assert expected["warning"] in (db.sources.get(source.id).last_error or "")  # type: ignore[union-attr]
    stored = [
        {
            "title": item.title,
            "link": item.link,
            "published": item.published_at.isoformat(),
            "companies": list(item.companies),
            "relevant": item.relevant,
            "language": item.language,
        }
        for item in db.items.latest(source_id=source.id, limit=100)
    ]
    server = feed_server.url("")
    wanted = [
        {
            **item,
            "link": item["link"] and item["link"].replace("{server}", server),
            "published": item["published"].replace("{fetched}", clock().isoformat()),
        }
        for item in expected["items"]
    ]
    assert stored == wanted
    assert outcome.new == len(wanted)


def test_every_fixture_has_its_expected_result() -> None:
    feeds = {p.name for p in FIXTURES.iterdir() if not p.name.endswith(".json")}
    assert feeds == set(CASES), "a recorded feed without an .expected.json is not tested"


def test_fixture_files_stay_inside_the_repository() -> None:
    """No fixture is a link to a file elsewhere (the shared corpora are not the project's)."""
    repository = Path(__file__).resolve().parent.parent
    outside = [p.name for p in FIXTURES.iterdir() if not p.resolve().is_relative_to(repository)]
    assert outside == [] and len(list(FIXTURES.iterdir())) > 5
