"""Fixtures that run a test once per store backend: TinyDB files and PostgreSQL.

``store`` (in the modules that use it) is a fresh empty store of the test's backend;
``store_at(location)`` opens another handle on it, as another process or instance would;
``store_location`` is that location (a directory, or a ``postgresql://`` URL).  PostgreSQL
stores are closed at the end of the test so no connection outlives it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from curator.store import Store, open_store
from curator.store.postgres import PostgresStore
from tests import postgres

BACKENDS = ["tinydb", "postgres"]


@pytest.fixture(scope="session")
def pg_databases() -> Iterator[postgres.Databases | None]:
    with postgres.server() as databases:
        yield databases


@pytest.fixture
def database_url(pg_databases: postgres.Databases | None) -> str:
    """A fresh, migrated PostgreSQL database of this test's own."""
    return postgres.need(pg_databases).fresh()


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def store_location(backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> str:
    if backend == "tinydb":
        return str(tmp_path / "store")
    return str(request.getfixturevalue("database_url"))


@pytest.fixture
def store_at() -> Iterator[Callable[..., Store]]:
    opened: list[PostgresStore] = []

    def at(location: str, lock_timeout: float = 60.0) -> Store:
        store = open_store(location, lock_timeout=lock_timeout)
        if isinstance(store, PostgresStore):
            opened.append(store)
        return store

    yield at
    for store in opened:
        store.close()
