"""The cost of keeping every polled entry for the rules workbench (``store.keep_seen``).

    python bench/bench_seen.py [--per-poll 100] [--polls-per-day 24] [--days 32]

Reads the real news2023 stream (``../shared/news2023/feeds.tar.xz``, 153 RSS files, 23,644
entries; never changed) and prints:

* CPU: matching every entry (the shipped feeds.yaml's global rules) with and without
  ``keep_seen`` (an entry the rules drop is assessed once more to say why), in µs per entry;
* ``rules test``: the shipped rules tried on every entry of the stream, kept;
* disk: bytes per kept entry in ``seen/*.json``;
* write time: a store fed polls of ``--per-poll`` entries, ``--polls-per-day`` a day for
  ``--days`` days (the stream's entries reused under new ids once they run out), each poll
  one transaction that keeps its entries and prunes those older than 30 days, as a poll's
  commit does; the median and the slowest poll of the last day (the window full).
"""

from __future__ import annotations

import argparse
import hashlib
import statistics
import sys
import tarfile
import tempfile
import time
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from curator import config, match, normalize, workbench  # noqa: E402
from curator.parse import parse  # noqa: E402
from curator.pipeline import judge  # noqa: E402
from curator.store import TinyDBStore  # noqa: E402
from curator.types import Fetched, SeenEntry  # noqa: E402

NEWS2023 = ROOT.parent / "shared" / "news2023" / "feeds.tar.xz"
KEEP = timedelta(days=30)


def read_stream() -> list[tuple[str, bytes]]:
    with tarfile.open(NEWS2023) as archive:
        out = []
        for member in archive.getmembers():
            f = archive.extractfile(member)
            if f is not None and member.name.endswith(".xml"):
                out.append((member.name, f.read()))
    return out


def processed(
    files: list[tuple[str, bytes]], cfg: config.Config
) -> tuple[list[SeenEntry], float, float, int]:
    """Every entry of the stream as a poll keeps it, and the CPU seconds of matching them
    without and with ``keep_seen`` (best of three, alternated: the machine may be shared);
    parsing and normalising, the same either way, are left out."""
    now = datetime.now(UTC)
    entries = []
    for i, (_, body) in enumerate(files):
        source = config.Source(id=f"s{i}", name=f"s{i}", url=f"https://feeds.example.org/{i}.xml")
        fetched = Fetched(source.id, source.url, 200, {"content-type": "application/rss+xml"}, body)
        for raw in parse(fetched, source, max_entries=100_000).entries:
            entry = normalize.normalize(raw, source_id=source.id, feed_url=source.url, now=now)
            if entry is not None:
                entries.append(entry)
    rules = match.compile_rules(cfg.rules)
    seen: list[SeenEntry] = []

    def run(keep: bool) -> float:
        seen.clear()
        t = time.perf_counter()
        for entry in entries:
            kept = judge(entry, rules, "news", now, keep)[2]  # as pipeline.process does
            if kept is not None:
                seen.append(kept)
        return time.perf_counter() - t

    plain = keep = float("inf")
    for _ in range(3):
        plain = min(plain, run(False))
        keep = min(keep, run(True))
    return list(seen), plain, keep, len(entries)


def renamed(entry: SeenEntry, cycle: int, at: datetime) -> SeenEntry:
    if cycle == 0:
        return replace(entry, seen_at=at)
    new_id = hashlib.sha256(f"{entry.id}/{cycle}".encode()).hexdigest()[:16]
    return replace(entry, id=new_id, seen_at=at)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--per-poll", type=int, default=100)
    ap.add_argument("--polls-per-day", type=int, default=24)
    ap.add_argument("--days", type=int, default=32)
    args = ap.parse_args()
    if not NEWS2023.exists():
        sys.exit(f"the news2023 stream is not at {NEWS2023}")
    cfg = config.load(ROOT / "feeds.yaml")
    files = read_stream()

    seen, t_plain, t_keep, entries = processed(files, cfg)
    outcomes = {o: sum(1 for s in seen if s.outcome == o) for o in ("kept", "near_miss", "dropped")}
    print(f"news2023: {len(files)} feeds, {entries:,} entries ({outcomes})")
    print(f"match without keep_seen {t_plain / entries * 1e6:7.1f} µs per entry")
    print(f"match with keep_seen    {t_keep / entries * 1e6:7.1f} µs per entry (best of 3)")

    t = time.perf_counter()
    tried = workbench.trial(cfg, seen)
    t_trial = time.perf_counter() - t
    print(
        f"rules test: {len(seen):,} kept entries tried in {t_trial:.1f} s "
        f"({t_trial / len(seen) * 1e6:.0f} µs per entry; {tried.unchanged:,} unchanged)"
    )

    start = datetime(2026, 1, 1, tzinfo=UTC)
    step = timedelta(days=1) / args.polls_per_day
    times: list[float] = []
    with tempfile.TemporaryDirectory() as tmp:
        store = TinyDBStore(Path(tmp) / "store")
        k = 0
        polls = args.polls_per_day * args.days
        for n in range(polls):
            now = start + n * step
            batch = []
            for _ in range(args.per_poll):
                cycle, index = divmod(k, len(seen))
                batch.append(renamed(seen[index], cycle, now))
                k += 1
            t = time.perf_counter()
            with store.transaction():
                store.keep_seen(batch)
                store.prune_seen(now - KEEP)
            times.append(time.perf_counter() - t)
        kept = len(store.seen())
        size = sum(p.stat().st_size for p in (store.path / "seen").glob("*.json"))
    last_day = times[-args.polls_per_day :]
    print(
        f"store: {polls} polls of {args.per_poll} entries, {args.polls_per_day} a day for "
        f"{args.days} days; {kept:,} entries kept (30 days), {size / 1e6:.1f} MB on disk"
    )
    print(f"disk: {size / kept:,.0f} bytes per kept entry")
    print(
        f"write: {statistics.median(last_day) * 1000:.1f} ms per poll (median of the last day), "
        f"slowest {max(last_day) * 1000:.1f} ms, "
        f"{statistics.median(last_day) / args.per_poll * 1e6:.0f} µs per entry"
    )


if __name__ == "__main__":
    main()
