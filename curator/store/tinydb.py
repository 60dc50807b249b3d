"""The embedded backend: TinyDB files in one directory, safe against crashes and concurrent writers.

Layout of a store directory (every ``*.json`` file is in TinyDB's own JSON format, so
``TinyDB(path).table(name).all()`` reads it)::

    store/
      .lock              inter-process transaction lock (filelock)
      .serve.lock        held by the one running `curator serve`; holds its pid
      items/00.json..ff.json   items, sharded by the first two hex digits of the item id
      titles.json        same-title index: title_key -> {id, first_seen}, last 15 days only
      aliases/0.json..f.json   seen-index of merged URLs: alias item id -> the item it joined
      sources.json       SourceState by source id
      users.json         editor accounts by name
      digests.json       DigestRecord by id
      near_misses.json   NearMiss by item id: entries left out only for a missing group, 30 days
      research_ids.json  research identity index: "doi:<doi>" / "arxiv:<id>" -> {id}
      research_cache.json  landing-page and Crossref look-ups: key -> {at, ok, meta, error}
      seen/00.json..7f.json   SeenEntry by item id: every entry polled, store.keep_seen (30 days),
                         filed by the six hours in which it was first seen (modulo 128)
      meta.json          small JSON values by key
      model.json         the learned ranking's model as JSON data (terms, idf, coefficients)
      shards.json        how many items each item shard holds (what a damaged shard cost)
      journal.json       only between the renames of a multi-file commit (see below)
      damaged/           files `curator store repair` moved aside (never deleted)
      .verified.json     not data: the signatures of files last found to load (see damage)
      .heads.json        not data: each item shard's item heads by signature (item_heads)
      backups/           `curator backup` archives and the daily ones of `serve`

Why it is built this way (design.md, "The store"):

* TinyDB rewrites a whole file on every write, so items are split into 256 shards: approving
  one item rewrites about 1/256 of the items, whatever the history's size.
* A write never touches the file it replaces: it goes to a temporary file in the same
  directory, which is flushed, fsynced and renamed over the old one, and the directory is
  fsynced.  A SIGKILL or power cut leaves the old file or the new one, never a torn one.
* A transaction that changed several files first makes every new file durable, then writes
  ``journal.json`` listing the renames, then renames.  A crash in between is completed by the
  next transaction or the next ``Store()`` on the directory (roll forward), so a poll's
  items, title index and source state land together or not at all.
* Each process keeps what it read in memory and re-reads a file only when its
  ``(st_ino, st_mtime_ns, st_size)`` changed.  Every write stamps a strictly increasing
  nanosecond mtime on its new file, so that signature changes even where file-system
  timestamps are coarse and a freed inode number is reused at once.
* Reads go straight to that cache (TinyDB's query cache is never used, so another process's
  writes are never hidden).  An item shard that has been read whole keeps only its index
  (:class:`_ItemView`: each item's id, status, reviewer, category, the dates the lists sort
  on, and where its document is in the file, in arrays: about 160 bytes an item) and its
  pending items decoded (the queue reads them all, every time).  The listings
  (:meth:`TinyDBStore.items_page`, :meth:`~TinyDBStore.items_reviewed_since`, counts,
  decisions...) work on the index and decode only the items they return, read back from
  the file at their offsets; keeping every decoded Item cost ``serve`` twice its memory at
  100,000 items.  Decoded Items are lean
  (:meth:`curator.store.codecs._DataclassCodec.decode_lean`: only the fields that differ
  from their defaults, rule matches shared between items).  ``serve`` indexes every shard
  in the background after it starts answering, and :meth:`TinyDBStore.damage` leaves the
  shards that listing has not reached yet to it.
* Writes collect in a per-transaction buffer that reads of the same thread see; the
  outermost transaction applies it through TinyDB's table API and writes each changed file
  once when it exits normally, and drops it when it exits with an exception.
* A file that does not load raises :class:`StoreCorrupt` naming it, and nothing writes over
  it until someone repairs it or moves it aside.  It costs only what it holds: listings
  (:meth:`Store.items`, :meth:`Store.counts`) leave a damaged item shard out, log it once,
  and go on with the other 255; :meth:`Store.damage` names it with the number of items it
  held (kept in ``shards.json``, which changes only when an item is added, so in commits that
  already write several files); :meth:`Store.repair` moves it aside and restores what it can.
* Saying whether anything is damaged must not cost a parse of the whole store on every
  ``curator sources`` (about 50 MB at 500 sources, mostly kept entries): a file found to load
  is noted in ``.verified.json`` with its full stat signature (device, inode, size, mtime and
  ctime), and while that signature holds it is only stat'ed.  Any write to it, in place or by
  rename, changes the ctime, which no one can set back; only a file unchanged for
  :data:`_SETTLED_NS` is noted, so a change within the same timestamp tick cannot hide.
  ``.heads.json`` notes each item shard's item heads the same way when it was last decoded
  whole, so ``curator items`` orders every item without reading the shards
  (:meth:`TinyDBStore.item_heads`).
"""

from __future__ import annotations

import bisect
import contextlib
import copy
import dataclasses
import hashlib
import heapq
import itertools
import json
import logging
import os
import re
import secrets
import shutil
import stat
import sys
import threading
import time
from array import array
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple, TypeVar, cast

from tinydb import TinyDB
from tinydb.storages import Storage
from tinydb.table import Document, Table

from curator.exceptions import SecretKeyError, StoreCorrupt, StoreError, StoreLocked
from curator.identifiers import identity_keys
from curator.store import api
from curator.store.codecs import (
    DIGEST,
    ITEM,
    ITEM_ID,
    NEAR,
    SEEN,
    STATE,
    TABLE_CLASSES,
    USER,
    canonical_doc,
    check_alias_doc,
    check_count_doc,
    check_item_doc,
    check_meta_doc,
    check_model_doc,
    check_near_doc,
    check_research_cache_doc,
    check_research_id_doc,
    check_secret_doc,
    check_seen_doc,
    check_title_doc,
    dataclass_codec,
    dt_in,
    dt_out,
    json_value,
    no_check,
    read_doc,
)
from curator.types import (
    STATUSES,
    DigestRecord,
    Item,
    NearMiss,
    SeenEntry,
    SourceState,
    Status,
    User,
)

if TYPE_CHECKING:
    import filelock

__all__ = ["SEEN_BUCKETS", "Damage", "Repaired", "TinyDBStore"]

log = logging.getLogger("curator.store")

#: Entries kept for trying rules (``store.keep_seen``) are filed by the six hours in which
#: they were first seen, one file per period modulo this (128 periods: 32 days): a poll
#: rewrites only the current period's file, and pruning a period empties one file.  With a
#: longer keep_seen periods share files (still correct, a little larger to write).
SEEN_BUCKETS = 128
SEEN_PERIOD = 6 * 3600

_TEMP = re.compile(r"\.[\w.-]+\.json\.\d+\.[0-9a-f]{8}\.tmp\Z")  # what _write_temp names
_JOURNAL = "journal.json"
_DAMAGED = "damaged"
_SECRET = "secret_key"  # the web app's session key (curator.web._security): data, backed up
_VERIFIED = ".verified.json"  # not data: files found to load, by signature (see damage)
_HEADS = ".heads.json"  # not data: each item shard's item heads, by signature (item_heads)
#: How long a file must have been left unchanged before its signature is noted as verified.
#: A file's ctime moves in ticks of the kernel's coarse clock (a few ms; 1-2 s on old or FAT
#: file systems), so a change right after a check could keep the same ctime: such a file is
#: simply parsed again by the next check.
_SETTLED_NS = 2_000_000_000

_Tables = dict[str, dict[str, Any]]
_Sig = tuple[int, int, int]
_FileSig = tuple[int, int, int, int, int]  # st_dev, st_ino, st_size, st_mtime_ns, st_ctime_ns
T = TypeVar("T")

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)  # the rank of an item never reviewed


# --------------------------------------------------------------------------------------------
# One file: TinyDB over a cache that knows when the file changed on disk.


class _Snapshot(NamedTuple):
    """What one file held when last read or written by this process.

    Immutable and replaced in one assignment, so a thread reading while another commits
    sees one consistent state or the other.
    """

    sig: _Sig | None  # None: the file does not exist
    tables: _Tables | None  # the parsed JSON; None when corrupt, or dropped for ``view``
    error: StoreCorrupt | None
    view: _ItemView | None = None  # item shards: the index and the pending items
    spans: dict[str, tuple[int, int]] | None = None  # item shards: each item's offsets


class _PartitionStorage(Storage):
    """TinyDB storage over one partition: reads its cache, writes to its commit stage."""

    def __init__(self, partition: _Partition) -> None:
        self._partition = partition

    def read(self) -> _Tables | None:
        part = self._partition
        # A shallow copy: TinyDB replaces a table in the dict it is given, and the cached
        # snapshot must stay what is on disk until the commit succeeds.
        return dict(part.staged if part.staged is not None else part.committed())

    def write(self, data: _Tables) -> None:
        self._partition.stage(data)


class _DocTable(Table):
    """A TinyDB table keyed by our own string ids (item id, source id, user name...)."""

    document_id_class = str  # type: ignore[assignment]  # TinyDB only calls it on keys


class _DB(TinyDB):
    table_class = _DocTable


#: The columns of a shard's index, one row per item, in microseconds since 1970 (exact,
#: unlike float timestamps; items' datetimes are UTC-aware): what the listings filter and
#: sort on (:meth:`TinyDBStore.items_page`, :meth:`~TinyDBStore.items_reviewed_since`...).
_PAGE, _SINCE, _PUBLISHED, _REVIEWED, _CHANGE, _SEEN, _DIGESTED = range(7)
_WIDTH = 7  # _DIGESTED is 1 when a digest carries the item, else 0
_NEVER = -(2**63)  # the _CHANGE of an item never approved
_US = timedelta(microseconds=1)
_CODES: dict[str, int] = {status: n for n, status in enumerate(STATUSES)}
_PENDING = _CODES["pending"]


def _us(moment: datetime) -> int:
    return (moment - _EPOCH) // _US


def _moment(us: int | None) -> datetime | None:
    """The UTC datetime of an index column's value (what the codecs decode to)."""
    return None if us is None else _EPOCH + us * _US


def _columns(item: Item) -> tuple[int, int, int, int, int, int, int]:
    """*item*'s row of the index (see _PAGE...)."""
    approved = item.status == "approved" or any(e.action == "approved" for e in item.history)
    return (
        _us(item.reviewed_at or item.updated_at or item.first_seen),
        _us(item.reviewed_at or item.first_seen),
        _us(item.published),
        _us(item.reviewed_at or _EPOCH),
        _us(item.updated_at or item.reviewed_at or item.first_seen) if approved else _NEVER,
        _us(item.first_seen),
        item.digest_id is not None,
    )


#: One item's row as :meth:`_ItemView.indexed` takes it: status code, columns, reviewer,
#: category, and the Item itself when at hand (kept when pending).
_Known = tuple[int, Sequence[int], str | None, str, Item | None]


def _by(item: Item) -> str | None:
    """The reviewer's name, one string per name whatever the number of items."""
    return None if item.reviewed_by is None else sys.intern(item.reviewed_by)


def _known(item: Item) -> _Known:
    return _CODES[item.status], _columns(item), _by(item), sys.intern(item.category), item


