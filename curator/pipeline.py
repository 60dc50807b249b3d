"""Poll sources: fetch → parse → normalize → match → dedupe → store.

:func:`poll_source` is the whole flow for one source and reads top to bottom.  The CPU-bound
middle (parse, normalize, match) is the pure function :func:`process`, which may run in a worker
process so that a large first poll uses every core; everything that touches the network, the
disk or the clock stays here at the edge.

A failing source is data: its error is recorded on its :class:`SourceState`, logged once and
reported; the run goes on.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import random
from collections.abc import Awaitable, Callable, Collection, Iterator, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from curator import dedupe, match, normalize
from curator.config import Config, FetchSettings, Rules, Source
from curator.exceptions import (
    CuratorError,
    FetchError,
    ParseError,
    SourceBug,
    SourceGone,
    StoreCorrupt,
    StoreError,
)
from curator.fetch import Fetcher
from curator.match import Assessment
from curator.store import NEAR_MISS_DAYS, Store
from curator.stories import StoryIndex
from curator.types import (
    Candidate,
    Category,
    Entry,
    Fetched,
    NearMiss,
    PollReport,
    SeenEntry,
    SeenOutcome,
    SourceOutcome,
    SourceReport,
    SourceState,
)
from curator.workers import WorkerCrashed, Workers, WorkerTimeout

log = logging.getLogger("curator.pipeline")


@dataclass(frozen=True)
class Processed:
    """What the pure middle of the pipeline made of one document."""

    entries: int
    dropped: int
    candidates: tuple[Candidate, ...]
    warning: str | None
    near_misses: tuple[NearMiss, ...] = ()  # left out only for lacking a required group
    seen: tuple[SeenEntry, ...] = ()  # every entry with the rules' verdict (store.keep_seen)


def process(
    fetched: Fetched,
    source: Source,
    rules: Rules,
    now: datetime,
    max_entries: int = 200,
    keep_seen: bool = False,
) -> Processed:
    """Parse, normalise and match one fetched document. Pure; raises ParseError.

    With *keep_seen* every entry also comes back as a :class:`SeenEntry` with the rules'
    verdict (see :func:`judge`)."""
    # Imported here: the readers (feedparser, bs4, lxml) load in the worker processes, where
    # the fork server has them already, and never in a `curator fetch` that parses nothing.
    from curator.parse import parse

    parsed = parse(fetched, source, max_entries=max_entries)
    compiled = match.compile_rules(rules, source.rules)  # cached by value
    candidates: list[Candidate] = []
    near: list[NearMiss] = []
    seen: list[SeenEntry] = []
    dropped = 0
    for raw in parsed.entries:
        entry = normalize.normalize(raw, source_id=source.id, feed_url=fetched.url, now=now)
        if entry is None:
            dropped += 1
            continue
        candidate, missed, kept = judge(entry, compiled, source.category, now, keep_seen)
        if candidate is not None:
            candidates.append(candidate)
        if missed is not None:
            near.append(missed)
        if kept is not None:
            seen.append(kept)
    return Processed(
        len(parsed.entries),
        dropped,
        tuple(candidates),
        parsed.warning,
        tuple(near),
        tuple(seen),
    )


def judge(
    entry: Entry, rules: match.CompiledRules, category: Category, now: datetime, keep_seen: bool
) -> tuple[Candidate | None, NearMiss | None, SeenEntry | None]:
    """What the rules make of one entry: a candidate, or a near miss, or neither; with
    *keep_seen* also its kept form (:class:`SeenEntry`), whatever the verdict.

    Without *keep_seen*, :func:`match.match` drops most entries cheaply and only those left
    are looked at as near misses.  With it every entry needs its reasons, so it is assessed
    once (:func:`match.assess`) and the candidate and near miss are read from that: the same
    values, since ``match`` and ``near_miss`` are that assessment cut short.  On the news2023
    stream, where most entries name a camera, this costs about 8 % more than ``match`` then
    ``near_miss`` (bench/bench_seen.py).
    """
    if not keep_seen:
        candidate = match.match(entry, rules)
        if candidate is not None:
            return candidate, None, None
        missed = match.near_miss(entry, rules)
        if missed is None:
            return None, None, None
        kept = Candidate(entry=entry, score=missed.score, matches=missed.matches, why=missed.why)
        return None, NearMiss(kept, missed.missing, category, now), None
    verdict = match.assess(entry, rules)
    outcome = outcome_of(verdict, rules)
    if outcome == "dropped":
        return None, None, seen_entry(entry, now, outcome, verdict)
    candidate = Candidate(entry, verdict.score, verdict.matches, verdict.why)
    if outcome == "kept":
        return candidate, None, seen_entry(entry, now, outcome, verdict)
    near = NearMiss(candidate, verdict.missing, category, now)
    return None, near, seen_entry(entry, now, outcome, verdict)


def outcome_of(verdict: Assessment, rules: match.CompiledRules) -> SeenOutcome:
    """``kept``, ``near_miss`` (exactly when :func:`match.near_miss` would return this
    assessment) or ``dropped``."""
    if verdict.kept:
        return "kept"
    near = (
        not rules.keep_all
        and bool(rules.require)
        and verdict.score >= rules.min_score
        and verdict.score > 0
        and not verdict.excluded
        and bool(verdict.missing)
    )
    return "near_miss" if near else "dropped"


def seen_entry(entry: Entry, now: datetime, outcome: SeenOutcome, verdict: Assessment) -> SeenEntry:
    """The compact form of *entry* kept for trying rules, with the rules' verdict."""
    return SeenEntry(
        id=entry.item_id,
        source_id=entry.source_id,
        title=entry.title,
        url=entry.url,
        canonical_url=entry.canonical_url,
        summary=entry.summary_text,
        published=entry.published,
        seen_at=now,
        outcome=outcome,
        score=verdict.score,
        matched=tuple(dict.fromkeys(m.term for m in verdict.matches)),
        why=verdict.why,
    )


