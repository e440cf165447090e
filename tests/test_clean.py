"""Cleaning: what real feeds carry besides the article, in our own words, modelled on what the
feeds do. Each case: the text as a feed gives it, what must go, what must stay."""

from __future__ import annotations

import pytest

from digest.ingest.clean import clean
from digest.ingest.parse import ParsedFeed, RawEntry
from storage import Database
from tests.support.helpers import FakeClock

CASES = [
    # (title, body, gone from title+body, kept)
    (
        "暴雨后城市内涝的原因是什么？",
        "老城区排水管网标准偏低。排水能力不足，多处道路积水_腾讯新闻 专家建议加快改造。",
        ["_腾讯新闻"],
        ["多处道路积水", "专家建议加快改造"],
    ),
    (
        "⭐⭐ 寒武纪发布新芯片",
        "寒武纪发布新一代训练芯片。",
        ["⭐"],
        ["寒武纪发布新芯片", "训练芯片"],
    ),
    (
        "摩尔线程上市",
        "[recommended] 涉及国产GPU公司，符合兴趣配置，故推荐。摩尔线程今日在科创板上市。",
        ["recommended", "故推荐"],
        ["摩尔线程今日在科创板上市"],
    ),
    (
        "海光信息发布DCU",
        "[optional] 主要是芯片新闻，列为可选。 数码频道📮 : 海光信息推出新一代DCU。"
        " 某站 🌸 在花频道 · 水群 · 投稿通道",
        ["optional", "列为可选", "数码频道", "在花频道", "投稿通道"],
        ["海光信息推出新一代DCU"],
    ),
    (
        "华为昇腾出货",
        "文丨李四 华为昇腾芯片出货量增长。责任编辑：王五",
        ["李四", "王五"],
        ["出货量增长"],
    ),
    (
        "中芯国际扩产",
        "中芯国际宣布扩产（图片来源：某图库）。相关阅读：另一家公司的新闻 更多链接",
        ["图片来源", "另一家公司", "更多链接"],
        ["中芯国际宣布扩产"],
    ),
    (
        "Nvidia H20 exports",
        "Nvidia said exports resume. (Source: Some Agency) Advertisement Share WhatsApp Telegram "
        "Facebook The company did not comment. Sign up for our daily newsletter on markets.",
        ["Source", "Advertisement", "WhatsApp", "newsletter"],
        ["Nvidia said exports resume.", "The company did not comment."],
    ),
    (
        "百度昆仑芯",
        "百度昆仑芯集群点亮。本文来自微信公众号“某号”，作者：某人 您可能也感兴趣：华为新品",
        ["微信公众号", "作者", "您可能也感兴趣", "华为新品"],
        ["百度昆仑芯集群点亮"],
    ),
]


@pytest.mark.parametrize(("title", "body", "gone", "kept"), CASES)
def test_what_is_not_the_article_goes_and_the_article_stays(
    title: str, body: str, gone: list[str], kept: list[str]
) -> None:
    cleaned = clean(title, body)
    text = f"{cleaned.title}\n{cleaned.body}"
    assert [g for g in gone if g in text] == []
    assert [k for k in kept if k not in text] == []
    assert cleaned.removed  # it says what it took out


def test_cleaning_a_megabyte_is_linear() -> None:
    import time

    body = "寒武纪发布新一代训练芯片，面向大模型。" * 2500
    started = time.perf_counter()
    clean("标题", body)
    small = time.perf_counter() - started
    started = time.perf_counter()
    clean("标题", body * 20)  # about 1 MB of text
    large = time.perf_counter() - started
    assert large < small * 60  # 20 times the text, not 400 times the time


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_tags_and_stories_see_the_clean_text_and_the_raw_text_is_kept(
    db: Database, make_pipeline, clock: FakeClock
) -> None:
    """A footer naming Huawei ("您可能也感兴趣：华为…") no longer tags the item Huawei."""
    source, _ = db.sources.add("https://clean.example/feed", clock(), "某源")
    entry = RawEntry(
        None,
        "https://clean.example/1",
        "⭐ 寒武纪获大额订单",
        "[recommended] 芯片相关，推荐。寒武纪获得智算中心大额订单。您可能也感兴趣：华为发布新手机",
        clock(),
    )
    make_pipeline().ingest_parsed(source, ParsedFeed("某源", None, [entry], "utf-8", None))
    [item] = db.items.latest()
    assert item.title == "寒武纪获大额订单" and "recommended" not in item.summary
    assert item.companies == ("cambricon",)
    assert [i.id for i in db.items.search([["华为"]])] == []  # the footer is not searchable
