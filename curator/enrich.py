"""Research metadata for stored items: authors, venue, DOI, publication date and open access,
read from each item's landing page and from Crossref by DOI (issue 12).

Runs after a poll that stored research items (``curator fetch``, ``serve``'s scheduled polls)
and on demand (``curator research enrich``).  It is an edge: the network and the store are
here, the reading is :mod:`curator.parse.scholarly`.

Polite and bounded:

* every look-up goes through a :class:`~curator.fetch.Fetcher` (User-Agent with the contact,
  timeouts, a body cap of ``research.max_page``); landing pages come from feeds, so they are
  fetched as pasted links are, from public addresses only (``fetch.allow_private_urls``);
* one look-up at a time, at least ``research.host_delay`` apart on one host, and at most
  ``research.per_run`` look-ups a run;
* each answer is cached in the store (``research_cache.json``, keyed by the page's URL or
  the DOI, with the time): a page or DOI is fetched once; a failure is cached too and tried
  again only after ``research.retry_failed``;
* Crossref is asked at ``research.crossref_url``/works/DOI with ``mailto=`` the contact from
  ``fetch.contact`` when it is an address (Crossref's "polite pool");
* reading a page (BeautifulSoup) happens in a thread, never on the event loop; each item's
  new values and the cache entries it used are written in one store transaction, and only
  the fields the item lacks are filled (what the feed or an editor gave stays).
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import quote, urlsplit

from curator.config import Config, Source
from curator.exceptions import CuratorError, FetchError, ParseError
from curator.fetch import HTML_ACCEPT, Fetcher
from curator.identifiers import arxiv_from_url, arxiv_url, identity_keys, normalize_doi
from curator.parse._common import BadJSON, load_json
from curator.parse.scholarly import ScholarlyMeta, crossref_meta, landing_page_meta
from curator.store import Store
from curator.types import Event, Item

__all__ = ["EnrichReport", "enrich", "needs_metadata", "research_fetcher"]

log = logging.getLogger("curator.enrich")

Sleep = Callable[[float], Awaitable[None]]
Clock = Callable[[], datetime]

_SOURCE_ID = "research"
_FIELDS = ("authors", "venue", "doi", "arxiv_id", "publication_date", "open_access")


@dataclass(frozen=True)
class EnrichReport:
    """What one run did: items looked at and changed, look-ups made, answered from the
    cache, and failed (each failure is logged with its item and URL)."""

    items: int = 0
    enriched: int = 0
    fetched: int = 0
    cached: int = 0
    failed: int = 0
    deferred: int = 0  # items left for a later run (the per-run budget was spent)

    def as_dict(self) -> dict[str, int]:
        return {
            "items": self.items,
            "enriched": self.enriched,
            "fetched": self.fetched,
            "cached": self.cached,
            "failed": self.failed,
            "deferred": self.deferred,
        }


def needs_metadata(item: Item) -> bool:
    """A research item not yet looked up that lacks one of the fields enrichment can give."""
    if item.category != "research" or item.enriched_at is not None:
        return False
    return item.status != "rejected" and any(
        getattr(item, name) in (None, ()) for name in _FIELDS if name != "arxiv_id"
    )


def research_fetcher(config: Config) -> Fetcher:
    """A Fetcher for look-ups: the configured politeness with the research caps."""
    settings = config.fetch.model_copy(
        update={
            "max_body": config.research.max_page,
            "timeout": min(config.fetch.timeout, config.research.timeout),
            "per_host": 1,
        }
    )
    return Fetcher(settings)


class _Pacer:
    """Keeps look-ups on one host ``delay`` seconds apart (the clock and sleep are passed in
    so tests need not wait)."""

    def __init__(self, delay: float, clock: Callable[[], float], sleep: Sleep) -> None:
        self.delay, self.clock, self.sleep = delay, clock, sleep
        self.last: dict[str, float] = {}

    async def wait(self, url: str) -> None:
        host = (urlsplit(url).hostname or "").lower()
        last = self.last.get(host)
        if last is not None:
            wait = self.delay - (self.clock() - last)
            if wait > 0:
                await self.sleep(wait)
        self.last[host] = self.clock()


class _Run:
    def __init__(
        self,
        config: Config,
        store: Store,
        fetcher: Fetcher,
        now: datetime,
        pacer: _Pacer,
        *,
        retry_failures: bool = False,
    ) -> None:
        self.config, self.store, self.fetcher, self.now = config, store, fetcher, now
        self.pacer = pacer
        self.retry_failures = retry_failures
        self.budget = config.research.per_run
        self.fetched = self.cached = self.failed = 0
        self.writes: list[tuple[str, bool, Any, str | None]] = []

    def _cached(self, key: str) -> tuple[bool, ScholarlyMeta | None]:
        """(known, meta): a success, or a failure still within ``retry_failed``."""
        doc = self.store.get_lookup(key)
        if doc is None:
            return False, None
        try:
            at = datetime.fromisoformat(doc["at"])
        except (KeyError, TypeError, ValueError):
            return False, None
        if doc.get("ok"):
            return True, ScholarlyMeta.from_json(doc.get("meta"))
        if self.retry_failures:  # someone asked for this item now: a failure is tried again
            return False, None
        retry = timedelta(seconds=self.config.research.retry_failed)
        return (at + retry > self.now), None

    async def look_up(
        self,
        key: str,
        url: str,
        get: Callable[[], Awaitable[ScholarlyMeta]],
        item_id: str,
    ) -> ScholarlyMeta | None:
        known, meta = self._cached(key)
        if known:
            self.cached += 1
            return meta
        if self.budget <= 0:
            raise _OutOfBudget
        self.budget -= 1
        await self.pacer.wait(url)
        self.fetched += 1
        try:
            meta = await get()
        except (FetchError, ParseError) as e:
            self.failed += 1
            log.warning("look-up failed item=%s url=%s error=%s", item_id, url, e)
            self.writes.append((key, False, None, str(e)[:500]))
            return None
        self.writes.append((key, True, meta.to_json(), None))
        return meta

    async def page(self, item: Item) -> ScholarlyMeta | None:
        url = landing_url(item)

        async def get() -> ScholarlyMeta:
            fetched = await self.fetcher.fetch_url(url, source_id=_SOURCE_ID, accept=HTML_ACCEPT)
            kind = fetched.headers.get("content-type", "").split(";")[0].strip().lower()
            if kind and "html" not in kind and "xml" not in kind:
                return ScholarlyMeta()  # a PDF or an image: an answer, with nothing to read
            return await asyncio.to_thread(
                landing_page_meta,
                fetched.content,
                url=fetched.url,
                headers=fetched.headers,
                source_id=_SOURCE_ID,
            )

        return await self.look_up(_page_key(url), url, get, item.id)

    async def crossref(self, doi: str, item_id: str) -> ScholarlyMeta | None:
        base = self.config.research.crossref_url.rstrip("/")
        url = f"{base}/works/{quote(doi, safe='/;:()')}"
        mailto = _mailto(self.config.fetch.contact)
        if mailto:
            url += f"?mailto={quote(mailto, safe='@')}"

        async def get() -> ScholarlyMeta:
            source = Source(id=_SOURCE_ID, name="Crossref", url=url, kind="crossref")
            try:
                fetched = await self.fetcher.fetch(source)
            except FetchError as e:
                if e.status == 404:  # not a Crossref DOI (DataCite, mEDRA …): an answer
                    return ScholarlyMeta()
                raise
            try:
                doc = load_json(fetched.content.decode("utf-8-sig"))
            except (UnicodeDecodeError, BadJSON) as e:
                raise ParseError(_SOURCE_ID, f"{url}: not a Crossref answer: {e}") from None
            meta = crossref_meta(doc)
            if not meta:
                raise ParseError(_SOURCE_ID, f"{url}: not a Crossref work")
            return meta

        return await self.look_up(f"crossref:{doi.lower()}", url, get, item_id)


class _OutOfBudget(Exception):
    """The run's look-ups are spent: the item waits for the next run."""


