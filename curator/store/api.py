"""The store as the rest of Curator sees it: one interface, two backends.

``curator.store.tinydb`` keeps everything in JSON files in one directory (the embedded
default: nothing to install, one process serves); ``curator.store.postgres`` keeps the same
documents in PostgreSQL, for several ``curator serve`` instances on one database.  Both are
held to one contract: ``tests/test_store*.py`` run against each (``tests/backends.py``).

What the contract promises, whichever backend:

* Reads see the last committed state, plus, inside a transaction, that transaction's own
  writes.  Every write happens inside :meth:`Store.transaction`, which is re-entrant and
  all-or-nothing: an exception drops everything written in it.
* Transactions are serialised across processes (and, on PostgreSQL, across machines): a
  read-modify-write in one (approve an item unless another editor changed it) cannot
  interleave with another's.  That is the guarantee the TinyDB file lock always gave, and the
  code above the store relies on it.
* Documents are the JSON that :mod:`curator.store.codecs` writes, so a store copied from one
  backend to the other (``curator store copy``) holds the very same documents.
"""

from __future__ import annotations

import contextlib
from collections.abc import Collection, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, NamedTuple, Protocol

from curator.types import DigestRecord, Item, NearMiss, SeenEntry, SourceState, Status, User

if TYPE_CHECKING:
    from curator.store.tinydb import Damage

__all__ = [
    "MAX_NEAR_MISSES",
    "MAX_RESEARCH_CACHE",
    "NEAR_MISS_DAYS",
    "TABLES",
    "TITLE_INDEX_DAYS",
    "Decisions",
    "ItemHead",
    "Store",
]


class Decisions(NamedTuple):
    """The editors' decisions as :meth:`Store.decisions` tells them."""

    labels: list[tuple[str, int]]  # (item id, 1 approved or 0 rejected), in id order
    latest: datetime | None  # the latest ``reviewed_at`` of any item (those left out aside)


#: How long the same-title index remembers a title.  Dedupe looks back 14 days; one more day
#: keeps a look-up made with a slightly earlier clock from missing.
TITLE_INDEX_DAYS = 15

#: How long a near miss (an entry left out only for lacking a required group) is kept.
NEAR_MISS_DAYS = 30
#: At most this many near misses are kept, the newest: a feed that suddenly fills them must
#: not make every commit rewrite megabytes (TinyDB) or grow a table without bound.
MAX_NEAR_MISSES = 2000

#: Look-ups the research cache keeps, the latest.
MAX_RESEARCH_CACHE = 5000

#: Every logical table a store holds, in the order ``curator store copy`` copies them: the
#: whole of what a store is, whichever backend (a backend's derived data, such as TinyDB's
#: item counts in ``shards.json``, is not a table: the target rebuilds it).  ``secret`` is
#: the session key (one entry, ``"session"``), last so that a failed copy touches it least.
TABLES = (
    "items",
    "aliases",
    "titles",
    "research_ids",
    "research_cache",
    "sources",
    "users",
    "digests",
    "near_misses",
    "seen",
    "meta",
    "model",
    "secret",
)


