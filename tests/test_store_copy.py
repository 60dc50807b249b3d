"""``curator store copy``: a whole store moved table by table, then proved the same.

On real TinyDB stores in tmp_path, and through ``curator.cli.main`` for the command.  ``fill``
(every table holding something), ``api_view`` (all of it read back through the ordinary
methods) and :func:`curator.store.copy.checksums` are what a test of another backend's copy
needs too.
"""

from __future__ import annotations

import hashlib
import json
import os
import stat
from collections.abc import Callable, Iterable
from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from curator import digests
from curator.cli import main
from curator.exceptions import StoreCorrupt, StoreError
from curator.store import Store, TinyDBStore
from curator.store.api import TABLES
from curator.store.codecs import dt_out
from curator.store.copy import checksum, checksums, copy
from curator.types import Event, SeenEntry, SourceState, User
from tests.test_store import (
    FULL_DIGEST,
    FULL_ITEM,
    FULL_STATE,
    FULL_USER,
    T0,
    item_id,
    make_item,
    make_near_miss,
)
from tests.test_store_contract import shard_path

MODEL = {
    "version": 1,
    "trained_at": "2025-03-04T10:00:00+00:00",
    "examples": 40,
    "approved": 22,
    "rejected": 18,
    "blocks": {
        "title": {"terms": ["cctv", "police", "camera"], "idf": [1.2, 0.7, 2.5]},
        "source": {"terms": ["google-news"], "idf": [1.0]},
    },
    "coef": [0.25, -1.5, 3.0, 0.0],
    "intercept": -0.125,
}


def seen_entry(n: int, seen_at: Any) -> SeenEntry:
    url = f"https://example.org/seen/{n}"
    return SeenEntry(
        id=hashlib.sha256(url.encode()).hexdigest()[:16],
        source_id="google-news",
        title=f"Town {n} debates camera plan",
        url=url + "?ref=rss",
        canonical_url=url,
        summary="The council will vote on the cameras next week.",
        published=seen_at - timedelta(hours=3),
        seen_at=seen_at,
        outcome=("kept", "near_miss", "dropped")[n % 3],
        score=n / 4,
        matched=("cctv",) if n % 2 else (),
        why="title: cctv",
    )


SEEN = [seen_entry(n, T0 + timedelta(hours=7 * n)) for n in range(12)]  # several buckets
RESEARCH = make_item(
    "paper",
    category="research",
    doi="10.1234/CCTV.2025.01",
    arxiv_id="2503.00001",
    venue="Journal of Surveillance Studies",
    open_access=True,
    publication_date="2025-03",
    enriched_at=T0,
)


def fill(store: Store) -> None:
    """A store as a season of use leaves it: every table holds something."""
    decided = [
        make_item(
            n,
            status=status,
            reviewed_by="alice",
            reviewed_at=T0 + timedelta(days=1),
            history=(
                Event(at=T0, action="created"),
                Event(at=T0 + timedelta(days=1), action=status, by="alice", note="ok"),
            ),
        )
        for n, status in ((1, "approved"), (2, "rejected"), (3, "approved"))
    ]
    with store.transaction():
        for item in [FULL_ITEM, RESEARCH, *decided, *(make_item(n) for n in range(10, 40))]:
            store.put_item(item)
        store.put_alias(item_id("mirror-1"), item_id(1))
        store.put_alias(item_id("mirror-2"), FULL_ITEM.id)
        store.put_lookup(
            "crossref:10.1234/cctv.2025.01",
            at=T0,
            ok=True,
            meta={"title": "Cameras and consent", "authors": ["Ana Ñúñez"]},
            error=None,
        )
        store.put_lookup("page:https://example.org/x", at=T0, ok=False, meta=None, error="404")
        store.put_state(FULL_STATE)
        store.put_state(SourceState("home-office", consecutive_errors=0, items_total=9))
        store.put_state(SourceState("ifsec", etag='"v2"', last_status=200))
        store.put_user(FULL_USER)
        store.put_user(User("bob", "$argon2id$v=19$m=65536,t=3,p=4$x$y", T0, admin=True))
        store.put_digest(FULL_DIGEST)
        store.put_digest(replace(FULL_DIGEST, id="2025-w09", created_at=T0 - timedelta(days=7)))
        store.put_meta(digests.LAST_END, T0.isoformat())
        store.put_meta("session_gen:alice", 3)
        store.put_meta("subscribers", {"r@example.org": {"status": "active", "by": "bob"}})
        store.put_meta("note", ["ünïcode ✓", None, 1.5, True])
        for n in range(4):
            store.put_near_miss(make_near_miss(n, T0 + timedelta(hours=n)))
        store.keep_seen(SEEN)
        store.put_model(MODEL)
    store.session_key()


