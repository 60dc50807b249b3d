"""The scheduler's job table and its behaviour against a real feed server, with a clock the
test controls (the pipeline's notion of "due" follows that clock)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path

from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from curator import config, schedule
from curator.core import Curator, make_curator
from curator.store import TinyDBStore
from tests.feedserver import FeedServer

T0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)

RSS = (
    b'<?xml version="1.0"?><rss version="2.0"><channel><title>t</title><link>https://e.org/</link>'
    b"<item><title>Police CCTV network upgraded</title><link>https://e.org/a</link></item>"
    b"</channel></rss>"
)


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now


def make(tmp_path: Path, server: FeedServer, clock: Clock) -> Curator:
    fast = server.route("/fast", RSS)
    slow = server.route("/slow", RSS)
    broken = server.status("/broken", 500)
    cfg = config.loads(
        "fetch: {jitter: 0}\n"
        "rules: {include: {cctv: 3}}\n"
        "digest: {day: friday, time: '17:30', timezone: Europe/London}\n"
        "sources:\n"
        f"  - {{id: fast, name: Fast, url: '{fast}', interval: 30m}}\n"
        f"  - {{id: slow, name: Slow, url: '{slow}', interval: 6h}}\n"
        f"  - {{id: broken, name: Broken, url: '{broken}', interval: 30m}}\n"
        f"  - {{id: disabled, name: Disabled, url: '{fast}', enabled: false}}\n"
    )
    return make_curator(cfg, store=TinyDBStore(tmp_path / "store"), clock=clock)


def hits(server: FeedServer) -> dict[str, int]:
    return {p: len(server.requests_to(f"/{p}")) for p in ("fast", "slow", "broken")}


def tick(cur: Curator) -> None:
    """Run every poll job once, as the scheduler would when each fires."""

    async def go() -> None:
        try:
            for source in cur.config.sources:
                if source.enabled:
                    await schedule.poll_if_due(cur, source.id)
        finally:
            await cur.aclose()

    asyncio.run(go())


def test_job_table(tmp_path: Path, feed_server: FeedServer) -> None:
    cur = make(tmp_path, feed_server, Clock())
    sched = schedule.build_scheduler(cur, now=T0)
    jobs = {j.id: j for j in sched.get_jobs()}
    assert {"poll:fast", "poll:slow", "poll:broken", "digest"} <= set(jobs)
    assert "poll:disabled" not in jobs
    fast = jobs["poll:fast"]
    assert isinstance(fast.trigger, IntervalTrigger)
    assert fast.trigger.interval == timedelta(minutes=30)
    assert fast.coalesce and fast.max_instances == 1
    assert jobs["poll:slow"].trigger.interval == timedelta(hours=6)
    digest = jobs["digest"]
    assert isinstance(digest.trigger, CronTrigger)
    assert str(digest.trigger.timezone) == "Europe/London"
    assert digest.misfire_grace_time >= 3600


def test_a_reloaded_configuration_updates_the_job_table(
    tmp_path: Path, feed_server: FeedServer
) -> None:
    """Issue 10: `serve` re-reads feeds.yaml; sources added, removed, changed, enabled and
    disabled get their jobs updated, and the digest and backup jobs follow their sections."""
    clock = Clock()
    cur = make(tmp_path, feed_server, clock)
    sched = schedule.build_scheduler(cur, now=T0)
    broken_before = sched.get_job("poll:broken")
    assert sched.get_job("backup") is not None
    old = cur.config
    by_id = {s.id: s for s in old.sources}
    cur.config = old.model_copy(
        update={
            "sources": [
                by_id["fast"].model_copy(update={"interval": 3600.0}),
                by_id["broken"],
                by_id["disabled"].model_copy(update={"enabled": True}),
                by_id["fast"].model_copy(update={"id": "extra", "name": "Extra"}),
            ],
            "digest": old.digest.model_copy(update={"time": "09:15"}),
            "store": old.store.model_copy(update={"backups": 0}),
        }
    )
    clock.now = T0 + timedelta(minutes=10)
    schedule.update_jobs(sched, cur, old)
    jobs = {j.id: j for j in sched.get_jobs()}
    polls = {j for j in jobs if j.startswith("poll:")}
    assert polls == {"poll:fast", "poll:broken", "poll:disabled", "poll:extra"}
    assert jobs["poll:fast"].trigger.interval == timedelta(hours=1)
    assert jobs["poll:extra"].next_run_time == clock.now  # never polled: at once
    assert jobs["poll:broken"] is broken_before  # unchanged sources keep their job
    assert "backup" not in jobs
    assert "hour='9'" in str(jobs["digest"].trigger) and "minute='15'" in str(
        jobs["digest"].trigger
    )
    assert len([j for j in sched.get_jobs() if j.id == "digest"]) == 1

    # Back again, with the digest off: every change is undone.
    changed = cur.config
    cur.config = old.model_copy(update={"digest": old.digest.model_copy(update={"enabled": False})})
    schedule.update_jobs(sched, cur, changed)
    ids = {j.id for j in sched.get_jobs()}
    assert {j for j in ids if j.startswith("poll:")} == {"poll:fast", "poll:slow", "poll:broken"}
    assert "digest" not in ids and "digest-retry" not in ids and "backup" in ids


def test_each_source_at_its_interval_with_back_off(tmp_path: Path, feed_server: FeedServer) -> None:
    clock = Clock()
    cur = make(tmp_path, feed_server, clock)
    tick(cur)
    assert hits(feed_server) == {"fast": 1, "slow": 1, "broken": 1}
    clock.now = T0 + timedelta(minutes=31)
    tick(cur)  # fast is due again; slow is not; broken backs off (30m, then 60m...)
    assert hits(feed_server) == {"fast": 2, "slow": 1, "broken": 2}
    clock.now = T0 + timedelta(minutes=62)
    tick(cur)  # broken failed twice: next try 60 minutes after the second failure
    assert hits(feed_server) == {"fast": 3, "slow": 1, "broken": 2}
    clock.now = T0 + timedelta(minutes=92)
    tick(cur)
    assert hits(feed_server) == {"fast": 4, "slow": 1, "broken": 3}
    state = cur.store.get_state("broken")
    assert state is not None and state.consecutive_errors == 3
    clock.now = T0 + timedelta(hours=6, minutes=1)
    tick(cur)
    assert hits(feed_server)["slow"] == 2


def test_restarted_service_catches_up_once(tmp_path: Path, feed_server: FeedServer) -> None:
    clock = Clock()
    cur = make(tmp_path, feed_server, clock)
    tick(cur)
    before = hits(feed_server)
    # The service was down for ten hours; a new process on the same store starts.
    clock.now = T0 + timedelta(hours=10)
    cur2 = make(tmp_path, feed_server, clock)
    sched = schedule.build_scheduler(cur2, now=clock.now)
    first_runs = {j.id: j.next_run_time for j in sched.get_jobs() if j.id.startswith("poll:")}
    assert all(t == clock.now for t in first_runs.values())  # everything overdue runs at start
    tick(cur2)
    tick(cur2)  # a second firing at the same instant polls nothing more
    after = hits(feed_server)
    assert {k: after[k] - before[k] for k in after} == {"fast": 1, "slow": 1, "broken": 1}


def test_not_due_source_starts_at_its_next_due_time(
    tmp_path: Path, feed_server: FeedServer
) -> None:
    clock = Clock()
    cur = make(tmp_path, feed_server, clock)
    tick(cur)
    clock.now = T0 + timedelta(minutes=5)
    sched = schedule.build_scheduler(make(tmp_path, feed_server, clock), now=clock.now)
    slow = sched.get_job("poll:slow")
    assert slow is not None and slow.next_run_time == T0 + timedelta(hours=6)


def test_real_scheduler_fires_due_polls(tmp_path: Path, feed_server: FeedServer) -> None:
    """The APScheduler itself, started in a loop: due polls run at once, each exactly once."""
    cur = make(tmp_path, feed_server, Clock())
    polled: set[str] = set()

    async def go() -> None:
        done = asyncio.Event()
        original = cur.poll

        async def watched(*args: object, **kw: object) -> object:
            report = await original(*args, **kw)  # type: ignore[arg-type]
            polled.update(r.source_id for r in report.sources)
            if polled >= {"fast", "slow", "broken"}:
                done.set()
            return report

        cur.poll = watched  # type: ignore[method-assign]
        sched = schedule.build_scheduler(cur, now=datetime.now(UTC))
        sched.start()
        try:
            await asyncio.wait_for(done.wait(), timeout=30)
        finally:
            sched.shutdown(wait=False)
            await cur.aclose()

    asyncio.run(go())
    assert hits(feed_server) == {"fast": 1, "slow": 1, "broken": 1}


def test_real_trigger_with_jitter_polls_a_healthy_source_every_tick(
    tmp_path: Path, feed_server: FeedServer
) -> None:
    """Fire times from the real IntervalTrigger (its jitter on), the pipeline's own jitter on:
    every tick of a healthy source polls, none is skipped as "not due yet"."""
    url = feed_server.route("/feed", RSS)
    cfg = config.loads(
        "fetch: {jitter: 60s}\nrules: {include: {cctv: 3}}\ndigest: {enabled: false}\n"
        f"sources:\n  - {{id: s, name: S, url: '{url}', interval: 1h}}\n"
    )
    clock = Clock()
    cur = make_curator(cfg, store=TinyDBStore(tmp_path / "store"), clock=clock)
    job = schedule.build_scheduler(cur, now=T0).get_job("poll:s")
    assert job is not None
    fire = job.next_run_time
    for _ in range(40):
        clock.now = fire + timedelta(milliseconds=20)
        tick(cur)
        fire = job.trigger.get_next_fire_time(fire, clock.now)
    assert len(feed_server.requests_to("/feed")) == 40
