"""Charts as PNG (matplotlib, no display): a company's trend, the week's most-covered companies.

Chinese labels need a CJK font. The Docker image installs Debian's ``fonts-wqy-microhei``; where
no CJK font is installed the chart is labelled in English — a chart never shows boxes in place
of characters. Matplotlib is imported on first use: commands that draw nothing stay fast.
"""

from __future__ import annotations

import io
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any

from bot.commands.trends import Trend
from digest.catalog import t
from digest.compose.model import CompanyCount

log = logging.getLogger(__name__)
# Families that carry simplified Chinese, best first.
CJK_FAMILIES = (
    "WenQuanYi Micro Hei",
    "WenQuanYi Zen Hei",
    "Noto Sans CJK SC",
    "Noto Sans SC",
    "Source Han Sans SC",
    "Source Han Sans CN",
    "Sarasa Gothic SC",
    "Microsoft YaHei",
    "SimHei",
    "PingFang SC",
    "Hiragino Sans GB",
    "Heiti SC",
    "Droid Sans Fallback",
    "AR PL UMing CN",
)
ABOUT_COLOUR, MENTIONED_COLOUR, MARK_COLOUR = "#1f4e79", "#9dc3e6", "#c0392b"


@dataclass(frozen=True, slots=True)
class Chart:
    png: bytes
    language: str  # the labels' language: the chat's, or English where no CJK font exists


@cache
def cjk_font() -> str | None:
    """The first installed font family that can draw Chinese, or None."""
    from matplotlib import font_manager

    installed = {font.name for font in font_manager.fontManager.ttflist}
    return next((family for family in CJK_FAMILIES if family in installed), None)


def label_language(language: str, font: str | None) -> str:
    return language if language != "zh" or font is not None else "en"


def _figure(font: str | None) -> tuple[Any, Any]:
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot

    pyplot.rcParams["font.family"] = [font, "DejaVu Sans"] if font else ["DejaVu Sans"]
    pyplot.rcParams["axes.unicode_minus"] = False
    return pyplot.subplots(figsize=(8, 4.2), dpi=110)


def _png(figure: Any) -> bytes:
    from matplotlib import pyplot

    buffer = io.BytesIO()
    figure.tight_layout()
    figure.savefig(buffer, format="png")
    pyplot.close(figure)
    return buffer.getvalue()


def trend_chart(trend: Trend, language: str) -> Chart:
    """Stacked bars of stories per day or week — about the company, and only mentioning it —
    with the biggest stories marked 1, 2, 3 (their titles go in the caption)."""
    font = cjk_font()
    lang = label_language(language, font)
    figure, axes = _figure(font)
    width = 5.5 if trend.weekly else 0.8
    axes.bar(trend.buckets, trend.about, width, color=ABOUT_COLOUR, label=t("trend.about", lang))
    axes.bar(
        trend.buckets,
        trend.mentioned,
        width,
        bottom=trend.about,
        color=MENTIONED_COLOUR,
        label=t("trend.mentioned", lang),
    )
    totals = {b: a + m for b, a, m in zip(trend.buckets, trend.about, trend.mentioned, strict=True)}
    for number, story in enumerate(trend.biggest, 1):
        bucket = max((b for b in trend.buckets if b <= story.day), default=trend.buckets[0])
        axes.annotate(
            str(number),
            (bucket, totals[bucket]),
            xytext=(0, 4),
            textcoords="offset points",
            ha="center",
            color=MARK_COLOUR,
            fontweight="bold",
        )
    name = trend.company.display_name(lang) if lang == "zh" else trend.company.name_en
    unit = t("trend.per_week" if trend.weekly else "trend.per_day", lang)
    axes.set_title(t("trend.chart_title", lang, name=name, span=trend.span, unit=unit))
    axes.set_ylabel(t("trend.stories", lang))
    axes.yaxis.get_major_locator().set_params(integer=True)
    axes.legend(loc="upper left", frameon=False)
    axes.spines[["top", "right"]].set_visible(False)
    figure.autofmt_xdate()
    return Chart(_png(figure), lang)


def companies_chart(
    companies: Sequence[CompanyCount], english: dict[str, str], language: str
) -> Chart:
    """Horizontal bars: the companies most stories of a window named (``english``: their
    English names, for a chart that cannot draw Chinese)."""
    font = cjk_font()
    lang = label_language(language, font)
    top = list(companies[:10])[::-1]
    figure, axes = _figure(font)
    names = [c.name if lang == language else english.get(c.id, c.id) for c in top]
    axes.barh(names, [c.stories for c in top], color=ABOUT_COLOUR)
    axes.set_title(t("trend.week_title", lang))
    axes.set_xlabel(t("trend.stories", lang))
    axes.xaxis.get_major_locator().set_params(integer=True)
    axes.spines[["top", "right"]].set_visible(False)
    return Chart(_png(figure), lang)
