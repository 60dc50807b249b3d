"""Copy a whole store into another, of either backend, and prove the copy is whole.

``curator store copy --from SRC --to DST`` moves an installation from its directory to
PostgreSQL (or back, or to another directory): every table of :data:`api.TABLES` goes through
the backend-neutral :meth:`Store.dump` and :meth:`Store.load`, inside one transaction of the
target, so a copy that fails half-way leaves the target as it was.  The source's tables are
counted and checksummed first, and the target's once the copy has committed, read back from
where it keeps them; the two are compared table by table.  The checksums are of documents
that are the same JSON whichever backend holds them (:mod:`curator.store.codecs`).

The source is held in a transaction for the whole copy: what is copied is one consistent
state, and the verification compares the target with that very state.  Writers on the source
(a ``curator serve`` left running) wait meanwhile; stop them first.  Reading a store for a
copy streams it (a TinyDB store one file at a time), so the source side needs little memory
whatever its size.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import os
from collections.abc import Callable, Iterator
from typing import Any

from curator.exceptions import StoreCorrupt, StoreError
from curator.store.api import TABLES, Store

__all__ = ["Report", "TableCheck", "checksum", "checksums", "copy", "same_store"]

Progress = Callable[[str, int], None]


@dataclasses.dataclass(frozen=True)
class TableCheck:
    """One table on both sides after a copy: entries and the SHA-256 of its documents."""

    table: str
    copied: int  # entries loaded into the target
    source_count: int
    source_sha256: str
    target_count: int
    target_sha256: str

    @property
    def ok(self) -> bool:
        return (self.source_count, self.source_sha256) == (
            self.target_count,
            self.target_sha256,
        ) and self.copied == self.source_count


@dataclasses.dataclass(frozen=True)
class Report:
    """What :func:`copy` did: where from, where to, and each table's check."""

    source: str  # locations as the stores give them (a database URL without its password)
    target: str
    tables: tuple[TableCheck, ...]

    @property
    def mismatched(self) -> tuple[str, ...]:
        """The tables whose copy differs from the source (none when the copy is whole)."""
        return tuple(t.table for t in self.tables if not t.ok)

    @property
    def ok(self) -> bool:
        return not self.mismatched


def checksum(pairs: Iterator[tuple[str, dict[str, Any]]], *, where: str = "") -> tuple[int, str]:
    """(count, SHA-256) of a table's (key, document) pairs, given in ascending key order.

    The digest is that of ``json.dumps(pairs, sort_keys=True, separators=(",", ":"),
    ensure_ascii=False)`` encoded as UTF-8, with *pairs* the list of ``[key, document]``,
    computed as the pairs come (a table of a million items is never held whole).  Pairs out
    of order or a key given twice raise StoreError: a backend that breaks the order of
    :meth:`Store.dump` must not pass for one whose data differs.
    """
    digest = hashlib.sha256(b"[")
    count = 0
    last: str | None = None
    for key, doc in pairs:
        if last is not None and key <= last:
            raise StoreError(
                f"{where}: the dump gave {key!r} after {last!r}: not in ascending key order "
                "(or a key twice); a backend bug"
            )
        line = json.dumps([key, doc], sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        if count:
            digest.update(b",")
        digest.update(line.encode("utf-8"))
        count += 1
        last = key
    digest.update(b"]")
    return count, digest.hexdigest()


def checksums(store: Store) -> dict[str, tuple[int, str]]:
    """(count, SHA-256) of every table of *store* (:func:`checksum`), by table name.

    Two stores hold the same data exactly when these are equal, whichever their backends:
    the tests of each backend compare a store with its copy this way.
    """
    return {
        table: checksum(store.dump(table), where=f"{store.location} {table}") for table in TABLES
    }


def same_store(a: Store, b: Store) -> bool:
    """Whether *a* and *b* are one store (the same database, or one directory however
    named: a symbolic link, a relative path)."""
    if a.location == b.location:
        return True
    with contextlib.suppress(OSError):
        return os.path.samefile(a.location, b.location)
    return False


class _SourceDamaged(Exception):
    """A source document that does not load, met while copying (carried out of load)."""

    def __init__(self, error: StoreCorrupt) -> None:
        super().__init__(str(error))
        self.error = error


def _dumped(src: Store, table: str) -> Iterator[tuple[str, dict[str, Any]]]:
    try:
        yield from src.dump(table)
    except StoreCorrupt as e:
        raise _SourceDamaged(e) from None


def _damaged(error: StoreCorrupt, src: Store, dst: Store) -> StoreError:
    """The error for a source that cannot be copied whole: its damaged file, and what to do."""
    return StoreError(
        f"{error} Nothing was copied to {dst.location}: run `curator store repair` first "
        f"(curator --store {src.location} store repair), then copy again."
    )


def _refuse_data(dst: Store) -> None:
    if not dst.is_empty():
        raise StoreError(
            f"{dst.location} is not empty: copy only into an empty store, or pass --replace "
            "to empty it first (everything it holds is lost)"
        )


def copy(
    src: Store, dst: Store, *, replace: bool = False, progress: Progress | None = None
) -> Report:
    """Copy every table of *src* into *dst*, then verify; the :class:`Report` says whether
    every table matches (it is not an error when one does not: the caller reports it).

    Inside one transaction of *src*: its checksums are taken first, a pass that reads and
    checks every document, so a damaged file stops the copy before the target is written
    at all; then every table is dumped again into *dst*'s one transaction.  Once that has
    committed, *dst* is read back and its checksums are compared with the source's.

    Refuses (StoreError, nothing written) when *src* and *dst* are one store, when *dst*
    holds data and *replace* is false, and when a document of *src* does not load.  With
    *replace* each table of *dst* is emptied just before it is loaded, inside the same
    transaction.  *progress* is told each table's name and count once it is loaded.
    """
    if same_store(src, dst):
        raise StoreError(f"{src.location} is both the source and the target of the copy")
    if not replace:
        _refuse_data(dst)  # before reading the whole source for nothing
    copied: dict[str, int] = {}
    with src.transaction():
        try:
            before = checksums(src)
        except StoreCorrupt as e:
            raise _damaged(e, src, dst) from None
        try:
            with dst.transaction():
                if not replace:
                    _refuse_data(dst)  # again, now that no one else can write it
                for table in TABLES:
                    # An "empty" target may have a session key of its own: the source's
                    # replaces it, or its absence removes it, as for any other table.
                    if replace or table == "secret":
                        dst.clear(table)
                    copied[table] = dst.load(table, _dumped(src, table))
                    if progress is not None:
                        progress(table, copied[table])
        except _SourceDamaged as e:  # read once already: only a backend bug gets here
            raise _damaged(e.error, src, dst) from None
    after = checksums(_reopened(dst))
    return Report(
        src.location,
        dst.location,
        tuple(TableCheck(table, copied[table], *before[table], *after[table]) for table in TABLES),
    )


def _reopened(store: Store) -> Store:
    """A second look at *store* that does not trust this process's caches: a TinyDB store is
    opened afresh, so every file is read back from the disk (a database is read anyway)."""
    from curator.store.tinydb import TinyDBStore

    if isinstance(store, TinyDBStore):
        return TinyDBStore(store.path)
    return store
