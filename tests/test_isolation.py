"""One source's trouble stays that source's: errors cross process boundaries intact, a bug
while polling one source is recorded on it while the others are stored, a document that
never finishes is stopped, and a long-dead source's back-off cannot overflow."""

from __future__ import annotations

import pickle
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from curator import config_edit, dedupe, exceptions, pipeline
from curator.config import Source
from curator.core import make_curator
from curator.exceptions import CuratorError, Problem, SourceBug
from curator.store import TinyDBStore
from curator.workers import Workers
from tests.feedserver import FeedServer, need_corpus
from tests.test_pipeline import CCTV, LFR, POLICING, Clock, make_config, rss, run, source
from tests.test_store import make_item

#: How to build each error, with the attributes a caller reads from it.  A new error class
#: must be added here: the walk below fails for any subclass this table does not cover.
ERRORS: dict[str, Callable[[], CuratorError]] = {
    "CuratorError": lambda: exceptions.CuratorError("boom"),
    "ConfigError": lambda: exceptions.ConfigError([Problem("feeds.yaml", 3, "sources", "bad")]),
    "SecretKeyError": lambda: exceptions.SecretKeyError(Path("/s/secret_key"), "unreadable"),
    "StoreError": lambda: exceptions.StoreError("disk full"),
    "StoreCorrupt": lambda: exceptions.StoreCorrupt(Path("/s/items.json"), "bad JSON"),
    "StoreLocked": lambda: exceptions.StoreLocked("held by pid 7"),
    "SchemaError": lambda: exceptions.SchemaError(
        "db has schema 1, needs 3: run `curator migrate`"
    ),
    "SourceError": lambda: exceptions.SourceError("src", "failed"),
    "FetchError": lambda: exceptions.FetchError("src", "503", status=503, retry_after=60.0),
    "SourceGone": lambda: exceptions.SourceGone("src", "gone", status=410),
    "BodyTooLarge": lambda: exceptions.BodyTooLarge("src", "too big"),
    "ParseError": lambda: exceptions.ParseError("src", "not a feed"),
    "SourceBug": lambda: exceptions.SourceBug("src", "parse", KeyError("x")),
    "UnknownSource": lambda: exceptions.UnknownSource("nope", ["a", "b"]),
    "ItemError": lambda: exceptions.ItemError("abc", "bad item"),
    "ItemChanged": lambda: exceptions.ItemChanged("abc", make_item(1)),
    "UnknownItem": lambda: exceptions.UnknownItem("abc"),
    "UserError": lambda: exceptions.UserError("no such editor"),
    "PortInUse": lambda: exceptions.PortInUse("port 8000 is in use"),
    "DigestError": lambda: exceptions.DigestError("no recipients"),
    "MailError": lambda: exceptions.MailError("auth refused"),
    "PublishError": lambda: exceptions.PublishError("cannot write"),
    "OpmlError": lambda: exceptions.OpmlError("subs.opml", 8, "not well-formed XML"),
    "ConfigChanged": lambda: config_edit.ConfigChanged(Path("feeds.yaml")),
    "ModelError": lambda: exceptions.ModelError("too few decisions: 12 more needed"),
}


def _subclasses(cls: type) -> Iterator[type]:
    sub: type
    for sub in cls.__subclasses__():
        yield sub
        yield from _subclasses(sub)


def test_the_table_covers_every_error() -> None:
    every = {c.__name__ for c in _subclasses(CuratorError)} | {"CuratorError"}
    assert every - set(ERRORS) == set(), "add the new error classes to ERRORS"


@pytest.mark.parametrize("name", sorted(ERRORS))
def test_every_error_survives_pickling(name: str) -> None:
    """Errors come back from worker processes pickled; one that could not be rebuilt broke
    the whole pool (issue 8, item 1)."""
    error = ERRORS[name]()
    again = pickle.loads(pickle.dumps(error))
    assert type(again) is type(error)
    assert str(again) == str(error)
    assert again.args == error.args
    assert vars(again) == vars(error)


def _sources(feed_server: FeedServer, count: int) -> str:
    return "".join(
        source(f"s{i}", feed_server.route(f"/s{i}", rss(CCTV, LFR, title=f"Feed {i}")))
        for i in range(count)
    )


