"""What the digest asks of a language model and what it refuses (``data/model.toml``)."""

from __future__ import annotations

import re
import tomllib
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache
from importlib import resources

import opencc

from digest.errors import ConfigError
from digest.text import HAN


def phrase_pattern(phrases: Iterable[str]) -> re.Pattern[str]:
    """Any of ``phrases``, case-folded; Latin ones on word boundaries ("ai will" is not
    "i will"), Chinese ones anywhere."""
    parts = [
        re.escape(p.lower())
        if HAN.search(p) or not p[:1].isalnum()
        else rf"\b{re.escape(p.lower())}"
        for p in sorted(set(phrases), key=len, reverse=True)
    ]
    return re.compile("|".join(parts) or r"(?!)")


@dataclass(frozen=True, slots=True)
class ModelRules:
    version: int
    prompts: dict[str, str]
    language_names: dict[str, str]
    limit_words: dict[str, str]
    limits: dict[str, tuple[int, int]]  # "point_zh" → (min, max)
    max_sentences: int
    reasoning: re.Pattern[str]
    promotion: re.Pattern[str]
    instruction: re.Pattern[str]
    instruction_phrases: tuple[str, ...]  # a plain substring test first: most text has none

    def is_instruction(self, sentence: str) -> bool:
        """A sentence that speaks to a model (a prompt injection), not to a reader. The
        pattern holds the phrases in simplified and traditional script, so the text needs
        only NFKC (fast) rather than a script conversion: this runs on every report."""
        text = unicodedata.normalize("NFKC", sentence).lower()
        if not any(phrase in text for phrase in self.instruction_phrases):
            return False
        return bool(self.instruction.search(text))


def _both_scripts(phrases: Iterable[str]) -> set[str]:
    convert = opencc.OpenCC("s2t")
    return {form for p in phrases for form in (p, convert.convert(p))}


@cache
def model_rules() -> ModelRules:
    try:
        raw = resources.files("digest.data").joinpath("model.toml").read_text("utf-8")
        data = tomllib.loads(raw)
        prompt, refuse, limits = data["prompt"], data["refuse"], data["limits"]
        return ModelRules(
            version=int(data["version"]),
            prompts={k: v for k, v in prompt.items() if isinstance(v, str)},
            language_names=dict(prompt["language"]),
            limit_words=dict(prompt["limit"]),
            limits={k: (int(v[0]), int(v[1])) for k, v in limits.items() if isinstance(v, list)},
            max_sentences=int(limits["sentences"]),
            reasoning=phrase_pattern(refuse["reasoning"]),
            promotion=phrase_pattern(refuse["promotion"]),
            instruction=phrase_pattern(_both_scripts(refuse["instruction"])),
            instruction_phrases=tuple(p.lower() for p in _both_scripts(refuse["instruction"])),
        )
    except (OSError, tomllib.TOMLDecodeError, KeyError, TypeError, ValueError) as exc:
        raise ConfigError(f"cannot read the model rules: {exc!r}") from exc
