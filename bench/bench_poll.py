"""Benchmark the ingest pipeline on a local feed farm, beside lemon24/reader.

    python bench/bench_poll.py [--feeds 500] [--ports 100] [--latency 0.05] [--no-reader]

Prints wall time, CPU time and peak memory for a first poll of every feed and for an
unchanged poll (every feed answers 304), each measured in a fresh process, then the same for
lemon24/reader (installed into bench/.venv-reader on first use, never into the project's
environment) and the ratios.  Not a test: it prints figures.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
import venv
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent


def start_farm(
    feeds: int, ports: int, latency: float
) -> tuple[subprocess.Popen[str], list[str], int]:
    proc = subprocess.Popen(
        [
            sys.executable,
            str(HERE / "farm.py"),
            "--feeds",
            str(feeds),
            "--ports",
            str(ports),
            "--latency",
            str(latency),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    info = json.loads(proc.stdout.readline())
    return proc, info["urls"], info["avg_size"]


def measured(argv: list[str], env: dict[str, str] | None = None) -> dict[str, Any]:
    """Run argv as a child; its own JSON figures plus CPU and peak RSS from the kernel."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t = time.perf_counter()
    done = subprocess.run(argv, capture_output=True, text=True, env=env, check=False)
    wall = time.perf_counter() - t
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        raise SystemExit(f"{argv[:3]} failed:\n{done.stderr[-3000:]}")
    figures = json.loads(done.stdout.strip().splitlines()[-1])
    figures["process_wall"] = wall
    reaped = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    figures["cpu"] = max(reaped, figures.get("process_cpu", 0.0))
    figures["peak_mb"] = after.ru_maxrss / 1024  # largest single process, KiB on Linux
    return figures


# ----------------------------------------------------------------- the measured child: curator


def curator_child(config_path: str, store: str) -> None:
    from curator import config
    from curator.core import make_curator
    from curator.workers import Workers

    cfg = config.load(config_path)
    with Workers() as pool:
        # Not started here: as in `curator fetch`, the pool starts when the first document
        # needs reading, so an unchanged poll runs without it.
        cur = make_curator(cfg, store=store, workers=pool)

        async def go() -> Any:
            try:
                return await cur.poll()
            finally:
                await cur.aclose()

        t = time.perf_counter()
        report = asyncio.run(go())
        wall = time.perf_counter() - t
        # Pool workers are the fork server's children, not ours: the kernel's figures for
        # our children leave them out, so read their CPU time while they still run.
        workers_cpu = sum(_proc_cpu(pid) for pid in _descendants(os.getpid()))
    own = resource.getrusage(resource.RUSAGE_SELF)
    print(
        json.dumps(
            {
                "poll_wall": wall,
                "process_cpu": own.ru_utime + own.ru_stime + workers_cpu,
                "fetched": report.fetched,
                "not_modified": report.not_modified,
                "entries": report.total("entries"),
                "matched": report.total("matched"),
                "new": report.total("new"),
                "errors": report.errors,
            }
        )
    )


def _descendants(root: int) -> list[int]:
    """Every live process below ``root`` (the fork server, its workers, the tracker)."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            parents[int(entry.name)] = int(fields[1])
    found, frontier = [], [root]
    while frontier:
        parent = frontier.pop()
        children = [pid for pid, ppid in parents.items() if ppid == parent]
        found += children
        frontier += children
    return found


def _proc_cpu(pid: int) -> float:
    """User + system CPU seconds of a running process (Linux /proc); 0 if it has ended."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def httpx_floor_child(urls_file: str, concurrency: int) -> None:
    """The same conditional GETs with a bare httpx client and nothing else: what the HTTP
    client alone costs, the floor under an unchanged poll."""
    import httpx

    urls = json.loads(Path(urls_file).read_text())

    async def go() -> float:
        limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=8)
        async with httpx.AsyncClient(limits=limits) as client:
            sem = asyncio.Semaphore(concurrency)

            async def get(url: str, etag: str | None = None) -> httpx.Response:
                async with sem:
                    headers = {"If-None-Match": etag} if etag else {}
                    return await client.get(url, headers=headers)

            first = await asyncio.gather(*(get(u) for u in urls))
            etags = [r.headers.get("etag") for r in first]
            t = time.perf_counter()
            again = await asyncio.gather(*(get(u, e) for u, e in zip(urls, etags, strict=True)))
            wall = time.perf_counter() - t
            assert all(r.status_code == 304 for r in again)
            return wall

    print(json.dumps({"poll_wall": asyncio.run(go())}))


# ----------------------------------------------------------------- the measured child: reader

READER_CHILD = r"""
import json, sys, time
from reader import make_reader
db, urls_file, workers = sys.argv[1], sys.argv[2], int(sys.argv[3])
urls = json.load(open(urls_file))
r = make_reader(db)
for u in urls:
    r.add_feed(u, exist_ok=True)
t = time.perf_counter()
r.update_feeds(workers=workers, scheduled=False)  # every feed, as `curator fetch` does
wall = time.perf_counter() - t
print(json.dumps({"poll_wall": wall, "entries": r.get_entry_counts().total}))
"""