def test_a_bug_while_reading_one_source_costs_only_that_source(
    feed_server: FeedServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = pipeline.process

    def process(fetched: Any, src: Source, *args: Any) -> Any:
        if src.id == "s1":
            raise KeyError("a bug")
        return real(fetched, src, *args)

    monkeypatch.setattr(pipeline, "process", process)
    cfg = make_config(_sources(feed_server, 3), head=POLICING)
    cur = make_curator(cfg, store=TinyDBStore(tmp_path / "store"), clock=Clock())
    report = run(cur)
    outcomes = {r.source_id: r.outcome for r in report.sources}
    assert outcomes == {"s0": "ok", "s1": "error", "s2": "ok"}
    state = cur.store.get_state("s1")
    assert state is not None and state.consecutive_errors == 1
    assert "unexpected KeyError in fetch or parse" in (state.last_error or "")
    assert len(cur.store.items()) == 2  # the two stories, from the sources that worked


def test_a_bug_while_storing_one_source_costs_only_that_source(
    feed_server: FeedServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The group transaction is stored again without the failing source's effects: nothing
    half-stored from it, everything from the others."""
    real = dedupe.decide

    def decide(candidate: Any, *, source: Source, **kw: Any) -> Any:
        decision = real(candidate, source=source, **kw)
        if source.id == "bad":
            raise ValueError("a bug in dedupe")
        return decision

    monkeypatch.setattr(dedupe, "decide", decide)
    good = feed_server.route("/good", rss(CCTV, title="Good"))
    bad = feed_server.route("/bad", rss(LFR, title="Bad"))
    cfg = make_config(source("good", good) + source("bad", bad), head=POLICING)
    cur = make_curator(cfg, store=TinyDBStore(tmp_path / "store"), clock=Clock())
    report = run(cur)
    outcomes = {r.source_id: r.outcome for r in report.sources}
    assert outcomes == {"good": "ok", "bad": "error"}
    assert [i.title for i in cur.store.items()] == [CCTV[0]]
    state = cur.store.get_state("bad")
    assert state is not None and "ValueError in dedupe or store" in (state.last_error or "")
    assert isinstance(SourceBug("bad", "x", ValueError()), exceptions.SourceError)


def test_a_document_past_the_parse_time_limit_is_a_parse_error(
    feed_server: FeedServer, tmp_path: Path
) -> None:
    """The biggest corpus feed (1.6 MB, 730 entries) cannot be read in a millisecond: the
    worker is stopped, the source records why and names the setting, and the next source
    is read by a fresh worker."""
    corpus = need_corpus()
    big = feed_server.corpus_url("feeds/rss-parser__giantbomb-podcast.rss")
    assert (corpus / "feeds" / "rss-parser__giantbomb-podcast.rss").stat().st_size > 1_000_000
    cfg = make_config(source("big", big), head="  parse_timeout: 0.001\n" + POLICING)
    with Workers(1) as workers:
        cur = make_curator(cfg, store=TinyDBStore(tmp_path / "a"), clock=Clock(), workers=workers)
        (r,) = run(cur).sources
        assert r.outcome == "error"
        assert "fetch.parse_timeout" in (r.error or "")
        small = feed_server.route("/small", rss(CCTV))
        cfg2 = make_config(source("small", small), head=POLICING)
        cur2 = make_curator(cfg2, store=TinyDBStore(tmp_path / "b"), clock=Clock(), workers=workers)
        assert run(cur2).sources[0].new == 1


@pytest.mark.parametrize("errors", [1, 2, 31, 1025, 10**9])
def test_back_off_never_overflows(errors: int) -> None:
    """A source failing for years once raised OverflowError (2.0**1024) and broke every run."""
    cfg = make_config(source("a", "https://example.org/f"))
    now = datetime(2026, 1, 1, tzinfo=UTC)
    due = pipeline.next_due(cfg.sources[0], cfg.fetch, now, errors=errors, rng=lambda: 0.0)
    assert now < due <= now + timedelta(seconds=max(cfg.fetch.max_backoff, 3600))


def test_back_off_doubles_until_the_cap() -> None:
    cfg = make_config(source("a", "https://example.org/f", interval="1h"))
    now = datetime(2026, 1, 1, tzinfo=UTC)
    delays = [
        (pipeline.next_due(cfg.sources[0], cfg.fetch, now, errors=n, rng=lambda: 0.0) - now)
        for n in (0, 1, 2, 3, 6, 2000)
    ]
    hours = [d / timedelta(hours=1) for d in delays]
    assert hours == [1, 1, 2, 4, 24, 24]  # max_backoff defaults to one day


def test_workers_are_not_needed_for_an_unchanged_poll(
    feed_server: FeedServer, tmp_path: Path
) -> None:
    """A poll where nothing changed parses nothing, so starts no worker process."""
    url = feed_server.route("/f", rss(CCTV), etag='"1"')
    cfg = make_config(source("a", url), head=POLICING)
    store = TinyDBStore(tmp_path / "s")
    run(make_curator(cfg, store=store, clock=Clock()))
    workers = Workers(1)
    try:
        report = run(make_curator(cfg, store=store, clock=Clock(), workers=workers))
        assert report.sources[0].outcome == "not_modified"
        assert workers._pool is None
    finally:
        workers.close()
