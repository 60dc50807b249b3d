"""Whole commands as a user or cron runs them, on the local feed farm (bench/farm.py).

    python bench/bench_cli.py [--feeds 500] [--ports 100] [--latency 0.05] [--repeat 5]
                              [--first 1] [--keep DIR [--read-only]]

Each command is a fresh process of the installed ``curator`` script (``python -m curator``
when there is none), timed from start to exit: interpreter start-up, imports, reading
feeds.yaml, opening the store, the work, the worker processes' start and end.  ``fetch``
first polls every feed into an empty store (``--first`` times, a fresh store each), then
polls them again unchanged (every feed answers 304); the read-only commands then run on that
store.  ``--keep DIR`` keeps the config and the filled store in DIR (made on the first run);
with ``--read-only`` a later run times only the read-only commands on that store, without
starting the farm, to iterate on them quickly.  Prints the median and fastest wall time and
the median CPU time (user + system of the command's process and the children it waited for:
the pool's workers are the fork server's children, not counted), and the load average.
Not a test: it prints figures.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))

from bench_poll import start_farm  # noqa: E402


def curator_command() -> list[str]:
    """The console script next to this interpreter (what cron runs), else ``-m curator``."""
    script = Path(sys.executable).parent / "curator"
    return [str(script)] if script.exists() else [sys.executable, "-m", "curator"]


def timed(argv: list[str], cwd: Path) -> tuple[float, float]:
    """Wall and CPU seconds of one run of ``argv``; exits with its stderr if it fails."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t = time.perf_counter()
    done = subprocess.run(
        argv, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, check=False
    )
    wall = time.perf_counter() - t
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} exited {done.returncode}:\n{done.stderr[-3000:]}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu


def write_config(tmp: Path, urls: list[str], *, backups: bool = True) -> Path:
    """The bundled feeds.yaml with the farm's feeds as its sources (no jitter; no daily
    backups unless *backups*)."""
    import yaml

    base = yaml.safe_load((ROOT / "feeds.yaml").read_text())
    base["sources"] = [
        {"id": f"farm{i}", "name": f"Farm {i}", "url": u} for i, u in enumerate(urls)
    ]
    base.setdefault("fetch", {}).update({"jitter": 0})
    if not backups:
        base.setdefault("store", {}).update({"backups": 0})
    path = tmp / "feeds.yaml"
    path.write_text(yaml.safe_dump(base))
    return path


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--feeds", type=int, default=500)
    ap.add_argument("--ports", type=int, default=100, help="hosts the farm is spread over")
    ap.add_argument("--latency", type=float, default=0.05)
    ap.add_argument("--repeat", type=int, default=5, help="runs of each command but the first poll")
    ap.add_argument("--first", type=int, default=1, help="first polls, each into an empty store")
    ap.add_argument("--keep", type=Path, metavar="DIR", help="keep the config and the store in DIR")
    ap.add_argument(
        "--read-only",
        action="store_true",
        help="with --keep DIR holding a filled store: time only the read-only commands",
    )
    args = ap.parse_args()
    if args.read_only and not (args.keep and (args.keep / "store").is_dir()):
        raise SystemExit("--read-only needs --keep DIR with a store a previous run filled")

    curator = curator_command()
    runs: dict[str, list[tuple[float, float]]] = {}
    with contextlib.ExitStack() as stack:
        if args.keep:
            tmp = args.keep.absolute()
            tmp.mkdir(parents=True, exist_ok=True)
        else:
            tmp = Path(stack.enter_context(tempfile.TemporaryDirectory()))
        cfg, store = tmp / "feeds.yaml", tmp / "store"

        def cmd(*words: str) -> list[str]:
            return [*curator, "--config", str(cfg), "--store", str(store), *words]

        if args.read_only:
            header = f"kept store {store}; {os.cpu_count()} cores"
        else:
            farm, urls, avg = start_farm(args.feeds, args.ports, args.latency)
            stack.callback(farm.wait)
            stack.callback(farm.terminate)
            write_config(tmp, urls)
            first = runs.setdefault("curator fetch (first poll)", [])
            for _ in range(max(1, args.first)):
                shutil.rmtree(store, ignore_errors=True)
                first.append(timed(cmd("fetch", "--json"), tmp))
            runs["curator fetch (unchanged)"] = [
                timed(cmd("fetch", "--json"), tmp) for _ in range(max(1, args.repeat))
            ]
            header = (
                f"farm: {args.feeds} feeds x 50 entries, ~{avg // 1024} KB each, over "
                f"{args.ports} ports, {args.latency * 1000:.0f} ms latency; {os.cpu_count()} cores"
            )
        for label, argv in (
            ("curator items", cmd("items")),
            ("curator items --json", cmd("items", "--json")),
            ("curator sources", cmd("sources")),
            ("curator --help", [*curator, "--help"]),
        ):
            runs[label] = [timed(argv, tmp) for _ in range(max(1, args.repeat))]

    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    print(f"{header}; {' '.join(Path(c).name for c in curator)}; load average {load}\n")
    print(f"{'command':<30}{'runs':>5}{'median':>9}{'fastest':>9}{'CPU':>8}")
    for label, rows in runs.items():
        walls = [w for w, _ in rows]
        cpu = statistics.median(c for _, c in rows)
        print(
            f"{label:<30}{len(rows):>5}{statistics.median(walls):>8.2f}s"
            f"{min(walls):>8.2f}s{cpu:>7.2f}s"
        )


if __name__ == "__main__":
    main()
