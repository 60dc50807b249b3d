"""Frozen values passed between the pipeline stages and kept in the store.

Each value is named for its role in the flow::

    Source + SourceState --fetch--> Fetched --parse--> ParsedFeed(RawEntry...)
    RawEntry --normalize--> Entry --match--> Candidate --dedupe--> Item (stored)
                                     `--> NearMiss (stored 30 days, promoted by hand)

Everything here is immutable so that a stage cannot change what an earlier stage produced;
use :func:`dataclasses.replace` to derive a changed copy.  Datetimes are always timezone-aware
UTC.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

Category = Literal["news", "research", "guidance"]
CATEGORIES: tuple[Category, ...] = ("news", "research", "guidance")
Status = Literal["pending", "approved", "rejected"]
STATUSES: tuple[Status, ...] = ("pending", "approved", "rejected")
Field = Literal["title", "summary"]
#: Who publishes a source (``class:`` in feeds.yaml): what the queue, the public outputs and
#: the digest group and filter by.
PublisherClass = Literal[
    "government", "police", "regulator", "academic", "press", "industry", "campaign"
]
PUBLISHER_CLASSES: tuple[PublisherClass, ...] = (
    "government",
    "police",
    "regulator",
    "academic",
    "press",
    "industry",
    "campaign",
)
DEFAULT_JURISDICTION = "UK"


@dataclass(frozen=True)
class Fetched:
    """A successful HTTP answer for one source: 200 with a body, or 304 without one.

    Failures are not values of this type: :func:`curator.fetch.fetch` raises
    :class:`curator.exceptions.FetchError` for them.
    """

    source_id: str
    url: str  # final URL after redirects
    status: int  # 200 or 304
    headers: Mapping[str, str]  # lower-case names
    content: bytes  # empty on 304; decoded from gzip/deflate, at most the body cap
    etag: str | None = None
    last_modified: str | None = None
    permanent_redirect: str | None = None  # where a 301/308 chain ended, when it had one
    elapsed: float = 0.0

    @property
    def not_modified(self) -> bool:
        return self.status == 304


@dataclass(frozen=True)
class RawEntry:
    """One entry as the document said it: strings may hold markup, links may be relative."""

    title: str | None
    link: str | None
    summary: str | None = None  # HTML or text, untrusted
    content: str | None = None  # full content when the feed has it, untrusted
    guid: str | None = None
    published: datetime | None = None  # UTC, as parsed; may be absurd
    updated: datetime | None = None
    authors: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()
    base_url: str | None = None  # what relative links resolve against
    # The title's media type as the document declared it or feedparser judged it
    # (``title_detail.type``): "text/plain" is kept as text; "text/html", or None when the
    # parser cannot tell, is read as HTML.
    title_type: str | None = None
    # Research metadata the document states (issue 12): a DOI (arXiv's ``arxiv:doi``,
    # ``prism:doi``, a ``dc:identifier``, Crossref's ``DOI``) and the journal or venue.
    doi: str | None = None
    venue: str | None = None


@dataclass(frozen=True)
class ParsedFeed:
    """What a parser made of one fetched document."""

    title: str | None
    link: str | None
    entries: tuple[RawEntry, ...]
    warning: str | None = None  # recoverable problem (feedparser "bozo" with entries)


@dataclass(frozen=True)
class Entry:
    """A normalised entry: plain-text title, absolute http(s) URL, sanitised summary, UTC date."""

    source_id: str
    title: str
    url: str
    canonical_url: str
    item_id: str
    summary_html: str
    summary_text: str
    published: datetime
    authors: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()
    # Research identity (curator.identifiers): the DOI as found (case kept), the arXiv id
    # without its version, and the journal or venue the document named.
    doi: str | None = None
    arxiv_id: str | None = None
    venue: str | None = None


@dataclass(frozen=True)
class Match:
    """One keyword rule that fired: which term, in which field, how often, for what weight."""

    term: str
    field: Field
    count: int
    weight: float


@dataclass(frozen=True)
class Candidate:
    """An entry that passed the keyword rules, with the evidence for why."""

    entry: Entry
    score: float
    matches: tuple[Match, ...]
    why: str  # one human sentence: "title: cctv, police; summary: anpr"


@dataclass(frozen=True)
class NearMiss:
    """An entry that scored enough but lacked a term from a required group: not a candidate,
    but kept a while (with its reason) for an editor to look over and promote."""

    candidate: Candidate
    missing: tuple[str, ...]  # the required groups with no term in the entry
    category: Category  # its source's, for when it is promoted
    seen_at: datetime

    @property
    def id(self) -> str:
        return self.candidate.entry.item_id

    @property
    def reason(self) -> str:
        """Why it is not in the queue: "scored 7, lacked a term from group 'policing'"."""
        groups = ", ".join(f"'{g}'" for g in self.missing)
        noun = "group" if len(self.missing) == 1 else "groups"
        return f"scored {self.candidate.score:g}, lacked a term from {noun} {groups}"


@dataclass(frozen=True)
class Event:
    """One line of an item's history: who did what, when, and what changed (old, new)."""

    at: datetime
    action: str  # created | merged | approved | rejected | edited | reopened | digested | split
    by: str | None = None
    changes: Mapping[str, tuple[str | None, str | None]] = field(default_factory=dict)
    note: str | None = None


