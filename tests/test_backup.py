"""Backups and restores on real files, with a real writer process running meanwhile.

The writer is a ``python -c`` child that approves items one transaction at a time; each
transaction also moves a counter in meta.json, so an archive that was not taken at one moment
(an item shard from one commit, meta.json from another) shows up as a counter that disagrees
with the approvals.  Waits are on the child's output lines, never sleeps.
"""

from __future__ import annotations

import asyncio
import io
import json
import os
import subprocess
import sys
import tarfile
import textwrap
from datetime import timedelta
from pathlib import Path

import pytest

from curator import backup, config, schedule
from curator.cli import main
from curator.core import make_curator
from curator.exceptions import StoreError
from curator.store import Store, TinyDBStore
from curator.types import DigestRecord, SourceState
from tests.test_store import ROOT, T0, make_item, put
from tests.webkit import EDITOR, add_editor

ITEMS = 40

WRITER = textwrap.dedent(
    """
    import sys
    from dataclasses import replace
    from datetime import timedelta
    from curator.store import Store, TinyDBStore
    from curator.types import Event
    from tests.test_store import T0, make_item

    store = TinyDBStore(sys.argv[1])
    for n in range(int(sys.argv[2])):
        item = make_item(n)
        at = T0 + timedelta(hours=1, minutes=n)
        with store.transaction():
            store.put_item(replace(
                item, status="approved", reviewed_by="writer", reviewed_at=at, note=f"n{n}",
                history=(*item.history, Event(at=at, action="approved", by="writer")),
            ))
            store.put_meta("approved", n + 1)
        print(n, flush=True)
    """
)


def fill(store: Store) -> None:
    """Every kind of data a store holds."""
    put(store, *(make_item(n) for n in range(ITEMS)))
    add_editor(store)
    with store.transaction():
        store.put_state(SourceState("src", etag='"x"', last_success=T0, items_total=ITEMS))
        store.put_digest(
            DigestRecord(
                id="2025-03-03",
                kind="readers",
                created_at=T0,
                period_start=T0 - timedelta(days=7),
                period_end=T0,
                item_ids=("a" * 16,),
                recipients={"r@example.org": "sent"},
                status="sent",
                message_id="<d@example.org>",
                subject="This week",
            )
        )
        store.put_meta("approved", 0)
    (store.path / "secret_key").write_text("k" * 64 + "\n")


def consistent(store: Store) -> int:
    """The number of approvals in a restored store, checked against its counter."""
    approvals = [i for i in store.items("approved")]
    assert store.get_meta("approved") == len(approvals)
    for item in approvals:
        assert item.reviewed_by == "writer" and item.history[-1].action == "approved"
    return len(approvals)


