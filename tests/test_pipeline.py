"""The whole ingest flow against a real local feed server and a real store."""

from __future__ import annotations

import asyncio
import re
import tarfile
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from curator import config
from curator.core import Curator, make_curator
from curator.exceptions import UnknownSource
from curator.store import TinyDBStore
from curator.types import PollReport
from curator.workers import Workers
from tests.feedserver import FeedServer, need_corpus
from tests.test_fetch_corpus import UNREADABLE

T0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)


class Clock:
    def __init__(self, now: datetime = T0) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **kw: float) -> None:
        self.now += timedelta(**kw)


def rss(*entries: tuple[str, str, str], title: str = "Test feed") -> bytes:
    items = "".join(
        f"<item><title>{t}</title><link>{link}</link><description>{d}</description>"
        f"<pubDate>Mon, 02 Nov 2026 08:00:00 GMT</pubDate></item>"
        for t, link, d in entries
    )
    return (
        f'<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>{title}</title>'
        f"<link>https://example.org/</link>{items}</channel></rss>"
    ).encode()


CCTV = (
    "Council approves upgrade of town centre CCTV network",
    "https://news.example.org/cctv-upgrade?utm_source=rss",
    "The police and the council will share the new surveillance cameras.",
)
LFR = (
    "Police expand live facial recognition vans",
    "https://news.example.org/lfr",
    "The Met police said live facial recognition would be used at more events.",
)
OFF_TOPIC = ("Bake sale raises funds", "https://news.example.org/bake", "Cakes were sold.")


def make_config(sources: str, **extra: str) -> config.Config:
    text = "fetch:\n  jitter: 0s\n  timeout: 5s\n  read_timeout: 2s\n" + extra.get("head", "")
    text += "sources:\n" + sources
    return config.loads(text, "test.yaml")


def source(sid: str, url: str, **kw: str) -> str:
    lines = f"  - id: {sid}\n    name: {sid}\n    url: {url}\n"
    for k, v in kw.items():
        lines += f"    {k}: {v}\n"
    return lines


def run(cur: Curator, ids: list[str] | None = None) -> PollReport:
    async def go() -> PollReport:
        try:
            return await cur.poll(ids)
        finally:
            await cur.aclose()

    return asyncio.run(go())


@pytest.fixture
def make(tmp_path: Path) -> Callable[..., Curator]:
    def _make(cfg: config.Config, clock: Clock | None = None) -> Curator:
        return make_curator(cfg, store=TinyDBStore(tmp_path / "store"), clock=clock or Clock())

    return _make


def test_poll_keeps_matching_entries_and_is_polite_next_time(
    feed_server: FeedServer, make: Callable[..., Curator]
) -> None:
    url = feed_server.route("/feed.xml", rss(CCTV, LFR, OFF_TOPIC), etag='"v1"')
    cur = make(make_config(source("news", url, rules="{require: [policing]}"), head=POLICING))
    report = run(cur)
    (r,) = report.sources
    assert (r.outcome, r.entries, r.matched, r.new) == ("ok", 3, 2, 2)
    items = {i.title: i for i in cur.store.items("pending")}
    assert set(items) == {CCTV[0], LFR[0]}
    lfr = items[LFR[0]]
    assert any(m.term == "live facial recognition" and m.field == "title" for m in lfr.matched)
    assert lfr.why and lfr.sources == ("news",)
    assert "utm_source" not in items[CCTV[0]].canonical_url

    state = cur.store.get_state("news")
    assert state is not None and state.etag == '"v1"' and state.entries_last == 3
    again = run(cur)
    assert again.sources[0].outcome == "not_modified"
    assert feed_server.requests_to("/feed.xml")[-1].header("if-none-match") == '"v1"'
    assert len(cur.store.items()) == 2


POLICING = """\
rules:
  min_score: 3
  include: {cctv: 3, surveillance camera*: 3, live facial recognition: 4, facial recognition: 3}
  groups:
    policing: [police, policing, met]
"""


def test_unchanged_body_costs_no_parsing_and_repeats_are_duplicates(
    feed_server: FeedServer, make: Callable[..., Curator]
) -> None:
    url = feed_server.route("/f", rss(CCTV), etag=None)
    cur = make(make_config(source("a", url), head=POLICING))
    assert run(cur).sources[0].new == 1
    assert run(cur).sources[0].outcome == "unchanged"
    feed_server.route("/f", rss(CCTV, LFR), etag=None)
    r = run(cur).sources[0]
    assert (r.new, r.duplicates) == (1, 1)


