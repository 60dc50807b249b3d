"""Web app benchmark: the editor's queue and one approval on a big store, and the public pages
under a bounded local load.

    python bench/bench_web.py [--items 100000] [--pending 1000] [--runs 30]
                              [--clients 8] [--seconds 5] [--requests 20000]

A store of ``--items`` items (``--pending`` of them pending, the rest approved or rejected) is
built once under ``bench/out/`` and reused.  The app runs on a real uvicorn server in a child
process on 127.0.0.1 (so the load loop's threads do not share its GIL); requests go over HTTP
with httpx.  Reports the median (and 90th percentile) time
to render the queue and to approve one item (target: 100 ms each), and requests per second for
/links.json and /embed with ``--clients`` threads for at most ``--seconds`` seconds or
``--requests`` requests, whichever comes first.  Results also go to bench/out/bench_web.json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import re
import socket
import statistics
import sys
import threading
import time
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import httpx
import uvicorn

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from curator.config import Config  # noqa: E402
from curator.core import Curator  # noqa: E402
from curator.types import Status  # noqa: E402
from curator.web import create_app  # noqa: E402
from tests.webkit import (  # noqa: E402
    EDITOR,
    FAST_HASHER,
    PASSWORD,
    add_editor,
    config,
    csrf_of,
    curator_on,
    make_item,
)

OUT = ROOT / "bench" / "out"


def _config() -> Config:
    return config([("src-a", "Source A", "https://a.example/feed.xml")])


def build_store(path: Path, items: int, pending: int) -> Curator:
    marker = path / f".bench-{items}-{pending}"
    cur = curator_on(path, _config())
    if marker.exists():
        return cur
    t0 = time.perf_counter()
    store = cur.store
    batch = 5000
    for start in range(0, items, batch):
        with store.transaction():
            for n in range(start, min(start + batch, items)):
                status: Status = "pending" if n < pending else ("approved" if n % 3 else "rejected")
                store.put_item(
                    make_item(
                        n,
                        score=float(n % 17),
                        status=status,
                        title=f"Police CCTV item {n}: cameras in town {n % 97}",
                    )
                )
    if store.get_user(EDITOR) is None:
        add_editor(store)
    marker.touch()
    print(f"built {items} items in {time.perf_counter() - t0:.1f} s at {path}")
    return cur


def _serve(store_path: str, conn: Connection) -> None:
    """The server process: its own interpreter, so the load loop does not share its GIL."""
    cur = curator_on(Path(store_path), _config())
    app = create_app(cur, password_hasher=FAST_HASHER)
    # IPPROTO_TCP: asyncio sets TCP_NODELAY only on sockets that say so; with proto 0 every
    # keep-alive response waits ~40 ms for the client's delayed ACK (Nagle).
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.bind(("127.0.0.1", 0))
    sock.listen(256)
    conn.send(sock.getsockname()[1])
    conn.close()
    uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off", access_log=False)).run(
        sockets=[sock]
    )


class Server:
    """uvicorn in a child process on 127.0.0.1; SIGTERM stops it gracefully."""

    def __init__(self, store_path: Path) -> None:
        ctx = multiprocessing.get_context("spawn")
        parent, child = ctx.Pipe()
        self.process = ctx.Process(target=_serve, args=(str(store_path), child), daemon=True)
        self.process.start()
        if not parent.poll(60):
            raise RuntimeError("the server process did not start")
        self.url = f"http://127.0.0.1:{parent.recv()}"

    def close(self) -> None:
        self.process.terminate()
        self.process.join(timeout=30)


def timed(fn: Any, runs: int) -> dict[str, float]:
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1000)
    times.sort()
    return {
        "median_ms": round(statistics.median(times), 1),
        "p90_ms": round(times[int(len(times) * 0.9) - 1], 1),
        "min_ms": round(times[0], 1),
        "runs": runs,
    }


def load(url: str, clients: int, seconds: float, max_requests: int) -> dict[str, float]:
    """Bounded: stops at ``seconds`` or ``max_requests``, whichever comes first."""
    count = 0
    errors = 0
    lock = threading.Lock()
    deadline = time.perf_counter() + seconds

    def worker() -> None:
        nonlocal count, errors
        with httpx.Client(timeout=10) as client:
            while time.perf_counter() < deadline:
                with lock:
                    if count + errors >= max_requests:
                        return
                r = client.get(url)
                with lock:
                    if r.status_code == 200:
                        count += 1
                    else:
                        errors += 1

    t0 = time.perf_counter()
    threads = [threading.Thread(target=worker) for _ in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - t0
    return {
        "requests": count,
        "errors": errors,
        "seconds": round(elapsed, 2),
        "rps": round(count / elapsed, 1),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--items", type=int, default=100_000)
    ap.add_argument("--pending", type=int, default=1_000)
    ap.add_argument("--runs", type=int, default=30)
    ap.add_argument("--clients", type=int, default=8)
    ap.add_argument("--seconds", type=float, default=5.0)
    ap.add_argument("--requests", type=int, default=20_000)
    args = ap.parse_args()
    os.environ.setdefault("CURATOR_SECRET_KEY", "bench-" + "k" * 40)

    OUT.mkdir(parents=True, exist_ok=True)
    store_path = OUT / f"web-store-{args.items}"
    cur = build_store(store_path, args.items, args.pending)
    pending_ids = [i.id for i in cur.store.items("pending")]
    assert len(pending_ids) >= args.runs, "not enough pending items left: delete the bench store"
    server = Server(store_path)
    results: dict[str, Any] = {"items": args.items, "pending": len(pending_ids)}
    try:
        with httpx.Client(base_url=server.url, timeout=30) as client:
            page = client.get("/login")
            r = client.post(
                "/login",
                data={"csrf": csrf_of(page.text), "name": EDITOR, "password": PASSWORD},
            )
            assert r.status_code == 303, r.text
            first = client.get("/")
            assert first.status_code == 200 and re.search(r'class="item ', first.text)
            token = csrf_of(first.text)

            results["queue"] = timed(lambda: client.get("/").raise_for_status(), args.runs)
            results["approved_list"] = timed(
                lambda: client.get("/approved").raise_for_status(), max(5, args.runs // 3)
            )
            ids = iter(pending_ids)

            def approve() -> None:
                r = client.post(f"/items/{next(ids)}/approve", data={"csrf": token})
                assert r.status_code == 303, r.status_code

            results["approve"] = timed(approve, args.runs)
            # Put them back so the next run finds the same queue.
            for item_id in pending_ids[: args.runs]:
                cur.review.reopen(item_id, by="bench")

        for path in ("/links.json", "/embed"):
            results[path] = load(server.url + path, args.clients, args.seconds, args.requests)
    finally:
        server.close()
        asyncio.run(cur.aclose())

    print(f"store: {results['items']} items, {results['pending']} pending")
    for name in ("queue", "approved_list", "approve"):
        r = results[name]
        verdict = "ok" if r["median_ms"] <= 100 else "OVER the 100 ms target"
        print(f"{name:14s} median {r['median_ms']:7.1f} ms  p90 {r['p90_ms']:7.1f} ms  ({verdict})")
    for path in ("/links.json", "/embed"):
        r = results[path]
        print(
            f"{path:14s} {r['rps']:8.1f} req/s  ({r['requests']} in {r['seconds']} s, "
            f"{r['errors']} errors, {args.clients} clients)"
        )
    (OUT / "bench_web.json").write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
