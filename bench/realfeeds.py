"""Score the pipeline on real feeds against labels kept as facts (links and judgements only).

    python bench/realfeeds.py ../shared/corpora/real-feeds ../shared/corpora/real-feeds-2
    python bench/realfeeds.py ../shared/corpora/real-feeds --dump > /tmp/items.txt

Every feed file is served from 127.0.0.1 and fetched, parsed, split, cleaned, tagged, scored and
clustered by the real pipeline into a throw-away SQLite file. Then:

* relevance precision / recall of the items against ``bench/labels/real_feeds.tsv``;
* company tagging precision / recall, over every company an item names and over the companies
  it is *about* (named in its title);
* the digests a subscriber would have read: one per day a feed was captured on, its window the
  two days before; every key point shown is judged usable when it cites only items labelled
  relevant, its text is a sentence of the cited article as the feed gave it, and it carries no
  boilerplate. It also checks that no item older than the window is cited.

``--dump`` prints, for labelling, each stored item with its key, title, the start of its clean
text, what the pipeline predicted, and per company every name the matcher knows (guarded aliases
such as Kimi included) found in the stored text, with up to three occurrences in context; a
company tagged further into a long article than the stored 4,000 characters shows in ``pred``
only. The labeller judges each. Nothing of the feeds' text is kept in the
project: the labels file holds keys and judgements.
"""

from __future__ import annotations

import argparse
import re
import sys
import tempfile
from collections import defaultdict
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


from bench.corpus import serve_and_ingest
from digest.companies import CompanyBase
from digest.compose.composer import Composer
from digest.compose.model import Digest, KeyPoint
from digest.compose.template import Template
from digest.ingest.enrich import Enricher, load_domain_terms
from digest.ingest.normalise import html_to_text
from digest.ingest.parse import parse_feed
from storage import Database
from tests.support.labelled import (
    BOILERPLATE,
    Label,
    Stored,
    ids,
    ratio,
    relevance_scores,
    stored_items,
    tagging_scores,
)

LABELS = Path(__file__).resolve().parent / "labels" / "real_feeds.tsv"
WINDOW = timedelta(days=2)


def load_labels(path: Path = LABELS) -> dict[str, Label]:
    labels: dict[str, Label] = {}
    for number, line in enumerate(path.read_text("utf-8").splitlines(), 1):
        if not line.strip() or line.startswith("#"):
            continue
        fields = line.split("\t")
        if len(fields) != 4 or fields[1] not in ("0", "1"):
            raise SystemExit(f"{path}:{number}: expected key, 0/1, about, mentioned")
        key, relevant, about, mentioned = fields
        checked = None if mentioned.strip() == "?" else ids(mentioned)
        labels[key] = Label(relevant == "1", ids(about), checked)
    return labels


def capture_days(stored: list[Stored]) -> list[datetime]:
    """The day each feed was captured: its newest item's date."""
    newest: dict[str, datetime] = {}
    for s in stored:
        newest[s.file] = max(newest.get(s.file, s.item.published_at), s.item.published_at)
    return sorted(set(newest.values()))


def digests(db: Database, companies: CompanyBase, days: list[datetime]) -> list[Digest]:
    composer = Composer(Template.load(), companies)
    found = []
    for day in days:
        created = day + timedelta(hours=1)
        items = db.items.window(published_since=created - WINDOW)
        items = [i for i in items if i.published_at <= created]
        found.append(
            composer.compose(
                items,
                edition="bench",
                language="zh",
                created_at=created,
                after_item_id=0,
                last_item_id=db.items.max_id(),
                since=created - WINDOW,
            )
        )
    return found


def shown_points(digest: Digest) -> Iterable[KeyPoint]:
    for section in digest.sections:
        yield from (p for p in section.key_points if not p.stories)  # not Core Insights


def squash(text: str) -> str:
    return re.sub(r"\s+", "", text)


def judge(
    point: KeyPoint,
    digest: Digest,
    by_id: dict[int, Stored],
    labels: dict[str, Label],
    feed_text: dict[str, str],
) -> str | None:
    """Why a key point is not usable, or None."""
    refs = {ref.number: ref for ref in digest.sources}
    cited = [by_id[refs[n].item_id] for n in point.citations]
    if any(s.item.published_at < (digest.since or digest.created_at) for s in cited):
        return "older than the window"
    if any(s.key not in labels for s in cited):
        return "cites an unlabelled item"
    if not all(labels[s.key].relevant for s in cited):
        return "cites an off-topic item"
    if BOILERPLATE.search(point.text):
        return "boilerplate"
    text = squash(point.text).rstrip("。.…")
    if not any(text[:40] in feed_text.get(s.file, "") for s in cited):
        return "not a sentence of the article"
    return None