def reader_python() -> Path | None:
    env_dir = HERE / ".venv-reader"
    py = env_dir / "bin" / "python"
    if not py.exists():
        print("installing lemon24/reader into bench/.venv-reader …", file=sys.stderr)
        venv.create(env_dir, with_pip=True)
        done = subprocess.run(
            [str(py), "-m", "pip", "install", "-q", "reader", "sgmllib3k"],
            capture_output=True,
            text=True,
            check=False,
        )
        if done.returncode != 0:
            print(f"could not install reader: {done.stderr[-500:]}", file=sys.stderr)
            return None
    return py


# ----------------------------------------------------------------- driver


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--feeds", type=int, default=500)
    ap.add_argument("--ports", type=int, default=100, help="hosts the farm is spread over")
    ap.add_argument("--latency", type=float, default=0.05)
    ap.add_argument("--no-reader", action="store_true")
    ap.add_argument("--child", nargs=2, metavar=("CONFIG", "STORE"), help=argparse.SUPPRESS)
    ap.add_argument("--httpx-child", metavar="URLS", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        curator_child(*args.child)
        return
    if args.httpx_child:
        httpx_floor_child(args.httpx_child, 100)
        return

    import yaml

    farm, urls, avg = start_farm(args.feeds, args.ports, args.latency)
    rows: dict[str, dict[str, Any]] = {}
    try:
        with tempfile.TemporaryDirectory() as tmp:
            base = yaml.safe_load((ROOT / "feeds.yaml").read_text())
            base["sources"] = [
                {"id": f"farm{i}", "name": f"Farm {i}", "url": u} for i, u in enumerate(urls)
            ]
            base.setdefault("fetch", {}).update({"jitter": 0})
            cfg = Path(tmp) / "farm.yaml"
            cfg.write_text(yaml.safe_dump(base))
            store = str(Path(tmp) / "store")
            child = [sys.executable, str(Path(__file__).resolve()), "--child", str(cfg), store]
            rows["curator first poll"] = measured(child)
            rows["curator unchanged poll"] = measured(child)
            urls_file = Path(tmp) / "urls.json"
            urls_file.write_text(json.dumps(urls))
            rows["bare httpx, the same 304s (floor)"] = measured(
                [sys.executable, str(Path(__file__).resolve()), "--httpx-child", str(urls_file)]
            )
            cli = [
                sys.executable,
                "-m",
                "curator",
                "--config",
                str(cfg),
                "--store",
                str(Path(tmp) / "store-cli"),
                "fetch",
                "--json",
            ]
            t = time.perf_counter()
            subprocess.run(cli, capture_output=True, check=True)
            rows["`curator fetch` first, whole command"] = {"process_wall": time.perf_counter() - t}
            t = time.perf_counter()
            subprocess.run(cli, capture_output=True, check=True)
            rows["`curator fetch` unchanged, whole command"] = {
                "process_wall": time.perf_counter() - t
            }

            py = None if args.no_reader else reader_python()
            if py is not None:
                script = Path(tmp) / "reader_child.py"
                script.write_text(READER_CHILD)
                rdb = str(Path(tmp) / "reader.sqlite")
                rchild = [str(py), str(script), rdb, str(urls_file), "16"]
                rows["reader first poll"] = measured(rchild)
                rows["reader unchanged poll"] = measured(rchild)
    finally:
        farm.terminate()
        farm.wait()

    print(
        f"\nfarm: {args.feeds} feeds x 50 entries, ~{avg // 1024} KB each, over {args.ports} "
        f"ports, {args.latency * 1000:.0f} ms latency; {os.cpu_count()} cores\n"
    )
    print(f"{'run':<42}{'poll wall':>10}{'process':>10}{'CPU':>9}{'peak MB':>9}")
    for name, f in rows.items():
        pw = f"{f['poll_wall']:.2f}s" if "poll_wall" in f else "-"
        cpu = f"{f['cpu']:.2f}s" if "cpu" in f else "-"
        mem = f"{f['peak_mb']:.0f}" if "peak_mb" in f else "-"
        print(f"{name:<42}{pw:>10}{f['process_wall']:>9.2f}s{cpu:>9}{mem:>9}")
    first = rows["curator first poll"]
    print(
        f"\ncurator first poll: {first['entries']} entries, {first['matched']} matched, "
        f"{first['new']} new, {first['errors']} errors"
    )
    for kind in ("first", "unchanged"):
        r = rows.get(f"reader {kind} poll")
        if r:
            c = rows[f"curator {kind} poll"]
            print(f"reader/curator wall ratio, {kind} poll: {r['poll_wall'] / c['poll_wall']:.1f}x")
    print("targets: first poll <= 5 s wall, unchanged <= 0.6 s, peak memory <= 200 MB")


if __name__ == "__main__":
    main()
