"""What real feeds do that the first cleaning missed, written in our own words: a curation note
in fine print, a channel post quoting an earlier post, a web page carried whole with its chrome,
a summarising model's preamble, roundups under <h1> headings, a list of linked headlines under
topic headings, a bulleted market show; and the relevance of global chip news and of a model
maker's news."""

from __future__ import annotations

import pytest

from digest.ingest.clean import clean
from digest.ingest.enrich import Enricher
from digest.ingest.normalise import html_to_text
from digest.ingest.parse import RawEntry
from digest.ingest.roundups import split


def cleaned(title: str, html: str) -> str:
    return clean(title, html_to_text(html)).body


def test_a_curation_note_in_fine_print_and_a_quoted_post_are_not_the_article() -> None:
    html = (
        "<p><small>[recommended] 涉及国产芯片，符合用户兴趣。</small></p>"
        '<div class="rsshub-quote"><blockquote><p><a href="https://t.me/x/1"><b>某频道</b>:</a></p>'
        "<p>一家家电企业的空调在欧洲卖断货。</p></blockquote></div>"
        "<p><b>海光发布新一代DCU</b><br/><br/>海光信息今天推出新一代深算DCU，面向大模型训练。</p>"
    )
    body = cleaned("海光发布新一代DCU", html)
    assert body == "海光信息今天推出新一代深算DCU，面向大模型训练。"  # and no title echo


def test_the_raw_text_keeps_what_structure_dropped() -> None:
    html = "<p><small>[optional] 可选。</small></p><p>寒武纪发布新芯片。</p>"
    assert "可选" in html_to_text(html, drop_asides=False)
    assert "可选" not in html_to_text(html)


def test_a_web_page_carried_whole_loses_its_chrome_and_keeps_its_story() -> None:
    lines = [
        "Advertisement",
        "Business",
        "Chip firm raises prices",
        "FILE PHOTO: A logo on a building, taken last year. Wire/Photographer",
        "22 Aug 2026 03:20AM",
        "Bookmark",
        "Share",
        "WhatsApp",
        "Set XYZ as your preferred source on Google",
        "Add XYZ as a trusted source to help Google better understand our content.",
        "Get bite-sized news via a new",
        "cards interface. Give it a try.",
        "A Shanghai chip firm told clients its accelerator cards will cost 15 per cent more.",
        "Source: Wire",
        "Newsletter",
        "Subscribe to our weekly review",
    ]
    html = "".join(f"<p>{line}</p>" for line in lines)
    body = cleaned("Chip firm raises prices", html)
    story = "A Shanghai chip firm told clients its accelerator cards will cost 15 per cent more."
    assert body == story
    assert "Google" not in body  # the chrome named a company: no tag from it


def test_a_credit_to_another_outlet_is_not_a_mention() -> None:
    body = clean("长鑫科技确定发行价", "长鑫科技公布了发行价。（来源：腾讯科技）").body
    assert body == "长鑫科技公布了发行价。"


def test_a_summarising_models_preamble_is_dropped() -> None:
    body = "。\n以下是我的分析总结:\n关键词: 芯片 融资 估值\n总结:\n1. 某芯片公司完成新一轮融资。"
    assert clean("某芯片公司融资", body).body == "1. 某芯片公司完成新一轮融资。"


def entry(title: str, body: str) -> RawEntry:
    return RawEntry("https://r.example/1", "https://r.example/1", title, body, None)


def test_a_roundup_under_h1_headings_is_split_at_them() -> None:
    body = "".join(
        f'<p><img src="x.png"/></p><h1>{h}</h1><p>{t}<strong>重点</strong>继续。</p><p>另一段。</p>'
        for h, t in [
            ("壁仞科技发布新一代训练卡", "壁仞今天发布新卡。"),
            ("一家车企公布上半年销量", "销量同比增长。"),
            ("燧原科技完成新一轮融资", "燧原宣布融资。"),
        ]
    )
    parts = split(entry("三件事｜极客早知道", body))
    assert [p.title for p in parts] == [
        "壁仞科技发布新一代训练卡",
        "一家车企公布上半年销量",
        "燧原科技完成新一轮融资",
    ]
    assert "壁仞今天发布新卡" in parts[0].summary


