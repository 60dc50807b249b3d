"""The PostgreSQL backend: the store's documents in one database, for several instances.

Set ``CURATOR_DATABASE_URL=postgresql://user@host/db`` (the password in the URL or in
``~/.pgpass`` / ``PGPASSWORD``, never in feeds.yaml), run ``curator migrate`` once, and any
number of ``curator serve`` instances share the data.  What it keeps of the TinyDB backend's
promises (:mod:`curator.store.api`), and how:

* **Serialised writes.**  Every transaction first takes one transaction-scoped advisory lock
  (``pg_advisory_xact_lock``), so read-modify-write blocks (approve unless someone else
  changed the item, append a digest to the ledger) never interleave, on one machine or many.
  It is the guarantee the file lock gave; writes are short (one poll's items, one decision),
  so serialising them costs little.  Reads take no lock and see committed data.
* **Read your writes.**  A transaction keeps its connection for the thread that opened it;
  the thread's reads inside it go through that connection.
* **One encoding.**  Documents are the codecs' JSON (``jsonb``), columns lifted out of them
  serve the queries (:mod:`curator.store.migrations`).
* **Cross-instance locks** (:meth:`PostgresStore.lock`) are session advisory locks on a
  connection of their own: the server releases them when the holder's connection ends, so a
  killed instance frees the scheduler and the digest sender at once.

Connections come from a pool (psycopg_pool), at most ``pool_size`` per process.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import secrets
import threading
import time
from collections.abc import Collection, Iterable, Iterator, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, TypeVar, cast
from urllib.parse import urlsplit, urlunsplit

import psycopg
from psycopg.rows import tuple_row
from psycopg.types.json import Jsonb
from psycopg_pool import ConnectionPool, PoolTimeout

from curator.exceptions import SchemaError, StoreError, StoreLocked
from curator.identifiers import identity_keys
from curator.store import api
from curator.store.codecs import (
    DIGEST,
    ITEM,
    ITEM_ID,
    NEAR,
    SEEN,
    STATE,
    USER,
    canonical_doc,
    check_model_doc,
    dataclass_codec,
    dt_in,
    dt_out,
    json_value,
)
from curator.store.migrations import MIGRATIONS
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
    from curator.store.tinydb import Damage

__all__ = ["PostgresStore", "migrate", "redact"]

log = logging.getLogger("curator.store")

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)  # the rank of an item never reviewed

T = TypeVar("T")

#: The advisory lock every write transaction takes (an arbitrary constant of ours).
_WRITE_LOCK = 0x43555241544F52  # "CURATOR"
#: The advisory lock under which migrations run.
_MIGRATE_LOCK = _WRITE_LOCK + 1


def _failure_key(key: str) -> str:
    """How a throttle key (an account name, an address: personal data, and holding NULs
    PostgreSQL text refuses) is kept: its SHA-256."""
    return hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()


def redact(url: str) -> str:
    """*url* without its password, for messages and logs."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.hostname or ""
    if parts.port:
        host += f":{parts.port}"
    user = f"{parts.username}@" if parts.username else ""
    return urlunsplit(parts._replace(netloc=f"{user}{host}"))