@dataclass(frozen=True)
class StoryMember:
    """Another outlet's telling of an item's story, joined to it because its title and lead
    read alike (:mod:`curator.stories`), not because it shares a link or title.

    It is kept whole, as the feed gave it, because such a grouping is a heuristic an editor
    may undo: "not the same story" (:meth:`curator.review.Review.split`) makes it an item of
    its own again, with nothing lost.
    """

    id: str  # the item id its own canonical URL gives
    url: str
    canonical_url: str
    source: str  # source id
    title: str
    summary: str  # sanitised HTML
    summary_text: str
    published: datetime
    first_seen: datetime
    similarity: float  # of title + lead with the story's, when it joined (0-1)
    category: Category = "news"  # its source's
    score: float = 0.0
    matched: tuple[Match, ...] = ()
    why: str = ""
    authors: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()


@dataclass(frozen=True)
class Item:
    """A stored candidate and everything the editor decided about it.

    ``id`` is derived from the canonical URL and never changes.  ``original`` keeps the
    values the feed gave for any field an editor changed.
    """

    id: str
    url: str
    canonical_url: str
    title: str
    summary: str  # sanitised HTML
    summary_text: str
    category: Category
    published: datetime
    first_seen: datetime
    score: float
    matched: tuple[Match, ...]
    why: str
    sources: tuple[str, ...]  # source ids, first one first
    title_key: str = ""  # normalised title for same-story detection
    urls: tuple[str, ...] = ()  # other URLs of the same story
    authors: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()
    status: Status = "pending"
    reviewed_by: str | None = None
    reviewed_at: datetime | None = None
    note: str | None = None
    original: Mapping[str, str] = field(default_factory=dict)
    history: tuple[Event, ...] = ()
    digest_id: str | None = None
    updated_at: datetime | None = None  # last change of any kind (publishing uses it)
    site: str | None = None  # the page's own site name (og:site_name), for links added by hand
    # Research metadata (issue 12): from the entry, its landing page's tags and Crossref.
    doi: str | None = None  # as found, case kept; identity is case-insensitive
    arxiv_id: str | None = None  # without version (2101.00001); the versioned link is in url(s)
    venue: str | None = None  # journal, proceedings or repository
    open_access: bool | None = None  # None: not known
    publication_date: str | None = None  # as precise as the metadata: YYYY, YYYY-MM, YYYY-MM-DD
    enriched_at: datetime | None = None  # when its metadata was last looked up
    # Added by sources (issue 12): the publisher class and jurisdiction of the item's first
    # source when the item was made (None: added by hand, or stored before they existed).
    # What the program shows and filters by is curator.publisher.of(item, config), which
    # prefers the source's current values: see that module for why.
    publisher_class: str | None = None  # one of PUBLISHER_CLASSES (a str: see store)
    jurisdiction: str | None = None
    # Other outlets' near-identical tellings joined to this story (see StoryMember); an item
    # stored before stories existed has none.
    story: tuple[StoryMember, ...] = ()


