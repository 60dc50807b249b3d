"""Cost of research metadata: reading landing pages, and an enrichment run against a local
server (landing pages and a fake Crossref), first and again from the cache.

    python bench/bench_research.py [--items 50]

Prints milliseconds per page for the metadata readers (the crafted scholarly pages in
tests/data/research/, the shared corpus's news pages, and a 2 MB page with its tags in the
head), then the wall time and requests of one enrichment run over ``--items`` new research
items and of a second run (which should make no request).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from curator import config, enrich  # noqa: E402
from curator.parse.scholarly import landing_page_meta  # noqa: E402
from curator.store import TinyDBStore  # noqa: E402
from curator.types import Event, Item  # noqa: E402
from tests.feedserver import CORPUS, FeedServer  # noqa: E402

DATA = ROOT / "tests" / "data" / "research"


def per_page(pages: list[bytes], rounds: int = 5) -> float:
    t = time.perf_counter()
    for _ in range(rounds):
        for page in pages:
            landing_page_meta(page, url="https://journal.example.org/a", headers={})
    return (time.perf_counter() - t) * 1000 / (rounds * len(pages))


def readers() -> None:
    crafted = [p.read_bytes() for p in sorted(DATA.glob("*.html"))]
    corpus = [p.read_bytes() for p in sorted((CORPUS / "html").glob("*.html"))]
    head = (DATA / "highwire.html").read_bytes().split(b"</head>")[0] + b"</head><body>"
    big = head + b"<p>" + b"Lorem ipsum dolor sit amet. " * 75_000 + b"</p></body></html>"
    print(f"crafted scholarly pages ({len(crafted)}): {per_page(crafted):.2f} ms/page")
    if corpus:
        size = sum(map(len, corpus)) // len(corpus) // 1024
        print(f"corpus news pages ({len(corpus)}, {size} KB avg): {per_page(corpus):.2f} ms/page")
    print(f"a {len(big) // 1024} KB page: {per_page([big], rounds=3):.1f} ms")


def item(n: int, url: str, now: datetime) -> Item:
    return Item(
        id=f"{n:016x}",
        url=url,
        canonical_url=url,
        title=f"CCTV study {n}",
        summary="",
        summary_text="",
        category="research",
        published=now,
        first_seen=now - timedelta(seconds=n),
        score=3.0,
        matched=(),
        why="",
        sources=("bench",),
        history=(Event(at=now, action="created"),),
    )


def enrichment(n_items: int) -> None:
    page = (DATA / "highwire.html").read_bytes()
    work = {
        "status": "ok",
        "message-type": "work",
        "message": {"DOI": "10.1007/s11292-015-9243-6", "container-title": ["J"]},
    }
    now = datetime.now(UTC)
    with FeedServer() as server, tempfile.TemporaryDirectory() as tmp:
        server.route(
            "/crossref/works/10.1007/s11292-015-9243-6",
            json.dumps(work).encode(),
            content_type="application/json",
        )
        urls = [server.route(f"/a/{n}", page, content_type="text/html") for n in range(n_items)]
        store = TinyDBStore(Path(tmp) / "store")
        with store.transaction():
            for n, url in enumerate(urls):
                store.put_item(item(n, url, now))
        cfg = config.loads(
            "fetch:\n  allow_private_urls: true\n  contact: bench@example.org\n"
            f"research:\n  host_delay: 0s\n  per_run: {n_items + 1}\n"
            f"  crossref_url: {server.base_url}/crossref\n",
            "bench.yaml",
        )

        async def once() -> enrich.EnrichReport:
            fetcher = enrich.research_fetcher(cfg)
            try:
                return await enrich.enrich(config=cfg, store=store, fetcher=fetcher, now=now)
            finally:
                await fetcher.aclose()

        for label in ("first run", "second run"):
            before = len(server.requests)
            t = time.perf_counter()
            report = asyncio.run(once())
            elapsed = time.perf_counter() - t
            print(
                f"{label}: {n_items} items, {elapsed:.2f} s, "
                f"{len(server.requests) - before} requests, {report.as_dict()}"
            )


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--items", type=int, default=50)
    args = ap.parse_args()
    readers()
    enrichment(args.items)


if __name__ == "__main__":
    main()
