"""One million stored items on PostgreSQL: approve, the editor's queue, /links.json and the
Approved and All items lists.

    python bench/bench_pg.py [--items 1000000] [--pending 3000] [--runs 50] [--url URL]
                             [--ops approve,queue,links,approved,all]

Starts a throw-away cluster (tests/postgres.py's :class:`Cluster`, Debian's server), migrates
a database and bulk-loads ``--items`` items with COPY, each document made by
``curator.store.codecs.ITEM.encode``, as a store looks after five years of polling: most
items rejected, about 6 % approved (their approvals spread over the five years, a few
hundred approved and later rejected), and ``--pending`` recent ones (first seen within the
last week) in the queue.  With ``--url`` (a database URL) it uses that database instead and
keeps it, loading it only when it does not already hold this bench's items, so repeated runs
skip the load.

Then, ``--runs`` times, as an editor works: approve one pending item through
:class:`curator.review.Review` (the web app's code path, the commit and the export refresh
included), render the queue page (``GET /``, signed in, through the Starlette app), and fetch
``/links.json`` (the first request after that change: the render cache is keyed by the store
version, so this renders); then ``/links.json`` again unchanged (the render cache); then the
Approved list's first page (``/approved``, its "why not published" notes made again after
the change) and the All items list's (``/items``, newest article first).  Prints
the median and 95th percentile of each, in milliseconds (the target is a median of 50 ms),
with the median CPU time this process spent (the app and the client run in it: on a shared
machine the steadier figure) and the load average.  ``--ops`` times only some of them
(each round still starts with an approval, untimed when not asked for).  No model is
trained: the queue is in rule order.  Last, the same-story index's full pass (what a poll
does after a change) is timed once on a fresh index.
The approved items are put back in the queue afterwards (untimed), so runs are comparable.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import statistics
import sys
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
from starlette.testclient import TestClient

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from curator import normalize  # noqa: E402
from curator.core import make_curator  # noqa: E402
from curator.store.codecs import ITEM  # noqa: E402
from curator.store.postgres import PostgresStore, migrate  # noqa: E402
from curator.stories import StoryIndex  # noqa: E402
from curator.types import CATEGORIES, Category, Event, Item, Match, Status  # noqa: E402
from curator.web import create_app  # noqa: E402
from tests.postgres import Cluster, _bin  # noqa: E402
from tests.webkit import EDITOR, FAST_HASHER, PASSWORD, add_editor, config, csrf_of  # noqa: E402

NOW = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)  # the bench's clock: results do not drift
YEARS = 5
APPROVED_SHARE = 0.06
FLIPPED_SHARE = 0.0005  # approved, later rejected: they still move the feeds' <updated>
MARKER = "bench.pg"  # meta key: the load this database holds
_WORDS = (
    "police",
    "cctv",
    "camera",
    "cameras",
    "facial",
    "recognition",
    "town",
    "centre",
    "council",
    "surveillance",
    "footage",
    "officers",
    "review",
    "scheme",
    "privacy",
    "data",
    "watchdog",
    "evaluation",
    "study",
    "crime",
    "reduction",
    "network",
    "upgrade",
    "digital",
    "retention",
    "policy",
    "court",
    "evidence",
    "street",
    "lighting",
    "trial",
    "report",
)
_CATEGORY_WEIGHTS = (0.75, 0.18, 0.07)


def _text(rng: random.Random, words: int) -> str:
    return " ".join(rng.choice(_WORDS) for _ in range(words))


def make_item(n: int, status: Status, first_seen: datetime, rng: random.Random) -> Item:
    """Item *n*: a story as a poll stores it, with the history its status implies."""
    url = f"https://news{n % 997}.example.org/{first_seen:%Y/%m}/story-{n}"
    canonical = normalize.canonical_url(url)
    title = f"{_text(rng, 7).capitalize()} ({n})"
    summary = _text(rng, 40).capitalize() + "."
    category: Category = rng.choices(CATEGORIES, _CATEGORY_WEIGHTS)[0]
    history: tuple[Event, ...] = ()
    reviewed_at = None
    if status != "pending":
        reviewed_at = first_seen + timedelta(minutes=rng.randrange(10, 3 * 1440))
        history = (Event(reviewed_at, status, "editor", {"status": ("pending", status)}),)
        if status == "rejected" and rng.random() < FLIPPED_SHARE / (1 - APPROVED_SHARE):
            approved = reviewed_at - timedelta(minutes=5)
            history = (
                Event(approved, "approved", "editor", {"status": ("pending", "approved")}),
                Event(reviewed_at, "rejected", "editor", {"status": ("approved", "rejected")}),
            )
    return Item(
        id=normalize.item_id(canonical),
        url=url,
        canonical_url=canonical,
        title=title,
        summary=f"<p>{summary}</p>",
        summary_text=summary,
        category=category,
        published=first_seen - timedelta(minutes=rng.randrange(0, 2 * 1440)),
        first_seen=first_seen,
        score=float(rng.randrange(1, 12)),
        matched=(Match("cctv", "title", 1, 2.0), Match("police", "summary", 2, 1.0)),
        why="title: cctv · summary: police ×2",
        sources=(f"src-{n % 400}",),
        title_key=normalize.title_key(title),
        status=status,
        reviewed_by=None if status == "pending" else "editor",
        reviewed_at=reviewed_at,
        history=history,
        updated_at=reviewed_at or first_seen,
        publisher_class="news",
        jurisdiction="UK",
    )


def generate(items: int, pending: int, seed: int = 13) -> Iterator[Item]:
    """*items* items, the newest *pending* of them pending."""
    rng = random.Random(seed)
    span = YEARS * 365 * 86400
    for n in range(items):
        if n < pending:
            first_seen = NOW - timedelta(seconds=rng.randrange(7 * 86400))
            status: Status = "pending"
        else:
            first_seen = NOW - timedelta(seconds=rng.randrange(7 * 86400, span))
            status = "approved" if rng.random() < APPROVED_SHARE else "rejected"
        yield make_item(n, status, first_seen, rng)


def load(url: str, items: int, pending: int) -> dict[str, int]:
    """COPY the items into the empty ``items`` table; how many of each status."""
    counts = {"pending": 0, "approved": 0, "rejected": 0}
    with psycopg.connect(url) as conn, conn.cursor() as cur:
        cur.execute("TRUNCATE items")
        with cur.copy(
            "COPY items (id, status, first_seen, reviewed_at, seq, doc) FROM STDIN"
        ) as cp:
            for seq, item in enumerate(generate(items, pending), 1):
                doc = ITEM.encode(item)
                counts[item.status] += 1
                cp.write_row(
                    (
                        item.id,
                        item.status,
                        doc["first_seen"],
                        doc["reviewed_at"],
                        seq,
                        json.dumps(doc, separators=(",", ":")),
                    )
                )
        cur.execute("SELECT setval('items_seq', %s)", (items,))
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE items")
    return counts


class Times:
    """Wall-clock times of one operation, and this process's CPU time for each (the app and
    the client run here; on a shared machine the CPU time is the steadier figure)."""

    def __init__(self) -> None:
        self.wall: list[float] = []
        self.cpu: list[float] = []

    def time(self, fn: Callable[[], Any]) -> None:
        t0, c0 = time.perf_counter(), time.process_time()
        fn()
        self.cpu.append((time.process_time() - c0) * 1000)
        self.wall.append((time.perf_counter() - t0) * 1000)

    def figures(self) -> str:
        ordered = sorted(self.wall)
        p95 = ordered[min(len(ordered) - 1, round(0.95 * len(ordered)) - 1)]
        median = statistics.median(ordered)
        verdict = "ok" if median <= 50 else "OVER the 50 ms target"
        return (
            f"median {median:7.1f} ms  p95 {p95:7.1f} ms  "
            f"(CPU median {statistics.median(self.cpu):5.1f} ms)  {verdict}"
        )


OPS = ("approve", "queue", "links", "approved", "all")


def measure(url: str, runs: int, ops: tuple[str, ...] = OPS) -> None:
    store = PostgresStore(url)
    cfg = config([("src-a", "Source A", "https://a.example/feed.xml")])
    cur = make_curator(cfg, store=store, clock=lambda: NOW)
    counts = store.counts()
    print(
        f"store: {sum(counts.values())} items on PostgreSQL ({counts['pending']} pending, "
        f"{counts['approved']} approved, {counts['rejected']} rejected)"
    )
    queue = sorted(store.items("pending"), key=lambda i: i.id)
    if len(queue) < 2 * runs:
        raise SystemExit(f"only {len(queue)} pending items: rebuild with a larger --pending")
    app = create_app(cur, password_hasher=FAST_HASHER)
    times = {name: Times() for name in ("approve", "queue", "links", "cached", "approved", "all")}
    with TestClient(app, base_url="http://testserver", follow_redirects=False) as client:
        page = client.get("/login")
        r = client.post(
            "/login", data={"csrf": csrf_of(page.text), "name": EDITOR, "password": PASSWORD}
        )
        assert r.status_code == 303, r.text
        if "queue" in ops:  # warm-up: templates, pools, caches
            assert client.get("/").status_code == 200
        if "links" in ops:
            assert client.get("/links.json").status_code == 200
        taken = [i.id for i in queue[:runs]]
        try:
            for item_id in taken:
                # Each round starts with a change (an approval), as an editor's work goes.
                if "approve" in ops:
                    times["approve"].time(lambda i=item_id: cur.review.approve([i], by=EDITOR))
                else:
                    cur.review.approve([item_id], by=EDITOR)
                if "queue" in ops:
                    times["queue"].time(lambda: client.get("/").raise_for_status())
                if "links" in ops:
                    times["links"].time(lambda: client.get("/links.json").raise_for_status())
                    times["cached"].time(lambda: client.get("/links.json").raise_for_status())
                if "approved" in ops:
                    times["approved"].time(lambda: client.get("/approved").raise_for_status())
                if "all" in ops:
                    times["all"].time(lambda: client.get("/items").raise_for_status())
        finally:
            for item_id in taken:  # untimed: the next run finds the same queue
                cur.review.reopen(item_id, by="bench")
    # The same-story index's full pass (each poll after a change), on a fresh index.
    stories = StoryIndex(
        threshold=cfg.stories.threshold, window=timedelta(seconds=cfg.stories.window)
    )
    t0, c0 = time.perf_counter(), time.process_time()
    stories.sync(store, NOW)
    story_s = (time.perf_counter() - t0, time.process_time() - c0)
    window = len(store.items_seen_since(NOW - timedelta(seconds=cfg.stories.window)))
    asyncio.run(cur.aclose())
    store.close()
    labels = {
        "approve": "approve one item       ",
        "queue": "queue page (GET /)     ",
        "links": "/links.json (changed)  ",
        "cached": "/links.json (unchanged)",
        "approved": "Approved list (changed)",
        "all": "All items list         ",
    }
    for name, label in labels.items():
        if times[name].wall:
            print(f"{label} {times[name].figures()}")
    print(
        f"same-story index, full pass: {story_s[0]:.1f} s ({story_s[1]:.1f} s CPU; "
        f"{window} items first seen in its window)"
    )
    load = " ".join(f"{x:.1f}" for x in os.getloadavg())
    print(f"({runs} runs each; load average {load} on {os.cpu_count()} CPUs)")


def prepare(url: str, items: int, pending: int) -> None:
    """Migrate, and load unless the database already holds this load."""
    t0 = time.perf_counter()
    applied = migrate(url)
    if applied:
        print(f"migrated ({', '.join(applied)}) in {time.perf_counter() - t0:.0f} s")
    wanted = {"items": items, "pending": pending, "years": YEARS}
    with psycopg.connect(url) as conn:
        row = conn.execute(
            "SELECT doc FROM docs WHERE tbl = 'meta' AND key = %s", (MARKER,)
        ).fetchone()
    if row is not None and row[0].get("value") == wanted:
        return
    t0 = time.perf_counter()
    counts = load(url, items, pending)
    store = PostgresStore(url)
    with store.transaction():
        if store.get_user(EDITOR) is None:
            add_editor(store)
        store.put_meta(MARKER, wanted)
    store.close()
    print(
        f"loaded {items} items in {time.perf_counter() - t0:.0f} s: {counts['pending']} pending "
        f"(first seen in the last 7 days), {counts['approved']} approved and "
        f"{counts['rejected']} rejected over {YEARS} years"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--items", type=int, default=1_000_000)
    ap.add_argument("--pending", type=int, default=3000)
    ap.add_argument("--runs", type=int, default=50)
    ap.add_argument("--url", help="use this database (kept) instead of a throw-away cluster")
    ap.add_argument(
        "--ops",
        default=",".join(OPS),
        help="which to time, comma-separated (default: all of %(default)s)",
    )
    args = ap.parse_args()
    ops = tuple(o for o in args.ops.split(",") if o)
    if not ops or not set(ops) <= set(OPS):
        raise SystemExit(f"--ops: choose among {', '.join(OPS)}")
    os.environ.setdefault("CURATOR_SECRET_KEY", "bench-" + "k" * 40)
    cluster = None
    url = args.url
    if url is None:
        bindir = _bin()
        if bindir is None:
            raise SystemExit("no PostgreSQL server: install Debian's postgresql, or pass --url")
        cluster = Cluster(bindir)
        with psycopg.connect(cluster.url, autocommit=True) as conn:
            conn.execute("CREATE DATABASE curator_bench")
        url = cluster.url.rpartition("/")[0] + "/curator_bench"
    try:
        prepare(url, args.items, args.pending)
        measure(url, args.runs, ops)
    finally:
        if cluster is not None:
            cluster.stop()


if __name__ == "__main__":
    main()