def feed_texts(files: Iterable[Path]) -> dict[str, str]:
    """Each feed's entries as plain text, squashed: where a key point must be found."""
    texts = {}
    for path in files:
        feed = parse_feed(path.read_bytes(), {}, "https://bench.invalid/")
        parts = [f"{e.title}\n{html_to_text(e.summary)}" for e in feed.entries]
        texts[path.name] = squash(html_to_text("\n".join(parts)))
    return texts


# --- the run --------------------------------------------------------------------------------


def dump(stored: list[Stored], companies: CompanyBase) -> None:
    # every name the matcher knows, guarded aliases (Kimi, TPU…) included, so the labeller
    # judges each occurrence the matcher might tag
    names = sorted(companies.names().items(), key=lambda p: -len(p[0]))
    pattern = re.compile(
        "|".join(
            rf"(?<![A-Za-z]){re.escape(n)}(?![A-Za-z])" if n.isascii() else re.escape(n)
            for n, _ in names
        ),
        re.IGNORECASE,
    )
    owner = {n.lower(): cid for n, cid in names}
    for s in stored:
        item = s.item
        print(f"\n=== {s.key}\t[{s.file}] {item.published_at:%Y-%m-%d}")
        print(f"  T: {item.title}")
        print(f"  S: {item.summary[:240]!r}")
        print(
            f"  pred: rel={int(item.relevant)} ({item.relevance})"
            f" about={','.join(item.title_companies)} all={','.join(item.companies)}"
        )
        text = f"{item.title}\n{item.summary}"
        contexts: dict[str, list[str]] = defaultdict(list)
        for m in pattern.finditer(text):
            around = text[max(0, m.start() - 6) : m.end() + 6]
            contexts[owner[m.group(0).lower()]].append(repr(around))
        for company, seen in sorted(contexts.items()):  # a few of each, so none is hidden
            print(f"    ~ {company} ({len(seen)}): {' '.join(seen[:3])}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("folders", type=Path, nargs="+")
    parser.add_argument("--dump", action="store_true", help="print items for labelling")
    parser.add_argument("--errors", action="store_true", help="print every disagreement")
    args = parser.parse_args()
    files = sorted(p for f in args.folders for p in f.glob("*.xml"))
    companies = CompanyBase.load()
    enricher = Enricher(companies, load_domain_terms(), 3.0)
    with tempfile.TemporaryDirectory() as folder:
        db = Database(f"sqlite:///{folder}/real.db")
        db.upgrade()
        by_source, _ = serve_and_ingest(db, files, enricher, added=datetime(2000, 1, 1, tzinfo=UTC))
        stored = stored_items(db, by_source)
        if args.dump:
            dump(stored, companies)
            return 0
        report(db, companies, stored, files, args.errors)
        db.close()
    return 0


def report(
    db: Database, companies: CompanyBase, stored: list[Stored], files: list[Path], errors: bool
) -> None:
    labels = load_labels()
    precision, recall, labelled = relevance_scores(stored, labels)
    print(f"{len(stored)} items stored from {len(files)} feeds, {labelled} labelled")
    print(f"relevance      precision {precision:.3f}  recall {recall:.3f}")
    for about in (False, True):
        p, r, wrong = tagging_scores(stored, labels, about)
        print(f"tagging {'about' if about else 'all  '}  precision {p:.3f}  recall {r:.3f}")
        for line in wrong if errors else ():
            print(f"    {line}")
    if errors:
        for s in stored:
            if s.key in labels and s.item.relevant != labels[s.key].relevant:
                print(f"  relevance {int(s.item.relevant)}≠{int(labels[s.key].relevant)} {s.key}")
    by_id = {s.item.id: s for s in stored}
    texts = feed_texts(files)
    verdicts: dict[str | None, list[str]] = defaultdict(list)
    judged = set()  # a point shown by several days' digests is judged once
    for digest in digests(db, companies, capture_days(stored)):
        for point in shown_points(digest):
            if point.text not in judged:
                judged.add(point.text)
                reason = judge(point, digest, by_id, labels, texts)
                verdicts[reason].append(f"{digest.created_at:%Y-%m-%d} {point.text[:90]}")
    total = sum(len(v) for v in verdicts.values())
    usable = len(verdicts[None])
    print(f"key points usable {usable}/{total} = {ratio(usable, total):.3f}")
    for reason, points in verdicts.items():
        if reason is not None:
            print(f"  {reason}: {len(points)}")
            for line in points if errors else ():
                print(f"    {line}")


if __name__ == "__main__":
    sys.exit(main())