class Store(Protocol):
    """Curator's data: items, source state, editors, digests, kept entries and small values.

    Backends read the policy constants above through this module at call time, so a test
    that lowers one (``monkeypatch.setattr(api, "MAX_NEAR_MISSES", 3)``) lowers it for both.
    """

    #: Where the data lives, for messages: a directory, or a database URL without password.
    location: str

    def transaction(self) -> contextlib.AbstractContextManager[None]: ...

    # items
    def get_item(self, item_id: str) -> Item | None: ...
    def put_item(self, item: Item) -> None: ...
    def items(self, status: Status | None = None) -> list[Item]: ...
    def counts(self) -> dict[str, int]: ...
    def iter_items(
        self, status: Status | None = None, containing: Sequence[str] = ()
    ) -> Iterator[Item]:
        """:meth:`items` for a reader that keeps few of them (a filtered list, the learned
        ranking's examples): a backend may decode them a part at a time, and, given
        *containing*, may leave out the items whose document lacks one of those strings
        (compared casefolded); the caller still checks what it is given."""
        ...

    def version(self) -> str: ...
    def items_seen_since(self, since: datetime) -> list[Item]:
        """The items first seen at or after *since* (the story index's window)."""
        ...

    def item_changes(self, token: object | None) -> tuple[list[Item] | None, object]:
        """The items written since *token* (what a previous call returned) and the token to
        pass next; None for the items when the backend cannot tell (then list them all).
        Lets a reader follow other instances' writes without reading every item again."""
        ...

    def find_by_title(self, title_key: str, since: datetime) -> Item | None: ...
    def alias_of(self, alias_id: str) -> str | None: ...
    def put_alias(self, alias_id: str, item_id: str) -> None: ...
    def find_by_research_id(self, keys: tuple[str, ...]) -> Item | None: ...

    # items in a window, for readers that must not decode every item (the published outputs)
    def items_reviewed_since(self, status: Status, since: datetime) -> Iterator[Item]:
        """The items of *status* reviewed (``reviewed_at``, else ``first_seen``: an approved
        item's approval time) later than *since*, in the published outputs' order: newest
        ``published`` first, then latest ``reviewed_at`` (none: oldest), then id, descending.
        Lazy: a caller that stops early reads no further."""
        ...

    def items_page(self, status: Status | None, start: int, size: int) -> list[Item]:
        """At most *size* items of *status* from position *start* in the editor's lists'
        order: latest decision first (``reviewed_at``, else ``updated_at``, else
        ``first_seen``), then by id.  None: every item, in the All items list's order
        (newest ``published`` first, then by id)."""
        ...

    def last_reviewed(self, status: Status, until: datetime) -> datetime | None:
        """The latest review time (as above) of the items of *status* reviewed at or before
        *until*; None when there is none."""
        ...

    def last_approved_change(self) -> datetime | None:
        """The latest change (``updated_at``, else ``reviewed_at``, else ``first_seen``) of
        the items approved now or ever (an approval in their history); None when none."""
        ...

    def approved_ranks(self, since: datetime) -> list[tuple[datetime, datetime, str, str]]:
        """``(published, reviewed_at or 1970-01-01, id, category)`` of each approved item
        approved (``reviewed_at``, else ``first_seen``) later than *since*, in no order:
        where the approved items stand in the outputs (:func:`curator.publish.standing_of`,
        the Approved list's notes) without decoding tens of thousands of them."""
        ...

    def undigested(self) -> list[str]:
        """The ids of the approved items no digest carries yet (``digest_id`` unset), in no
        order: what the next digest sends, and the Digests page's count, without decoding
        every approved item."""
        ...

    def decisions(self, but: str) -> Decisions:
        """Every approved and rejected item's id and label, and the latest ``reviewed_at``
        of any item, leaving out the items *but* rejected (the learned ranking's own
        automatic rejections): what tells the ranking's job whether to train again, without
        decoding a single item."""
        ...

    # metadata look-ups
    def get_lookup(self, key: str) -> dict[str, Any] | None: ...
    def put_lookup(
        self, key: str, *, at: datetime, ok: bool, meta: Any, error: str | None
    ) -> None: ...

    # sources, editors, digests
    def get_state(self, source_id: str) -> SourceState | None: ...
    def put_state(self, state: SourceState) -> None: ...
    def states(self, source_ids: Collection[str] | None = None) -> dict[str, SourceState]:
        """The sources' states (of *source_ids* only, when given: a scheduled poll of a few
        sources must not read ten thousand)."""
        ...

    def get_user(self, name: str) -> User | None: ...
    def put_user(self, user: User) -> None: ...
    def delete_user(self, name: str) -> bool: ...
    def users(self) -> list[User]: ...
    def get_digest(self, digest_id: str) -> DigestRecord | None: ...
    def put_digest(self, record: DigestRecord) -> None: ...
    def digests(self) -> list[DigestRecord]: ...

    # near misses and kept entries
    def get_near_miss(self, item_id: str) -> NearMiss | None: ...
    def put_near_miss(self, near: NearMiss) -> None: ...
    def delete_near_miss(self, item_id: str) -> bool: ...
    def near_misses(self) -> list[NearMiss]: ...
    def prune_near_misses(self, before: datetime) -> int: ...
    def keep_seen(self, entries: Iterable[SeenEntry]) -> int: ...
    def update_seen(self, entries: Iterable[SeenEntry]) -> None: ...
    def seen(self, since: datetime | None = None) -> list[SeenEntry]: ...
    def seen_count(self, since: datetime) -> int: ...
    def prune_seen(self, before: datetime) -> int: ...

    # small values and the model
    def get_meta(self, key: str, default: Any = None) -> Any: ...
    def put_meta(self, key: str, value: Any) -> None: ...
    def get_model(self) -> dict[str, Any] | None: ...
    def put_model(self, doc: Mapping[str, Any]) -> None: ...
    def model_version(self) -> object: ...

    # shared between processes (and, on PostgreSQL, instances)
    def lock(self, name: str, *, wait: float) -> contextlib.AbstractContextManager[bool]:
        """Hold the cross-process lock *name* for the block, waiting up to *wait* seconds
        (0: not at all); the block gets True when held, False when another holder kept it.
        Released when the block ends or its holder dies."""
        ...

    def claim(self, windows: Mapping[str, float], *, holder: str, now: datetime) -> set[str]:
        """Which of the sources *windows* names *holder* may poll now, each claim recorded:
        every one but those another holder claimed within the last ``windows[source_id]``
        seconds or is claiming at this instant.  What keeps two instances from polling one
        source in one interval; one call for all the polls that fire together."""
        ...

    def session_key(self) -> str:
        """The key that signs sessions and unsubscribe links, generated the first time."""
        ...

    # health and serving
    def ping(self) -> None:
        """Raise StoreError, saying what is wrong, when the data cannot be reached now."""
        ...

    def damage(self, *, deep: bool = False) -> list[Damage]: ...

    # the whole store, table by table (``curator store copy``, :mod:`curator.store.copy`)
    def dump(self, table: str) -> Iterator[tuple[str, dict[str, Any]]]:
        """(key, document) of every entry of *table* (one of :data:`TABLES`), in ascending
        key order (Python's ``str`` order, i.e. code points; PostgreSQL: ``ORDER BY key
        COLLATE "C"``), each key once, documents as the codecs write them:
        :func:`curator.store.codecs.canonical_doc` of what is stored (an item's is
        ``ITEM.encode(item)``).  ``secret`` yields ``("session", {"value": <the session
        key>})`` when one exists (TinyDB: the ``<store>/secret_key`` file), nothing
        otherwise; it never makes one.  A document that does not load raises
        :class:`~curator.exceptions.StoreCorrupt` naming where it is (an unusable session
        key: :class:`~curator.exceptions.SecretKeyError`)."""
        ...

    def load(self, table: str, docs: Iterable[tuple[str, dict[str, Any]]]) -> int:
        """Put these documents into *table*, inside a transaction (the caller's, when it
        holds one), each checked as a read checks it
        (:func:`curator.store.codecs.canonical_doc`), replacing an entry with the same key;
        how many keys were written.  A document that fails the checks raises StoreError
        naming the table and key, and nothing of the transaction is written.  ``secret``
        sets the session key.  Derived data (indexes, counts) is not built from the items:
        the titles and research ids tables are loaded like the others."""
        ...

    def clear(self, table: str) -> int:
        """Remove every entry of *table* (inside a transaction, as :meth:`load`); how many
        there were.  ``secret`` forgets the session key."""
        ...

    def is_empty(self) -> bool:
        """Whether no table but ``secret`` holds anything (a damaged file counts as data)."""
        ...

    def count_items(self) -> None: ...
    def check_writable(self) -> None: ...
    def server_lock(self) -> contextlib.AbstractContextManager[None]: ...

    def item_heads(self, status: Status | None = None) -> list[ItemHead]:
        """What :meth:`items` would list (the same items, a damaged shard left out the same
        way), each reduced to its :class:`ItemHead`: ``curator items`` orders every pending
        item by these and then reads only the ones it prints."""
        ...


@dataclass(frozen=True, slots=True)
class ItemHead:
    """The fields an item is listed and ordered by (``curator items``: newest first, or by
    rule score), without the rest of it: the embedded store keeps them per item file
    (``.heads.json``), so listing 2,500 of them costs milliseconds, not the 0.2 s of
    decoding the items."""

    id: str
    status: Status
    score: float
    published: datetime
    first_seen: datetime

    @classmethod
    def of(cls, item: Item) -> ItemHead:
        return cls(item.id, item.status, item.score, item.published, item.first_seen)
