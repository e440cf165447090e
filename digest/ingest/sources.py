"""Source lists: the bundled defaults (TOML) and OPML import / export."""

from __future__ import annotations

import tomllib
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from digest.errors import ConfigError


@dataclass(frozen=True, slots=True)
class SourceSpec:
    url: str
    title: str | None = None


def load_source_specs(path: Path | None = None) -> list[SourceSpec]:
    """The sources file (bundled ``data/sources.toml`` unless ``path`` is given)."""
    try:
        if path is None:
            raw = resources.files("digest.data").joinpath("sources.toml").read_text("utf-8")
        else:
            raw = path.read_text("utf-8")
        data = tomllib.loads(raw)
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"cannot read sources file {path or 'sources.toml'}: {exc}") from exc
    specs = []
    for number, entry in enumerate(data.get("source", []), 1):
        if not isinstance(entry, dict) or not isinstance(entry.get("url"), str):
            raise ConfigError(f"sources file: entry {number} has no url")
        specs.append(SourceSpec(entry["url"].strip(), entry.get("title")))
    return specs


def read_opml(data: bytes) -> list[SourceSpec]:
    """Feeds of an OPML file (any nesting of outlines; ``xmlUrl`` marks a feed)."""
    try:
        root = ET.fromstring(data)
    except ET.ParseError as exc:
        raise ConfigError(f"not an OPML file: {exc}") from exc
    specs = []
    for outline in root.iter("outline"):
        url = outline.get("xmlUrl") or outline.get("xmlurl")
        if url:
            specs.append(SourceSpec(url.strip(), outline.get("title") or outline.get("text")))
    return specs


def write_opml(specs: list[SourceSpec], title: str = "chip-digest sources") -> str:
    root = ET.Element("opml", version="2.0")
    head = ET.SubElement(root, "head")
    ET.SubElement(head, "title").text = title
    body = ET.SubElement(root, "body")
    for spec in specs:
        name = spec.title or spec.url
        ET.SubElement(body, "outline", type="rss", text=name, title=name, xmlUrl=spec.url)
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode")