def test_reviewed_items_never_come_back_as_pending(
    feed_server: FeedServer, make: Callable[..., Curator]
) -> None:
    url = feed_server.route("/f", rss(CCTV, LFR), etag=None)
    cur = make(make_config(source("a", url), head=POLICING))
    run(cur)
    by_title = {i.title: i.id for i in cur.store.items()}
    cur.review.approve([by_title[CCTV[0]]], by="ed")
    cur.review.reject([by_title[LFR[0]]], by="ed")
    feed_server.route("/f", rss(LFR, CCTV, title="Changed"), etag=None)  # new body, same entries
    run(cur)
    assert {i.status for i in cur.store.items()} == {"approved", "rejected"}
    assert cur.store.counts().get("pending", 0) == 0


def test_same_story_from_two_sources_is_one_item(
    feed_server: FeedServer, make: Callable[..., Curator]
) -> None:
    other = (
        "Police expand live facial recognition vans - The Paper",
        "https://paper.example.com/x/lfr",
        LFR[2],
    )
    a = feed_server.route("/a", rss(LFR))
    b = feed_server.route("/b", rss(other))
    cur = make(make_config(source("a", a) + source("b", b), head=POLICING))
    run(cur, ["a"])
    run(cur, ["b"])
    (item,) = cur.store.items()
    assert set(item.sources) == {"a", "b"}
    assert "https://paper.example.com/x/lfr" in item.urls


def test_failures_are_recorded_and_back_off(
    feed_server: FeedServer, make: Callable[..., Curator]
) -> None:
    clock = Clock()
    bad = feed_server.status("/down", 500)
    busy = feed_server.status("/busy", 429, retry_after=7200)
    good = feed_server.route("/ok", rss(CCTV))
    cur = make(
        make_config(
            source("down", bad, interval="1h")
            + source("busy", busy, interval="1h")
            + source("ok", good),
            head=POLICING,
        ),
        clock,
    )
    report = run(cur)
    outcomes = {r.source_id: r.outcome for r in report.sources}
    assert outcomes == {"down": "error", "busy": "error", "ok": "ok"}
    assert report.errors == 2
    down = cur.store.get_state("down")
    assert down is not None and down.consecutive_errors == 1 and "500" in (down.last_error or "")
    assert down.next_due == T0 + timedelta(hours=1)
    busy_state = cur.store.get_state("busy")
    assert busy_state is not None and busy_state.next_due == T0 + timedelta(hours=2)  # Retry-After
    clock.advance(hours=1)
    run(cur, ["down"])
    down = cur.store.get_state("down")
    assert down is not None and down.consecutive_errors == 2
    assert down.next_due == clock.now + timedelta(hours=2)  # doubled
    feed_server.route("/down", rss(CCTV))
    clock.advance(hours=2)
    run(cur, ["down"])
    down = cur.store.get_state("down")
    assert down is not None and down.consecutive_errors == 0 and down.last_error is None


def test_gone_source_is_skipped_until_its_configuration_changes(
    feed_server: FeedServer, make: Callable[..., Curator], tmp_path: Path
) -> None:
    gone = feed_server.status("/gone", 410)
    cur = make(make_config(source("g", gone), head=POLICING))
    assert run(cur).sources[0].outcome == "gone"
    assert run(cur).sources[0].outcome == "skipped"
    assert len(feed_server.requests_to("/gone")) == 1
    moved = feed_server.route("/new-home", rss(CCTV))
    cur2 = make_curator(
        make_config(source("g", moved), head=POLICING),
        store=TinyDBStore(tmp_path / "store"),
        clock=Clock(),
    )
    assert run(cur2).sources[0].outcome == "ok"


def test_permanent_redirect_is_recorded(
    feed_server: FeedServer, make: Callable[..., Curator]
) -> None:
    target = feed_server.route("/new", rss(CCTV))
    old = feed_server.redirect("/old", target, 301)
    cur = make(make_config(source("m", old), head=POLICING))
    run(cur)
    state = cur.store.get_state("m")
    assert state is not None and state.permanent_redirect == target


