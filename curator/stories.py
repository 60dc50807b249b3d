"""Same story, one item: find the stored item whose story a new entry tells again in other
words (wire copy across outlets, the same announcement rewritten), when neither its link nor
its normalised title gives it away.

Two tellings are compared by their *shingles*: the set of content words (lower case, common
function words and links left out) of the title and the first :data:`LEAD_WORDS` words of
the lead.  Their Jaccard similarity must reach the configured threshold (0.3 by default) when
they were published within a day of each other, and 0.05 more for each further day apart:
labelled pairs from 2023 news showed that a story's retellings come within a day, and that
what looks alike days later is mostly the next development (the footage of an incident
released three days after it), which the editor wants as its own item.  Two entries of one
outlet (the same web site, however many of its feeds) are never grouped: an outlet's live
page, daily summary and article on one event are different items.  Word sets beat word
pairs and character n-grams on those pairs (bench/bench_stories.py; bench/stories/README.md).

Finding the best match among thousands of items is a MinHash/LSH look-up (datasketch): the
index returns the few items whose signatures collide, then the exact similarity of their
shingle sets decides.  The index lives in memory, one per process, and follows the store
(:meth:`StoryIndex.sync`): it holds only items first seen within the window, and is rebuilt
from the store at start-up, which costs well under a second for a window's items.

Why a telling joins the stored item (as a :class:`~curator.types.StoryMember`, kept whole)
rather than being stored as an item of its own linked by a story id: one item is decided,
digested and published once by every part of Curator that already exists, with nothing to
filter out of the queue, the digest or five outputs, and no way for two tellings of one
story to end up in different states.  What a merge would lose is kept in the member, so that
:meth:`curator.review.Review.split` restores the telling as the item it would have been.

Nothing here writes: :mod:`curator.dedupe` decides, :mod:`curator.review` splits.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

if TYPE_CHECKING:
    from curator.store import Store
    from curator.types import Item

__all__ = [
    "DEFAULT_THRESHOLD",
    "DEFAULT_WINDOW",
    "LEAD_WORDS",
    "PER_DAY",
    "RESYNC",
    "Near",
    "StoryIndex",
    "also_in",
    "outlet",
    "required",
    "shingles",
    "similarity",
]

DEFAULT_THRESHOLD = 0.3
DEFAULT_WINDOW = timedelta(days=14)
#: How much of the lead counts: the first sentences carry the story; the rest is detail,
#: boilerplate or "read more" that differs between outlets.
LEAD_WORDS = 30
#: Extra similarity asked per day apart beyond the first.
PER_DAY = 0.05
#: Fewer distinct content words than this (a bare "Video" post) say too little to group on.
MIN_WORDS = 6
NUM_PERM = 128
#: A full pass over the store's items at least this often, even when nothing was committed.
RESYNC = timedelta(minutes=10)
#: The LSH looks for candidates at this fraction of the threshold, so that a pair just over
#: the threshold is not lost to MinHash's estimation error; the exact check then decides.
_LSH_FACTOR = 0.6

_WORD = re.compile(r"\w+")
_LINK = re.compile(r"(?:https?://|www\.)\S+", re.IGNORECASE)
# Function words say nothing about which story it is.
_STOP_WORDS = """the a an of to in and or for on at by with from as is are was were be been it its
this that these those he she they we you i his her their our not no but has have had will would
can could after over new says said say more than about into up out who what when how why"""
_STOP = frozenset(_STOP_WORDS.split())
# Second-level labels under which a country code registers names (bbc.co.uk, abc.net.au).
_SECOND_LEVEL = frozenset({"co", "com", "net", "org", "gov", "ac", "edu", "ne", "or"})


def _words(title: str, text: str) -> list[str]:
    lead = " ".join(text.split()[:LEAD_WORDS])
    plain = _LINK.sub(" ", f"{title} {lead}").lower()
    return [w for w in _WORD.findall(plain) if w not in _STOP]


def shingles(title: str, text: str) -> frozenset[str]:
    """The content words of *title* and the start of *text* (the lead, as plain text)."""
    return frozenset(_words(title, text))


def similarity(a: frozenset[str], b: frozenset[str]) -> float:
    """Jaccard similarity of two shingle sets (0 when both are empty)."""
    union = len(a | b)
    return len(a & b) / union if union else 0.0


def required(threshold: float, apart: timedelta) -> float:
    """The similarity two tellings published *apart* need to be one story."""
    days = max(0.0, abs(apart.total_seconds()) / 86400 - 1)
    return threshold + PER_DAY * days


def outlet(url: str) -> str:
    """The site a link belongs to, as far as its host name tells (``www.bbc.co.uk`` and
    ``feeds.bbc.co.uk`` → ``bbc.co.uk``)."""
    host = (urlsplit(url).hostname or "").rstrip(".")
    labels = host.split(".")
    keep = 3 if len(labels) >= 3 and len(labels[-1]) == 2 and labels[-2] in _SECOND_LEVEL else 2
    return ".".join(labels[-keep:])


@dataclass(frozen=True)
class Near:
    """A stored item telling the same story: its id, and how alike (0-1)."""

    item_id: str
    similarity: float


@dataclass(frozen=True)
class _Telling:
    item_id: str
    words: frozenset[str]
    published: datetime
    outlets: frozenset[str]


def _tellings(item: Item) -> list[tuple[str, tuple[Any, ...], str, str, datetime]]:
    """(key, fingerprint, title, text, published) of an item and of each of its members."""
    out: list[tuple[str, tuple[Any, ...], str, str, datetime]] = []
    sig = (item.title, item.summary_text, item.published, item.url, item.urls)
    out.append((item.id, sig, item.title, item.summary_text, item.published))
    for m in item.story:
        out.append((f"{item.id}/{m.id}", sig, m.title, m.summary_text, m.published))
    return out


def also_in(item: Item) -> list[dict[str, Any]]:
    """The other outlets' tellings of *item*'s story, as ``curator items --json`` gives
    them (``also_in``): what ``curator split`` and the web's "Not the same story" take."""
    return [
        {
            "id": m.id,
            "url": m.url,
            "source": m.source,
            "title": m.title,
            "published": m.published.isoformat(),
            "similarity": m.similarity,
        }
        for m in item.story
    ]