#: How long the committer of a multi-source poll waits for more finished polls (seconds).
LINGER = 0.3

#: The most polls stored in one transaction.  While a commit runs, finished polls queue up;
#: unbounded, the next commit took them all (thousands at a cold start of 10,000 sources)
#: and held the store's write lock for minutes, past another instance's lock timeout.
MAX_BATCH = 200

#: The longest back-off exponent: 2**30 intervals is past any cap, and a larger power of two
#: overflows a float (a source dead for 1,025 polls once broke every later run).
_MAX_DOUBLINGS = 30

#: No poll is put off further than this, whatever the configuration says.
_MAX_DELAY = 365 * 86400.0


def next_due(
    source: Source,
    settings: FetchSettings,
    now: datetime,
    *,
    errors: int = 0,
    retry_after: float | None = None,
    rng: Callable[[], float] = random.random,
) -> datetime:
    """When to poll again: the interval on success; doubling per consecutive error, capped."""
    interval = source.interval or settings.default_interval
    if errors:
        doublings = min(errors - 1, _MAX_DOUBLINGS)
        delay = min(interval * 2.0**doublings, max(settings.max_backoff, interval))
    else:
        delay = interval
    if retry_after is not None:
        delay = max(delay, min(retry_after, settings.max_backoff))
    delay += settings.jitter * rng() if settings.jitter else 0.0
    return now + timedelta(seconds=min(delay, _MAX_DELAY))


def initial_state(source: Source, state: SourceState | None) -> SourceState:
    """The stored state, reset where the source's configuration changed since it was written."""
    config_hash = source.config_hash()
    if state is None:
        return SourceState(source.id, config_hash=config_hash)
    if state.config_hash != config_hash:
        # Any change (a new URL, above all) deserves a fresh start: no 410 mark, no back-off,
        # no validators that belonged to the old address.
        return replace(
            state,
            config_hash=config_hash,
            gone=False,
            consecutive_errors=0,
            next_due=None,
            etag=None,
            last_modified=None,
            body_hash=None,
            permanent_redirect=None,
        )
    return state


