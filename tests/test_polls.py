"""serve's poll jobs gathered (curator/polls.py): the jobs firing together claim their sources
in one call, read only their own states, and each job gets its own source's report; on one
PostgreSQL database, two instances firing the same jobs fetch each source once.  A real feed
server, real stores (spied on, not replaced)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from curator import config, schedule
from curator.config import Source
from curator.core import Curator, make_curator
from curator.exceptions import StoreError, StoreLocked
from curator.polls import ScheduledPolls
from curator.store import Store, TinyDBStore
from curator.types import PollReport, SourceReport, SourceState
from tests.feedserver import FeedServer

T0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)


def rss(n: int) -> bytes:
    return (
        '<?xml version="1.0"?><rss version="2.0"><channel><title>t</title>'
        "<link>https://e.org/</link>"
        f"<item><title>Police CCTV upgrade number {n}</title>"
        f"<link>https://e.org/{n}</link></item></channel></rss>"
    ).encode()


class SpiedStore(TinyDBStore):
    """The real embedded store, noting what the gathered polls ask of it."""

    def __init__(self, path: Path) -> None:
        super().__init__(path)
        self.claims: list[set[str]] = []
        self.state_reads: list[set[str] | None] = []

    def claim(self, windows: Mapping[str, float], *, holder: str, now: datetime) -> set[str]:
        self.claims.append(set(windows))
        return super().claim(windows, holder=holder, now=now)

    def states(self, source_ids: Collection[str] | None = None) -> dict[str, SourceState]:
        self.state_reads.append(None if source_ids is None else set(source_ids))
        return super().states(source_ids)


def farm(server: FeedServer, n: int, extra: str = "") -> config.Config:
    lines = [
        f"  - {{id: s{i}, name: S{i}, url: '{server.route(f'/s{i}', rss(i))}', interval: 1h}}"
        for i in range(n)
    ]
    return config.loads(
        "fetch: {jitter: 0}\nrules: {include: {cctv: 3}}\ndigest: {enabled: false}\n"
        "store: {backups: 0}\nsources:\n" + "\n".join(lines) + "\n" + extra
    )


def fire(cur: Curator, ids: list[str]) -> list[SourceReport | None]:
    """Every job in *ids* fires at once, as the scheduler starts them when all are due."""

    async def go() -> list[SourceReport | None]:
        try:
            return list(await asyncio.gather(*(cur.scheduled_polls.poll(i) for i in ids)))
        finally:
            await cur.aclose()

    return asyncio.run(go())


def poll_many(cfg: config.Config, store: Store, **options: Any) -> PollReport:
    """:func:`curator.pipeline.poll_many` over every source of *cfg*, as a command runs it."""
    from curator import pipeline

    cur = make_curator(cfg, store=store, clock=lambda: T0)

    async def go() -> PollReport:
        try:
            return await pipeline.poll_many(
                cfg.sources, config=cfg, fetcher=cur.fetcher, store=store, now=T0, **options
            )
        finally:
            await cur.aclose()

    return asyncio.run(go())


def test_jobs_firing_together_claim_once_and_each_get_their_report(
    tmp_path: Path, feed_server: FeedServer
) -> None:
    cfg = farm(feed_server, 12)
    store = SpiedStore(tmp_path / "store")
    clock = {"now": T0}
    cur = make_curator(cfg, store=store, clock=lambda: clock["now"])
    ids = [f"s{i}" for i in range(12)]

    reports = fire(cur, ids)

    assert [r.source_id if r else None for r in reports] == ids
    assert all(r is not None and r.outcome == "ok" and r.new == 1 for r in reports)
    assert store.claims == [set(ids)]  # one claim for the twelve
    assert None not in store.state_reads  # never every source's state: only the group's
    assert len(store.items()) == 12
    assert all(len(feed_server.requests_to(f"/s{i}")) == 1 for i in range(12))

    # Ten minutes later only one is due again (its state says so): the others are not
    # fetched, and their jobs hear None.
    with store.transaction():
        state = store.get_state("s3")
        assert state is not None
        store.put_state(replace(state, next_due=T0))
    clock["now"] = T0 + timedelta(minutes=10)
    cur = make_curator(cfg, store=store, clock=lambda: clock["now"])
    again = fire(cur, ["s3", "s4", "gone-from-feeds-yaml"])
    assert again[0] is not None and again[0].source_id == "s3"
    assert again[1:] == [None, None]
    assert len(feed_server.requests_to("/s3")) == 2
    assert len(feed_server.requests_to("/s4")) == 1


def test_a_store_failure_reaches_every_job_of_the_group_as_one_line_each(
    tmp_path: Path, feed_server: FeedServer, caplog: pytest.LogCaptureFixture
) -> None:
    cfg = farm(feed_server, 3)
    store_dir = tmp_path / "store"
    cur = make_curator(cfg, store=TinyDBStore(store_dir), clock=lambda: T0)
    (store_dir / "sources.json").write_text("{ not json")  # damaged behind the store's back

    async def go() -> None:
        try:
            await asyncio.gather(*(schedule.poll_if_due(cur, f"s{i}") for i in range(3)))
        finally:
            await cur.aclose()

    asyncio.run(go())
    failed = [r.getMessage() for r in caplog.records if "scheduled poll not stored" in r.message]
    assert sorted(m.split("source=")[1].split()[0] for m in failed) == ["s0", "s1", "s2"]
    assert all("sources.json" in m and "curator store repair" in m for m in failed)
    assert [f.job for f in cur.health.failures()] == ["poll:s0", "poll:s1", "poll:s2"]
    assert not any(r.exc_info for r in caplog.records)


def test_serve_stopping_while_jobs_gather_polls_nothing(
    tmp_path: Path, feed_server: FeedServer
) -> None:
    cur = make_curator(farm(feed_server, 2), store=TinyDBStore(tmp_path / "s"), clock=lambda: T0)

    async def go() -> list[Any]:
        jobs = [asyncio.create_task(cur.scheduled_polls.poll(f"s{i}")) for i in range(2)]
        await asyncio.sleep(0)  # the jobs start and wait for the others firing with them
        await cur.aclose()
        return list(await asyncio.gather(*jobs, return_exceptions=True))

    outcomes = asyncio.run(go())
    assert all(isinstance(o, asyncio.CancelledError) for o in outcomes)
    assert feed_server.requests_to("/s0") == feed_server.requests_to("/s1") == []


def test_two_instances_on_one_database_fetch_each_source_once(
    database_url: str, store_at: Callable[..., Store], feed_server: FeedServer
) -> None:
    cfg = farm(feed_server, 30)
    ids = [f"s{i}" for i in range(30)]
    curators = []
    for n in range(2):
        cur = make_curator(cfg, store=store_at(database_url), clock=lambda: T0)
        cur.scheduled_polls = ScheduledPolls(cur, holder=f"instance-{n}")
        curators.append(cur)

    async def both() -> list[list[SourceReport | None]]:
        async def one(cur: Curator, order: list[str]) -> list[SourceReport | None]:
            try:
                return list(await asyncio.gather(*(cur.scheduled_polls.poll(i) for i in order)))
            finally:
                await cur.aclose()

        return list(await asyncio.gather(one(curators[0], ids), one(curators[1], ids[::-1])))

    first, second = asyncio.run(both())
    polled = [r.source_id for r in first + second if r is not None]
    assert sorted(polled) == sorted(ids)  # every source once, by one instance or the other
    assert all(len(feed_server.requests_to(f"/s{i}")) == 1 for i in range(30))
    assert len(store_at(database_url).items()) == 30


def test_poll_many_claims_a_chunk_at_a_time_and_polls_only_what_it_won(
    tmp_path: Path, feed_server: FeedServer
) -> None:
    """Instances sharing a database take sources as each has room: a chunk is claimed, the
    next once half the polls under way are done; a source claimed elsewhere is not fetched."""

    cfg = farm(feed_server, 10)
    store = TinyDBStore(tmp_path / "store")
    asked: list[list[str]] = []

    async def claim(sources: Sequence[Source]) -> set[str]:
        asked.append([s.id for s in sources])
        return {s.id for s in sources if s.id != "s5"}  # another instance has s5

    report = poll_many(cfg, store, claim=claim, chunk=4)
    assert asked == [["s0", "s1", "s2", "s3"], ["s4", "s5", "s6", "s7"], ["s8", "s9"]]
    assert [r.source_id for r in report.sources] == [f"s{i}" for i in range(10) if i != 5]
    assert feed_server.requests_to("/s5") == []
    assert len(store.items()) == 9


def test_a_claim_that_fails_on_the_store_ends_the_poll_with_that_error(
    tmp_path: Path, feed_server: FeedServer
) -> None:
    cfg = farm(feed_server, 6)
    store = TinyDBStore(tmp_path / "store")
    calls = 0

    async def claim(sources: Sequence[Source]) -> set[str]:
        nonlocal calls
        calls += 1
        if calls == 2:
            raise StoreLocked("the database is busy")
        return {s.id for s in sources}

    with pytest.raises(StoreLocked, match="busy"):
        poll_many(cfg, store, claim=claim, chunk=2)
    # What the first chunk polled before the failure is stored whole, or not at all.
    assert len(store.items()) in (0, 2)


def test_serve_stopping_cancels_the_gathering_polls_and_refuses_new_ones(
    tmp_path: Path, feed_server: FeedServer
) -> None:
    """``serve`` stops the gathering first: jobs waiting for their group are cancelled, a
    job firing afterwards starts nothing, and no group begins behind serve's back."""
    cur = make_curator(farm(feed_server, 2), store=TinyDBStore(tmp_path / "s"), clock=lambda: T0)

    async def go() -> list[Any]:
        polls = cur.scheduled_polls
        jobs = [asyncio.create_task(polls.poll("s0"))]
        await asyncio.sleep(0)
        polls.stop()
        jobs.append(asyncio.create_task(polls.poll("s1")))
        outcomes = list(await asyncio.gather(*jobs, return_exceptions=True))
        await cur.aclose()  # waits for any group under way: there must be none
        return outcomes

    outcomes = asyncio.run(go())
    assert all(isinstance(o, asyncio.CancelledError) for o in outcomes)
    assert feed_server.requests_to("/s0") == feed_server.requests_to("/s1") == []