def test_backup_while_a_writer_runs_then_restore_finds_every_decision(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    store = TinyDBStore(tmp_path / "store")
    fill(store)
    writer = subprocess.Popen(
        [sys.executable, "-c", WRITER, str(store.path), str(ITEMS)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert writer.stdout is not None
    archives: list[Path] = []
    try:
        for n in (1, 15):
            while int(writer.stdout.readline()) < n:
                pass
            out = tmp_path / f"during-{n}.tar.gz"
            archives.append(backup.backup(store, out, now=T0).path)
        assert writer.wait(timeout=120) == 0
    finally:
        if writer.poll() is None:
            writer.kill()
            writer.wait()

    seen = []
    for n, archive in enumerate(archives):
        target = TinyDBStore(tmp_path / f"restored-{n}")
        backup.restore(target, archive)
        seen.append(consistent(target))
    assert 1 <= seen[0] <= seen[1]

    # After the writer: through the command line, every record comes back as it was.
    final = tmp_path / "final.tar.gz"
    args = ["--config", str(tmp_path / "none.yaml"), "--store", str(store.path)]
    (tmp_path / "none.yaml").write_text("sources: []\n")
    assert main([*args, "backup", "--out", str(final)]) == 0
    assert f"wrote {final}" in capsys.readouterr().out
    assert final.stat().st_mode & 0o777 == 0o600
    empty = tmp_path / "empty"
    restore_args = ["--config", str(tmp_path / "none.yaml"), "--store", str(empty)]
    assert main([*restore_args, "restore", str(final)]) == 0
    assert f"{ITEMS} items" in capsys.readouterr().out
    restored = TinyDBStore(empty)
    assert consistent(restored) == ITEMS
    assert sorted(restored.items(), key=lambda i: i.id) == sorted(store.items(), key=lambda i: i.id)
    assert restored.users() == store.users() and restored.users()[0].name == EDITOR
    assert restored.states() == store.states()
    assert restored.digests() == store.digests()
    assert (empty / "secret_key").read_text() == (store.path / "secret_key").read_text()
    assert restored.damage(deep=True) == []


def test_restore_refuses_a_store_with_data_and_an_unsound_archive(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    store = TinyDBStore(tmp_path / "store")
    fill(store)
    archive = backup.backup(store, tmp_path / "b.tar.gz", now=T0).path
    cfg = tmp_path / "feeds.yaml"
    cfg.write_text("sources: []\n")

    def restore(target: Path, file: Path) -> tuple[int, str]:
        code = main(["--config", str(cfg), "--store", str(target), "restore", str(file)])
        return code, capsys.readouterr().err

    code, err = restore(store.path, archive)
    assert code == 1 and "is not empty" in err and "Traceback" not in err

    # A file changed inside the archive: refused by its checksum, nothing written.
    with tarfile.open(archive) as tar:
        members = [(m, tar.extractfile(m).read()) for m in tar]  # type: ignore[union-attr]
    tampered = tmp_path / "tampered.tar.gz"
    with tarfile.open(tampered, "w:gz") as tar:
        for member, data in members:
            if member.name == "users.json":
                data = data.replace(EDITOR.encode(), b"mallory")
            member.size = len(data)
            tar.addfile(member, io.BytesIO(data))
    code, err = restore(tmp_path / "t", tampered)
    assert code == 1 and "users.json does not match its checksum" in err
    assert TinyDBStore(tmp_path / "t").data_files() == []

    (tmp_path / "junk.tar.gz").write_bytes(b"not an archive")
    code, err = restore(tmp_path / "j", tmp_path / "junk.tar.gz")
    assert code == 1 and "not a usable Curator backup" in err
    code, err = restore(tmp_path / "m", tmp_path / "missing.tar.gz")
    assert code == 1 and "no such file" in err

    # A member outside the store's files is refused (no path tricks on restore).
    evil = tmp_path / "evil.tar.gz"
    with tarfile.open(evil, "w:gz") as tar:
        body = b"{}"
        info = tarfile.TarInfo("../outside.json")
        info.size = len(body)
        tar.addfile(info, io.BytesIO(body))
    code, err = restore(tmp_path / "e", evil)
    assert code == 1 and "not a file of a Curator store" in err
    assert not (tmp_path / "outside.json").exists()


def test_a_backup_leaves_out_a_damaged_file_and_says_so(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    store = TinyDBStore(tmp_path / "store")
    fill(store)
    (store.path / "digests.json").write_bytes(b"{")
    cfg = tmp_path / "feeds.yaml"
    cfg.write_text("sources: []\n")
    out = tmp_path / "b.tar.gz"
    assert (
        main(["--config", str(cfg), "--store", str(store.path), "backup", "--out", str(out)]) == 1
    )
    assert "left out" in capsys.readouterr().err
    manifest, files = backup.read_archive(out, store)
    assert manifest["left_out"] == ["digests.json"] and "digests.json" not in files
    assert manifest["items"] == ITEMS


def test_daily_backups_rotate(tmp_path: Path) -> None:
    store = TinyDBStore(tmp_path / "store")
    fill(store)
    made = [backup.daily(store, 2, T0 + timedelta(days=d)) for d in range(3)]
    assert all(info is not None for info in made)
    assert backup.daily(store, 2, T0 + timedelta(days=2, hours=5)) is None  # not due yet
    kept = backup.archives(backup.default_dir(store))
    assert [p.name for p in kept] == [
        backup.archive_name(T0 + timedelta(days=1)),
        backup.archive_name(T0 + timedelta(days=2)),
    ]
    manifest, _ = backup.read_archive(kept[-1], store)
    assert manifest["items"] == ITEMS and json.loads(json.dumps(manifest))["format"]


def test_serve_schedules_the_daily_backup_from_the_store_section(tmp_path: Path) -> None:
    class Clock:
        now = T0

        def __call__(self) -> object:
            return self.now

    cfg = config.loads("store: {backups: 3}\ndigest: {enabled: false}\n")
    cur = make_curator(cfg, store=TinyDBStore(tmp_path / "store"), clock=Clock())  # type: ignore[arg-type]
    fill(cur.store)
    job = schedule.build_scheduler(cur, now=T0).get_job("backup")
    assert job is not None and job.next_run_time >= T0

    asyncio.run(schedule.back_up_if_due(cur))
    (made,) = backup.archives(backup.default_dir(cur.store))
    assert made.name == backup.archive_name(T0)
    assert cur.health.last_done("backup") == T0

    none = config.loads("store: {backups: 0}\ndigest: {enabled: false}\n")
    cur0 = make_curator(none, store=cur.store)
    assert schedule.build_scheduler(cur0, now=T0).get_job("backup") is None
    with pytest.raises(config.ConfigError, match="backups"):
        config.loads("store: {backups: -1}\n")


def test_a_failed_backup_is_one_log_line_and_shows_in_health(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    cur = make_curator(config.loads("store: {backups: 1}\n"), store=TinyDBStore(tmp_path / "store"))
    fill(cur.store)
    (cur.store.path / "backups").write_text("a file where the folder should be")
    asyncio.run(schedule.back_up_if_due(cur))
    (line,) = [r for r in caplog.records if r.name == "curator.schedule"]
    assert "daily backup failed" in line.getMessage() and line.exc_info is None
    (failure,) = cur.health.failures()
    assert failure.job == "backup"
    with pytest.raises(StoreError):
        backup.daily(cur.store, 1, T0)


def test_the_links_of_an_interrupted_backup_are_swept(tmp_path: Path) -> None:
    store = TinyDBStore(tmp_path / "store")
    fill(store)
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    stale = store.path / f".backup-{dead.pid}-deadbeef.tmp"
    store.freeze(stale)  # what a backup killed before it cleaned up leaves
    alive = store.path / f".backup-{os.getpid()}-cafef00d.tmp"
    alive.mkdir()
    backup.backup(store, tmp_path / "b.tar.gz", now=T0)
    assert not stale.exists() and alive.exists()
    assert sorted(p.name for p in store.path.glob(".backup-*")) == [alive.name]