def api_view(store: Store) -> dict[str, Any]:
    """Everything the rest of Curator can read from *store*, through its ordinary methods."""
    return {
        "items": sorted(store.items(), key=lambda i: i.id),
        "full": store.get_item(FULL_ITEM.id),
        "counts": store.counts(),
        "title": store.find_by_title(FULL_ITEM.title_key, T0 - timedelta(days=1)),
        "aliases": [store.alias_of(item_id("mirror-1")), store.alias_of(item_id("mirror-2"))],
        "research": store.find_by_research_id(("doi:10.1234/cctv.2025.01",)),
        "arxiv": store.find_by_research_id(("arxiv:2503.00001",)),
        "lookups": [
            store.get_lookup("crossref:10.1234/cctv.2025.01"),
            store.get_lookup("page:https://example.org/x"),
        ],
        "states": store.states(),
        "users": store.users(),
        "digests": store.digests(),
        "meta": [
            store.get_meta(k)
            for k in (digests.LAST_END, "session_gen:alice", "subscribers", "note")
        ],
        "near": store.near_misses(),
        "seen": store.seen(),
        "model": store.get_model(),
        "key": store.session_key(),
    }


def shard_counts(root: Path) -> dict[str, int]:
    """What ``shards.json`` says each item shard holds, the empty ones left out."""
    shards = json.loads((root / "shards.json").read_text())["shards"]
    return {k: v["items"] for k, v in shards.items() if v["items"]}


@pytest.fixture
def source(tmp_path: Path) -> TinyDBStore:
    store = TinyDBStore(tmp_path / "a")
    fill(store)
    return store


# ----------------------------------------------------------------------------- the library


def test_a_round_trip_through_two_copies_keeps_every_table_and_object(
    source: TinyDBStore, tmp_path: Path
) -> None:
    told: list[tuple[str, int]] = []
    b = TinyDBStore(tmp_path / "b")
    report = copy(source, b, progress=lambda t, n: told.append((t, n)))
    assert report.ok and report.mismatched == ()
    c = TinyDBStore(tmp_path / "c")
    assert copy(TinyDBStore(tmp_path / "b"), c).ok

    sums = checksums(source)
    assert checksums(TinyDBStore(tmp_path / "b")) == sums
    assert checksums(TinyDBStore(tmp_path / "c")) == sums
    counts = {t: n for t, (n, _) in sums.items()}
    assert counts == {
        "items": 35,
        "aliases": 2,
        "titles": 35,
        "research_ids": 2,
        "research_cache": 2,
        "sources": 2,  # "home-office" twice: the second replaced the first
        "users": 2,
        "digests": 2,
        "near_misses": 4,
        "seen": 12,
        "meta": 4,
        "model": 1,
        "secret": 1,
    }
    assert told == [(t, counts[t]) for t in TABLES]
    assert [(t.table, t.copied, t.source_count) for t in report.tables] == [
        (t, counts[t], counts[t]) for t in TABLES
    ]

    expected = api_view(source)
    assert expected["full"] == FULL_ITEM and expected["research"] == RESEARCH
    assert len(expected["seen"]) == len(SEEN) and expected["key"]
    for copied in (TinyDBStore(tmp_path / "b"), TinyDBStore(tmp_path / "c"), c):
        assert api_view(copied) == expected
    assert stat.S_IMODE(os.stat(tmp_path / "c" / "secret_key").st_mode) == 0o600
    # The derived item counts are the target's own, right for what it holds.
    assert TinyDBStore(tmp_path / "c").damage(deep=True) == []
    held: dict[str, int] = {}
    for item in expected["items"]:
        held[item.id[:2]] = held.get(item.id[:2], 0) + 1
    assert shard_counts(tmp_path / "c") == held


