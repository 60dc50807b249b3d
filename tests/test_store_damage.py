"""A damaged store file costs only what it holds: real files damaged on disk, the store, the
CLI, the web app's banner and /healthz, the scheduler's log, and `curator serve` as a process.

Damage is made the way it happens: bytes cut off or overwritten in place, not by patching.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import shutil
import signal
from collections import defaultdict
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from starlette.testclient import TestClient

from curator import backup, config, health, schedule
from curator.cli import main
from curator.core import make_curator
from curator.exceptions import StoreCorrupt
from curator.store import Store, TinyDBStore
from curator.types import Event, Item, SourceState
from curator.web import create_app
from tests.feedserver import FeedServer
from tests.test_schedule import RSS, Clock
from tests.test_serve import free_port, start, wait_for_line
from tests.test_store import T0, item_id, make_item, put
from tests.webkit import EDITOR, FAST_HASHER, PASSWORD, add_editor, csrf_of


def same_shard(count: int) -> list[int]:
    """*count* item numbers whose ids fall into one shard, and that shard only."""
    groups: dict[str, list[int]] = defaultdict(list)
    for n in range(4000):
        group = groups[item_id(n)[:2]]
        group.append(n)
        if len(group) == count:
            return group
    raise AssertionError("no shard got enough items")


def shard_of(store: Store, n: int) -> Path:
    return store.path / "items" / f"{item_id(n)[:2]}.json"


def break_items(path: Path, *ns: int) -> bytes:
    """Overwrite the start of the named items' objects in place: the file no longer parses,
    and those items cannot be read back; the others still can."""
    raw = path.read_bytes()
    for n in ns:
        key = f'"{item_id(n)}":{{'.encode()
        at = raw.index(key) + len(key)
        raw = raw[:at] + b"\x00\xff garbage " + raw[at + 12 :]
    path.write_bytes(raw)
    return raw


def approved(item: Item, by: str = "alice") -> Item:
    at = item.first_seen + timedelta(hours=1)
    return replace(
        item,
        status="approved",
        reviewed_by=by,
        reviewed_at=at,
        history=(*item.history, Event(at=at, action="approved", by=by)),
    )


# --------------------------------------------------------------------------- the store


def test_a_damaged_shard_costs_only_its_own_items(tmp_path: Path) -> None:
    store = TinyDBStore(tmp_path / "store")
    put(store, *(make_item(n) for n in range(300)))
    victim = shard_of(store, 0)
    held = sum(1 for n in range(300) if item_id(n)[:2] == item_id(0)[:2])
    victim.write_bytes(b'{"items": {"' + item_id(0).encode())  # cut short mid-write

    fresh = TinyDBStore(store.path)
    assert len(fresh.items()) == 300 - held
    assert fresh.counts()["pending"] == 300 - held
    (damage,) = fresh.damage()
    assert damage.path == victim and damage.name == f"items/{item_id(0)[:2]}.json"
    plural = "" if held == 1 else "s"
    assert damage.items == held and str(damage).endswith(f"it held {held} item{plural}")

    # Everything else stays writable; the damaged shard refuses, naming itself.
    other = next(n for n in range(300) if item_id(n)[:2] != item_id(0)[:2])
    put(fresh, approved(make_item(other)))
    assert fresh.get_item(item_id(other)).status == "approved"  # type: ignore[union-attr]
    with pytest.raises(StoreCorrupt) as e:
        put(fresh, approved(make_item(0)))
    assert e.value.path == victim and str(victim) in str(e.value)
    assert victim.read_bytes() == b'{"items": {"' + item_id(0).encode()  # never written over


def test_unreadable_is_damage_and_heals_when_readable_again(tmp_path: Path) -> None:
    store = TinyDBStore(tmp_path / "store")
    put(store, make_item(1), make_item(2))
    victim = shard_of(store, 1)
    victim.rename(victim.with_suffix(".moved"))
    victim.mkdir()  # reading a directory fails like an I/O error does
    assert [d.path for d in store.damage()] == [victim]
    assert "cannot read" in store.damage()[0].reason
    assert [i.id for i in store.items()] == [item_id(2)]
    victim.rmdir()
    victim.with_suffix(".moved").rename(victim)
    assert store.damage() == [] and len(store.items()) == 2


def test_an_items_folder_replaced_by_a_file_is_damage_not_a_crash(tmp_path: Path) -> None:
    """stat() on items/NN.json then fails with ENOTDIR, which once escaped as a traceback from
    every page that asked for the store's version."""
    store = TinyDBStore(tmp_path / "store")
    put(store, make_item(1), make_item(2))
    items = store.path / "items"
    shutil.move(items, tmp_path / "items.moved")
    items.write_text("not a folder", encoding="utf-8")
    assert store.version()  # no exception
    assert store.items() == []
    assert store.damage() and all("cannot read" in d.reason for d in store.damage())
    items.unlink()
    shutil.move(tmp_path / "items.moved", items)
    assert len(store.items()) == 2 and store.damage() == []


