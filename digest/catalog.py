"""The one zh/en catalog of user-facing words (``data/catalog.toml``).

Every reply, error, admin reply, help line and command-menu description is a key there with a
``zh`` and an ``en`` text. Texts are plain; whoever shows them escapes them for their medium.
"""

from __future__ import annotations

import string
import tomllib
from collections.abc import Iterator, Mapping
from functools import cache
from importlib import resources

from digest.errors import ConfigError

LANGUAGES = ("zh", "en")


class Catalog:
    def __init__(self, entries: Mapping[str, Mapping[str, str]]) -> None:
        self._entries = entries

    @classmethod
    def parse(cls, raw: str) -> Catalog:
        try:
            data = tomllib.loads(raw)
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"catalog.toml: {exc}") from exc
        entries: dict[str, dict[str, str]] = {}
        _flatten(data, "", entries)
        return cls(entries)

    def __iter__(self) -> Iterator[str]:
        return iter(sorted(self._entries))

    def __contains__(self, key: object) -> bool:
        return key in self._entries

    def keys(self) -> list[str]:
        return sorted(self._entries)

    def languages_of(self, key: str) -> Mapping[str, str]:
        return self._entries[key]

    def text(self, key: str, language: str, /, **params: object) -> str:
        """The text of ``key`` in ``language`` (English when the language is not zh)."""
        entry = self._entries[key]  # a missing key is a bug: KeyError
        template = entry["zh" if language == "zh" else "en"]
        return template.format(**params) if params else template


def placeholders(template: str) -> set[str]:
    return {field for _, field, _, _ in string.Formatter().parse(template) if field}


def _flatten(node: Mapping[str, object], prefix: str, out: dict[str, dict[str, str]]) -> None:
    for name, value in node.items():
        key = f"{prefix}{name}"
        if isinstance(value, Mapping) and all(isinstance(v, str) for v in value.values()):
            out[key] = dict(value)
        elif isinstance(value, Mapping):
            _flatten(value, key + ".", out)
        else:
            raise ConfigError(f"catalog.toml: {key} is not a table of texts")


@cache
def catalog() -> Catalog:
    """The bundled catalog, read once."""
    return Catalog.parse(resources.files("digest.data").joinpath("catalog.toml").read_text("utf-8"))


def t(key: str, language: str, /, **params: object) -> str:
    """Shorthand: the bundled catalog's text of ``key`` in ``language``."""
    return catalog().text(key, language, **params)