@dataclass(frozen=True)
class Polled:
    """What polling one source produced, before anything is stored.

    ``state`` is the source's new state (without the new-item counters, which only the store
    transaction can know); ``processed`` is set when a new document was parsed.
    """

    source: Source
    state: SourceState
    outcome: SourceOutcome
    processed: Processed | None = None
    error: CuratorError | None = None
    elapsed: float = 0.0


async def fetch_source(
    source: Source,
    state: SourceState | None,
    *,
    config: Config,
    fetcher: Fetcher,
    now: datetime,
    workers: Workers | None = None,
) -> Polled:
    """fetch → parse → normalize → match for one source; no store writes.

    Whatever goes wrong becomes this source's recorded error: an unexpected exception is a
    bug, but it is this source's bug, and the run's other sources go on.
    """
    state = replace(initial_state(source, state), last_fetch=now)
    if state.gone:
        return Polled(source, state, "skipped")
    try:
        return await _fetch_and_process(
            source, state, config=config, fetcher=fetcher, now=now, workers=workers
        )
    except asyncio.CancelledError:
        raise
    except Exception as e:
        return Polled(source, state, "error", error=_as_bug(source.id, "fetch or parse", e))


async def _fetch_and_process(
    source: Source,
    state: SourceState,
    *,
    config: Config,
    fetcher: Fetcher,
    now: datetime,
    workers: Workers | None,
) -> Polled:
    try:
        fetched = await fetcher.fetch(source, state)
    except FetchError as e:
        return Polled(source, state, "gone" if isinstance(e, SourceGone) else "error", error=e)

    if fetched.permanent_redirect and fetched.permanent_redirect != state.permanent_redirect:
        log.warning("moved source=%s to=%s (update its url)", source.id, fetched.permanent_redirect)
    state = replace(
        state,
        last_status=fetched.status,
        permanent_redirect=fetched.permanent_redirect or state.permanent_redirect,
    )
    # The new validators are kept only once the document was read: a document that fails
    # to parse must be fetched (and fail, visibly) again, not answered 304 from now on.
    validated = replace(
        state,
        etag=fetched.etag or state.etag,
        last_modified=fetched.last_modified or state.last_modified,
    )
    if fetched.not_modified:
        return Polled(source, validated, "not_modified", elapsed=fetched.elapsed)
    body_hash = hashlib.sha256(fetched.content).hexdigest()
    if body_hash == state.body_hash:
        return Polled(source, validated, "unchanged", elapsed=fetched.elapsed)

    args = (fetched, source, config.rules, now, config.fetch.max_entries, keeps_seen(config))
    limit = config.fetch.parse_timeout
    try:
        if workers is None:
            result = process(*args)
        else:
            result = await workers.run(limit, process, *args)
    except ParseError as e:
        return Polled(source, state, "error", error=e, elapsed=fetched.elapsed)
    except WorkerTimeout:
        error = ParseError(
            source.id,
            f"reading the document took longer than {limit:g} s and was stopped "
            "(fetch.parse_timeout); check that the url serves a feed",
        )
        return Polled(source, state, "error", error=error, elapsed=fetched.elapsed)
    except WorkerCrashed as e:
        error = ParseError(source.id, f"reading the document crashed its worker: {e}")
        return Polled(source, state, "error", error=error, elapsed=fetched.elapsed)
    state = replace(
        validated,
        body_hash=body_hash,
        entries_last=result.entries,
        matched_last=len(result.candidates),
        warning=result.warning,
    )
    return Polled(source, state, "ok", processed=result, elapsed=fetched.elapsed)


def _as_bug(source_id: str, stage: str, e: Exception) -> SourceBug:
    """An unexpected exception, logged once with its traceback and recorded on its source."""
    log.error("bug source=%s stage=%s error=%r", source_id, stage, e, exc_info=e)
    return SourceBug(source_id, stage, e)