def landing_url(item: Item) -> str:
    """The page to read for *item*: its link, except that an arXiv PDF is read through its
    abstract page (the PDF holds no tags, and is larger)."""
    if item.arxiv_id and arxiv_from_url(item.url) and "/pdf/" in item.url:
        return arxiv_url(item.arxiv_id)
    return item.url


def _page_key(url: str) -> str:
    return "page:" + hashlib.sha256(url.encode("utf-8")).hexdigest()[:32]


def _mailto(contact: str | None) -> str | None:
    if not contact:
        return None
    text = contact.strip().removeprefix("mailto:")
    return text if "@" in text and " " not in text else None


async def enrich(
    *,
    config: Config,
    store: Store,
    fetcher: Fetcher,
    now: datetime,
    item_ids: Sequence[str] | None = None,
    sleep: Sleep = asyncio.sleep,
    monotonic: Callable[[], float] | None = None,
) -> EnrichReport:
    """Look up the metadata of research items that lack it (or of ``item_ids``, whatever
    they have, and trying again a look-up that failed: an editor asked) and fill in what they
    lack.  Never raises for one item's trouble: a page that
    fails is logged, cached as failed and counted; store trouble propagates."""
    if item_ids is None:
        items = await asyncio.to_thread(store.items)
        todo = sorted(
            (i for i in items if needs_metadata(i)), key=lambda i: i.first_seen, reverse=True
        )
    else:
        todo = [i for i in (store.get_item(x) for x in item_ids) if i is not None]
    clock = monotonic or asyncio.get_running_loop().time
    pacer = _Pacer(config.research.host_delay, clock, sleep)
    run = _Run(config, store, fetcher, now, pacer, retry_failures=item_ids is not None)
    enriched = deferred = 0
    for n, item in enumerate(todo):
        try:
            meta = await _look_up_item(run, item)
        except _OutOfBudget:
            deferred = len(todo) - n
            break
        changed = await asyncio.to_thread(_apply, store, item.id, meta, run, now)
        enriched += changed
    if run.writes:  # look-ups of an item cut short by the budget are still worth keeping
        await asyncio.to_thread(_apply, store, None, None, run, now)
    report = EnrichReport(len(todo), enriched, run.fetched, run.cached, run.failed, deferred)
    if todo:
        log.info(
            "research metadata items=%d enriched=%d fetched=%d cached=%d failed=%d deferred=%d",
            *report.as_dict().values(),
        )
    return report


