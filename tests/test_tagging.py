"""Company tagging on a labelled set written for this project, traps included."""

from __future__ import annotations

from pathlib import Path

import pytest

from digest.ingest.enrich import Enricher

CASES_FILE = Path(__file__).parent / "fixtures" / "tagging_cases.tsv"


def load_cases() -> list[tuple[str, set[str]]]:
    cases = []
    for line in CASES_FILE.read_text("utf-8").splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        sentence, _, ids = line.partition("\t")
        cases.append((sentence, {i for i in ids.split(",") if i}))
    return cases


def test_labelled_set_is_large_and_hard_enough() -> None:
    cases = load_cases()
    assert len(cases) >= 80
    assert sum(1 for _, expected in cases if not expected) >= 20  # traps with no company


def test_precision_and_recall_are_at_least_095(enricher: Enricher) -> None:
    true_pos = false_pos = false_neg = 0
    misses = []
    for sentence, expected in load_cases():
        found = set(enricher.enrich(sentence, "").companies)
        true_pos += len(found & expected)
        false_pos += len(found - expected)
        false_neg += len(expected - found)
        if found != expected:
            misses.append((sentence, sorted(expected), sorted(found)))
    precision = true_pos / (true_pos + false_pos)
    recall = true_pos / (true_pos + false_neg)
    print(f"precision={precision:.3f} recall={recall:.3f} misses={misses}")
    assert precision >= 0.95, misses
    assert recall >= 0.95, misses


@pytest.mark.parametrize(
    ("sentence", "expected"),
    [
        ("正如地球演变历史上寒武纪爆发形成了无数新物种一样", ()),
        ("寒武纪股价大涨", ("cambricon",)),
        ("Artificial intelligence and Intel", ("intel",)),
        ("AMD 与 amdahl", ("amd",)),
        ("上海光源", ()),
        ("昇騰與寒武紀", ("huawei", "cambricon")),
    ],
)
def test_traps(enricher: Enricher, sentence: str, expected: tuple[str, ...]) -> None:
    assert enricher.enrich(sentence, "").companies == expected


def test_product_line_tags_its_maker(enricher: Enricher) -> None:
    assert enricher.enrich("昇腾384超节点", "").companies == ("huawei",)
    assert enricher.enrich("Kunlun Chip P800 cluster", "").companies == ("kunlunxin",)


def test_segmentation_keeps_company_names_whole(enricher: Enricher) -> None:
    tokens = enricher.segmenter.cut("寒武纪与摩尔线程、昇腾同台")
    assert {"寒武纪", "摩尔线程", "昇腾"} <= set(tokens)


def test_relevance_separates_industry_news_from_noise(enricher: Enricher) -> None:
    assert enricher.enrich("寒武纪发布新一代AI芯片", "").relevant
    assert enricher.enrich("国产GPU出货量增长", "智算中心需求旺盛").relevant
    assert not enricher.enrich("腾讯新游戏登顶畅销榜", "玩家数破千万").relevant
    assert not enricher.enrich("华为发布折叠屏手机", "起售价下调").relevant
