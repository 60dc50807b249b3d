"""`curator items` orders every item by its head (Store.item_heads) and decodes only the items
it prints: its output is the very output of listing every item whole (the code it replaced,
still the path taken when a model must score every item), on both backends, with ties on
the dates at the edge of --limit, with a model, and with a damaged shard.

The comparison runs the command twice: as it is, then with the heads path switched off
(``cli._listed_by_heads`` answering None, its own fallback).
"""

from __future__ import annotations

import contextlib
import io
import json
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from curator import cli
from curator.core import Curator
from curator.store import ItemHead, Store, TinyDBStore
from curator.store import tinydb as backend_module
from curator.types import Item, Status
from tests.test_learn import cur, trained  # noqa: F401  # cur: a fixture
from tests.test_store import FILES_ONLY, T0, make_item, put
from tests.test_store_damage import shard_of

#: The option sets compared: the default, JSON, by rank, a limit that cuts through items
#: tied on (published, first_seen), every status, a status with few items.
ARGVS = [
    ("items",),
    ("items", "--json"),
    ("items", "--sort", "rank"),
    ("items", "--sort", "rank", "--json", "--limit", "7"),
    ("items", "--limit", "6"),
    ("items", "--status", "all", "--limit", "1000"),
    ("items", "--status", "approved"),
    ("items", "--status", "rejected", "--sort", "rank"),
]


@pytest.fixture
def store(store_location: str, store_at: Callable[[str], Store]) -> Store:
    return store_at(store_location)


@pytest.fixture
def settled(monkeypatch: pytest.MonkeyPatch) -> None:
    """Count every file as long unchanged (see tests/test_store_verified.py)."""
    monkeypatch.setattr(backend_module, "_SETTLED_NS", -(10**12))


