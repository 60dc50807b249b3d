"""The PostgreSQL backend from the command line: ``curator migrate``, the whole loop on a
database chosen by CURATOR_DATABASE_URL, and clear errors for a database that is missing,
unmigrated or newer than this Curator.  On a real server (tests/postgres.py)."""

from __future__ import annotations

from pathlib import Path

import psycopg
import pytest

from curator.cli import main
from curator.exceptions import SchemaError
from curator.store import open_store
from curator.store.migrations import MIGRATIONS
from curator.store.postgres import ALL_ITEMS_PAGE, PostgresStore, redact
from tests import postgres, test_cli

NEWEST = MIGRATIONS[-1].version

env = test_cli.env  # the fixture: a config with one local source, as the CLI tests have it


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def test_migrate_then_the_whole_loop_runs_on_the_database(
    env: Path,
    pg_databases: postgres.Databases | None,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    url = postgres.need(pg_databases).fresh(migrated=False)
    monkeypatch.setenv("CURATOR_DATABASE_URL", url)
    code, out, err = run(capsys, "items")
    assert code == 1 and "run `curator migrate`" in err and "Traceback" not in err
    code, out, err = run(capsys, "migrate")
    assert code == 0 and f"({NEWEST} migration(s) applied)" in out
    code, out, _ = run(capsys, "migrate")  # again: nothing to do
    assert code == 0 and "(0 migration(s) applied)" in out
    code, out, err = run(capsys, "fetch")
    assert code == 0, err
    code, out, _ = run(capsys, "items", "--json")
    assert code == 0 and "Council approves upgrade of town centre CCTV network" in out
    assert not (env / "store").exists()  # nothing went to the default directory
    store = PostgresStore(url)
    try:
        assert store.counts()["pending"] == 2
        state = store.get_state("local")
        assert state is not None and state.etag == '"1"'
    finally:
        store.close()


def test_an_unreachable_database_is_one_clear_line(
    env: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CURATOR_DATABASE_URL", "postgresql://curator:s3cret@127.0.0.1:9/curator")
    code, _, err = run(capsys, "items")
    assert code == 1 and "cannot connect to the database" in err and "Traceback" not in err
    assert "s3cret" not in err  # the password never reaches a message
    assert "postgresql://curator@127.0.0.1:9/curator" in err


def test_a_newer_schema_is_refused(database_url: str) -> None:
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO curator_schema (version, name) VALUES (%s, 'future')", (NEWEST + 1,)
        )
    with pytest.raises(SchemaError, match="newer than this Curator knows"):
        open_store(database_url)


def test_redact_drops_only_the_password() -> None:
    assert redact("postgresql://u:pw@h:5432/db?sslmode=require") == (
        "postgresql://u@h:5432/db?sslmode=require"
    )
    assert redact("postgresql://h/db") == "postgresql://h/db"


def test_migration_3_lifts_the_columns_and_counts_of_items_already_stored(
    pg_databases: postgres.Databases | None,
) -> None:
    """A database of schema 2 holding items (written as the code of then wrote them) gets
    the generated columns, their indexes and the counts, and answers as a fresh one."""
    from datetime import UTC, datetime, timedelta

    from psycopg.types.json import Jsonb

    from curator import publish
    from curator.config import Publish
    from curator.store.codecs import ITEM
    from curator.store.postgres import migrate
    from curator.types import Event
    from tests.test_store import make_item

    url = postgres.need(pg_databases).fresh(migrated=False)
    t0 = datetime(2025, 3, 1, 9, 30, tzinfo=UTC)
    items = [make_item(n) for n in range(3)]
    items += [make_item(n, status="approved", reviewed_at=t0 + timedelta(days=n)) for n in (3, 4)]
    items.append(
        make_item(
            5,
            status="rejected",
            reviewed_at=t0 + timedelta(days=6),
            updated_at=t0 + timedelta(days=6),
            history=(Event(t0 + timedelta(days=5), "approved", "ed"),),
        )
    )
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(
            "CREATE TABLE curator_schema (version integer PRIMARY KEY, name text NOT NULL,"
            " applied_at timestamptz NOT NULL DEFAULT now())"
        )
        for step in MIGRATIONS[:2]:
            conn.execute(step.sql.encode())
            conn.execute(
                "INSERT INTO curator_schema (version, name) VALUES (%s, %s)",
                (step.version, step.name),
            )
        for seq, item in enumerate(items, 1):
            doc = ITEM.encode(item)
            conn.execute(
                "INSERT INTO items (id, status, first_seen, reviewed_at, seq, doc)"
                " VALUES (%s, %s, %s, %s, %s, %s)",
                (item.id, item.status, doc["first_seen"], doc["reviewed_at"], seq, Jsonb(doc)),
            )
    assert migrate(url) == [f"{m.version}: {m.name}" for m in MIGRATIONS[2:]]
    store = PostgresStore(url)
    try:
        assert store.counts() == {"pending": 3, "approved": 2, "rejected": 1}
        assert len(store.items("pending")) == 3
        assert store.last_approved_change() == t0 + timedelta(days=6)  # approved, then not
        assert store.last_reviewed("approved", t0 + timedelta(days=3, hours=1)) == t0 + (
            timedelta(days=3)
        )
        assert [i.id for i in store.items_reviewed_since("approved", t0)] == [
            i.id for i in sorted(items[3:5], key=lambda i: i.published, reverse=True)
        ]
        p = Publish(max_age=3.5 * 86400)
        now = t0 + timedelta(days=7)
        assert publish.items_for(store, p, now) == publish.select(store.items(), p, now)
    finally:
        store.close()


def test_the_all_items_page_reads_along_an_index(database_url: str) -> None:
    """Migration 4's index matches the All items list's query (its expression and byte-order
    collation): with sequential scans ruled out, the plan walks the index rather than
    sorting every item, which is what a million items need."""
    store = PostgresStore(database_url)
    try:
        with psycopg.connect(database_url, autocommit=True) as conn:
            conn.execute("SET enable_seqscan = off")
            conn.execute("SET enable_sort = off")
            plan = "\n".join(
                str(row[0]) for row in conn.execute(b"EXPLAIN " + ALL_ITEMS_PAGE.encode(), (50, 0))
            )
        assert "items_by_published" in plan and "Sort" not in plan.split("Index")[0]
    finally:
        store.close()
