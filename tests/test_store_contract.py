"""What the store promises the rest of Curator, each test guarding one promise that a mutation
test of curator/store.py showed no other test checking: damage is reported naming the file and
the document, repair restores what it can and names what is lost, a commit a crash left between
its renames is completed rather than thrown away, and what one process writes another loads.

All on a real Store in tmp_path (and, for the codecs, a real second Python process).
"""

from __future__ import annotations

import errno
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from curator.exceptions import StoreCorrupt, StoreError
from curator.store import Store, TinyDBStore, to_json
from curator.types import DigestRecord, SourceState
from tests.test_store import DEADLINE, FULL_ITEM, ROOT, T0, item_id, make_item, put


def shard_path(store: Store, key: str) -> Path:
    return store.path / "items" / f"{key[:2]}.json"


# ------------------------------------------------------------ one process writes, another reads


def test_what_one_process_writes_another_loads_and_a_malformed_value_is_refused(
    tmp_path: Path,
) -> None:
    """The CLI, the server and the poller are separate processes: an item with every kind of
    field (dates, nested matches and events, an event's before/after pairs, a status) written
    by one must load, equal, in a fresh process; and a value the store could not read back (an
    event change that is not a before/after pair) is refused with ValueError when written, not
    stored to make the shard unreadable later.

    The writing and first reading happen in a child process because the store derives its
    codecs once, at import: a process started afresh is what exercises that derivation.
    """
    script = """
        import sys
        from dataclasses import replace
        from curator.store import Store, TinyDBStore
        from curator.types import Event
        from tests.test_store import FULL_ITEM, T0, make_item

        path = sys.argv[1]
        writer = TinyDBStore(path)
        with writer.transaction():
            writer.put_item(FULL_ITEM)
        assert TinyDBStore(path).get_item(FULL_ITEM.id) == FULL_ITEM, "fresh store differs"
        bad = make_item(8, history=(Event(at=T0, action="edited", changes={"title": ("x",)}),))
        try:
            with writer.transaction():
                writer.put_item(bad)
        except ValueError:
            print("refused")
        else:
            print("stored")
        print("ok")
    """
    code = f"import sys; sys.path.insert(0, {str(ROOT)!r})\n" + textwrap.dedent(script)
    done = subprocess.run(
        [sys.executable, "-c", code, str(tmp_path / "store")],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=DEADLINE,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["refused", "ok"]
    reader = TinyDBStore(tmp_path / "store")
    assert reader.get_item(FULL_ITEM.id) == FULL_ITEM
    assert reader.get_item(item_id(8)) is None
    assert reader.damage(deep=True) == []


# ------------------------------------------------------------------ damage names file and document


def _damage_state(store: Store) -> Path:
    """A sources.json whose one state has a field of the wrong type (as a hand edit makes)."""
    with store.transaction():
        store.put_state(SourceState("home-office", last_status=200))
    path = store.path / "sources.json"
    data = json.loads(path.read_text())
    data["sources"]["home-office"]["last_status"] = "two hundred"
    path.write_text(json.dumps(data))
    return path


def test_a_source_state_that_does_not_decode_names_its_file_source_and_field(
    tmp_path: Path,
) -> None:
    """The editor reading the error must be able to find what to fix: the file, the source
    and the field."""
    path = _damage_state(TinyDBStore(tmp_path / "store"))
    store = TinyDBStore(tmp_path / "store")
    with pytest.raises(StoreCorrupt) as caught:
        store.get_state("home-office")
    assert caught.value.path == path
    message = str(caught.value)
    assert str(path) in message
    assert "'home-office'" in message
    assert "last_status" in message


def test_store_verify_finds_a_source_state_that_does_not_decode(tmp_path: Path) -> None:
    """``curator store verify`` (a deep damage check) must list sources.json when one of its
    states does not decode, although the file itself is valid JSON."""
    path = _damage_state(TinyDBStore(tmp_path / "store"))
    store = TinyDBStore(tmp_path / "store")
    assert store.damage() == []  # cheap check: the file loads
    found = store.damage(deep=True)
    assert [(d.name, d.path) for d in found] == [("sources.json", path)]
    assert "home-office" in found[0].reason


def test_an_item_filed_under_another_id_is_damage_naming_its_shard(tmp_path: Path) -> None:
    """An item whose stored id differs from its key (a hand edit, a bad merge of two files)
    would be served under the wrong id: it is refused as damage of its shard, naming both."""
    store = TinyDBStore(tmp_path / "store")
    put(store, make_item(1))
    key = item_id(1)
    other = key[:2] + "0" * 14  # same shard, another id
    path = shard_path(store, key)
    data = json.loads(path.read_text())
    data["items"] = {other: data["items"][key]}
    path.write_text(json.dumps(data))
    with pytest.raises(StoreCorrupt) as caught:
        TinyDBStore(tmp_path / "store").get_item(other)
    assert caught.value.path == path
    assert other in str(caught.value) and key in str(caught.value)


def test_a_count_file_with_a_count_that_is_not_a_number_is_damage(tmp_path: Path) -> None:
    """shards.json says what a damaged shard cost; a count that is not a whole number (or a key
    that is no shard) makes the file damaged, listed by damage(), never a crash of it."""
    store = TinyDBStore(tmp_path / "store")
    put(store, make_item(1))
    counts = store.path / "shards.json"
    for table in ({"00": {"items": "many"}}, {"zz": {"items": 3}}):
        counts.write_text(json.dumps({"shards": table}))
        assert [d.name for d in TinyDBStore(tmp_path / "store").damage()] == ["shards.json"]


# ---------------------------------------------------------------------------------------- repair


def test_repair_names_an_item_a_digest_sent_that_a_damaged_shard_lost(tmp_path: Path) -> None:
    """A digest lists the items it sent: when their shard is lost, repair names them, so the
    editor knows which approved items to add again."""
    store = TinyDBStore(tmp_path / "store")
    lost = make_item(1, title_key="")  # no same-title entry: only the digest knows it
    put(store, lost)
    with store.transaction():
        store.put_digest(
            DigestRecord(
                id="2025-w10",
                period_start=T0,
                period_end=T0,
                item_ids=(lost.id,),
                message_id="<2025-w10@curator.example>",
                created_at=T0,
                subject="CCTV in policing: week 10",
                recipients={"a@example.org": "sent"},
            )
        )
    shard_path(store, lost.id).write_bytes(b"\x00 torn")
    repaired = TinyDBStore(tmp_path / "store").repair()
    shards = [r for r in repaired if r.name.startswith("items/")]
    assert [r.lost_ids for r in shards] == [(lost.id,)]


def test_repair_ignores_a_backup_whose_table_is_not_an_object(tmp_path: Path) -> None:
    """A backup is read, not trusted: a sources.json in it whose table is a list restores
    nothing, and the repair still moves the damaged file aside and leaves a usable store."""
    store = TinyDBStore(tmp_path / "store")
    with store.transaction():
        store.put_state(SourceState("s"))
    (store.path / "sources.json").write_bytes(b"{torn")
    again = TinyDBStore(tmp_path / "store")
    backup = {"sources.json": json.dumps({"sources": [to_json(SourceState("s"))]}).encode()}
    repaired = again.repair(backup.get)
    assert [(r.name, r.from_backup) for r in repaired] == [("sources.json", 0)]
    assert repaired[0].moved_to.is_file()
    assert again.states() == {}
    assert again.damage(deep=True) == []


def test_repair_completes_a_valid_journal_instead_of_setting_it_aside(tmp_path: Path) -> None:
    """A readable journal is a commit a crash interrupted between its renames (here by another
    process, after this Store was opened): repair must finish it, as any transaction does, not
    move it aside as damage and lose the files it lists."""
    store = TinyDBStore(tmp_path / "store")
    put(store, make_item(1))
    tmp_sources = store.path / ".sources.json.1.aaaa.tmp"
    tmp_sources.write_text(json.dumps({"sources": {"s": to_json(SourceState("s", gone=True))}}))
    journal = store.path / "journal.json"
    journal.write_text(json.dumps({"renames": [[tmp_sources.name, "sources.json"]]}))
    assert store.repair() == []
    assert not journal.exists()
    assert not (store.path / "damaged").exists()
    assert TinyDBStore(tmp_path / "store").get_state("s") == SourceState("s", gone=True)


# ---------------------------------------------------------------------------------- check_writable


def test_check_writable_says_which_folder_cannot_be_written_and_why(tmp_path: Path) -> None:
    """``curator serve`` refuses to start on a store it cannot write, with one line naming the
    folder and the system's reason (here a file where the items folder should be, which even
    root cannot write into), never a traceback."""
    store = TinyDBStore(tmp_path / "store")
    items = store.path / "items"
    for shard in items.iterdir():
        shard.unlink()
    items.rmdir()
    items.write_bytes(b"")
    with pytest.raises(StoreError, match="not writable") as caught:
        store.check_writable()
    assert str(items) in str(caught.value)
    assert os.strerror(errno.ENOTDIR) in str(caught.value)  # the system's reason


def test_check_writable_probes_the_backups_folder(tmp_path: Path) -> None:
    """The daily backups of ``serve`` go to backups/: an unwritable one is reported at start,
    not at the first backup.  Stood in for by a link to /proc, a folder no one (not even root,
    who writes through permissions) can create a file in, like a read-only mount."""
    store = TinyDBStore(tmp_path / "store")
    backups = store.path / "backups"
    backups.mkdir()
    store.check_writable()  # a writable one passes, and the probe leaves nothing behind
    assert list(backups.iterdir()) == []
    if not Path("/proc/self").is_dir():
        pytest.skip("needs /proc")
    backups.rmdir()
    backups.symlink_to("/proc")
    with pytest.raises(StoreError, match="not writable") as caught:
        store.check_writable()
    assert str(backups) in str(caught.value)
