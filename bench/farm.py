"""A local feed farm for benchmarks: N feeds of realistic RSS spread over several ports.

Runs in its own process (``python bench/farm.py --feeds 500 --ports 100``) so that serving
does not steal the measured process's CPU; prints one JSON line with the feed URLs' pattern
when ready.  Every response waits ``--latency`` seconds (asyncio, not blocking) and honours
If-None-Match / If-Modified-Since with 304.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import json
import random
import sys
from email.utils import formatdate

WORDS = [
    "police",
    "council",
    "network",
    "evidence",
    "review",
    "officers",
    "city",
    "centre",
    "community",
    "safety",
    "report",
    "budget",
    "public",
    "consultation",
    "data",
    "privacy",
    "national",
    "guidance",
    "standards",
    "court",
    "technology",
    "policy",
    "research",
    "evaluation",
    "residents",
    "scheme",
    "pilot",
    "funding",
    "partnership",
    "local",
    "government",
    "minister",
    "committee",
    "inspection",
    "force",
    "crime",
    "reduction",
    "transport",
    "station",
]
TOPICAL = [
    "Council approves upgrade of town centre CCTV network",
    "Police expand live facial recognition deployments",
    "Evaluation of body-worn video in English police forces published",
    "ANPR camera network helps police tackle rural crime",
    "Surveillance Camera Code of Practice review announced",
]


def _vocabulary(size: int = 6000) -> list[str]:
    """Made-up words, the same on every run: news uses thousands of words, and with only
    the few above every entry resembled every other, so the same-story index (which
    compares a new item with those sharing its words) compared each with all."""
    rng = random.Random(2023)
    syllables = [c + v for c in "bcdfghklmnprstvw" for v in "aeiou"] + ["ent", "ing", "ion"]
    words: set[str] = set()
    while len(words) < size:
        words.add("".join(rng.choice(syllables) for _ in range(rng.randint(2, 4))))
    return sorted(words)


VOCABULARY = _vocabulary()


def sentence(rng: random.Random, n: int) -> str:
    """*n* words, a fifth of them the topical ones above."""
    words = (rng.choice(WORDS) if rng.random() < 0.2 else rng.choice(VOCABULARY) for _ in range(n))
    return " ".join(words).capitalize() + "."


def make_feed(i: int, entries: int = 50) -> bytes:
    rng = random.Random(i)
    items = []
    for j in range(entries):
        title = rng.choice(TOPICAL) if rng.random() < 0.1 else sentence(rng, 8)[:-1]
        paras = "".join(
            f'<p>{sentence(rng, 28)} <a href="/story/{i}/{j}/more">More</a></p>' for _ in range(3)
        )
        items.append(
            f"<item><title>{title} ({i}-{j})</title>"
            f"<link>https://site{i % 97}.example.org/news/{i}/{j}?utm_source=rss</link>"
            f'<guid isPermaLink="false">feed{i}-entry{j}</guid>'
            f"<pubDate>{formatdate(1_790_000_000 - j * 3600 - i, usegmt=True)}</pubDate>"
            f"<category>News</category><dc:creator>Reporter {j % 7}</dc:creator>"
            f"<description><![CDATA[{paras}]]></description></item>"
        )
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<rss version="2.0" xmlns:dc="http://purl.org/dc/elements/1.1/"><channel>'
        f"<title>Farm feed {i}</title><link>https://site{i % 97}.example.org/</link>"
        f"<description>Benchmark feed {i}</description>{''.join(items)}</channel></rss>"
    ).encode()


async def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--feeds", type=int, default=500)
    ap.add_argument("--ports", type=int, default=100)
    ap.add_argument("--latency", type=float, default=0.05)
    args = ap.parse_args()
    bodies = [make_feed(i) for i in range(args.feeds)]
    etags = [f'"{hashlib.sha1(b).hexdigest()[:16]}"' for b in bodies]
    last_modified = formatdate(1_790_000_000, usegmt=True)

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                lines = head.decode("latin-1").split("\r\n")
                path = lines[0].split(" ")[1]
                headers = {
                    k.strip().lower(): v.strip()
                    for k, v in (ln.split(":", 1) for ln in lines[1:] if ":" in ln)
                }
                await asyncio.sleep(args.latency)
                try:
                    n = int(path.strip("/").split("/")[-1].split(".")[0])
                    body = bodies[n]
                except (ValueError, IndexError):
                    writer.write(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n")
                    await writer.drain()
                    continue
                if headers.get("if-none-match") == etags[n] or (
                    "if-none-match" not in headers
                    and headers.get("if-modified-since") == last_modified
                ):
                    writer.write(
                        f"HTTP/1.1 304 Not Modified\r\nETag: {etags[n]}\r\n"
                        f"Last-Modified: {last_modified}\r\nContent-Length: 0\r\n\r\n".encode()
                    )
                else:
                    writer.write(
                        f"HTTP/1.1 200 OK\r\nContent-Type: application/rss+xml; charset=utf-8\r\n"
                        f"ETag: {etags[n]}\r\nLast-Modified: {last_modified}\r\n"
                        f"Content-Length: {len(body)}\r\n\r\n".encode()
                        + body
                    )
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    servers = [await asyncio.start_server(handle, "127.0.0.1", 0) for _ in range(args.ports)]
    ports = [s.sockets[0].getsockname()[1] for s in servers]
    urls = [f"http://127.0.0.1:{ports[i % len(ports)]}/feed/{i}.xml" for i in range(args.feeds)]
    sys.stdout.write(
        json.dumps({"urls": urls, "avg_size": sum(map(len, bodies)) // len(bodies)}) + "\n"
    )
    sys.stdout.flush()
    await asyncio.Event().wait()


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(main())
