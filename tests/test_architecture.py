"""The shape of the code, kept true by reading it: layers point one way (bot → digest →
storage), no package imports itself in a circle, digest never imports Telegram, ingest and
compose do not know each other, no module outgrows one read, and the catalog is complete."""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

from telegram.constants import MessageLimit

from digest.catalog import LANGUAGES, catalog, placeholders
from digest.html import MESSAGE_LIMIT

ROOT = Path(__file__).parent.parent
PACKAGES = ("bot", "digest", "storage")
MAX_LINES = 400


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _modules() -> dict[str, Path]:
    return {
        _module_name(path): path
        for package in PACKAGES
        for path in (ROOT / package).rglob("*.py")
        if "migrations" not in path.parts
    }


def _imports(path: Path) -> set[str]:
    """Every module ``path`` imports, at any depth (function-level imports count too)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text("utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return found


def _graph() -> dict[str, set[str]]:
    modules = _modules()
    graph: dict[str, set[str]] = defaultdict(set)
    for name, path in modules.items():
        graph[name] = {m for m in _imports(path) if m in modules and m != name}
    return graph


LAYER = {"storage": 0, "digest": 1, "bot": 2}


def test_layers_point_one_way() -> None:
    wrong = [
        f"{module} imports {target}"
        for module, targets in _graph().items()
        for target in targets
        if LAYER[target.split(".")[0]] > LAYER[module.split(".")[0]]
    ]
    assert wrong == []


def test_digest_never_imports_telegram_and_its_halves_stay_apart() -> None:
    wrong = []
    for name, path in _modules().items():
        imported = _imports(path)
        if name.startswith(("digest", "storage")):
            wrong += [f"{name} imports {m}" for m in imported if m.split(".")[0] == "telegram"]
        if name.startswith("digest.ingest"):
            wrong += [f"{name} imports {m}" for m in imported if m.startswith("digest.compose")]
        if name.startswith("digest.compose"):
            wrong += [f"{name} imports {m}" for m in imported if m.startswith("digest.ingest")]
    assert wrong == []


def _cycle_from(start: str, graph: dict[str, set[str]]) -> list[str] | None:
    stack: list[tuple[str, list[str]]] = [(start, [start])]
    seen: set[str] = set()
    while stack:
        node, path = stack.pop()
        for target in graph.get(node, ()):
            if target == start:
                return [*path, start]
            if target not in seen:
                seen.add(target)
                stack.append((target, [*path, target]))
    return None


def test_no_import_circle() -> None:
    graph = _graph()
    # A package's __init__ re-exporting its modules is not a circle of its own.
    edges = {m: {t for t in ts if not m.startswith(t + ".")} for m, ts in graph.items()}
    circles = [c for m in edges if (c := _cycle_from(m, edges))]
    assert circles == []


def test_no_module_outgrows_one_read() -> None:
    long = {
        name: n
        for name, path in _modules().items()
        if (n := len(path.read_text("utf-8").splitlines())) > MAX_LINES
    }
    assert long == {}


def test_every_catalog_key_has_both_languages_with_the_same_placeholders() -> None:
    book = catalog()
    problems = []
    for key in book:
        texts = book.languages_of(key)
        if set(texts) != set(LANGUAGES):
            problems.append(f"{key}: languages {sorted(texts)}")
        elif placeholders(texts["zh"]) != placeholders(texts["en"]):
            problems.append(f"{key}: placeholders differ")
    assert problems == [] and len(book.keys()) > 80


def test_every_catalog_key_the_code_names_exists() -> None:
    """Keys are literal strings in ``t(…)``, ``turn.t(…)``, ``turn.reply(…)`` and
    ``CommandError(…)``; a typo would be a KeyError in front of a user."""
    keys = set(catalog().keys())
    used: set[str] = set()
    for path in _modules().values():
        for node in ast.walk(ast.parse(path.read_text("utf-8"))):
            if not isinstance(node, ast.Call) or not node.args:
                continue
            func = node.func
            name = func.id if isinstance(func, ast.Name) else getattr(func, "attr", "")
            first = node.args[0]
            if name in {"t", "reply", "CommandError"} and isinstance(first, ast.Constant):
                used.add(str(first.value))
    assert len(used) > 60 and used - keys == set()


def test_the_message_limit_is_telegrams() -> None:
    assert MESSAGE_LIMIT == MessageLimit.MAX_TEXT_LENGTH
