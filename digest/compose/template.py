"""The digest template (``data/template.toml``): sections, headings, cues."""

from __future__ import annotations

import tomllib
from collections.abc import Iterable
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from digest.errors import ConfigError

LANGUAGES = ("zh", "en")


@dataclass(frozen=True, slots=True)
class SectionSpec:
    id: str
    headings: dict[str, str]
    core: bool
    default: bool
    cues: frozenset[str]  # case-folded

    def heading(self, language: str) -> str:
        return self.headings[language]


@dataclass(frozen=True, slots=True)
class Template:
    sections: tuple[SectionSpec, ...]
    texts: dict[str, dict[str, str]]  # title, companies_heading, sources_heading, empty

    @classmethod
    def load(cls, path: Path | None = None) -> Template:
        try:
            if path is None:
                raw = resources.files("digest.data").joinpath("template.toml").read_text("utf-8")
            else:
                raw = path.read_text("utf-8")
            return cls._from_data(tomllib.loads(raw))
        except (OSError, tomllib.TOMLDecodeError, KeyError, TypeError) as exc:
            raise ConfigError(f"cannot read the digest template: {exc!r}") from exc

    @classmethod
    def _from_data(cls, data: dict[str, Any]) -> Template:
        sections = tuple(
            SectionSpec(
                id=s["id"],
                headings=_both_languages(s["heading"], f"section {s['id']}"),
                core=bool(s.get("core")),
                default=bool(s.get("default")),
                cues=frozenset(c.casefold() for c in s.get("cues", ())),
            )
            for s in data["section"]
        )
        if sum(s.core for s in sections) != 1 or sum(s.default for s in sections) != 1:
            raise ConfigError("the template needs exactly one core and one default section")
        texts = {
            key: _both_languages(data[key], key)
            for key in ("title", "companies_heading", "sources_heading", "empty")
        }
        return cls(sections, texts)

    @property
    def core(self) -> SectionSpec:
        return next(s for s in self.sections if s.core)

    @property
    def default(self) -> SectionSpec:
        return next(s for s in self.sections if s.default)

    def text(self, key: str, language: str) -> str:
        return self.texts[key][language]

    def classify(self, title_words: Iterable[str], lead_words: Iterable[str]) -> SectionSpec:
        """The section whose cues a story's words hit most (title words count double)."""
        scores: dict[str, float] = {}
        for weight, words in ((2.0, title_words), (1.0, lead_words)):
            for word in {w.casefold() for w in words}:
                for section in self.sections:
                    if word in section.cues:
                        scores[section.id] = scores.get(section.id, 0.0) + weight
        if not scores:
            return self.default
        order = {s.id: i for i, s in enumerate(self.sections)}
        best = max(scores, key=lambda sid: (scores[sid], -order[sid]))
        return next(s for s in self.sections if s.id == best)


def _both_languages(value: Any, where: str) -> dict[str, str]:
    if not isinstance(value, dict) or any(not value.get(lang) for lang in LANGUAGES):
        raise ConfigError(f"template: {where} needs a heading in zh and en")
    return {lang: str(value[lang]) for lang in LANGUAGES}