def test_hostile_entries_are_neutralised(
    feed_server: FeedServer, make: Callable[..., Curator]
) -> None:
    body = rss(
        (
            "&lt;script&gt;alert(1)&lt;/script&gt;CCTV police plan",
            "https://e.org/1",
            "&lt;script&gt;x()&lt;/script&gt;&lt;b onclick='y()'&gt;police CCTV&lt;/b&gt;",
        ),
        ("CCTV police javascript", "javascript:alert(1)", "police CCTV"),
    )
    url = feed_server.route("/h", body)
    cur = make(make_config(source("h", url), head=POLICING))
    r = run(cur).sources[0]
    assert r.dropped == 1 and r.new == 1
    (item,) = cur.store.items()
    # An RSS title is plain text: the publisher's escaped markup is kept as the words it is
    # (every output escapes it again), never run.
    assert item.title == "<script>alert(1)</script>CCTV police plan"
    assert "<script" not in item.summary
    assert "onclick" not in item.summary and item.url == "https://e.org/1"


def test_broken_and_non_feed_documents_are_source_errors(
    feed_server: FeedServer, make: Callable[..., Curator]
) -> None:
    html = feed_server.route(
        "/page", b"<html><body>Not a feed</body></html>", content_type="text/html"
    )
    junk = feed_server.route("/junk", b"\x00\x01garbage", content_type="application/xml")
    cur = make(make_config(source("html", html) + source("junk", junk), head=POLICING))
    report = run(cur)
    assert {r.outcome for r in report.sources} == {"error"}
    state = cur.store.get_state("html")
    assert state is not None and "not a feed" in (state.last_error or "")


def test_unknown_source_id(make: Callable[..., Curator]) -> None:
    cur = make(make_config(source("a", "http://127.0.0.1:9/x")))
    with pytest.raises(UnknownSource, match="'nope'"):
        run(cur, ["nope"])


#: Corpus files feedparser reads no entries from (JSON Feed, a gzip-compressed body, UTF-16)
#: and the entries Curator reads from each.
READ_WHERE_FEEDPARSER_READS_NOTHING = {
    "FeedKit__feed.json": 2,
    "NetNewsWire__RSParser__3960.json": 20,
    "NetNewsWire__RSParser__DaringFireball.json": 48,
    "NetNewsWire__RSParser__allthis.json": 12,
    "NetNewsWire__RSParser__authors.json": 4,
    "NetNewsWire__RSParser__curt.json": 26,
    "NetNewsWire__RSParser__inessential.json": 20,
    "NetNewsWire__RSParser__pxlnv.json": 20,
    "NetNewsWire__RSParser__rose.json": 84,
    "atoma__json_feed__jsonfeed.org.json": 1,
    "atoma__json_feed__podcast.json": 1,
    "feed-rs__jsonfeed__jsonfeed_elastic_1.1.json": 3,
    "feed-rs__jsonfeed__jsonfeed_example_1.json": 2,
    "feed-rs__jsonfeed__jsonfeed_spec_1.json": 1,
    "feedjira__json_feed.json": 20,
    "feedjira__json_feed_with_escaped_uris.json": 30,
    "gofeed__version_json_10.json": 1,
    "gofeed__version_json_11.json": 1,
    "gofeed__version_json_11_deprecated_author.json": 1,
    "kurtmckee-feedparser__json__example.json": 2,
    "lemon24-reader__empty.json": 1,
    "lemon24-reader__full.json": 2,
    "lemon24-reader__invalid.json": 8,
    "node-feedparser__compressed.xml": 10,
    "simplepie__feed-utf16be.xml": 1,
    "simplepie__feed-utf16le.xml": 1,
}


def _feedparser_entries(corpus: Path) -> dict[str, int]:
    """MANIFEST.tsv's count of the entries feedparser reads from each feed file."""
    counts = {}
    for row in (corpus / "MANIFEST.tsv").read_text(encoding="utf-8").splitlines()[1:]:
        name, *_, notes = row.split("\t")
        found = re.search(r"\bentries=(\d+)", notes)
        if name.startswith("feeds/") and found:
            counts[name.removeprefix("feeds/")] = int(found.group(1))
    return counts


