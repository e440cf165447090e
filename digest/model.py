"""The composed digest: plain data, independent of how it is rendered or delivered.

A digest round-trips through JSON (:meth:`Digest.to_dict` / :meth:`Digest.from_dict`) so a
saved digest can be shown again exactly.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any


@dataclass(frozen=True, slots=True)
class SourceRef:
    number: int
    item_id: int
    title: str
    outlet: str
    link: str | None


@dataclass(frozen=True, slots=True)
class KeyPoint:
    text: str
    language: str
    story_id: int
    citations: tuple[int, ...]
    companies: tuple[str, ...] = ()


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
    language: str  # of the headings; key points keep the language of their sources
    title: str
    created_at: datetime
    after_item_id: int
    last_item_id: int
    since: datetime | None
    sections: tuple[Section, ...]
    sources: tuple[SourceRef, ...]
    companies: tuple[CompanyCount, ...]
    headings: dict[str, str] = field(default_factory=dict)  # companies / sources / empty text

    @property
    def is_empty(self) -> bool:
        return not self.sections

    @property
    def item_ids(self) -> tuple[int, ...]:
        return tuple(s.item_id for s in self.sources)

    def key_points(self) -> list[KeyPoint]:
        return [kp for section in self.sections for kp in section.key_points]

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
            sections=tuple(
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
                        )
                        for k in s["key_points"]
                    ),
                )
                for s in data["sections"]
            ),
            sources=tuple(SourceRef(**s) for s in data["sources"]),
            companies=tuple(CompanyCount(**c) for c in data["companies"]),
            headings=dict(data.get("headings", {})),
        )
