"""The PostgreSQL backend from the command line: ``curator migrate``, the whole loop on a
database chosen by CURATOR_DATABASE_URL, and clear errors for a database that is missing,
unmigrated or newer than this Curator.  On a real server (tests/postgres.py)."""

from __future__ import annotations

from pathlib import Path

import psycopg
import pytest

from curator.cli import main
from curator.store import open_store
from curator.store.migrations import MIGRATIONS
from curator.store.postgres import PostgresStore, SchemaError, redact
from tests import postgres
from tests.feedserver import FeedServer
from tests.test_cli import FEED

NEWEST = MIGRATIONS[-1].version


@pytest.fixture
def env(tmp_path: Path, feed_server: FeedServer, monkeypatch: pytest.MonkeyPatch) -> Path:
    url = feed_server.route("/feed.xml", FEED, etag='"1"')
    cfg = tmp_path / "feeds.yaml"
    cfg.write_text(
        "fetch:\n  jitter: 0\nsources:\n"
        f"  - id: local\n    name: Local news\n    url: {url}\n"
        "rules:\n  min_score: 3\n  include: {cctv: 3, live facial recognition: 4}\n"
    )
    monkeypatch.setenv("CURATOR_CONFIG", str(cfg))
    monkeypatch.delenv("CURATOR_STORE", raising=False)
    monkeypatch.setenv("CURATOR_EDITOR", "tester")
    return tmp_path


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
