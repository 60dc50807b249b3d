"""The embedded store's per-shard index (curator/store/tinydb.py, ``_ItemView``): what
``serve`` keeps instead of every decoded item.  Every listing it answers must be what the
items themselves say, after this process's commits, after another process's, and around
damaged or unusual files."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from tinydb import TinyDB

from curator.exceptions import StoreCorrupt
from curator.store import TinyDBStore
from curator.store.tinydb import _EPOCH, _scan_items
from curator.types import STATUSES, Event, Item, Status
from tests.test_store import T0, item_id, make_item, put

DAY = timedelta(days=1)
ROOT = Path(__file__).resolve().parents[1]


def mixed(n: int) -> Item:
    """Item *n* in one of several states: pending, approved, rejected (some by the model),
    reviewed or not, edited, approved once then rejected, non-ASCII text."""
    kind = n % 6
    base = make_item(n, title=f"Caméra n°{n} — «test»", published=T0 - (n % 11) * DAY)
    if kind == 0:
        return base
    if kind == 1:
        return replace(base, status="approved", reviewed_at=T0 + (n % 13) * DAY, reviewed_by="ed")
    if kind == 2:
        return replace(base, status="rejected", reviewed_at=T0 + (n % 5) * DAY, reviewed_by="model")
    if kind == 3:
        digest = "2025-03-01" if n % 4 == 1 else None  # some sent in a digest
        return replace(base, status="approved", updated_at=T0 + (n % 7) * DAY, digest_id=digest)
    if kind == 4:
        return replace(
            base,
            status="rejected",
            reviewed_at=T0 + 8 * DAY,
            reviewed_by="ed",
            updated_at=T0 + 8 * DAY,
            history=(Event(T0 + 7 * DAY, "approved", "ed"), Event(T0 + 8 * DAY, "rejected", "ed")),
        )
    return replace(base, reviewed_at=T0 + 3 * DAY, reviewed_by="ed")  # reopened: pending


def expected(items: list[Item], store: TinyDBStore) -> None:
    """Every index-answered listing of *store* against the same question asked of *items*
    directly (the way the store answered before it had an index)."""
    by_id = {i.id: i for i in items}
    key = lambda i: i.id  # noqa: E731
    assert sorted(store.items(), key=key) == sorted(items, key=key)
    for status in STATUSES:
        of = [i for i in items if i.status == status]
        assert sorted(store.items(status), key=key) == sorted(of, key=key)
        assert store.counts()[status] == len(of)
        page = sorted(
            of, key=lambda i: (-(i.reviewed_at or i.updated_at or i.first_seen).timestamp(), i.id)
        )
        assert store.items_page(status, 0, 10**6) == page
        assert store.items_page(status, 3, 4) == page[3:7]
        for since in (T0 - 30 * DAY, T0 + 2 * DAY, T0 + 30 * DAY):
            window = [i for i in of if (i.reviewed_at or i.first_seen) > since]
            window.sort(key=lambda i: (i.published, i.reviewed_at or _EPOCH, i.id), reverse=True)
            assert list(store.items_reviewed_since(status, since)) == window
            times = [i.reviewed_at or i.first_seen for i in of]
            assert store.last_reviewed(status, since) == max(
                (t for t in times if t <= since), default=None
            )
    changes = [
        i.updated_at or i.reviewed_at or i.first_seen
        for i in items
        if i.status == "approved" or any(e.action == "approved" for e in i.history)
    ]
    assert store.last_approved_change() == max(changes, default=None)
    seen = sorted((i for i in items if i.first_seen >= T0 + timedelta(minutes=20)), key=key)
    assert sorted(store.items_seen_since(T0 + timedelta(minutes=20)), key=key) == seen
    mine = [i for i in items if i.status == "rejected" and i.reviewed_by == "model"]
    decided = [i for i in items if i.status in ("approved", "rejected") and i not in mine]
    found = store.decisions("model")
    assert found.labels == sorted((i.id, int(i.status == "approved")) for i in decided)
    reviewed = [i.reviewed_at for i in items if i.reviewed_at and i not in mine]
    assert found.latest == max(reviewed, default=None)
    undigested = [i.id for i in items if i.status == "approved" and i.digest_id is None]
    assert sorted(store.undigested()) == sorted(undigested)
    assert any(i.digest_id for i in items) or len(items) < 10
    for item_key, item in by_id.items():
        assert store.get_item(item_key) == item


def decoded_kept(store: TinyDBStore) -> set[Status]:
    """The statuses of the Items the store keeps decoded in memory."""
    return {
        item.status
        for shard in store._shards
        if shard.snap is not None and shard.snap.view is not None
        for item in shard.snap.view.decoded.values()
    }


def test_the_index_answers_as_the_items_do_and_keeps_only_pending_items_decoded(
    tmp_path: Path,
) -> None:
    items = [mixed(n) for n in range(60)]
    put(TinyDBStore(tmp_path / "store"), *items)
    store = TinyDBStore(tmp_path / "store")
    expected(items, store)
    assert decoded_kept(store) == {"pending"}


def test_the_index_follows_this_processes_commits(tmp_path: Path) -> None:
    items = {i.id: i for i in map(mixed, range(60))}
    store = TinyDBStore(tmp_path / "store")
    put(store, *items.values())
    store.counts()  # every shard indexed, as serve's warm-up leaves them
    for n in range(0, 60, 7):  # approve, reject, edit, add: each a commit of its own
        old = items[item_id(n)]
        if old.status == "pending":
            new = replace(old, status="approved", reviewed_at=T0 + 20 * DAY, reviewed_by="ed")
        else:
            new = replace(old, status="pending", reviewed_at=None, updated_at=T0 + 21 * DAY)
        added = mixed(100 + n)
        put(store, new, added)
        items[new.id], items[added.id] = new, added
        expected(list(items.values()), store)
    assert decoded_kept(store) == {"pending"}
    # Inside a transaction, its own writes are seen before they are committed.
    with store.transaction():
        gone = replace(items[item_id(1)], status="rejected", reviewed_at=T0 + 30 * DAY)
        store.put_item(gone)
        assert store.get_item(gone.id) == gone
        assert store.items_page("rejected", 0, 1) == [gone]
        raise_after = store.counts()["rejected"]
    assert raise_after == sum(1 for i in items.values() if i.status == "rejected") + 1


def test_a_failed_transaction_leaves_the_index_as_it_was(tmp_path: Path) -> None:
    items = [mixed(n) for n in range(30)]
    store = TinyDBStore(tmp_path / "store")
    put(store, *items)
    store.counts()
    with pytest.raises(RuntimeError), store.transaction():
        store.put_item(replace(items[0], status="rejected"))
        raise RuntimeError("undone")
    expected(items, store)


def test_the_index_follows_another_processes_writes(tmp_path: Path) -> None:
    items = {i.id: i for i in map(mixed, range(40))}
    store = TinyDBStore(tmp_path / "store")
    put(store, *items.values())
    store.counts()
    script = textwrap.dedent(
        f"""
        import sys
        from dataclasses import replace
        from datetime import timedelta
        sys.path.insert(0, {str(ROOT)!r})
        from curator.store import TinyDBStore
        from tests.test_store import T0, item_id
        from tests.test_store_index import mixed
        store = TinyDBStore({str(tmp_path / "store")!r})
        with store.transaction():
            for n in range(0, 40, 3):
                old = store.get_item(item_id(n))
                store.put_item(replace(old, status="approved", reviewed_by="other",
                                       reviewed_at=T0 + timedelta(days=40 + n)))
            store.put_item(mixed(500))
        """
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    for n in range(0, 40, 3):
        old = items[item_id(n)]
        items[old.id] = replace(
            old, status="approved", reviewed_by="other", reviewed_at=T0 + (40 + n) * DAY
        )
    items[item_id(500)] = mixed(500)
    expected(list(items.values()), store)


def test_an_index_made_before_another_writer_reads_items_as_they_are_now(
    tmp_path: Path,
) -> None:
    """A listing holds a shard's index while another writer replaces the file: the items
    it then decodes are read as the file holds them now (not from stale offsets)."""
    first = make_item(1, status="approved", reviewed_at=T0)
    second = next(
        make_item(n, status="approved") for n in range(2, 500) if item_id(n)[:2] == first.id[:2]
    )
    store = TinyDBStore(tmp_path / "store")
    put(store, first, second)
    view = store._shard(first.id).committed_view()
    edited = replace(first, title="A much longer title than before, moving every offset")
    put(TinyDBStore(tmp_path / "store"), edited)
    rows = [view.row(first.id), view.row(second.id)]
    assert None not in rows
    assert view.fetch(r for r in rows if r is not None) == {first.id: edited, second.id: second}


def test_a_damaged_shard_is_left_out_and_comes_back_repaired(tmp_path: Path) -> None:
    items = [mixed(n) for n in range(60)]
    store = TinyDBStore(tmp_path / "store")
    put(store, *items)
    store.counts()
    hit = items[1].id[:2]
    shard = tmp_path / "store" / "items" / f"{hit}.json"
    good = shard.read_bytes()
    shard.write_bytes(good[: len(good) // 2])  # another process's torn write
    expected([i for i in items if i.id[:2] != hit], store)
    with pytest.raises(StoreCorrupt):  # as before the index: named, never half-read
        store.get_item(items[1].id)
    assert [d.name for d in store.damage()] == [f"items/{hit}.json"]
    shard.write_bytes(good)  # put back as it was (repair would salvage it likewise)
    expected(items, store)
    assert store.damage() == []


def test_an_item_that_no_longer_decodes_leaves_its_shard_out(tmp_path: Path) -> None:
    items = [mixed(n) for n in range(30)]
    store = TinyDBStore(tmp_path / "store")
    put(store, *items)
    store.counts()
    bad = items[2]
    path = tmp_path / "store" / "items" / f"{bad.id[:2]}.json"
    data = json.loads(path.read_text())
    data["items"][bad.id]["score"] = "high"
    path.write_text(json.dumps(data))
    rest = [i for i in items if i.id[:2] != bad.id[:2]]
    assert sorted(store.items("approved"), key=lambda i: i.id) == sorted(
        (i for i in rest if i.status == "approved"), key=lambda i: i.id
    )
    assert sum(store.counts().values()) == len(rest)
    assert [d.name for d in store.damage()] == [f"items/{bad.id[:2]}.json"]


@pytest.mark.parametrize(
    "dump",
    [
        lambda d: json.dumps(d),  # json's default spaces
        lambda d: json.dumps(d, indent=2),
        lambda d: " \n" + json.dumps(d, ensure_ascii=False, separators=(",", ":")) + "\n",
        lambda d: json.dumps(d, ensure_ascii=True),  # \\u escapes: offsets still in characters
    ],
)
def test_files_in_other_json_layouts_load_the_same(tmp_path: Path, dump: Any) -> None:
    items = [mixed(n) for n in range(40)]
    put(TinyDBStore(tmp_path / "store"), *items)
    for path in (tmp_path / "store" / "items").glob("*.json"):
        path.write_text(dump(json.loads(path.read_text())))
    expected(items, TinyDBStore(tmp_path / "store"))


def test_a_file_written_by_tinydb_itself_loads(tmp_path: Path) -> None:
    item = mixed(3)
    put(TinyDBStore(tmp_path / "store"), item)
    path = tmp_path / "store" / "items" / f"{item.id[:2]}.json"
    docs = json.loads(path.read_text())["items"]
    path.unlink()
    with TinyDB(path) as db:  # TinyDB's own writer: its spacing, int-looking keys as given
        db.table("items").insert_multiple([])
        db.storage.write({"items": docs})
    expected([item], TinyDBStore(tmp_path / "store"))


@pytest.mark.parametrize(
    "text",
    [
        '{"items":{}}',
        ' { "items" : { } } ',
        '{"items":{"a":{"x":"}\\"{"},"b":{"y":[1,{"z":2}]}}}',
        '{"items":{"a":{"x":1},"a":{"x":2}}}',  # a repeated key: the last, as json.loads
    ],
)
def test_the_scan_finds_what_json_loads_finds_and_where(text: str) -> None:
    scanned = _scan_items(text)
    assert scanned is not None
    docs, spans = scanned
    assert {"items": docs} == json.loads(text)
    assert {key: json.loads(text[a:b]) for key, (a, b) in spans.items()} == docs


@pytest.mark.parametrize(
    "text",
    ["", "{}", '{"items":{"a":1}', '{"items":{}, "other":{}}', '{"items":[]}', '["items"]'],
)
def test_the_scan_leaves_anything_else_to_json(text: str) -> None:
    assert _scan_items(text) is None


def test_a_commit_writes_what_json_dumps_writes(tmp_path: Path) -> None:
    """The commit writes an items file piece by piece to know each item's offsets: the
    bytes are json.dumps's, so files stay the same whichever version wrote them."""
    items = [mixed(n) for n in range(20)]
    put(TinyDBStore(tmp_path / "store"), *items)
    for path in (tmp_path / "store" / "items").glob("*.json"):
        text = path.read_text(encoding="utf-8")
        again = json.dumps(json.loads(text), ensure_ascii=False, separators=(",", ":"))
        assert text == again