def store_polled(
    polled: Sequence[Polled],
    *,
    config: Config,
    store: Store,
    now: datetime,
    stories: StoryIndex | None = None,
) -> list[SourceReport]:
    """Store what several polls produced in ONE transaction (each source's effects whole).

    Grouping saves an fsync'd commit per source when hundreds finish together; a crash loses
    the group, never part of one source's poll.  A source whose storing raises unexpectedly
    (a bug in dedupe, say) is recorded as failed and the group is stored again without its
    effects; store trouble (a full disk, a damaged file) is not one source's and propagates.
    """
    batch = list(polled)
    if stories is not None and any(p.processed and p.processed.candidates for p in batch):
        # Catch up with what other instances stored (hashing their items: seconds after a
        # busy spell) before taking the write lock, which they wait for; inside, only what
        # they commit meanwhile is left to read.
        stories.sync(store, now)
    while True:
        storing: int | None = None  # the index of the source being stored, if any
        try:
            reports = []
            with store.transaction():
                for index, p in enumerate(batch):
                    storing = index
                    reports.append(
                        _store_one(p, config=config, store=store, now=now, stories=stories)
                    )
                storing = None
                if any(p.processed is not None for p in batch):
                    _prune(store, config, now)
            break
        except StoreError:
            raise
        except Exception as e:
            if storing is None or batch[storing].error is not None:
                raise  # the commit itself, or storing a mere error: not this source's doing
            failed = batch[storing]
            bug = _as_bug(failed.source.id, "dedupe or store", e)
            batch[storing] = replace(failed, outcome="error", processed=None, error=bug)
    for p, r in zip(batch, reports, strict=True):
        _log(p, r)
    return reports


def _prune(store: Store, config: Config, now: datetime) -> None:
    """Forget near misses and kept entries past their age, in a commit that read documents.

    Only such a commit adds to them, and the first pruning in a process reads every one
    (tens of MB for 30 days of entries): an unchanged poll, every source answering 304 or
    the same body, leaves them to the next poll that reads something.
    """
    with _unless_near_misses_damaged():
        store.prune_near_misses(now - timedelta(days=NEAR_MISS_DAYS))
    store.prune_seen(now - timedelta(seconds=config.store.keep_seen))


def _store_one(
    p: Polled, *, config: Config, store: Store, now: datetime, stories: StoryIndex | None = None
) -> SourceReport:
    source, state = p.source, p.state
    if p.outcome == "skipped":
        return SourceReport(source.id, "skipped", error="gone (HTTP 410): fix its url to retry")
    if p.error is not None:
        errors = state.consecutive_errors + 1
        retry_after = p.error.retry_after if isinstance(p.error, FetchError) else None
        status = p.error.status if isinstance(p.error, FetchError) else state.last_status
        store.put_state(
            replace(
                state,
                consecutive_errors=errors,
                last_error=str(p.error),
                last_status=status,
                gone=p.outcome == "gone",
                next_due=next_due(
                    source, config.fetch, now, errors=errors, retry_after=retry_after
                ),
            )
        )
        return SourceReport(source.id, p.outcome, error=str(p.error), elapsed=p.elapsed)

    new = duplicates = near_misses = 0
    if p.processed is not None:
        for candidate in p.processed.candidates:
            decision = dedupe.decide(
                candidate, source=source, store=store, now=now, stories=stories
            )
            record(decision, store)
            if isinstance(decision, dedupe.New):
                new += 1
            else:
                duplicates += 1
        with _unless_near_misses_damaged():
            for near in p.processed.near_misses:
                near_misses += record_near_miss(near, store)
        if p.processed.seen:
            with _unless_near_misses_damaged():
                store.keep_seen(p.processed.seen)
    current = store.get_state(source.id)
    store.put_state(
        replace(
            state,
            items_total=(current.items_total if current else state.items_total) + new,
            last_new=now if new else state.last_new,
            last_success=now,
            consecutive_errors=0,
            last_error=None,
            next_due=next_due(source, config.fetch, now),
        )
    )
    result = p.processed
    return SourceReport(
        source.id,
        p.outcome,
        entries=result.entries if result else 0,
        matched=len(result.candidates) if result else 0,
        new=new,
        duplicates=duplicates,
        dropped=result.dropped if result else 0,
        near_misses=near_misses,
        warning=result.warning if result else None,
        elapsed=p.elapsed,
    )


