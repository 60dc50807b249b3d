"""The damage check's shortcut (``.verified.json``): a file found to load is only stat'ed
again while its signature holds, and any change behind the store's back is still parsed.

Files are damaged on disk the ways it happens: bytes overwritten in place (same size), the
mtime set back, a same-mtime copy renamed over the file.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from curator.cli import main
from curator.store import TinyDBStore
from curator.store import tinydb as backend
from tests.test_store import make_item, put
from tests.test_store_damage import shard_of


@pytest.fixture
def settled(monkeypatch: pytest.MonkeyPatch) -> None:
    """Count every file as long unchanged, as files are minutes after a poll (their ctime
    is otherwise too recent to be noted, see test_a_file_changed_just_now_is_not_noted)."""
    monkeypatch.setattr(backend, "_SETTLED_NS", -(10**12))


def filled(path: Path) -> TinyDBStore:
    store = TinyDBStore(path)
    put(store, *(make_item(n) for n in range(40)))
    return store


def parsed(store: TinyDBStore) -> list[str]:
    """The files this store object has read from disk (a missing file has no signature)."""
    return [
        name
        for name, part in store._by_name.items()
        if part.snap is not None and part.snap.sig is not None
    ]


def overwrite_in_place(path: Path, keep_mtime: bool) -> None:
    """Same size, same inode: bytes in the middle become garbage."""
    st = os.stat(path)
    with open(path, "r+b") as f:
        f.seek(st.st_size // 2)
        f.write(b"\x00garbage\x00")
    if keep_mtime:
        os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))
    after = os.stat(path)
    assert after.st_size == st.st_size and after.st_ino == st.st_ino


def test_a_settled_file_found_to_load_is_only_statted_next_time(
    tmp_path: Path, settled: None
) -> None:
    store = filled(tmp_path / "store")
    first = TinyDBStore(store.path)
    assert first.damage() == []
    assert len(parsed(first)) > 10  # every present file was read once
    noted = json.loads((store.path / ".verified.json").read_text())["files"]
    assert set(noted) == {name for name in first.data_files() if name != "secret_key"}

    again = TinyDBStore(store.path)
    assert again.damage() == []
    assert parsed(again) == []  # nothing read: every file was only stat'ed
    assert len(again.items()) == 40  # and reading works as ever


def test_same_size_damage_in_place_is_still_found(
    tmp_path: Path,
    settled: None,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    store = filled(tmp_path / "store")
    assert TinyDBStore(store.path).damage() == []  # noted as verified
    victim = shard_of(store, 0)
    overwrite_in_place(victim, keep_mtime=False)

    (damage,) = TinyDBStore(store.path).damage()
    assert damage.path == victim and "does not load" in str(damage)

    monkeypatch.chdir(tmp_path)
    (tmp_path / "feeds.yaml").write_text("sources: []\n")
    assert main(["sources"]) == 0
    assert f"{victim}: does not load" in capsys.readouterr().err
    assert main(["sources"]) == 0  # the damage is not noted as verified: it stays reported
    assert f"{victim}: does not load" in capsys.readouterr().err


def test_a_same_mtime_copy_renamed_over_a_file_is_found(tmp_path: Path, settled: None) -> None:
    store = filled(tmp_path / "store")
    assert TinyDBStore(store.path).damage() == []
    victim = store.path / "titles.json"
    st = os.stat(victim)
    raw = victim.read_bytes()
    copy = victim.with_name("copy.json")
    copy.write_bytes(raw[:-2] + b"]]")  # same size, no longer JSON
    os.utime(copy, ns=(st.st_atime_ns, st.st_mtime_ns))
    os.replace(copy, victim)
    assert os.stat(victim).st_mtime_ns == st.st_mtime_ns and victim.stat().st_size == len(raw)

    (damage,) = TinyDBStore(store.path).damage()
    assert damage.name == "titles.json" and "same-title index" in str(damage)


def test_a_file_changed_just_now_is_not_noted(tmp_path: Path) -> None:
    """Within the ctime's tick a change with the mtime set back would keep the signature:
    a file written moments ago is parsed by every check until it has settled."""
    store = filled(tmp_path / "store")
    assert TinyDBStore(store.path).damage() == []
    assert not (store.path / ".verified.json").exists()  # everything was just written

    victim = shard_of(store, 0)
    overwrite_in_place(victim, keep_mtime=True)
    (damage,) = TinyDBStore(store.path).damage()
    assert damage.path == victim


def test_a_file_read_earlier_by_this_process_is_not_noted_from_memory(
    tmp_path: Path, settled: None
) -> None:
    """What this process parsed minutes ago says nothing of the bytes now on disk when only
    the ctime moved (mtime set back): only a file read by the check itself is noted."""
    store = filled(tmp_path / "store")
    reader = TinyDBStore(store.path)
    assert len(reader.items()) == 40  # every shard read into memory
    assert reader.damage() == []
    noted = json.loads((store.path / ".verified.json").read_text())["files"]
    assert not any(name.startswith("items/") for name in noted)


def test_an_unusable_cache_means_a_full_check_and_is_rewritten(
    tmp_path: Path, settled: None
) -> None:
    store = filled(tmp_path / "store")
    victim = shard_of(store, 0)
    cache = store.path / ".verified.json"
    for junk in (b"\x00\xff", b"[]", b'{"files": {"items/00.json": "x", "../x": [1,2,3,4,5]}}'):
        cache.write_bytes(junk)
        fresh = TinyDBStore(store.path)
        assert fresh.damage() == []
        assert len(parsed(fresh)) > 10  # nothing trusted: every file read
        noted = json.loads(cache.read_text())["files"]
        assert f"items/{victim.name}" in noted and "../x" not in noted

    overwrite_in_place(victim, keep_mtime=False)
    assert [d.path for d in TinyDBStore(store.path).damage()] == [victim]


def test_deep_checks_ignore_and_never_write_the_cache(tmp_path: Path, settled: None) -> None:
    """``curator store verify`` and backups decode everything, and leave no cache behind in
    a backup's snapshot folder."""
    store = filled(tmp_path / "store")
    deep = TinyDBStore(store.path)
    assert deep.damage(deep=True) == []
    assert not (store.path / ".verified.json").exists()
    assert TinyDBStore(store.path).damage() == []  # a cheap check notes the files
    verify = TinyDBStore(store.path)
    assert verify.damage(deep=True) == []
    assert len(parsed(verify)) > 10
    assert ".verified.json" not in store.data_files()