def test_a_source_polled_elsewhere_before_its_chunk_is_claimed_is_left_alone(
    tmp_path: Path, feed_server: FeedServer
) -> None:
    """Chunks are claimed as room frees, perhaps minutes after the group read its states:
    a source another instance polled meanwhile (its state moved on) is not polled again
    from the stale state."""

    cfg = farm(feed_server, 4)
    store = TinyDBStore(tmp_path / "store")
    calls = 0

    async def claim(sources: Sequence[Source]) -> set[str]:
        nonlocal calls
        calls += 1
        if calls == 2:  # another instance polled s3 while the first chunk ran
            with store.transaction():
                store.put_state(SourceState("s3", last_fetch=T0 + timedelta(minutes=1)))
        return {s.id for s in sources}

    report = poll_many(cfg, store, claim=claim, chunk=2)
    assert [r.source_id for r in report.sources] == ["s0", "s1", "s2"]
    assert feed_server.requests_to("/s3") == []


def test_a_failure_after_every_poll_was_stored_is_logged(
    tmp_path: Path, feed_server: FeedServer, caplog: pytest.LogCaptureFixture
) -> None:
    """The export after the polls fails (a full disk): every job already has its report,
    so the failure is logged once rather than lost."""
    cur = make_curator(farm(feed_server, 2), store=TinyDBStore(tmp_path / "s"), clock=lambda: T0)

    def export_fails() -> None:
        raise StoreError("cannot write the export: No space left on device")

    cur.changed = export_fails  # type: ignore[method-assign]
    reports = fire(cur, ["s0", "s1"])
    assert [r.outcome if r else None for r in reports] == ["ok", "ok"]
    logged = [r.getMessage() for r in caplog.records if "after scheduled polls" in r.message]
    assert logged == [
        "after scheduled polls sources=2: cannot write the export: No space left on device"
    ]


def test_no_commit_stores_more_than_max_batch_polls(
    tmp_path: Path, feed_server: FeedServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Finished polls queue up while a commit runs; the next commit takes at most
    MAX_BATCH of them, so no transaction holds the write lock for long (another instance
    waiting for it would time out)."""
    from curator import pipeline

    monkeypatch.setattr(pipeline, "MAX_BATCH", 3)
    sizes: list[int] = []
    real = pipeline.store_polled

    def spied(polled: Sequence[Any], **kwargs: Any) -> Any:
        sizes.append(len(polled))
        return real(polled, **kwargs)

    monkeypatch.setattr(pipeline, "store_polled", spied)
    cfg = farm(feed_server, 10)
    store = TinyDBStore(tmp_path / "store")
    report = poll_many(cfg, store)
    assert len(report.sources) == 10 and sum(sizes) == 10
    assert max(sizes) <= 3