async def _look_up_item(run: _Run, item: Item) -> tuple[ScholarlyMeta | None, bool]:
    """The item's landing page, then Crossref by the DOI it has or the page gave; (merged
    metadata, whether every look-up answered)."""
    page = await run.page(item)
    complete = page is not None
    doi = item.doi or (page.doi if page else None)
    cross = None
    if doi and normalize_doi(doi):
        cross = await run.crossref(doi, item.id)
        complete = complete and cross is not None
    if page is None and cross is None:
        return None, complete
    merged = _prefer(cross, page)
    return merged, complete


def _prefer(first: ScholarlyMeta | None, second: ScholarlyMeta | None) -> ScholarlyMeta:
    """Field by field, ``first``'s value where it has one (Crossref's over the page's)."""
    if first is None or second is None:
        return first or second or ScholarlyMeta()
    changes: dict[str, Any] = {}
    for name in ("title", "authors", "venue", "doi", "arxiv_id", "publication_date"):
        if getattr(first, name) in (None, ()):
            changes[name] = getattr(second, name)
    if first.open_access is None:
        changes["open_access"] = second.open_access
    changes["found"] = tuple(dict.fromkeys(first.found + second.found))
    return replace(first, **changes)


def _apply(
    store: Store,
    item_id: str | None,
    found: tuple[ScholarlyMeta | None, bool] | None,
    run: _Run,
    now: datetime,
) -> int:
    """One transaction: the cache entries gathered so far, and the item's missing fields
    filled from *found* (re-read inside, so an editor's change meanwhile is kept).  1 when
    the item changed."""
    changed = 0
    with store.transaction():
        for key, ok, meta, error in run.writes:
            store.put_lookup(key, at=now, ok=ok, meta=meta, error=error)
        run.writes.clear()
        item = store.get_item(item_id) if item_id else None
        if item is not None and found is not None:
            meta, complete = found
            new = _note_same_work(store, item, fill(item, meta, now=now, complete=complete))
            if new is not item:
                store.put_item(new)
                changed = int(new.history != item.history)
    return changed


def _note_same_work(store: Store, old: Item, new: Item) -> Item:
    """*new* with its "enriched" event saying which other item is the same work, when the
    DOI or arXiv id just found already belongs to one (two URLs of one work that reached the
    store before either named its identifiers).  They are not merged behind the editors'
    backs: both may have been reviewed; the history and the log point the editor to it."""
    found = identity_keys(new.doi, new.arxiv_id)
    if not found or found == identity_keys(old.doi, old.arxiv_id) or not new.history:
        return new
    other = store.find_by_research_id(found)
    if other is None or other.id == new.id:
        return new
    log.info("same work item=%s as=%s", new.id, other.id)
    last = new.history[-1]
    note = f"{last.note}; the same work as item {other.id} ({other.title[:80]})"
    return replace(new, history=(*new.history[:-1], replace(last, note=note)))


def fill(item: Item, meta: ScholarlyMeta | None, *, now: datetime, complete: bool) -> Item:
    """*item* with the fields it lacks taken from *meta*, an ``enriched`` event naming them,
    and ``enriched_at`` set when every look-up answered (a failed one is retried later)."""
    changes: dict[str, tuple[str | None, str | None]] = {}
    updates: dict[str, Any] = {}
    if meta is not None:
        if not item.authors and meta.authors:
            updates["authors"] = meta.authors
            changes["authors"] = (None, "; ".join(meta.authors))
        for name in ("venue", "doi", "arxiv_id", "publication_date"):
            value = getattr(meta, name)
            if getattr(item, name) is None and value:
                updates[name] = value
                changes[name] = (None, value)
        if item.open_access is None and meta.open_access is not None:
            updates["open_access"] = meta.open_access
            changes["open_access"] = (None, "yes" if meta.open_access else "no")
    if complete:
        updates["enriched_at"] = now
    if not updates:
        return item
    if changes:
        how = ", ".join(meta.found) if meta is not None and meta.found else "look-up"
        event = Event(at=now, action="enriched", changes=changes, note=f"metadata from {how}")
        updates["history"] = (*item.history, event)
        updates["updated_at"] = now
    return replace(item, **updates)


async def enrich_quietly(
    *, config: Config, store: Store, now: datetime, fetcher: Fetcher | None = None
) -> EnrichReport | None:
    """:func:`enrich` after a poll: its own Fetcher (closed after), and any failure logged
    rather than raised, since the poll itself succeeded."""
    own = fetcher is None
    client = fetcher or research_fetcher(config)
    try:
        return await enrich(config=config, store=store, fetcher=client, now=now)
    except CuratorError as e:
        log.error("research metadata not looked up: %s", e)
        return None
    finally:
        if own:
            await client.aclose()