def test_kept_entries_are_filed_by_their_own_time_in_the_target(
    source: TinyDBStore, tmp_path: Path
) -> None:
    target = TinyDBStore(tmp_path / "b")
    copy(source, target)
    for entry in SEEN:
        bucket = target._seen_bucket(entry.seen_at).path.relative_to(target.path)
        assert (source._seen_bucket(entry.seen_at).path.relative_to(source.path)) == bucket
        assert entry.id in json.loads((target.path / bucket).read_text())["seen"]


def test_the_checksum_is_sha256_of_the_canonical_json_of_the_sorted_pairs(
    source: TinyDBStore,
) -> None:
    for table in ("items", "meta", "seen", "secret"):
        pairs = list(source.dump(table))
        assert [k for k, _ in pairs] == sorted(k for k, _ in pairs)
        canonical = json.dumps(
            [[k, d] for k, d in pairs], sort_keys=True, separators=(",", ":"), ensure_ascii=False
        )
        want = hashlib.sha256(canonical.encode()).hexdigest()
        assert checksum(iter(pairs)) == (len(pairs), want)
    # Any change to a document changes it; so does the order the backend gives them in.
    one = [("a", {"x": 1}), ("b", {"x": 2})]
    assert checksum(iter(one)) != checksum(iter([("a", {"x": 1}), ("b", {"x": 3})]))
    with pytest.raises(StoreError, match="ascending key order"):
        checksum(iter(one[::-1]))
    with pytest.raises(StoreError, match="ascending key order"):
        checksum(iter([one[0], one[0]]))


def test_items_dump_as_the_codecs_write_them(source: TinyDBStore) -> None:
    """An item stored before a field existed dumps with that field at its default, as a
    backend that decoded and encoded it would (the checksums of two backends then agree)."""
    path = shard_path(source, FULL_ITEM.id)
    raw = json.loads(path.read_text())
    del raw["items"][FULL_ITEM.id]["story"]
    del raw["items"][FULL_ITEM.id]["venue"]
    path.write_text(json.dumps(raw))
    dumped = dict(TinyDBStore(source.path).dump("items"))[FULL_ITEM.id]
    assert dumped["story"] == [] and dumped["venue"] is None


def test_a_non_empty_target_is_refused_and_left_as_it_was(
    source: TinyDBStore, tmp_path: Path
) -> None:
    target = TinyDBStore(tmp_path / "b")
    with target.transaction():
        target.put_meta("mine", 1)
    before = checksums(target)
    with pytest.raises(StoreError, match=r"is not empty.*--replace"):
        copy(source, target)
    assert checksums(TinyDBStore(tmp_path / "b")) == before
    # A session key alone is not data: a store `serve` was started on once is still empty.
    fresh = TinyDBStore(tmp_path / "c")
    fresh.session_key()
    assert fresh.is_empty()
    assert copy(source, fresh).ok
    assert fresh.session_key() == source.session_key()


