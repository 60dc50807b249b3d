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
import hashlib
import logging
import random
from collections.abc import Callable, Sequence
from concurrent.futures import Executor
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from curator import dedupe, match, normalize
from curator.config import Config, FetchSettings, Rules, Source
from curator.exceptions import FetchError, ParseError, SourceGone
from curator.fetch import Fetcher
from curator.parse import parse
from curator.store import Store
from curator.types import (
    Candidate,
    Fetched,
    PollReport,
    SourceOutcome,
    SourceReport,
    SourceState,
)

log = logging.getLogger("curator.pipeline")


@dataclass(frozen=True)
class Processed:
    """What the pure middle of the pipeline made of one document."""

    entries: int
    dropped: int
    candidates: tuple[Candidate, ...]
    warning: str | None


def process(
    fetched: Fetched, source: Source, rules: Rules, now: datetime, max_entries: int = 200
) -> Processed:
    """Parse, normalise and match one fetched document. Pure; raises ParseError."""
    parsed = parse(fetched, source, max_entries=max_entries)
    compiled = match.compile_rules(rules, source.rules)  # cached by value
    candidates: list[Candidate] = []
    dropped = 0
    for raw in parsed.entries:
        entry = normalize.normalize(raw, source_id=source.id, feed_url=fetched.url, now=now)
        if entry is None:
            dropped += 1
            continue
        candidate = match.match(entry, compiled)
        if candidate is not None:
            candidates.append(candidate)
    return Processed(len(parsed.entries), dropped, tuple(candidates), parsed.warning)


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
        delay = min(interval * 2 ** (errors - 1), max(settings.max_backoff, interval))
    else:
        delay = interval
    if retry_after is not None:
        delay = max(delay, min(retry_after, settings.max_backoff))
    delay += settings.jitter * rng() if settings.jitter else 0.0
    return now + timedelta(seconds=delay)


def initial_state(source: Source, state: SourceState | None) -> SourceState:
    """The stored state, reset where the source's configuration changed since it was written."""
    config_hash = source.config_hash()
    if state is None:
        return SourceState(source.id, config_hash=config_hash)
    if state.config_hash != config_hash:
        # A new URL (or any change) deserves a fresh start: no 410 mark, no stale validators.
        same_url = state.permanent_redirect is None
        return replace(
            state,
            config_hash=config_hash,
            gone=False,
            consecutive_errors=0,
            next_due=None,
            etag=state.etag if same_url else None,
            last_modified=state.last_modified if same_url else None,
            body_hash=None,
            permanent_redirect=None,
        )
    return state


async def poll_source(
    source: Source,
    *,
    config: Config,
    fetcher: Fetcher,
    store: Store,
    now: datetime,
    executor: Executor | None = None,
) -> SourceReport:
    """Poll one source once and store what it gave, in one transaction."""
    state = initial_state(source, store.get_state(source.id))
    if state.gone:
        return SourceReport(source.id, "skipped", error="gone (HTTP 410): fix its url to retry")
    state = replace(state, last_fetch=now)

    try:
        fetched = await fetcher.fetch(source, state)
    except FetchError as e:
        return _failed(source, state, e, config=config, store=store, now=now)

    if fetched.permanent_redirect and fetched.permanent_redirect != state.permanent_redirect:
        log.warning("moved source=%s to=%s (update its url)", source.id, fetched.permanent_redirect)
    state = replace(
        state,
        last_status=fetched.status,
        etag=fetched.etag or state.etag,
        last_modified=fetched.last_modified or state.last_modified,
        permanent_redirect=fetched.permanent_redirect or state.permanent_redirect,
    )
    body_hash = hashlib.sha256(fetched.content).hexdigest() if not fetched.not_modified else None
    if fetched.not_modified or body_hash == state.body_hash:
        outcome: SourceOutcome = "not_modified" if fetched.not_modified else "unchanged"
        _succeeded(source, state, config=config, store=store, now=now)
        return SourceReport(source.id, outcome, elapsed=fetched.elapsed)

    try:
        if executor is None:
            result = process(fetched, source, config.rules, now, config.fetch.max_entries)
        else:
            loop = asyncio.get_running_loop()
            result = await loop.run_in_executor(
                executor, process, fetched, source, config.rules, now, config.fetch.max_entries
            )
    except ParseError as e:
        return _failed(source, state, e, config=config, store=store, now=now)

    new = duplicates = 0
    with store.transaction():
        for candidate in result.candidates:
            decision = dedupe.decide(candidate, source=source, store=store, now=now)
            if isinstance(decision, dedupe.New):
                store.put_item(decision.item)
                new += 1
            elif isinstance(decision, dedupe.SameStory):
                store.put_item(decision.item)
                duplicates += 1
            else:
                duplicates += 1
        current = store.get_state(source.id)
        items_total = (current.items_total if current else state.items_total) + new
        _succeeded(
            source,
            replace(
                state,
                body_hash=body_hash,
                entries_last=result.entries,
                matched_last=len(result.candidates),
                items_total=items_total,
                last_new=now if new else state.last_new,
                warning=result.warning,
            ),
            config=config,
            store=store,
            now=now,
        )
    if result.warning:
        log.warning("recovered source=%s warning=%s", source.id, result.warning)
    log.info(
        "polled source=%s entries=%d matched=%d new=%d",
        source.id,
        result.entries,
        len(result.candidates),
        new,
    )
    return SourceReport(
        source.id,
        "ok",
        entries=result.entries,
        matched=len(result.candidates),
        new=new,
        duplicates=duplicates,
        dropped=result.dropped,
        warning=result.warning,
        elapsed=fetched.elapsed,
    )


def _succeeded(
    source: Source, state: SourceState, *, config: Config, store: Store, now: datetime
) -> None:
    with store.transaction():
        store.put_state(
            replace(
                state,
                last_success=now,
                consecutive_errors=0,
                last_error=None,
                next_due=next_due(source, config.fetch, now),
            )
        )


def _failed(
    source: Source,
    state: SourceState,
    error: FetchError | ParseError,
    *,
    config: Config,
    store: Store,
    now: datetime,
) -> SourceReport:
    errors = state.consecutive_errors + 1
    gone = isinstance(error, SourceGone)
    retry_after = error.retry_after if isinstance(error, FetchError) else None
    status = error.status if isinstance(error, FetchError) else state.last_status
    with store.transaction():
        store.put_state(
            replace(
                state,
                consecutive_errors=errors,
                last_error=str(error),
                last_status=status,
                gone=gone,
                next_due=next_due(
                    source, config.fetch, now, errors=errors, retry_after=retry_after
                ),
            )
        )
    log.warning("failed source=%s errors=%d error=%s", source.id, errors, error)
    return SourceReport(source.id, "gone" if gone else "error", error=str(error))


def due(sources: Sequence[Source], store: Store, now: datetime) -> list[Source]:
    """The enabled sources whose next poll time has come (never polled counts as due)."""
    states = store.states()
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


async def poll_many(
    sources: Sequence[Source],
    *,
    config: Config,
    fetcher: Fetcher,
    store: Store,
    now: datetime,
    executor: Executor | None = None,
    progress: Callable[[SourceReport], None] | None = None,
) -> PollReport:
    """Poll several sources concurrently; the fetcher enforces the global and per-host limits."""

    async def one(source: Source) -> SourceReport:
        report = await poll_source(
            source, config=config, fetcher=fetcher, store=store, now=now, executor=executor
        )
        if progress is not None:
            progress(report)
        return report

    reports = await asyncio.gather(*(one(s) for s in sources))
    return PollReport(tuple(reports))
