"""OPML benchmark: read, plan and write an import of N feeds, then export them again.

    python bench/bench_opml.py [--feeds 100,1000,5000] [--runs 5]

For each size: a generated OPML file of N feeds in folders of 50 (what a large feed reader
export looks like), imported into a copy of the bundled feeds.yaml the way `curator sources
import` does it (parse with the hardened parser, plan ids and duplicates against the
configured sources, append through config_edit with the whole file validated), then the
result exported as OPML.  Also the hostile case: a billion-laughs file (refused before
parsing).  Figures are wall-clock medians over ``--runs``.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from xml.sax.saxutils import quoteattr

from curator import config, config_edit, opml

ROOT = Path(__file__).resolve().parent.parent


def make_opml(n: int) -> bytes:
    lines = [
        '<?xml version="1.0" encoding="UTF-8"?>',
        '<opml version="2.0"><head>',
        "<title>bench</title></head><body>",
    ]
    for folder in range(0, n, 50):
        lines.append(f'<outline text="Folder {folder // 50}">')
        for i in range(folder, min(n, folder + 50)):
            title = quoteattr(f"Feed number {i} – Überwachung & CCTV")
            lines.append(
                f'<outline text={title} type="rss" xmlUrl="https://feeds{i % 97}.example.org/'
                f'{i}/rss.xml" htmlUrl="https://site{i}.example.org/"/>'
            )
        lines.append("</outline>")
    lines.append("</body></opml>")
    return "\n".join(lines).encode("utf-8")


def timed(fn: Callable[[], Any], runs: int) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def measure(n: int, runs: int, now: datetime) -> str:
    """One size's figures, as a line of the table."""
    data = make_opml(n)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "feeds.yaml"
        shutil.copy(ROOT / "feeds.yaml", path)
        cfg = config.load(path)
        doc = opml.parse(data, "bench.opml")
        parse_s = timed(lambda: opml.parse(data, "bench.opml"), runs)
        plan_s = timed(lambda: opml.plan(doc, cfg.sources), runs)
        entries = [a.entry for a in opml.plan(doc, cfg.sources).added]
        original = path.read_text(encoding="utf-8")

        def write() -> None:
            path.write_text(original, encoding="utf-8")
            config_edit.edit(path, lambda d: opml.add_to_document(d, entries, "bench"))

        write_s = timed(write, max(1, runs // 2))
        imported = config.load(path)
        export_s = timed(lambda: opml.export(imported, now), runs)
        assert len(imported.sources) == len(cfg.sources) + n
    return (
        f"{n:>6} {len(data):>9,} {parse_s * 1000:>7.1f}ms {plan_s * 1000:>7.1f}ms "
        f"{write_s * 1000:>7.1f}ms {export_s * 1000:>7.1f}ms"
    )


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--feeds", default="100,1000,5000")
    ap.add_argument("--runs", type=int, default=5)
    args = ap.parse_args()
    now = datetime(2026, 12, 4, tzinfo=UTC)
    print(f"{'feeds':>6} {'bytes':>9} {'parse':>9} {'plan':>9} {'write':>9} {'export':>9}")
    for n in (int(x) for x in args.feeds.split(",")):
        print(measure(n, args.runs, now))
    hostile = (ROOT / "tests" / "data" / "opml" / "hostile.opml").read_bytes()

    def refuse() -> None:
        try:
            opml.parse(hostile, "hostile.opml")
        except opml.OpmlError:
            return
        raise AssertionError("the hostile file was accepted")

    print(f"billion laughs refused in {timed(refuse, args.runs) * 1e6:.0f} µs")


if __name__ == "__main__":
    main()
