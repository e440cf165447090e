"""Run the real fetcher over every feed file in a folder, served from 127.0.0.1.

    python bench/corpus.py ../shared/corpora/feedparser/tests
    python bench/corpus.py ../shared/corpora/real-feeds --show-items

Each file is served over HTTP (headers from a feedparser-style ``Header:`` comment when the
file has one) and ingested into a throw-away SQLite database. It reports files with items,
files that are an error on their source (with the reason), and any crash, which must be none.
"""

from __future__ import annotations

import argparse
import re
import sys
import tempfile
from collections import Counter
from datetime import datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from digest.companies import CompanyBase
from digest.ingest.enrich import Enricher, load_domain_terms
from digest.ingest.pipeline import SourceOutcome
from storage import Database
from tests.support.labelled import serve_and_ingest as serve_feeds

HEADER = re.compile(rb"^Header:\s*([\w-]+):\s*(.+?)\s*$", re.MULTILINE)


def headers_of(body: bytes) -> dict[str, str]:
    found = {
        m.group(1).decode(): m.group(2).decode("latin-1") for m in HEADER.finditer(body[:2000])
    }
    if not any(name.lower() == "content-type" for name in found):
        found["Content-Type"] = "application/xml"
    return found


def serve_and_ingest(
    db: Database, files: list[Path], enricher: Enricher, added: datetime | None = None
) -> tuple[dict[int, str], list[SourceOutcome]]:
    """Serve each file from 127.0.0.1 and run one fetch cycle over them all: each source's
    file name by source id, and the cycle's outcomes. ``added``: when the sources were added
    (before their items, so none is a backlog)."""
    feeds = [(p.name, body, headers_of(body)) for p in files for body in [p.read_bytes()]]
    return serve_feeds(db, feeds, enricher, added=added)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("folder", type=Path)
    parser.add_argument("--show-items", action="store_true", help="print stored titles and tags")
    args = parser.parse_args()
    files = sorted(p for p in args.folder.rglob("*") if p.is_file() and p.suffix != ".py")
    with tempfile.TemporaryDirectory() as folder:
        db = Database(f"sqlite:///{folder}/corpus.db")
        db.upgrade()
        enricher = Enricher(CompanyBase.load(), load_domain_terms(), 3.0)
        names, outcomes = serve_and_ingest(db, files, enricher)
        report(outcomes, names)
        if args.show_items:
            for item in db.items.latest(limit=10_000):
                print(
                    f"  [{'R' if item.relevant else ' '}] {','.join(item.companies):30.30} "
                    f"{item.title[:70]}"
                )
        db.close()
    return 0


def report(outcomes: list[SourceOutcome], names: dict[int, str]) -> None:
    with_items = [o for o in outcomes if o.status == "ok"]
    errors = [o for o in outcomes if o.status == "error"]
    reasons = Counter(re.sub(r"\d+:\d+", "L:C", o.error or "") for o in errors)
    print(
        f"{len(outcomes)} files: {len(with_items)} with items "
        f"({sum(o.new for o in outcomes)} stored, {sum(o.duplicate for o in outcomes)} "
        f"duplicates of items in other files, {sum(o.relevant for o in outcomes)} relevant), "
        f"{sum(o.warning is not None for o in with_items)} of them malformed but usable, "
        f"{len(errors)} an error on their source"
    )
    for reason, count in reasons.most_common():
        print(f"  {count:4}  {reason}")
    internal = [o for o in errors if "storing items failed" in (o.error or "")]
    print(f"crashes: {len(internal)}")
    for o in internal:
        print(f"  {names[o.source_id]}: {o.error}")


if __name__ == "__main__":
    sys.exit(main())