def test_replace_empties_the_target_first(source: TinyDBStore, tmp_path: Path) -> None:
    target = TinyDBStore(tmp_path / "b")
    fill(target)  # the same tables, different content
    with target.transaction():
        target.put_item(make_item(99))
        target.put_user(User("carol", "h", T0))
        target.put_state(replace(FULL_STATE, source_id="gone-source"))
    target.items()  # a warm cache of decoded items, which the copy must not leave stale
    old_key = target.session_key()
    report = copy(source, target, replace=True)
    assert report.ok
    assert api_view(target) == api_view(source)
    assert target.get_item(item_id(99)) is None and target.get_user("carol") is None
    assert "gone-source" not in target.states()
    assert target.session_key() == source.session_key() != old_key
    assert checksums(TinyDBStore(tmp_path / "b")) == checksums(source)
    assert shard_counts(tmp_path / "b") == shard_counts(tmp_path / "a")


def test_a_source_without_a_session_key_leaves_none_in_the_target(tmp_path: Path) -> None:
    """A target whose only data is its own session key counts as empty; the copy leaves it
    the source's key, or none when the source has none (so the two verify alike)."""
    src = TinyDBStore(tmp_path / "a")
    with src.transaction():
        src.put_user(FULL_USER)
    target = TinyDBStore(tmp_path / "b")
    target.session_key()
    report = copy(src, target)
    assert report.ok and not (tmp_path / "b" / "secret_key").exists()
    assert target.users() == [FULL_USER]


def test_replace_with_a_source_without_a_session_key_removes_the_targets(
    tmp_path: Path,
) -> None:
    src = TinyDBStore(tmp_path / "a")
    with src.transaction():
        src.put_item(FULL_ITEM)
    target = TinyDBStore(tmp_path / "b")
    fill(target)
    assert copy(src, target, replace=True).ok
    assert not (tmp_path / "b" / "secret_key").exists()
    assert target.items() == [FULL_ITEM]


def test_a_damaged_source_file_stops_the_copy_before_anything_is_written(
    source: TinyDBStore, tmp_path: Path
) -> None:
    path = shard_path(source, FULL_ITEM.id)
    path.write_bytes(path.read_bytes()[:100])  # cut short
    target = TinyDBStore(tmp_path / "b")
    with pytest.raises(StoreError) as e:
        copy(TinyDBStore(source.path), target)
    assert str(path) in str(e.value) and "run `curator store repair` first" in str(e.value)
    assert target.is_empty() and not (tmp_path / "b" / "secret_key").exists()


def test_a_document_that_does_not_decode_stops_the_copy_and_nothing_is_kept(
    source: TinyDBStore, tmp_path: Path
) -> None:
    """The file itself parses, so only decoding every document finds it: the source is read
    through once before anything is written."""
    path = tmp_path / "a" / "users.json"
    raw = json.loads(path.read_text())
    raw["users"]["bob"]["created_at"] = "last tuesday"
    path.write_text(json.dumps(raw))
    target = TinyDBStore(tmp_path / "b")
    with pytest.raises(StoreError) as e:
        copy(TinyDBStore(source.path), target)
    assert str(path) in str(e.value) and "'bob'" in str(e.value)
    assert "run `curator store repair` first" in str(e.value)
    assert target.is_empty() and TinyDBStore(tmp_path / "b").is_empty()
    assert list((tmp_path / "b" / "items").iterdir()) == []