class _ItemView:
    """One shard's items as a reader keeps them: a compact index of every item (its id,
    status and the dates the listings sort on, in arrays, about 160 bytes an item) and the
    pending items decoded (the queue reads them all, every time).  An approved or rejected
    item is decoded only when asked for, from the file's text at its offsets (``spans``):
    keeping 100,000 decoded Items cost ``serve`` about 1.3 KB each.

    Without ``spans`` (a file not in the layout this module writes, or a transaction's own
    view of its writes) every item is in ``decoded``, as before.  Immutable once made.
    """

    __slots__ = ("by", "categories", "codes", "cols", "decoded", "ids", "shard", "sig", "spans")

    def __init__(
        self,
        shard: _Shard,
        sig: _Sig | None,
        ids: list[str],
        codes: bytes,
        cols: array[int],
        by: list[str | None],
        categories: list[str],
        spans: array[int] | None,
        decoded: dict[str, Item],
    ) -> None:
        self.shard, self.sig, self.ids, self.codes = shard, sig, ids, codes
        self.cols, self.by, self.categories = cols, by, categories
        self.spans, self.decoded = spans, decoded

    @classmethod
    def of_items(cls, shard: _Shard, sig: _Sig | None, items: dict[str, Item]) -> _ItemView:
        """Every item decoded (no offsets to read them back from)."""
        ids = sorted(items)
        cols = array("q")
        for key in ids:
            cols.extend(_columns(items[key]))
        codes = bytes(_CODES[items[key].status] for key in ids)
        by = [_by(items[key]) for key in ids]
        categories = [sys.intern(items[key].category) for key in ids]
        return cls(shard, sig, ids, codes, cols, by, categories, None, items)

    @classmethod
    def indexed(
        cls,
        shard: _Shard,
        sig: _Sig | None,
        docs: Mapping[str, Any],
        spans: Mapping[str, tuple[int, int]],
        known: Callable[[str], _Known | None] | None = None,
    ) -> _ItemView:
        """The index of *docs* (the file's parsed items, at *spans* in its text), decoding
        each item unless *known* gives its row (see _Known)."""
        ids = sorted(docs)
        codes = bytearray(len(ids))
        cols, offsets = array("q"), array("q")
        by: list[str | None] = []
        categories: list[str] = []
        decoded: dict[str, Item] = {}
        for n, key in enumerate(ids):
            found = known(key) if known is not None else None
            if found is None:
                found = _known(shard.decode_item(key, docs[key]))
            code, row, reviewer, category, item = found
            codes[n] = code
            cols.extend(row)
            by.append(reviewer)
            categories.append(category)
            offsets.extend(spans[key])
            if code == _PENDING and item is not None:
                ids[n] = item.id  # one copy of the id string, the Item's
                decoded[item.id] = item
        return cls(shard, sig, ids, bytes(codes), cols, by, categories, offsets, decoded)

    def __len__(self) -> int:
        return len(self.ids)

    def __iter__(self) -> Iterator[str]:
        return iter(self.ids)

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and self.row(key) is not None

    def row(self, key: str) -> int | None:
        n = bisect.bisect_left(self.ids, key)
        return n if n < len(self.ids) and self.ids[n] == key else None

    def known(self, key: str) -> _Known | None:
        """What :meth:`indexed` needs of an item this view holds unchanged."""
        row = self.row(key)
        if row is None:
            return None
        code, item = self.codes[row], self.decoded.get(key)
        if code == _PENDING and item is None:
            return None
        cols = self.cols[row * _WIDTH : (row + 1) * _WIDTH]
        return code, cols, self.by[row], self.categories[row], item

    def count(self, status: str) -> int:
        return self.codes.count(_CODES[status])

    def rows(self, status: Status | None) -> list[int]:
        if status is None:
            return list(range(len(self.ids)))
        code = _CODES[status]
        return [n for n, c in enumerate(self.codes) if c == code]

    def col(self, row: int, column: int) -> int:
        return self.cols[row * _WIDTH + column]

    def items(self, status: Status | None) -> list[Item]:
        if self.spans is None or status == "pending":
            return [i for i in self.decoded.values() if status is None or i.status == status]
        return list(self.fetch(self.rows(status)).values())

    def containing(self, status: Status | None, needles: Sequence[str]) -> list[Item]:
        """:meth:`items`, leaving out those whose document's text lacks one of *needles*
        (casefolded, free of what JSON escapes: see TinyDBStore.iter_items) without
        decoding them."""
        if self.spans is None or status == "pending" or not needles:
            return self.items(status)
        text = self.shard.text_if(self.sig)
        if text is None:  # replaced meanwhile: no prefilter
            return self.items(status)
        spans, rows = self.spans, []
        # Folded once: where no character folds to two (as "ß" does), offsets still match.
        folded = text.casefold()
        aligned = len(folded) == len(text)
        escaped = "\\u" in text  # a \u escape (a file written with ensure_ascii) may hide one
        for row in self.rows(status):
            if self.ids[row] in self.decoded:
                rows.append(row)
                continue
            start, end = spans[2 * row], spans[2 * row + 1]
            if escaped and "\\u" in text[start:end]:
                rows.append(row)
                continue
            doc = folded[start:end] if aligned else text[start:end].casefold()
            if all(n in doc for n in needles):
                rows.append(row)
        return list(self.fetch(rows, text).values())

    def get(self, key: str) -> Item | None:
        item = self.decoded.get(key)
        if item is not None or self.spans is None:
            return item
        row = self.row(key)
        return None if row is None else self.fetch([row]).get(key)

    def fetch(self, rows: Iterable[int], text: str | None = None) -> dict[str, Item]:
        """The items of *rows* by id, in that order, decoded from the file (one read for
        all, none when its *text* is given); an item the file no longer holds (another
        process changed it since) is left out, one it holds in another state comes as it
        is now."""
        out: dict[str, Item | None] = {}
        missing = []
        for row in rows:
            key = self.ids[row]
            item = out[key] = self.decoded.get(key)
            if item is None:
                missing.append(row)
        if missing:
            assert self.spans is not None
            shard, spans = self.shard, self.spans
            if text is None:
                text = shard.text_if(self.sig)
            for row in missing:
                key = self.ids[row]
                if text is None:
                    out[key] = shard.get_item(key)
                else:
                    try:
                        doc = json.loads(text[spans[2 * row] : spans[2 * row + 1]])
                    except ValueError:
                        # Rewritten in place with its size and time put back (rsync
                        # --inplace -t): the offsets no longer hold a document.
                        raise StoreCorrupt(
                            shard.path,
                            f"item {key} is not where the file had it: the file was changed "
                            "in place behind the store's back; run `curator store verify`",
                        ) from None
                    out[key] = shard.decode_item(key, doc)
        return {key: item for key, item in out.items() if item is not None}


def _view_heads(view: _ItemView) -> list[api.ItemHead]:
    return [api.ItemHead.of(item) for item in view.items(None)]


_STATUS: dict[Any, Status] = {s: s for s in STATUSES}


def _head(key: Any, status: Any, score: Any, published: Any, first_seen: Any) -> api.ItemHead:
    """An item head from JSON values, checked as the codec checks them (ValueError,
    TypeError or KeyError otherwise)."""
    if type(key) is not str or (type(score) is not float and type(score) is not int):
        raise ValueError("not an item head")
    return api.ItemHead(key, _STATUS[status], float(score), dt_in(published), dt_in(first_seen))


def _head_doc(head: api.ItemHead) -> list[Any]:
    return [head.id, head.status, head.score, dt_out(head.published), dt_out(head.first_seen)]


def _noted_heads(docs: Any) -> list[api.ItemHead] | None:
    """The heads :func:`_head_doc` wrote into ``.heads.json``, or None if they are not."""
    try:
        return [_head(*doc) for doc in docs]
    except (KeyError, ValueError, TypeError):
        return None


def _is_sig(value: Any) -> bool:
    return isinstance(value, list) and len(value) == 5 and all(type(v) is int for v in value)


def _same_sig(value: Any, sig: _FileSig) -> bool:
    return _is_sig(value) and tuple(value) == sig


_Validator = Callable[[str, Any], None]


class _Partition:
    """One JSON file: its last known content, and what the open transaction changes in it.

    A transaction's puts and deletes collect in ``overlay`` (key -> document, or None for a
    deletion), which reads of the owning thread consult first.  At commit TinyDB applies the
    overlay in one remove and one insert_multiple, so a transaction that puts n documents
    costs one rewrite of the file, not n.
    """

    exclusive = False  # whether the file may hold no table but ours

    def __init__(self, store: TinyDBStore, path: Path, table: str, validate: _Validator) -> None:
        self.store = store
        self.path = path
        self.name = table
        self.validate = validate
        self.snap: _Snapshot | None = None
        self.checked = -1  # transaction serial of the last freshness check
        self.overlay: dict[str, dict[str, Any] | None] | None = None
        self.merged: dict[str, Any] | None = None  # committed docs + overlay, built on demand
        self.staged: _Tables | None = None  # what TinyDB wrote during the commit
        db = _DB(self, storage=_PartitionStorage)
        self.table: Table = db.table(table, cache_size=0)

    # reading ---------------------------------------------------------------------------------

    def snapshot(self) -> _Snapshot:
        """The file as last committed, re-read if another process changed it.

        Raises StoreCorrupt for a file that does not load.  Inside a transaction the file
        cannot change under us, so it is checked once per transaction.
        """
        store = self.store
        snap = self.snap
        if store._owns_transaction():
            if snap is not None and self.checked == store._serial:
                if snap.error is not None:
                    raise snap.error
                return snap
            self.checked = store._serial
        sig = _stat_sig(self.path)
        if snap is None or snap.sig != sig:
            snap = self.snap = self._load()
        if snap.error is not None:
            raise snap.error
        return snap

    def committed(self) -> _Tables:
        tables = self.snapshot().tables
        assert tables is not None
        return tables

    def committed_docs(self) -> dict[str, Any]:
        table = self.committed().get(self.name)
        return table if table is not None else {}

    def docs(self) -> dict[str, Any]:
        """All documents as this thread should see them (read only)."""
        if self.overlay is None or not self.store._owns_transaction():
            return self.committed_docs()
        if self.merged is None:
            merged = dict(self.committed_docs())
            for key, doc in self.overlay.items():
                if doc is None:
                    merged.pop(key, None)
                else:
                    merged[key] = doc
            self.merged = merged
        return self.merged

    def get(self, key: str) -> dict[str, Any] | None:
        overlay = self.overlay
        if overlay is not None and key in overlay and self.store._owns_transaction():
            return overlay[key]
        return cast("dict[str, Any] | None", self.committed_docs().get(key))

    def _load(self) -> _Snapshot:
        try:
            with open(self.path, "rb") as f:
                st = os.fstat(f.fileno())
                raw = f.read()
        except FileNotFoundError:
            return _Snapshot(None, {}, None)
        except OSError as e:
            # Unreadable (permissions, an I/O error) is damage too; a signature that matches
            # no file makes the next read try again, since fixing permissions changes no stamp
            # (so no log line here: it would repeat on every read; callers report it).
            reason = f"cannot read: {e.strerror or e}"
            return _Snapshot((-1, -1, -1), None, StoreCorrupt(self.path, reason))
        sig = (st.st_ino, st.st_mtime_ns, st.st_size)
        try:
            if not raw:
                raise ValueError("the file is empty")
            data, spans = self._parse(raw)
            if not isinstance(data, dict) or not all(isinstance(t, dict) for t in data.values()):
                raise ValueError("not a TinyDB file: expected an object of tables")
            if self.exclusive and set(data) - {self.name}:
                raise ValueError(f"tables other than {self.name!r}: {sorted(data)}")
            for key, doc in data.get(self.name, {}).items():
                if not isinstance(doc, dict):
                    raise ValueError(f"{self.name} {key!r} is not an object")
                self.validate(key, doc)
        except ValueError as e:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
            log.error("store file does not load path=%s reason=%s", self.path, e)
            return _Snapshot(sig, None, StoreCorrupt(self.path, str(e)))
        return _Snapshot(sig, data, None, None, spans)

    def _parse(self, raw: bytes) -> tuple[Any, dict[str, tuple[int, int]] | None]:
        """The file's JSON, and (item shards) where each document is in its text."""
        return json.loads(raw), None

    def serialize(self) -> str:
        """The text the commit writes for ``staged``."""
        return json.dumps(self.staged, ensure_ascii=False, separators=(",", ":"))

    # writing (inside a transaction) ------------------------------------------------------------

    def put(self, key: str, doc: dict[str, Any]) -> None:
        self.put_many({key: doc})

    def put_many(self, docs: Mapping[str, dict[str, Any]], remove: tuple[str, ...] = ()) -> None:
        self.store._require_transaction()
        self.snapshot()  # a file that does not load is never written over
        if self.overlay is None:
            self.overlay = {}
        self.overlay.update(docs)
        for key in remove:
            self.overlay[key] = None
        self.merged = None

    def apply(self) -> None:
        """Let TinyDB apply the overlay; the result lands in ``staged`` (None: no change)."""
        assert self.overlay is not None
        present = self.committed_docs()
        # Remove, then insert: TinyDB's update() would change the cached documents in place.
        # TinyDB types doc ids as int; _DocTable's are str, which it handles the same way.
        gone = [key for key in self.overlay if key in present]
        if gone:
            self.table.remove(doc_ids=cast("list[int]", gone))
        new = [
            Document(doc, doc_id=cast(int, key))
            for key, doc in self.overlay.items()
            if doc is not None
        ]
        if new:
            self.table.insert_multiple(new)

    def stage(self, data: _Tables) -> None:
        if not self.store._owns_transaction() or self.overlay is None:
            raise StoreError("store writes must happen inside `with store.transaction():`")
        self.staged = data

    def settle(self, snap: _Snapshot | None) -> None:
        """End the transaction for this file: *snap* is what is now on disk (None: unknown,
        re-read it)."""
        self.overlay = self.merged = self.staged = None
        self.snap = snap


