"""Shared pieces for the web app's tests (route tests, browser tests, the web benchmark):
a Curator on a fresh store, items made to order, a settable clock and the sign-in steps.

Passwords are hashed with cheap Argon2id parameters here: the web app verifies with the
parameters a hash carries, so tests exercise the real code at a fraction of the cost.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from argon2 import PasswordHasher

from curator import auth, normalize
from curator.config import Config, FetchSettings, Rules, Source
from curator.core import Curator, make_curator
from curator.store import Store, TinyDBStore
from curator.types import Candidate, Category, Entry, Item, Match, NearMiss, Status

FAST_HASHER = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
EDITOR = "editor"
PASSWORD = "correct horse battery"
T0 = datetime(2025, 3, 10, 9, 0, tzinfo=UTC)

_CSRF = re.compile(r'<meta name="csrf-token" content="([^"]+)"')


@dataclass
class Clock:
    """The Curator's clock (UTC datetimes) that a test moves by hand."""

    now: datetime = T0

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **kwargs: float) -> None:
        self.now += timedelta(**kwargs)


@dataclass
class Ticker:
    """A monotonic clock for the sign-in throttle."""

    t: float = 1000.0
    steps: list[float] = field(default_factory=list)

    def __call__(self) -> float:
        return self.t

    def advance(self, seconds: float) -> None:
        self.t += seconds


def config(sources: Iterable[tuple[str, str, str]] = (), **rules: Any) -> Config:
    """A configuration with the given (id, name, url) sources and CCTV-ish rules.

    "Add a link by hand" may fetch private addresses here: the test servers are on 127.0.0.1.
    """
    return Config(
        path="feeds.yaml",
        sources=[Source(id=i, name=n, url=u) for i, n, u in sources],
        fetch=FetchSettings(allow_private_urls=True),
        rules=Rules(
            include={"cctv": 2.0, "police": 1.0, "camera*": 1.0, "facial recognition": 3.0},
            min_score=1.0,
            **rules,
        ),
    )


def curator_on(path: Path, cfg: Config, clock: Clock | None = None) -> Curator:
    return make_curator(cfg, store=TinyDBStore(path), clock=clock or Clock())


def make_item(
    n: int,
    *,
    title: str | None = None,
    summary: str = "Police fit CCTV cameras in the town centre.",
    score: float = 3.0,
    published: datetime | None = None,
    status: Status = "pending",
    sources: tuple[str, ...] = ("src-a",),
    category: Category = "news",
    urls: tuple[str, ...] = (),
    host: str = "news.example.org",
) -> Item:
    url = f"https://{host}/story/{n}"
    canonical = normalize.canonical_url(url)
    when = published or T0 - timedelta(hours=n)
    return Item(
        id=normalize.item_id(canonical),
        url=url,
        canonical_url=canonical,
        title=title if title is not None else f"CCTV story number {n}",
        summary=f"<p>{summary}</p>",
        summary_text=summary,
        category=category,
        published=when,
        first_seen=when,
        score=score,
        matched=(Match("cctv", "title", 1, 2.0),),
        why="title: cctv",
        sources=sources,
        urls=urls,
        status=status,
        reviewed_by=None if status == "pending" else "someone",
        reviewed_at=None if status == "pending" else when,
        updated_at=when,
    )


def make_near_miss(
    n: int,
    *,
    title: str | None = None,
    seen_at: datetime = T0,
    source_id: str = "src-a",
    host: str = "shops.example.org",
) -> NearMiss:
    """An entry the rules left out for lacking the 'policing' group, as a poll keeps it."""
    url = f"https://{host}/story/{n}"
    canonical = normalize.canonical_url(url)
    entry = Entry(
        source_id=source_id,
        title=title if title is not None else f"Supermarket fits CCTV at tills {n}",
        url=url,
        canonical_url=canonical,
        item_id=normalize.item_id(canonical),
        summary_html="<p>Cameras watch every checkout.</p>",
        summary_text="Cameras watch every checkout.",
        published=seen_at - timedelta(hours=1),
    )
    candidate = Candidate(
        entry=entry,
        score=7.0,
        matches=(Match("cctv", "title", 1, 2.0),),
        why="dropped (no term from 'policing') · title: CCTV (score 7, needs 1)",
    )
    return NearMiss(candidate, ("policing",), "news", seen_at)


def put_near_misses(store: Store, *near: NearMiss) -> None:
    with store.transaction():
        for n in near:
            store.put_near_miss(n)


def put(store: Store, *items: Item) -> None:
    with store.transaction():
        for item in items:
            store.put_item(item)


def add_editor(store: Store, name: str = EDITOR, password: str = PASSWORD) -> None:
    auth.add_user(store, name, password, hasher=FAST_HASHER)


def csrf_of(html: str) -> str:
    m = _CSRF.search(html)
    assert m, "no CSRF token in the page"
    return m.group(1)
