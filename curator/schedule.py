"""The job table of ``curator serve``: one poll job per source, the weekly digest, the daily
backup; :func:`update_jobs` brings it in line with a reloaded feeds.yaml.

No logic of its own: a poll job asks the pipeline to poll its source *if it is due* (so the
back-off that the pipeline records after failures is honoured between ticks), the digest job
asks :mod:`curator.digests` to send whatever is due (which is idempotent, so a catch-up after
downtime sends a missed digest exactly once), and the backup job asks :mod:`curator.backup`
for a new archive when the newest is a day old.

A job that fails because of the store (a damaged file, a full disk) logs one line naming the
file and notes it in ``curator.health`` for ``/healthz``; it does not raise into APScheduler,
which would log a traceback on every tick of every source.  Anything else is a bug and keeps
its traceback.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime, timedelta

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from curator import backup, pipeline, ranking
from curator.config import Config, Source
from curator.core import Curator
from curator.exceptions import StoreCorrupt, StoreError
from curator.store import TinyDBStore
from curator.types import SourceState

log = logging.getLogger("curator.schedule")

DIGEST_GRACE = 12 * 3600  # a digest missed by up to 12 hours is still sent by the scheduler


def poll_job_id(source_id: str) -> str:
    return f"poll:{source_id}"


async def poll_if_due(curator: Curator, source_id: str) -> None:
    """Poll *source_id* if it is due and this instance claims it, together with the other
    sources firing now (:class:`curator.polls.ScheduledPolls`)."""
    job = poll_job_id(source_id)
    try:
        report = await curator.scheduled_polls.poll(source_id)
    except StoreError as e:
        _failed(curator, job, e, f"scheduled poll not stored source={source_id}")
        return
    curator.health.succeeded(job, curator.clock())
    if report is not None:
        log.debug("scheduled poll source=%s outcome=%s", report.source_id, report.outcome)


async def send_digest_if_due(curator: Curator) -> None:
    from curator import digests

    try:
        await digests.run_scheduled(curator)
    except StoreError as e:
        _failed(curator, "digest", e, "scheduled digest not sent")
        return
    curator.health.succeeded("digest", curator.clock())


async def back_up_if_due(curator: Curator) -> None:
    """A new archive in ``<store>/backups/`` when the newest is a day old; keep
    ``store.backups`` of them."""
    now = curator.clock()
    store = curator.store
    assert isinstance(store, TinyDBStore)  # the job is added for the file store only
    try:
        info = await asyncio.to_thread(backup.daily, store, curator.config.store.backups, now)
    except StoreError as e:
        _failed(curator, "backup", e, "daily backup failed")
        return
    curator.health.succeeded("backup", now)
    if info is not None:
        log.info("daily backup path=%s items=%d", info.path, info.items)
        for name in info.left_out:
            log.error("daily backup left out a damaged file path=%s", store.path / name)


def _failed(curator: Curator, job: str, error: StoreError, what: str) -> None:
    """One log line per failed tick, naming the file; no traceback (module docstring)."""
    failure = curator.health.failed(job, curator.clock(), error)
    if failure.file is not None:
        log.error("%s file=%s: it does not load; run `curator store repair`", what, failure.file)
    else:
        log.error("%s: %s", what, error)


def build_scheduler(curator: Curator, *, now: datetime | None = None) -> AsyncIOScheduler:
    """A scheduler (not started) holding every job; due sources run at once on start."""
    scheduler = AsyncIOScheduler(timezone="UTC")
    add_poll_jobs(scheduler, curator, now=now)
    add_jobs(scheduler, curator, now=now)
    return scheduler


def add_poll_jobs(
    scheduler: AsyncIOScheduler, curator: Curator, *, now: datetime | None = None
) -> None:
    """A poll job for every enabled source.  Every instance on one database runs them: the
    first to claim a source (:meth:`curator.store.api.Store.claim`) polls it, so the polling
    is spread over the instances and no source is polled twice in one interval."""
    now = now or curator.clock()
    states = _states(curator)
    for source in curator.config.sources:
        if source.enabled:
            _add_poll_job(scheduler, curator, source, states, now)


def add_jobs(scheduler: AsyncIOScheduler, curator: Curator, *, now: datetime | None = None) -> None:
    """Add the digest, the backup and the ranking's jobs: what only the instance that runs
    the scheduler (:mod:`curator.leader`) runs, and a lone ``serve`` from the start.  (A
    store directory's item counts are brought up to date by serve's warm-up.)"""
    now = now or curator.clock()
    if curator.config.digest.enabled:
        _add_digest_jobs(scheduler, curator, now, catch_up=True)
    if curator.config.store.backups:
        _add_backup_job(scheduler, curator, now)
    _add_rank_job(scheduler, curator, now)


def update_jobs(
    scheduler: AsyncIOScheduler,
    curator: Curator,
    old: Config,
    *,
    now: datetime | None = None,
    leading: bool = True,
) -> None:
    """Bring the job table from ``old`` to ``curator.config`` (a reloaded feeds.yaml): a poll
    job for every enabled source, replaced where the source changed, removed where it went or
    was disabled; when *leading*, the digest and backup jobs follow their sections."""
    now = now or curator.clock()
    new = curator.config
    before = {s.id: s for s in old.sources if s.enabled}
    after = {s.id: s for s in new.sources if s.enabled}
    states = _states(curator) if after else {}
    for sid, source in before.items():
        if after.get(sid) != source:
            _remove(scheduler, poll_job_id(sid))
    for sid, source in after.items():
        if before.get(sid) != source:
            _add_poll_job(scheduler, curator, source, states, now)
    if not leading:
        return
    if _digest_schedule(old) != _digest_schedule(new):
        for job in ("digest", "digest-retry"):
            _remove(scheduler, job)
        if new.digest.enabled:
            _add_digest_jobs(scheduler, curator, now, catch_up=False)
    if bool(old.store.backups) != bool(new.store.backups):
        _remove(scheduler, "backup")
        if new.store.backups:
            _add_backup_job(scheduler, curator, now)


def _remove(scheduler: AsyncIOScheduler, job_id: str) -> None:
    if scheduler.get_job(job_id) is not None:
        scheduler.remove_job(job_id)


def _digest_schedule(config: Config) -> tuple[object, ...]:
    d = config.digest
    return (d.enabled, d.day, d.time, d.timezone)


def _states(curator: Curator) -> dict[str, SourceState]:
    """The sources' states, for their first run times; none when the store cannot give them
    (each poll job still asks the store whether its source is due)."""
    try:
        return curator.store.states()
    except StoreCorrupt as e:  # the service still starts; every poll will say so, once a tick
        log.error("source state unreadable file=%s: polls start from scratch", e.path)
    except StoreError as e:  # busy: the first runs are "now", and each poll checks it is due
        log.error("source state not read: %s", e)
    return {}


def _add_poll_job(
    scheduler: AsyncIOScheduler,
    curator: Curator,
    source: Source,
    states: dict[str, SourceState],
    now: datetime,
) -> None:
    settings = curator.config.fetch
    interval = source.interval or settings.default_interval
    state = pipeline.initial_state(source, states.get(source.id))
    first = state.next_due if state.next_due and state.next_due > now else now
    scheduler.add_job(
        poll_if_due,
        IntervalTrigger(seconds=interval, jitter=int(min(settings.jitter, interval / 10)) or None),
        args=(curator, source.id),
        id=poll_job_id(source.id),
        name=f"poll {source.id}",
        next_run_time=first,
        coalesce=True,
        max_instances=1,
        misfire_grace_time=int(interval),
        replace_existing=True,
    )


def _add_digest_jobs(
    scheduler: AsyncIOScheduler, curator: Curator, now: datetime, *, catch_up: bool
) -> None:
    digest = curator.config.digest
    hour, minute = (int(x) for x in digest.time.split(":"))
    scheduler.add_job(
        send_digest_if_due,
        CronTrigger(day_of_week=digest.day[:3], hour=hour, minute=minute, timezone=digest.timezone),
        args=(curator,),
        id="digest",
        name="weekly digest",
        coalesce=True,
        max_instances=1,
        misfire_grace_time=DIGEST_GRACE,
        replace_existing=True,
    )
    # Recipients a server refused are retried (only them) until digest.retry_days pass.
    scheduler.add_job(
        send_digest_if_due,
        IntervalTrigger(hours=1),
        args=(curator,),
        id="digest-retry",
        name="digest retry",
        coalesce=True,
        max_instances=1,
        replace_existing=True,
    )
    if catch_up:
        # Catch up a digest missed while the service was down: once, shortly after start.
        scheduler.add_job(
            send_digest_if_due,
            "date",
            run_date=now + timedelta(seconds=30),
            args=(curator,),
            id="digest-catch-up",
            name="digest catch-up",
            misfire_grace_time=DIGEST_GRACE,
        )


def _add_backup_job(scheduler: AsyncIOScheduler, curator: Curator, now: datetime) -> None:
    if not isinstance(curator.store, TinyDBStore):
        # PostgreSQL is backed up by its own tools (pg_dump, base backups, WAL archiving),
        # which know its transactions; an archive of ours would be a second, weaker copy.
        log.info("no daily backup job: the store is a database; back it up with pg_dump")
        return
    last = backup.latest(backup.default_dir(curator.store))
    taken = backup.taken_at(last) if last is not None else None
    # The first one a minute after start (the service is up first), then daily.
    first_backup = max(taken + timedelta(days=1), now) if taken else now
    scheduler.add_job(
        back_up_if_due,
        IntervalTrigger(hours=24),
        args=(curator,),
        id="backup",
        name="daily backup",
        next_run_time=first_backup + timedelta(seconds=60),
        coalesce=True,
        max_instances=1,
        misfire_grace_time=DIGEST_GRACE,
        replace_existing=True,
    )


def _add_rank_job(scheduler: AsyncIOScheduler, curator: Curator, now: datetime) -> None:
    """The learned ranking: retrain after a batch of decisions, in a worker
    (:func:`curator.ranking.check`); once at start too, which loads the stored model and
    scores the queue before the first editor opens it."""
    scheduler.add_job(
        ranking.check,
        IntervalTrigger(seconds=ranking.CHECK_EVERY),
        args=(curator,),
        id="rank",
        name="learned ranking",
        next_run_time=now,
        coalesce=True,
        max_instances=1,
        misfire_grace_time=None,
        replace_existing=True,
    )
