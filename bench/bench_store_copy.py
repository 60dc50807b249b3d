"""`curator store copy` benchmark: a TinyDB store of 10k and 100k items copied into an empty
directory, timed and its peak memory taken.

    python bench/bench_store_copy.py [--sizes 10000,100000]

Each store is filled in a child process (bench_store's realistic 1.1 KB items, plus 5,000
kept entries), then copied in a fresh one through :func:`curator.store.copy.copy`, which
reports the copy (every table dumped from the source and loaded into the target's one
transaction, committed) and the verification (both sides read again, counted and
checksummed) separately; then the whole command (`curator store copy`, a new process, wall
clock) copies it again into another directory.  Peak memory is the copying process's
ru_maxrss.  On a shared machine the wall clock follows the other load; the CPU time less so.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.bench_store import T0, phase_fill  # noqa: E402
from curator.store import TinyDBStore  # noqa: E402
from curator.types import SeenEntry  # noqa: E402

SEEN = 5000


def phase_seen(path: Path) -> None:
    rng = random.Random(7)
    store = TinyDBStore(path)
    entries = [
        SeenEntry(
            id=f"{rng.getrandbits(64):016x}",
            source_id="google-news",
            title=f"Entry {n} about cameras",
            url=f"https://news.example.org/e/{n}",
            canonical_url=f"https://news.example.org/e/{n}",
            summary="A council debates its camera network. " * 3,
            published=T0 + timedelta(minutes=n),
            seen_at=T0 + timedelta(minutes=8 * n),
            outcome="dropped",
            score=0.5,
            matched=(),
            why="",
        )
        for n in range(SEEN)
    ]
    with store.transaction():
        store.keep_seen(entries)
        store.put_meta("last_digest_end", T0.isoformat())
    store.session_key()


def phase_copy(src: Path, dst: Path) -> dict[str, Any]:
    from curator.store.copy import checksums, copy

    start, cpu = time.perf_counter(), time.process_time()
    report = copy(TinyDBStore(src), TinyDBStore(dst))
    end, cpu = time.perf_counter(), time.process_time() - cpu
    assert report.ok, report.mismatched
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    again = time.perf_counter()
    checksums(TinyDBStore(dst))  # what the verification costs for one side
    return {
        "entries": sum(t.source_count for t in report.tables),
        "copy_and_verify_s": end - start,
        "copy_and_verify_cpu_s": cpu,
        "one_side_checksums_s": time.perf_counter() - again,
        "peak_mb": peak,
    }


def child(phase: str, *args: str) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, __file__, "--phase", phase, *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=True,
    )
    return dict(json.loads(done.stdout.splitlines()[-1]))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", default="10000,100000")
    parser.add_argument("--phase")
    parser.add_argument("paths", nargs="*")
    args = parser.parse_args()
    if args.phase == "fill":
        out = phase_fill(Path(args.paths[0]), int(args.paths[1]))
        phase_seen(Path(args.paths[0]))
        print(json.dumps(out))
        return
    if args.phase == "copy":
        print(json.dumps(phase_copy(Path(args.paths[0]), Path(args.paths[1]))))
        return
    for size in (int(s) for s in args.sizes.split(",")):
        with tempfile.TemporaryDirectory() as tmp:
            src = Path(tmp) / "src"
            filled = child("fill", str(src), str(size))
            copied = child("copy", str(src), str(Path(tmp) / "lib"))
            start = time.perf_counter()
            subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "curator",
                    "store",
                    "copy",
                    "--from",
                    str(src),
                    "--to",
                    str(Path(tmp) / "cli"),
                ],
                check=True,
                capture_output=True,
                cwd=tmp,
                env={**os.environ, "PYTHONPATH": str(ROOT)},
            )
            command = time.perf_counter() - start
            cli_peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
            shutil.rmtree(src)
        print(
            f"{size:>7} items, {copied['entries']} entries ({filled['disk_mb']:.0f} MB): "
            f"copy + verify {copied['copy_and_verify_s']:.1f} s wall, "
            f"{copied['copy_and_verify_cpu_s']:.1f} s CPU (checksums of one side "
            f"{copied['one_side_checksums_s']:.1f} s), peak {copied['peak_mb']:.0f} MB; "
            f"`curator store copy` whole command {command:.1f} s "
            f"(largest child so far {cli_peak:.0f} MB)"
        )


if __name__ == "__main__":
    main()