def test_a_copy_that_fails_half_way_leaves_the_target_as_it_was(
    source: TinyDBStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One transaction of the target: items, titles and the rest already loaded when a later
    table fails are dropped with it (here the kept entries' file goes bad between the
    checksum pass and the copy's own read of it)."""
    target = TinyDBStore(tmp_path / "b")
    with target.transaction():
        target.put_meta("mine", 1)
    before = checksums(target)
    real = TinyDBStore.dump
    reads: dict[str, int] = {}

    def failing(self: TinyDBStore, table: str) -> Any:
        reads[table] = reads.get(table, 0) + 1
        if table == "seen" and reads[table] == 2:
            raise StoreCorrupt(self.path / "seen" / "00.json", "went bad")
        return real(self, table)

    monkeypatch.setattr(TinyDBStore, "dump", failing)
    with pytest.raises(StoreError, match=r"went bad.*Nothing was copied"):
        copy(source, target, replace=True)
    monkeypatch.undo()
    assert checksums(target) == before == checksums(TinyDBStore(tmp_path / "b"))
    assert reads["items"] == 2  # the items were loaded, then dropped


def test_the_same_store_is_refused_however_it_is_named(source: TinyDBStore, tmp_path: Path) -> None:
    before = checksums(source)
    (tmp_path / "link").symlink_to(tmp_path / "a")
    for other in (TinyDBStore(tmp_path / "a"), TinyDBStore(tmp_path / "link")):
        with pytest.raises(StoreError, match="both the source and the target"):
            copy(source, other, replace=True)
    assert checksums(TinyDBStore(tmp_path / "a")) == before


def test_load_checks_each_document_and_writes_nothing_of_a_bad_batch(tmp_path: Path) -> None:
    store = TinyDBStore(tmp_path / "s")
    with store.transaction():
        store.put_item(FULL_ITEM)
    doc = dict(store.dump("items"))[FULL_ITEM.id]
    fresh = TinyDBStore(tmp_path / "t")
    bad: list[tuple[str, Any]] = [
        ("0123456789abcdef", doc),  # the id inside says otherwise
        ("not-an-id", doc),
        (FULL_ITEM.id, {**doc, "published": "yesterday"}),
        (FULL_ITEM.id, ["not", "an", "object"]),
    ]
    for key, value in bad:
        with pytest.raises(StoreError, match="refused to load"):
            fresh.load("items", [(FULL_ITEM.id, doc), (key, value)])
        assert fresh.is_empty()
    with pytest.raises(StoreError, match="refused to load"):
        fresh.load("meta", [("x", {"value": float("nan")})])
    with pytest.raises(StoreError, match="refused to load"):
        fresh.load("secret", [("session", {"value": "short"})])
    with pytest.raises(ValueError, match="no table 'shards'"):
        fresh.load("shards", [])
    assert fresh.is_empty() and not (tmp_path / "t" / "secret_key").exists()
    assert fresh.load("items", [(FULL_ITEM.id, doc)]) == 1
    assert fresh.get_item(FULL_ITEM.id) == FULL_ITEM


def test_is_empty_counts_a_damaged_file_as_data(tmp_path: Path) -> None:
    store = TinyDBStore(tmp_path / "s")
    assert store.is_empty()
    (tmp_path / "s" / "seen" / "05.json").write_text("{not json")
    assert not TinyDBStore(tmp_path / "s").is_empty()


def test_a_damaged_target_is_not_written_over_by_replace(
    source: TinyDBStore, tmp_path: Path
) -> None:
    target = TinyDBStore(tmp_path / "b")
    (tmp_path / "b" / "users.json").write_text("{not json")
    with pytest.raises(StoreCorrupt):
        copy(source, target, replace=True)
    assert (tmp_path / "b" / "users.json").read_text() == "{not json"
    assert not (tmp_path / "b" / "secret_key").exists()


# ----------------------------------------------------------------------------- the command


def run(argv: Iterable[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_the_command_copies_verifies_and_needs_no_config(
    source: TinyDBStore, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: Any
) -> None:
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)  # no feeds.yaml here, and no ./store must be made
    monkeypatch.delenv("CURATOR_DATABASE_URL", raising=False)
    code, out, err = run(["store", "copy", "--from", str(source.path), "--to", "../b"], capsys)
    assert code == 0, err
    assert list(work.iterdir()) == []
    lines = out.splitlines()
    assert lines[0].split()[:3] == ["table", "source", "target"]
    sums = checksums(source)
    for table, line in zip(TABLES, lines[1:], strict=False):
        n, sha = sums[table]
        assert line.split() == [table, str(n), str(n), sha[:16], "ok"]
    assert lines[-1].endswith("entries in 13 tables, verified")
    for table in TABLES:
        assert any(e.split() == [table, str(sums[table][0])] for e in err.splitlines()), err
    assert checksums(TinyDBStore(tmp_path / "b")) == sums

    # Again: the target now holds data.
    code, out, err = run(["store", "copy", "--from", str(source.path), "--to", "../b"], capsys)
    assert code == 1 and "is not empty" in err and "--replace" in err and out == ""
    code, out, err = run(
        ["store", "copy", "--from", str(source.path), "--to", "../b", "--replace"], capsys
    )
    assert code == 0 and out.splitlines()[-1].endswith("verified")


def test_the_command_names_the_tables_that_do_not_match(
    source: TinyDBStore, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: Any
) -> None:
    """A target that loses a document (here a load that drops the last editor) is caught
    by the verification, not trusted because the load returned."""
    real = TinyDBStore.load

    def lossy(self: TinyDBStore, table: str, docs: Iterable[tuple[str, Any]]) -> int:
        docs = list(docs)
        return real(self, table, docs[:-1] if table in ("users", "seen") else docs)

    monkeypatch.setattr(TinyDBStore, "load", lossy)
    code, out, err = run(
        ["store", "copy", "--from", str(source.path), "--to", str(tmp_path / "b")], capsys
    )
    assert code == 1
    assert "error: the copy differs from the source in: users, seen" in err
    rows = {line.split()[0]: line for line in out.splitlines()[1:-1]}
    assert rows["users"].split()[1:3] == ["2", "1"] and rows["users"].endswith("DIFFERS")
    assert rows["items"].endswith(" ok")
    assert out.splitlines()[-1].endswith("NOT verified")


def test_the_command_refuses_a_damaged_source_and_the_same_store(
    source: TinyDBStore, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run(
        ["store", "copy", "--from", str(source.path), "--to", str(tmp_path / "a" / ".")], capsys
    )
    assert code == 2 and "is both --from and --to" in err
    (tmp_path / "a" / "meta.json").write_text("[")
    code, out, err = run(
        ["store", "copy", "--from", str(source.path), "--to", str(tmp_path / "b")], capsys
    )
    assert code == 1 and out == ""
    assert f"{tmp_path / 'a' / 'meta.json'}: the file does not load" in err
    assert "run `curator store repair` first" in err
    assert not (tmp_path / "b").exists()  # the directory made for the copy is removed


def test_the_command_needs_both_ends(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as e:
        main(["store", "copy", "--from", "store"])
    assert e.value.code == 2 and "--to" in capsys.readouterr().err


def test_the_command_refuses_directories_that_are_not_stores(
    source: TinyDBStore, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Opening a store directory makes it: a mistyped --from must not copy an empty store,
    nor a --to naming a folder of other files fill it with store files."""
    code, out, err = run(
        ["store", "copy", "--from", str(tmp_path / "typo"), "--to", str(tmp_path / "b")], capsys
    )
    assert code == 2 and "not a Curator store directory" in err and out == ""
    assert not (tmp_path / "typo").exists() and not (tmp_path / "b").exists()
    home = tmp_path / "home"
    home.mkdir()
    (home / "notes.txt").write_text("mine")
    code, out, err = run(["store", "copy", "--from", str(source.path), "--to", str(home)], capsys)
    assert code == 2 and "neither a Curator store directory nor an empty directory" in err
    assert sorted(p.name for p in home.iterdir()) == ["notes.txt"]
    empty = tmp_path / "empty"
    empty.mkdir()
    assert run(["store", "copy", "--from", str(source.path), "--to", str(empty)], capsys)[0] == 0


def test_an_unusable_session_key_stops_the_copy_saying_what_to_do(
    source: TinyDBStore, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "a" / "secret_key").write_text("short\n")
    code, out, err = run(
        ["store", "copy", "--from", str(source.path), "--to", str(tmp_path / "b")], capsys
    )
    assert code == 1 and out == ""
    assert f"{tmp_path / 'a' / 'secret_key'}: the session key must be at least 32" in err
    assert "delete it" in err
    assert TinyDBStore(tmp_path / "b").is_empty()


def test_loading_a_kept_entry_moves_it_to_the_file_of_its_time(tmp_path: Path) -> None:
    store = TinyDBStore(tmp_path / "s")
    entry = SEEN[0]
    with store.transaction():
        store.keep_seen([entry])
    later = replace(entry, seen_at=entry.seen_at + timedelta(days=2))
    doc = dict(TinyDBStore(tmp_path / "s").dump("seen"))[entry.id]
    assert store.load("seen", [(entry.id, {**doc, "seen_at": dt_out(later.seen_at)})]) == 1
    assert store.seen() == [later]
    holding = [p.name for p in (tmp_path / "s" / "seen").iterdir() if entry.id in p.read_text()]
    assert holding == [store._seen_bucket(later.seen_at).path.name]


def test_clear_empties_one_table_and_says_how_much_it_held(source: TinyDBStore) -> None:
    with source.transaction():
        assert source.clear("users") == 2
        assert source.clear("seen") == len(SEEN)
        assert source.clear("secret") == 1
        assert source.clear("secret") == 0
    assert source.users() == [] and source.seen() == []
    assert not (source.path / "secret_key").exists()
    again = TinyDBStore(source.path)
    assert again.users() == [] and again.seen() == [] and len(again.items()) == 35
    with pytest.raises(ValueError, match="no table 'shards'"):
        again.clear("shards")


# ------------------------------------------------------------ to PostgreSQL and back (issue 13)


def test_a_store_copied_to_postgresql_and_back_is_the_same(
    source: TinyDBStore,
    tmp_path: Path,
    database_url: str,
    store_at: Callable[..., Store],
    capsys: pytest.CaptureFixture[str],
) -> None:
    sums = checksums(source)
    code, out, err = run(
        ["store", "copy", "--from", str(source.path), "--to", database_url], capsys
    )
    assert code == 0, err
    assert out.splitlines()[-1].endswith("entries in 13 tables, verified")
    database = store_at(database_url)
    assert checksums(database) == sums
    assert api_view(database) == api_view(source)  # every object, through the ordinary API
    code, out, err = run(
        ["store", "copy", "--from", database_url, "--to", str(tmp_path / "back")], capsys
    )
    assert code == 0, err
    back = TinyDBStore(tmp_path / "back")
    assert checksums(back) == sums and api_view(back) == api_view(source)
    assert back.damage(deep=True) == []


def test_replace_into_postgresql_empties_the_database_first(
    source: TinyDBStore, database_url: str, store_at: Callable[..., Store]
) -> None:
    database = store_at(database_url)
    with database.transaction():
        database.put_item(make_item(99))
        database.put_user(User("carol", "h", T0))
    with pytest.raises(StoreError, match="is not empty"):
        copy(source, database)
    assert copy(source, database, replace=True).ok
    assert database.get_item(item_id(99)) is None and database.get_user("carol") is None
    assert checksums(store_at(database_url)) == checksums(source)


def test_a_document_postgresql_cannot_hold_is_named_not_a_traceback(
    database_url: str, store_at: Callable[..., Store]
) -> None:
    """A NUL character (which feed text never carries: curator.normalize strips it, but a
    hand-made store may) is refused by PostgreSQL's jsonb: a StoreError saying so, and
    nothing of the transaction written."""
    database = store_at(database_url)
    nul = make_item(5, title="CCTV \x00 upgrade")
    with pytest.raises(StoreError, match=r"refused a value.*\\u0000"), database.transaction():
        database.put_item(make_item(4))
        database.put_item(nul)
    assert database.get_item(nul.id) is None and database.get_item(item_id(4)) is None
