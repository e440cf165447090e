"""Cleaning stays linear in the body: time ``clean`` on bodies of 0.5, 1 and 2 MB made of the
shapes the rules look for (credits, chrome lines, bylines, written-out links).

    python bench/clean.py
"""

from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from digest.ingest.clean import clean

PARAGRAPH = (
    "某芯片公司发布新一代训练芯片，面向大模型训练。图片来源：某网站\nAdvertisement\n"
    "文丨某某 The company said revenue rose. (Source: Wire) https://x.example/a\n"
)


def main() -> None:
    for megabytes in (0.5, 1, 2):
        body = PARAGRAPH * int(megabytes * 2**20 / len(PARAGRAPH.encode()))
        times = []
        for _ in range(5):
            started = time.perf_counter()
            clean("标题", body)
            times.append(time.perf_counter() - started)
        print(f"{megabytes:>4} MB  {statistics.median(times):.3f} s  (median of 5)")


if __name__ == "__main__":
    main()