def record(decision: dedupe.Decision, store: Store) -> None:
    """Write what dedupe decided (inside the caller's transaction)."""
    if isinstance(decision, dedupe.New | dedupe.SameStory):
        store.put_item(decision.item)
    if isinstance(decision, dedupe.New):
        with _unless_near_misses_damaged():  # another source's rules took it after all
            store.delete_near_miss(decision.item.id)
    if isinstance(decision, dedupe.SameStory) and decision.alias:
        store.put_alias(decision.alias, decision.item.id)


@contextlib.contextmanager
def _unless_near_misses_damaged() -> Iterator[None]:
    """Near misses and kept entries are a courtesy: a damaged ``near_misses.json`` or
    ``seen/*.json`` (shown on the editors' banner and by ``curator store verify``) must not
    stop items being stored."""
    try:
        yield
    except StoreCorrupt as e:
        if e.path.name != "near_misses.json" and e.path.parent.name != "seen":
            raise
        what = "near misses" if e.path.name == "near_misses.json" else "entries for trying rules"
        log.warning("%s not kept: %s", what, e)


def keeps_seen(config: Config) -> bool:
    """Whether polls keep every entry for trying rules (``store.keep_seen`` above 0)."""
    return config.store.keep_seen > 0


def record_near_miss(near: NearMiss, store: Store) -> int:
    """Keep *near* for the editor unless its story is already an item or already kept (the
    first sighting's date counts for the 30 days); 1 when it was kept now, else 0."""
    if store.get_item(near.id) is not None or store.alias_of(near.id) is not None:
        return 0
    if store.get_near_miss(near.id) is not None:
        return 0
    store.put_near_miss(near)
    return 1


def _log(p: Polled, r: SourceReport) -> None:
    if r.outcome in ("error", "gone"):
        errors = p.state.consecutive_errors + 1
        log.warning("failed source=%s errors=%d error=%s", r.source_id, errors, r.error)
    elif r.outcome == "ok":
        if r.warning:
            log.warning("recovered source=%s warning=%s", r.source_id, r.warning)
        log.info(
            "polled source=%s entries=%d matched=%d new=%d",
            r.source_id,
            r.entries,
            r.matched,
            r.new,
        )


async def poll_source(
    source: Source,
    *,
    config: Config,
    fetcher: Fetcher,
    store: Store,
    now: datetime,
    workers: Workers | None = None,
    stories: StoryIndex | None = None,
) -> SourceReport:
    """Poll one source once and store what it gave, in one transaction."""
    polled = await fetch_source(
        source,
        store.get_state(source.id),
        config=config,
        fetcher=fetcher,
        now=now,
        workers=workers,
    )
    stored = await asyncio.to_thread(
        store_polled, [polled], config=config, store=store, now=now, stories=stories
    )
    return stored[0]


def due(sources: Sequence[Source], store: Store, now: datetime) -> list[Source]:
    """The enabled sources whose next poll time has come (never polled counts as due)."""
    states = store.states([s.id for s in sources])
    out = []
    for source in sources:
        if not source.enabled:
            continue
        state = initial_state(source, states.get(source.id))
        if state.gone:
            continue
        if state.next_due is None or state.next_due <= now:
            out.append(source)
    return out


def _unpolled_since(before: SourceState | None, now: SourceState | None) -> bool:
    """Whether a source's state *now* shows no poll since it was *before*."""
    if now is None:
        return True
    return before is not None and now.last_fetch == before.last_fetch


#: What a claim hook answers: the ids of the sources this instance may poll.
Claim = Callable[[Sequence[Source]], Awaitable[Collection[str]]]


