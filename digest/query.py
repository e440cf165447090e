"""Search queries across languages: each word of a query becomes a group of alternatives —
the word itself, the other names of its concept (``data/lexicon.toml``), and every name of
the company it names (``寒武纪`` also finds ``Cambricon``). Storage ANDs the groups and ORs
within one; an alternative of several words is a phrase."""

from __future__ import annotations

import tomllib
from collections.abc import Callable, Sequence
from functools import cache
from importlib import resources

from digest.companies import CompanyBase
from digest.text import match_form


@cache
def _concepts() -> dict[str, tuple[str, ...]]:
    raw = resources.files("digest.data").joinpath("lexicon.toml").read_text("utf-8")
    by_term: dict[str, tuple[str, ...]] = {}
    for concept in tomllib.loads(raw)["concepts"]:
        terms = tuple(dict.fromkeys(match_form(t).lower() for t in concept))
        for term in terms:
            by_term[term] = terms
    return by_term


def expand(
    query: str,
    cut: Callable[[str], Sequence[str]],
    companies: CompanyBase,
) -> list[list[str]]:
    """Groups of alternatives, each alternative its tokens joined by one space."""
    concepts = _concepts()
    form = match_form(query).lower()
    groups: list[list[str]] = []
    for phrase in _phrases(form, concepts, cut):
        alternatives = [phrase]
        alternatives += concepts.get(phrase, ())
        alternatives += _company_names(phrase, companies)
        tokenised = [" ".join(_words(cut(a))) for a in dict.fromkeys(alternatives)]
        groups.append([t for t in dict.fromkeys(tokenised) if t])
    return [g for g in groups if g]


def _company_names(phrase: str, companies: CompanyBase) -> list[str]:
    """Every name of the company ``phrase`` names; a product (H20) stays itself."""
    owner = companies.owner_of(phrase)
    company = companies.get(owner) if owner is not None else None
    if company is None:
        return []
    names = [match_form(n).lower() for n in (company.name_zh, company.name_en, *company.aliases)]
    return names if phrase in names else []


def _phrases(
    form: str, concepts: dict[str, tuple[str, ...]], cut: Callable[[str], Sequence[str]]
) -> list[str]:
    """The query's words, keeping a multi-word concept ("export controls") as one."""
    words = _words(cut(form))
    phrases: list[str] = []
    index = 0
    while index < len(words):
        for size in (3, 2):  # the longest concept that starts here
            candidate = " ".join(words[index : index + size])
            if len(words) - index >= size and candidate in concepts:
                phrases.append(candidate)
                index += size
                break
        else:
            phrases.append(words[index])
            index += 1
    return phrases


def _words(tokens: Sequence[str]) -> list[str]:
    return [t.lower() for t in tokens if t.strip() and any(ch.isalnum() for ch in t)]