def test_repair_reads_back_what_parses_and_takes_the_rest_from_the_backup(
    tmp_path: Path,
) -> None:
    store = TinyDBStore(tmp_path / "store")
    a, b, c, d = same_shard(4)
    put(store, make_item(a), make_item(b), make_item(c))
    archive = backup.backup(store, tmp_path / "before.tar.gz", now=T0).path
    # After the backup: a is approved, d arrives.
    put(store, approved(make_item(a)), make_item(d))
    victim = shard_of(store, a)
    damaged = break_items(victim, b, d)  # b is in the backup, d is not
    assert [x.items for x in TinyDBStore(store.path).damage()] == [4]

    copy = tmp_path / "copy"
    shutil.copytree(store.path, copy)
    fresh = TinyDBStore(store.path)
    (report,) = fresh.repair(backup.archives_for_repair(fresh, None))
    assert report.held == 4 and report.salvaged == 2 and report.from_backup == 0
    # Nothing in <store>/backups: the archive is only used when named.
    assert report.lost == 2 and report.lost_ids == tuple(sorted((item_id(b), item_id(d))))
    assert report.moved_to.read_bytes() == damaged  # kept aside, byte for byte
    assert report.moved_to.parent == store.path / "damaged"

    # The same damage (a copy made before), this time with the backup named.
    store, victim = TinyDBStore(copy), copy / victim.relative_to(store.path)
    fresh = TinyDBStore(copy)
    chosen = backup.archives_for_repair(fresh, archive)
    (report,) = fresh.repair(chosen)
    assert (report.salvaged, report.from_backup) == (2, 1)
    assert chosen.used == {report.name: archive}
    assert report.lost == 1 and report.lost_ids == (item_id(d),)  # the title index knew d
    assert fresh.damage(deep=True) == []
    # The decision made after the backup survived: it was read back from the file itself.
    assert fresh.get_item(item_id(a)) == approved(make_item(a))
    assert fresh.get_item(item_id(b)) == make_item(b)
    assert fresh.get_item(item_id(d)) is None
    assert fresh.find_by_title(make_item(c).title_key, T0 - timedelta(days=1)) == make_item(c)
    counts = json.loads((store.path / "shards.json").read_text())["shards"]
    assert counts[item_id(a)[:2]] == {"items": 3}
    put(fresh, make_item(d))  # the shard takes writes again
    assert len(TinyDBStore(store.path).items()) == 4


def test_repair_restores_other_files_from_the_backup_and_rebuilds_indexes(
    tmp_path: Path,
) -> None:
    store = TinyDBStore(tmp_path / "store")
    add_editor(store)
    put(store, make_item(1))
    with store.transaction():
        store.put_state(SourceState("src", consecutive_errors=2))
    backup.backup(store, backup.default_dir(store) / backup.archive_name(T0), now=T0)
    for name in ("users.json", "titles.json", "sources.json", "shards.json"):
        (store.path / name).write_bytes(b"\x00" * 10)
    fresh = TinyDBStore(store.path)
    assert {d.name for d in fresh.damage()} == {
        "users.json",
        "titles.json",
        "sources.json",
        "shards.json",
    }
    reports = {r.name: r for r in fresh.repair(backup.archives_for_repair(fresh, None))}
    assert reports["users.json"].from_backup == 1 and reports["sources.json"].from_backup == 1
    assert fresh.damage(deep=True) == []
    assert [u.name for u in fresh.users()] == [EDITOR]
    assert fresh.get_state("src") == SourceState("src", consecutive_errors=2)
    assert fresh.find_by_title(make_item(1).title_key, T0 - timedelta(days=1)) == make_item(1)
    shards = json.loads((store.path / "shards.json").read_text())["shards"]
    assert shards == {item_id(1)[:2]: {"items": 1}}
    assert len(list((store.path / "damaged").iterdir())) == 4