def _lock_key(name: str) -> int:
    """A signed 64-bit advisory lock key for *name* (stable across processes and versions)."""
    digest = hashlib.blake2b(f"curator:{name}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


def _connect_error(url: str, e: Exception) -> StoreError:
    return StoreError(
        f"cannot connect to the database {redact(url)}: {str(e).strip() or type(e).__name__}. "
        "Check CURATOR_DATABASE_URL (host, port, database, user; the password in the URL, "
        "PGPASSWORD or ~/.pgpass) and that the server is running."
    )


def schema_version(conn: psycopg.Connection[Any]) -> int:
    """The highest migration applied (0 for a database Curator never used)."""
    found = conn.execute("SELECT to_regclass('curator_schema') IS NOT NULL").fetchone()
    if not found or not found[0]:
        return 0
    row = conn.execute("SELECT coalesce(max(version), 0) FROM curator_schema").fetchone()
    return int(row[0]) if row else 0


def migrate(url: str) -> list[str]:
    """Apply the migrations the database lacks, in order; the names of those applied.

    Safe to run from several instances at once (an advisory lock) and again (a no-op).
    """
    try:
        conn = psycopg.connect(url, autocommit=True, connect_timeout=10)
    except psycopg.Error as e:
        raise _connect_error(url, e) from None
    applied: list[str] = []
    with conn:
        conn.execute("SELECT pg_advisory_lock(%s)", (_MIGRATE_LOCK,))
        try:
            conn.execute(
                "CREATE TABLE IF NOT EXISTS curator_schema ("
                " version integer PRIMARY KEY, name text NOT NULL,"
                " applied_at timestamptz NOT NULL DEFAULT now())"
            )
            current = schema_version(conn)
            newest = MIGRATIONS[-1].version
            if current > newest:
                raise SchemaError(
                    f"{redact(url)} has schema version {current}, newer than this Curator "
                    f"knows ({newest}): upgrade Curator on this machine"
                )
            for step in MIGRATIONS:
                if step.version <= current:
                    continue
                with conn.transaction():
                    conn.execute(step.sql.encode())
                    conn.execute(
                        "INSERT INTO curator_schema (version, name) VALUES (%s, %s)",
                        (step.version, step.name),
                    )
                log.info(
                    "migrated database=%s version=%d name=%s", redact(url), step.version, step.name
                )
                applied.append(f"{step.version}: {step.name}")
        except psycopg.Error as e:
            raise StoreError(f"{redact(url)}: migration failed: {e}") from None
        finally:
            conn.execute("SELECT pg_advisory_unlock(%s)", (_MIGRATE_LOCK,))
    return applied


#: The All items list's page, newest article first (along migration 4's index).
ALL_ITEMS_PAGE = (
    "SELECT id, doc FROM items"
    ' ORDER BY (doc->>\'published\') COLLATE "C" DESC, id COLLATE "C" LIMIT %s OFFSET %s'
)


class _Tx(threading.local):
    conn: psycopg.Connection[Any] | None = None
    depth = 0
    caps: dict[str, int]  # tables to trim to a size when the transaction ends (PostgresStore._cap)


#: The statuses whose decoded items each PostgresStore keeps in memory: the queue, read by
#: every editor page load and small by nature (an editor works it down).  Approved and
#: rejected items grow without bound; their readers ask the queries above for a window.
_CACHED: frozenset[str] = frozenset({"pending"})


class _ItemCache:
    """The decoded items of the cached statuses, as of the item sequence number ``seq``.

    Every committed item write takes a new ``seq`` (``items_seq``) while it holds the write
    lock, and commits before the lock passes on, so the rows past ``seq`` are exactly the
    writes committed since the last look: a refresh reads those (normally none or a few) and
    decodes only those of a cached status.  Items are never deleted by Curator; should rows
    vanish all the same (a restore, a hand-made DELETE), the per-status counters (kept by
    triggers in the same transactions) no longer match the cache, and it is read afresh.
    Reads inside a transaction bypass the cache: they must see their own uncommitted writes,
    which must never enter it.
    """

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.seq = -1  # nothing read yet
        self.by_status: dict[str, dict[str, Item]] = {s: {} for s in _CACHED}
        self.counted: dict[str, int] = {}

    def items(self, store: PostgresStore, status: str) -> list[Item]:
        with self.lock:
            self._refresh(store)
            if not self._counts_match():
                self.seq = -1  # rows vanished: read everything again
                self._refresh(store)
            return list(self.by_status[status].values())

    def _refresh(self, store: PostgresStore) -> None:
        cached = sorted(_CACHED)
        with store._conn() as conn, conn.transaction():
            # One snapshot for the rows, the newest seq and the counts.
            conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
            cur = conn.cursor(row_factory=tuple_row)
            if self.seq < 0:
                rows = cur.execute(
                    "SELECT id, status, seq, doc FROM items WHERE status = ANY(%s)", (cached,)
                ).fetchall()
                top = cur.execute("SELECT coalesce(max(seq), 0) FROM items").fetchone()
                self.by_status = {s: {} for s in _CACHED}
                self.seq = int(top[0]) if top else 0
            else:
                rows = cur.execute(
                    "SELECT id, status, seq, CASE WHEN status = ANY(%s) THEN doc END"
                    " FROM items WHERE seq > %s ORDER BY seq",
                    (cached, self.seq),
                ).fetchall()
            counted = cur.execute(
                "SELECT name, value FROM counters WHERE name = ANY(%s)",
                ([f"items:{s}" for s in cached],),
            ).fetchall()
        for key, status, seq, doc in rows:
            for group in self.by_status.values():
                group.pop(key, None)
            if status in self.by_status:
                self.by_status[status][key] = store._item(key, doc)
            self.seq = max(self.seq, int(seq))
        self.counted = {str(name).removeprefix("items:"): int(n) for name, n in counted}

    def _counts_match(self) -> bool:
        return all(len(group) == self.counted.get(s, 0) for s, group in self.by_status.items())


class PostgresStore:
    """The :class:`curator.store.api.Store` interface on a PostgreSQL database."""

    def __init__(
        self, url: str, *, lock_timeout: float = 60.0, pool_size: int = 8, check: bool = True
    ) -> None:
        """Connect (lazily, through a pool) to the database at *url*.

        With *check* the schema is verified first: a database that lacks migrations raises
        :class:`SchemaError` telling to run ``curator migrate``.
        """
        self.url = url
        self.location = redact(url)
        self._lock_timeout = lock_timeout
        self._tx = _Tx()
        self._cache = _ItemCache()
        self._pool = ConnectionPool(
            url,
            min_size=1,
            max_size=pool_size,
            kwargs={"autocommit": True, "connect_timeout": 10},
            open=False,
            name="curator",
        )
        try:
            self._pool.open(wait=True, timeout=15)
        except PoolTimeout as e:
            self._pool.close()
            raise _connect_error(url, e) from None
        if check:
            try:
                self.check_schema()
            except BaseException:
                self._pool.close()
                raise

    def __repr__(self) -> str:
        return f"PostgresStore({self.location!r})"

    def close(self) -> None:
        self._pool.close()

    def check_schema(self) -> None:
        with self._conn() as conn:
            current = schema_version(conn)
        newest = MIGRATIONS[-1].version
        if current < newest:
            raise SchemaError(
                f"{self.location} has schema version {current}, this Curator needs {newest}: "
                "run `curator migrate` (with the same CURATOR_DATABASE_URL) first"
            )
        if current > newest:
            raise SchemaError(
                f"{self.location} has schema version {current}, newer than this Curator "
                f"knows ({newest}): upgrade Curator on this machine"
            )

    # connections and transactions ----------------------------------------------------------------

    @contextlib.contextmanager
    def _conn(self) -> Iterator[psycopg.Connection[Any]]:
        """The thread's transaction connection, or a pooled one for one read."""
        conn = self._tx.conn
        if conn is not None:
            yield conn
            return
        with self._pooled() as pooled:
            yield pooled

    @contextlib.contextmanager
    def _pooled(self) -> Iterator[psycopg.Connection[Any]]:
        """A connection of the pool for the block; an empty pool or a server that is away
        becomes one clear StoreError."""
        try:
            with self._pool.connection(timeout=self._lock_timeout) as conn:
                yield conn
        except PoolTimeout:
            raise StoreLocked(
                f"{self.location}: no database connection free for {self._lock_timeout:g} s"
            ) from None
        except psycopg.OperationalError as e:
            raise StoreError(f"{self.location}: the database is unreachable: {e}") from None

    def _rows(self, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        with self._conn() as conn:
            return conn.cursor(row_factory=tuple_row).execute(sql, params).fetchall()

    def _one(self, sql: str, params: tuple[Any, ...] = ()) -> tuple[Any, ...] | None:
        rows = self._rows(sql, params)
        return rows[0] if rows else None

    def _write(self, sql: str, params: tuple[Any, ...] = ()) -> int:
        conn = self._require_transaction()
        try:
            return conn.execute(sql, params).rowcount
        except psycopg.DataError as e:
            # jsonb refuses what JSON allows but PostgreSQL text cannot hold (a NUL, "\u0000"):
            # feed text never carries one (curator.normalize strips them), hand-made data may.
            raise StoreError(
                f"{self.location}: the database refused a value ({e.diag.message_primary}): "
                f"{e.diag.context or sql.split('(')[0].strip()}"
            ) from None

    def _require_transaction(self) -> psycopg.Connection[Any]:
        conn = self._tx.conn
        if conn is None:
            raise StoreError("store writes must happen inside `with store.transaction():`")
        return conn

    @contextlib.contextmanager
    def transaction(self) -> Iterator[None]:
        """Serialised with every other transaction on the database; re-entrant; all or
        nothing (an inner block has no savepoint, as with TinyDB)."""
        if self._tx.conn is not None:
            self._tx.depth += 1
            try:
                yield
            finally:
                self._tx.depth -= 1
            return
        with self._pooled() as conn, conn.transaction():
            conn.execute(
                "SELECT set_config('lock_timeout', %s, true)",
                (f"{int(self._lock_timeout * 1000)}ms",),
            )
            try:
                conn.execute("SELECT pg_advisory_xact_lock(%s)", (_WRITE_LOCK,))
            except psycopg.errors.LockNotAvailable:
                raise StoreLocked(
                    f"{self.location} is busy: another transaction held the store for "
                    f"over {self._lock_timeout:g} s"
                ) from None
            conn.execute("SELECT set_config('lock_timeout', '0', true)")
            self._tx.conn, self._tx.depth, self._tx.caps = conn, 1, {}
            try:
                yield
                for table, keep in self._tx.caps.items():
                    conn.execute(
                        "DELETE FROM docs WHERE tbl = %s AND key IN (SELECT key FROM docs"
                        " WHERE tbl = %s ORDER BY stamp DESC, key DESC OFFSET %s)",
                        (table, table, keep),
                    )
            finally:
                self._tx.conn, self._tx.depth = None, 0

    # items ---------------------------------------------------------------------------------------

    def get_item(self, item_id: str) -> Item | None:
        if not ITEM_ID.match(item_id):
            return None
        row = self._one("SELECT doc FROM items WHERE id = %s", (item_id,))
        return None if row is None else self._item(item_id, row[0])

    def _item(self, key: str, doc: Any) -> Item:
        return self._decode("items", Item, key, doc)

    def put_item(self, item: Item) -> None:
        self._require_transaction()
        if not ITEM_ID.match(item.id):
            raise ValueError(f"{item.id!r} is not an item id (16 lower-case hex digits)")
        doc = ITEM.encode(item)
        previous = self.get_item(item.id)
        self._write(
            "INSERT INTO items (id, status, first_seen, reviewed_at, seq, doc)"
            " VALUES (%s, %s, %s, %s, nextval('items_seq'), %s)"
            " ON CONFLICT (id) DO UPDATE SET status = excluded.status,"
            " first_seen = excluded.first_seen, reviewed_at = excluded.reviewed_at,"
            " seq = excluded.seq, doc = excluded.doc",
            (item.id, item.status, doc["first_seen"], doc.get("reviewed_at"), Jsonb(doc)),
        )
        if item.title_key and (previous is None or previous.title_key != item.title_key):
            self._index_title(item.title_key, item.id, doc["first_seen"])
        self._index_research_ids(item, previous)

    def items(self, status: Status | None = None) -> list[Item]:
        if status in _CACHED and self._tx.conn is None:
            return self._cache.items(self, status)
        if status is None:
            rows = self._rows("SELECT id, doc FROM items")
        else:
            rows = self._rows("SELECT id, doc FROM items WHERE status = %s", (status,))
        return [self._item(key, doc) for key, doc in rows]

    def iter_items(
        self, status: Status | None = None, containing: Sequence[str] = ()
    ) -> Iterator[Item]:
        """Every item of *status*: *containing* is not used to leave any out here (the
        queue's are cached, the others' filters are the web lists', not yet queries)."""
        yield from self.items(status)

    def items_seen_since(self, since: datetime) -> list[Item]:
        rows = self._rows("SELECT id, doc FROM items WHERE first_seen >= %s", (dt_out(since),))
        return [self._item(key, doc) for key, doc in rows]

    def item_changes(self, token: object | None) -> tuple[list[Item] | None, object]:
        """Rows past the sequence number *token*: every committed item write takes the next
        number while it holds the write lock, so those are exactly the writes since."""
        if not isinstance(token, int):
            row = self._one("SELECT coalesce(max(seq), 0) FROM items")
            return None, int(row[0]) if row else 0
        rows = self._rows("SELECT id, doc, seq FROM items WHERE seq > %s ORDER BY seq", (token,))
        items = [self._item(key, doc) for key, doc, _ in rows]
        return items, max((int(seq) for _, _, seq in rows), default=token)

    def approved_ranks(self, since: datetime) -> list[tuple[datetime, datetime, str, str]]:
        rows = self._rows(
            "SELECT doc->>'published', reviewed_at, id, doc->>'category' FROM items"
            " WHERE status = 'approved' AND review_time > %s",
            (dt_out(since),),
        )
        return [
            (dt_in(published), dt_in(reviewed) if reviewed else _EPOCH, str(key), str(category))
            for published, reviewed, key, category in rows
        ]

    def undigested(self) -> list[str]:
        rows = self._rows(
            "SELECT id FROM items WHERE status = 'approved' AND doc->>'digest_id' IS NULL"
        )
        return [str(key) for (key,) in rows]

    def decisions(self, but: str) -> api.Decisions:
        """Two index-only questions of the item columns and the reviewer in the document
        (no item decoded); sorted here, so that the order is Python's whatever the
        database's collation."""
        mine = "(status = 'rejected' AND doc->>'reviewed_by' IS NOT DISTINCT FROM %s)"
        rows = self._rows(
            f"SELECT id, status FROM items WHERE status IN ('approved', 'rejected') AND NOT {mine}",
            (but,),
        )
        labels = sorted((str(key), int(status == "approved")) for key, status in rows)
        row = self._one(
            f"SELECT max(reviewed_at) FROM items WHERE reviewed_at IS NOT NULL AND NOT {mine}",
            (but,),
        )
        return api.Decisions(labels, None if row is None or row[0] is None else dt_in(row[0]))

    def counts(self) -> dict[str, int]:
        """Kept by triggers in the writing transactions (migration 3): no scan."""
        counts: dict[str, int] = dict.fromkeys(STATUSES, 0)
        for name, n in self._rows(
            "SELECT name, value FROM counters WHERE name LIKE %s", ("items:%",)
        ):
            status = str(name).removeprefix("items:")
            if status in counts:
                counts[status] = int(n)
        return counts

    def items_reviewed_since(self, status: Status, since: datetime) -> Iterator[Item]:
        """In pages along ``items_approved_by_rank`` (for ``approved``), each a little
        larger, so the outputs' first 50 cost one short query."""
        cutoff = dt_out(since)
        after: str | None = None
        size = 64
        while True:
            if after is None:
                rows = self._rows(
                    "SELECT rank_key, id, doc FROM items WHERE status = %s AND review_time > %s"
                    " ORDER BY rank_key DESC LIMIT %s",
                    (status, cutoff, size),
                )
            else:
                rows = self._rows(
                    "SELECT rank_key, id, doc FROM items WHERE status = %s AND review_time > %s"
                    " AND rank_key < %s ORDER BY rank_key DESC LIMIT %s",
                    (status, cutoff, after, size),
                )
            for _, key, doc in rows:
                yield self._item(key, doc)
            if len(rows) < size:
                return
            after, size = str(rows[-1][0]), min(size * 4, 4096)

    def items_page(self, status: Status | None, start: int, size: int) -> list[Item]:
        if status is None:  # the stamps are fixed-width UTC (codecs.dt_out): text order
            rows = self._rows(ALL_ITEMS_PAGE, (max(size, 0), max(start, 0)))
            return [self._item(key, doc) for key, doc in rows]
        rows = self._rows(
            "SELECT id, doc FROM items WHERE status = %s ORDER BY decided_at DESC, id"
            " LIMIT %s OFFSET %s",
            (status, max(size, 0), max(start, 0)),
        )
        return [self._item(key, doc) for key, doc in rows]

    def last_reviewed(self, status: Status, until: datetime) -> datetime | None:
        row = self._one(
            "SELECT max(review_time) FROM items WHERE status = %s AND review_time <= %s",
            (status, dt_out(until)),
        )
        return None if row is None or row[0] is None else dt_in(row[0])

    def last_approved_change(self) -> datetime | None:
        row = self._one("SELECT max(changed_at) FROM items WHERE was_approved")
        return None if row is None or row[0] is None else dt_in(row[0])

    def version(self) -> str:
        """The newest committed item write's sequence number (transactional, unlike the
        sequence's own last_value, which moves before the writer commits)."""
        row = self._one("SELECT coalesce(max(seq), 0) FROM items")
        return f"pg-{row[0] if row else 0}"

    def find_by_title(self, title_key: str, since: datetime) -> Item | None:
        entry = self._doc("titles", title_key)
        if entry is None or dt_in(entry["first_seen"]) < since:
            return None
        return self.get_item(str(entry["id"]))

    def alias_of(self, alias_id: str) -> str | None:
        if not ITEM_ID.match(alias_id):
            return None
        doc = self._doc("aliases", alias_id)
        return None if doc is None else str(doc["id"])

    def put_alias(self, alias_id: str, item_id: str) -> None:
        self._require_transaction()
        if not (ITEM_ID.match(alias_id) and ITEM_ID.match(item_id)):
            raise ValueError(f"{alias_id!r} -> {item_id!r}: both must be item ids")
        if alias_id != item_id:
            self._put_doc("aliases", alias_id, {"id": item_id})

    def _index_title(self, title_key: str, item_id: str, first_seen: str) -> None:
        current = self._doc("titles", title_key)
        if current is not None:
            if current["id"] == item_id:
                return
            window = timedelta(days=api.TITLE_INDEX_DAYS)
            if dt_in(current["first_seen"]) >= dt_in(first_seen) - window:
                return  # the earlier story keeps the title
        self._put_doc("titles", title_key, {"id": item_id, "first_seen": first_seen}, first_seen)
        # Forget titles older than the window, relative to the newest stamp (as TinyDB does).
        newest = self._one("SELECT max(stamp) FROM docs WHERE tbl = 'titles'")
        if newest and newest[0]:
            cutoff = dt_out(dt_in(newest[0]) - timedelta(days=api.TITLE_INDEX_DAYS))
            self._write("DELETE FROM docs WHERE tbl = 'titles' AND stamp < %s", (cutoff,))

    def find_by_research_id(self, keys: tuple[str, ...]) -> Item | None:
        for key in keys:
            doc = self._doc("research_ids", key)
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
        keys = identity_keys(item.doi, item.arxiv_id)
        if not keys or (
            previous is not None and keys == identity_keys(previous.doi, previous.arxiv_id)
        ):
            return
        for key in keys:  # a key already taken keeps its first item
            self._write(
                "INSERT INTO docs (tbl, key, doc) VALUES ('research_ids', %s, %s)"
                " ON CONFLICT DO NOTHING",
                (key, Jsonb({"id": item.id})),
            )

    # metadata look-ups ---------------------------------------------------------------------------

    def get_lookup(self, key: str) -> dict[str, Any] | None:
        return self._doc("research_cache", key)

    def put_lookup(self, key: str, *, at: datetime, ok: bool, meta: Any, error: str | None) -> None:
        self._require_transaction()
        meta = json_value(meta, f"look-up {key!r}: not a JSON value")
        stamp = dt_out(at)
        self._put_doc(
            "research_cache", key, {"at": stamp, "ok": ok, "meta": meta, "error": error}, stamp
        )
        self._cap("research_cache", api.MAX_RESEARCH_CACHE)

    def _cap(self, table: str, keep: int) -> None:
        """Forget the oldest of *table* past *keep* entries (oldest by stamp, then key), once,
        as the transaction ends: trimming after every put made a poll storing thousands of
        near misses quadratic (each trim walks the whole table, and the rows it deleted
        before, still there for this transaction).  Within it, *table* may hold more."""
        self._require_transaction()
        self._tx.caps[table] = keep

    # source state, editors, digests --------------------------------------------------------------

    def get_state(self, source_id: str) -> SourceState | None:
        return self._get("sources", SourceState, source_id)

    def put_state(self, state: SourceState) -> None:
        self._require_transaction()
        self._put_doc("sources", state.source_id, STATE.encode(state))

    def states(self, source_ids: Collection[str] | None = None) -> dict[str, SourceState]:
        if source_ids is None:
            rows = self._docs("sources")
        else:
            rows = self._rows(
                "SELECT key, doc FROM docs WHERE tbl = 'sources' AND key = ANY(%s)",
                (list(source_ids),),
            )
        return {k: self._decode("sources", SourceState, k, d) for k, d in rows}

    def get_user(self, name: str) -> User | None:
        return self._get("users", User, name)

    def put_user(self, user: User) -> None:
        self._require_transaction()
        self._put_doc("users", user.name, USER.encode(user))

    def delete_user(self, name: str) -> bool:
        self._require_transaction()
        return self._write("DELETE FROM docs WHERE tbl = 'users' AND key = %s", (name,)) > 0

    def users(self) -> list[User]:
        found = [self._decode("users", User, k, d) for k, d in self._docs("users")]
        return sorted(found, key=lambda u: u.name)

    def get_digest(self, digest_id: str) -> DigestRecord | None:
        return self._get("digests", DigestRecord, digest_id)

    def put_digest(self, record: DigestRecord) -> None:
        self._require_transaction()
        self._put_doc("digests", record.id, DIGEST.encode(record))

    def digests(self) -> list[DigestRecord]:
        found = [self._decode("digests", DigestRecord, k, d) for k, d in self._docs("digests")]
        found.sort(key=lambda r: (r.created_at, r.id), reverse=True)
        return found

    # near misses and kept entries ----------------------------------------------------------------

    def get_near_miss(self, item_id: str) -> NearMiss | None:
        return self._get("near_misses", NearMiss, item_id)

    def put_near_miss(self, near: NearMiss) -> None:
        self._require_transaction()
        if not ITEM_ID.match(near.id):
            raise ValueError(f"{near.id!r} is not an item id (16 lower-case hex digits)")
        doc = NEAR.encode(near)
        self._put_doc("near_misses", near.id, doc, doc["seen_at"])
        self._cap("near_misses", api.MAX_NEAR_MISSES)

    def delete_near_miss(self, item_id: str) -> bool:
        self._require_transaction()
        deleted = self._write("DELETE FROM docs WHERE tbl = 'near_misses' AND key = %s", (item_id,))
        return deleted > 0

    def near_misses(self) -> list[NearMiss]:
        found = [self._decode("near_misses", NearMiss, k, d) for k, d in self._docs("near_misses")]
        found.sort(key=lambda n: (n.seen_at, n.id), reverse=True)
        return found

    def prune_near_misses(self, before: datetime) -> int:
        self._require_transaction()
        return self._write(
            "DELETE FROM docs WHERE tbl = 'near_misses' AND stamp < %s", (dt_out(before),)
        )

    def keep_seen(self, entries: Iterable[SeenEntry]) -> int:
        conn = self._require_transaction()
        pending: dict[str, SeenEntry] = {}
        for entry in entries:
            if not ITEM_ID.match(entry.id):
                raise ValueError(f"{entry.id!r} is not an item id (16 lower-case hex digits)")
            pending.setdefault(entry.id, entry)
        if not pending:
            return 0
        rows = []
        for entry in pending.values():
            doc = SEEN.encode(entry)
            rows.append((entry.id, doc["seen_at"], Jsonb(doc)))
        with conn.cursor() as cur:
            cur.executemany(
                "INSERT INTO docs (tbl, key, stamp, doc) VALUES ('seen', %s, %s, %s)"
                " ON CONFLICT DO NOTHING RETURNING key",
                rows,
                returning=True,
            )
            added = 0
            while True:
                added += len(cur.fetchall())
                if not cur.nextset():
                    break
        return added

    def update_seen(self, entries: Iterable[SeenEntry]) -> None:
        conn = self._require_transaction()
        rows = [(Jsonb(SEEN.encode(e)), e.id) for e in entries]
        if rows:
            conn.cursor().executemany(
                "UPDATE docs SET doc = %s WHERE tbl = 'seen' AND key = %s", rows
            )

    def seen(self, since: datetime | None = None) -> list[SeenEntry]:
        cutoff = dt_out(since) if since is not None else ""
        rows = self._rows(
            "SELECT key, doc FROM docs WHERE tbl = 'seen' AND stamp >= %s"
            " ORDER BY stamp DESC, key DESC",
            (cutoff,),
        )
        return [self._decode("seen", SeenEntry, k, d) for k, d in rows]

    def seen_count(self, since: datetime) -> int:
        row = self._one(
            "SELECT count(*) FROM docs WHERE tbl = 'seen' AND stamp >= %s", (dt_out(since),)
        )
        return int(row[0]) if row else 0

    def prune_seen(self, before: datetime) -> int:
        self._require_transaction()
        return self._write("DELETE FROM docs WHERE tbl = 'seen' AND stamp < %s", (dt_out(before),))

    # small values and the model ------------------------------------------------------------------

    def get_meta(self, key: str, default: Any = None) -> Any:
        doc = self._doc("meta", key)
        return default if doc is None else doc["value"]

    def put_meta(self, key: str, value: Any) -> None:
        self._require_transaction()
        value = json_value(value, f"meta {key!r}: not a JSON value")
        self._put_doc("meta", key, {"value": value})

    def get_model(self) -> dict[str, Any] | None:
        return self._doc("model", "current")

    def put_model(self, doc: Mapping[str, Any]) -> None:
        self._require_transaction()
        value = json_value(doc, "the model is not JSON data")
        check_model_doc("current", value)
        self._put_doc("model", "current", value)
        self._write("UPDATE counters SET value = value + 1 WHERE name = 'model'")

    def model_version(self) -> object:
        row = self._one("SELECT value FROM counters WHERE name = 'model'")
        return None if row is None or row[0] == 0 else int(row[0])

    # shared between instances --------------------------------------------------------------------

    @contextlib.contextmanager
    def lock(self, name: str, *, wait: float) -> Iterator[bool]:
        """A session advisory lock on a connection of its own, held for the block."""
        key = _lock_key(name)
        try:
            conn = psycopg.connect(self.url, autocommit=True, connect_timeout=10)
        except psycopg.Error as e:
            raise _connect_error(self.url, e) from None
        with conn:
            # A holder whose machine vanishes (no FIN, no RST) is found dead by the server's
            # keepalives within about 10 s, and its locks freed (the scheduler's takeover).
            conn.execute(
                "SELECT set_config('tcp_keepalives_idle', '4', false),"
                " set_config('tcp_keepalives_interval', '2', false),"
                " set_config('tcp_keepalives_count', '3', false)"
            )
            deadline = time.monotonic() + wait
            while True:
                row = conn.execute("SELECT pg_try_advisory_lock(%s)", (key,)).fetchone()
                if row and row[0]:
                    break
                if time.monotonic() >= deadline:
                    yield False
                    return
                time.sleep(min(0.1, max(deadline - time.monotonic(), 0.0)))
            try:
                yield True
            finally:
                with contextlib.suppress(psycopg.Error):
                    conn.execute("SELECT pg_advisory_unlock(%s)", (key,))

    # claims and throttle ------------------------------------------------------------------------

    def claim(self, windows: Mapping[str, float], *, holder: str, now: datetime) -> set[str]:
        """The sources' claim rows, locked with ``FOR UPDATE SKIP LOCKED``: an instance that
        finds a row locked (another is claiming it this instant) or claimed by another holder
        within its window leaves that source alone.  Two short transactions of a statement
        or two each, whatever the number of sources, outside the store's write lock, so
        claiming never waits behind a poll's commit.  The missing rows are made first, in
        their own transaction and in key order: two instances making the same rows then
        wait for each other in one order, never in a cycle."""
        ids = sorted(windows)
        if not ids:
            return set()
        with self._pooled() as conn:
            with conn.transaction():
                conn.execute(
                    "INSERT INTO claims (source_id, holder, claimed_at)"
                    " SELECT id, '', 'epoch' FROM unnest(%s::text[]) AS id ORDER BY id"
                    " ON CONFLICT DO NOTHING",
                    (ids,),
                )
            with conn.transaction():
                rows = conn.execute(
                    "SELECT source_id, holder, claimed_at FROM claims WHERE source_id = ANY(%s)"
                    " ORDER BY source_id FOR UPDATE SKIP LOCKED",
                    (ids,),
                ).fetchall()
                won = {
                    source_id
                    for source_id, last_holder, claimed_at in rows
                    if last_holder == holder
                    or claimed_at <= now - timedelta(seconds=windows[source_id])
                }
                if won:
                    conn.execute(
                        "UPDATE claims SET holder = %s, claimed_at = %s WHERE source_id = ANY(%s)",
                        (holder, now, sorted(won)),
                    )
        return won

    def signin_failures(self, keys: tuple[str, ...], since: float) -> dict[str, list[float]]:
        """Failed sign-ins under *keys* after *since* (wall-clock seconds), oldest first
        (:class:`curator.auth.SharedSignInThrottle`)."""
        named = {_failure_key(k): k for k in keys}
        found: dict[str, list[float]] = {}
        for key, at in self._rows(
            "SELECT key, at FROM signin_failures WHERE key = ANY(%s) AND at > %s ORDER BY at",
            (list(named), since),
        ):
            found.setdefault(named[key], []).append(float(at))
        return found

    def set_signin_failures(self, times: dict[str, list[float]], since: float) -> None:
        """Make the failures under each key of *times* exactly those; forget every failure
        older than *since* on the way (the window has passed for all keys)."""
        conn = self._require_transaction()
        conn.execute("DELETE FROM signin_failures WHERE at <= %s", (since,))
        conn.execute(
            "DELETE FROM signin_failures WHERE key = ANY(%s)", ([_failure_key(k) for k in times],)
        )
        rows = [(_failure_key(key), at) for key, ats in times.items() for at in ats]
        if rows:
            conn.cursor().executemany("INSERT INTO signin_failures (key, at) VALUES (%s, %s)", rows)

    def session_key(self) -> str:
        """Generated once and kept in the database, so every instance signs alike."""
        key = secrets.token_urlsafe(48)
        with self.transaction():
            self._write(
                "INSERT INTO docs (tbl, key, doc) VALUES ('secret', 'session', %s)"
                " ON CONFLICT DO NOTHING",
                (Jsonb({"value": key}),),
            )
        doc = self._doc("secret", "session")
        assert doc is not None
        return str(doc["value"])

    # copying (curator store copy) ----------------------------------------------------------------

    def dump(self, table: str) -> Iterator[tuple[str, dict[str, Any]]]:
        """Every entry of *table* in code-point order of its key, streamed through a
        server-side cursor (a million items are never held at once), each document checked
        and made canonical as a read would."""
        if table not in api.TABLES:
            raise ValueError(f"no table {table!r}")
        params: tuple[str, ...] = ()
        if table == "items":
            sql = 'SELECT id, doc FROM items ORDER BY id COLLATE "C"'
        else:
            sql = 'SELECT key, doc FROM docs WHERE tbl = %s ORDER BY key COLLATE "C"'
            params = (table,)
        with self._conn() as conn:
            # A named cursor needs a transaction of its own unless the caller holds one.
            block = contextlib.nullcontext() if self._tx.conn is not None else conn.transaction()
            with block, conn.cursor(name=f"dump_{table}") as cur:
                cur.itersize = 2000
                cur.execute(sql, params)
                for key, doc in cur:
                    try:
                        clean = canonical_doc(table, key, doc)
                    except ValueError as e:
                        raise StoreError(
                            f"{self.location}: {table} {key!r} does not load: {e}"
                        ) from None
                    yield key, clean

    def load(self, table: str, docs: Iterable[tuple[str, dict[str, Any]]]) -> int:
        if table not in api.TABLES:
            raise ValueError(f"no table {table!r}")
        with self.transaction():
            conn = self._require_transaction()
            written = 0
            batch: list[tuple[Any, ...]] = []
            for key, doc in docs:
                try:
                    clean = canonical_doc(table, key, doc)
                except ValueError as e:
                    raise StoreError(f"{table} {key!r}: {e}") from None
                batch.append(self._row(table, key, clean))
                written += 1
                if len(batch) >= 1000:
                    self._insert(conn, table, batch)
                    batch = []
            if batch:
                self._insert(conn, table, batch)
            if table == "model" and written:
                conn.execute("UPDATE counters SET value = value + 1 WHERE name = 'model'")
        return written

    @staticmethod
    def _row(table: str, key: str, doc: dict[str, Any]) -> tuple[Any, ...]:
        if table == "items":
            return (key, doc["status"], doc["first_seen"], doc.get("reviewed_at"), Jsonb(doc))
        stamp_field = {
            "titles": "first_seen",
            "research_cache": "at",
            "near_misses": "seen_at",
            "seen": "seen_at",
        }.get(table)
        stamp = doc.get(stamp_field) if stamp_field else None
        return (table, key, stamp, Jsonb(doc))

    def _insert(
        self, conn: psycopg.Connection[Any], table: str, rows: list[tuple[Any, ...]]
    ) -> None:
        try:
            with conn.cursor() as cur:
                if table == "items":
                    cur.executemany(
                        "INSERT INTO items (id, status, first_seen, reviewed_at, seq, doc)"
                        " VALUES (%s, %s, %s, %s, nextval('items_seq'), %s)"
                        " ON CONFLICT (id) DO UPDATE SET status = excluded.status,"
                        " first_seen = excluded.first_seen, reviewed_at = excluded.reviewed_at,"
                        " seq = excluded.seq, doc = excluded.doc",
                        rows,
                    )
                else:
                    cur.executemany(
                        "INSERT INTO docs (tbl, key, stamp, doc) VALUES (%s, %s, %s, %s)"
                        " ON CONFLICT (tbl, key) DO UPDATE SET stamp = excluded.stamp,"
                        " doc = excluded.doc",
                        rows,
                    )
        except psycopg.DataError as e:
            raise StoreError(f"{self.location}: {table}: the database refused a row: {e}") from None

    def clear(self, table: str) -> int:
        if table not in api.TABLES:
            raise ValueError(f"no table {table!r}")
        with self.transaction():
            if table == "items":
                return self._write("DELETE FROM items")
            return self._write("DELETE FROM docs WHERE tbl = %s", (table,))

    def is_empty(self) -> bool:
        row = self._one(
            "SELECT (SELECT count(*) FROM items)"
            " + (SELECT count(*) FROM docs WHERE tbl <> 'secret')"
        )
        return not row or int(row[0]) == 0

    # health and serving --------------------------------------------------------------------------

    def ping(self) -> None:
        self._one("SELECT 1")

    def damage(self, *, deep: bool = False) -> list[Damage]:
        """No file to lose: the database keeps its own integrity (checksums, WAL)."""
        return []

    def count_items(self) -> None:
        """Nothing to recount: counts are queries."""

    def check_writable(self) -> None:
        row = self._one(
            "SELECT bool_and(has_table_privilege(t, 'INSERT, UPDATE, DELETE'))"
            " FROM unnest(ARRAY['items', 'docs', 'counters', 'claims', 'signin_failures']) t"
        )
        if not row or not row[0]:
            raise StoreError(
                f"{self.location}: this database user cannot write Curator's tables; grant "
                "INSERT, UPDATE, DELETE on them (or connect as their owner), then start again"
            )

    @contextlib.contextmanager
    def server_lock(self) -> Iterator[None]:
        """Any number of instances may serve one database: nothing to hold."""
        yield

    def item_heads(self, status: Status | None = None) -> list[api.ItemHead]:
        """Five values of each row's document, nothing decoded whole.  (A row whose other
        fields do not decode is found when it is read whole, as with :meth:`get_item`.)"""
        sql = "SELECT id, status, doc->'score', doc->>'published', doc->>'first_seen' FROM items"
        rows = (
            self._rows(sql) if status is None else self._rows(f"{sql} WHERE status = %s", (status,))
        )
        heads = []
        for key, found, score, published, first_seen in rows:
            try:
                if found not in STATUSES or type(score) not in (int, float):
                    raise ValueError(f"status {found!r}, score {score!r}")
                heads.append(
                    api.ItemHead(key, found, float(score), dt_in(published), dt_in(first_seen))
                )
            except ValueError as e:
                raise StoreError(f"{self.location}: items {key!r} does not load: {e}") from None
        return heads

    # helpers -------------------------------------------------------------------------------------

    def _doc(self, table: str, key: str) -> dict[str, Any] | None:
        row = self._one("SELECT doc FROM docs WHERE tbl = %s AND key = %s", (table, key))
        return None if row is None else cast(dict[str, Any], row[0])

    def _get(self, table: str, cls: type[T], key: str) -> T | None:
        doc = self._doc(table, key)
        return None if doc is None else self._decode(table, cls, key, doc)

    def _docs(self, table: str) -> list[tuple[str, Any]]:
        return [(k, d) for k, d in self._rows("SELECT key, doc FROM docs WHERE tbl = %s", (table,))]

    def _put_doc(
        self, table: str, key: str, doc: Mapping[str, Any], stamp: str | None = None
    ) -> None:
        self._write(
            "INSERT INTO docs (tbl, key, stamp, doc) VALUES (%s, %s, %s, %s)"
            " ON CONFLICT (tbl, key) DO UPDATE SET stamp = excluded.stamp, doc = excluded.doc",
            (table, key, stamp, Jsonb(doc)),
        )

    def _decode(self, table: str, cls: type[T], key: str, doc: Any) -> T:
        try:
            return cast(T, dataclass_codec(cls).decode(doc))
        except (ValueError, TypeError) as e:
            raise StoreError(f"{self.location}: {table} {key!r} does not load: {e}") from None
