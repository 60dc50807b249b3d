"""Same story, one item: how well and how fast entries are grouped, on real 2023 news.

    python bench/bench_stories.py [--feeds DIR] [--threshold 0.3]

``--feeds`` is the unpacked ``../shared/news2023/feeds.tar.xz`` (``news2023/``); without it
the archive is unpacked into a temporary directory.  Prints:

* grouping quality on the hand-labelled pairs of ``bench/stories/pairs.csv`` (how they were
  judged: ``bench/stories/README.md``): precision and recall with 95 % Wilson intervals at
  the chosen threshold, and a threshold sweep.  Each pair goes through the real
  :class:`curator.stories.StoryIndex` (MinHash/LSH look-up, then the exact check): the
  earlier entry is indexed, the later one asks for its story.
* start-up: a store of 1,000 items in the window (more than this stream's rules keep in a
  year) opened fresh and indexed, and a sync with nothing changed (what each poll pays);
* cost on the whole stream (23,644 entries): the time to index every entry (what rebuilding
  the index at start-up costs, at worst: the live index holds only the stored items of the
  window), the resident memory it adds, and a sequential run (each entry looks for its story
  among those before it, then is indexed) with the number of entries it would group.
"""

from __future__ import annotations

import argparse
import csv
import math
import sys
import tarfile
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from stories_corpus import load

from curator import dedupe
from curator.store import TinyDBStore
from curator.stories import StoryIndex, outlet
from curator.types import Candidate, Entry

HERE = Path(__file__).resolve().parent
PAIRS = HERE / "stories" / "pairs.csv"
SAMPLE = HERE / "stories" / "stream_sample.csv"
ARCHIVE = HERE.parent.parent / "shared" / "news2023" / "feeds.tar.xz"
SWEEP = (0.15, 0.2, 0.25, 0.3, 0.35, 0.4, 0.45, 0.5, 0.6)


def wilson(k: int, n: int) -> tuple[float, float]:
    """95 % Wilson score interval of k successes in n."""
    if n == 0:
        return (0.0, 1.0)
    z = 1.96
    p = k / n
    d = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / d
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / d
    return (max(0.0, centre - half), min(1.0, centre + half))


def rss_mb() -> float:
    """This process's resident memory now (Linux)."""
    pages = int(Path("/proc/self/statm").read_text().split()[1])
    return pages * 4096 / 2**20


def grouped(index: StoryIndex, first: Entry, later: Entry, key: str) -> bool:
    """Would *later* join *first*'s story (first indexed under *key*)?"""
    found = index.nearest(
        title=later.title, text=later.summary_text, published=later.published, url=later.url
    )
    return any(n.item_id == key for n in found)


def judge(pairs: list[dict[str, str]], by_url: dict[str, Entry], threshold: float) -> list[bool]:
    index = StoryIndex(threshold=threshold)
    for e in {by_url[u] for p in pairs for u in (p["url_a"], p["url_b"])}:
        index.add(
            e.url,
            item_id=e.url,
            title=e.title,
            text=e.summary_text,
            published=e.published,
            outlets=frozenset({outlet(e.url)}),
        )
    out = []
    for p in pairs:
        a, b = sorted((by_url[p["url_a"]], by_url[p["url_b"]]), key=lambda e: e.published)
        out.append(grouped(index, a, b, a.url))
    return out


def quality(pairs: list[dict[str, str]], said: list[bool]) -> tuple[int, int, int, int]:
    tp = sum(1 for p, s in zip(pairs, said, strict=True) if s and p["label"] == "same")
    fp = sum(1 for p, s in zip(pairs, said, strict=True) if s and p["label"] != "same")
    fn = sum(1 for p, s in zip(pairs, said, strict=True) if not s and p["label"] == "same")
    return tp, fp, fn, len(pairs) - tp - fp - fn


def report_pairs(entries: list[Entry], threshold: float) -> None:
    by_url = {e.url: e for e in entries}
    with PAIRS.open(newline="") as f:
        pairs = list(csv.DictReader(f))
    missing = [p for p in pairs if p["url_a"] not in by_url or p["url_b"] not in by_url]
    if missing:
        sys.exit(f"{PAIRS}: {len(missing)} pairs name links not in the stream")
    same = sum(1 for p in pairs if p["label"] == "same")
    print(f"labelled pairs: {len(pairs)} ({same} same story, {len(pairs) - same} different)")
    tp, fp, fn, _ = quality(pairs, judge(pairs, by_url, threshold))
    p_lo, p_hi = wilson(tp, tp + fp)
    r_lo, r_hi = wilson(tp, tp + fn)
    print(
        f"threshold {threshold}: precision {tp / max(1, tp + fp):.2f} "
        f"[{p_lo:.2f}-{p_hi:.2f}] ({tp}/{tp + fp}), recall {tp / max(1, tp + fn):.2f} "
        f"[{r_lo:.2f}-{r_hi:.2f}] ({tp}/{tp + fn})"
    )
    print("sweep: threshold  precision [95% CI]     recall [95% CI]")
    for t in SWEEP:
        tp, fp, fn, _ = quality(pairs, judge(pairs, by_url, t))
        p_lo, p_hi = wilson(tp, tp + fp)
        r_lo, r_hi = wilson(tp, tp + fn)
        print(
            f"       {t:<5}     {tp / max(1, tp + fp):.2f} [{p_lo:.2f}-{p_hi:.2f}]"
            f"     {tp / max(1, tp + fn):.2f} [{r_lo:.2f}-{r_hi:.2f}]"
        )


