"""The store on real files: round trips, transactions, corruption, crashes and rival processes.

Processes are real (``python -c`` children); waits are bounded by deadlines on conditions or
pipes, never sleeps, and nothing asserts on timing.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from tinydb import TinyDB

from curator.exceptions import StoreCorrupt, StoreError, StoreLocked
from curator.store import NEAR_MISS_DAYS, TITLE_INDEX_DAYS, Store, TinyDBStore, from_json, to_json
from curator.types import (
    Candidate,
    DigestRecord,
    Entry,
    Event,
    Item,
    Match,
    NearMiss,
    SourceState,
    User,
)

ROOT = Path(__file__).resolve().parent.parent
T0 = datetime(2025, 3, 1, 9, 30, tzinfo=UTC)
DEADLINE = 120.0  # seconds a child may take before the test gives up on it


def item_id(n: int | str) -> str:
    return hashlib.sha256(f"https://example.org/story/{n}".encode()).hexdigest()[:16]


def make_item(n: int | str, **changes: Any) -> Item:
    """A realistic item of about 1.4 KB of JSON."""
    seen = T0 + timedelta(minutes=int(n) if isinstance(n, int) else 0)
    url = f"https://example.org/news/2025/03/police-cctv-network-story-{n}"
    item = Item(
        id=item_id(n),
        url=url + "?utm_source=rss",
        canonical_url=url,
        title=f"Police expand CCTV network in town {n} after council vote",
        summary="<p>" + "The council approved funding for new cameras in the centre. " * 5 + "</p>",
        summary_text="The council approved funding for new cameras in the centre. " * 4,
        category="news",
        published=seen - timedelta(hours=2),
        first_seen=seen,
        score=3.5,
        matched=(Match("cctv", "title", 1, 2.0), Match("police", "summary", 2, 1.0)),
        why="title: cctv; summary: police",
        sources=("google-news",),
        title_key=f"police expand cctv network in town {n}",
        history=(Event(at=seen, action="created"),),
    )
    return replace(item, **changes)


#: A test of the TinyDB backend's files (layout, cache, journal), not of the interface.
FILES_ONLY = pytest.mark.parametrize("backend", ["tinydb"])


@pytest.fixture
def store(store_location: str, store_at: Callable[[str], Store]) -> Store:
    """A fresh store of each backend (tests/backends.py)."""
    return store_at(store_location)


def put(store: Store, *items: Item) -> None:
    with store.transaction():
        for item in items:
            store.put_item(item)


# ---------------------------------------------------------------------------------- round trips


FULL_ITEM = make_item(
    7,
    urls=("https://mirror.example.net/a", "https://example.com/b"),
    authors=("A. Reporter", "B. Writer"),
    tags=("cctv", "policy"),
    status="approved",
    reviewed_by="editor",
    reviewed_at=T0 + timedelta(days=1, microseconds=5),
    note="good one — ünïcode ✓",
    original={"title": "Old title", "summary": "<p>old</p>"},
    history=(
        Event(at=T0, action="created"),
        Event(
            at=T0 + timedelta(hours=3),
            action="edited",
            by="editor",
            changes={"title": ("Old title", "New title"), "note": (None, "why")},
            note="tidied",
        ),
    ),
    digest_id="2025-w10",
    updated_at=T0 + timedelta(days=2),
    sources=("google-news", "ifsec"),
    category="research",
)
FULL_STATE = SourceState(
    source_id="home-office",
    etag='W/"abc"',
    last_modified="Sat, 01 Mar 2025 09:00:00 GMT",
    body_hash="ab" * 32,
    last_fetch=T0,
    last_success=T0,
    last_new=T0 - timedelta(days=1),
    last_status=304,
    consecutive_errors=2,
    last_error="HTTP 503",
    warning="bozo",
    next_due=T0 + timedelta(minutes=30),
    entries_last=50,
    matched_last=3,
    items_total=120,
    gone=True,
    config_hash="cfg",
    permanent_redirect="https://example.gov.uk/feed",
)
FULL_USER = User(
    name="editor", password_hash="$argon2id$v=19$m=65536,t=3,p=4$abc$def", created_at=T0
)
FULL_DIGEST = DigestRecord(
    id="2025-w10",
    period_start=T0 - timedelta(days=7),
    period_end=T0,
    item_ids=(item_id(1), item_id(2)),
    message_id="<2025-w10@curator.example>",
    created_at=T0,
    subject="CCTV in policing: week 10",
    recipients={"a@example.org": "sent", "b@example.org": "refused: 550 no such user"},
    status="partial",
    sent_at=T0 + timedelta(minutes=1),
    kind="editors",
)
FULL_EVENT = FULL_ITEM.history[1]
FULL_MATCH = Match("facial recognition", "summary", 3, 2.5)


@pytest.mark.parametrize(
    "value",
    [FULL_ITEM, FULL_STATE, FULL_USER, FULL_DIGEST, FULL_EVENT, FULL_MATCH],
    ids=lambda v: type(v).__name__,
)
def test_json_round_trip(value: Any) -> None:
    data = json.loads(json.dumps(to_json(value)))
    assert from_json(type(value), data) == value


def test_defaults_round_trip() -> None:
    bare = Item(
        id=item_id("bare"),
        url="https://e.org/x",
        canonical_url="https://e.org/x",
        title="t",
        summary="",
        summary_text="",
        category="guidance",
        published=T0,
        first_seen=T0,
        score=1,
        matched=(),
        why="",
        sources=("s",),
    )
    assert from_json(Item, json.loads(json.dumps(to_json(bare)))) == bare
    assert from_json(SourceState, to_json(SourceState("s"))) == SourceState("s")


def test_datetimes_are_utc_iso_strings() -> None:
    cet = datetime(2025, 3, 1, 10, 30, tzinfo=UTC).astimezone()  # some aware local time
    data = to_json(make_item(1, first_seen=cet))
    assert data["first_seen"] == "2025-03-01T10:30:00.000000+00:00"
    assert from_json(Item, data).first_seen.tzinfo is UTC


def test_naive_datetime_refused(store: Store) -> None:
    with pytest.raises(ValueError, match="naive"), store.transaction():
        store.put_item(make_item(1, first_seen=datetime(2025, 1, 1)))
    assert store.get_item(item_id(1)) is None


def test_round_trip_through_disk(tmp_path: Path) -> None:
    store = TinyDBStore(tmp_path)
    with store.transaction():
        store.put_item(FULL_ITEM)
        store.put_state(FULL_STATE)
        store.put_user(FULL_USER)
        store.put_digest(FULL_DIGEST)
        store.put_meta("last_digest_end", {"at": "2025-03-01", "n": [1, 2.5, None, True]})
    again = TinyDBStore(tmp_path)
    assert again.get_item(FULL_ITEM.id) == FULL_ITEM
    assert again.items() == [FULL_ITEM]
    assert again.get_state("home-office") == FULL_STATE
    assert again.states() == {"home-office": FULL_STATE}
    assert again.get_user("editor") == FULL_USER
    assert again.users() == [FULL_USER]
    assert again.get_digest("2025-w10") == FULL_DIGEST
    assert again.digests() == [FULL_DIGEST]
    assert again.get_meta("last_digest_end") == {"at": "2025-03-01", "n": [1, 2.5, None, True]}


@FILES_ONLY
def test_files_are_plain_tinydb(store: Store) -> None:
    put(store, make_item(1))
    with store.transaction():
        store.put_state(SourceState("s", items_total=3))
    shard = store.path / "items" / f"{item_id(1)[:2]}.json"
    with TinyDB(shard) as db:
        assert db.table("items").get(doc_id=item_id(1))["title"] == make_item(1).title
    with TinyDB(store.path / "sources.json") as db:
        assert db.table("sources").get(doc_id="s")["items_total"] == 3


@FILES_ONLY
def test_every_file_keeps_the_table_name_stores_and_backups_were_written_with(
    store: Store,
) -> None:
    """A file's table name is part of the format on disk: a store or backup written by an
    earlier version holds its records under these names, and would read as empty under any
    other."""
    put(store, make_item(1, title="A same-story title long enough to index by words"))
    with store.transaction():
        store.put_user(User("ann", "h", T0))
        store.put_alias(item_id(2), item_id(1))
        store.put_meta("k", 1)
        store.put_digest(FULL_DIGEST)
        store.put_near_miss(make_near_miss(3))
        store.put_state(SourceState("s"))
    expected = {
        "users.json": "users",
        "meta.json": "meta",
        "digests.json": "digests",
        "near_misses.json": "near_misses",
        "sources.json": "sources",
        "shards.json": "shards",
        "titles.json": "titles",
    }
    for name, table in expected.items():
        data = json.loads((store.path / name).read_text(encoding="utf-8"))
        assert list(data) == [table], name
    (alias_file,) = (store.path / "aliases").glob("*.json")
    assert list(json.loads(alias_file.read_text(encoding="utf-8"))) == ["aliases"]
    (shard,) = (store.path / "items").glob("*.json")
    assert list(json.loads(shard.read_text(encoding="utf-8"))) == ["items"]
    reopened = TinyDBStore(store.path)  # and a new process finds every record under them
    assert reopened.get_user("ann") is not None and reopened.alias_of(item_id(2)) == item_id(1)
    assert reopened.get_meta("k") == 1 and reopened.get_state("s") == SourceState("s")
    assert [n.id for n in reopened.near_misses()] == [make_near_miss(3).id]


# ------------------------------------------------------------------------------ items and index


def test_items_counts_and_status_filter(store: Store) -> None:
    put(store, *(make_item(n) for n in range(40)))
    with store.transaction():
        for n in range(10):
            store.put_item(make_item(n, status="approved"))
        store.put_item(make_item(10, status="rejected"))
    assert store.counts() == {"pending": 29, "approved": 10, "rejected": 1}
    assert {i.id for i in store.items("approved")} == {item_id(n) for n in range(10)}
    assert len(store.items()) == 40
    assert store.get_item("not-an-id") is None
    assert store.get_item("0" * 16) is None


@FILES_ONLY
def test_unchanged_items_are_served_from_cache(store: Store) -> None:
    put(store, *(make_item(n) for n in range(20)))
    first = {i.id: i for i in store.items()}
    second = {i.id: i for i in store.items()}
    assert all(second[k] is first[k] for k in first)
    put(store, make_item(3, status="approved"))
    third = {i.id: i for i in store.items()}
    assert third[item_id(3)].status == "approved"
    assert third[item_id(4)] is first[item_id(4)]


@FILES_ONLY
def test_an_approval_rewrites_one_shard_only(store: Store) -> None:
    put(store, *(make_item(n) for n in range(60)))
    with store.transaction():
        store.put_state(SourceState("s"))
        store.put_meta("k", 1)

    def stamps() -> dict[str, int]:
        return {str(p): p.stat().st_ino for p in store.path.rglob("*.json")}

    before = stamps()
    with store.transaction():
        item = store.get_item(item_id(5))
        assert item is not None
        store.put_item(replace(item, status="approved", reviewed_by="ed"))
    changed = {p for p, ino in stamps().items() if before.get(p) != ino}
    assert changed == {str(store.path / "items" / f"{item_id(5)[:2]}.json")}


def test_version_changes_with_items_only(store: Store) -> None:
    v0 = store.version()
    put(store, make_item(1))
    v1 = store.version()
    assert v1 != v0
    with store.transaction():
        store.put_state(SourceState("s"))
        store.put_meta("k", 1)
    assert store.version() == v1
    put(store, make_item(1, status="approved"))
    assert store.version() != v1


def test_find_by_title(store: Store) -> None:
    first = make_item(1, title_key="same story")
    later = make_item(2, title_key="same story", first_seen=T0 + timedelta(days=1))
    put(store, first)
    with store.transaction():
        # Inside the transaction the first item is found; the second does not take the title.
        assert store.find_by_title("same story", T0 - timedelta(days=14)) == first
        store.put_item(later)
    assert store.find_by_title("same story", T0 - timedelta(days=14)) == first
    assert store.find_by_title("same story", first.first_seen + timedelta(seconds=1)) is None
    assert store.find_by_title("other", T0 - timedelta(days=14)) is None


def test_title_index_forgets_old_titles(store: Store) -> None:
    put(store, make_item(1, title_key="old story"))
    much_later = T0 + timedelta(days=TITLE_INDEX_DAYS + 1)
    put(store, make_item(2, title_key="new story", first_seen=much_later))
    # Forgotten, even by a look-up that would accept any age.
    assert store.find_by_title("old story", T0 - timedelta(days=3650)) is None
    assert store.find_by_title("new story", T0) is not None
    if isinstance(store, TinyDBStore):
        titles = json.loads((store.path / "titles.json").read_text())["titles"]
        assert set(titles) == {"new story"}
    # An old title reused long after belongs to the new story.
    put(store, make_item(3, title_key="old story", first_seen=much_later))
    assert store.find_by_title("old story", much_later - timedelta(days=14)) == make_item(
        3, title_key="old story", first_seen=much_later
    )


# ----------------------------------------------------------------------- other kinds of records


def test_users_states_digests_meta(store: Store) -> None:
    with store.transaction():
        store.put_user(User("zoe", "h1", T0))
        store.put_user(User("adam", "h2", T0))
        store.put_state(SourceState("a", consecutive_errors=1))
        store.put_digest(replace(FULL_DIGEST, id="old", created_at=T0 - timedelta(days=7)))
        store.put_digest(FULL_DIGEST)
        store.put_meta("setup_token", {"sha256": "x"})
    assert [u.name for u in store.users()] == ["adam", "zoe"]
    assert [d.id for d in store.digests()] == ["2025-w10", "old"]
    with store.transaction():
        assert store.delete_user("zoe") is True
        assert store.delete_user("nobody") is False
        assert store.get_user("zoe") is None
        store.put_state(SourceState("a", consecutive_errors=2))
        store.put_meta("setup_token", None)
    assert [u.name for u in store.users()] == ["adam"]
    assert store.get_state("a") == SourceState("a", consecutive_errors=2)
    assert store.get_state("b") is None
    assert store.get_meta("setup_token") is None
    assert store.get_meta("missing", 5) == 5


def make_near_miss(n: int, seen_at: datetime = T0) -> NearMiss:
    url = f"https://example.org/news/shop-cctv-{n}"
    entry = Entry(
        source_id="google-news",
        title=f"Shop installs CCTV {n}",
        url=url,
        canonical_url=url,
        item_id=hashlib.sha256(url.encode()).hexdigest()[:16],
        summary_html="<p>New cameras.</p>",
        summary_text="New cameras.",
        published=seen_at - timedelta(hours=1),
    )
    candidate = Candidate(
        entry=entry,
        score=6.0,
        matches=(Match("cctv", "title", 1, 3.0),),
        why="dropped (no term from 'policing') · title: CCTV (score 6, needs 3)",
    )
    return NearMiss(candidate, ("policing",), "news", seen_at)


def test_near_misses_round_trip_newest_first_and_are_pruned(
    store_location: str, store_at: Callable[..., Store]
) -> None:
    store = store_at(store_location)
    old, new = make_near_miss(1), make_near_miss(2, T0 + timedelta(days=20))
    with store.transaction():
        store.put_near_miss(old)
        store.put_near_miss(new)
    reopened = store_at(store_location)  # from disk, not from this process's cache
    assert reopened.near_misses() == [new, old]
    assert reopened.get_near_miss(old.id) == old
    assert old.reason == "scored 6, lacked a term from group 'policing'"
    if isinstance(reopened, TinyDBStore):
        assert "near_misses.json" in reopened.data_files()
    assert reopened.damage(deep=True) == []
    with reopened.transaction():
        now = T0 + timedelta(days=NEAR_MISS_DAYS + 1)
        assert reopened.prune_near_misses(now - timedelta(days=NEAR_MISS_DAYS)) == 1
    assert [n.id for n in store_at(store_location).near_misses()] == [new.id]
    with reopened.transaction():
        assert reopened.delete_near_miss(new.id) is True
        assert reopened.delete_near_miss(new.id) is False
    assert store_at(store_location).near_misses() == []


def test_near_misses_keep_the_newest_past_the_cap(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("curator.store.api.MAX_NEAR_MISSES", 3)
    with store.transaction():
        for n in range(5):
            store.put_near_miss(make_near_miss(n, T0 + timedelta(hours=n)))
    assert [n.candidate.entry.title for n in store.near_misses()] == [
        "Shop installs CCTV 4",
        "Shop installs CCTV 3",
        "Shop installs CCTV 2",
    ]


def test_reason_names_every_group_lacked() -> None:
    near = replace(make_near_miss(1), missing=("cameras", "policing"))
    assert near.reason == "scored 6, lacked a term from groups 'cameras', 'policing'"


def test_meta_values_are_copies_and_json(store: Store) -> None:
    with store.transaction():
        store.put_meta("k", {"a": [1]})
        with pytest.raises(TypeError):
            store.put_meta("bad", {1, 2})
    value = store.get_meta("k")
    value["a"].append(2)
    assert store.get_meta("k") == {"a": [1]}


# --------------------------------------------------------------------------------- transactions


def test_writes_need_a_transaction(store: Store) -> None:
    for write in (
        lambda: store.put_item(make_item(1)),
        lambda: store.put_state(SourceState("s")),
        lambda: store.put_user(FULL_USER),
        lambda: store.delete_user("x"),
        lambda: store.put_digest(FULL_DIGEST),
        lambda: store.put_meta("k", 1),
    ):
        with pytest.raises(StoreError, match="transaction"):
            write()


def test_writes_are_buffered_until_the_outermost_block_ends(
    store_location: str, store_at: Callable[..., Store]
) -> None:
    store, other = store_at(store_location), store_at(store_location)
    with store.transaction():
        with store.transaction():
            store.put_item(make_item(1))
            store.put_meta("n", 1)
        assert store.get_item(item_id(1)) == make_item(1)  # our own writes are visible
        assert store.counts()["pending"] == 1
        assert other.get_item(item_id(1)) is None  # nobody else's
        assert other.get_meta("n") is None
        if isinstance(store, TinyDBStore):
            assert not list((store.path / "items").glob("*.json"))
    assert other.get_item(item_id(1)) == make_item(1)
    assert other.get_meta("n") == 1


def test_an_exception_discards_every_write(
    store_location: str, store_at: Callable[..., Store], tmp_path: Path
) -> None:
    store = store_at(store_location)
    put(store, make_item(1))
    before = {p.name: p.read_bytes() for p in tmp_path.rglob("*.json")}
    with pytest.raises(RuntimeError), store.transaction():
        store.put_item(make_item(1, status="approved"))
        store.put_item(make_item(2))
        store.put_state(SourceState("s"))
        with store.transaction():
            store.put_meta("n", 1)
        raise RuntimeError("boom")
    assert {p.name: p.read_bytes() for p in tmp_path.rglob("*.json")} == before
    assert store.get_item(item_id(1)) == make_item(1)
    assert store.get_item(item_id(2)) is None
    assert store.get_state("s") is None
    assert store.get_meta("n") is None
    assert store.counts() == {"pending": 1, "approved": 0, "rejected": 0}


def test_other_threads_see_only_committed_state(store: Store) -> None:
    put(store, make_item(1))
    inside, release = threading.Event(), threading.Event()
    seen: dict[str, Any] = {}

    def reader() -> None:
        assert inside.wait(DEADLINE)
        seen["item"] = store.get_item(item_id(1))
        seen["counts"] = store.counts()
        try:
            store.put_item(make_item(9))
        except StoreError as e:
            seen["error"] = e
        release.set()

    thread = threading.Thread(target=reader)
    thread.start()
    with store.transaction():
        store.put_item(make_item(1, status="approved"))
        inside.set()
        assert release.wait(DEADLINE)
    thread.join(DEADLINE)
    assert seen["item"].status == "pending"
    assert seen["counts"]["approved"] == 0
    assert isinstance(seen["error"], StoreError)
    assert store.get_item(item_id(1)).status == "approved"  # type: ignore[union-attr]


def test_readers_in_other_threads_while_commits_land(store: Store) -> None:
    n = 120
    put(store, *(make_item(i) for i in range(n)))
    done = threading.Event()
    errors: list[BaseException] = []

    def write() -> None:
        try:
            for i in range(n):
                with store.transaction():
                    store.put_item(make_item(i, status="approved"))
        except BaseException as e:
            errors.append(e)
        finally:
            done.set()

    def read(use_items: bool) -> None:
        approved = 0
        try:
            while not done.is_set():
                if use_items:
                    now = sum(i.status == "approved" for i in store.items())
                else:
                    now = sum(
                        store.get_item(item_id(i)).status == "approved"  # type: ignore[union-attr]
                        for i in range(n)
                    )
                assert now >= approved  # committed approvals never disappear
                approved = now
        except BaseException as e:
            errors.append(e)

    threads = [threading.Thread(target=read, args=(flag,)) for flag in (True, False, True)]
    threads.append(threading.Thread(target=write))
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(DEADLINE)
    assert not errors
    assert store.counts()["approved"] == n


def test_a_busy_store_times_out_with_store_locked(
    store_location: str, store_at: Callable[..., Store]
) -> None:
    holder, waiter = store_at(store_location), store_at(store_location, lock_timeout=0.05)
    inside, release = threading.Event(), threading.Event()

    def hold() -> None:
        with holder.transaction():
            inside.set()
            assert release.wait(DEADLINE)

    thread = threading.Thread(target=hold)
    thread.start()
    try:
        assert inside.wait(DEADLINE)
        with pytest.raises(StoreLocked, match="busy"), waiter.transaction():
            pass
    finally:
        release.set()
        thread.join(DEADLINE)
    with waiter.transaction():
        waiter.put_meta("ok", True)


def test_changes_by_another_store_are_seen(
    store_location: str, store_at: Callable[..., Store]
) -> None:
    reader, writer = store_at(store_location), store_at(store_location)
    put(writer, make_item(1))
    assert reader.get_item(item_id(1)) == make_item(1)
    assert reader.counts()["pending"] == 1
    versions = {reader.version()}
    # approved -> rejected -> approved keeps the file size: the cache must still notice.
    for status in ("approved", "rejected", "approved", "rejected"):
        put(writer, make_item(1, status=status))
        assert reader.get_item(item_id(1)).status == status  # type: ignore[union-attr]
        assert [i.status for i in reader.items()] == [status]
        versions.add(reader.version())
    assert len(versions) == 5
    with writer.transaction():
        writer.put_state(SourceState("s", items_total=1))
    assert reader.states()["s"].items_total == 1


# ---------------------------------------------------------------------------- corruption, crashes


@pytest.mark.parametrize(
    ("relative", "content", "reason"),
    [
        ("items/{shard}.json", b'{"items": {"', "Unterminated"),
        ("items/{shard}.json", b"[1, 2]", "not a TinyDB file"),
        ("items/{shard}.json", b"", "empty"),
        ("items/{shard}.json", b'{"items": {"zz": {}}}', "not an item id"),
        ("items/{shard}.json", b'{"items": {}, "other": {}}', "tables other than"),
        ("sources.json", b'{"sources": {"s": 3}}', "not an object"),
        ("meta.json", b"\xff\xfe not utf-8", "Expecting value"),
        ("titles.json", b'{"titles": {"t": {"id": "x"}}}', "ISO datetime"),
    ],
)
def test_a_file_that_does_not_load_is_reported_and_left_alone(
    tmp_path: Path, relative: str, content: bytes, reason: str
) -> None:
    store = TinyDBStore(tmp_path)
    path = tmp_path / relative.format(shard=item_id(1)[:2])
    path.write_bytes(content)
    with pytest.raises(StoreCorrupt, match=reason) as e:
        store.get_item(item_id(1))
        store.get_state("s")
        store.get_meta("k")
        store.find_by_title("t", T0)
    assert e.value.path == path
    assert str(path) in str(e.value)
    with pytest.raises(StoreCorrupt), store.transaction():
        store.put_item(make_item(1))
        store.put_state(SourceState("s"))
        store.put_meta("k", 1)
    assert path.read_bytes() == content
    path.unlink()  # moved aside: that part starts afresh
    put(store, make_item(1))
    assert store.get_item(item_id(1)) == make_item(1)


@FILES_ONLY
def test_a_bad_item_is_reported_with_its_file(store: Store) -> None:
    put(store, make_item(1))
    shard = store.path / "items" / f"{item_id(1)[:2]}.json"
    data = json.loads(shard.read_text())
    del data["items"][item_id(1)]["first_seen"]
    shard.write_text(json.dumps(data))
    fresh = TinyDBStore(store.path)
    with pytest.raises(StoreCorrupt, match="first_seen") as e:
        fresh.get_item(item_id(1))
    assert e.value.path == shard
    # Listings leave the damaged shard out; the store names it, with what it held.
    assert fresh.items() == [] and fresh.counts()["pending"] == 0
    (damage,) = fresh.damage(deep=True)
    assert damage.path == shard and damage.items == 1 and "first_seen" in damage.reason


def test_store_path_must_be_a_directory(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("x")
    with pytest.raises(StoreError, match="cannot use"):
        TinyDBStore(tmp_path / "file")


def test_leftover_temporary_files_are_harmless_and_removed(tmp_path: Path) -> None:
    store = TinyDBStore(tmp_path)
    put(store, make_item(1))
    dead = [
        tmp_path / "items" / f".{item_id(1)[:2]}.json.99999.deadbeef.tmp",
        tmp_path / ".sources.json.99999.deadbeef.tmp",
    ]
    for path in dead:
        path.write_bytes(b'{"items": {"tor')
    again = TinyDBStore(tmp_path)
    assert again.get_item(item_id(1)) == make_item(1)
    with again.transaction():
        again.put_item(make_item(2))
    assert not any(p.exists() for p in dead)


def test_a_commit_interrupted_between_renames_is_completed(tmp_path: Path) -> None:
    """What a writer killed after writing journal.json leaves: new files beside old ones."""
    store = TinyDBStore(tmp_path)
    put(store, make_item(1))
    shard = tmp_path / "items" / f"{item_id(1)[:2]}.json"
    new_shard = {"items": {item_id(1): to_json(make_item(1, status="approved"))}}
    new_sources = {"sources": {"s": to_json(SourceState("s", items_total=1))}}
    tmp_shard = shard.with_name(f".{shard.name}.1.aaaa.tmp")
    tmp_sources = tmp_path / ".sources.json.1.aaaa.tmp"
    tmp_shard.write_text(json.dumps(new_shard))
    tmp_sources.write_text(json.dumps(new_sources))
    os.replace(tmp_shard, shard)  # the first rename happened, the second did not
    (tmp_path / "journal.json").write_text(
        json.dumps(
            {
                "renames": [
                    [str(tmp_shard.relative_to(tmp_path)), str(shard.relative_to(tmp_path))],
                    [tmp_sources.name, "sources.json"],
                ]
            }
        )
    )
    again = TinyDBStore(tmp_path)  # opening finishes the commit
    assert not (tmp_path / "journal.json").exists()
    assert again.get_item(item_id(1)).status == "approved"  # type: ignore[union-attr]
    assert again.get_state("s") == SourceState("s", items_total=1)
    assert store.get_state("s") == SourceState("s", items_total=1)  # seen by the old one too


def test_an_unreadable_journal_stops_writes(tmp_path: Path) -> None:
    TinyDBStore(tmp_path)
    (tmp_path / "journal.json").write_text('{"renames": [["../../etc/passwd", "x"]]}')
    store = TinyDBStore(tmp_path)  # opens (reads go on), but every write names the journal
    with pytest.raises(StoreCorrupt, match="journal"), store.transaction():
        store.put_meta("k", 1)
    assert not (tmp_path / "x").exists()


@FILES_ONLY
def test_multi_file_commits_leave_no_journal(store: Store) -> None:
    with store.transaction():
        store.put_item(make_item(1))
        store.put_item(make_item(2))
        store.put_state(SourceState("s"))
    assert not (store.path / "journal.json").exists()
    assert not [p for p in store.path.rglob("*") if p.name.endswith(".tmp")]


# ------------------------------------------------------------------------------ real processes


class Child:
    """A Python child process whose stdout lines are read with a deadline, never a sleep."""

    def __init__(self, script: str, *args: str) -> None:
        code = f"import sys; sys.path.insert(0, {str(ROOT)!r})\n" + textwrap.dedent(script)
        self.proc = subprocess.Popen(
            [sys.executable, "-c", code, *args],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            cwd=ROOT,
        )
        assert self.proc.stdout is not None
        self._fd = self.proc.stdout.fileno()
        self._buffer = b""

    def line(self) -> str:
        import selectors

        deadline = time.monotonic() + DEADLINE
        with selectors.DefaultSelector() as sel:
            sel.register(self._fd, selectors.EVENT_READ)
            while b"\n" not in self._buffer:
                left = deadline - time.monotonic()
                if left <= 0 or not sel.select(left):
                    self.kill()
                    pytest.fail("child gave no output in time")
                chunk = os.read(self._fd, 65536)
                if not chunk:
                    self.proc.wait(DEADLINE)
                    err = self.proc.stderr.read().decode() if self.proc.stderr else ""
                    pytest.fail(f"child exited {self.proc.returncode}: {err}")
                self._buffer += chunk
        line, _, self._buffer = self._buffer.partition(b"\n")
        return line.decode()

    def send(self, text: str) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(text.encode())
        self.proc.stdin.flush()

    def kill(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(DEADLINE)
        self.close()

    def finish(self) -> None:
        _, err = self.proc.communicate(timeout=DEADLINE)
        assert self.proc.returncode == 0, err.decode()

    def close(self) -> None:
        for stream in (self.proc.stdin, self.proc.stdout, self.proc.stderr):
            if stream is not None:
                stream.close()


WRITER = """
    from dataclasses import replace
    from curator.store import Store, TinyDBStore
    from curator.types import SourceState
    from tests.test_store import item_id, make_item

    store = TinyDBStore(sys.argv[1])
    i = start = store.get_meta("next", 0)
    while True:
        with store.transaction():  # several files: the journal path
            store.put_item(make_item(i))
            previous = store.get_item(item_id(i - 1))
            if previous is not None:
                store.put_item(replace(previous, status="approved", reviewed_by="crash"))
            store.put_meta("next", i + 1)
            store.put_state(SourceState("crash", items_total=i + 1))
        with store.transaction():  # one file: the plain rename path
            store.put_item(replace(store.get_item(item_id(i)), note=f"note {i}"))
        print(i, flush=True)
        i += 1
