from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import inspect, text

from storage import Database, StorageError
from storage.types import NewItem

NOW = datetime(2026, 11, 23, 1, 0, tzinfo=UTC)


def new_item(**overrides: object) -> NewItem:
    values: dict[str, object] = dict(
        source_id=None,
        outlet="Test",
        guid="g1",
        guid_key="g" * 40,
        link="https://a/1",
        link_key="l" * 40,
        content_key="c" * 40,
        title="寒武纪",
        summary="正文",
        published_at=NOW,
        fetched_at=NOW,
        language="zh",
        companies=("cambricon",),
        relevance=3.0,
        relevant=True,
        tokens=(("寒武纪",),),
        signature=b"\0" * 8,
    )
    values.update(overrides)
    return NewItem(**values)  # type: ignore[arg-type]


def test_upgrade_from_empty_and_downgrade_round_trip(new_database_url: Callable[..., str]) -> None:
    db = Database(new_database_url(migrated=False))
    assert db.current_revision() is None
    db.upgrade()
    assert db.current_revision() == db.head_revision()
    assert {"sources", "items", "stories", "item_companies"} <= set(
        inspect(db.engine).get_table_names()
    )
    db.downgrade("base")
    assert db.current_revision() is None
    assert "items" not in inspect(db.engine).get_table_names()
    db.upgrade()
    assert db.current_revision() == db.head_revision()
    db.close()


def test_sqlite_runs_with_wal_and_foreign_keys(db: Database) -> None:
    if not db.is_sqlite:
        pytest.skip("SQLite's pragmas")
    with db.engine.connect() as conn:
        assert conn.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        assert conn.execute(text("PRAGMA foreign_keys")).scalar() == 1


def test_times_come_back_as_utc(db: Database) -> None:
    db.items.add_many([new_item()])
    [item] = db.items.latest()
    assert item.published_at == NOW and item.published_at.tzinfo is UTC


def test_any_shared_key_makes_a_duplicate(db: Database) -> None:
    first = db.items.add_many([new_item()])
    again = db.items.add_many(
        [
            new_item(guid_key="x" * 40, link_key="y" * 40),  # same content
            new_item(content_key="z" * 40, link_key=None),  # same guid
        ]
    )
    assert first[0] is not None and again == [None, None]
    assert db.items.count() == 1
    assert db.items.existing_keys(["g" * 40, "l" * 40, "q" * 40]) == {"g" * 40, "l" * 40}


def test_items_of_one_story_share_its_id(db: Database) -> None:
    [a] = db.items.add_many([new_item()])
    assert a is not None
    [b] = db.items.add_many(
        [new_item(guid_key="2" * 40, link_key="3" * 40, content_key="4" * 40, story_id=a.story_id)]
    )
    assert b is not None and b.story_id == a.story_id and b.item_id != a.item_id
    assert [len(s) for s in db.items.stories(min_items=2)] == [2]


def test_removing_a_source_keeps_its_items(db: Database) -> None:
    source, _ = db.sources.add("https://a.example/feed", NOW)
    db.items.add_many([new_item(source_id=source.id)])
    assert db.sources.remove(source.id)
    [item] = db.items.latest()
    assert item.source_id is None and item.outlet == "Test"


def test_bad_url_is_a_clear_error() -> None:
    with pytest.raises(StorageError, match="not a database URL"):
        Database("not a url at all")


def test_processes_upgrading_at_once_take_turns(new_database_url: Callable[..., str]) -> None:
    """Replicas that all run `chipdigest db upgrade` on start must not trip over each other."""
    url = new_database_url(migrated=False)
    if url.startswith("sqlite"):
        pytest.skip("an embedded SQLite database is upgraded by its one process")
    root = Path(__file__).parent.parent
    upgrade = f"from storage import Database; Database({url!r}).upgrade()"
    processes = [
        subprocess.Popen(
            [sys.executable, "-c", upgrade],
            cwd=root,
            env={**os.environ, "PYTHONPATH": str(root)},
            stderr=subprocess.PIPE,
        )
        for _ in range(3)
    ]
    errors = [p.communicate(timeout=60)[1].decode() for p in processes]
    assert [p.returncode for p in processes] == [0, 0, 0], errors
    database = Database(url)
    assert database.current_revision() == database.head_revision()
    database.close()


def test_migration_0013_copies_each_tags_story_and_relevance(
    new_database_url: Callable[..., str],
) -> None:
    """Tags stored before 0013 get their item's story and relevance: cards count stories."""
    db = Database(new_database_url())
    with db.items.writer() as writer:
        first = writer.add(new_item(title="寒武纪发布新芯片", companies=("cambricon",)))
        assert first is not None
        second = writer.add(
            new_item(
                title="寒武纪新芯片发布会",
                guid="g2",
                guid_key="h" * 40,
                link="https://x.example/2",
                link_key="m" * 40,
                content_key="d" * 40,
                story_id=first.story_id,
            )
        )
        assert second is not None
    since = datetime(2020, 1, 1, tzinfo=UTC)
    assert db.items.company_stories("cambricon", since) == 1  # two reports, one story
    db.downgrade("0012")  # as a database from before: tags without story or relevance
    db.upgrade()
    assert db.items.company_stories("cambricon", since) == 1  # the backfill filled them
    db.close()


@pytest.mark.parametrize("window", [3, 5000])
def test_search_answers_the_newest_matches_inside_and_beyond_the_newest_window(
    db: Database, monkeypatch: pytest.MonkeyPatch, window: int
) -> None:
    """On PostgreSQL the newest ids are searched first and the rest only when they hold too few
    matches: the answer is the same either way (newest first, none missed, none invented)."""
    monkeypatch.setattr("storage.items.NEWEST_WINDOW", window)
    words = ["寒武纪", "海光", "寒武纪", "海光", "海光", "海光", "海光", "寒武纪", "海光", "海光"]
    stored = db.items.add_many(
        [
            new_item(
                guid_key=f"g{n}".ljust(40, "0"),
                link_key=f"l{n}".ljust(40, "0"),
                content_key=f"c{n}".ljust(40, "0"),
                tokens=((word, "芯片"),),
            )
            for n, word in enumerate(words)
        ]
    )
    ids = [s.item_id for s in stored if s is not None]
    by_word = {w: [i for i, x in zip(ids, words, strict=True) if x == w][::-1] for w in words}
    assert [i.id for i in db.items.search([["寒武纪"]], limit=2)] == by_word["寒武纪"][:2]
    assert [i.id for i in db.items.search([["寒武纪"]])] == by_word["寒武纪"]
    assert [i.id for i in db.items.search([["海光"]], limit=3)] == by_word["海光"][:3]
    assert [i.id for i in db.items.search([["芯片"]], limit=4)] == ids[::-1][:4]
    assert db.items.search([["无此词"]]) == []
