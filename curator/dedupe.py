"""Identity and same-story detection: is a candidate new, another view of a stored item, or
something we already have?

An item is known by its canonical URL (``Entry.item_id``).  The same story reached through a
different URL — syndicated copies, a search feed's link and the publisher's — is recognised by
its normalised title (:func:`curator.normalize.title_key`) among items first seen in the last
14 days; the sources and URLs are merged into the older item.  A research work is also known
by its DOI and arXiv id (:mod:`curator.identifiers`, indexed by the store), whenever it was
first seen: a preprint and its journal article become one item with both links.  Merging
never touches an item's status: an item an editor approved or rejected stays so, however
often feeds repeat it.

``decide`` only reads the store; the caller writes ``New.item`` and ``SameStory.item`` inside
its transaction, so that a second candidate in the same poll sees the first.

Given a :class:`~curator.stories.StoryIndex`, a candidate whose link and title are new is
also compared by its words with the items of the configured window: another outlet's
telling of a stored story joins that item as a :class:`~curator.types.StoryMember` (kept
whole, so that an editor can split it off again), its source and link added as a title
merge adds them.  The item's score, title and status stay as they were.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any, Literal

from curator import config
from curator.identifiers import identity_keys
from curator.normalize import canonical_url, document_url, item_id, title_key
from curator.store import Store
from curator.stories import StoryIndex
from curator.types import Candidate, Category, Entry, Event, Item, StoryMember

__all__ = [
    "MIN_TITLE_WORDS",
    "SAME_STORY_WINDOW",
    "Decision",
    "New",
    "SameStory",
    "Seen",
    "decide",
    "new_item",
]

#: How far back a same-title item counts as the same story.
SAME_STORY_WINDOW = timedelta(days=14)
#: Titles shorter than this ("CCTV", "Latest news", "Weekly round-up") name no single story,
#: so they never merge two URLs.
MIN_TITLE_WORDS = 4


@dataclass(frozen=True)
class New:
    """A story not seen before; store ``item``."""

    item: Item


@dataclass(frozen=True)
class SameStory:
    """A stored story found again through another source or URL; store ``item``, the
    merged copy.  ``by`` says how it was recognised: the same canonical URL or title, or
    (research) the same DOI or arXiv id."""

    item: Item
    by: Literal["url", "title", "doi", "arxiv", "story"] = "url"
    alias: str | None = None  # the candidate's own id, to remember as this item's (by title)


@dataclass(frozen=True)
class Seen:
    """Nothing new: the same source gave the same story again."""

    item_id: str


Decision = New | SameStory | Seen


def decide(
    candidate: Candidate,
    *,
    source: config.Source,
    store: Store,
    now: datetime,
    stories: StoryIndex | None = None,
) -> Decision:
    """What to do with *candidate*: by its id (canonical URL) first, then by its title among
    items first seen since ``now - 14 days``, then (with *stories*) by its words."""
    entry = candidate.entry
    existing = _by_url(entry.canonical_url, entry.item_id, store)
    if existing is not None:
        return _merge(existing, candidate, source_id=source.id, now=now, by="url")
    work = _by_research_id(entry, store)
    if work is not None:
        return _merge_work(work, candidate, source_id=source.id, now=now)
    key = title_key(entry.title)
    if len(key.split()) >= MIN_TITLE_WORDS:
        same = store.find_by_title(key, since=now - SAME_STORY_WINDOW)
        if same is not None and not _other_anchor(same, entry.canonical_url):
            return _merge(same, candidate, source_id=source.id, now=now, by="title")
    new = new_item(
        candidate,
        category=source.category,
        now=now,
        publisher_class=source.publisher_class,
        jurisdiction=source.jurisdiction,
    )
    if stories is not None:
        joined = _same_story(candidate, source=source, store=store, now=now, stories=stories)
        if joined is not None:
            stories.note(joined.item)
            return joined
        stories.note(new)
    return New(new)


def _identities(item: Item) -> set[str]:
    """Every canonical URL *item* is known by, fragments counted as they are now."""
    return {item.canonical_url, canonical_url(item.url), *(canonical_url(u) for u in item.urls)}


def _lookup(item_id_: str, store: Store) -> Item | None:
    """The item with this id, or the one a URL with this id was merged into earlier."""
    found = store.get_item(item_id_)
    if found is None:
        joined = store.alias_of(item_id_)
        found = store.get_item(joined) if joined else None
    return found


def _by_url(canonical: str, id_: str, store: Store) -> Item | None:
    """The stored item for this canonical URL, also when it was stored before fragments
    counted in identity: its id is then the page's (:func:`~curator.normalize.document_url`),
    and it is this entry's only if one of its URLs carries this very fragment (another
    anchor of the page is another entry)."""
    found = _lookup(id_, store)
    page = document_url(canonical)
    if found is not None or page == canonical:
        return found
    legacy = _lookup(item_id(page), store)
    if legacy is not None and canonical in _identities(legacy):
        return legacy
    return None


def _other_anchor(item: Item, canonical: str) -> bool:
    """True when *canonical* is another URL of a page *item* is at (``26.html#a1`` beside
    ``26.html#a2``): two entries of one page, however alike their titles, not one story."""
    known = _identities(item)
    page = document_url(canonical)
    return canonical not in known and any(document_url(u) == page for u in known)


def new_item(
    candidate: Candidate,
    *,
    category: Category,
    now: datetime,
    publisher_class: str | None = None,
    jurisdiction: str | None = None,
) -> Item:
    """A pending item for a candidate seen for the first time (``now``), from the entry's
    source (whose class and jurisdiction it keeps: :mod:`curator.publisher`)."""
    entry = candidate.entry
    return Item(
        id=entry.item_id,
        url=entry.url,
        canonical_url=entry.canonical_url,
        title=entry.title,
        summary=entry.summary_html,
        summary_text=entry.summary_text,
        category=category,
        published=entry.published,
        first_seen=now,
        score=candidate.score,
        matched=candidate.matches,
        why=candidate.why,
        sources=(entry.source_id,),
        title_key=title_key(entry.title),
        authors=entry.authors,
        tags=entry.tags,
        history=(Event(at=now, action="created", note=f"from {entry.source_id}"),),
        updated_at=now,
        doi=entry.doi,
        arxiv_id=entry.arxiv_id,
        venue=entry.venue,
        open_access=True if entry.arxiv_id else None,  # arXiv is open to all readers
        publisher_class=publisher_class,
        jurisdiction=jurisdiction,
    )


def _merge(
    item: Item,
    candidate: Candidate,
    *,
    source_id: str,
    now: datetime,
    by: Literal["url", "title", "doi", "arxiv"],
) -> Decision:
    """*item* with *candidate*'s source and URL added, or Seen when it already has both.

    The higher score wins, with its matches and explanation, so that the editor sees the
    strongest reason the story is here.  Title, summary, status and review stay as they were.
    """
    entry = candidate.entry
    changes: dict[str, tuple[str | None, str | None]] = {}
    sources = item.sources
    if source_id not in sources:
        sources = (*sources, source_id)
        changes["sources"] = (", ".join(item.sources), ", ".join(sources))
    urls = item.urls
    if entry.canonical_url not in _identities(item):
        urls = (*urls, entry.url)
        changes["urls"] = (" ".join(item.urls) or None, " ".join(urls))
    if not changes:
        return Seen(item.id)

    merged = replace(item, sources=sources, urls=urls, updated_at=now)
    if candidate.score > item.score:
        changes["score"] = (f"{item.score:g}", f"{candidate.score:g}")
        merged = replace(
            merged, score=candidate.score, matched=candidate.matches, why=candidate.why
        )
    how = {"url": "link", "title": "title", "doi": "DOI", "arxiv": "arXiv id"}[by]
    event = Event(
        at=now,
        action="merged",
        changes=changes,
        note=f"same {how} from {source_id}: {entry.url}",
    )
    alias = entry.item_id if entry.item_id != item.id else None
    return SameStory(replace(merged, history=(*item.history, event)), by=by, alias=alias)


# --------------------------------------------------------------------------- research identity


def _by_research_id(entry: Entry, store: Store) -> Item | None:
    """The stored work with this entry's DOI or arXiv id (issue 12): a preprint and its
    journal article, or two versions of one preprint, are one item whatever their URLs."""
    keys = identity_keys(entry.doi, entry.arxiv_id)
    return store.find_by_research_id(keys) if keys else None


def _merge_work(item: Item, candidate: Candidate, *, source_id: str, now: datetime) -> Decision:
    """*item* merged with another version of the same work: its link and source added as
    :func:`_merge` does, and the identifiers, venue and open access it lacked filled in from
    the candidate (the preprint gains the journal's DOI and venue, the article the arXiv id).
    The alias keeps the candidate's URL from starting a new item later."""
    entry = candidate.entry
    by: Literal["doi", "arxiv"] = (
        "doi" if entry.doi and item.doi and entry.doi.lower() == item.doi.lower() else "arxiv"
    )
    decision = _merge(item, candidate, source_id=source_id, now=now, by=by)
    base = decision.item if isinstance(decision, SameStory) else item
    filled: dict[str, tuple[str | None, str | None]] = {}
    updates: dict[str, Any] = {}
    for name in ("doi", "arxiv_id", "venue"):
        if getattr(base, name) is None and getattr(entry, name):
            updates[name] = getattr(entry, name)
            filled[name] = (None, getattr(entry, name))
    if entry.arxiv_id and base.open_access is None:
        updates["open_access"] = True
        filled["open_access"] = (None, "yes")
    if not updates:
        return decision
    if isinstance(decision, SameStory) and decision.item.history:
        last = decision.item.history[-1]
        history = (*decision.item.history[:-1], replace(last, changes={**last.changes, **filled}))
        merged = replace(decision.item, history=history, updated_at=now, **updates)
        return replace(decision, item=merged)
    event = Event(at=now, action="merged", changes=filled, note=f"same {by} from {source_id}")
    merged = replace(base, history=(*base.history, event), updated_at=now, **updates)
    return SameStory(merged, by=by, alias=entry.item_id if entry.item_id != item.id else None)


def _same_story(
    candidate: Candidate,
    *,
    source: config.Source,
    store: Store,
    now: datetime,
    stories: StoryIndex,
) -> SameStory | None:
    """The stored story *candidate* tells again in other words, joined; None when there is
    none.  Only another source's item counts: a source that says a story twice under two
    links is giving two items (an update, a live page), not one story from two outlets."""
    entry = candidate.entry
    stories.sync(store, now)
    for near in stories.nearest(
        title=entry.title, text=entry.summary_text, published=entry.published, url=entry.url
    ):
        item = store.get_item(near.item_id)
        if item is None or source.id in item.sources or _other_anchor(item, entry.canonical_url):
            continue
        return _join(item, candidate, source=source, now=now, alike=near.similarity)
    return None


def _join(
    item: Item, candidate: Candidate, *, source: config.Source, now: datetime, alike: float
) -> SameStory:
    """*item* with *candidate* kept whole as a member of its story, its source and link
    added; the merge recorded in the history, the similarity in its note."""
    entry = candidate.entry
    source_id = source.id
    member = StoryMember(
        id=entry.item_id,
        url=entry.url,
        canonical_url=entry.canonical_url,
        source=source_id,
        title=entry.title,
        summary=entry.summary_html,
        summary_text=entry.summary_text,
        published=entry.published,
        first_seen=now,
        similarity=round(alike, 3),
        category=source.category,
        score=candidate.score,
        matched=candidate.matches,
        why=candidate.why,
        authors=entry.authors,
        tags=entry.tags,
    )
    sources = (*item.sources, source_id)
    urls = (*item.urls, entry.url)
    event = Event(
        at=now,
        action="merged",
        changes={
            "sources": (", ".join(item.sources), ", ".join(sources)),
            "urls": (" ".join(item.urls) or None, " ".join(urls)),
        },
        note=f"same story ({alike:.2f} alike) from {source_id}: {entry.url}",
    )
    joined = replace(
        item,
        sources=sources,
        urls=urls,
        story=(*item.story, member),
        history=(*item.history, event),
        updated_at=now,
    )
    return SameStory(joined, by="story", alias=entry.item_id)
