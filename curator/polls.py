"""The scheduled polls that fire together, gathered into one poll: one claim, one read of
their states, grouped commits.

``serve`` has a poll job per source (:mod:`curator.schedule`).  At start, after a pause, or
whenever many intervals line up, thousands fire within the same moment; polled one by one,
each would claim its source in its own transaction, read every source's state to see whether
it is due, and commit alone.  On the embedded store a commit rewrites whole files (the
six-hour kept-entries shard, the titles index), so ten thousand lone commits cost hours where
``curator fetch`` (one run, grouped commits) takes a minute; on PostgreSQL every commit
waits for the one write lock.  So each job hands its source to :class:`ScheduledPolls`,
which waits a moment (:data:`GATHER`) for the others firing with it, claims them all in one
statement (:meth:`curator.store.api.Store.claim`) and polls the claimed ones as one
:meth:`curator.core.Curator.poll` does: fetched concurrently, stored in groups as they
finish.  Each job still gets its own source's report as soon as it is stored.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
from collections.abc import Sequence
from datetime import timedelta
from typing import TYPE_CHECKING

from curator import pipeline
from curator.exceptions import StoreError
from curator.types import SourceReport

if TYPE_CHECKING:
    from curator.config import Source
    from curator.core import Curator

log = logging.getLogger("curator.polls")

#: Who claims sources (:meth:`curator.store.api.Store.claim`): this process on this machine.
HOLDER = f"{socket.gethostname()}:{os.getpid()}"

#: Seconds a firing poll waits for others to join it: APScheduler submits every job due at
#: one tick within a few milliseconds, so a short wait gathers them all, and a lone poll is
#: late by no more than this.
GATHER = 0.25

Outcome = SourceReport | None  # None: not polled (another instance has it, or not due)


class ScheduledPolls:
    """Gathers the polls that fire together; see the module docstring."""

    def __init__(self, curator: Curator, *, holder: str = HOLDER, gather: float = GATHER) -> None:
        self._curator = curator
        self._holder = holder
        self._gather = gather
        self._waiting: dict[str, asyncio.Future[Outcome]] = {}
        self._gathering: asyncio.Task[None] | None = None
        self._running: set[asyncio.Task[None]] = set()
        self._stopped = False

    async def poll(self, source_id: str) -> Outcome:
        """Poll *source_id* if it is due and this instance claims it, with whatever other
        sources fire now; its report once stored, or None when it was not polled.  Store
        trouble raises :class:`~curator.exceptions.StoreError` in every job of the group."""
        if self._stopped:
            raise asyncio.CancelledError  # serve is stopping: no new poll starts
        waiting = self._waiting.get(source_id)
        if waiting is None:
            waiting = asyncio.get_running_loop().create_future()
            self._waiting[source_id] = waiting
            if self._gathering is None:
                self._gathering = asyncio.create_task(self._start_after_gathering())
        # A job cancelled (serve stopping) leaves the group's poll of its source alone.
        return await asyncio.shield(waiting)

    def stop(self) -> None:
        """No group starts from now on (``serve`` is stopping): the jobs still gathering
        are cancelled, the groups under way left to finish or be cancelled by the caller."""
        self._stopped = True
        if self._gathering is not None:
            self._gathering.cancel()  # (a task cancelled before its first step runs nothing)
            self._gathering = None
        for waiting in self._waiting.values():
            waiting.cancel()
        self._waiting = {}

    async def _start_after_gathering(self) -> None:
        try:
            await asyncio.sleep(self._gather)
        except asyncio.CancelledError:  # serve is stopping: these polls never start
            for waiting in self._waiting.values():
                waiting.cancel()
            self._waiting = {}
            raise
        finally:
            self._gathering = None
        if self._stopped:
            return
        group, self._waiting = self._waiting, {}
        task = asyncio.create_task(self._poll_group(group))
        self._running.add(task)
        task.add_done_callback(self._running.discard)

    async def _poll_group(self, group: dict[str, asyncio.Future[Outcome]]) -> None:
        curator = self._curator
        config = curator.config
        for sid in [sid for sid in group if config.source(sid) is None]:
            _settle(group.pop(sid), None)  # removed from feeds.yaml since its job fired

        async def claim(sources: Sequence[Source]) -> set[str]:
            # Several instances on one database: the one that claims a source polls it; a
            # scheduler that fires for it in the same half interval leaves it alone.
            windows = {s.id: (s.interval or config.fetch.default_interval) / 2 for s in sources}
            claimed = await asyncio.to_thread(
                curator.store.claim, windows, holder=self._holder, now=curator.clock()
            )
            for sid in sorted(set(windows) - claimed):
                log.info("poll skipped source=%s: another instance claimed it", sid)
                _settle(group.get(sid), None)
            return claimed

        try:
            # The trigger and the pipeline each add up to `jitter` of their own, and the
            # clock moves on a little between the fire time and the check: a source whose
            # next poll falls within that slack is due, or a healthy source would skip every
            # other tick.
            slack = timedelta(seconds=config.fetch.jitter + 5.0 + self._gather)
            sources = [s for s in config.sources if s.id in group]
            due = await asyncio.to_thread(
                pipeline.due, sources, curator.store, curator.clock() + slack
            )
            for sid in set(group) - {s.id for s in due}:
                _settle(group[sid], None)  # not due (its back-off, say): at once, not polled
            # feeds.yaml may have been read again meanwhile (SIGHUP): only sources it still has.
            ids = [s.id for s in due if curator.config.source(s.id) is not None]
            for sid in {s.id for s in due} - set(ids):
                _settle(group[sid], None)
            if ids:
                await curator.poll(
                    ids,
                    progress=lambda report: _settle(group.get(report.source_id), report),
                    claim=claim,
                )
        except asyncio.CancelledError:
            for waiting in group.values():
                waiting.cancel()
            raise
        except Exception as e:
            told = False
            for waiting in group.values():
                if not waiting.done():
                    waiting.set_exception(e)
                    told = True
            if not told:  # every poll was stored; what came after (the export) failed
                if isinstance(e, StoreError):
                    log.error("after scheduled polls sources=%d: %s", len(group), e)
                else:
                    log.error("bug after scheduled polls sources=%d", len(group), exc_info=e)
        else:
            for waiting in group.values():  # anything left was not polled
                _settle(waiting, None)
        finally:
            for waiting in group.values():
                if waiting.done() and not waiting.cancelled():
                    waiting.exception()  # retrieved: a job that stopped waiting logs nothing

    async def aclose(self) -> None:
        """Let the polls under way finish (their commits are whole), cancelling the wait of
        any still gathering.  Usable again afterwards (a Curator's loop may end and another
        begin, as in ``curator fetch`` runs within one process)."""
        self.stop()
        if self._running:
            await asyncio.gather(*self._running, return_exceptions=True)
        self._stopped = False


def _settle(waiting: asyncio.Future[Outcome] | None, outcome: Outcome) -> None:
    if waiting is not None and not waiting.done():
        waiting.set_result(outcome)
