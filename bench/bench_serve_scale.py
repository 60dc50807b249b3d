"""`curator serve` on the embedded store at 100,000 items: start-up time and resident memory.

    python bench/bench_serve_scale.py [--items 100000] [--shape web|store] [--runs 20]
                                      [--store DIR]

Builds a store of ``--items`` items in a temporary directory, or in ``--store DIR``, which
is filled once and reused by later runs.  ``--shape web`` (the default) makes the store
``bench/bench_web.py`` measures the web app on (its items: 1,000 pending, the rest approved
or rejected, one an hour back from 2025-03-10); ``--shape store`` makes
``bench/bench_store.py``'s larger items (about 1.1 KB of JSON each: longer summaries, two
rule matches, a history event; 10 % pending), first seen one a minute up to an hour ago.
Then starts a real ``curator serve`` subprocess on a free local port and prints:

* the time from starting the process until ``/healthz`` answers;
* its resident memory (VmRSS, and the peak VmHWM, from ``/proc/<pid>/status``) when it first
  answers, and again once it has settled (no change for 2 s: work started in the background
  at start-up is done);
* the first and the median time of the queue page (``/``, signed in), of the Approved list,
  of ``/links.json`` and of the Approved list filtered by words (``?q=``: it reads every
  approved item; median of at most 5), and the memory after loading them (the peak then includes the
  sign-in: the editor's cheap test hash is re-hashed with Argon2id's 64 MB).

Figures only: nothing here asserts a time (issue 13's targets are 150 MB and 1 s).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench import bench_web  # noqa: E402
from bench.bench_store import FILL_BATCH, make_item  # noqa: E402
from curator.store import TinyDBStore  # noqa: E402
from tests.webkit import EDITOR, PASSWORD, add_editor, csrf_of  # noqa: E402

# One source that is never reached (its poll fails at once), no digest, and a learned
# ranking that never has enough decisions: what is measured is the store's share of serve
# (a model's is bench_model.py's subject).
CONFIG = (
    "sources:\n  - {id: a, name: A, url: 'http://127.0.0.1:9/feed', interval: 1d}\n"
    "digest: {enabled: false}\n"
    "rank: {min_examples: 1000000, min_each: 500000}\n"
)


def build(path: Path, size: int, shape: str) -> None:
    """Fill *path* with *size* items and one editor, unless a run before did."""
    if shape == "web":
        asyncio.run(bench_web.build_store(path, size, min(1000, size)).aclose())
        return
    marker = path / f".bench-serve-{size}"
    if marker.exists():
        return
    start = time.perf_counter()
    store = TinyDBStore(path)
    rng = random.Random(size)
    # Items first seen one per minute up to an hour ago, so the newest are in the public lists.
    t0 = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=size + 60)
    for low in range(0, size, FILL_BATCH):
        with store.transaction():
            for n in range(low, min(size, low + FILL_BATCH)):
                store.put_item(make_item(n, rng, t0=t0))
    add_editor(store)
    marker.touch()
    print(f"built {size} items in {time.perf_counter() - start:.0f} s at {path}", flush=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def memory(pid: int) -> dict[str, float]:
    """VmRSS and VmHWM of *pid* in MB."""
    out: dict[str, float] = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            out[key] = int(value.split()[0]) / 1024
    return out


def settle(pid: int, quiet: float = 2.0, limit: float = 60.0) -> tuple[dict[str, float], float]:
    """Wait until the process's VmRSS has not changed for *quiet* seconds (at most *limit*);
    its memory then, and how long that took."""
    start = time.perf_counter()
    last = memory(pid)
    since = time.perf_counter()
    while time.perf_counter() - start < limit:
        time.sleep(0.1)
        now = memory(pid)
        if abs(now["VmRSS"] - last["VmRSS"]) > 0.5:
            last, since = now, time.perf_counter()
        elif time.perf_counter() - since >= quiet:
            break
    return last, since - start


def timed(fn: Callable[[], httpx.Response], runs: int) -> tuple[float, float]:
    """The first call's time and the median of *runs* more, in ms."""
    times = []
    for _ in range(runs + 1):
        start = time.perf_counter()
        fn().raise_for_status()
        times.append((time.perf_counter() - start) * 1000)
    return times[0], statistics.median(times[1:])


def fmt(mem: dict[str, float]) -> str:
    return f"VmRSS {mem['VmRSS']:6.1f} MB  VmHWM {mem['VmHWM']:6.1f} MB"


def run(store: Path, runs: int) -> None:
    cfg = store.parent / "feeds.yaml"
    cfg.write_text(CONFIG)
    port = free_port()
    env = {**os.environ, "CURATOR_SECRET_KEY": "bench-" + "k" * 40}
    command = [sys.executable, "-m", "curator", "--config", str(cfg), "--store", str(store)]
    start = time.perf_counter()
    proc = subprocess.Popen(
        [*command, "serve", "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=env,
        cwd=store.parent,  # not this checkout: PYTHONPATH=... picks the code to measure
    )
    base = f"http://127.0.0.1:{port}"
    try:
        with httpx.Client(base_url=base, timeout=60) as client:
            while True:
                if proc.poll() is not None:
                    raise SystemExit(f"curator serve ended with code {proc.returncode}")
                try:
                    if client.get("/healthz").status_code == 200:
                        break
                except httpx.TransportError:
                    time.sleep(0.01)
            ready = time.perf_counter() - start
            at_start = memory(proc.pid)
            settled, took = settle(proc.pid)
            print(f"start until /healthz answers   {ready:6.2f} s")
            print(f"memory when it first answers   {fmt(at_start)}")
            print(f"memory settled ({took:4.1f} s later)  {fmt(settled)}")

            page = client.get("/login")
            signed = client.post(
                "/login", data={"csrf": csrf_of(page.text), "name": EDITOR, "password": PASSWORD}
            )
            if signed.status_code != 303:
                raise SystemExit(f"cannot sign in: HTTP {signed.status_code}")
            rows = [
                ("queue page /", lambda: client.get("/"), runs),
                ("Approved list", lambda: client.get("/approved"), runs),
                ("/links.json", lambda: client.get("/links.json"), runs),
                # Filtered by words: every approved item is read (fewer runs: seconds each).
                ("Approved ?q=", lambda: client.get("/approved?q=town+42"), min(runs, 5)),
            ]
            for name, fn, n in rows:
                first, median = timed(fn, n)
                print(
                    f"{name:14s} first {first:7.1f} ms  median {median:6.1f} ms  "
                    f"then {fmt(memory(proc.pid))}"
                )
    finally:
        proc.terminate()
        proc.wait(timeout=60)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--items", type=int, default=100_000)
    ap.add_argument("--shape", choices=("web", "store"), default="web", help="which items")
    ap.add_argument("--runs", type=int, default=20, help="timed requests per page after the first")
    ap.add_argument("--store", type=Path, help="build the store here once and reuse it")
    args = ap.parse_args()
    print(
        f"curator serve at {args.items} items ({args.shape} shape), "
        f"Python {sys.version.split()[0]}",
        flush=True,
    )
    if args.store:
        build(args.store, args.items, args.shape)
        run(args.store, args.runs)
        return
    with tempfile.TemporaryDirectory(prefix="curator-bench-serve-") as tmp:
        store = Path(tmp) / "store"
        build(store, args.items, args.shape)
        run(store, args.runs)


if __name__ == "__main__":
    main()