def many_items() -> list[Item]:
    """90 items: four share each hour (published and first_seen tied), seven scores, some
    decided."""
    out = []
    for n in range(90):
        at = T0 + timedelta(hours=n // 4)
        status = "approved" if n % 9 == 0 else "rejected" if n % 11 == 0 else "pending"
        out.append(make_item(n, score=float(n % 7), published=at, first_seen=at, status=status))
    return out


def write_config(tmp_path: Path) -> Path:
    cfg = tmp_path / "feeds.yaml"
    cfg.write_text(
        "sources:\n  - id: google-news\n    name: Google News\n"
        "    url: https://news.example.org/feed.xml\n"
        "rules:\n  min_score: 3\n  include: {cctv: 3}\n"
    )
    return cfg


def run(cfg: Path, location: str, argv: tuple[str, ...]) -> str:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert cli.main(["--config", str(cfg), "--store", location, *argv]) == 0
    return out.getvalue()


@contextlib.contextmanager
def whole_listing_forbidden(monkeypatch: pytest.MonkeyPatch, store: Store) -> Iterator[None]:
    """Fail any listing of whole items: proves the heads path was taken."""

    def refuse(self: Any, status: Any = None) -> list[Item]:
        raise AssertionError("listed every item whole")

    with monkeypatch.context() as m:
        m.setattr(type(store), "items", refuse)
        yield


def outputs(
    monkeypatch: pytest.MonkeyPatch, cfg: Path, location: str, argvs: list[tuple[str, ...]]
) -> tuple[list[str], list[str]]:
    fast = [run(cfg, location, argv) for argv in argvs]
    with monkeypatch.context() as m:
        m.setattr(cli, "_listed_by_heads", lambda *a, **k: None)
        slow = [run(cfg, location, argv) for argv in argvs]
    return fast, slow


# --------------------------------------------------------------------------- the store


def test_item_heads_are_the_heads_of_the_listed_items(store: Store) -> None:
    items = many_items()
    put(store, *items)
    statuses: tuple[Status | None, ...] = (None, "pending", "approved", "rejected")
    for status in statuses:
        heads = sorted(store.item_heads(status), key=lambda h: h.id)
        expected = sorted((ItemHead.of(i) for i in store.items(status)), key=lambda h: h.id)
        assert heads == expected and len(heads) == sum(
            1 for i in items if status is None or i.status == status
        )


@FILES_ONLY
def test_heads_are_noted_and_a_changed_shard_is_read_again(
    store: Store, settled: None, backend: str
) -> None:
    assert isinstance(store, TinyDBStore)
    items = many_items()
    put(store, *items)
    first = TinyDBStore(store.path)
    expected = sorted(first.item_heads("pending"), key=lambda h: h.id)
    assert (store.path / ".heads.json").exists()

    noted = TinyDBStore(store.path)
    assert sorted(noted.item_heads("pending"), key=lambda h: h.id) == expected
    assert [p for p in noted._shards if p.snap is not None and p.snap.sig is not None] == []

    # An approval elsewhere changes one shard: its noted heads no longer count.
    pending = next(i for i in items if i.status == "pending")
    put(TinyDBStore(store.path), replace(pending, status="approved"))
    after = TinyDBStore(store.path).item_heads("pending")
    assert pending.id not in {h.id for h in after} and len(after) == len(expected) - 1


@FILES_ONLY
def test_a_shard_damaged_behind_the_stores_back_is_left_out_as_items_leaves_it(
    store: Store, settled: None, backend: str, caplog: pytest.LogCaptureFixture
) -> None:
    assert isinstance(store, TinyDBStore)
    put(store, *many_items())
    TinyDBStore(store.path).item_heads()  # noted: verified and heads
    victim = shard_of(store, 0)
    # Still JSON, same size, but an item whose score is not a number: it does not decode.
    raw = victim.read_bytes()
    assert b'"score":0.0' in raw
    victim.write_bytes(raw.replace(b'"score":0.0', b'"score":"0"', 1))
    assert victim.stat().st_size == len(raw)

    fresh = TinyDBStore(store.path)
    heads = fresh.item_heads()
    assert sorted(heads, key=lambda h: h.id) == sorted(
        (ItemHead.of(i) for i in TinyDBStore(store.path).items()), key=lambda h: h.id
    )
    assert not any(h.id[:2] == victim.stem for h in heads)
    assert "left out a damaged item shard" in caplog.text
    (damage,) = TinyDBStore(store.path).damage(deep=True)  # `curator store verify`
    assert damage.path == victim and "score" in damage.reason


def test_unusable_heads_notes_are_ignored(tmp_path: Path, settled: None) -> None:
    store = TinyDBStore(tmp_path / "store")
    put(store, *many_items())
    TinyDBStore(store.path).item_heads()
    notes = store.path / ".heads.json"
    doc = json.loads(notes.read_text())
    name = next(iter(doc["shards"]))
    doc["shards"][name][1] = [["x", "nonsense", "1", None, 3]]  # the signature still matches
    doc["shards"]["../../outside"] = [[0, 0, 0, 0, 0], []]
    notes.write_text(json.dumps(doc))
    fresh = TinyDBStore(store.path)
    assert sorted(fresh.item_heads(), key=lambda h: h.id) == sorted(
        (ItemHead.of(i) for i in store.items()), key=lambda h: h.id
    )
    assert "../../outside" not in json.loads(notes.read_text())["shards"]
    notes.write_bytes(b"\x00 not json")
    assert len(TinyDBStore(store.path).item_heads()) == 90


# --------------------------------------------------------------------------- the command


def test_items_prints_what_listing_every_item_whole_prints(
    store: Store,
    store_location: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    put(store, *many_items())
    cfg = write_config(tmp_path)
    with whole_listing_forbidden(monkeypatch, store):
        fast = [run(cfg, store_location, argv) for argv in ARGVS]
    with monkeypatch.context() as m:
        m.setattr(cli, "_listed_by_heads", lambda *a, **k: None)
        slow = [run(cfg, store_location, argv) for argv in ARGVS]
    for argv, f, s in zip(ARGVS, fast, slow, strict=True):
        assert f == s, argv
    assert len(fast[0].splitlines()) == 50  # the default limit, through tied hours
    assert len(fast[4].splitlines()) == 6
    assert len(json.loads(fast[3])) == 7


def test_items_with_a_model_prints_the_same_learned_values(
    cur: Curator,  # noqa: F811
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    trained(cur)
    put(cur.store, *(make_item(n, score=float(n % 5)) for n in range(3000, 3080)))
    cfg = write_config(tmp_path)
    location = str(cur.store.location)
    newest = [a for a in ARGVS if "rank" not in a]
    with whole_listing_forbidden(monkeypatch, cur.store):
        fast = [run(cfg, location, argv) for argv in newest]
    _, slow = outputs(monkeypatch, cfg, location, newest)
    for argv, f, s in zip(newest, fast, slow, strict=True):
        assert f == s, argv
    assert isinstance(json.loads(fast[1])[0]["learned"], float)  # the model's probability
    # By rank a model needs every item's probability: the whole listing, as before.
    ranked, again = outputs(monkeypatch, cfg, location, [a for a in ARGVS if "rank" in a])
    assert ranked == again


def test_items_is_unchanged_after_an_item_changes_between_the_two_reads(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Heads read, then another process approves a listed item: the command falls back to
    the whole listing instead of printing a stale status."""
    store = TinyDBStore(tmp_path / "store")
    items = many_items()
    put(store, *items)
    cfg = write_config(tmp_path)
    newest = max((i for i in items if i.status == "pending"), key=lambda i: i.first_seen)
    heads = TinyDBStore.item_heads

    def then_approve(self: TinyDBStore, status: Any = None) -> list[ItemHead]:
        found = heads(self, status)
        put(TinyDBStore(self.path), replace(newest, status="approved"))
        return found

    monkeypatch.setattr(TinyDBStore, "item_heads", then_approve)
    out = run(cfg, str(store.path), ("items",))
    assert newest.id not in out and len(out.splitlines()) == 50


def test_a_shard_damaged_between_the_two_reads_is_left_out_as_the_whole_listing_does(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    store = TinyDBStore(tmp_path / "store")
    items = many_items()
    put(store, *items)
    cfg = write_config(tmp_path)
    newest = max((i for i in items if i.status == "pending"), key=lambda i: i.first_seen)
    victim = store.path / "items" / f"{newest.id[:2]}.json"
    heads = TinyDBStore.item_heads

    def then_damage(self: TinyDBStore, status: Any = None) -> list[ItemHead]:
        found = heads(self, status)
        victim.write_bytes(b'{"items": {"' + newest.id.encode())  # cut short
        return found

    monkeypatch.setattr(TinyDBStore, "item_heads", then_damage)
    out = run(cfg, str(store.path), ("items", "--status", "all", "--limit", "1000"))
    lost = {i.id for i in items if i.id[:2] == newest.id[:2]}
    assert {line.split()[0] for line in out.splitlines()} == {i.id for i in items} - lost
    assert f"left out a damaged item shard path={victim}" in caplog.text