"""


def wait_for(condition: Callable[[], bool], what: str) -> None:
    """Poll a condition, bounded by the deadline (the writer makes it true within ms)."""
    deadline = time.monotonic() + DEADLINE
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"never saw {what}")


def temp_files(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if p.name.endswith(".tmp")]


@pytest.mark.slow
def test_a_writer_killed_mid_write_leaves_a_loadable_store(tmp_path: Path) -> None:
    store = TinyDBStore(tmp_path)
    # Fill the shards a little so each write has something to tear.
    put(store, *(make_item(f"fill-{n}", first_seen=T0) for n in range(600)))
    acknowledged: list[int] = []  # iterations the writer reported complete
    for round_ in range(9):
        child = Child(WRITER, str(tmp_path))
        acknowledged.append(int(child.line()))  # so its first commit swept dead temp files
        # A random moment rarely falls inside a commit, so most rounds aim at one: kill as
        # soon as the journal of a multi-file commit, or a half-written temp file, exists.
        if round_ % 3 == 0:
            for _ in range(1 + round_):
                acknowledged.append(int(child.line()))
        elif round_ % 3 == 1:
            wait_for((tmp_path / "journal.json").exists, "a commit journal")
        else:
            wait_for(lambda: bool(temp_files(tmp_path)), "a temporary file")
        child.kill()

        after = TinyDBStore(tmp_path)  # finishes a commit the kill interrupted
        assert not (tmp_path / "journal.json").exists()
        nxt = after.get_meta("next")
        assert nxt > acknowledged[-1]
        # The killed multi-file transaction landed whole or not at all.
        assert after.get_state("crash") == SourceState("crash", items_total=nxt)
        assert after.get_item(item_id(nxt - 1)) is not None
        assert after.get_item(item_id(nxt)) is None
        for i in range(nxt - 1):
            assert after.get_item(item_id(i)).status == "approved", i  # type: ignore[union-attr]
        for i in acknowledged:
            assert after.get_item(item_id(i)).note == f"note {i}"  # type: ignore[union-attr]
        counts = after.counts()
        assert counts["pending"] + counts["approved"] == 600 + nxt
    with TinyDBStore(tmp_path).transaction():
        pass
    assert not temp_files(tmp_path)


RIVAL = """
    from curator.store import open_store
    from tests.test_store import make_item

    store = open_store(sys.argv[1])
    name, n = sys.argv[2], int(sys.argv[3])
    print("ready", flush=True)
    sys.stdin.readline()
    for j in range(n):
        with store.transaction():
            store.put_item(make_item(f"{name}-{j}"))
        with store.transaction():
            store.put_meta("counter", store.get_meta("counter", 0) + 1)
    print("done", flush=True)
