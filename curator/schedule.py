"""The job table of ``curator serve``: one poll job per source, the weekly digest.

No logic of its own: a poll job asks the pipeline to poll its source *if it is due* (so the
back-off that the pipeline records after failures is honoured between ticks), and the digest
job asks :mod:`curator.digests` to send whatever is due (which is idempotent, so a catch-up
after downtime sends a missed digest exactly once).
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from curator import pipeline
from curator.core import Curator

log = logging.getLogger("curator.schedule")

DIGEST_GRACE = 12 * 3600  # a digest missed by up to 12 hours is still sent by the scheduler


def poll_job_id(source_id: str) -> str:
    return f"poll:{source_id}"


async def poll_if_due(curator: Curator, source_id: str) -> None:
    # The trigger and the pipeline each add up to `jitter` of their own, and the clock moves
    # on a little between the fire time and the check: a source whose next poll falls within
    # that slack is due, or a healthy source would skip every other tick.
    slack = curator.config.fetch.jitter + 5.0
    report = await curator.poll([source_id], due_only=True, slack=slack)
    for r in report.sources:
        log.debug("scheduled poll source=%s outcome=%s", r.source_id, r.outcome)


async def send_digest_if_due(curator: Curator) -> None:
    from curator import digests

    await digests.run_scheduled(curator)


def build_scheduler(curator: Curator, *, now: datetime | None = None) -> AsyncIOScheduler:
    """A scheduler (not started) holding every job; due sources run at once on start."""
    now = now or curator.clock()
    scheduler = AsyncIOScheduler(timezone="UTC")
    states = curator.store.states()
    settings = curator.config.fetch
    for source in curator.config.sources:
        if not source.enabled:
            continue
        interval = source.interval or settings.default_interval
        state = pipeline.initial_state(source, states.get(source.id))
        first = state.next_due if state.next_due and state.next_due > now else now
        scheduler.add_job(
            poll_if_due,
            IntervalTrigger(
                seconds=interval, jitter=int(min(settings.jitter, interval / 10)) or None
            ),
            args=(curator, source.id),
            id=poll_job_id(source.id),
            name=f"poll {source.id}",
            next_run_time=first,
            coalesce=True,
            max_instances=1,
            misfire_grace_time=int(interval),
        )
    digest = curator.config.digest
    if digest.enabled:
        hour, minute = (int(x) for x in digest.time.split(":"))
        scheduler.add_job(
            send_digest_if_due,
            CronTrigger(
                day_of_week=digest.day[:3], hour=hour, minute=minute, timezone=digest.timezone
            ),
            args=(curator,),
            id="digest",
            name="weekly digest",
            coalesce=True,
            max_instances=1,
            misfire_grace_time=DIGEST_GRACE,
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
        )
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
    return scheduler
