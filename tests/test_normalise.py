from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from digest.ingest.normalise import canonical_link, content_key, guid_key, html_to_text, to_utc
from digest.text import detect_language, is_traditional, match_form, to_simplified

FETCHED = datetime(2026, 11, 23, 1, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("link", "expected"),
    [
        ("https://a.example/p?id=3&utm_source=rss&utm_medium=x#frag", "https://a.example/p?id=3"),
        ("HTTPS://A.Example:443/p?spm=1.2&from=timeline", "https://a.example/p"),
        ("http://a.example:8080/p?fbclid=z&b=2&a=1", "http://a.example:8080/p?b=2&a=1"),
        ("/relative/path", "https://base.example/relative/path"),
        ("javascript:alert(1)", None),
        ("", None),
    ],
)
def test_canonical_link(link: str, expected: str | None) -> None:
    assert canonical_link(link, "https://base.example/feed") == expected


def test_html_to_text_drops_tags_scripts_and_decodes_entities() -> None:
    html = (
        "<p>寒武纪&amp;海光</p><script>alert(1)</script><style>p{}</style><p>第二段&nbsp;内容</p>"
    )
    assert html_to_text(html) == "寒武纪&海光\n第二段 内容"
    assert html_to_text("A &lt;b&gt;bold&lt;/b&gt; claim") == "A <b>bold</b> claim"


def test_times_are_utc_and_bad_dates_fall_back_to_fetch_time() -> None:
    shanghai = timezone(timedelta(hours=8))
    assert to_utc(datetime(2026, 11, 22, 9, 0, tzinfo=shanghai), FETCHED) == datetime(
        2026, 11, 22, 1, 0, tzinfo=UTC
    )
    assert to_utc(None, FETCHED) == FETCHED
    assert to_utc(FETCHED + timedelta(days=3), FETCHED) == FETCHED
    assert to_utc(FETCHED + timedelta(minutes=5), FETCHED) == FETCHED + timedelta(minutes=5)


def test_bare_guids_are_scoped_to_their_feed_and_url_guids_are_global() -> None:
    assert guid_key("101", "https://a.example/feed", None, "") != guid_key(
        "101", "https://b.example/feed", None, ""
    )
    assert guid_key("https://x.example/1", "https://a.example/feed", None, "") == guid_key(
        "https://x.example/1", "https://b.example/feed", None, ""
    )


def test_content_key_ignores_punctuation_but_not_words() -> None:
    body = "寒武纪发布新一代训练芯片，算力翻倍，功耗持平，面向大模型训练。"
    assert content_key("寒武纪 新品！", body, "https://a") == content_key(
        "寒武纪新品", body, "https://b"
    )
    assert content_key("早报", "", "https://a/1") != content_key("早报", "", "https://a/2")


def test_traditional_chinese_is_matched_as_simplified_but_simplified_is_left_alone() -> None:
    assert is_traditional("寒武紀發佈新晶片")
    assert to_simplified("寒武紀發佈新晶片") == "寒武纪发布新芯片"
    assert to_simplified("昇騰910C") == "昇腾910C"
    assert not is_traditional("华为昇腾超节点")
    assert to_simplified("华为昇腾超节点") == "华为昇腾超节点"
    assert match_form("ＣＡＭＢＲＩＣＯＮ ６８８２５６") == "CAMBRICON 688256"


def test_language() -> None:
    assert detect_language("寒武纪发布 MLU590") == "zh"
    assert detect_language("Cambricon ships MLU590 to 寒武纪 fans") == "en"
