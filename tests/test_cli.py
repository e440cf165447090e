"""The command line, end to end, in-process: what a user types and what they read."""

from __future__ import annotations

import io
import json
import os
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from rich.console import Console

from bot.cli import main
from storage import Database
from tests.support.fakebotapi import FakeBotAPI
from tests.support.feedserver import FeedServer


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.fixture
def demo_db(capsys: pytest.CaptureFixture[str], database_url: str) -> str:
    """A database of the test's backend holding what `demo` ingests and composes."""
    code, _, err = run(capsys, "--database", database_url, "demo")
    assert code == 0, err
    return database_url


def test_demo_ingests_the_bundled_feeds_without_network(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "demo")

    assert code == 0
    assert "7 sources, 67 new items, 1 failed" in out
    assert "半导体快讯" in out and "11" in out  # the GBK feed decoded
    assert "mismatched tag" in out  # the malformed feed is used and its problem shown
    assert "not a feed (NonXMLContentType" in out  # the HTML page is an error on its source
    assert "寒武纪 (Cambricon)" in out
    assert "Stories told by several outlets" in out and "芯智观察, 算力日报" in out


def test_demo_twice_starts_fresh(capsys: pytest.CaptureFixture[str]) -> None:
    run(capsys, "demo")
    code, out, _ = run(capsys, "demo")
    assert code == 0 and "67 new items" in out


def test_items_json_has_the_promised_fields(
    capsys: pytest.CaptureFixture[str], demo_db: str
) -> None:
    code, out, _ = run(capsys, "--database", demo_db, "items", "--json", "--limit", "200")

    rows = [json.loads(line) for line in out.splitlines()]
    assert code == 0 and len(rows) == 67
    for row in rows:
        assert {
            "id",
            "title",
            "link",
            "published",
            "source",
            "language",
            "companies",
            "story_id",
            "relevant",
        } <= row.keys()
        assert row["published"].endswith("Z") and row["language"] in ("zh", "en")
    assert [r["published"] for r in rows] == sorted((r["published"] for r in rows), reverse=True)
    trap = next(r for r in rows if "化石" in r["title"])
    assert trap["companies"] == [] and trap["relevant"] is False  # 寒武纪 the era, not the company
    stories: dict[int, set[str]] = {}
    for row in rows:
        stories.setdefault(row["story_id"], set()).add(row["source"])
    assert max(len(s) for s in stories.values()) >= 3


@pytest.mark.parametrize("name", ["寒武纪", "cambricon", "Cambricon", "688256", "Cambrcon"])
def test_items_by_company_accepts_names_aliases_tickers_and_typos(
    capsys: pytest.CaptureFixture[str], demo_db: str, name: str
) -> None:
    code, out, _ = run(capsys, "--database", demo_db, "items", "--json", "--company", name)
    rows = [json.loads(line) for line in out.splitlines()]
    assert code == 0 and len(rows) == 6
    assert all("cambricon" in r["companies"] for r in rows)


def test_items_since_and_limit(capsys: pytest.CaptureFixture[str], demo_db: str) -> None:
    code, out, _ = run(capsys, "--database", demo_db, "items", "--json", "--limit", "3")
    assert code == 0 and len(out.splitlines()) == 3


def test_wrong_arguments_get_a_clear_message(
    capsys: pytest.CaptureFixture[str], demo_db: str
) -> None:
    code, _, err = run(capsys, "--database", demo_db, "items", "--company", "qwertyuiop")
    assert code == 1 and "unknown company 'qwertyuiop'" in err
    code, _, err = run(capsys, "--database", demo_db, "items", "--since", "yesterday")
    assert code == 1 and "not a duration" in err
    code, _, err = run(capsys, "sources", "add", "ftp://example.com/feed")
    assert code == 1 and "not an http(s) feed URL" in err