def test_times_compare_exactly_to_the_microsecond(tmp_path: Path) -> None:
    """The index keeps whole microseconds, not float seconds: two reviews one microsecond
    apart still sort, and a window's edge is exact."""
    at = datetime(2025, 3, 1, 12, 0, 0, 999_999, tzinfo=T0.tzinfo)
    a = make_item(1, status="approved", reviewed_at=at)
    b = make_item(2, status="approved", reviewed_at=at + timedelta(microseconds=1))
    store = TinyDBStore(tmp_path / "store")
    put(store, a, b)
    assert store.items_page("approved", 0, 2) == [b, a]
    assert list(store.items_reviewed_since("approved", at)) == [b]
    assert store.last_reviewed("approved", at) == at


def test_iter_items_leaves_out_early_what_lacks_a_string_and_only_that(tmp_path: Path) -> None:
    """The filtered Approved and Rejected lists: items whose JSON text lacks a word are
    not decoded; whatever JSON escapes or a file's \\u escapes never hide one that has it."""
    items = [
        make_item(1, status="approved", title="Caméra à l'école"),
        make_item(2, status="approved", title='A "quoted" word'),
        make_item(3, status="approved", title="Nothing to see"),
        make_item(4, status="approved", note="alpha\nomega"),
        make_item(5, status="approved", title="Die Straße"),  # folds longer: "strasse"
    ]
    store = TinyDBStore(tmp_path / "store")
    put(store, *items)
    store.counts()

    def ids(*needles: str) -> list[str]:
        return sorted(i.id for i in store.iter_items("approved", needles))

    assert ids("CAMÉRA", "école") == [items[0].id]
    assert ids('"quoted"') == sorted(i.id for i in items)  # escaped in JSON: not used
    assert ids("quoted") == [items[1].id]
    assert ids("omega") == [items[3].id]
    assert ids("strasse") == [items[4].id]
    assert ids("absent-word") == []
    for path in (tmp_path / "store" / "items").glob("*.json"):  # \u escapes everywhere
        path.write_text(json.dumps(json.loads(path.read_text()), ensure_ascii=True))
    store = TinyDBStore(tmp_path / "store")
    assert items[0].id in ids("caméra")


def test_a_shard_rewritten_in_place_with_its_time_put_back_is_named_not_a_traceback(
    tmp_path: Path,
) -> None:
    """rsync --inplace -t: the same inode, size and modification time, other bytes.  The
    index's offsets then point into something else: reading an item says which file and
    what to do, as any damage does, instead of raising a JSON error."""
    import os

    first = make_item(1, status="approved", reviewed_at=T0)
    other = next(
        make_item(n, status="approved") for n in range(2, 500) if item_id(n)[:2] != first.id[:2]
    )
    store = TinyDBStore(tmp_path / "store")
    put(store, first, other)
    store.items("approved")  # the index of its shard, with the item's offsets
    assert store.get_item(first.id) == first and store.get_item(other.id) == other
    shard = tmp_path / "store" / "items" / f"{first.id[:2]}.json"
    st = shard.stat()
    text = shard.read_bytes()
    at = text.index(b'{"id"')
    with open(shard, "r+b") as f:  # in place: the inode stays
        f.seek(at)
        f.write(b"#" * 5)
    os.utime(shard, ns=(st.st_atime_ns, st.st_mtime_ns))
    with pytest.raises(StoreCorrupt, match="changed in place") as e:
        store.get_item(first.id)
    assert e.value.path == shard
