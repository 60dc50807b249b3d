"""Curator's store: :class:`Store` is the interface, :func:`open_store` picks the backend.

Layout (design.md, "The store")::

    api.py       the interface the rest of the code uses, and the policies both backends keep
    codecs.py    dataclasses <-> JSON documents, and the shapes a loaded document must have
    tinydb.py    the embedded default: TinyDB files in one directory (``./store``)
    postgres.py  PostgreSQL (``CURATOR_DATABASE_URL``): several instances on one database
"""

from __future__ import annotations

import os
from pathlib import Path

from curator.store.api import (
    MAX_NEAR_MISSES,
    MAX_RESEARCH_CACHE,
    NEAR_MISS_DAYS,
    TITLE_INDEX_DAYS,
    ItemHead,
    Store,
)
from curator.store.codecs import from_json, to_json
from curator.store.tinydb import SEEN_BUCKETS, Damage, Repaired, TinyDBStore

__all__ = [
    "DATABASE_ENV",
    "MAX_NEAR_MISSES",
    "MAX_RESEARCH_CACHE",
    "NEAR_MISS_DAYS",
    "SEEN_BUCKETS",
    "TITLE_INDEX_DAYS",
    "Damage",
    "ItemHead",
    "Repaired",
    "Store",
    "TinyDBStore",
    "from_json",
    "is_database_url",
    "open_store",
    "to_json",
]

#: Set to a ``postgresql://`` URL, it puts every instance on that database instead of files.
DATABASE_ENV = "CURATOR_DATABASE_URL"


def is_database_url(location: str | Path) -> bool:
    return isinstance(location, str) and location.startswith(("postgresql://", "postgres://"))


def open_store(location: str | Path | None = None, *, lock_timeout: float = 60.0) -> Store:
    """The store at *location*: a ``postgresql://`` URL or a directory; by default
    ``CURATOR_DATABASE_URL`` when set, else ``./store``.  *lock_timeout* bounds the wait for
    another writer's transaction (then StoreLocked)."""
    if location is None:
        location = os.environ.get(DATABASE_ENV, "").strip() or Path("store")
    if is_database_url(location):
        from curator.store.postgres import PostgresStore  # psycopg only where it is used

        return PostgresStore(str(location), lock_timeout=lock_timeout)
    return TinyDBStore(Path(location), lock_timeout=lock_timeout)
