"""Charts: a PNG a reader can read — Chinese labels only where a CJK font can draw them."""

from __future__ import annotations

import re
from datetime import date, timedelta
from typing import Any

import pytest
from matplotlib.text import Text

from bot import charts
from bot.commands.trends import Story, Trend
from digest.companies import CompanyBase
from digest.compose.model import CompanyCount

HAN = re.compile(r"[\u4e00-\u9fff]")


def a_trend(companies: CompanyBase) -> Trend:
    company = companies.get("cambricon")
    assert company is not None
    days = tuple(date(2026, 11, 1) + timedelta(days=n) for n in range(30))
    about = tuple(n % 3 for n in range(30))
    mentioned = tuple(n % 2 for n in range(30))
    biggest = (Story(days[4], 9, "寒武纪市值超过茅台", True),)
    return Trend(company, "30d", False, days, about, mentioned, biggest)


@pytest.fixture
def drawn(monkeypatch: pytest.MonkeyPatch) -> list[list[str]]:
    """The texts of every figure drawn (its title, axes, legend, marks)."""
    texts: list[list[str]] = []
    png = charts._png

    def keep(figure: Any) -> bytes:
        figure.canvas.draw()  # tick labels get their text when drawn
        texts.append([t.get_text() for t in figure.findobj(Text) if t.get_text()])
        return png(figure)

    monkeypatch.setattr(charts, "_png", keep)
    return texts


def test_without_a_cjk_font_a_chinese_chart_is_labelled_in_english(
    companies: CompanyBase, drawn: list[list[str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(charts, "cjk_font", lambda: None)
    chart = charts.trend_chart(a_trend(companies), "zh")
    assert chart.language == "en" and chart.png.startswith(b"\x89PNG")
    # never boxes: no Chinese text (and no "Glyph missing" warning, an error in this suite)
    assert not any(HAN.search(text) for text in drawn[0]), drawn[0]
    assert any("Cambricon" in text for text in drawn[0]) and "1" in drawn[0]
    week = [CompanyCount("huawei", "华为 (Huawei)", 9), CompanyCount("smic", "中芯国际", 4)]
    english = {"huawei": "Huawei", "smic": "SMIC"}
    charts.companies_chart(week, english, "zh")
    assert "Huawei" in drawn[1] and not any(HAN.search(text) for text in drawn[1])


@pytest.mark.filterwarnings("ignore:Glyph")  # the stand-in font has no Chinese: boxes, here only
def test_with_a_cjk_font_the_chart_speaks_the_chats_language(
    companies: CompanyBase, drawn: list[list[str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(charts, "cjk_font", lambda: "DejaVu Sans")  # stands in for WenQuanYi
    chart = charts.trend_chart(a_trend(companies), "zh")
    assert chart.language == "zh" and any("寒武纪" in text for text in drawn[0])
    assert charts.trend_chart(a_trend(companies), "en").language == "en"