@dataclass(frozen=True)
class SourceState:
    """What the store remembers about polling one source."""

    source_id: str
    etag: str | None = None
    last_modified: str | None = None
    body_hash: str | None = None
    last_fetch: datetime | None = None
    last_success: datetime | None = None
    last_new: datetime | None = None  # last time the source gave a new item
    last_status: int | None = None
    consecutive_errors: int = 0
    last_error: str | None = None
    warning: str | None = None
    next_due: datetime | None = None
    entries_last: int = 0  # entries in the last parsed document
    matched_last: int = 0
    items_total: int = 0  # items this source has contributed, ever
    gone: bool = False  # 410 seen; cleared when config_hash changes
    config_hash: str | None = None
    permanent_redirect: str | None = None


SourceOutcome = Literal["ok", "not_modified", "unchanged", "error", "gone", "skipped"]


@dataclass(frozen=True)
class SourceReport:
    """The result of polling one source once."""

    source_id: str
    outcome: SourceOutcome
    entries: int = 0
    matched: int = 0
    new: int = 0
    duplicates: int = 0
    dropped: int = 0  # entries without a usable link
    near_misses: int = 0  # entries kept aside: they scored but lacked a required group
    error: str | None = None
    warning: str | None = None
    elapsed: float = 0.0


@dataclass(frozen=True)
class PollReport:
    """The result of one run over several sources."""

    sources: tuple[SourceReport, ...]

    def total(self, name: str) -> int:
        return sum(int(getattr(r, name)) for r in self.sources)

    @property
    def fetched(self) -> int:
        return sum(1 for r in self.sources if r.outcome in ("ok", "unchanged"))

    @property
    def not_modified(self) -> int:
        return sum(1 for r in self.sources if r.outcome == "not_modified")

    @property
    def errors(self) -> int:
        return sum(1 for r in self.sources if r.outcome in ("error", "gone"))


@dataclass(frozen=True)
class User:
    """An editor account. ``password_hash`` is an Argon2id hash, never the password.

    ``admin`` editors manage the accounts and the digest's subscribers (issue #10); a store
    written before that flag existed has none, and then its oldest account counts as one
    (:func:`curator.auth.is_admin`).
    """

    name: str
    password_hash: str
    created_at: datetime
    admin: bool = False


@dataclass(frozen=True)
class DigestRecord:
    """One digest, recorded before it is sent so it is never sent twice nor lost.

    ``recipients`` maps each address to ``pending`` | ``sent`` | ``refused: <reason>``.
    """

    id: str
    period_start: datetime
    period_end: datetime
    item_ids: tuple[str, ...]
    message_id: str
    created_at: datetime
    subject: str
    recipients: Mapping[str, str]
    status: str = "pending"  # pending | partial | sent | skipped
    sent_at: datetime | None = None
    kind: str = "readers"  # readers | editors


SeenOutcome = Literal["kept", "near_miss", "dropped"]


@dataclass(frozen=True)
class SeenEntry:
    """An entry as a poll saw it, kept a while (``store.keep_seen``) whether the rules kept it
    or not, so that a change to the rules can be tried on the last month's entries before it
    is made (``curator rules test``).  Compact: the title and summary text the rules read, the
    link, and what the rules in force concluded (``outcome``, ``score``, ``matched``, ``why``).
    """

    id: str  # the entry's item id (from its canonical URL)
    source_id: str
    title: str
    url: str
    canonical_url: str
    summary: str  # the entry's summary_text: all the rules read besides the title
    published: datetime
    seen_at: datetime  # the first poll that saw it: it is kept keep_seen from then
    outcome: SeenOutcome
    score: float
    matched: tuple[str, ...]  # the terms found, as the rules write them
    why: str