def test_every_corpus_feed_goes_through_the_pipeline(
    feed_server: FeedServer, make: Callable[..., Curator]
) -> None:
    """keep_all sources so every entry goes through normalize, match, dedupe and the store.
    Each file's outcome is pinned: the unreadable ones fail with their reason, and every other
    reads as many entries as feedparser does (up to fetch.max_entries), or, where feedparser
    reads none, as many as recorded here."""
    corpus = need_corpus()
    files = sorted(p.name for p in (corpus / "feeds").iterdir())
    expected = _feedparser_entries(corpus)
    sources = "".join(
        source(f"c{i}", feed_server.corpus_url(f"feeds/{name}"), rules="{keep_all: true}")
        for i, name in enumerate(files)
    )
    cur = make(make_config(sources, head=POLICING))
    report = run(cur)
    by_id = {r.source_id: r for r in report.sources}
    assert len(by_id) == len(files)
    max_entries = cur.config.fetch.max_entries
    for i, name in enumerate(files):
        r = by_id[f"c{i}"]
        if name in UNREADABLE:
            assert r.outcome == "error" and UNREADABLE[name] in (r.error or ""), (name, r)
            continue
        assert r.outcome == "ok", (name, r)
        want = READ_WHERE_FEEDPARSER_READS_NOTHING.get(name) or min(expected[name], max_entries)
        assert r.entries == want, (name, r.entries, want)
    assert report.total("new") > 2000
    stored = cur.store.items()
    assert all(i.url.startswith(("http://", "https://")) for i in stored)


def test_a_document_that_fails_to_parse_is_fetched_again_and_fails_visibly(
    feed_server: FeedServer, make: Callable[..., Curator]
) -> None:
    url = feed_server.route(
        "/bad", b"<html><body>maintenance</body></html>", etag='"x"', content_type="text/html"
    )
    cur = make(make_config(source("b", url), head=POLICING))
    for errors in (1, 2, 3):
        report = run(cur).sources[0]
        assert report.outcome == "error"
        state = cur.store.get_state("b")
        assert state is not None and state.consecutive_errors == errors and state.etag is None
    assert all(r.header("if-none-match") is None for r in feed_server.requests_to("/bad"))


def test_worker_processes_give_the_same_items_as_inline(
    feed_server: FeedServer, tmp_path: Path
) -> None:
    bodies = [rss(CCTV, title="One"), rss(LFR, CCTV, title="Two"), rss(OFF_TOPIC, LFR)]
    urls = [feed_server.route(f"/w{i}", b) for i, b in enumerate(bodies)]
    cfg = make_config("".join(source(f"s{i}", u) for i, u in enumerate(urls)), head=POLICING)
    results = []
    for name, pool in (("inline", None), ("pool", Workers(2))):
        cur = make_curator(cfg, store=TinyDBStore(tmp_path / name), clock=Clock(), workers=pool)
        report = run(cur)
        if pool is not None:
            pool.close()
        # Which source is credited with a shared story depends on which answered first.
        results.append(
            (
                report.total("new") + report.total("duplicates"),
                sorted((i.id, sorted(i.sources), i.score) for i in cur.store.items()),
            )
        )
    assert results[0] == results[1]
    assert results[0][0] == 4 and len(results[0][1]) == 2  # 4 matched entries, 2 stories


SHOP = (
    "Supermarket installs CCTV at its tills",
    "https://news.example.org/shop-cctv",
    "Surveillance cameras now watch every checkout.",
)


def test_an_entry_lacking_only_a_required_group_is_kept_as_a_near_miss(
    feed_server: FeedServer, make: Callable[..., Curator]
) -> None:
    url = feed_server.route("/f", rss(CCTV, SHOP, OFF_TOPIC), etag=None)
    clock = Clock()
    cur = make(make_config(source("a", url, rules="{require: [policing]}"), head=POLICING), clock)
    (r,) = run(cur).sources
    assert (r.matched, r.new, r.near_misses) == (1, 1, 1)
    (near,) = cur.store.near_misses()
    assert near.candidate.entry.title == SHOP[0]
    assert near.reason == "scored 9, lacked a term from group 'policing'"
    assert near.seen_at == T0
    assert [i.title for i in cur.store.items()] == [CCTV[0]]  # never in the queue

    # Seen again later: still one, dated from the first sighting.
    clock.advance(days=10)
    feed_server.route("/f", rss(SHOP, CCTV), etag=None)
    assert run(cur).sources[0].near_misses == 0
    assert [n.seen_at for n in cur.store.near_misses()] == [T0]

    # Thirty days on, the next stored poll forgets it.
    clock.advance(days=21)
    feed_server.route("/f", rss(CCTV), etag=None)
    run(cur)
    assert cur.store.near_misses() == []