"""


@pytest.mark.slow
def test_two_processes_writing_at_once_lose_nothing(
    store_location: str, store_at: Callable[..., Store]
) -> None:
    """Read-modify-write transactions (a counter) from two processes serialise: none lost."""
    n = 40
    store_at(store_location)
    children = [Child(RIVAL, store_location, name, str(n)) for name in ("a", "b")]
    for child in children:
        assert child.line() == "ready"
    for child in children:
        child.send("go\n")
    for child in children:
        assert child.line() == "done"
        child.finish()
    store = store_at(store_location)
    assert store.get_meta("counter") == 2 * n
    assert {i.id for i in store.items()} == {item_id(f"{c}-{j}") for c in "ab" for j in range(n)}


LOCKER = """
    from curator.exceptions import StoreLocked
    from curator.store import Store, TinyDBStore

    try:
        with TinyDBStore(sys.argv[1]).server_lock():
            print("locked", flush=True)
    except StoreLocked as e:
        print(e, flush=True)
"""


@pytest.mark.slow
def test_one_server_per_store(tmp_path: Path) -> None:
    store = TinyDBStore(tmp_path)
    with store.server_lock():
        assert (tmp_path / ".serve.lock").read_text().strip() == str(os.getpid())
        again = TinyDBStore(tmp_path)
        with (
            pytest.raises(StoreLocked, match=rf"already running on .* \(pid {os.getpid()}\)"),
            again.server_lock(),
        ):
            pass
        child = Child(LOCKER, str(tmp_path))
        message = child.line()
        child.finish()
        assert message == (
            f"another `curator serve` is already running on {tmp_path} (pid {os.getpid()})"
        )
        with store.transaction():  # the server lock does not block transactions
            store.put_meta("k", 1)
    child = Child(LOCKER, str(tmp_path))
    assert child.line() == "locked"
    child.finish()


def test_aliases_are_kept_validated_and_written_only_in_transactions(
    store_location: str, store_at: Callable[..., Store]
) -> None:
    store = store_at(store_location)
    a, b = "0123456789abcdef", "fedcba9876543210"
    with pytest.raises(StoreError):
        store.put_alias(a, b)
    with store.transaction():
        store.put_alias(a, b)
        with pytest.raises(ValueError):
            store.put_alias("not-an-id", b)
    assert store_at(store_location).alias_of(a) == b  # another process sees it
    assert store.alias_of(b) is None and store.alias_of("nonsense") is None
    if not isinstance(store, TinyDBStore):
        return
    broken = store.path / "aliases" / "0.json"
    broken.write_text("{ not json")
    with pytest.raises(StoreCorrupt):
        TinyDBStore(store.path).alias_of(a)
    assert broken.read_text() == "{ not json"


# ------------------------------------------------------------------ items in a window (issue 13)


def _rank(item: Item) -> tuple[datetime, datetime, str]:
    return (item.published, item.reviewed_at or datetime(1970, 1, 1, tzinfo=UTC), item.id)


def test_items_reviewed_since_in_the_outputs_order(store: Store) -> None:
    items = []
    for n in range(150):  # past the first page of a paged backend
        when = T0 + timedelta(hours=n)
        items.append(
            make_item(
                n,
                status="approved",
                reviewed_at=when,
                # Ten articles share each date: the review time, then the id, break ties.
                published=T0 - timedelta(days=n % 15),
            )
        )
    never_reviewed = make_item(200, status="approved", first_seen=T0 + timedelta(days=30))
    assert never_reviewed.reviewed_at is None
    items += [never_reviewed, make_item(201), make_item(202, status="rejected", reviewed_at=T0)]
    put(store, *items)
    since = T0 + timedelta(hours=9)
    got = list(store.items_reviewed_since("approved", since))
    wanted = sorted(
        [i for i in items if i.status == "approved" and (i.reviewed_at or i.first_seen) > since],
        key=_rank,
        reverse=True,
    )
    assert [i.id for i in got] == [i.id for i in wanted] and len(got) == 141
    assert got == wanted  # whole items, decoded
    assert item_id(9) not in {i.id for i in got}  # reviewed exactly at `since`: not later
    assert [i.id for i in store.items_reviewed_since("rejected", T0 - timedelta(1))] == [
        item_id(202)
    ]
    assert list(store.items_reviewed_since("approved", T0 + timedelta(days=31))) == []
    first = next(iter(store.items_reviewed_since("approved", since)))
    assert first == wanted[0]


def test_last_reviewed_and_last_approved_change(store: Store) -> None:
    assert store.last_reviewed("approved", T0) is None
    assert store.last_approved_change() is None
    put(store, make_item(1), make_item(2, status="rejected", reviewed_at=T0 + timedelta(days=9)))
    assert store.last_approved_change() is None  # never approved
    put(
        store,
        make_item(3, status="approved", reviewed_at=T0 + timedelta(days=1)),
        make_item(4, status="approved", reviewed_at=T0 + timedelta(days=3)),
        make_item(5, status="approved", first_seen=T0 + timedelta(days=2)),  # never reviewed
    )
    assert store.last_reviewed("approved", T0 + timedelta(days=2, hours=1)) == T0 + timedelta(2)
    assert store.last_reviewed("approved", T0 + timedelta(days=3)) == T0 + timedelta(days=3)
    assert store.last_reviewed("approved", T0) is None
    assert store.last_reviewed("rejected", T0 + timedelta(days=30)) == T0 + timedelta(days=9)
    assert store.last_approved_change() == T0 + timedelta(days=3)
    edited = make_item(3, status="approved", updated_at=T0 + timedelta(days=5))
    put(store, edited)
    assert store.last_approved_change() == T0 + timedelta(days=5)
    # Rejected after its approval: its change still counts; a rejection alone does not.
    flipped = make_item(
        6,
        status="rejected",
        reviewed_at=T0 + timedelta(days=8),
        updated_at=T0 + timedelta(days=8),
        history=(
            Event(T0 + timedelta(days=7), "approved", "ed"),
            Event(T0 + timedelta(days=8), "rejected", "ed"),
        ),
    )
    put(store, flipped, make_item(7, status="rejected", updated_at=T0 + timedelta(days=20)))
    assert store.last_approved_change() == T0 + timedelta(days=8)


def test_decisions_are_labels_by_id_and_the_latest_review(store: Store) -> None:
    """What the learned ranking's job checks before it reads any item's text: each approved
    and rejected item's label in id order and the latest review, the given reviewer's
    rejections (the model's own) left out."""
    assert store.decisions("model") == ([], None)
    day = timedelta(days=1)
    put(
        store,
        make_item(1),  # pending, never reviewed
        make_item(2, status="approved", reviewed_at=T0 + day, reviewed_by="ed"),
        make_item(3, status="rejected", reviewed_at=T0 + 2 * day, reviewed_by="ed"),
        make_item(4, status="rejected", reviewed_at=T0 + 9 * day, reviewed_by="model"),
        make_item(5, status="approved", reviewed_at=T0 + 3 * day, reviewed_by="model"),
        make_item(6, reviewed_at=T0 + 4 * day, reviewed_by="ed"),  # reopened: no label
        make_item(7, status="approved"),  # approved by a poll's rule: never reviewed
    )
    found = store.decisions("model")
    wanted = sorted([(item_id(2), 1), (item_id(3), 0), (item_id(5), 1), (item_id(7), 1)])
    assert found.labels == wanted
    assert found.latest == T0 + 4 * day and found.latest.tzinfo is not None
    assert store.decisions("ed").labels == sorted(
        [(item_id(2), 1), (item_id(4), 0), (item_id(5), 1), (item_id(7), 1)]
    )
    assert store.decisions("ed").latest == T0 + 9 * day


def test_the_queue_follows_every_commit_and_never_an_undone_write(
    store_location: str, store_at: Callable[..., Store]
) -> None:
    reader, writer = store_at(store_location), store_at(store_location)
    put(writer, *(make_item(n) for n in range(5)))
    assert {i.id for i in reader.items("pending")} == {item_id(n) for n in range(5)}
    put(writer, make_item(1, status="approved"), make_item(9))
    assert {i.id for i in reader.items("pending")} == {item_id(n) for n in (0, 2, 3, 4, 9)}
    put(writer, make_item(2, title="Retitled"))
    assert {i.title for i in reader.items("pending") if i.id == item_id(2)} == {"Retitled"}
    with pytest.raises(RuntimeError), reader.transaction():
        reader.put_item(make_item(0, status="rejected"))
        reader.put_item(make_item(10))
        # Inside its transaction a reader sees its own writes...
        assert {i.id for i in reader.items("pending")} == {item_id(n) for n in (2, 3, 4, 9, 10)}
        raise RuntimeError("undo")
    # ...and once they are undone, never again.
    assert {i.id for i in reader.items("pending")} == {item_id(n) for n in (0, 2, 3, 4, 9)}
    assert reader.counts() == {"pending": 5, "approved": 1, "rejected": 0}


@pytest.mark.parametrize("backend", ["postgres"])
def test_the_queue_notices_rows_removed_behind_its_back(store: Store) -> None:
    import psycopg

    from curator.store.postgres import PostgresStore

    assert isinstance(store, PostgresStore)
    put(store, *(make_item(n) for n in range(4)))
    assert len(store.items("pending")) == 4
    with psycopg.connect(store.url, autocommit=True) as conn:
        conn.execute("DELETE FROM items WHERE id = %s", (item_id(2),))
    assert store.counts()["pending"] == 3
    assert {i.id for i in store.items("pending")} == {item_id(n) for n in (0, 1, 3)}
    with psycopg.connect(store.url, autocommit=True) as conn:
        conn.execute("TRUNCATE items")
    assert store.counts()["pending"] == 0 and store.items("pending") == []


def test_items_for_is_select_over_every_item(store: Store) -> None:
    """The published outputs read a window through the store's queries; they must choose
    exactly what :func:`curator.publish.select` over every item chooses."""
    from curator import publish
    from curator.config import Publish

    day = timedelta(days=1)
    items = []
    for n in range(40):  # approved over 80 days, articles published in another order
        items.append(
            make_item(
                n,
                status="approved",
                reviewed_at=T0 + n * 2 * day,
                published=T0 + ((n * 7) % 40) * day,
                category="research" if n % 3 == 0 else "news",
                updated_at=T0 + n * 2 * day + timedelta(hours=n % 5),
            )
        )
    items[5] = replace(items[5], url="ftp://example.org/not-on-the-web")
    items[6] = replace(items[6], reviewed_at=None, first_seen=T0 + 70 * day)
    flipped = make_item(
        50,
        status="rejected",
        reviewed_at=T0 + 79 * day,
        updated_at=T0 + 79 * day,
        history=(Event(T0 + 78 * day, "approved", "ed"), Event(T0 + 79 * day, "rejected", "ed")),
    )
    put(store, *items, flipped, make_item(51), make_item(52, status="rejected"))
    settings = [Publish(limit=5, max_age=30 * 86400.0), Publish(limit=50, max_age=100 * 86400.0)]
    queries = [
        publish.Query(),
        publish.Query(categories=("research",)),
        publish.Query(limit=2),
        publish.Query(categories=("guidance",)),
    ]
    nows = [T0 + 50 * day, T0 + 79 * day + timedelta(hours=1), T0 + 100 * day, T0 + 400 * day]
    for p in settings:
        for now in nows:
            for q in queries:
                fast = publish.items_for(store, p, now, q)
                assert fast == publish.select(store.items(), p, now, q), (p, now, q)
    # The case that matters most is not vacuous: a full list, and a list that aged out.
    assert len(publish.items_for(store, settings[0], nows[1]).items) == 5
    assert publish.items_for(store, settings[0], nows[3]).items == ()


def test_standing_of_reads_the_ranks_as_standing_reads_every_item(store: Store) -> None:
    """The Approved list's notes (why an approved item is not published) come from the
    store's ranks and the few items that fill the outputs; they must say what
    :func:`curator.publish.standing` over every approved item says."""
    from curator import publish
    from curator.config import Publish

    day = timedelta(days=1)
    items = [
        make_item(
            n,
            status="approved",
            reviewed_at=None if n % 9 == 4 else T0 + (n % 30) * day,
            first_seen=T0 + (n % 17) * day,
            published=T0 + ((n * 7) % 40) * day,
            category=("news", "research", "guidance")[n % 3] if n % 5 else "news",
            url="ftp://example.org/x" if n % 8 == 3 else f"https://example.org/{n}",
        )
        for n in range(60)
    ]
    put(store, *items, make_item(70, status="rejected", reviewed_at=T0 + 29 * day))
    assert sorted(store.approved_ranks(T0 + 10 * day)) == sorted(
        (i.published, i.reviewed_at or publish.EPOCH, i.id, i.category)
        for i in items
        if (i.reviewed_at or i.first_seen) > T0 + 10 * day
    )
    for p in (Publish(limit=4, max_age=15 * 86400.0), Publish(limit=50, max_age=400 * 86400.0)):
        for now in (T0 + 20 * day, T0 + 45 * day, T0 + 900 * day):
            fast = publish.standing_of(store, p, now)
            assert fast == publish.standing(store.items("approved"), p, now), (p, now)
    # Not vacuous: a full list, each category's floor, and an item left out for its link.
    full = publish.standing_of(store, Publish(limit=4, max_age=15 * 86400.0), T0 + 20 * day)
    assert len(full.shown) == 4 and set(full.category_floor) == {"news", "research", "guidance"}
    assert any("http" in full.why_not(i) for i in items if i.url.startswith("ftp"))


def test_iter_items_is_items_and_may_leave_out_what_lacks_a_string(store: Store) -> None:
    items = [
        make_item(n, status=("pending", "approved", "rejected")[n % 3], title=f"Caméra {n}")
        for n in range(12)
    ]
    put(store, *items)
    key = lambda i: i.id  # noqa: E731
    assert sorted(store.iter_items(), key=key) == sorted(store.items(), key=key)
    for status in ("pending", "approved", "rejected"):
        assert sorted(store.iter_items(status), key=key) == sorted(store.items(status), key=key)  # type: ignore[arg-type]
        wanted = [i for i in store.items(status) if "caméra 4" in i.title.casefold()]  # type: ignore[arg-type]
        found = list(store.iter_items(status, ["CAMÉRA 4"]))  # type: ignore[arg-type]
        assert all(i in found for i in wanted)  # never fewer than contain it


def test_undigested_are_the_approved_items_no_digest_carries(store: Store) -> None:
    assert store.undigested() == []
    put(
        store,
        make_item(1, status="approved"),
        make_item(2, status="approved", digest_id="2025-03-01"),
        make_item(3, status="rejected"),
        make_item(4),
        make_item(5, status="approved"),
    )
    assert sorted(store.undigested()) == sorted([item_id(1), item_id(5)])
    put(store, make_item(5, status="approved", digest_id="2025-03-08"))
    assert store.undigested() == [item_id(1)]


def test_items_seen_since(store: Store) -> None:
    put(store, *(make_item(n) for n in range(10)))  # first seen T0 + n minutes
    put(store, make_item(3, status="rejected", reviewed_at=T0 + timedelta(days=9)))
    since = T0 + timedelta(minutes=4)
    assert {i.id for i in store.items_seen_since(since)} == {
        item_id(n) for n in range(4, 10)
    }  # at `since` counts
    got = {i.id: i for i in store.items_seen_since(T0)}
    assert len(got) == 10 and got[item_id(3)].status == "rejected"
    assert store.items_seen_since(T0 + timedelta(days=1)) == []


# ------------------------------------------------------------- shared between processes/instances


def test_a_lock_is_held_by_one_handle_at_a_time(
    store_location: str, store_at: Callable[..., Store]
) -> None:
    one, two = store_at(store_location), store_at(store_location)
    with one.lock("digest-send", wait=0) as held:
        assert held
        with two.lock("digest-send", wait=0) as other:
            assert not other
        with two.lock("something-else", wait=0) as other:
            assert other  # locks are by name
    with two.lock("digest-send", wait=0) as held:
        assert held  # released when the block ended


def test_the_session_key_is_made_once_and_shared(
    store_location: str, store_at: Callable[..., Store]
) -> None:
    key = store_at(store_location).session_key()
    assert len(key) >= 32
    assert store_at(store_location).session_key() == key


def test_a_source_is_claimed_by_one_instance_per_window(
    store_location: str, store_at: Callable[..., Store], backend: str
) -> None:
    store = store_at(store_location)
    assert store.claim({"s": 600}, holder="a", now=T0) == {"s"}
    assert store.claim({"s": 600}, holder="a", now=T0 + timedelta(seconds=1)) == {"s"}  # its own
    assert store.claim({}, holder="a", now=T0) == set()
    later = T0 + timedelta(seconds=601)
    if backend == "tinydb":  # one server per directory: nobody else to claim it
        assert store.claim({"s": 600, "t": 60}, holder="b", now=T0) == {"s", "t"}
        return
    two = T0 + timedelta(seconds=2)
    assert store.claim({"s": 600, "other": 600}, holder="b", now=two) == {"other"}
    assert store.claim({"s": 600}, holder="b", now=later) == {"s"}  # the window passed
    assert store.claim({"s": 600, "other": 600}, holder="a", now=later) == set()
    # Each source's own window: a short interval's claim lapses sooner.
    assert store.claim({"s": 30, "other": 900}, holder="a", now=later + timedelta(seconds=31)) == {
        "s"
    }


def test_instances_claiming_the_same_sources_at_once_poll_each_once(
    database_url: str, store_at: Callable[..., Store]
) -> None:
    """Three instances claim overlapping sets of sources (in different orders, as their
    schedulers fire) at the same instant: each source is won exactly once, and nobody waits
    for ever (two claimers making the same rows never wait for each other in a cycle)."""
    handles = [store_at(database_url) for _ in range(3)]
    barrier = threading.Barrier(len(handles))
    ids = [f"s{n:03d}" for n in range(200)]
    wanted = [ids, list(reversed(ids)), ids[50:] + ids[:50]]
    won: dict[str, set[str]] = {}

    def claim(store: Store, holder: str, order: list[str]) -> None:
        barrier.wait()
        won[holder] = store.claim({sid: 600 for sid in order}, holder=holder, now=T0)

    threads = [
        threading.Thread(target=claim, args=(h, f"instance-{n}", wanted[n]))
        for n, h in enumerate(handles)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert len(won) == 3
    assert sorted(sid for got in won.values() for sid in got) == ids


def test_states_of_some_sources(store: Store) -> None:
    with store.transaction():
        for sid in ("a", "b", "c"):
            store.put_state(SourceState(source_id=sid, etag=f"e-{sid}"))
    assert set(store.states()) == {"a", "b", "c"}
    some = store.states(["c", "a", "missing"])
    assert {k: v.etag for k, v in some.items()} == {"a": "e-a", "c": "e-c"}
    assert store.states([]) == {}


def test_items_page_in_the_lists_order(store: Store) -> None:
    """The Approved and Rejected lists read one page: in exactly the order the web app's
    lists sort by (latest decision first, then id)."""
    from curator.web._items import _sort_key

    day = timedelta(days=1)
    items = [
        make_item(n, status="rejected", reviewed_at=T0 + (n % 7) * day)  # ties: by id
        for n in range(30)
    ]
    items.append(make_item(40, status="rejected", updated_at=T0 + 3 * day + timedelta(hours=1)))
    items.append(make_item(41, status="rejected", first_seen=T0 + 9 * day))  # neither
    items.append(make_item(42, status="approved", reviewed_at=T0 + 20 * day))
    put(store, *items)
    wanted = sorted(store.items("rejected"), key=_sort_key("rejected"))
    assert len(wanted) == 32
    pages = [store.items_page("rejected", start, 10) for start in range(0, 40, 10)]
    assert [len(p) for p in pages] == [10, 10, 10, 2]
    assert [i for p in pages for i in p] == wanted
    assert pages[0][0].id == item_id(41)
    assert store.items_page("approved", 0, 10) == [items[-1]]
    assert store.items_page("pending", 0, 10) == []
    # None: every item, in the All items list's order (newest article first, then id).
    put(store, make_item(43), make_item(44, published=items[0].published))  # a tie: by id
    every = sorted(store.items(), key=_sort_key("all"))
    assert [i for s in range(0, 40, 7) for i in store.items_page(None, s, 7)] == every
