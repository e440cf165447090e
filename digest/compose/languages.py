"""A key point per language: one digest, read in Chinese or in English.

A story is chosen, ranked and placed once. Its key point is extracted once per language its
reports are written in — a Chinese reader gets the sentence of a Chinese report (traditional
script made simplified), an English reader that of an English one. A story told only in the
other language keeps its one point, marked as such by the renderer, after the points in the
reader's language within its section (without a model there is nothing to translate with).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from digest.compose.keypoints import ExtractedPoint, KeyPointExtractor, StoryInput
from digest.compose.model import KeyPoint, Section, SourceRef, renumber
from digest.text import detect_language, is_traditional, to_simplified

LANGUAGES = ("zh", "en")


def extract_versions(
    extractor: KeyPointExtractor, stories: Sequence[StoryInput]
) -> dict[int, list[ExtractedPoint]]:
    """For each story, its point in each language it has reports in (best language first:
    the language of its best report)."""
    versions: dict[int, list[ExtractedPoint]] = {s.story_id: [] for s in stories}
    for language in LANGUAGES:
        subset = [
            StoryInput(s.story_id, members)
            for s in stories
            if (members := tuple(i for i in s.items if i.language == language))
        ]
        for point in extractor.extract(subset) if subset else ():
            # The sentence's own language: a report filed as English may quote a Chinese
            # headline, a Chinese one lead with an English sentence.
            point = replace(point, language=detect_language(point.text))
            if point.language == "zh" and is_traditional(point.text):
                point = replace(point, text=to_simplified(point.text))
            versions[point.story_id].append(point)
    for story in stories:  # the story's own best report decides which version leads
        lead_language = story.items[0].language
        versions[story.story_id].sort(key=lambda p: p.language != lead_language)
    return versions


def primary(points: Sequence[ExtractedPoint], language: str) -> ExtractedPoint:
    """The version a reader of ``language`` gets: theirs, else the story's own."""
    return next((p for p in points if p.language == language), points[0])


def in_language(point: KeyPoint, language: str) -> KeyPoint:
    version = next((v for v in point.versions if v.language == language), None)
    if version is None or version.language == point.language:
        return point
    return replace(point, text=version.text, language=version.language)


def reader_sections(sections: Sequence[Section], language: str) -> tuple[Section, ...]:
    """Each point in the reader's language where the story has it; within a section, the
    points in the reader's language first (rank order kept), the others after."""
    result = []
    for section in sections:
        points = [in_language(p, language) for p in section.key_points]
        ordered = sorted(points, key=lambda p: p.language != language)  # stable: rank kept
        result.append(replace(section, key_points=tuple(ordered)))
    return tuple(result)


def for_reader(
    sections: Sequence[Section],
    more: Sequence[Section],
    sources: Sequence[SourceRef],
    language: str,
) -> tuple[tuple[Section, ...], tuple[Section, ...], tuple[SourceRef, ...]]:
    """Shown and further sections for a reader of ``language``, sources numbered again."""
    ordered, numbered = renumber(reader_sections([*sections, *more], language), sources)
    return ordered[: len(sections)], ordered[len(sections) :], numbered
