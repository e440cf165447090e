"""The composed digest: plain data, independent of how it is rendered or delivered.

A digest round-trips through JSON (:meth:`Digest.to_dict` / :meth:`Digest.from_dict`) so a
saved digest can be shown again exactly.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime
from typing import Any

from digest.errors import CitationError


@dataclass(frozen=True, slots=True)
class SourceRef:
    number: int
    item_id: int
    title: str
    outlet: str
    link: str | None
    headlines: dict[str, str] = field(default_factory=dict)  # language → headline, written

    def headline(self, language: str) -> str:
        """The title for a reader of ``language``: a checked translation where there is one."""
        return self.headlines.get(language, self.title)


@dataclass(frozen=True, slots=True)
class Version:
    """The key point in one language, from a report in that language."""

    language: str
    text: str
    item_id: int
    by: str = "extract"  # "model": written by the language model (and checked); else extracted


@dataclass(frozen=True, slots=True)
class KeyPoint:
    text: str
    language: str
    story_id: int
    citations: tuple[int, ...]
    companies: tuple[str, ...] = ()
    uncited: int = 0  # reports of the story beyond the cited ones ("and 795 more")
    versions: tuple[Version, ...] = ()  # the point in each language the story was told in
    by: str = "extract"  # "model" when the language model wrote it (and it passed the check)
    stories: tuple[int, ...] = ()  # a Core Insight: the stories it draws on
    day: str | None = None  # ISO date (digest's time zone) of the story's latest report


@dataclass(frozen=True, slots=True)
class Section:
    id: str
    heading: str
    key_points: tuple[KeyPoint, ...]


@dataclass(frozen=True, slots=True)
class CompanyCount:
    id: str
    name: str
    stories: int


@dataclass(frozen=True, slots=True)
class Digest:
    edition: str
    language: str  # the reader's: headings, and each point where its story has a version
    title: str
    created_at: datetime
    after_item_id: int
    last_item_id: int
    since: datetime | None
    sections: tuple[Section, ...]
    sources: tuple[SourceRef, ...]
    companies: tuple[CompanyCount, ...]
    headings: dict[str, str] = field(default_factory=dict)  # companies / sources / empty text
    more: tuple[Section, ...] = ()  # beyond the edition's size: counted, shown on request

    @property
    def is_empty(self) -> bool:
        return not self.sections

    @property
    def item_ids(self) -> tuple[int, ...]:
        return tuple(s.item_id for s in self.sources)

    def key_points(self) -> list[KeyPoint]:
        """Every point, the shown ones first, then those beyond the edition's size."""
        return [kp for section in (*self.sections, *self.more) for kp in section.key_points]

    @property
    def spans_days(self) -> bool:
        """Its points are of more than one day: each shows its date."""
        return len({p.day for p in self.key_points() if p.day}) > 1

    @property
    def omitted(self) -> int:
        return sum(len(s.key_points) for s in self.more)

    def shown_sources(self) -> tuple[SourceRef, ...]:
        """The sources the shown points cite (numbered first, so a prefix of the list)."""
        cited = {n for s in self.sections for kp in s.key_points for n in kp.citations}
        return tuple(s for s in self.sources if s.number in cited)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["created_at"] = self.created_at.isoformat()
        data["since"] = self.since.isoformat() if self.since else None
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Digest:
        return cls(
            edition=data["edition"],
            language=data["language"],
            title=data["title"],
            created_at=datetime.fromisoformat(data["created_at"]),
            after_item_id=data["after_item_id"],
            last_item_id=data["last_item_id"],
            since=datetime.fromisoformat(data["since"]) if data["since"] else None,
            sections=_sections(data["sections"]),
            sources=tuple(SourceRef(**s) for s in data["sources"]),
            companies=tuple(CompanyCount(**c) for c in data["companies"]),
            headings=dict(data.get("headings", {})),
            more=_sections(data.get("more", ())),
        )


def _sections(data: Any) -> tuple[Section, ...]:
    return tuple(
        Section(
            s["id"],
            s["heading"],
            tuple(
                KeyPoint(
                    k["text"],
                    k["language"],
                    k["story_id"],
                    tuple(k["citations"]),
                    tuple(k["companies"]),
                    k.get("uncited", 0),
                    tuple(Version(**v) for v in k.get("versions", ())),
                    k.get("by", "extract"),
                    tuple(k.get("stories", ())),
                    k.get("day"),
                )
                for k in s["key_points"]
            ),
        )
        for s in data
    )


_CITATION = re.compile(r"\[(\d+)\]")


def verify_citations(digest: Digest) -> None:
    """Every [n] resolves to a listed source, every source is cited, numbering is 1..N in the
    order of first citation. Raises :class:`CitationError` otherwise."""
    numbers = [s.number for s in digest.sources]
    if numbers != list(range(1, len(numbers) + 1)):
        raise CitationError(f"sources are not numbered 1..{len(numbers)}: {numbers[:10]}")
    first_seen: list[int] = []
    for point in digest.key_points():
        if not point.citations:
            raise CitationError(f"a key point cites nothing: {point.text[:40]!r}")
        for number in point.citations:
            if not 1 <= number <= len(numbers):
                raise CitationError(f"[{number}] does not resolve to a source")
            if number not in first_seen:
                first_seen.append(number)
        if _CITATION.search(point.text):
            raise CitationError(f"a key point carries its own citation marks: {point.text[:40]!r}")
    if first_seen != numbers:
        uncited = sorted(set(numbers) - set(first_seen))
        raise CitationError(
            f"sources not cited: {uncited[:10]}"
            if uncited
            else "sources are not numbered in order of first citation"
        )


def renumber(
    sections: Sequence[Section], sources: Sequence[SourceRef]
) -> tuple[tuple[Section, ...], tuple[SourceRef, ...]]:
    """Sources numbered again in order of first citation (points were reordered or left
    out); sources no point cites are dropped."""
    old = {s.number: s for s in sources}
    new_numbers: dict[int, int] = {}
    for section in sections:
        for point in section.key_points:
            for number in point.citations:
                new_numbers.setdefault(number, len(new_numbers) + 1)
    renumbered = tuple(
        replace(
            section,
            key_points=tuple(
                replace(p, citations=tuple(new_numbers[n] for n in p.citations))
                for p in section.key_points
            ),
        )
        for section in sections
    )
    ordered = sorted(new_numbers.items(), key=lambda pair: pair[1])
    return renumbered, tuple(replace(old[n], number=m) for n, m in ordered)


def rest_of(digest: Digest, title: str, start: int = 0, count: int | None = None) -> Digest:
    """Points beyond the edition's size — the ``start``-th and the ``count`` after it — as a
    digest of their own, sources numbered from [1]."""
    end = digest.omitted if count is None else start + count
    sections, seen = [], 0
    for section in digest.more:
        points = section.key_points[max(start - seen, 0) : max(end - seen, 0)]
        seen += len(section.key_points)
        if points:
            sections.append(replace(section, key_points=points))
    numbered, sources = renumber(sections, digest.sources)
    return replace(digest, title=title, sections=numbered, sources=sources, more=())
