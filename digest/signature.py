"""The event signature of an item: what embeddings alone cannot tell apart.

A multilingual sentence embedding puts "Moore Threads raises funds" next to "Moore Threads
launches a GPU", and "X完成新一轮融资" for two different companies next to each other. The
signature is the facts two reports of one event must share, compared across languages:

* the companies the item is about (from the company base),
* its numbers, normalised across languages and units (6000亿元 = 600 billion yuan =
  6.0e11 CNY; 三成 = 30 %; 8.3万片 = 83,000 wafers),
* its product codes (H20, 910C, P800, MLU590, S5000),
* its kinds of event, from a bilingual lexicon kept as data (``data/events.toml``).

Two signatures *conflict* when both name companies and share none, both name kinds and share
none, or both carry an amount of the same unit and share none of them. They *agree* on what
they share.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

from digest.text import HAN, match_form

# --- numbers ------------------------------------------------------------------------------

_CN_DIGITS = {
    "零": 0,
    "一": 1,
    "二": 2,
    "两": 2,
    "三": 3,
    "四": 4,
    "五": 5,
    "六": 6,
    "七": 7,
    "八": 8,
    "九": 9,
    "十": 10,
}
_CN_SCALE = {"万": 1e4, "亿": 1e8, "万亿": 1e12, "千": 1e3, "百": 1e2}
_EN_SCALE = {
    "thousand": 1e3,
    "k": 1e3,
    "million": 1e6,
    "mn": 1e6,
    "m": 1e6,
    "billion": 1e9,
    "bn": 1e9,
    "b": 1e9,
    "trillion": 1e12,
    "tn": 1e12,
}
_UNITS = {
    "元": "cny",
    "人民币": "cny",
    "yuan": "cny",
    "rmb": "cny",
    "cny": "cny",
    "美元": "usd",
    "dollars": "usd",
    "dollar": "usd",
    "usd": "usd",
    "$": "usd",
    "港元": "hkd",
    "港币": "hkd",
    "hk$": "hkd",
    "hkd": "hkd",
    "%": "pct",
    "％": "pct",
    "percent": "pct",
    "per cent": "pct",
    "个百分点": "pp",
    "片": "wafers",
    "wafers": "wafers",
    "wafer": "wafers",
    "卡": "cards",
    "张": "cards",
    "cards": "cards",
    "gpus": "cards",
    "accelerators": "cards",
    "台": "units",
    "units": "units",
    "servers": "units",
    "nm": "nm",
    "纳米": "nm",
    "gw": "gw",
    "吉瓦": "gw",
    "mw": "mw",
    "兆瓦": "mw",
    "eflops": "eflops",
    "pflops": "pflops",
}
_CN_NUMBER = re.compile(
    r"(?<![A-Za-z0-9.])(?P<num>\d+(?:\.\d+)?)\s*(?P<scale>万亿|万|亿|千)?\s*"
    r"(?P<unit>元人民币|元|人民币|美元|港元|港币|%|％|个百分点|片|张|卡|台|纳米|吉瓦|兆瓦)?"
)
_EN_NUMBER = re.compile(
    r"(?P<cur>\$|hk\$|us\$)?\s*(?<![A-Za-z0-9.])(?P<num>\d+(?:,\d{3})*(?:\.\d+)?)\s*"
    r"(?P<scale>thousand|million|billion|trillion|bn|mn|tn|k|m|b)?\b\s*"
    r"(?P<unit>yuan|rmb|cny|dollars?|usd|hkd|percent|per cent|%|wafers?|cards|gpus|"
    r"accelerators|units|servers|nm|gw|mw|eflops|pflops)?",
    re.IGNORECASE,
)
_CN_FRACTION = re.compile(r"([一二两三四五六七八九])成")  # 三成 = 30 %
_CN_HALF = re.compile(r"(?:一半|过半|半数)")
# The period a result is for: the third quarter's revenue is not the fourth quarter's guidance.
_PERIODS = (
    (re.compile(r"(?:第?一季度|一季报|\bq1\b|first[- ]quarter)", re.I), 1.0),
    (re.compile(r"(?:第?二季度|二季报|\bq2\b|second[- ]quarter)", re.I), 2.0),
    (re.compile(r"(?:第?三季度|三季报|前三季度|\bq3\b|third[- ]quarter)", re.I), 3.0),
    (re.compile(r"(?:第?四季度|四季报|\bq4\b|fourth[- ]quarter)", re.I), 4.0),
)


def _round(value: float) -> float:
    """Three significant digits: 39.85亿 and 3.985 billion agree, rounding apart."""
    if value == 0:
        return 0.0
    return float(f"{value:.3g}")


def numbers(text: str) -> frozenset[tuple[str, float]]:
    """(unit, value) pairs; values scaled to units (yuan, wafers, percent...). Plain numbers
    without a unit that look like years or counts of one are left out: they say little."""
    text = match_form(text)
    found: set[tuple[str, float]] = set()
    for match in _CN_NUMBER.finditer(text):
        if match.group("scale") is None and match.group("unit") is None:
            continue
        value = float(match.group("num")) * _CN_SCALE.get(match.group("scale") or "", 1)
        unit = _UNITS.get(match.group("unit") or "", "n")
        found.add((unit, _round(value)))
    for match in _EN_NUMBER.finditer(text):
        scale, unit, cur = match.group("scale"), match.group("unit"), match.group("cur")
        if scale is None and unit is None and cur is None:
            continue
        value = float(match.group("num").replace(",", "")) * _EN_SCALE.get((scale or "").lower(), 1)
        kind = _UNITS.get((unit or "").lower()) or _UNITS.get((cur or "").lower()) or "n"
        found.add((kind, _round(value)))
    for match in _CN_FRACTION.finditer(text):
        found.add(("pct", float(_CN_DIGITS[match.group(1)] * 10)))
    if _CN_HALF.search(text):
        found.add(("pct", 50.0))
    found.update(("quarter", n) for pattern, n in _PERIODS if pattern.search(text))
    return frozenset((u, v) for u, v in found if not (u == "n" and (v < 10 or 1900 <= v <= 2100)))


# --- product codes ----------------------------------------------------------------------------

# A letter-and-digit code: H20, H800, MI308, 910C, P800, MLU590, S5000, B200, GB300, HBM3E...
_PRODUCT = re.compile(
    r"(?<![A-Za-z0-9])([A-Za-z]{1,5}\d{2,5}[A-Za-z]{0,2}|\d{3,4}[A-Za-z]{1,2}|\d[A-Za-z]\d{3,4})"
    r"(?![A-Za-z0-9])"
)
_NOT_PRODUCTS = re.compile(
    r"^(?:q[1-4]|h[12]|\d+(?:nm|gb|tb|mb|gw|mw|kw|w)|(?:19|20)\d\d[a-z]?)$", re.I
)


# A model number that follows a product name: Ascend 950, 昇腾920, Gaudi 4 is too short.
_MODEL_NUMBER = re.compile(
    r"(?:[A-Za-z]{3,}\s?|[\u4e00-\u9fff]{2})(\d{3,4})(?![\d%]|[.,]\d)"
    r"(?!\s*(?:亿|万|元|年|月|日|号|片|张|卡|台|家|个|名|人|颗|款|倍|次|位|层|核|瓦|吨|米|"
    r"billion|million|thousand|percent|yuan|dollars|wafers|units|%))"
)


def product_codes(text: str) -> frozenset[str]:
    form = match_form(text)
    codes = {m.group(1).upper() for m in _PRODUCT.finditer(form)}
    codes.update(
        m.group(1) for m in _MODEL_NUMBER.finditer(form) if not 1900 <= int(m.group(1)) <= 2100
    )
    return frozenset(c for c in codes if not _NOT_PRODUCTS.match(c))


# --- kinds of event ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Lexicon:
    chinese: tuple[tuple[str, str], ...]  # (term, kind)
    english: re.Pattern[str]
    kinds_by_group: tuple[str, ...]
    related: dict[str, frozenset[str]]  # kind -> kinds one event may also be told as
    generic: frozenset[str]  # kinds that say little on their own


@cache
def _lexicon() -> _Lexicon:
    raw = resources.files("digest.data").joinpath("events.toml").read_text("utf-8")
    data = tomllib.loads(raw)
    kinds: dict[str, list[str]] = data["kinds"]
    related: dict[str, set[str]] = {}
    for kind, others in data.get("related", {}).items():
        for other in others:
            related.setdefault(kind, set()).add(other)
            related.setdefault(other, set()).add(kind)
    chinese: list[tuple[str, str]] = []
    patterns: list[str] = []
    names: list[str] = []
    for kind, terms in kinds.items():
        for term in terms:
            if HAN.search(term):
                chinese.append((term, kind))
                continue
            body = re.escape(term.rstrip("*")).replace(r"\ ", r"\s+")
            patterns.append(
                rf"(?P<k{len(names)}>\b{body}{'[a-z-]*' if term.endswith('*') else ''}\b)"
            )
            names.append(kind)
    return _Lexicon(
        tuple(chinese),
        re.compile("|".join(patterns), re.IGNORECASE),
        tuple(names),
        {k: frozenset(v) for k, v in related.items()},
        frozenset(data.get("generic", {}).get("kinds", ())),
    )


def _meet(a: frozenset[str], b: frozenset[str]) -> bool:
    related = _lexicon().related
    return bool(a & b) or any(related.get(kind, frozenset()) & b for kind in a)


def kinds_meet(a: frozenset[str], b: frozenset[str]) -> bool:
    """Whether two sets of kinds agree: when both name specific kinds (not only "partnership",
    "partnership"...), the specific ones meet (shared or related); otherwise any do."""
    generic = _lexicon().generic
    specific_a, specific_b = a - generic, b - generic
    if specific_a and specific_b:
        return _meet(specific_a, specific_b)
    return _meet(a, b)


def kinds_conflict(a: frozenset[str], b: frozenset[str]) -> bool:
    """Whether two sets of kinds cannot be one event. A report whose title names only a
    generic kind says too little to contradict one that names a specific kind."""
    if not a or not b:
        return False
    generic = _lexicon().generic
    specific_a, specific_b = a - generic, b - generic
    if bool(specific_a) != bool(specific_b):
        return False
    return not kinds_meet(a, b)


def event_kinds(text: str) -> frozenset[str]:
    form = match_form(text).lower()
    lexicon = _lexicon()
    kinds = {kind for term, kind in lexicon.chinese if term in form}
    for match in lexicon.english.finditer(form):
        kinds.add(lexicon.kinds_by_group[int(match.lastgroup[1:])])  # type: ignore[index]
    return frozenset(kinds)


# --- the signature ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class EventSignature:
    companies: frozenset[str] = frozenset()
    numbers: frozenset[tuple[str, float]] = frozenset()
    products: frozenset[str] = frozenset()
    kinds: frozenset[str] = frozenset()

    @classmethod
    def of(cls, title: str, lead: str, companies: Iterable[str] = ()) -> EventSignature:
        """The signature of a report: the kind of event from its title (what it is about;
        a lead mentions other kinds in passing), facts from its title and lead."""
        text = f"{title}\n{lead}"
        return cls(frozenset(companies), numbers(text), product_codes(text), event_kinds(title))

    def conflicts(self, other: EventSignature) -> bool:
        # Companies: one report may name a partner the other leaves out (a subset), but
        # "ByteDance buys from Enflame" and "ByteDance buys from Iluvatar" are two events.
        a, b = self.companies, other.companies
        if a and b and not (a <= b or b <= a):
            return True
        if kinds_conflict(self.kinds, other.kinds):
            return True
        if self.products and other.products and not self.products & other.products:
            return True
        units = {u for u, _ in self.numbers} & {u for u, _ in other.numbers} - {"n"}
        return any(
            not {v for u, v in self.numbers if u == unit}
            & {v for u, v in other.numbers if u == unit}
            for unit in units
        )

    def to_json(self) -> dict[str, object]:
        return {
            "companies": sorted(self.companies),
            "numbers": sorted([u, v] for u, v in self.numbers),
            "products": sorted(self.products),
            "kinds": sorted(self.kinds),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> EventSignature:
        return cls(
            frozenset(data.get("companies", ())),
            frozenset((str(u), float(v)) for u, v in data.get("numbers", ())),
            frozenset(data.get("products", ())),
            frozenset(data.get("kinds", ())),
        )
