"""Roundups split into their stories, in the three shapes real feeds use (written in our own
words): linked headlines under section headings, sub-headlines with paragraphs, and a
briefing whose title lists its headlines."""

from __future__ import annotations

import pytest

from digest.ingest.parse import ParsedFeed, RawEntry
from digest.ingest.roundups import split
from storage import Database
from tests.support.helpers import FakeClock

LINKED = (
    "<p><small>[unknown]</small></p><h3>芯片</h3>"
    '<p>⭐⭐ <a href="https://a.example/1">寒武纪发布新一代训练芯片思元690</a></p>'
    '<p>⭐ <a href="https://a.example/2">海光信息DCU获得头部互联网公司订单</a></p>'
    "<h3>游戏</h3>"
    '<p><a href="https://a.example/3">一款国产单机游戏销量突破百万份</a></p>'
)
HEADED = (
    "<h2><strong>摩尔线程科创板上市首日大涨</strong></h2><p>摩尔线程今日挂牌，首日涨幅居前。</p>"
    "<h2><strong>某运动品牌发布新跑鞋</strong></h2><p>新跑鞋主打轻量化设计。</p>"
    '<h2><strong>沐曦发布曦云C600训练GPU</strong></h2><p>详见<a href="https://b.example/9">原文</a>。</p>'
)


def entry(title: str, body: str, link: str = "https://roundup.example/today") -> RawEntry:
    return RawEntry(link, link, title, body, None)  # the link is the guid, as in many feeds


def test_a_list_of_linked_headlines_becomes_one_story_each_with_its_own_link() -> None:
    parts = split(entry("2026-11-23 AI与科技", LINKED))
    assert [p.title for p in parts] == [
        "寒武纪发布新一代训练芯片思元690",
        "海光信息DCU获得头部互联网公司订单",
        "一款国产单机游戏销量突破百万份",
    ]
    assert [p.link for p in parts] == [f"https://a.example/{n}" for n in (1, 2, 3)]
    assert len({p.guid for p in parts}) == 3


def test_sub_headlines_with_paragraphs_become_stories_with_their_text() -> None:
    parts = split(entry("极客早知道：今天的三件事", HEADED))
    assert [p.title for p in parts] == [
        "摩尔线程科创板上市首日大涨",
        "某运动品牌发布新跑鞋",
        "沐曦发布曦云C600训练GPU",
    ]
    assert "首日涨幅居前" in parts[0].summary and "跑鞋" not in parts[0].summary
    assert parts[2].link == "https://b.example/9"  # its own link
    assert parts[0].link is None and parts[0].roundup_link == "https://roundup.example/today"


def test_an_article_that_cites_a_few_links_is_not_a_roundup() -> None:
    body = (
        "<p>寒武纪今日发布新一代训练芯片，性能较上一代提升明显，已在多个智算中心部署。"
        '分析师认为（<a href="https://c.example/1">报告一</a>、<a href="https://c.example/2">'
        '报告二</a>、<a href="https://c.example/3">报告三</a>），国产算力需求持续增长。</p>'
    )
    assert split(entry("寒武纪发布新芯片", body)) == [entry("寒武纪发布新芯片", body)]


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_each_story_of_a_roundup_is_stored_tagged_and_scored_on_its_own(
    db: Database, make_pipeline, clock: FakeClock
) -> None:
    source, _ = db.sources.add("https://roundup.example/feed", clock(), "每日汇总")
    title = "任正非谈华为战略；寒武纪获千卡集群订单；某手机新品上市首周销量翻倍"
    body = "".join(f"<p>{t}</p>" for t in title.split("；"))
    briefing = entry("极客早知道", HEADED, "https://r.example/2")
    feed = ParsedFeed("每日汇总", None, [entry(title, body), briefing], "utf-8", None)
    outcome = make_pipeline().ingest_parsed(source, feed)
    items = {i.title: i for i in db.items.latest(limit=50)}
    assert outcome.new == 6 and "寒武纪获千卡集群订单" in items
    assert items["寒武纪获千卡集群订单"].companies == ("cambricon",)
    assert items["寒武纪获千卡集群订单"].relevant
    assert not items["某运动品牌发布新跑鞋"].relevant
    assert items["寒武纪获千卡集群订单"].link == "https://roundup.example/today"