class _Shard(_Partition):
    """One items file.  Once its items are decoded, its cache is their index (see
    :class:`_ItemView`: every item's status and dates, the pending Items) and the parsed
    JSON is dropped: keeping the JSON or every decoded Item cost several times as much.

    Until then (a command that approves one item) only the JSON is kept.
    """

    exclusive = True  # the cache keeps the index only, so nothing else would be written back

    def __init__(self, store: TinyDBStore, path: Path) -> None:
        super().__init__(store, path, "items", check_item_doc)
        self.added: dict[str, Item] = {}  # the Items behind the overlay's documents
        self.merged_view: _ItemView | None = None
        self.written_spans: dict[str, tuple[int, int]] | None = None  # of the last serialize

    def _parse(self, raw: bytes) -> tuple[Any, dict[str, tuple[int, int]] | None]:
        try:
            scanned = _scan_items(raw.decode("utf-8"))
        except UnicodeDecodeError:
            scanned = None
        if scanned is None:  # not this module's layout, or not JSON: json says what is wrong
            return json.loads(raw), None
        docs, spans = scanned
        return {"items": docs}, spans

    def serialize(self) -> str:
        """``json.dumps`` of the staged file, character for character, noting where each
        item is in it (so that the index made after the commit can read items back)."""
        staged = self.staged
        self.written_spans = None
        if staged is None or set(staged) != {"items"}:
            return super().serialize()
        parts = ['{"items":{']
        at = len(parts[0])
        spans: dict[str, tuple[int, int]] = {}
        for n, (key, doc) in enumerate(staged["items"].items()):
            head = ("," if n else "") + json.dumps(key, ensure_ascii=False) + ":"
            body = json.dumps(doc, ensure_ascii=False, separators=(",", ":"))
            spans[key] = (at + len(head), at + len(head) + len(body))
            parts += (head, body)
            at += len(head) + len(body)
        parts.append("}}")
        self.written_spans = spans
        return "".join(parts)

    def text_if(self, sig: _Sig | None) -> str | None:
        """The file's text if it is still the one with signature *sig*, else None.

        The last text read is kept (one shard's, store-wide): readers that go through
        items in id order (:func:`curator.digests.undigested`) read each file once."""
        try:
            with open(self.path, "rb") as f:
                st = os.fstat(f.fileno())
                if (st.st_ino, st.st_mtime_ns, st.st_size) != sig:
                    return None
                last = self.store._last_text
                if last is not None and last[0] is self and last[1] == sig:
                    return last[2]
                text = f.read().decode("utf-8")
        except (OSError, UnicodeDecodeError):
            return None
        self.store._last_text = (self, sig, text)
        return text

    def committed_view(self) -> _ItemView:
        snap = self.snapshot()
        if snap.view is not None:
            return snap.view
        assert snap.tables is not None
        raw = snap.tables.get("items", {})
        try:
            if snap.spans is not None:
                view = _ItemView.indexed(self, snap.sig, raw, snap.spans)
            else:
                decoded = (self.decode_item(key, doc) for key, doc in raw.items())
                # Keyed by the item's own id string (decode_item checks it is the key): one
                # copy of it per item, not two.
                view = _ItemView.of_items(self, snap.sig, {item.id: item for item in decoded})
        except StoreCorrupt as e:
            # An item that does not decode makes the whole shard damaged: remember it, so
            # listings skip the shard cheaply instead of decoding it again on every read.
            if self.snap is snap:
                self.snap = _Snapshot(snap.sig, None, e)
            raise
        # Unless another thread replaced it meanwhile (then the next read sorts it out).
        if self.snap is snap:
            self.snap = _Snapshot(snap.sig, None, None, view)
        return view

    def current_view(self) -> _ItemView:
        """The items as this thread should see them."""
        if self.overlay is None or not self.store._owns_transaction():
            return self.committed_view()
        if self.merged_view is None:
            committed = {item.id: item for item in self.committed_view().items(None)}
            self.merged_view = _ItemView.of_items(self, None, {**committed, **self.added})
        return self.merged_view

    def get_item(self, key: str) -> Item | None:
        if self.overlay is not None and key in self.added and self.store._owns_transaction():
            return self.added[key]
        snap = self.snapshot()
        if snap.view is not None:
            return snap.view.get(key)
        assert snap.tables is not None
        doc = snap.tables.get("items", {}).get(key)
        return None if doc is None else self.decode_item(key, doc)

    def committed_keys(self) -> Collection[str]:
        """The committed items' ids, decoded or not (for counting: never decodes)."""
        snap = self.snapshot()
        if snap.view is not None:
            return snap.view
        assert snap.tables is not None
        return cast("Collection[str]", snap.tables.get("items", {}))

    def count_after(self) -> int:
        """How many items the file will hold once this transaction's overlay is applied."""
        keys = self.committed_keys()
        n = len(keys)
        for key, doc in (self.overlay or {}).items():
            if doc is None:
                n -= key in keys
            else:
                n += key not in keys
        return n

    def put_item(self, item: Item, doc: dict[str, Any]) -> None:
        self.put(item.id, doc)
        self.added[item.id] = item
        self.merged_view = None

    def committed(self) -> _Tables:
        snap = self.snapshot()
        if snap.tables is not None:
            return snap.tables
        view = snap.view
        assert view is not None
        if view.spans is None:
            return {"items": {key: ITEM.encode(item) for key, item in view.decoded.items()}}
        text = self.text_if(view.sig)
        if text is None:  # replaced since the look above: read it again
            snap = self.snap = self._load()
            if snap.error is not None:
                raise snap.error
            assert snap.tables is not None
            return snap.tables
        return cast(_Tables, json.loads(text))

    def settle(self, snap: _Snapshot | None) -> None:
        old, added, changed = self.snap, self.added, self.overlay or {}
        if (
            snap is not None
            and snap is not old
            and snap.tables is not None
            and snap.spans is not None
            and old is not None
            and old.view is not None
        ):
            # Keep the index across our own commit: only what it changed is decoded again.
            view = old.view

            def known(key: str) -> _Known | None:
                if key in added:
                    return _known(added[key])
                return None if key in changed else view.known(key)

            try:
                index = _ItemView.indexed(self, snap.sig, snap.tables["items"], snap.spans, known)
                snap = _Snapshot(snap.sig, None, None, index)
            except StoreCorrupt:
                pass  # the next read finds it
        super().settle(snap)
        self.added = {}
        self.merged_view = None

    def decode_item(self, key: str, raw: dict[str, Any]) -> Item:
        try:
            item = cast(Item, ITEM.decode(raw))
        except (ValueError, TypeError) as e:
            raise StoreCorrupt(self.path, f"item {key}: {e}") from None
        if item.id != key:
            raise StoreCorrupt(self.path, f"item {key} has the id {item.id!r}")
        return item


_WS = re.compile(r"[ \t\n\r]*")
_JSON_ESCAPED = re.compile(r'["\\\x00-\x1f]')  # what json.dumps escapes (ensure_ascii off)
_ITEMS_HEAD = re.compile(r'[ \t\n\r]*\{[ \t\n\r]*"items"[ \t\n\r]*:[ \t\n\r]*\{[ \t\n\r]*')
_DECODER = json.JSONDecoder()


def _scan_items(text: str) -> tuple[dict[str, Any], dict[str, tuple[int, int]]] | None:
    """The documents of an items file (``{"items": {id: doc, ...}}``, any JSON whitespace)
    with where each is in *text*: what ``json.loads`` makes of it, at the same speed (each
    document is parsed by json's own scanner).  None for anything else, which the caller
    leaves to ``json.loads`` (an empty or damaged file, other tables)."""
    head = _ITEMS_HEAD.match(text)
    if head is None:
        return None
    decode = _DECODER.raw_decode
    docs: dict[str, Any] = {}
    spans: dict[str, tuple[int, int]] = {}
    at = head.end()
    try:
        if text.startswith("}", at):
            at += 1
        else:
            while True:
                if not text.startswith('"', at):
                    return None
                key, at = decode(text, at)
                at = _skip(text, at)
                if not text.startswith(":", at):
                    return None
                start = _skip(text, at + 1)
                doc, at = decode(text, start)
                docs[key] = doc
                spans[key] = (start, at)
                at = _skip(text, at)
                if text.startswith(",", at):
                    at = _skip(text, at + 1)
                    continue
                if text.startswith("}", at):
                    at += 1
                    break
                return None
    except ValueError:
        return None
    at = _skip(text, at)
    if not text.startswith("}", at) or _skip(text, at + 1) != len(text):
        return None
    return docs, spans


def _skip(text: str, at: int) -> int:
    """Past the JSON whitespace at *at*."""
    found = _WS.match(text, at)
    return found.end() if found else at


def _stat_sig(path: Path) -> _Sig | None:
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return None
    except OSError:
        # Unreadable (a folder replaced by a file, permissions, I/O): a stamp no file has, so
        # the next read tries the file and reports it as damage.
        return (-1, -1, -1)
    return (st.st_ino, st.st_mtime_ns, st.st_size)


def _file_sig(path: Path) -> _FileSig | None:
    """What changes whenever the file at *path* does, ctime included (None: cannot stat)."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@dataclasses.dataclass(frozen=True)
class Damage:
    """A store file that does not load: what it is, why, and what it held."""

    name: str  # relative to the store directory, e.g. ``items/3f.json``
    path: Path
    reason: str
    items: int | None  # items it held when last counted (item shards only); None: unknown

    @property
    def held(self) -> str:
        """What losing it costs, for a person: "412 items", "the editor accounts"…"""
        if self.name.startswith("items/"):
            if self.items is None:
                return "an unknown number of items"
            return "1 item" if self.items == 1 else f"{self.items} items"
        return {
            "titles.json": "the same-title index (rebuilt from the items)",
            "shards.json": "the item counts (recounted from the items)",
            "research_ids.json": "the DOI and arXiv id index (rebuilt from the items)",
            "research_cache.json": "cached metadata look-ups (fetched again when needed)",
            "users.json": "the editor accounts",
            "sources.json": "the sources' poll state",
            "digests.json": "the digest records",
            "near_misses.json": "the near misses",
            "meta.json": "small settings (sessions, digest ledger)",
            "model.json": "the learned ranking's model (retrained from the decisions)",
            _JOURNAL: "an unfinished commit",
        }.get(
            self.name,
            "merged-URL records"
            if self.name.startswith("aliases/")
            else "entries kept for trying rules (`curator rules test`)"
            if self.name.startswith("seen/")
            else "data",
        )

    def __str__(self) -> str:
        return f"{self.path}: does not load ({self.reason}); it held {self.held}"


@dataclasses.dataclass(frozen=True)
class Repaired:
    """What :meth:`Store.repair` did with one damaged file."""

    name: str
    moved_to: Path
    reason: str
    held: int | None  # items it held when last counted (item shards); None: unknown
    salvaged: int  # documents read back out of the damaged file itself
    from_backup: int  # further documents taken from the backup
    lost_ids: tuple[str, ...]  # item ids the rest of the store knows of that are gone

    @property
    def restored(self) -> int:
        return self.salvaged + self.from_backup

    @property
    def lost(self) -> int | None:
        """Items lost for good (item shards whose count was known), else None."""
        if self.held is None:
            return len(self.lost_ids) or None
        return max(self.held - self.restored, len(self.lost_ids))


def _reason(error: StoreCorrupt) -> str:
    """The reason inside StoreCorrupt's message (the exception keeps only its path)."""
    found = re.search(r"does not load \((.*)\)\. It was left", str(error), re.S)
    return found.group(1) if found else str(error)