def test_an_unreadable_journal_stops_writes_not_reads_until_repaired(tmp_path: Path) -> None:
    store = TinyDBStore(tmp_path / "store")
    put(store, make_item(1))
    (store.path / "journal.json").write_bytes(b'{"renames": [["a"')
    fresh = TinyDBStore(store.path)  # opens
    assert fresh.get_item(item_id(1)) == make_item(1)
    with pytest.raises(StoreCorrupt, match="journal"):
        put(fresh, make_item(2))
    assert [d.name for d in fresh.damage()] == ["journal.json"]
    (report,) = fresh.repair()
    assert report.name == "journal.json" and report.moved_to.exists()
    put(fresh, make_item(2))
    assert len(fresh.items()) == 2


# --------------------------------------------------------------------------- command line


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "feeds.yaml").write_text("sources: []\n")
    return tmp_path


def test_cli_names_the_damage_verifies_and_repairs(
    env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    store = TinyDBStore(env / "store")
    a, b = same_shard(2)
    put(store, make_item(a), make_item(b), make_item(5000))
    victim = shard_of(store, a)
    assert main(["backup"]) == 0
    assert "2 files" not in capsys.readouterr().out
    victim.write_bytes(b"{")

    assert main(["store", "verify"]) == 1
    out = capsys.readouterr().out
    assert f"damaged: {victim}" in out and "it held 2 items" in out

    assert main(["check"]) == 1
    err = capsys.readouterr().err
    assert str(victim) in err and "curator store repair" in err
    assert main(["sources"]) == 0
    assert str(victim) in capsys.readouterr().err
    assert main(["items", "--json"]) == 0  # the rest still lists
    assert [i["id"] for i in json.loads(capsys.readouterr().out)] == [item_id(5000)]
    assert main(["approve", item_id(a)]) == 1
    assert str(victim) in capsys.readouterr().err
    assert main(["approve", item_id(5000)]) == 0  # everything else stays writable
    # The website's list is not rewritten with holes in it: the last good export stays.
    assert main(["publish", "--out", "site"]) == 1
    err = capsys.readouterr().err
    assert "the last good export stays" in err and str(victim) in err
    assert not (env / "site" / "links.json").exists()
    assert main(["digest", "preview", "--out", "next.txt"]) == 0
    assert make_item(5000).title in (env / "next.txt").read_text()
    capsys.readouterr()

    assert main(["store", "repair"]) == 0
    out = capsys.readouterr().out
    assert "moved aside to" in out and "restored 2 of 2 items" in out
    assert "LOST" not in out and str(backup.default_dir(store)) in out
    assert main(["store", "verify"]) == 0
    assert "3 items (2 pending, 1 approved" in capsys.readouterr().out
    assert main(["store", "repair"]) == 0
    assert "nothing to repair" in capsys.readouterr().out
    assert main(["publish", "--out", "site"]) == 0
    published = json.loads((env / "site" / "links.json").read_text())
    assert [i["url"] for i in published["items"]] == [make_item(5000).url]


def test_cli_repair_says_what_is_lost_without_a_backup(
    env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    store = TinyDBStore(env / "store")
    a, b = same_shard(2)
    put(store, make_item(a), make_item(b))
    break_items(shard_of(store, a), b)
    assert main(["store", "repair"]) == 0
    captured = capsys.readouterr()
    assert "restored 1 of 2 items" in captured.out and "LOST: 1 item" in captured.out
    assert item_id(b) in captured.out
    assert "no backup held these files" in captured.err
    (store.path / "titles.json").write_bytes(b"{")
    (store.path / "journal.json").write_bytes(b"[")
    assert main(["store", "repair"]) == 0
    out = capsys.readouterr().out
    assert "titles.json: does not load" in out and "rebuilt from the items" in out
    assert "journal.json: does not load" in out and "LOST" not in out
    assert main(["store", "repair", "--from", "nowhere.tar.gz"]) == 2
    assert "no such file" in capsys.readouterr().err


# --------------------------------------------------------------------------- web and health


def test_healthz_is_bare_in_public_and_detailed_for_editors(tmp_path: Path) -> None:
    cur = make_curator(config.Config(), store=TinyDBStore(tmp_path / "store"), clock=Clock())
    add_editor(cur.store)
    put(cur.store, make_item(1), make_item(2))
    client = TestClient(create_app(cur, password_hasher=FAST_HASHER), follow_redirects=False)
    r = client.get("/healthz")
    assert (r.status_code, r.json()) == (200, {"status": "ok"})

    victim = shard_of(cur.store, 1)
    victim.write_bytes(b"[]")
    r = client.get("/healthz")
    assert (r.status_code, r.json()) == (200, {"status": "degraded"})
    assert str(tmp_path) not in r.text

    page = client.get("/login")
    client.post("/login", data={"csrf": csrf_of(page.text), "name": EDITOR, "password": PASSWORD})
    with cur.store.transaction():
        cur.store.put_state(SourceState("flaky", consecutive_errors=3))
    body = client.get("/healthz").json()
    assert body["status"] == "degraded" and body["items"]["pending"] == 1
    assert body["sources_failing"] == ["flaky"]
    assert body["damaged"] == [
        {"file": str(victim), "held": "1 item", "items": 1, "reason": body["damaged"][0]["reason"]}
    ]
    queue = client.get("/")
    assert queue.status_code == 200 and str(victim) in queue.text and "1 item" in queue.text

    # Scheduled polls that are not stored: degraded, never a 503 (the site stays up).
    cur.health.failed("poll:a", T0, StoreCorrupt(victim, "x"))
    r = client.get("/healthz")
    assert r.status_code == 200 and r.json()["status"] == "degraded"
    assert r.json()["failures"][0]["file"] == str(victim)
    assert r.json()["polls"] == {"not_stored": 1, "stored": 0}
    cur.health.succeeded("poll:a", T0)
    assert client.get("/healthz").json()["polls"] == {"not_stored": 0, "stored": 1}

    # A store that cannot be read at all (its disk gone): failing, 503, nothing but the status.
    cur.store.path.rename(tmp_path / "elsewhere")
    r = client.get("/healthz")  # the session no longer matches an account: bare again
    assert (r.status_code, r.json()) == (503, {"status": "failing"})
    report = health.assess(cur.store, cur.health)
    assert str(cur.store.path) in report.details["error"]


def test_a_scheduled_poll_on_a_damaged_file_logs_one_line_a_tick(
    tmp_path: Path, feed_server: FeedServer, caplog: pytest.LogCaptureFixture
) -> None:
    url = feed_server.route("/feed", RSS)
    cfg = config.loads(
        f"fetch: {{jitter: 0}}\nrules: {{include: {{cctv: 3}}}}\n"
        f"sources:\n  - {{id: a, name: A, url: '{url}', interval: 30m}}\n"
    )
    cur = make_curator(cfg, store=TinyDBStore(tmp_path / "store"), clock=Clock())
    sources = cur.store.path / "sources.json"
    sources.write_bytes(b"{broken")

    async def ticks(n: int) -> None:
        try:
            for _ in range(n):
                await schedule.poll_if_due(cur, "a")
        finally:
            await cur.aclose()

    caplog.set_level(logging.INFO)
    asyncio.run(ticks(3))
    lines = [r for r in caplog.records if r.name == "curator.schedule"]
    assert len(lines) == 3 and all(r.levelno == logging.ERROR for r in lines)
    assert all(str(sources) in r.getMessage() and r.exc_info is None for r in lines)
    assert not any(r.exc_info for r in caplog.records)
    report = health.assess(cur.store, cur.health)
    assert report.status == "degraded" and report.details["polls"]["not_stored"] == 1
    assert feed_server.requests_to("/feed") == []  # failed before going out: nothing lost

    TinyDBStore(cur.store.path).repair()  # no backup: the poll state starts afresh
    asyncio.run(ticks(1))
    assert cur.store.get_state("a") is not None
    assert health.assess(cur.store, cur.health).status == "ok"


def test_serve_starts_and_serves_the_rest_with_a_damaged_store(tmp_path: Path) -> None:
    store = TinyDBStore(tmp_path / "store")
    put(store, make_item(1), make_item(2))
    (tmp_path / "store" / "sources.json").write_bytes(b"{broken")
    shard_of(store, 1).write_bytes(b"not json")
    port = free_port()
    proc = start(tmp_path, port)
    try:
        wait_for_line(proc, r"serving on")
        line = wait_for_line(proc, r"scheduled poll not stored")
        assert str(tmp_path / "store" / "sources.json") in line
        r = httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=10)
        assert (r.status_code, r.json()) == (200, {"status": "degraded"})
        assert httpx.get(f"http://127.0.0.1:{port}/links.json", timeout=10).status_code == 200
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=60) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
        _, err = proc.communicate(timeout=60)
    assert "Traceback" not in err, err
    assert os.path.exists(tmp_path / "store" / "sources.json")
