"""The digest engine on fixture items written for these tests."""

from __future__ import annotations

import html
import json
import random
import re
from collections.abc import Sequence
from datetime import timedelta
from html.parser import HTMLParser
from pathlib import Path

import pytest

from digest.compose.composer import Composer
from digest.compose.keypoints import ExtractedPoint, StoryInput, trim
from digest.compose.model import Digest, KeyPoint, Section, SourceRef, rest_of, verify_citations
from digest.compose.render import render_markdown, render_telegram, render_text
from digest.compose.template import Template
from digest.errors import CitationError
from digest.html import telegram_length
from storage import Database
from storage.types import Item
from tests.support.helpers import FakeClock, ingest

FIXTURE = Path(__file__).parent / "fixtures" / "digest_items.json"
OFF_TOPIC = ("火锅", "新游戏", "hiking", "Stock markets", "降温")


@pytest.fixture
def rows() -> list[dict]:
    return json.loads(FIXTURE.read_text("utf-8"))


@pytest.fixture
def composer(companies) -> Composer:
    return Composer(Template.load(), companies)


def compose(
    composer: Composer, db: Database, clock: FakeClock, after: int = 0, language: str = "zh"
) -> Digest:
    last = db.items.max_id()
    return composer.compose(
        db.items.window(after_id=after, last_id=last),
        edition="test",
        language=language,
        created_at=clock(),
        after_item_id=after,
        last_item_id=last,
    )


@pytest.fixture
def digest(make_pipeline, db: Database, clock: FakeClock, rows, composer) -> Digest:
    ingest(make_pipeline(), db, clock, rows)
    return compose(composer, db, clock)


def test_sections_follow_the_template_and_core_holds_the_top_stories(digest: Digest) -> None:
    order = [s.id for s in Template.load().sections]
    ids = [s.id for s in digest.sections]
    assert ids == sorted(ids, key=order.index)
    assert ids[0] == "core" and 3 <= len(digest.sections[0].key_points) <= 5
    core_stories = {kp.story_id for kp in digest.sections[0].key_points}
    assert any(len(kp.citations) == 3 for kp in digest.sections[0].key_points)  # 昇腾950, 3 outlets
    assert len(core_stories) == len(digest.sections[0].key_points)
    headings = {s.id: s.heading for s in digest.sections}
    assert headings["core"] == "核心要点"
    assert "policy" in headings and "capital" in headings  # export rules; IPO and funding


def test_one_bullet_per_story_and_noise_left_out(digest: Digest, db: Database) -> None:
    stories = [kp.story_id for kp in digest.key_points()]
    assert len(stories) == len(set(stories))
    relevant = db.items.window()
    assert len(stories) == len({i.story_id for i in relevant})
    assert len(stories) == 15  # 21 on-topic items; 5 stories told by two or three outlets
    rendered = render_text(digest)
    assert not any(word in rendered for word in OFF_TOPIC)


def test_every_key_point_cites_every_source_of_its_story(digest: Digest, db: Database) -> None:
    verify_citations(digest)
    items = {i.id: i for i in db.items.window()}
    number_to_item = {s.number: s.item_id for s in digest.sources}
    for kp in digest.key_points():
        cited = {number_to_item[n] for n in kp.citations}
        assert cited == {i.id for i in items.values() if i.story_id == kp.story_id}
    seen: list[int] = []
    for kp in digest.key_points():
        seen += [n for n in kp.citations if n not in seen]
    assert seen == list(range(1, len(digest.sources) + 1))  # numbered in order of first citation


def test_key_points_are_verbatim_and_capped(digest: Digest, db: Database) -> None:
    items = {i.id: i for i in db.items.window()}
    number_to_item = {s.number: s.item_id for s in digest.sources}
    for kp in digest.key_points():
        text = kp.text.removesuffix("…")
        sources = [items[number_to_item[n]] for n in kp.citations]
        assert any(text in f"{i.title}\n{i.summary}" for i in sources), kp.text
        if kp.language == "zh":
            assert len(kp.text) <= 121
        else:
            assert len(kp.text.split()) <= 41
    languages = {kp.language for kp in digest.key_points()}
    assert languages == {"zh", "en"}  # each key point stays in its sources' language


def test_key_points_do_not_repeat_each_other(digest: Digest) -> None:
    texts = [kp.text for kp in digest.key_points()]
    assert len(texts) == len(set(texts))


