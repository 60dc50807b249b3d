"""CPU cost of the pure middle of the pipeline (parse → normalize → match) per farm feed.

    python bench/bench_process.py [--feeds 50]

Prints milliseconds per 50-entry feed for each stage, for the feeds the poll benchmark's farm
serves (bench/farm.py); the first-poll target (500 feeds in 5 s on 2 cores) leaves about
10 ms of CPU per feed for everything.
"""

from __future__ import annotations

import argparse
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from farm import make_feed

from curator import config, match, normalize
from curator.parse import parse
from curator.types import Fetched


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--feeds", type=int, default=50)
    args = ap.parse_args()
    cfg = config.load(Path(__file__).resolve().parent.parent / "feeds.yaml")
    source = config.Source(id="farm", name="Farm", url="http://127.0.0.1/feed.xml")
    rules = match.compile_rules(cfg.rules, source.rules)
    now = datetime.now(UTC)
    docs = [
        Fetched("farm", source.url, 200, {"content-type": "application/rss+xml"}, make_feed(i))
        for i in range(args.feeds)
    ]
    t = time.perf_counter()
    parsed = [parse(d, source) for d in docs]
    t_parse = time.perf_counter() - t
    t = time.perf_counter()
    entries = [
        e
        for p in parsed
        for raw in p.entries
        if (e := normalize.normalize(raw, source_id="farm", feed_url=source.url, now=now))
    ]
    t_norm = time.perf_counter() - t
    t = time.perf_counter()
    kept = [c for e in entries if (c := match.match(e, rules))]
    t_match = time.perf_counter() - t
    n = len(docs)
    print(f"{n} feeds, {len(entries)} entries, {len(kept)} kept")
    print(f"parse     {t_parse / n * 1000:7.2f} ms per feed")
    print(f"normalize {t_norm / n * 1000:7.2f} ms per feed")
    print(f"match     {t_match / n * 1000:7.2f} ms per feed")
    print(f"total     {(t_parse + t_norm + t_match) / n * 1000:7.2f} ms per feed")


if __name__ == "__main__":
    main()
