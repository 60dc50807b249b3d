"""Several instances on one PostgreSQL database against one on TinyDB, on the local feed farm.

    python bench/bench_instances.py [--feeds 10000] [--ports 100] [--latency 0.05]
                                    [--takeovers 5] [--setups tinydb,pg2,pg1]

For each setup, a first poll of every feed and then an unchanged poll (every feed answers
304), wall and CPU:

* **TinyDB, one instance**: one process runs the scheduler's poll jobs for every source.
* **PostgreSQL, two instances**: two processes on one database run the same jobs at once;
  the polls firing together are gathered (:mod:`curator.polls`) and claim their sources a
  chunk at a time (``Store.claim``: ``FOR UPDATE SKIP LOCKED``), so the sources are spread
  over the two as each has room and none is polled twice.
* **PostgreSQL, one instance**: the same with one process (``--setups`` picks which run).

The measured processes run what the scheduler runs when every source is due
(:func:`curator.schedule.poll_if_due` for each, concurrently, with the worker pool), without
the web app; the unchanged round runs a day later by the processes' clock (every source due
again, the feeds unchanged).  Then the takeover: two ``curator serve`` instances, the one
running the scheduler killed with SIGKILL, and the time until the other says it took over.
A throw-away cluster (tests/postgres.py) holds the database.  Prints figures; not a test.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))

from bench.bench_cli import write_config  # noqa: E402
from bench.bench_poll import _descendants, _proc_cpu, start_farm  # noqa: E402
from tests.test_serve import Log  # noqa: E402


def child(config_path: str, store: str, offset_days: str) -> None:
    """One instance's polling of every due source, as the scheduler starts it."""
    from curator import config, schedule
    from curator.core import make_curator, utc_now
    from curator.workers import Workers

    offset = timedelta(days=float(offset_days))
    cfg = config.load(config_path)
    with Workers() as pool:
        pool.start()
        cur = make_curator(cfg, store=store, workers=pool, clock=lambda: utc_now() + offset)
        ids = [s.id for s in cfg.sources if s.enabled]
        print("ready", flush=True)
        sys.stdin.readline()  # both instances start together

        async def go() -> None:
            try:
                await asyncio.gather(*(schedule.poll_if_due(cur, sid) for sid in ids))
            finally:
                await cur.aclose()

        began = cur.clock()
        t = time.perf_counter()
        asyncio.run(go())
        wall = time.perf_counter() - t
        workers_cpu = sum(_proc_cpu(pid) for pid in _descendants(os.getpid()))
    own = resource.getrusage(resource.RUSAGE_SELF)
    # Every source must have been polled in this round (by this instance or the other): a
    # round that lost some (a group stopped by store trouble) would look faster than it is.
    states = cur.store.states()
    polled = sum(1 for s in states.values() if s.last_fetch and s.last_fetch >= began)
    print(
        json.dumps(
            {"wall": wall, "cpu": own.ru_utime + own.ru_stime + workers_cpu, "polled": polled}
        )
    )