def _outlets(item: Item) -> frozenset[str]:
    return frozenset(outlet(u) for u in (item.url, *item.urls))


class StoryIndex:
    """Items first seen within the window, searchable by the story they tell.

    One per process (:class:`curator.core.Curator` holds it); safe to share between the
    threads that poll and the web app's.  datasketch (and numpy) load on first use, so
    commands that never compare stories do not pay for them.
    """

    def __init__(
        self,
        *,
        threshold: float = DEFAULT_THRESHOLD,
        window: timedelta = DEFAULT_WINDOW,
        num_perm: int = NUM_PERM,
    ) -> None:
        self.threshold = threshold
        self.window = window
        self._num_perm = num_perm
        self._lock = threading.RLock()
        self._lsh: Any = None
        self._tellings: dict[str, _Telling] = {}
        self._of_item: dict[str, set[str]] = {}  # item id -> its tellings' keys
        self._sigs: dict[str, tuple[Any, ...]] = {}
        self._version: str | None = None  # the store's, at the last sync
        self._synced: datetime | None = None  # the last full pass
        self._token: object | None = None  # the store's change token (item_changes)

    def __len__(self) -> int:
        return len(self._tellings)

    def _index(self) -> Any:
        if self._lsh is None:
            from datasketch import MinHashLSH

            self._lsh = MinHashLSH(threshold=self.threshold * _LSH_FACTOR, num_perm=self._num_perm)
        return self._lsh

    def _minhash(self, words: Iterable[str]) -> Any:
        from datasketch import MinHash

        m = MinHash(num_perm=self._num_perm)
        m.update_batch([w.encode() for w in words])
        return m

    def add(
        self,
        key: str,
        *,
        item_id: str,
        title: str,
        text: str,
        published: datetime,
        outlets: frozenset[str] = frozenset(),
    ) -> None:
        """Index one telling under *key* (replacing what *key* held)."""
        with self._lock:
            self.remove(key)
            words = shingles(title, text)
            if len(words) < MIN_WORDS:
                return
            self._index().insert(key, self._minhash(words))
            self._tellings[key] = _Telling(item_id, words, published, outlets)
            self._of_item.setdefault(item_id, set()).add(key)

    def remove(self, key: str) -> None:
        with self._lock:
            told = self._tellings.pop(key, None)
            if told is not None:
                self._index().remove(key)
                keys = self._of_item[told.item_id]
                keys.discard(key)
                if not keys:
                    del self._of_item[told.item_id]
            self._sigs.pop(key, None)

    def sync(self, store: Store, now: datetime) -> None:
        """Follow the store: index the items first seen within the window (and their
        members) that are new or changed, forget the others.

        A full pass lists the window's items, so it runs only when the store changed since
        the last one (:meth:`Store.version`: a commit by this process or another) or
        :data:`RESYNC` has passed (the window's edge moves); in between, what this process is
        about to store comes in through :meth:`note`.  Where the store can say which items
        changed (:meth:`Store.item_changes`: PostgreSQL, where other instances commit all
        the time), a change between full passes reads those items only.  Only new or changed
        items are hashed again."""
        version = store.version()
        with self._lock:
            recent = self._synced is not None and timedelta(0) <= now - self._synced < RESYNC
            if version == self._version and recent:
                return
            since = now - self.window
            if recent:
                changed, token = store.item_changes(self._token)
                if changed is not None:
                    for item in changed:
                        self._follow(item, since)
                    self._version, self._token = version, token
                    return
            _, token = store.item_changes(None)  # before the pass: later writes come next
            seen: set[str] = set()
            for item in store.items_seen_since(since):
                seen.update(self._index_item(item))
            for key in [k for k in self._sigs if k not in seen]:
                self.remove(key)
            self._version, self._synced, self._token = version, now, token

    def _follow(self, item: Item, since: datetime) -> None:
        """Bring one changed item's tellings up to date (a split story loses some)."""
        keep = set(self._index_item(item)) if item.first_seen >= since else set()
        for key in list(self._of_item.get(item.id, ())):
            if key not in keep:
                self.remove(key)

    def note(self, item: Item) -> None:
        """Index *item* as it is about to be stored (a new item, a story that gained a
        member), so that the next candidate of the same poll finds it before it is
        committed.  Were the commit to fail, the next full :meth:`sync` forgets it."""
        with self._lock:
            self._index_item(item)

    def _index_item(self, item: Item) -> list[str]:
        """Index the tellings of *item* that are new or changed; their keys."""
        keys = []
        for key, sig, title, text, published in _tellings(item):
            keys.append(key)
            if self._sigs.get(key) == sig:
                continue
            self.add(
                key,
                item_id=item.id,
                title=title,
                text=text,
                published=published,
                outlets=_outlets(item),
            )
            self._sigs[key] = sig
        return keys

    def nearest(
        self,
        *,
        title: str,
        text: str,
        published: datetime,
        url: str,
        exclude: Sequence[str] = (),
    ) -> list[Near]:
        """The items telling the story of (*title*, *text*), most alike first: those similar
        enough for their distance in time, from another outlet than *url*'s, and not in
        *exclude* (item ids)."""
        words = shingles(title, text)
        if len(words) < MIN_WORDS:
            return []
        site = outlet(url)
        best: dict[str, float] = {}
        with self._lock:
            if not self._tellings:
                return []
            for key in self._index().query(self._minhash(words)):
                told = self._tellings[key]
                if told.item_id in exclude or site in told.outlets:
                    continue
                alike = similarity(words, told.words)
                if alike >= required(self.threshold, published - told.published):
                    best[told.item_id] = max(alike, best.get(told.item_id, 0.0))
        return [Near(i, s) for i, s in sorted(best.items(), key=lambda kv: (-kv[1], kv[0]))]