def test_trim_cuts_at_clauses_and_never_inside_a_word() -> None:
    zh = "寒武纪发布新一代训练芯片思元690，" + "单卡算力较上一代提升一倍以上" * 8 + "。"
    assert trim(zh, "zh", 36) == "寒武纪发布新一代训练芯片思元690…"
    words = ["寒武纪", "发布", "新一代", "训练", "芯片"] * 6
    cut = trim("".join(words), "zh", 31, words)
    assert cut.endswith("…") and len(cut) <= 32
    assert cut.removesuffix("…").endswith(("寒武纪", "发布", "新一代", "训练", "芯片"))
    en = " ".join(["Cambricon"] * 30 + ["reported,"] + ["record"] * 30)
    cut = trim(en, "en", 40)
    assert cut.endswith("reported…") and len(cut.split()) <= 40
    assert trim("短句。", "zh", 120) == "短句。"


def test_two_consecutive_digests_skip_nothing_and_repeat_nothing(
    make_pipeline,
    db: Database,
    clock: FakeClock,
    rows,
    composer,
) -> None:
    pipeline = make_pipeline()
    ingest(pipeline, db, clock, rows[:12])
    first = compose(composer, db, clock)
    clock.advance(hours=6)
    late = dict(rows[12], published="2026-10-01T00:00:00+00:00")  # fetched late, dated old
    ingest(pipeline, db, clock, [late, *rows[13:]])
    second = compose(composer, db, clock, after=first.last_item_id)

    relevant = {i.id for i in db.items.window()}
    assert set(first.item_ids) | set(second.item_ids) == relevant
    assert not set(first.item_ids) & set(second.item_ids)
    assert any("中芯国际" in s.title for s in second.sources)  # the late item is not skipped
    third = compose(composer, db, clock, after=second.last_item_id)
    assert third.is_empty


def test_an_empty_window_gives_a_short_nothing_new_digest(
    composer: Composer, clock: FakeClock
) -> None:
    empty = composer.compose(
        [], edition="e", language="en", created_at=clock(), after_item_id=5, last_item_id=5
    )
    assert empty.is_empty and empty.sources == ()
    assert "Nothing new" in render_text(empty)
    assert render_telegram(empty) == [
        f"<b>{html.escape(empty.title)}</b>\n\nNothing new since the last digest."
    ]
    assert "Nothing new" in render_markdown(empty)


def test_a_reader_gets_each_point_in_their_language_where_the_story_has_it(
    make_pipeline,
    db: Database,
    clock: FakeClock,
    rows,
    composer,
) -> None:
    """One digest, a point per language: the same stories in the same sections; each point in
    the reader's language when its story was told in it, the others after, marked."""
    ingest(make_pipeline(), db, clock, rows)
    zh = compose(composer, db, clock, language="zh")
    en = composer.in_language(zh, "en")
    assert zh.sections[0].heading == "核心要点"
    assert en.sections[0].heading == "Core Insights"
    for zh_section, en_section in zip(zh.sections, en.sections, strict=True):
        assert zh_section.id == en_section.id
        assert {p.story_id for p in zh_section.key_points} == {
            p.story_id for p in en_section.key_points
        }
        for readers, section in (("zh", zh_section), ("en", en_section)):
            for point in section.key_points:
                if readers in {v.language for v in point.versions}:
                    assert point.language == readers
            in_theirs = [p.language == readers for p in section.key_points]
            assert in_theirs == sorted(in_theirs, reverse=True)  # the reader's language first
    assert {s.item_id for s in zh.sources} == {s.item_id for s in en.sources}
    verify_citations(en)


class _TagChecker(HTMLParser):
    allowed = frozenset({"b", "i", "a", "blockquote"})

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[str] = []
        self.text = ""

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        assert tag in self.allowed, tag
        self.stack.append(tag)

    def handle_endtag(self, tag: str) -> None:
        assert self.stack and self.stack.pop() == tag, tag

    def handle_data(self, data: str) -> None:
        self.text += data


def check_telegram_message(message: str) -> str:
    checker = _TagChecker()
    checker.feed(message)
    checker.close()
    assert checker.stack == []
    return checker.text


def test_telegram_html_is_well_formed_and_feed_text_is_harmless(digest: Digest) -> None:
    messages = render_telegram(digest)
    joined = "\n".join(messages)
    assert "<script" not in joined
    assert "&lt;script&gt;alert(1)&lt;/script&gt;寒武纪 &amp; 海光信息" in joined
    shown = "\n".join(check_telegram_message(m) for m in messages)  # each well-formed
    assert "<script>alert(1)</script>寒武纪 & 海光信息" in shown  # the reader sees it as text