def run_round(config: Path, store: str, instances: int, offset_days: float) -> dict[str, Any]:
    print(
        f"... {instances} instance(s) on {store.split('/')[-1]}, day +{offset_days:g}",
        file=sys.stderr,
    )
    procs = [
        subprocess.Popen(
            [
                sys.executable,
                str(Path(__file__).resolve()),
                "--child",
                str(config),
                store,
                str(offset_days),
            ],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(instances)
    ]
    for p in procs:
        assert p.stdout is not None
        line = p.stdout.readline().strip()
        if line != "ready":
            raise SystemExit(
                f"instance did not start: {line}\n{p.stderr.read() if p.stderr else ''}"
            )
    t = time.perf_counter()
    for p in procs:
        assert p.stdin is not None
        p.stdin.write("go\n")
        p.stdin.flush()
    outs = [p.communicate()[0] for p in procs]
    wall = time.perf_counter() - t
    figures = [json.loads(o.strip().splitlines()[-1]) for o in outs]
    polled = max(f["polled"] for f in figures)  # each counts every instance's polls
    return {"wall": wall, "cpu": sum(f["cpu"] for f in figures), "polled": polled}


def polled_per_instance(url: str) -> list[int]:
    import psycopg

    with psycopg.connect(url) as conn:
        rows = conn.execute("SELECT holder, count(*) FROM claims GROUP BY holder").fetchall()
    return sorted((int(n) for _, n in rows), reverse=True)


def takeover(config: Path, url: str, rounds: int) -> list[float]:
    """Seconds from SIGKILL of the scheduler's holder to another instance taking it."""
    env = {**os.environ, "CURATOR_DATABASE_URL": url}
    times: list[float] = []
    for n in range(rounds):
        print(f"... takeover {n + 1} of {rounds}", file=sys.stderr)
        procs = [
            subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "curator",
                    "--config",
                    str(config),
                    "serve",
                    "--port",
                    "0",
                    "--watch-interval",
                    "0",
                ],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
                text=True,
                env=env,
            )
            for _ in range(2)
        ]
        try:
            logs = [Log(p) for p in procs]
            said = [log.wait(r"this instance runs the scheduler|standing by") for log in logs]
            leader = next(k for k, line in enumerate(said) if "this instance runs" in line)
            t = time.perf_counter()
            os.kill(procs[leader].pid, signal.SIGKILL)
            logs[1 - leader].wait(r"this instance runs the scheduler", timeout=60)
            times.append(time.perf_counter() - t)
        finally:
            for p in procs:
                p.kill()
                p.wait()
    return times


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--feeds", type=int, default=10_000)
    ap.add_argument("--ports", type=int, default=100)
    ap.add_argument("--latency", type=float, default=0.05)
    ap.add_argument("--takeovers", type=int, default=5)
    ap.add_argument(
        "--setups",
        default="tinydb,pg2,pg1",
        help="which to run, comma-separated: tinydb (one instance), pg2 and pg1 (two or one "
        "instances on PostgreSQL); default all",
    )
    ap.add_argument("--child", nargs=3, metavar=("CONFIG", "STORE", "DAYS"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child(*args.child)
        return
    setups = set(args.setups.split(","))
    if not setups or not setups <= {"tinydb", "pg2", "pg1"}:
        raise SystemExit("--setups: choose among tinydb, pg2, pg1")

    from tests import postgres

    bindir = postgres._bin()
    if bindir is None:
        raise SystemExit("needs Debian's postgresql (apt-get install postgresql)")
    cluster = postgres.Cluster(bindir)
    farm, urls, avg = start_farm(args.feeds, args.ports, args.latency)
    rows: dict[str, dict[str, Any]] = {}
    try:
        databases = postgres.Databases(cluster.url)
        with tempfile.TemporaryDirectory() as tmp:
            cfg = write_config(Path(tmp), urls, backups=False)
            split: list[int] = []
            if "tinydb" in setups:
                tiny = str(Path(tmp) / "store")
                rows["TinyDB, 1 instance: first poll"] = run_round(cfg, tiny, 1, 0)
                rows["TinyDB, 1 instance: unchanged poll"] = run_round(cfg, tiny, 1, 1)
            if "pg2" in setups:
                url = databases.fresh()
                rows["PostgreSQL, 2 instances: first poll"] = run_round(cfg, url, 2, 0)
                split = polled_per_instance(url)
                rows["PostgreSQL, 2 instances: unchanged poll"] = run_round(cfg, url, 2, 1)
            if "pg1" in setups:
                one = databases.fresh()
                rows["PostgreSQL, 1 instance: first poll"] = run_round(cfg, one, 1, 0)
                rows["PostgreSQL, 1 instance: unchanged poll"] = run_round(cfg, one, 1, 1)
            quiet = Path(tmp) / "quiet.yaml"
            quiet.write_text("sources: []\ndigest: {enabled: false}\nstore: {backups: 0}\n")
            times = takeover(quiet, databases.fresh(), args.takeovers)
        databases.drop_all()
    finally:
        farm.terminate()
        farm.wait()
        cluster.stop()

    print(
        f"\nfarm: {args.feeds} feeds x 50 entries, ~{avg // 1024} KB each, over {args.ports} "
        f"ports, {args.latency * 1000:.0f} ms latency; {os.cpu_count()} cores\n"
    )
    print(f"{'run':<44}{'wall':>9}{'CPU':>9}{'polled':>9}")
    for name, f in rows.items():
        print(f"{name:<44}{f['wall']:>8.1f}s{f['cpu']:>8.1f}s{f['polled']:>9}")
    short = [name for name, f in rows.items() if f["polled"] < args.feeds]
    if short:
        print(f"\nNOT every source was polled in: {', '.join(short)} (see the instances' logs)")
    if split:
        print(f"\nsources polled by each of the two instances (first poll): {split}")
    if times:
        print(
            f"scheduler takeover after SIGKILL of its holder, {len(times)} runs: median "
            f"{statistics.median(times):.2f} s, slowest {max(times):.2f} s"
        )


if __name__ == "__main__":
    main()