def report_cost(entries: list[Entry], threshold: float) -> None:
    index = StoryIndex(threshold=threshold)
    index.add(
        "warm-up", item_id="warm-up", title="a b c d e f g", text="", published=entries[0].published
    )
    index.remove("warm-up")  # datasketch and numpy loaded before measuring
    before = rss_mb()
    start = time.perf_counter()
    for n, e in enumerate(entries):
        index.add(
            str(n),
            item_id=str(n),
            title=e.title,
            text=e.summary_text,
            published=e.published,
            outlets=frozenset({outlet(e.url)}),
        )
    took = time.perf_counter() - start
    print(
        f"index {len(entries)} entries ({len(index)} with enough words): {took:.1f} s "
        f"({took / len(entries) * 1000:.2f} ms each), +{rss_mb() - before:.0f} MB resident"
    )

    seq = StoryIndex(threshold=threshold)
    joined = 0
    start = time.perf_counter()
    for n, e in enumerate(entries):
        found = seq.nearest(title=e.title, text=e.summary_text, published=e.published, url=e.url)
        if found and (e.published - entries[int(found[0].item_id)].published) <= seq.window:
            joined += 1
            continue  # a member, as dedupe would store it: the story is already indexed
        seq.add(
            str(n),
            item_id=str(n),
            title=e.title,
            text=e.summary_text,
            published=e.published,
            outlets=frozenset({outlet(e.url)}),
        )
    took = time.perf_counter() - start
    with SAMPLE.open(newline="") as f:
        judged = list(csv.DictReader(f))
    right = sum(1 for r in judged if r["label"] == "same")
    lo, hi = wilson(right, len(judged))
    print(
        f"groupings of such a run at 0.3, a random sample judged by hand ({SAMPLE.name}): "
        f"{right}/{len(judged)} the same story, precision {right / len(judged):.2f} "
        f"[{lo:.2f}-{hi:.2f}]"
    )
    print(
        f"sequential run (look up, then index): {took:.1f} s "
        f"({took / len(entries) * 1000:.2f} ms per entry); "
        f"{joined} of {len(entries)} entries would join another outlet's story"
    )


def report_rebuild(entries: list[Entry], threshold: float, size: int) -> None:
    """What `serve` or a CLI poll pays at start-up: a fresh Store on disk holding *size* items
    first seen within the window, read and indexed by :meth:`StoryIndex.sync`."""
    chosen = entries[:size]
    now = max(e.published for e in chosen)
    with tempfile.TemporaryDirectory() as tmp:
        store = TinyDBStore(Path(tmp) / "store")
        with store.transaction():
            for e in chosen:
                c = Candidate(entry=e, score=1.0, matches=(), why="bench")
                store.put_item(dedupe.new_item(c, category="news", now=now))
        fresh = TinyDBStore(Path(tmp) / "store")
        index = StoryIndex(threshold=threshold)
        index.add("warm-up", item_id="warm-up", title="a b c d e f g", text="", published=now)
        index.remove("warm-up")
        before = rss_mb()
        start = time.perf_counter()
        index.sync(fresh, now)
        took = time.perf_counter() - start
        grown = rss_mb() - before
        start = time.perf_counter()
        index.sync(fresh, now)
        again = time.perf_counter() - start
    print(
        f"start-up: a store of {size} items in the window read and indexed in {took:.2f} s, "
        f"+{grown:.0f} MB resident; a sync with nothing changed {again * 1000:.0f} ms"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--feeds", type=Path, help="the unpacked news2023/ folder")
    parser.add_argument("--threshold", type=float, default=0.3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        feeds = args.feeds
        if feeds is None:
            with tarfile.open(ARCHIVE) as tar:
                tar.extractall(tmp, filter="data")
            feeds = Path(tmp)
        start = time.perf_counter()
        entries = load(feeds)
        print(
            f"{len(entries)} entries parsed and normalised in {time.perf_counter() - start:.1f} s"
        )
    report_pairs(entries, args.threshold)
    report_rebuild(entries, args.threshold, 1000)
    report_cost(entries, args.threshold)


if __name__ == "__main__":
    main()