def test_linked_headlines_under_topic_headings_are_one_story_each() -> None:
    headlines = ["沐曦发布新一代推理GPU产品", "华为昇腾获运营商集采订单", "一款手游登顶下载榜单"]
    linked = "".join(
        f'<p>⭐ <a href="https://n.example/{n}">{t}</a></p>' for n, t in enumerate(headlines)
    )
    other = '<p><a href="https://n.example/9">某网盘宣布永久免费</a></p>'
    body = f"<h3>国产算力与芯片动态</h3>{linked}<h3>其他科技与互联网新闻</h3>{other}"
    parts = split(entry("2026-11-20 AI与科技", body))
    assert [p.link for p in parts] == [f"https://n.example/{n}" for n in (0, 1, 2, 9)]


def test_a_bulleted_show_is_split_per_bullet_and_its_intro_is_not_a_story() -> None:
    body = (
        "On this episode of the show:\n\n"
        "- ChipCo (CHIP) is in talks to raise $5 billion for a data-centre deal; terms are open.\n"
        "- ShoeCo (SHOE) shares climb after it raised its forecast for the year.\n"
        "- FoodCo (FOOD) boosted its guidance; it beat estimates. (Source: Wire)"
    )
    parts = split(entry("ChipCo Financing; ShoeCo Forecast | Stock Movers", body))
    assert [p.title for p in parts] == [
        "ChipCo (CHIP) is in talks to raise $5 billion for a data-centre deal",
        "ShoeCo (SHOE) shares climb after it raised its forecast for the year",
        "FoodCo (FOOD) boosted its guidance",
    ]
    assert "terms are open" in parts[0].summary


def test_a_bold_paragraph_never_swallows_the_next_ones() -> None:
    body = (
        "<h1>某模型公司暂停新用户订阅</h1><p>因为算力紧张。</p>"
        "<p><strong>出口数据</strong>上半年增长。</p><p>另一段<strong>加粗</strong></p>"
        "<h1>某芯片公司发布新品发布会</h1><p>新品发布。</p>"
        "<h1>某手机品牌公布新机配置</h1><p>新机。</p>"
    )
    titles = [p.title for p in split(entry("早知道", body))]
    assert titles == [
        "某模型公司暂停新用户订阅",
        "某芯片公司发布新品发布会",
        "某手机品牌公布新机配置",
    ]


def test_an_article_of_long_paragraphs_is_not_split_line_by_line() -> None:
    paragraph = "这是一段很长的正文，讲述一家公司的业务进展和行业背景，" * 5
    body = f"<p>{paragraph}</p><p>{paragraph}</p><p>{paragraph}</p>"
    assert len(split(entry("某某日报：一家公司的故事", body))) == 1


@pytest.mark.parametrize(
    ("title", "lead", "relevant"),
    [
        # global chip news with no bearing on China
        ("Chip startup in Europe raises funds", "A European AI chip startup raised funds.", False),
        ("Nvidia in talks with a Korean chip designer", "Nvidia is in talks about a deal.", False),
        # the same kind of news bearing on China
        ("Nvidia to ship a new chip for China", "Nvidia plans a China-specific AI chip.", True),
        # a model maker's app news vs its capital and its chips
        ("DeepSeek推出新版手机应用", "DeepSeek更新了手机应用的界面。", False),
        ("DeepSeek拟以百亿美元估值融资", "DeepSeek启动首轮外部融资，估值超百亿美元。", True),
        ("DeepSeek新模型适配国产芯片", "DeepSeek新模型首发即适配昇腾芯片。", True),
    ],
)
def test_relevance_of_global_chip_news_and_of_model_makers(
    enricher: Enricher, title: str, lead: str, relevant: bool
) -> None:
    assert enricher.enrich(title, lead).relevant is relevant