async def poll_many(
    sources: Sequence[Source],
    *,
    config: Config,
    fetcher: Fetcher,
    store: Store,
    now: datetime,
    workers: Workers | None = None,
    progress: Callable[[SourceReport], None] | None = None,
    stories: StoryIndex | None = None,
    claim: Claim | None = None,
    chunk: int = 100,
) -> PollReport:
    """Poll several sources concurrently (the fetcher enforces the global and per-host
    limits); one committer stores whatever polls have finished, a group at a time.

    With *claim* (``serve``'s scheduled polls, :mod:`curator.polls`), the sources are
    claimed *chunk* at a time, the next chunk once half the polls under way have finished:
    instances sharing a database then take the sources as each has room, instead of the
    first to fire taking them all.  The report holds the sources polled.
    """
    states = store.states([s.id for s in sources])
    queue: asyncio.Queue[Polled | Exception | None] = asyncio.Queue()  # None: all started
    finished = asyncio.Condition()
    started = done = 0

    async def one(source: Source) -> None:
        nonlocal done
        try:
            polled: Polled | Exception = await fetch_source(
                source,
                states.get(source.id),
                config=config,
                fetcher=fetcher,
                now=now,
                workers=workers,
            )
        except Exception as e:  # fetch_source records a source's errors: this is worse
            polled = e
        await queue.put(polled)
        async with finished:
            done += 1
            finished.notify_all()

    tasks: list[asyncio.Task[None]] = []

    def has_room() -> bool:  # half the polls under way are done: claim the next chunk
        return started - done <= chunk // 2

    async def start_all() -> None:
        nonlocal started
        rest = list(sources)
        try:
            while rest:
                if claim is None:
                    take, rest = rest, []
                else:
                    take, rest = rest[:chunk], rest[chunk:]
                    claimed = await claim(take)
                    take = [s for s in take if s.id in claimed]
                    # Claimed minutes after the group began, perhaps: another instance may
                    # have polled one since (its claim window passed).  Poll from the state
                    # as it is now, and leave out one polled since the group's states were read.
                    fresh = await asyncio.to_thread(store.states, [s.id for s in take])
                    take = [s for s in take if _unpolled_since(states.get(s.id), fresh.get(s.id))]
                    states.update(fresh)
                tasks.extend(asyncio.create_task(one(s)) for s in take)
                started += len(take)
                if rest:
                    async with finished:
                        await finished.wait_for(has_room)
        finally:
            await queue.put(None)

    def more_to_come(batch: list[Polled | Exception | None]) -> bool:
        if not all_started and None not in batch:
            return True
        return len(reports) + sum(1 for b in batch if b is not None) < started

    starter = asyncio.create_task(start_all())
    reports: list[SourceReport] = []
    all_started = False
    try:
        while not all_started or len(reports) < started:
            batch = [await queue.get()]
            # Linger briefly for more: each commit rewrites every shard it touches, so a few
            # large commits cost much less than many small ones in a big run.
            deadline = asyncio.get_running_loop().time() + LINGER
            while more_to_come(batch) and len(batch) < MAX_BATCH:
                timeout = deadline - asyncio.get_running_loop().time()
                if timeout <= 0:
                    break
                try:
                    batch.append(await asyncio.wait_for(queue.get(), timeout))
                except TimeoutError:
                    break
            if None in batch:
                all_started = True
                batch.remove(None)
            for item in batch:
                if isinstance(item, Exception):
                    raise item
            polled = [p for p in batch if isinstance(p, Polled)]
            if not polled:
                continue
            # In a thread: waiting for the store lock (another process committing) or for
            # fsync must not stall the event loop, which in `serve` also answers the editors.
            stored = await asyncio.to_thread(
                store_polled, polled, config=config, store=store, now=now, stories=stories
            )
            for report in stored:
                reports.append(report)
                if progress is not None:
                    progress(report)
        await starter  # a claim that failed (the store) raises here
    finally:
        for task in [starter, *tasks]:
            task.cancel()
        await asyncio.gather(starter, *tasks, return_exceptions=True)
    order = {s.id: i for i, s in enumerate(sources)}
    return PollReport(tuple(sorted(reports, key=lambda r: order[r.source_id])))