def test_a_near_miss_another_source_takes_becomes_an_item_and_leaves_the_near_misses(
    feed_server: FeedServer, make: Callable[..., Curator]
) -> None:
    strict = feed_server.route("/strict", rss(SHOP), etag=None)
    loose = feed_server.route("/loose", rss(SHOP), etag=None)
    cfg = make_config(
        source("strict", strict, rules="{require: [policing]}") + source("loose", loose),
        head=POLICING,
    )
    cur = make(cfg)
    run(cur, ["strict"])
    assert len(cur.store.near_misses()) == 1
    run(cur, ["loose"])
    assert [i.title for i in cur.store.items()] == [SHOP[0]]
    assert cur.store.near_misses() == []
    feed_server.route("/strict", rss(SHOP, OFF_TOPIC), etag=None)  # read again
    assert run(cur, ["strict"]).sources[0].near_misses == 0  # an item is no near miss
    assert cur.store.near_misses() == []


NEWS2023 = Path(__file__).resolve().parents[2] / "shared" / "news2023" / "feeds.tar.xz"


def test_near_misses_from_a_real_news_stream(
    feed_server: FeedServer, make: Callable[..., Curator]
) -> None:
    """A 2023 capture of MSN's news feed under the real rules of feeds.yaml, as a general news
    source (cameras AND policing): camera stories without a policing term (a plane filmed by
    CCTV, doorbell reviews) are near misses with their reason, never queued.  War drones are
    neither: a drone is no camera term on its own (bench/relevance/README.md)."""
    if not NEWS2023.exists():
        pytest.skip(f"the news2023 stream is not at {NEWS2023}")
    with tarfile.open(NEWS2023) as archive:
        member = archive.extractfile("news2023/http.www.msn.comrssnews.aspx.xml")
        assert member is not None
        body = member.read()
    url = feed_server.route("/msn.xml", body, etag=None)
    real = config.load(Path(__file__).resolve().parents[1] / "feeds.yaml")
    news = config.Source.model_validate(
        {"id": "msn", "name": "MSN", "url": url, "rules": {"require": ["cameras", "policing"]}}
    )
    cfg = real.model_copy(
        update={
            "sources": [news],
            "fetch": real.fetch.model_copy(
                update={"max_entries": 1000, "allow_private_urls": True, "jitter": 0.0}
            ),
        }
    )
    cur = make(cfg)
    (r,) = run(cur).sources
    near = cur.store.near_misses()
    assert r.outcome == "ok" and r.entries == 482
    assert r.near_misses == len(near) >= 5 and r.new >= 5
    queued = {i.id for i in cur.store.items()}
    assert not queued & {n.id for n in near}
    camera_stories = [n for n in near if n.missing == ("policing",)]
    assert len(camera_stories) >= 5
    for n in camera_stories:
        assert n.reason.endswith("lacked a term from group 'policing'")
        assert n.candidate.score >= 3
        assert n.candidate.why.startswith("dropped (no term from 'policing') · met cameras: ")
    titles = {n.candidate.entry.title for n in camera_stories}
    assert "WATCH: CCTV Footage Captures Plane Landing on Busy Salt Lake City Highway" in titles
    # A war drone meets neither group: it is no camera story left out for want of a police word.
    assert not [t for t in titles if "Ukraine" in t or "Russia" in t]
    queued_titles = {i.title for i in cur.store.items()}
    assert "DHS announces body-worn camera policy for all its agencies" in queued_titles
    assert "Facial recognition used nearly 1m times by US police" in queued_titles
    for item in cur.store.items():
        assert "; policing: " in item.why and item.why.endswith(", needs 3)")


def test_a_damaged_near_miss_file_does_not_stop_items_being_stored(
    feed_server: FeedServer, make: Callable[..., Curator], caplog: pytest.LogCaptureFixture
) -> None:
    url = feed_server.route("/f", rss(SHOP), etag=None)
    cur = make(make_config(source("a", url, rules="{require: [policing]}"), head=POLICING))
    run(cur)
    damaged = cur.store.path / "near_misses.json"
    damaged.write_bytes(damaged.read_bytes()[:-10])
    feed_server.route("/f", rss(SHOP, CCTV), etag=None)
    (r,) = run(cur).sources
    assert (r.outcome, r.new) == ("ok", 1)
    assert [i.title for i in cur.store.items()] == [CCTV[0]]
    assert "near misses not kept" in caplog.text
    assert [d.name for d in cur.store.damage()] == ["near_misses.json"]