def test_sources_are_seeded_added_removed_and_round_trip_through_opml(
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    new_database_url: Callable[..., str],
    feed_server: FeedServer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("CHIPDIGEST_ALLOW_PRIVATE_SOURCES", "true")
    code, out, _ = run(capsys, "sources", "list")
    assert code == 0 and re.search(r"^\s+1 36氪\s+new\s+never", out, re.M)  # seeded, unread

    feed = feed_server.add_file("/rss.xml", "rdf.xml", "application/rdf+xml")
    page = feed_server.add(
        "/page.html", body=b"<html><body>hi</body></html>", headers={"Content-Type": "text/html"}
    )
    code, out, _ = run(capsys, "sources", "add", feed)  # fetched first: a feed, what it holds
    assert code == 0 and "added: #14" in out and "2 items" in out
    code, out, _ = run(capsys, "sources", "add", feed)
    assert "already present" in out
    code, _, err = run(capsys, "sources", "add", page)
    assert code == 1 and "is not a feed" in err
    gone = feed_server.url("/gone.xml")
    feed_server.add("/gone.xml", status=404)
    code, _, err = run(capsys, "sources", "add", gone)
    assert code == 1 and "HTTP 404" in err
    code, out, _ = run(capsys, "sources", "remove", "14")
    assert code == 0
    code, _, err = run(capsys, "sources", "remove", "14")
    assert code == 1 and "no source with id 14" in err

    opml = tmp_path / "out.opml"
    assert run(capsys, "sources", "export-opml", str(opml))[0] == 0
    other = new_database_url()
    code, out, _ = run(capsys, "--database", other, "sources", "import-opml", str(opml))
    assert code == 0 and "imported 13 new sources" in out


def test_fetch_url_fetches_and_reports_per_source(
    capsys: pytest.CaptureFixture[str],
    feed_server: FeedServer,
    monkeypatch: pytest.MonkeyPatch,
    database_url: str,
) -> None:
    monkeypatch.setenv("CHIPDIGEST_ALLOW_PRIVATE_SOURCES", "true")
    monkeypatch.setenv("CHIPDIGEST_DATABASE_URL", database_url)
    good = feed_server.add_file("/good.xml", "rdf.xml", "application/rdf+xml")
    bad = feed_server.add("/gone.xml", status=404)

    code, out, _ = run(capsys, "fetch", "--url", good, bad)

    assert code == 0
    assert "2 sources, 2 new items, 1 failed" in out
    assert "HTTP 404" in out
    code, out, _ = run(capsys, "fetch", "--url", good)
    assert "0 new items" in out


def test_fetch_refuses_private_sources_without_the_setting(
    capsys: pytest.CaptureFixture[str], feed_server: FeedServer
) -> None:
    url = feed_server.add_file("/good.xml", "rdf.xml", "application/rdf+xml")
    code, out, _ = run(capsys, "fetch", "--url", url)
    assert code == 0 and "non-public address" in out and feed_server.hits["/good.xml"] == 0


def test_a_malformed_setting_stops_start_up_with_one_line(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CHIPDIGEST_FETCH_INTERVAL_MINUTES", "often")
    code, out, err = run(capsys, "items")
    assert code == 2 and out == ""
    assert err.strip().count("\n") == 0
    assert "CHIPDIGEST_FETCH_INTERVAL_MINUTES" in err and "'often'" in err


@pytest.mark.parametrize(
    ("name", "value", "code"),
    [
        ("CHIPDIGEST_DATABASE_URL", "mysql://reader@127.0.0.1/chips", 1),  # no driver installed
        ("CHIPDIGEST_DATABASE_URL", "postgresql+psycopg://u:pw@127.0.0.1:1/x", 1),  # down
        ("CHIPDIGEST_DATA_DIR", "a-file", 2),
        ("CHIPDIGEST_HTTP_LISTEN", "everywhere", 2),
        ("CHIPDIGEST_WEBHOOK_LISTEN", "0.0.0.0.0", 2),
        ("CHIPDIGEST_HTTP_PROXY", "proxy on port 7890", 2),
        ("CHIPDIGEST_HTTP_PROXY", "socks5://127.0.0.1:1080", 2),  # needs httpx[socks]
    ],
)
def test_a_setting_that_cannot_work_is_one_line_naming_it(
    name: str, value: str, code: int, capsys: pytest.CaptureFixture[str], monkeypatch
) -> None:
    Path("a-file").write_text("not a folder", encoding="utf-8")
    monkeypatch.setenv(name, value)
    result, out, err = run(capsys, "items")
    assert (result, out) == (code, "")
    assert err.strip().count("\n") == 0 and "Traceback" not in err
    assert name in err and "pw@" not in err


def test_dotenv_is_honoured(capsys: pytest.CaptureFixture[str]) -> None:
    Path(".env").write_text("CHIPDIGEST_TIMEZONE=Mars/Olympus_Mons\n", encoding="utf-8")
    code, _, err = run(capsys, "items")
    assert code == 2 and "CHIPDIGEST_TIMEZONE" in err and "unknown time zone" in err


def test_db_upgrade_and_current(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "db", "upgrade")
    head = Database("sqlite:///data/chipdigest.db").head_revision()
    assert code == 0 and f"database at revision {head} (head is {head})" in out
    assert Path("data/chipdigest.db").exists()


def test_demo_ends_with_the_digest(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "demo")
    digest = out.split("The digest of the sample feeds")[1]
    assert code == 0
    assert "核心要点" in digest and "来源" in digest and "涉及公司" in digest
    assert "寒武纪" in digest.split("公司动态")[0]  # the Cambricon story leads the core
    assert "化石" not in digest and "火锅" not in digest


def test_digest_editions_window_and_latest(
    capsys: pytest.CaptureFixture[str], database_url: str
) -> None:
    db = ("--database", database_url)
    _, demo_out, _ = run(capsys, *db, "demo")
    code, first, err = run(capsys, *db, "digest", "--edition", "morning", "--save")
    assert code == 0 and "saved as digest #2 (morning)" in err and "核心要点" in first
    code, second, _ = run(capsys, *db, "digest", "--edition", "morning", "--save")
    assert code == 0 and "本期没有新的相关消息" in second
    code, again, _ = run(capsys, *db, "digest", "--edition", "morning", "--latest")
    assert code == 0 and "本期没有新的相关消息" in again
    code, demo_again, _ = run(capsys, *db, "digest", "--edition", "demo", "--latest")
    assert code == 0 and demo_again.strip() in demo_out  # shown again exactly


def test_digest_all_prints_the_rest_of_the_edition(
    capsys: pytest.CaptureFixture[str], demo_db: str
) -> None:
    code, edition, _ = run(capsys, "--database", demo_db, "digest", "--since", "7d")
    counted = re.search(r"另有 (\d+) 条未列出", edition)
    assert code == 0 and counted
    code, everything, _ = run(capsys, "--database", demo_db, "digest", "--since", "7d", "--all")
    assert (
        everything.startswith(edition.rstrip()) and f"（其余 1–{counted.group(1)}）" in everything
    )
    bullets = [line for line in everything.split("\n") if line.startswith("• ")]
    assert len(bullets) == edition.count("\n• ") + int(counted.group(1))


def test_digest_json_structure(capsys: pytest.CaptureFixture[str], demo_db: str) -> None:
    code, out, _ = run(
        capsys, "--database", demo_db, "digest", "--since", "7d", "--lang", "en", "--json"
    )
    data = json.loads(out)
    assert code == 0
    assert data["sections"][0]["heading"] == "Core Insights"
    numbers = {s["number"] for s in data["sources"]}
    for section in data["sections"]:
        for point in section["key_points"]:
            assert point["citations"] and set(point["citations"]) <= numbers
    assert {"title", "outlet", "link"} <= data["sources"][0].keys()
    assert data["companies"][0]["stories"] >= 1


def test_digest_html_prints_telegram_messages(
    capsys: pytest.CaptureFixture[str], demo_db: str
) -> None:
    code, out, _ = run(capsys, "--database", demo_db, "digest", "--since", "7d", "--format", "html")
    assert code == 0 and "----- message 1/" in out and "<b>核心要点</b>" in out


def test_digest_argument_errors(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "digest", "--since", "24h", "--save")
    assert code == 1 and "--save needs an edition" in err
    code, _, err = run(capsys, "digest", "--latest")
    assert code == 1 and "no digest has been saved yet" in err


def test_ask_answers_like_the_bot(capsys: pytest.CaptureFixture[str], demo_db: str) -> None:
    code, by_ticker, _ = run(capsys, "--database", demo_db, "ask", "/company 688256")
    _, by_name, _ = run(capsys, "--database", demo_db, "ask", "/company", "寒武纪")
    assert code == 0 and by_ticker == by_name and by_name.startswith("寒武纪 · Cambricon")
    assert "<b>" not in by_name  # terminal text, not HTML


def test_run_without_a_token_says_how_to_get_one(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "run")
    assert code == 2 and out == ""
    assert "@BotFather" in err and "chipdigest console" in err


def test_export_then_import_moves_sources_chats_and_settings(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, database_url: str
) -> None:
    """SQLite (the embedded default) to the test's backend: PostgreSQL in CI."""
    from bot.config import load_settings
    from bot.context import AppContext

    old = AppContext(load_settings(), database_url=f"sqlite:///{tmp_path / 'old.db'}")
    old.prepare()
    now = old.clock()
    old.db.sources.add("https://example.org/feed.xml", now, "Example")
    off, _ = old.db.sources.add("https://example.org/off.xml", now)
    old.db.sources.set_enabled(off.id, False)
    alice = old.db.chats.upsert(501, "private", None, now)
    old.db.chats.configure(alice.id, now, language="en", timezone="Europe/Berlin")
    old.db.chats.subscribe(alice.id, ["morning", "weekly"])
    old.db.follows.follow(alice.id, "cambricon", 0)
    gone = old.db.chats.upsert(-100200, "channel", "频道", now)
    old.db.chats.subscribe(gone.id, ["evening"])
    old.db.chats.deactivate(gone.id, now)
    old.close()

    dump = tmp_path / "backup.json"
    code, _, err = run(
        capsys, "--database", f"sqlite:///{tmp_path / 'old.db'}", "export", str(dump)
    )
    assert code == 0 and "2 sources, 2 chats" in err
    code, out, _ = run(capsys, "--database", database_url, "import", str(dump))
    assert code == 0 and "sources: 2 added" in out and "chats: 2 added" in out
    code, out, _ = run(capsys, "--database", database_url, "import", str(dump))
    assert code == 0 and "sources: 0 added" in out and "follows: 0 added" in out  # idempotent

    code, moved, _ = run(capsys, "--database", database_url, "export")
    before, after = json.loads(dump.read_text("utf-8")), json.loads(moved)
    before.pop("exported_at"), after.pop("exported_at")
    assert code == 0 and after == before
    alice_after = next(c for c in after["chats"] if c["chat_id"] == 501)
    assert alice_after["language"] == "en" and alice_after["timezone"] == "Europe/Berlin"
    assert alice_after["editions"] == ["morning", "weekly"] and alice_after["follows"] == [
        "cambricon"
    ]


def test_import_refuses_what_is_not_an_export(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text("{not json", encoding="utf-8")
    code, _, err = run(capsys, "import", str(bad))
    assert code == 1 and "is not JSON" in err
    bad.write_text(
        '{"format": "chip-digest export", "version": 1, "exported_at": '
        '"2026-11-23T00:00:00Z", "sources": [], "chats": [{"chat_id": 5, '
        '"kind": "private", "timezone": "Mars/Base"}]}',
        encoding="utf-8",
    )
    code, _, err = run(capsys, "import", str(bad))
    assert code == 1 and "chats.0.timezone" in err and "unknown time zone" in err
    code, _, err = run(capsys, "import", str(tmp_path / "missing.json"))
    assert code == 1 and "cannot read" in err


def test_import_takes_a_bom_and_refuses_hostile_files_in_one_line(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    export = tmp_path / "export.json"
    good = {
        "format": "chip-digest export",
        "version": 1,
        "exported_at": "2026-11-23T00:00:00Z",
        "sources": [{"url": "http://127.0.0.1/feed.xml"}, {"url": "https://feeds.example/x"}],
        "chats": [{"chat_id": 5, "kind": "private", "editions": ["morning", "hourly"]}],
    }
    export.write_bytes(b"\xef\xbb\xbf" + json.dumps(good).encode())  # a BOM in front
    code, out, _ = run(capsys, "import", str(export))
    assert code == 0 and "chats: 1 added" in out
    assert "127.0.0.1" in out and "non-public" in out  # refused like /addsource, and said
    assert "'hourly'" in out  # an edition not configured here is not subscribed
    hostile = [
        "[" * 100_000 + "]" * 100_000,  # nesting
        json.dumps({**good, "chats": [{"chat_id": 10**30, "kind": "private"}]}),
    ]
    for text in hostile:
        export.write_text(text, encoding="utf-8")
        code, _, err = run(capsys, "import", str(export))
        assert code == 1 and err.strip().count("\n") == 0 and "Traceback" not in err


def test_a_rejected_token_is_one_clear_line_and_never_printed(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, bot_api: FakeBotAPI
) -> None:
    monkeypatch.setenv("CHIPDIGEST_TELEGRAM_TOKEN", "999999:WRONG-token-of-someone")
    monkeypatch.setenv("CHIPDIGEST_TELEGRAM_BASE_URL", bot_api.base_url)
    code, out, err = run(capsys, "run")
    assert code == 2 and "Telegram rejected the bot token" in err
    assert "WRONG-token" not in out + err


def test_two_first_runs_on_a_fresh_sqlite_file_both_succeed(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'fresh.db'}"
    command = [sys.executable, "-m", "bot.cli", "--database", url, "items"]
    env = {k: v for k, v in os.environ.items() if not k.startswith("CHIPDIGEST_")}
    runs = [
        subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
        for _ in range(3)
    ]
    errors = [run.communicate(timeout=60)[1].decode() for run in runs]
    assert [run.returncode for run in runs] == [0, 0, 0], errors


def test_mistakes_are_refused_in_one_line_and_nothing_is_created(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    missing = tmp_path / "no" / "such" / "dir"
    code, _, err = run(capsys, "--database", f"sqlite:///{missing}/x.db", "items")
    assert code == 1 and "no such folder" in err and not missing.parent.exists()
    code, _, err = run(capsys, "digest", "--edition", "nosuch")
    assert code == 1 and "unknown edition 'nosuch'" in err and err.strip().count("\n") == 0


def test_the_console_shows_replies_and_keeps_log_lines_aside(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import io

    # One source on a loopback address nobody allowed: refused with a WARNING, no network.
    Path("sources.toml").write_text('[[source]]\nurl = "http://127.0.0.1:9/feed.xml"\n')
    monkeypatch.setenv("CHIPDIGEST_SOURCES_FILE", "sources.toml")
    monkeypatch.setattr("sys.stdin", io.StringIO("/fetch\n/help\n"))
    code, out, err = run(capsys, "console")
    assert code == 0 and "/company" in out
    assert "WARNING" not in out and "WARNING" not in err  # the failing sample sources
    assert "non-public address" in Path("data/console.log").read_text("utf-8")


def test_sources_list_fits_80_columns_and_fetch_names_the_waiting(
    capsys: pytest.CaptureFixture[str],
    feed_server: FeedServer,
    monkeypatch: pytest.MonkeyPatch,
    database_url: str,
) -> None:
    monkeypatch.setenv("CHIPDIGEST_ALLOW_PRIVATE_SOURCES", "true")
    monkeypatch.setenv("CHIPDIGEST_DATABASE_URL", database_url)
    monkeypatch.setenv("CHIPDIGEST_SOURCES_FILE", str(write_sources(feed_server)))
    code, out, _ = run(capsys, "fetch")
    assert code == 0 and "2 sources, 2 new items, 1 failed" in out
    code, out, _ = run(capsys, "fetch")  # the broken one waits out its backoff, named
    assert "1 sources waiting (fetch --force to read them now):" in out
    waiting = r"#2 A feed that keeps failing .* until \d\d-\d\d \d\d:\d\d, 1 failures: HTTP 503"
    assert re.search(waiting, out)
    code, out, _ = run(capsys, "fetch", "--force")
    assert "2 sources" in out and "waiting" not in out

    terminal = Console(file=io.StringIO(), width=80, force_terminal=True, color_system=None)
    monkeypatch.setattr("bot.terminal.out", terminal)
    monkeypatch.setattr("bot.cli.out", terminal)
    code, table, _ = run(capsys, "sources", "list")
    lines = table.rstrip("\n").split("\n")
    assert code == 0 and len(lines) == 3  # a header and one line a source: nothing wraps
    assert all(len(line) <= 80 for line in lines), [len(line) for line in lines]
    assert re.search(r"^\s+1 Good feed\s+ok\s+\d\d-\d\d \d\d:\d\d\s+0\.3 100%", lines[1])
    assert "failing" in lines[2] and "2× HTTP 503" in lines[2] and lines[2].endswith("…")


def write_sources(feed_server: FeedServer) -> Path:
    good = feed_server.add_file("/good.xml", "rdf.xml", "application/rdf+xml")
    bad = feed_server.add("/bad.xml", status=503)
    path = Path("sources.toml")
    path.write_text(
        f'[[source]]\nurl = "{good}"\ntitle = "Good feed"\n\n'
        f'[[source]]\nurl = "{bad}"\n'
        'title = "A feed that keeps failing with an error far too long to fit"\n',
        encoding="utf-8",
    )
    return path