def test_telegram_messages_hold_4096_on_hundreds_of_stories(
    make_pipeline,
    db: Database,
    clock: FakeClock,
    composer,
) -> None:
    makers = [
        "寒武纪",
        "摩尔线程",
        "沐曦",
        "壁仞科技",
        "海光信息",
        "燧原科技",
        "天数智芯",
        "昆仑芯",
    ]
    words = everyday_words()
    rng = random.Random(4096)
    rows = [
        {
            "outlet": f"来源{n % 7}",
            "title": f"{makers[n % 8]}{''.join(rng.sample(words, 3))}<AI芯片>&算力",
            "summary": f"{makers[n % 8]}发布AI芯片，" + "，".join(rng.sample(words, 12)) + "。",
            "published": "2026-11-22T00:00:00+00:00",
        }
        for n in range(400)
    ]
    ingest(make_pipeline(), db, clock, rows)
    digest = compose(composer, db, clock)
    assert len(digest.key_points()) >= 300
    edition = render_telegram(digest)
    assert len(edition) == 1  # the edition itself is one message: 15 points, the rest counted
    assert f"另有 {digest.omitted} 条未列出" in edition[0]
    rest = rest_of(digest, "其余")
    messages = render_telegram(rest)
    assert len(messages) > 5
    bullets = {f"• {html.escape(kp.text, quote=False)}" for kp in rest.key_points()}
    for message in edition + messages:
        assert telegram_length(message) <= 4096
        check_telegram_message(message)
    lines = "\n".join(messages).split("\n")
    assert all(any(line.startswith(b) for line in lines) for b in bullets)  # none split
    shown = "\n".join(check_telegram_message(m) for m in messages).split("\n")
    assert sum(1 for line in shown if re.match(r"^\[\d+\] ", line)) == len(rest.sources)
    assert "<blockquote expandable>[1] " in "\n".join(messages)  # the list folds away
    for message in messages[1:]:  # a section going on in the next message takes its heading
        assert message.startswith("<b>"), message[:80]


def everyday_words() -> list[str]:
    """Common two-character words from jieba's own dictionary: varied, realistic text."""
    import jieba

    with open(Path(jieba.__file__).parent / "dict.txt", encoding="utf-8") as dictionary:
        rows = (line.split(" ") for line in dictionary)
        return sorted({w for w, freq, _ in rows if len(w) == 2 and int(freq) > 2000})


def test_a_bad_citation_is_an_error_and_never_rendered(clock: FakeClock) -> None:
    source = SourceRef(1, 10, "t", "o", None)
    point = KeyPoint("寒武纪", "zh", 1, (2,))
    broken = Digest(
        "e",
        "zh",
        "title",
        clock(),
        0,
        10,
        None,
        (Section("core", "核心要点", (point,)),),
        (source,),
        (),
    )
    with pytest.raises(CitationError, match=r"\[2\] does not resolve"):
        render_telegram(broken)
    uncited = Digest(
        "e",
        "zh",
        "title",
        clock(),
        0,
        10,
        None,
        (Section("core", "核心要点", (KeyPoint("x", "zh", 1, (1,)),)),),
        (source, SourceRef(2, 11, "t2", "o", None)),
        (),
    )
    with pytest.raises(CitationError, match="not cited"):
        render_text(uncited)


def test_another_summariser_plugs_in_behind_the_interface(
    make_pipeline,
    db: Database,
    clock: FakeClock,
    rows,
    companies,
) -> None:
    class TitleExtractor:
        def extract(self, stories: Sequence[StoryInput]) -> list[ExtractedPoint]:
            return [
                ExtractedPoint(s.story_id, s.items[0].title, s.items[0].language, s.items[0].id)
                for s in stories
            ]

    ingest(make_pipeline(), db, clock, rows)
    digest = compose(Composer(Template.load(), companies, TitleExtractor()), db, clock)
    verify_citations(digest)
    titles: dict[int, set[str]] = {i.story_id: set() for i in db.items.window()}
    for item in db.items.window():
        titles[item.story_id].add(item.title)
    assert all(kp.text in titles[kp.story_id] for kp in digest.key_points())


def test_a_saved_digest_round_trips_exactly(digest: Digest) -> None:
    again = Digest.from_dict(json.loads(json.dumps(digest.to_dict())))
    assert again == digest
    assert render_telegram(again) == render_telegram(digest)


def test_companies_are_counted_by_story(digest: Digest) -> None:
    counts = {c.id: c.stories for c in digest.companies}
    assert counts["cambricon"] == 3  # record profit, the index, the overheating warning
    assert counts["huawei"] == 1
    assert digest.companies[0].stories >= digest.companies[-1].stories


def test_items_only_in_window_of_their_time(
    make_pipeline,
    db: Database,
    clock: FakeClock,
    rows,
    composer,
) -> None:
    ingest(make_pipeline(), db, clock, rows[:5])
    clock.advance(days=2)
    ingest(make_pipeline(), db, clock, rows[5:10])
    since = clock() - timedelta(hours=24)
    recent = db.items.window(fetched_since=since)
    assert recent and all(i.fetched_at >= since for i in recent)
    assert isinstance(recent[0], Item) and recent[0].tokens
    assert {i.fetched_at for i in recent} == {clock()}  # only the second ingest's items