def _salvage(raw: bytes) -> dict[str, dict[str, Any]]:
    """Every ``"<item id>": {...}`` object that still parses in a damaged file (a file cut
    short, a stray byte in one item).  The caller checks each one's shape."""
    text = raw.decode("utf-8", errors="replace")
    decoder = json.JSONDecoder()
    out: dict[str, dict[str, Any]] = {}
    for found in re.finditer(r'"([0-9a-f]{16})"\s*:\s*\{', text):
        try:
            doc, _ = decoder.raw_decode(text, found.end() - 1)
        except ValueError:
            continue
        if isinstance(doc, dict):
            out[found.group(1)] = doc
    return out


# --------------------------------------------------------------------------------------------


class TinyDBStore:
    """Curator's data on disk: items, source state, editors, digests and small values.

    Reads may happen anywhere and see the last committed state (plus, inside a transaction,
    that transaction's own writes).  Every write happens inside :meth:`transaction`.
    Thread-safe; several processes may use the same directory at once.
    """

    def __init__(self, path: str | Path, *, lock_timeout: float = 60.0) -> None:
        """Open (creating if needed) the store in directory *path*.

        *lock_timeout* bounds the wait for another process's transaction, after which
        :class:`StoreLocked` is raised rather than hanging a command forever.
        """
        self.path = Path(path).absolute()
        self.location = str(self.path)
        try:
            (self.path / "items").mkdir(parents=True, exist_ok=True)
            (self.path / "aliases").mkdir(exist_ok=True)
            (self.path / "seen").mkdir(exist_ok=True)
        except OSError as e:
            raise StoreError(f"cannot use {self.path} as a store: {e}") from e
        self._lock_timeout = lock_timeout
        self._lock = threading.RLock()
        # Made (and filelock imported) by the first transaction: read-only commands never lock.
        self._file_lock: filelock.FileLock | None = None
        self._owner: int | None = None
        self._depth = 0
        self._serial = 0
        self._swept = False
        root = self.path
        self._shards = [_Shard(self, root / "items" / f"{i:02x}.json") for i in range(256)]
        self._titles = _Partition(self, root / "titles.json", "titles", check_title_doc)
        self._aliases = [
            _Partition(self, root / "aliases" / f"{i:x}.json", "aliases", check_alias_doc)
            for i in range(16)
        ]
        self._digests = _Partition(self, root / "digests.json", "digests", no_check)
        self._users = _Partition(self, root / "users.json", "users", no_check)
        self._near = _Partition(self, root / "near_misses.json", "near_misses", check_near_doc)
        self._research_ids = _Partition(
            self, root / "research_ids.json", "research_ids", check_research_id_doc
        )
        self._research_cache = _Partition(
            self, root / "research_cache.json", "research_cache", check_research_cache_doc
        )
        self._meta = _Partition(self, root / "meta.json", "meta", check_meta_doc)
        self._seen = [
            _Partition(self, root / "seen" / f"{i:02x}.json", "seen", check_seen_doc)
            for i in range(SEEN_BUCKETS)
        ]
        self._sources = _Partition(self, root / "sources.json", "sources", no_check)
        self._counts = _Partition(self, root / "shards.json", "shards", check_count_doc)
        self._model = _Partition(self, root / "model.json", "model", check_model_doc)
        self._partitions = [
            *self._shards,
            *self._aliases,
            *self._seen,
            self._titles,
            self._digests,
            self._users,
            self._near,
            self._meta,
            self._sources,
            self._counts,
            self._research_ids,
            self._research_cache,
            self._model,
        ]
        self._by_name = {p.path.relative_to(root).as_posix(): p for p in self._partitions}
        self._decoders: dict[str, type[Any]] = {
            "sources.json": SourceState,
            "users.json": User,
            "digests.json": DigestRecord,
            "near_misses.json": NearMiss,
            **{p.path.relative_to(root).as_posix(): SeenEntry for p in self._seen},
        }
        self._skipped: dict[Path, _Sig | None] = {}  # damaged shards already logged
        self._listing = 0  # listings of every item under way (see damage)
        self._listing_lock = threading.Lock()
        self._seen_oldest: dict[Path, tuple[_Snapshot, str]] = {}  # see prune_seen
        self._near_added = False  # this transaction kept a near miss (see _cap_near_misses)
        self._verified: tuple[_FileSig | None, dict[str, _FileSig]] = (None, {})  # see damage
        self._last_text: tuple[_Shard, _Sig, str] | None = None  # see _Shard.text_if
        if (self.path / _JOURNAL).exists():
            # A writer died between the renames of a commit: finish it before anyone reads.
            # An unreadable journal stops writes (each transaction names it), not the opening
            # of the store: reads go on, and `curator store repair` moves it aside.
            with contextlib.suppress(StoreCorrupt), self.transaction():
                pass

    def __repr__(self) -> str:
        return f"Store({str(self.path)!r})"

    # transactions ------------------------------------------------------------------------------

    @contextlib.contextmanager
    def transaction(self) -> Iterator[None]:
        """Group reads and writes under the inter-process lock; re-entrant.

        The outermost block writes everything it buffered when it exits normally and drops
        it all when it exits with an exception (an inner block has no savepoint: its writes
        stand or fall with the outermost).  Don't await inside: asyncio tasks of one thread
        would share the transaction.
        """
        with self._lock:
            if self._depth:
                self._depth += 1
                try:
                    yield
                finally:
                    self._depth -= 1
                return
            self._acquire_file_lock()
            try:
                self._owner = threading.get_ident()
                self._serial += 1
                self._depth = 1
                try:
                    self._recover()
                    self._near_added = False
                    yield
                    if self._near_added:
                        self._cap_near_misses()
                except BaseException:
                    self._discard()
                    raise
                self._commit()
            finally:
                self._depth = 0
                self._owner = None
                self._release_file_lock()

    def _acquire_file_lock(self) -> None:
        import filelock

        if self._file_lock is None:
            self._file_lock = filelock.FileLock(str(self.path / ".lock"), thread_local=False)
        try:
            self._file_lock.acquire(timeout=self._lock_timeout)
        except filelock.Timeout:
            raise StoreLocked(
                f"{self.path} is busy: another process held its lock for over "
                f"{self._lock_timeout:g} s"
            ) from None
        except OSError as e:
            raise StoreError(f"cannot lock {self.path}: {e}") from e

    def _release_file_lock(self) -> None:
        assert self._file_lock is not None  # _acquire_file_lock made it
        self._file_lock.release()

    def _owns_transaction(self) -> bool:
        return self._owner == threading.get_ident()

    def _require_transaction(self) -> None:
        if not self._owns_transaction():
            raise StoreError("store writes must happen inside `with store.transaction():`")

    def _discard(self) -> None:
        for part in self._partitions:
            if part.overlay is not None:
                part.settle(None)  # re-read from disk next time

    def _commit(self) -> None:
        self._note_counts()
        dirty = [p for p in self._partitions if p.overlay is not None]
        if not dirty:
            return
        written: list[tuple[_Partition, Path, _Sig]] = []
        journal = False
        try:
            if self._titles.overlay:
                self._prune_titles()
            for part in dirty:
                part.apply()
                if part.staged is None:  # e.g. deleting what was not there
                    continue
                data = part.serialize()
                written.append((part, *self._write_temp(part.path, data.encode())))
            if len(written) > 1:
                self._write_journal([(tmp, part.path) for part, tmp, _ in written])
                journal = True
            # Past the journal (or with one file) the renames are safe to redo or lose.
            for part, tmp, _ in written:
                os.replace(tmp, part.path)
            for directory in {part.path.parent for part, _, _ in written}:
                _fsync_dir(directory)
            if journal:
                (self.path / _JOURNAL).unlink()
        except BaseException as e:
            if not journal:
                for _, tmp, _ in written:
                    with contextlib.suppress(OSError):
                        tmp.unlink()
            self._discard()
            if not isinstance(e, OSError):
                raise
            if journal:
                raise StoreError(
                    f"a commit to {self.path} was interrupted ({e}); "
                    "the next transaction completes it"
                ) from e
            raise StoreError(f"cannot write to {self.path}: {e}") from e
        sigs = {id(part): sig for part, _, sig in written}
        for part in dirty:
            staged = part.staged
            if staged is None:
                part.settle(part.snap)
            else:
                spans = part.written_spans if isinstance(part, _Shard) else None
                part.settle(_Snapshot(sigs[id(part)], staged, None, None, spans))

    def _write_temp(self, path: Path, data: bytes) -> tuple[Path, _Sig]:
        """Write *data* beside *path*, durable but not yet in place."""
        tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
        try:
            old = os.stat(path)
            mode, last_mtime = stat.S_IMODE(old.st_mode), old.st_mtime_ns
        except FileNotFoundError:
            mode, last_mtime = 0o600, 0
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
            os.fchmod(fd, mode)
            # A strictly increasing stamp keeps the cache signature unique (module docstring).
            mtime = max(time.time_ns(), last_mtime + 1)
            os.utime(fd, ns=(mtime, mtime))
            os.fsync(fd)
            st = os.fstat(fd)
        except BaseException:
            os.close(fd)
            with contextlib.suppress(OSError):
                tmp.unlink()
            raise
        os.close(fd)
        return tmp, (st.st_ino, st.st_mtime_ns, st.st_size)

    def _write_journal(self, renames: list[tuple[Path, Path]]) -> None:
        journal = self.path / _JOURNAL
        body = {
            "renames": [
                [str(a.relative_to(self.path)), str(b.relative_to(self.path))] for a, b in renames
            ]
        }
        tmp, _ = self._write_temp(journal, json.dumps(body).encode())
        os.replace(tmp, journal)
        _fsync_dir(self.path)

    def _recover(self) -> None:
        """Finish a commit a crash interrupted, then (once per Store) remove dead temp files."""
        journal = self.path / _JOURNAL
        try:
            raw = journal.read_bytes()
        except FileNotFoundError:
            raw = None
        except OSError as e:
            raise StoreError(f"{journal}: cannot read: {e}") from e
        if raw is not None:
            try:
                renames = json.loads(raw)["renames"]
                pairs = [(self._inside(a), self._inside(b)) for a, b in renames]
            except (ValueError, KeyError, TypeError) as e:
                raise StoreCorrupt(journal, f"unreadable commit journal: {e}") from None
            try:
                for tmp, dest in pairs:
                    if tmp.exists():
                        os.replace(tmp, dest)
                for directory in {dest.parent for _, dest in pairs}:
                    _fsync_dir(directory)
                journal.unlink()
            except OSError as e:
                raise StoreError(f"cannot complete the commit in {journal}: {e}") from e
            log.warning("completed an interrupted commit store=%s files=%d", self.path, len(pairs))
            for part in self._partitions:
                part.snap = None
        if not self._swept:
            self._swept = True
            for directory in (self.path, self.path / "items", self.path / "aliases"):
                for entry in os.scandir(directory):
                    if _TEMP.match(entry.name):
                        with contextlib.suppress(OSError):
                            os.unlink(entry.path)
                            log.info("removed a dead temporary file path=%s", entry.path)

    def _inside(self, relative: Any) -> Path:
        if not isinstance(relative, str):
            raise ValueError(f"not a path: {relative!r}")
        path = (self.path / relative).resolve()
        if path.parent not in {(self.path / d).resolve() for d in ("", "items", "aliases")}:
            raise ValueError(f"path outside the store: {relative!r}")
        return path

    # items -------------------------------------------------------------------------------------

    def _shard(self, item_id: str) -> _Shard:
        return self._shards[int(item_id[:2], 16)]

    def get_item(self, item_id: str) -> Item | None:
        """The item with that id, or None (also for a string that is not an item id)."""
        if not ITEM_ID.match(item_id):
            return None
        return self._shard(item_id).get_item(item_id)

    def put_item(self, item: Item) -> None:
        """Insert or replace an item (and note its title for same-story look-ups)."""
        self._require_transaction()
        if not ITEM_ID.match(item.id):
            raise ValueError(f"{item.id!r} is not an item id (16 lower-case hex digits)")
        doc = ITEM.encode(item)
        shard = self._shard(item.id)
        previous = shard.get_item(item.id)
        shard.put_item(item, doc)
        # Only a new story (or a new title) enters the index: approving a month-old item must
        # neither rewrite the index nor bring back a title it has forgotten.
        if item.title_key and (previous is None or previous.title_key != item.title_key):
            self._index_title(item.title_key, item.id, doc["first_seen"])
        self._index_research_ids(item, previous)

    def items(self, status: Status | None = None) -> list[Item]:
        """Every readable item, or those with *status*, in no particular order.

        A damaged shard is left out (logged once, listed by :meth:`damage`): the queue, the
        published list and the digest go on with the other 255 shards' items.  Pending items
        come from memory; others are decoded from the files each time (see _ItemView).
        """
        out: list[Item] = []
        for view in self._views():
            out += view.items(status)
        return out

    def iter_items(
        self, status: Status | None = None, containing: Sequence[str] = ()
    ) -> Iterator[Item]:
        """Pending items come from memory; the others are decoded a shard at a time, and
        with *containing*, only those whose JSON text holds each string casefolded (an
        item whose field holds a string holds it in its JSON text, escapes aside: a string
        with a character JSON escapes is not used to leave items out)."""
        needles = [n.casefold() for n in containing if n and not _JSON_ESCAPED.search(n)]
        for view in self._views():
            yield from view.containing(status, needles)

    def items_seen_since(self, since: datetime) -> list[Item]:
        floor = _us(since)
        out: list[Item] = []
        for view in self._views():
            out += view.fetch(r for r in range(len(view)) if view.col(r, _SEEN) >= floor).values()
        return out

    def item_changes(self, token: object | None) -> tuple[list[Item] | None, object]:
        """Not tracked: the index finds the items of a period without decoding the rest."""
        return None, self.version()

    def items_reviewed_since(self, status: Status, since: datetime) -> Iterator[Item]:
        floor = _us(since)
        found = [
            (view.col(r, _PUBLISHED), view.col(r, _REVIEWED), view.ids[r], view, r)
            for view in self._views()
            for r in view.rows(status)
            if view.col(r, _SINCE) > floor
        ]
        found.sort(key=lambda f: f[:3], reverse=True)
        return self._decoded_in_order((view, r) for *_, view, r in found)

    def _decoded_in_order(self, rows: Iterable[tuple[_ItemView, int]]) -> Iterator[Item]:
        """The items of *rows*, in that order, decoded a batch at a time (each shard's file
        read once a batch) as the caller goes on: the public outputs stop at their length."""
        batch = 16
        it = iter(rows)
        while chunk := list(itertools.islice(it, batch)):
            by_view: dict[int, tuple[_ItemView, list[int]]] = {}
            for view, r in chunk:
                by_view.setdefault(id(view), (view, []))[1].append(r)
            got: dict[str, Item] = {}
            for view, wanted in by_view.values():
                got.update(view.fetch(wanted))
            for view, r in chunk:
                item = got.get(view.ids[r])
                if item is not None:
                    yield item
            batch = min(batch * 2, 1024)

    def items_page(self, status: Status | None, start: int, size: int) -> list[Item]:
        start, size = max(start, 0), max(size, 0)
        column = _PUBLISHED if status is None else _PAGE
        keys = (
            (-view.col(r, column), view.ids[r], view, r)
            for view in self._views()
            for r in view.rows(status)
        )
        chosen = heapq.nsmallest(start + size, keys, key=lambda k: k[:2])[start:]
        return list(self._decoded_in_order((view, r) for *_, view, r in chosen))

    def last_reviewed(self, status: Status, until: datetime) -> datetime | None:
        ceiling = _us(until)
        found = (view.col(r, _SINCE) for view in self._views() for r in view.rows(status))
        return _moment(max((t for t in found if t <= ceiling), default=None))

    def last_approved_change(self) -> datetime | None:
        found = (view.col(r, _CHANGE) for view in self._views() for r in range(len(view)))
        return _moment(max((t for t in found if t != _NEVER), default=None))

    def approved_ranks(self, since: datetime) -> list[tuple[datetime, datetime, str, str]]:
        floor = _us(since)
        return [
            (
                _EPOCH + view.col(r, _PUBLISHED) * _US,
                _EPOCH + view.col(r, _REVIEWED) * _US,
                view.ids[r],
                view.categories[r],
            )
            for view in self._views()
            for r in view.rows("approved")
            if view.col(r, _SINCE) > floor
        ]

    def undigested(self) -> list[str]:
        return [
            view.ids[r]
            for view in self._views()
            for r in view.rows("approved")
            if not view.col(r, _DIGESTED)
        ]

    def decisions(self, but: str) -> api.Decisions:
        approved, rejected = _CODES["approved"], _CODES["rejected"]
        labels: list[tuple[str, int]] = []
        latest = 0
        for view in self._views():
            for r, code in enumerate(view.codes):
                if code == rejected and view.by[r] == but:
                    continue
                if code in (approved, rejected):
                    labels.append((view.ids[r], int(code == approved)))
                latest = max(latest, view.col(r, _REVIEWED))
        labels.sort()
        return api.Decisions(labels, _moment(latest) if latest else None)

    def counts(self) -> dict[str, int]:
        """Number of readable items by status; every status is present, with 0 when none."""
        counts: dict[str, int] = dict.fromkeys(STATUSES, 0)
        for view in self._views():
            for status in STATUSES:
                counts[status] += view.count(status)
        return counts

    def _views(self) -> Iterator[_ItemView]:
        with self._listing_lock:
            self._listing += 1
        try:
            for shard in self._shards:
                try:
                    view = shard.current_view()
                except StoreCorrupt as e:
                    self._skip(shard, e)
                    continue
                yield view
        finally:
            with self._listing_lock:
                self._listing -= 1

    def _skip(self, shard: _Shard, error: StoreCorrupt) -> None:
        sig = shard.snap.sig if shard.snap is not None else None
        if self._skipped.get(shard.path, ()) == sig:
            return
        self._skipped[shard.path] = sig
        held = self._held(shard)
        log.warning(
            "left out a damaged item shard path=%s items=%s reason=%s: "
            "run `curator store repair` to restore it",
            shard.path,
            "unknown" if held is None else held,
            _reason(error),
        )

    # damage, repair --------------------------------------------------------------------------

    def damage(self, *, deep: bool = False) -> list[Damage]:
        """Every data file that does not load, with what it held.

        Cheap by default: files this process has read are only stat'ed again, and so are
        files another process found to load while their signature (ctime included) has not
        changed since (``.verified.json``, module docstring); a file changed in any way is
        parsed.  ``deep`` also decodes every document, as ``curator store verify`` does;
        that reads the whole store.

        While a listing of every item is under way in another thread (``serve``'s warm-up
        after start), item shards this process has not read yet are left to it: it reads
        each within seconds, and the next call reports a damaged one.  Reading them here as
        well made ``/healthz`` wait for the whole store at start.
        """
        found: list[Damage] = []
        listing = not deep and self._listing > 0
        journal = self.path / _JOURNAL
        try:
            json.loads(journal.read_bytes())["renames"]
        except FileNotFoundError:
            pass  # the usual case: no commit is between its renames
        except (OSError, ValueError, KeyError, TypeError) as e:
            found.append(Damage(_JOURNAL, journal, f"unreadable commit journal: {e}", None))
        verified = {} if deep else self._read_verified()
        loads: dict[str, _FileSig] = {}
        for name, part in self._by_name.items():
            if listing and part.snap is None and isinstance(part, _Shard):
                continue
            started = time.time_ns()
            before = _file_sig(part.path)
            last = part.snap
            if (
                before is not None
                and verified.get(name) == before
                and (last is None or last.error is None)
            ):
                continue  # unchanged since it was found to load
            try:
                self._check(name, part, deep=deep)
            except StoreCorrupt as e:
                held = self._held(part) if isinstance(part, _Shard) else None
                found.append(Damage(name, part.path, _reason(e), held))
                continue
            if not deep and before is not None and self._read_settled(part, last, before, started):
                loads[name] = before
        self._note_verified(loads)
        return found

    @staticmethod
    def _read_settled(
        part: _Partition, last: _Snapshot | None, before: _FileSig, started: int
    ) -> bool:
        """Whether *part* was read from disk just now (not kept from an earlier read), from
        the file whose signature was *before* and still is, unchanged for _SETTLED_NS."""
        snap = part.snap
        return (
            snap is not None
            and (last is None or last.sig != snap.sig)
            and snap.sig == (before[1], before[3], before[2])
            and before[4] < started - _SETTLED_NS
            and _file_sig(part.path) == before
        )

    # listing heads (``curator items``) ---------------------------------------------------------

    def item_heads(self, status: Status | None = None) -> list[api.ItemHead]:
        """What :meth:`items` lists, reduced to heads, mostly without reading the shards.

        A shard whose signature is still the one noted in ``.heads.json`` gives the heads
        noted there; any other is decoded whole as :meth:`items` does (so an item that does
        not decode leaves its shard out here exactly as there), and its heads are noted once
        the file has settled, as :meth:`damage` notes the files found to load.
        """
        noted = self._read_cache(_HEADS, "shards")
        loads: dict[str, _FileSig] = {}
        found: dict[str, Any] = {}
        out: list[api.ItemHead] = []
        for shard in self._shards:
            try:
                heads = self._shard_heads(shard, noted, loads, found)
            except StoreCorrupt as e:
                self._skip(shard, e)
                continue
            out += heads if status is None else [h for h in heads if h.status == status]
        self._note_verified(loads)
        if found:
            kept = {name: entry for name, entry in noted.items() if name in self._by_name}
            self._write_cache(_HEADS, {"shards": {**kept, **found}})
        return out

    def _shard_heads(
        self,
        shard: _Shard,
        noted: Mapping[str, Any],
        loads: dict[str, _FileSig],
        found: dict[str, Any],
    ) -> list[api.ItemHead]:
        """Every item's head in *shard*; what to note goes into *loads* and *found*."""
        if shard.overlay is not None and self._owns_transaction():
            return _view_heads(shard.current_view())
        name = f"items/{shard.path.name}"
        started = time.time_ns()
        before = _file_sig(shard.path)
        last = shard.snap
        if before is not None and (last is None or last.error is None):
            entry = noted.get(name)
            if isinstance(entry, list) and len(entry) == 2 and _same_sig(entry[0], before):
                heads = _noted_heads(entry[1])
                if heads is not None:
                    return heads
        heads = _view_heads(shard.committed_view())
        if before is not None and self._read_settled(shard, last, before, started):
            loads[name] = before
            found[name] = [list(before), [_head_doc(h) for h in heads]]
        return heads

    def _read_verified(self) -> dict[str, _FileSig]:
        """The signatures of files found to load (``.verified.json``; re-read only when it
        changed).  A missing or unusable one means "parse everything"."""
        sig = _file_sig(self.path / _VERIFIED)
        known_sig, known = self._verified
        if sig is not None and sig == known_sig:
            return known
        found: dict[str, _FileSig] = {}
        for name, value in self._read_cache(_VERIFIED, "files").items():
            if name in self._by_name and _is_sig(value):
                found[name] = (value[0], value[1], value[2], value[3], value[4])
        self._verified = (sig, found)
        return found

    def _note_verified(self, loads: Mapping[str, _FileSig]) -> None:
        """Add *loads* to ``.verified.json``."""
        if loads:
            files = {**self._read_verified(), **loads}
            if self._write_cache(_VERIFIED, {"files": files}):
                self._verified = (_file_sig(self.path / _VERIFIED), files)

    def _read_cache(self, name: str, key: str) -> dict[str, Any]:
        """The object under *key* in the cache file *name* (``.verified.json``,
        ``.heads.json``): not data, so a missing or unreadable one is just empty."""
        path = self.path / name
        try:
            found = json.loads(path.read_bytes())[key]
            if not isinstance(found, dict):
                raise ValueError(f"{key} is not an object")
        except FileNotFoundError:
            return {}
        except (OSError, ValueError, KeyError, TypeError) as e:
            log.info("ignored a cache file path=%s reason=%s", path, e)
            return {}
        return found

    def _write_cache(self, name: str, body: Any) -> bool:
        """Replace the cache file *name* by rename, without the store's lock or an fsync:
        losing an update to a concurrent writer or a crash only costs a parse."""
        path = self.path / name
        data = json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode()
        tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            try:
                view = memoryview(data)
                while view:
                    view = view[os.write(fd, view) :]
            finally:
                os.close(fd)
            os.replace(tmp, path)
        except (OSError, UnicodeEncodeError) as e:  # a read-only store directory, a full disk
            log.info("cannot write a cache file path=%s reason=%s", path, e)
            with contextlib.suppress(OSError):
                tmp.unlink()
            return False
        return True

    def _check(self, name: str, part: _Partition, *, deep: bool) -> None:
        if isinstance(part, _Shard):
            part.snapshot()
            if deep:
                part.committed_view()
            return
        docs = part.committed_docs()
        cls = self._decoders.get(name)
        if deep and cls is not None:
            for key, doc in docs.items():
                self._decode(part, cls, key, doc)

    def _held(self, shard: _Partition) -> int | None:
        """The item count last recorded for *shard*, or None (not recorded, or unreadable)."""
        try:
            doc = self._counts.get(shard.path.stem)
        except StoreCorrupt:
            return None
        return None if doc is None else int(doc["items"])

    def _note_counts(self) -> None:
        """Record the item count of every shard this commit changes the count of.

        Counts change only when an item is added, in commits that write several files anyway
        (a poll, a link added by hand), so approving an item still writes one file.  A
        damaged count file never blocks a write: repair recounts it.
        """
        changed: dict[str, dict[str, Any]] = {}
        for shard in self._shards:
            if shard.overlay is None:
                continue
            n = shard.count_after()
            try:
                doc = self._counts.get(shard.path.stem)
            except StoreCorrupt:
                return
            if doc is None or doc.get("items") != n:
                changed[shard.path.stem] = {"items": n}
        if changed:
            self._counts.put_many(changed)

    def count_items(self) -> None:
        """Bring ``shards.json`` up to date with every readable shard (``serve`` does this
        once it has read every item, in the background after it starts answering, so a store
        from before the count file gets one).  Counts documents: decodes nothing."""
        with self.transaction():
            try:
                known = self._counts.docs()
            except StoreCorrupt:
                return
            changed: dict[str, dict[str, Any]] = {}
            for shard in self._shards:
                try:
                    n = len(shard.committed_keys())
                except StoreCorrupt:
                    continue
                recorded = known.get(shard.path.stem, {}).get("items")
                if recorded != n and (n or recorded is not None):
                    changed[shard.path.stem] = {"items": n}
            if changed:
                self._counts.put_many(changed)

    def repair(self, backup: Callable[[str], bytes | None] | None = None) -> list[Repaired]:
        """Move every damaged file aside (into ``damaged/``, never deleted) and restore
        what can be restored: documents that still parse in the damaged file itself, then
        the rest from *backup* (a reader of a backup's files by store-relative name); the
        same-title index and the item counts are rebuilt from the items.  An unfinished
        commit is completed first, as every transaction does.

        Returns one :class:`Repaired` per file, saying what was restored and what is lost.
        """
        out: list[Repaired] = []
        journal = self._set_journal_aside()
        if journal is not None:
            out.append(journal)
        with self.transaction():
            found = self.damage(deep=True)
            known = self._known_ids()
            for damage in found:
                out.append(self._repair(damage, backup, known))
            names = {d.name for d in found}
            if any(n.startswith("items/") for n in names) or "titles.json" in names:
                self._rebuild_titles()
            if any(n.startswith("items/") for n in names) or "research_ids.json" in names:
                self._rebuild_research_ids()
        if any(r.name.startswith("items/") or r.name == "shards.json" for r in out):
            self.count_items()
        return out

    def _set_journal_aside(self) -> Repaired | None:
        """An unreadable journal would stop every transaction: move it aside first."""
        journal = self.path / _JOURNAL
        with self._lock:
            self._acquire_file_lock()
            try:
                try:
                    json.loads(journal.read_bytes())["renames"]
                    return None
                except FileNotFoundError:
                    return None
                except (OSError, ValueError, KeyError, TypeError) as e:
                    reason = f"unreadable commit journal: {e}"
                moved = self._move_aside(journal)
            finally:
                self._release_file_lock()
        log.warning("moved an unreadable commit journal aside path=%s to=%s", journal, moved)
        return Repaired(_JOURNAL, moved, reason, None, 0, 0, ())

    def _move_aside(self, path: Path) -> Path:
        aside = self.path / _DAMAGED
        aside.mkdir(exist_ok=True)
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
        name = path.relative_to(self.path).as_posix().replace("/", "-")
        target = aside / f"{name}.{stamp}"
        n = 1
        while target.exists():
            n += 1
            target = aside / f"{name}.{stamp}.{n}"
        try:
            os.replace(path, target)
            _fsync_dir(aside)
            _fsync_dir(path.parent)
        except OSError as e:
            raise StoreError(f"cannot move {path} aside to {target}: {e}") from e
        return target

    def _known_ids(self) -> set[str]:
        """Item ids other files mention (titles, digests, aliases): whose loss can be named."""
        known: set[str] = set()
        with contextlib.suppress(StoreCorrupt):
            known.update(str(d["id"]) for d in self._titles.docs().values())
        with contextlib.suppress(StoreCorrupt):
            for doc in self._digests.docs().values():
                known.update(x for x in doc.get("item_ids", ()) if isinstance(x, str))
        for part in self._aliases:
            with contextlib.suppress(StoreCorrupt):
                known.update(str(d["id"]) for d in part.docs().values())
        return known

    def _repair(
        self, damage: Damage, backup: Callable[[str], bytes | None] | None, known: set[str]
    ) -> Repaired:
        if damage.name == _JOURNAL:  # found unreadable after _set_journal_aside: a race
            raise StoreError(f"{damage.path}: changed during the repair; run it again")
        part = self._by_name[damage.name]
        moved = self._move_aside(part.path)
        part.snap, part.checked = None, -1
        self._skipped.pop(part.path, None)
        try:
            raw = moved.read_bytes()
        except OSError:
            raw = b""
        salvaged: dict[str, dict[str, Any]] = {}
        if isinstance(part, _Shard) or part in self._aliases:
            salvaged = self._valid_docs(part, _salvage(raw))
        from_backup: dict[str, dict[str, Any]] = {}
        derived = (self._titles, self._counts, self._research_ids)
        if backup is not None and part not in derived:
            from_backup = self._backup_docs(part, backup(damage.name))
        docs = {**from_backup, **salvaged}
        if isinstance(part, _Shard):
            for key, doc in docs.items():
                part.put_item(part.decode_item(key, doc), doc)
        elif docs:
            part.put_many(docs)
        lost: tuple[str, ...] = ()
        if isinstance(part, _Shard):
            prefix = part.path.stem
            lost = tuple(sorted(i for i in known if i.startswith(prefix) and i not in docs))
        log.warning(
            "repaired path=%s moved_to=%s salvaged=%d from_backup=%d lost_known=%d",
            part.path,
            moved,
            len(salvaged),
            len(docs) - len(salvaged),
            len(lost),
        )
        return Repaired(
            damage.name,
            moved,
            damage.reason,
            damage.items,
            len(salvaged),
            len(docs) - len(salvaged),
            lost,
        )

    def _valid_docs(self, part: _Partition, docs: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
        """The documents of *docs* that have the shape *part* keeps; the rest are dropped."""
        out: dict[str, dict[str, Any]] = {}
        cls = self._decoders.get(part.path.relative_to(self.path).as_posix())
        for key, doc in docs.items():
            if not isinstance(doc, dict):
                continue
            try:
                part.validate(key, doc)
                if isinstance(part, _Shard):
                    part.decode_item(key, doc)
                elif cls is not None:
                    self._decode(part, cls, key, doc)
            except (ValueError, StoreCorrupt):
                continue
            out[key] = doc
        return out

    def _backup_docs(self, part: _Partition, raw: bytes | None) -> dict[str, dict[str, Any]]:
        if raw is None:
            return {}
        try:
            data = json.loads(raw)
        except ValueError:
            return self._valid_docs(part, _salvage(raw)) if isinstance(part, _Shard) else {}
        table = data.get(part.name) if isinstance(data, dict) else None
        return self._valid_docs(part, table) if isinstance(table, dict) else {}

    def _rebuild_titles(self) -> None:
        """The same-title index again from the items: it is derived data."""
        with contextlib.suppress(StoreCorrupt):
            current = self._titles.docs()
            self._titles.put_many({}, remove=tuple(current))
        for item in sorted(self.items(), key=lambda i: i.first_seen):
            if item.title_key:
                self._index_title(item.title_key, item.id, dt_out(item.first_seen))

    # backup, restore -------------------------------------------------------------------------

    def is_data_name(self, name: str) -> bool:
        """Whether *name* (relative, with /) is one of the store's data files."""
        return name in self._by_name or name == _SECRET

    def data_files(self) -> list[str]:
        """The data files present now, relative to the store directory."""
        names = [name for name, part in self._by_name.items() if part.path.exists()]
        if (self.path / _SECRET).exists():
            names.append(_SECRET)
        return names

    def freeze(self, into: Path) -> list[str]:
        """Hard-link every data file into the directory *into*, under the store lock.

        Writers replace files by rename and never change one in place, so the links are a
        consistent copy of the whole store, taken in milliseconds while ``serve`` runs;
        where links are not possible the files are copied (still under the lock).
        """
        with self.transaction():
            names = self.data_files()
            for name in names:
                target = into / name
                target.parent.mkdir(parents=True, exist_ok=True)
                try:
                    os.link(self.path / name, target)
                except OSError:
                    shutil.copy2(self.path / name, target)
        return names

    def load_files(self, files: Mapping[str, bytes]) -> None:
        """Fill an EMPTY store with *files* (name -> bytes), all or nothing: they are made
        durable beside their places, listed in the journal, then renamed (a crash in
        between is completed by the next open, as for any commit)."""
        for name in files:
            if not self.is_data_name(name):
                raise StoreError(f"{name!r} is not a file of a Curator store")
        with self.transaction():
            present = [n for n in self.data_files() if n != _SECRET]
            if present:
                raise StoreError(
                    f"{self.path} is not empty (it holds {present[0]}"
                    + (f" and {len(present) - 1} more files" if len(present) > 1 else "")
                    + "): restore only into an empty store directory, e.g. a new "
                    "--store DIR, or move this one aside first"
                )
            written: list[tuple[Path, Path]] = []
            journal = False
            try:
                for name, data in files.items():
                    dest = self.path / name
                    tmp, _ = self._write_temp(dest, data)
                    written.append((tmp, dest))
                self._write_journal(written)
                journal = True
                for tmp, dest in written:
                    os.replace(tmp, dest)
                for directory in {dest.parent for _, dest in written}:
                    _fsync_dir(directory)
                (self.path / _JOURNAL).unlink()
            except OSError as e:
                if not journal:
                    for tmp, _ in written:
                        with contextlib.suppress(OSError):
                            tmp.unlink()
                raise StoreError(f"cannot write the restored files into {self.path}: {e}") from e
            finally:
                for part in self._partitions:
                    part.snap, part.checked = None, -1

    # whole tables, backend-neutral (``curator store copy``; api.Store.dump) --------------------

    def _table_files(self, table: str) -> Sequence[_Partition]:
        """The files holding *table*, in ascending key order where there are several."""
        parts: dict[str, Sequence[_Partition]] = {
            "items": self._shards,
            "aliases": self._aliases,
            "titles": (self._titles,),
            "research_ids": (self._research_ids,),
            "research_cache": (self._research_cache,),
            "sources": (self._sources,),
            "users": (self._users,),
            "digests": (self._digests,),
            "near_misses": (self._near,),
            "seen": self._seen,
            "meta": (self._meta,),
            "model": (self._model,),
        }
        found = parts.get(table)
        if found is None:
            raise ValueError(f"no table {table!r} (the tables are {', '.join(api.TABLES)})")
        return found

    def dump(self, table: str) -> Iterator[tuple[str, dict[str, Any]]]:
        """Every entry of *table* in key order, as :meth:`api.Store.dump` promises.

        Item shards and alias files are named by the first hex digits of their keys, so
        going through them in order gives the keys in order; a kept entry is filed by time,
        so the seen table is gathered, then sorted.  A file this process had not read before
        is let go once dumped, so copying a large store holds one file's documents at a time.
        """
        if table == "secret":
            key = self._stored_secret()
            if key is not None:
                yield "session", {"value": key}
            return
        parts = self._table_files(table)
        if table != "seen":
            for part in parts:
                yield from self._dump_file(table, part)
            return
        found: dict[str, dict[str, Any]] = {}
        for part in parts:
            for key, doc in self._dump_file(table, part):
                # One file holds an entry (keep_seen); were it in two, the first sighting
                # counts, as in seen().
                if key not in found or doc["seen_at"] < found[key]["seen_at"]:
                    found[key] = doc
        yield from sorted(found.items())

    def _dump_file(self, table: str, part: _Partition) -> list[tuple[str, dict[str, Any]]]:
        cached = part.snap is not None
        try:
            docs = part.docs()
            out: list[tuple[str, dict[str, Any]]] = []
            for key in sorted(docs):
                try:
                    out.append((key, canonical_doc(table, key, docs[key])))
                except ValueError as e:
                    raise StoreCorrupt(part.path, str(e)) from None
        finally:
            if not cached and part.overlay is None:
                part.snap, part.checked = None, -1
        return out

    def load(self, table: str, docs: Iterable[tuple[str, dict[str, Any]]]) -> int:
        """Put *docs* into *table*, as :meth:`api.Store.load` promises: each file it changes
        is written once, when the (outermost) transaction commits.  Items go in as they are
        (the title and research id indexes are tables of their own, loaded as they were);
        the item counts of ``shards.json`` follow at the commit, as for any new item.  A kept
        entry is filed by its ``seen_at``.  The caps on near misses and look-ups are not
        applied: a copy holds what its source held."""
        with self.transaction():
            if table == "secret":
                return self._load_secret(docs)
            parts = self._table_files(table)
            cls = TABLE_CLASSES.get(table)
            batches: dict[int, dict[str, dict[str, Any]]] = {}
            written: set[str] = set()
            for key, doc in docs:
                try:
                    value = read_doc(table, key, doc)
                except ValueError as e:
                    raise StoreError(f"{self.path}: refused to load {e}") from None
                written.add(key)
                if table == "items":
                    self._shard(key).put_item(value, ITEM.encode(value))
                    continue
                if table == "aliases":
                    where = int(key[0], 16)
                elif table == "seen":
                    where = self._seen.index(self._seen_bucket(value.seen_at))
                else:
                    where = 0
                encoded = dataclass_codec(cls).encode(value) if cls is not None else value
                batches.setdefault(where, {})[key] = encoded
            for where, part in enumerate(parts):
                batch = batches.get(where, {})
                stale: tuple[str, ...] = ()
                if table == "seen":  # an entry moved to the bucket of its seen_at
                    present = part.docs()
                    stale = tuple(k for k in present if k in written and k not in batch)
                if batch or stale:
                    part.put_many(batch, remove=stale)
            return len(written)

    def clear(self, table: str) -> int:
        """Remove every entry of *table* (inside a transaction); how many there were.

        Items removed this way are gone from this store object's reads once the transaction
        commits; inside it, item reads may still show them (items are never removed
        otherwise, and the decoded-item cache only follows additions), so ``curator store
        copy`` clears a table only to load it."""
        with self.transaction():
            if table == "secret":
                path = self.path / _SECRET
                try:
                    path.unlink()
                except FileNotFoundError:
                    return 0
                except OSError as e:
                    raise StoreError(f"cannot remove {path}: {e.strerror or e}") from None
                return 1
            removed = 0
            for part in self._table_files(table):
                if isinstance(part, _Shard):
                    # Drop the decoded items, so that the commit's snapshot is what it writes
                    # (a cached view is otherwise carried over with the items added).
                    part.snap, part.checked = None, -1
                    part.added, part.merged_view = {}, None
                keys = tuple(part.docs())
                if keys:
                    part.put_many({}, remove=keys)
                    removed += len(keys)
            return removed

    def is_empty(self) -> bool:
        """Whether no table but the session key holds anything (``shards.json`` is derived
        data; a file that does not load counts as data)."""
        for part in self._partitions:
            if part is self._counts:
                continue
            try:
                if part.docs():
                    return False
            except StoreCorrupt:
                return False
        return True

    def _stored_secret(self) -> str | None:
        """The session key in ``<store>/secret_key``, or None; never makes one (as
        :meth:`session_key` does)."""
        path = self.path / _SECRET
        try:
            key = path.read_text(encoding="ascii").strip()
        except FileNotFoundError:
            return None
        except (OSError, UnicodeDecodeError) as e:
            reason = e.strerror if isinstance(e, OSError) and e.strerror else str(e)
            raise SecretKeyError(
                path,
                f"cannot read the session key ({reason}): give the user running curator read "
                "access to it, or delete it (a new one is made; everyone is signed out)",
            ) from None
        try:
            check_secret_doc("session", {"value": key})
        except ValueError as e:
            raise SecretKeyError(
                path, f"{e}: delete it (a new one is made; everyone is signed out)"
            ) from None
        return key

    def _load_secret(self, docs: Iterable[tuple[str, dict[str, Any]]]) -> int:
        """Write the session key into ``<store>/secret_key`` (mode 0600), atomically.  It is
        a file beside the tables, so it is written now, not at the commit: copy loads it
        last."""
        key: str | None = None
        for name, doc in docs:
            try:
                key = read_doc("secret", name, doc)["value"]
            except ValueError as e:
                raise StoreError(f"{self.path}: refused to load {e}") from None
        if key is None:
            return 0
        path = self.path / _SECRET
        try:
            tmp, _ = self._write_temp(path, f"{key}\n".encode("ascii"))
            os.replace(tmp, path)
            _fsync_dir(self.path)
        except OSError as e:
            raise StoreError(f"cannot write {path}: {e.strerror or e}") from None
        return 1

    def version(self) -> str:
        """A token that changes whenever any item changes, in any process (for ETags).

        Built from the shard files' signatures, which every write changes (see
        ``_write_temp``).  Writes not yet committed do not count.
        """
        digest = hashlib.blake2b(digest_size=10)
        for part in self._shards:
            digest.update(repr(_stat_sig(part.path)).encode())
        return digest.hexdigest()

    def find_by_title(self, title_key: str, since: datetime) -> Item | None:
        """The first item seen with this normalised title, if it was first seen at or after
        *since* (within the last :data:`api.TITLE_INDEX_DAYS` days)."""
        entry = self._titles.get(title_key)
        if entry is None or dt_in(entry["first_seen"]) < since:
            return None
        return self.get_item(entry["id"])

    def alias_of(self, alias_id: str) -> str | None:
        """The id of the item that another URL's story (id *alias_id*) was merged into.

        Kept for good (16 small files): after the same-title window has passed, a feed that
        still carries the other URL must find the reviewed item, not start a new one."""
        if not ITEM_ID.match(alias_id):
            return None
        doc = self._aliases[int(alias_id[0], 16)].get(alias_id)
        return None if doc is None else str(doc["id"])

    def put_alias(self, alias_id: str, item_id: str) -> None:
        """Record that the story with id *alias_id* is item *item_id*."""
        self._require_transaction()
        if not (ITEM_ID.match(alias_id) and ITEM_ID.match(item_id)):
            raise ValueError(f"{alias_id!r} -> {item_id!r}: both must be item ids")
        if alias_id != item_id:
            self._aliases[int(alias_id[0], 16)].put(alias_id, {"id": item_id})

    def _index_title(self, title_key: str, item_id: str, first_seen: str) -> None:
        current = self._titles.get(title_key)
        if current is not None:
            if current["id"] == item_id:
                return
            window = timedelta(days=api.TITLE_INDEX_DAYS)
            if dt_in(current["first_seen"]) >= dt_in(first_seen) - window:
                return  # the earlier story keeps the title
        self._titles.put(title_key, {"id": item_id, "first_seen": first_seen})

    def _prune_titles(self) -> None:
        """Forget titles older than the window, when the index is written anyway.

        Relative to the newest stamp in the index, not the wall clock, so a store written
        under a test clock (or a skewed one) keeps what its writers look up.
        """
        docs = self._titles.docs()
        if not docs:
            return
        # Stamps are written in one fixed ISO format (``dt_out``), so they sort as strings.
        newest = max(d["first_seen"] for d in docs.values())
        cutoff = dt_out(dt_in(newest) - timedelta(days=api.TITLE_INDEX_DAYS))
        stale = tuple(k for k, d in docs.items() if d["first_seen"] < cutoff)
        if stale:
            self._titles.put_many({}, remove=stale)

    # research identity and look-ups (issue 12) --------------------------------------------------

    def find_by_research_id(self, keys: tuple[str, ...]) -> Item | None:
        """The item first stored under any of *keys* (``doi:…``, ``arxiv:…``, as
        :func:`curator.identifiers.identity_keys` makes them), following a merge."""
        for key in keys:
            try:
                doc = self._research_ids.get(key)
            except StoreCorrupt:  # shown as damage; until repaired, no merge by identifier
                return None
            if doc is None:
                continue
            found = self.get_item(str(doc["id"]))
            if found is None:
                joined = self.alias_of(str(doc["id"]))
                found = self.get_item(joined) if joined else None
            if found is not None:
                return found
        return None

    def _index_research_ids(self, item: Item, previous: Item | None) -> None:
        """Note *item*'s DOI and arXiv id (a key already taken keeps its first item)."""
        keys = identity_keys(item.doi, item.arxiv_id)
        if not keys or (
            previous is not None and keys == identity_keys(previous.doi, previous.arxiv_id)
        ):
            return
        try:
            new = {k: {"id": item.id} for k in keys if self._research_ids.get(k) is None}
            if new:
                self._research_ids.put_many(new)
        except StoreCorrupt as e:
            # Derived data: a damaged index must not stop items being stored (repair rebuilds
            # it from them); until then this item is found by URL and title only.
            log.warning("research id index not updated item=%s: %s", item.id, e)

    def _rebuild_research_ids(self) -> None:
        """The research identity index again from the items: it is derived data."""
        with contextlib.suppress(StoreCorrupt):
            current = self._research_ids.docs()
            self._research_ids.put_many({}, remove=tuple(current))
        for item in sorted(self.items(), key=lambda i: i.first_seen):
            self._index_research_ids(item, None)

    def get_lookup(self, key: str) -> dict[str, Any] | None:
        """A cached metadata look-up (``{"at", "ok", "meta", "error"}``), or None."""
        doc = self._research_cache.get(key)
        return None if doc is None else copy.deepcopy(doc)

    def put_lookup(self, key: str, *, at: datetime, ok: bool, meta: Any, error: str | None) -> None:
        """Cache one look-up's outcome (a failure too, so it is retried only later); past
        :data:`api.MAX_RESEARCH_CACHE` the oldest are forgotten."""
        self._require_transaction()
        meta = json_value(meta, f"look-up {key!r}: not a JSON value")
        self._research_cache.put(key, {"at": dt_out(at), "ok": ok, "meta": meta, "error": error})
        docs = self._research_cache.docs()
        if len(docs) > api.MAX_RESEARCH_CACHE:
            oldest = heapq.nsmallest(
                len(docs) - api.MAX_RESEARCH_CACHE, docs, key=lambda k: (docs[k]["at"], k)
            )
            self._research_cache.put_many({}, remove=tuple(oldest))

    # source state ------------------------------------------------------------------------------

    def get_state(self, source_id: str) -> SourceState | None:
        doc = self._sources.get(source_id)
        return None if doc is None else self._decode(self._sources, SourceState, source_id, doc)

    def put_state(self, state: SourceState) -> None:
        self._require_transaction()
        self._sources.put(state.source_id, STATE.encode(state))

    def states(self, source_ids: Collection[str] | None = None) -> dict[str, SourceState]:
        part = self._sources
        docs = part.docs()
        keys = docs.keys() if source_ids is None else [k for k in source_ids if k in docs]
        return {k: self._decode(part, SourceState, k, docs[k]) for k in keys}

    # editors -----------------------------------------------------------------------------------

    def get_user(self, name: str) -> User | None:
        doc = self._users.get(name)
        return None if doc is None else self._decode(self._users, User, name, doc)

    def put_user(self, user: User) -> None:
        self._require_transaction()
        self._users.put(user.name, USER.encode(user))

    def delete_user(self, name: str) -> bool:
        """Remove an account; False when there was none by that name."""
        self._require_transaction()
        if self._users.get(name) is None:
            return False
        self._users.put_many({}, remove=(name,))
        return True

    def users(self) -> list[User]:
        """Every account, by name."""
        part = self._users
        return sorted(
            (self._decode(part, User, k, d) for k, d in part.docs().items()),
            key=lambda u: u.name,
        )

    # digests -----------------------------------------------------------------------------------

    def get_digest(self, digest_id: str) -> DigestRecord | None:
        doc = self._digests.get(digest_id)
        return None if doc is None else self._decode(self._digests, DigestRecord, digest_id, doc)

    def put_digest(self, record: DigestRecord) -> None:
        self._require_transaction()
        self._digests.put(record.id, DIGEST.encode(record))

    def digests(self) -> list[DigestRecord]:
        """Every digest record, newest (by created_at) first."""
        part = self._digests
        records = [self._decode(part, DigestRecord, k, d) for k, d in part.docs().items()]
        records.sort(key=lambda r: (r.created_at, r.id), reverse=True)
        return records

    # near misses -------------------------------------------------------------------------------

    def get_near_miss(self, item_id: str) -> NearMiss | None:
        doc = self._near.get(item_id)
        return None if doc is None else self._decode(self._near, NearMiss, item_id, doc)

    def put_near_miss(self, near: NearMiss) -> None:
        """Keep *near* (replacing one with its id); past :data:`api.MAX_NEAR_MISSES` the oldest
        go."""
        self._require_transaction()
        if not ITEM_ID.match(near.id):
            raise ValueError(f"{near.id!r} is not an item id (16 lower-case hex digits)")
        self._near.put(near.id, NEAR.encode(near))
        self._near_added = True  # the cap applies as the transaction ends (_cap_near_misses)

    def _cap_near_misses(self) -> None:
        """Past :data:`api.MAX_NEAR_MISSES` the oldest go, once a transaction: trimming after
        every put made a poll that keeps thousands of near misses quadratic (each trim
        merged and scanned them all)."""
        docs = self._near.docs()
        if len(docs) > api.MAX_NEAR_MISSES:
            # Stamps are written in one fixed ISO format (``dt_out``), so they sort as strings.
            oldest = heapq.nsmallest(
                len(docs) - api.MAX_NEAR_MISSES, docs, key=lambda k: (docs[k]["seen_at"], k)
            )
            self._near.put_many({}, remove=tuple(oldest))

    def delete_near_miss(self, item_id: str) -> bool:
        """Forget a near miss (promoted, or become an item); False when there was none."""
        self._require_transaction()
        if self._near.get(item_id) is None:
            return False
        self._near.put_many({}, remove=(item_id,))
        return True

    def near_misses(self) -> list[NearMiss]:
        """Every near miss kept, the latest seen first."""
        part = self._near
        found = [self._decode(part, NearMiss, k, d) for k, d in part.docs().items()]
        found.sort(key=lambda n: (n.seen_at, n.id), reverse=True)
        return found

    def prune_near_misses(self, before: datetime) -> int:
        """Forget the near misses seen before *before*; how many.  Writes only when some
        are that old."""
        self._require_transaction()
        cutoff = dt_out(before)
        docs = self._near.docs()
        stale = tuple(k for k, d in docs.items() if str(d.get("seen_at", "")) < cutoff)
        if stale:
            self._near.put_many({}, remove=stale)
        return len(stale)

    # entries kept for trying rules -------------------------------------------------------------

    def _seen_bucket(self, seen_at: datetime) -> _Partition:
        return self._seen[int(seen_at.timestamp()) // SEEN_PERIOD % SEEN_BUCKETS]

    def _seen_where(self, item_id: str) -> _Partition | None:
        """The bucket holding the kept entry *item_id*, if any (damaged buckets are passed
        over: what they held is lost until repaired, and polls add it again)."""
        for part in self._seen:
            with contextlib.suppress(StoreCorrupt):
                if item_id in part.docs():
                    return part
        return None

    def keep_seen(self, entries: Iterable[SeenEntry]) -> int:
        """Keep each of *entries* unless an entry with its id is kept already (the first
        sighting counts, as for near misses, so a feed repeating an entry writes nothing);
        how many were added.  Raises StoreCorrupt when the period's file does not load."""
        self._require_transaction()
        pending: dict[str, SeenEntry] = {}
        for entry in entries:
            if not ITEM_ID.match(entry.id):
                raise ValueError(f"{entry.id!r} is not an item id (16 lower-case hex digits)")
            pending.setdefault(entry.id, entry)
        for part in self._seen:  # one pass per file, not one look-up per file and entry
            try:
                docs = part.docs()
            except StoreCorrupt:
                continue
            for key in [k for k in pending if k in docs]:
                del pending[key]
        for entry in pending.values():
            self._seen_bucket(entry.seen_at).put(entry.id, SEEN.encode(entry))
        return len(pending)

    def update_seen(self, entries: Iterable[SeenEntry]) -> None:
        """Replace kept entries (the same ids, a new outcome: ``curator rules apply``); an
        entry no longer kept (pruned meanwhile) stays gone."""
        self._require_transaction()
        for entry in entries:
            part = self._seen_where(entry.id)
            if part is not None:
                part.put(entry.id, SEEN.encode(entry))

    def seen(self, since: datetime | None = None) -> list[SeenEntry]:
        """The kept entries first seen at or after *since* (all by default), the latest
        first.  A damaged file is left out with one log line (``curator store verify``
        names it)."""
        cutoff = dt_out(since) if since is not None else ""
        out: dict[str, SeenEntry] = {}
        for part in self._seen:
            try:
                docs = part.docs()
                found = [
                    self._decode(part, SeenEntry, k, d)
                    for k, d in docs.items()
                    if str(d.get("seen_at", "")) >= cutoff
                ]
            except StoreCorrupt as e:
                log.warning(
                    "left out damaged kept entries path=%s reason=%s", part.path, _reason(e)
                )
                continue
            for entry in found:
                if entry.id not in out or out[entry.id].seen_at > entry.seen_at:
                    out[entry.id] = entry
        return sorted(out.values(), key=lambda e: (e.seen_at, e.id), reverse=True)

    def seen_count(self, since: datetime) -> int:
        """How many entries :meth:`seen` would give, without decoding them (the Rules page)."""
        cutoff = dt_out(since)
        ids: set[str] = set()
        for part in self._seen:
            with contextlib.suppress(StoreCorrupt):
                ids.update(k for k, d in part.docs().items() if str(d.get("seen_at", "")) >= cutoff)
        return len(ids)

    def prune_seen(self, before: datetime) -> int:
        """Forget the kept entries first seen before *before*; how many.  Writes only the
        files that hold such entries; a damaged file is passed over.  Each file's oldest
        stamp is remembered while the file is unchanged, so a poll's commit does not read
        every kept entry to find none to prune."""
        self._require_transaction()
        cutoff = dt_out(before)
        pruned = 0
        for part in self._seen:
            if part.overlay is None and _stat_sig(part.path) is None:
                continue  # never written: nothing to prune
            try:
                docs = part.docs()
                snap = part.snapshot()
            except StoreCorrupt:
                continue
            known = self._seen_oldest.get(part.path)
            if part.overlay is None and known is not None and known[0] is snap:
                oldest = known[1]
            else:
                oldest = min((str(d.get("seen_at", "")) for d in docs.values()), default="~")
                if part.overlay is None:
                    self._seen_oldest[part.path] = (snap, oldest)
            if oldest >= cutoff:
                continue
            stale = tuple(k for k, d in docs.items() if str(d.get("seen_at", "")) < cutoff)
            if stale:
                part.put_many({}, remove=stale)
                pruned += len(stale)
        return pruned

    # small values ------------------------------------------------------------------------------

    def get_meta(self, key: str, default: Any = None) -> Any:
        """The value stored under *key* (a copy: changing it changes nothing stored)."""
        doc = self._meta.get(key)
        return default if doc is None else copy.deepcopy(doc["value"])

    def put_meta(self, key: str, value: Any) -> None:
        """Store a JSON value (dicts with str keys, lists, str, numbers, bools, None)."""
        self._require_transaction()
        value = json_value(value, f"meta {key!r}: not a JSON value")
        self._meta.put(key, {"value": value})

    # the learned ranking's model ---------------------------------------------------------------

    def get_model(self) -> dict[str, Any] | None:
        """The stored model document (JSON data, never code: see :mod:`curator.learn`), or
        None before one was trained.  Read only: it is the cached copy."""
        doc = self._model.get("current")
        return doc

    def put_model(self, doc: Mapping[str, Any]) -> None:
        """Replace the model (one file, written like every other: atomic, under the lock)."""
        self._require_transaction()
        value = json_value(doc, "the model is not JSON data")
        check_model_doc("current", value)
        self._model.put("current", value)

    def model_version(self) -> _Sig | None:
        """A signature of the model file that changes whenever any process writes it."""
        return _stat_sig(self._model.path)

    def ping(self) -> None:
        """An unmounted disk or a removed directory reads as an empty store: look first."""
        try:
            with os.scandir(self.path / "items"):
                pass
        except OSError as e:
            raise StoreError(
                f"{self.path}: the store directory cannot be read: {e.strerror or e}"
            ) from None

    # shared between processes ------------------------------------------------------------------

    @contextlib.contextmanager
    def lock(self, name: str, *, wait: float) -> Iterator[bool]:
        """A file lock ``<store>/.<name>.lock`` (the OS releases it when its holder dies)."""
        if not re.fullmatch(r"[\w.-]+", name):
            raise ValueError(f"{name!r} is not a lock name")
        import filelock

        lock = filelock.FileLock(str(self.path / f".{name}.lock"), thread_local=False)
        try:
            lock.acquire(timeout=wait)
        except filelock.Timeout:
            yield False
            return
        except OSError as e:
            raise StoreError(f"cannot lock {self.path / f'.{name}.lock'}: {e}") from e
        try:
            yield True
        finally:
            lock.release()

    def claim(self, windows: Mapping[str, float], *, holder: str, now: datetime) -> set[str]:
        """Every source: one `curator serve` per store directory (:meth:`server_lock`), so
        no other scheduler polls its sources."""
        return set(windows)

    def session_key(self) -> str:
        """Kept in ``<store>/secret_key`` (mode 0600), data that backups carry."""
        from curator.secret_key import key_file

        return key_file(self.path)

    # one server per store ----------------------------------------------------------------------

    def check_writable(self) -> None:
        """Raise StoreError, with one line that says what to fix, unless this process can
        write in every folder of the store and open its lock files.

        ``curator serve`` calls it before anything else: a store it cannot write would
        otherwise start, serve pages, and fail every poll and every decision later."""
        folders = [self.path, self.path / "items", self.path / "aliases", self.path / "seen"]
        folders += [d for d in (self.path / "backups",) if d.is_dir()]
        for folder in folders:
            probe = folder / f".writable.{os.getpid()}.{secrets.token_hex(4)}.tmp"
            try:
                probe.write_bytes(b"")
                probe.unlink()
            except OSError as e:
                raise StoreError(self._unwritable(folder, e)) from None
        for name in (".lock", ".serve.lock"):
            path = self.path / name
            if path.exists():
                try:
                    with path.open("a"):
                        pass
                except OSError as e:
                    raise StoreError(self._unwritable(path, e)) from None

    @staticmethod
    def _unwritable(path: Path, e: OSError) -> str:
        user = _user_name()
        return (
            f"the store is not writable: cannot write in {path} ({e.strerror or e}). "
            f"Give the user {user} write access to the store directory (or mount it "
            "read-write, or free space), then start again."
        )

    @contextlib.contextmanager
    def server_lock(self) -> Iterator[None]:
        """Held for the life of `curator serve`: a second one on this store fails at once."""
        path = self.path / ".serve.lock"
        import filelock

        lock = filelock.FileLock(str(path), thread_local=False)
        try:
            lock.acquire(timeout=0)
        except filelock.Timeout:
            try:
                pid = path.read_text().strip() or "unknown"
            except OSError:
                pid = "unknown"
            raise StoreLocked(
                f"another `curator serve` is already running on {self.path} (pid {pid})"
            ) from None
        except OSError as e:
            raise StoreError(f"cannot lock {path}: {e}") from e
        try:
            try:
                path.write_text(f"{os.getpid()}\n")
            except OSError as e:  # a full disk, a file-size limit: one clear line, not a traceback
                raise StoreError(
                    f"cannot write {path} ({e.strerror or e}): is the disk full or the store "
                    "read-only? Free space or fix the permissions, then start again."
                ) from None
            yield
        finally:
            with contextlib.suppress(OSError):
                path.write_text("")
            lock.release()

    # helpers -----------------------------------------------------------------------------------

    @staticmethod
    def _decode(part: _Partition, cls: type[T], key: str, doc: Any) -> T:
        try:
            return cast(T, dataclass_codec(cls).decode(doc))
        except (ValueError, TypeError) as e:
            raise StoreCorrupt(part.path, f"{part.name} {key!r}: {e}") from None


def _user_name() -> str:
    """The user this process runs as, for messages about permissions."""
    import pwd

    try:
        return f"{pwd.getpwuid(os.geteuid()).pw_name!r}"
    except KeyError:
        return f"with uid {os.geteuid()}"
