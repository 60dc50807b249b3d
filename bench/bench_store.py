"""Store benchmark: approve one item and list pending items at 1k, 10k and 100k stored items,
and back the store up and restore it.

    python bench/bench_store.py [--sizes 1000,10000,100000] [--runs 50]

Each size is filled in one child process, then measured in two fresh ones so that each peak
memory figure (ru_maxrss) belongs to one use:

* "cli": what `curator approve ID` does: a new Store (nothing cached) per approval.
* "serve": a long-lived Store: list every pending item cold (the first web queue page after
  start), then warm, then approve with everything cached (the web approve button).

An approval is one transaction: get_item, replace the status (plus a history event),
put_item.  Figures are wall-clock medians (and 90th percentiles) over ``--runs`` approvals of
distinct random pending items.  Target (issue 2): approve at 100k items <= 50 ms.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from curator.store import Store, TinyDBStore, to_json
from curator.types import Event, Item, Match, Status

T0 = datetime(2025, 1, 1, tzinfo=UTC)
WORDS = (
    "police",
    "cctv",
    "camera",
    "council",
    "network",
    "surveillance",
    "facial",
    "recognition",
    "live",
    "funding",
    "town",
    "centre",
    "officers",
    "footage",
    "evidence",
    "court",
    "data",
    "protection",
    "commissioner",
    "code",
    "practice",
    "anpr",
    "body",
    "worn",
    "video",
    "analytics",
    "public",
    "consultation",
    "privacy",
    "review",
    "report",
    "evaluation",
    "crime",
)
FILL_BATCH = 20_000  # items per transaction while filling


def item_id(n: int) -> str:
    return hashlib.sha256(f"bench-{n}".encode()).hexdigest()[:16]


def make_item(n: int, rng: random.Random, *, t0: datetime = T0) -> Item:
    """An item whose JSON is about 1.1 KB, like a real news candidate, first seen *n*
    minutes after *t0*."""

    def words(k: int) -> str:
        return " ".join(rng.choice(WORDS) for _ in range(k))

    seen = t0 + timedelta(minutes=n)
    url = f"https://news.example.org/{seen:%Y/%m/%d}/{words(6).replace(' ', '-')}-{n}"
    title = words(8).capitalize()
    text = words(24).capitalize() + "."
    status: Status = "pending" if n % 10 == 0 else ("approved" if n % 3 else "rejected")
    return Item(
        id=item_id(n),
        url=url,
        canonical_url=url,
        title=title,
        summary=f"<p>{text}</p>",
        summary_text=text,
        category="news",
        published=seen - timedelta(hours=3),
        first_seen=seen,
        score=round(rng.uniform(1, 6), 2),
        matched=(Match("cctv", "title", 1, 2.0), Match("police", "summary", 2, 1.0)),
        why="title: cctv; summary: police",
        sources=(rng.choice(("google-news", "bing-news", "ifsec", "police-professional")),),
        title_key=title.lower(),
        status=status,
        reviewed_by=None if status == "pending" else "editor",
        reviewed_at=None if status == "pending" else seen + timedelta(hours=1),
        history=(Event(at=seen, action="created"),),
    )


def approve(store: Store, iid: str, now: datetime) -> None:
    with store.transaction():
        item = store.get_item(iid)
        assert item is not None and item.status == "pending"
        store.put_item(
            replace(
                item,
                status="approved",
                reviewed_by="bench",
                reviewed_at=now,
                updated_at=now,
                history=(*item.history, Event(at=now, action="approved", by="bench")),
            )
        )


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def ms(seconds: list[float]) -> dict[str, float]:
    ordered = sorted(seconds)
    return {
        "median": statistics.median(ordered) * 1000,
        "p90": ordered[int(len(ordered) * 0.9) - 1] * 1000,
    }


# ------------------------------------------------------------------------ child process phases


def phase_fill(path: Path, size: int) -> dict[str, Any]:
    rng = random.Random(size)
    store = TinyDBStore(path)
    start = time.perf_counter()
    for low in range(0, size, FILL_BATCH):
        with store.transaction():
            for n in range(low, min(size, low + FILL_BATCH)):
                store.put_item(make_item(n, rng))
    sample = json.dumps(to_json(make_item(1, rng)), ensure_ascii=False, separators=(",", ":"))
    return {
        "fill_s": time.perf_counter() - start,
        "item_json_bytes": len(sample.encode()),
        "disk_mb": sum(p.stat().st_size for p in path.rglob("*.json")) / 2**20,
    }


def pending_ids(size: int, runs: int, half: int) -> list[str]:
    """Distinct pending items; each measuring process takes its own half of them."""
    candidates = [item_id(n) for n in range(0, size, 10) if (n // 10) % 2 == half]
    return random.Random(half).sample(candidates, min(runs, len(candidates)))


def phase_cli(path: Path, size: int, runs: int) -> dict[str, Any]:
    now = datetime.now(UTC)
    times = []
    for iid in pending_ids(size, runs, half=0):
        start = time.perf_counter()
        approve(TinyDBStore(path), iid, now)  # a fresh Store: nothing cached, like a new command
        times.append(time.perf_counter() - start)
    return {"approve_cli_ms": ms(times), "peak_mb": peak_mb()}


def phase_serve(path: Path, size: int, runs: int) -> dict[str, Any]:
    now = datetime.now(UTC)
    store = TinyDBStore(path)
    wall, cpu = time.perf_counter(), time.process_time()
    pending = store.items("pending")
    cold = {"wall_s": time.perf_counter() - wall, "cpu_s": time.process_time() - cpu}
    warm = []
    for _ in range(20):
        start = time.perf_counter()
        store.items("pending")
        warm.append(time.perf_counter() - start)
    approvals = []
    after = []
    for iid in pending_ids(size, runs, half=1):
        start = time.perf_counter()
        approve(store, iid, now)
        approvals.append(time.perf_counter() - start)
        start = time.perf_counter()
        store.items("pending")  # the queue page right after an approval
        after.append(time.perf_counter() - start)
    return {
        "pending": len(pending),
        "list_cold": cold,
        "list_warm_ms": ms(warm),
        "approve_warm_ms": ms(approvals),
        "list_after_approve_ms": ms(after),
        "peak_mb": peak_mb(),
    }


def phase_backup(path: Path, size: int, runs: int) -> dict[str, Any]:
    """`curator backup` of the filled store, then `curator restore` into an empty one."""
    from curator import backup

    archive = path.parent / f"backup-{size}.tar.gz"
    start = time.perf_counter()
    backup.backup(TinyDBStore(path), archive, now=T0)
    backup_s = time.perf_counter() - start
    target = path.parent / f"restored-{size}"
    start = time.perf_counter()
    backup.restore(TinyDBStore(target), archive)
    restore_s = time.perf_counter() - start
    restored = sum(TinyDBStore(target).counts().values())
    if restored != size:
        raise SystemExit(f"restored {restored} of {size} items")
    result = {
        "backup_s": backup_s,
        "restore_s": restore_s,
        "archive_mb": archive.stat().st_size / 2**20,
    }
    shutil.rmtree(target)
    archive.unlink()
    return result


def child(phase: str, path: Path, size: int, runs: int) -> dict[str, Any]:
    proc = subprocess.run(
        [
            sys.executable,
            __file__,
            "--phase",
            phase,
            "--path",
            str(path),
            "--sizes",
            str(size),
            "--runs",
            str(runs),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode:
        raise SystemExit(f"{phase} at {size} failed:\n{proc.stderr}")
    result: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default="1000,10000,100000")
    parser.add_argument("--runs", type=int, default=50)
    parser.add_argument(
        "--phase", choices=("fill", "cli", "serve", "backup"), help=argparse.SUPPRESS
    )
    parser.add_argument("--path", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    if args.phase:
        phases = {
            "fill": phase_fill,
            "cli": phase_cli,
            "serve": phase_serve,
            "backup": phase_backup,
        }
        fn: Any = phases[args.phase]
        out = (
            fn(args.path, sizes[0]) if args.phase == "fill" else fn(args.path, sizes[0], args.runs)
        )
        print(json.dumps(out))
        return

    print(f"store benchmark: {args.runs} approvals per size, Python {sys.version.split()[0]}")
    header = (
        f"{'items':>7} {'fill s':>7} {'disk MB':>8} | {'approve cli ms':>15} "
        f"{'approve warm ms':>16} | {'pending':>7} {'list cold s':>11} {'list warm ms':>12} "
        f"{'after appr. ms':>14} | {'peak MB cli':>11} {'serve':>6}"
    )
    print(header)
    print("-" * len(header))
    total = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="curator-bench-store-") as tmp:
        for size in sizes:
            path = Path(tmp) / f"store-{size}"
            fill = child("fill", path, size, args.runs)
            cli = child("cli", path, size, args.runs)
            serve = child("serve", path, size, args.runs)
            a, w = cli["approve_cli_ms"], serve["approve_warm_ms"]
            print(
                f"{size:>7} {fill['fill_s']:>7.1f} {fill['disk_mb']:>8.1f} | "
                f"{a['median']:>6.1f} (p90 {a['p90']:>4.0f}) "
                f"{w['median']:>7.1f} (p90 {w['p90']:>4.0f}) | "
                f"{serve['pending']:>7} {serve['list_cold']['wall_s']:>11.2f} "
                f"{serve['list_warm_ms']['median']:>12.2f} "
                f"{serve['list_after_approve_ms']['median']:>14.2f} | "
                f"{cli['peak_mb']:>11.0f} {serve['peak_mb']:>6.0f}",
                flush=True,
            )
            saved = child("backup", path, size, args.runs)
            print(
                f"{'':>7} backup {saved['backup_s']:.2f} s ({saved['archive_mb']:.1f} MB), "
                f"restore into an empty store {saved['restore_s']:.2f} s",
                flush=True,
            )
            shutil.rmtree(path)
    print(
        f"item JSON: about {fill['item_json_bytes']} bytes; "
        f"total {time.perf_counter() - total:.0f} s"
    )
    print(
        "approve cli = fresh Store per approval (curator approve); warm = long-lived Store (serve)"
    )
    print("list cold = first items('pending') in a new process (loads and decodes every shard)")


if __name__ == "__main__":
    main()
