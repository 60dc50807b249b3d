"""Research identity and metadata end to end: real-shaped arXiv and Crossref answers from a
real local HTTP server, a real store, dedupe by DOI and arXiv id, and enrichment from landing
pages and a fake Crossref API (tests/feedserver.py)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest

from curator import config, enrich
from curator.cli import main
from curator.core import Curator, make_curator
from curator.store import TinyDBStore, to_json
from tests.feedserver import FeedServer
from tests.test_pipeline import run  # one poll; sources of one poll run concurrently

T0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
DATA = Path(__file__).parent / "data" / "research"
JOURNAL_DOI = "10.1016/j.jcrimjus.2023.102030"


class Clock:
    def __init__(self, now: datetime = T0) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def arxiv_answer(*entries: str) -> bytes:
    """An arXiv API answer (export.arxiv.org/api/query) as the API writes it."""
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<feed xmlns="http://www.w3.org/2005/Atom">\n'
        '  <link href="http://arxiv.org/api/query?search_query%3Dall%3Acctv" rel="self" '
        'type="application/atom+xml"/>\n'
        '  <title type="html">ArXiv Query: search_query=all:cctv</title>\n'
        "  <id>http://arxiv.org/api/q1</id>\n  <updated>2026-11-02T00:00:00-05:00</updated>\n"
        + "".join(entries)
        + "</feed>\n"
    ).encode()


def arxiv_entry(
    arxiv: str,
    version: int,
    *,
    doi: str | None = None,
    ref: str | None = None,
    title: str = "Live facial recognition in public space CCTV: an audit",
) -> str:
    doi_part = ""
    if doi:
        doi_part = (
            f'    <arxiv:doi xmlns:arxiv="http://arxiv.org/schemas/atom">{doi}</arxiv:doi>\n'
            f'    <link title="doi" href="http://dx.doi.org/{doi}" rel="related"/>\n'
        )
    if ref:
        doi_part += (
            '    <arxiv:journal_ref xmlns:arxiv="http://arxiv.org/schemas/atom">'
            f"{ref}</arxiv:journal_ref>\n"
        )
    return (
        "  <entry>\n"
        f"    <id>http://arxiv.org/abs/{arxiv}v{version}</id>\n"
        "    <updated>2023-03-01T18:00:00Z</updated>\n"
        "    <published>2023-01-03T18:00:00Z</published>\n"
        f"    <title>{title}</title>\n"
        "    <summary>We audit live facial recognition deployments on CCTV networks used by\n"
        "police forces.</summary>\n"
        "    <author>\n      <name>Ann Example</name>\n    </author>\n"
        "    <author>\n      <name>Bo Sample</name>\n    </author>\n"
        + doi_part
        + f'    <link href="http://arxiv.org/abs/{arxiv}v{version}" rel="alternate" '
        'type="text/html"/>\n'
        f'    <link title="pdf" href="http://arxiv.org/pdf/{arxiv}v{version}" rel="related" '
        'type="application/pdf"/>\n'
        '    <arxiv:primary_category xmlns:arxiv="http://arxiv.org/schemas/atom" term="cs.CV" '
        'scheme="http://arxiv.org/schemas/atom"/>\n'
        "  </entry>\n"
    )


def crossref_works(*works: dict[str, object]) -> bytes:
    """A Crossref REST API /works answer."""
    return json.dumps(
        {
            "status": "ok",
            "message-type": "work-list",
            "message-version": "1.0.0",
            "message": {"total-results": len(works), "items": list(works), "items-per-page": 20},
        }
    ).encode()


def journal_work(doi: str = JOURNAL_DOI.upper()) -> dict[str, object]:
    return {
        "DOI": doi,
        "URL": f"http://dx.doi.org/{doi}",
        "type": "journal-article",
        "title": ["Live facial recognition in public space CCTV: an audit"],
        "author": [{"given": "Ann", "family": "Example"}, {"given": "Bo", "family": "Sample"}],
        "container-title": ["Journal of Criminal Justice"],
        "published": {"date-parts": [[2023, 5, 2]]},
        "abstract": "<jats:p>Police CCTV networks and live facial recognition.</jats:p>",
    }


def work_answer(work: dict[str, object]) -> bytes:
    return json.dumps({"status": "ok", "message-type": "work", "message": work}).encode()


def make_config(sources: str, *, research: str = "", fetch: str = "") -> config.Config:
    text = (
        "fetch:\n  jitter: 0s\n  timeout: 5s\n  read_timeout: 2s\n  contact: links@example.org\n"
        + fetch
        + "rules:\n  min_score: 3\n  include: {cctv: 3, facial recognition: 3}\n"
        + "research:\n  host_delay: 0s\n"
        + research
        + "sources:\n"
        + sources
    )
    return config.loads(text, "test.yaml")


def source(sid: str, url: str, kind: str) -> str:
    lines = f"  - id: {sid}\n    name: {sid}\n    url: {url}\n    kind: {kind}\n"
    return lines + "    category: research\n"


@pytest.fixture
def make(tmp_path: Path) -> Callable[..., Curator]:
    def _make(cfg: config.Config, clock: Clock | None = None) -> Curator:
        return make_curator(cfg, store=TinyDBStore(tmp_path / "store"), clock=clock or Clock())

    return _make


# --------------------------------------------------------------------------- identity


def test_preprint_and_journal_article_become_one_item_with_both_links(
    feed_server: FeedServer, make: Callable[..., Curator]
) -> None:
    arxiv_url = feed_server.route(
        "/api/query",
        arxiv_answer(
            arxiv_entry("2301.01234", 2, doi=JOURNAL_DOI, ref="J. Crim. Justice 86 (2023)")
        ),
        content_type="application/atom+xml",
    )
    crossref_url = feed_server.route(
        "/works", crossref_works(journal_work()), content_type="application/json"
    )
    cfg = make_config(
        source("arxiv-cctv", arxiv_url, "arxiv")
        + source("crossref-cctv", crossref_url, "crossref"),
        research="  enrich: false\n",
    )
    cur = make(cfg)
    (first,) = run(cur, ["arxiv-cctv"]).sources
    (second,) = run(cur, ["crossref-cctv"]).sources
    assert (first.new, second.new, second.duplicates) == (1, 0, 1)
    (item,) = cur.store.items()
    assert item.url == "http://arxiv.org/abs/2301.01234v2"  # the versioned link is kept
    assert item.urls == (f"http://dx.doi.org/{JOURNAL_DOI.upper()}",)
    assert item.sources == ("arxiv-cctv", "crossref-cctv")
    assert (item.doi, item.arxiv_id) == (JOURNAL_DOI, "2301.01234")
    assert item.venue == "J. Crim. Justice 86 (2023)"
    assert item.open_access is True
    merged = item.history[-1]
    assert merged.action == "merged" and "same DOI from crossref-cctv" in (merged.note or "")


def test_journal_article_first_gains_the_preprint_and_its_id(
    feed_server: FeedServer, make: Callable[..., Curator]
) -> None:
    crossref_url = feed_server.route(
        "/works", crossref_works(journal_work()), content_type="application/json"
    )
    arxiv_url = feed_server.route(
        "/api/query",
        arxiv_answer(arxiv_entry("2301.01234", 1, doi=JOURNAL_DOI)),
        content_type="application/atom+xml",
    )
    cfg = make_config(
        source("crossref-cctv", crossref_url, "crossref")
        + source("arxiv-cctv", arxiv_url, "arxiv"),
        research="  enrich: false\n",
    )
    cur = make(cfg)
    run(cur, ["crossref-cctv"])
    run(cur, ["arxiv-cctv"])
    (item,) = cur.store.items()
    assert item.url == f"http://dx.doi.org/{JOURNAL_DOI.upper()}"
    assert item.urls == ("http://arxiv.org/abs/2301.01234v1",)
    assert item.arxiv_id == "2301.01234" and item.venue == "Journal of Criminal Justice"
    assert item.history[-1].changes["arxiv_id"] == (None, "2301.01234")
    # A later version of the preprint is the same work: no new item, its link remembered.
    feed_server.route(
        "/api/query",
        arxiv_answer(arxiv_entry("2301.01234", 3)),
        content_type="application/atom+xml",
    )
    report = run(cur)
    assert report.sources[1].new == 0 and report.sources[1].duplicates == 1
    (item,) = cur.store.items()
    assert "http://arxiv.org/abs/2301.01234v3" in item.urls


def test_a_reviewed_item_stays_reviewed_when_its_preprint_arrives(
    feed_server: FeedServer, make: Callable[..., Curator]
) -> None:
    crossref_url = feed_server.route(
        "/works", crossref_works(journal_work()), content_type="application/json"
    )
    cfg = make_config(
        source("crossref-cctv", crossref_url, "crossref"), research="  enrich: false\n"
    )
    cur = make(cfg)
    run(cur)
    (item,) = cur.store.items()
    cur.review.decide([item.id], "approved", by="ann")
    arxiv_url = feed_server.route(
        "/api/query",
        arxiv_answer(arxiv_entry("2301.01234", 1, doi=JOURNAL_DOI.lower())),
        content_type="application/atom+xml",
    )
    both = source("crossref-cctv", crossref_url, "crossref") + source(
        "arxiv-cctv", arxiv_url, "arxiv"
    )
    cur = make(make_config(both, research="  enrich: false\n"))
    run(cur)
    (item,) = cur.store.items()
    assert item.status == "approved" and item.arxiv_id == "2301.01234"


def test_an_old_store_without_the_new_fields_loads(tmp_path: Path) -> None:
    store = TinyDBStore(tmp_path / "store")
    from tests.test_store import make_item  # the existing builder of a plain item

    item = make_item(7)
    doc = to_json(item)
    for name in ("doi", "arxiv_id", "venue", "open_access", "publication_date", "enriched_at"):
        doc.pop(name)
    path = tmp_path / "store" / "items" / f"{item.id[:2]}.json"
    path.write_text(json.dumps({"items": {item.id: doc}}))
    loaded = TinyDBStore(tmp_path / "store").get_item(item.id)
    assert loaded is not None and loaded.doi is None and loaded.enriched_at is None
    assert loaded.title == item.title
    assert store.find_by_research_id(("doi:10.1/x",)) is None


# --------------------------------------------------------------------------- enrichment


def landing(doi: str | None = "10.1007/s11292-015-9243-6", *, dc: bool = True) -> bytes:
    """tests/data/research/highwire.html, without its citation_doi (``doi=None``) and its
    Dublin Core DOI (``dc=False``)."""
    page = (DATA / "highwire.html").read_bytes()
    if doi is None:
        page = page.replace(b'<meta name="citation_doi" content="10.1007/s11292-015-9243-6">', b"")
    if not dc:
        page = page.replace(b'<meta name="dc.identifier" content="doi:10.9999/not-this-one">', b"")
    return page


def rss(link: str) -> bytes:
    return (
        '<?xml version="1.0"?><rss version="2.0"><channel><title>Research</title>'
        "<link>https://example.org/</link><item>"
        "<title>Body-worn cameras, CCTV and public trust</title>"
        f"<link>{link}</link><description>CCTV study.</description>"
        "<pubDate>Mon, 02 Nov 2026 08:00:00 GMT</pubDate></item></channel></rss>"
    ).encode()


def crossref_for_landing() -> bytes:
    return work_answer(
        {
            "DOI": "10.1007/s11292-015-9243-6",
            "author": [
                {"given": "Barak", "family": "Ariel"},
                {"given": "Alex", "family": "Sutherland"},
            ],
            "container-title": ["Journal of Experimental Criminology"],
            "published": {"date-parts": [[2016, 3]]},
            "license": [{"URL": "https://creativecommons.org/licenses/by/4.0/"}],
        }
    )


def enrich_config(server: FeedServer, feed: str, **kw: str) -> config.Config:
    return make_config(
        source("journal", feed, "feed"),
        fetch="  allow_private_urls: true\n" + kw.get("fetch", ""),
        research=f"  crossref_url: {server.base_url}/crossref\n" + kw.get("research", ""),
    )


def test_a_new_research_item_gets_its_metadata_once_from_its_page_and_crossref(
    feed_server: FeedServer, make: Callable[..., Curator]
) -> None:
    page = feed_server.route("/article/1", landing(), content_type="text/html; charset=utf-8")
    feed = feed_server.route("/feed.xml", rss(page))
    feed_server.route(
        "/crossref/works/10.1007/s11292-015-9243-6",
        crossref_for_landing(),
        content_type="application/json",
    )
    cur = make(enrich_config(feed_server, feed))
    run(cur)
    (item,) = cur.store.items()
    assert item.authors == ("Barak Ariel", "Alex Sutherland")  # Crossref before the page
    assert item.venue == "Journal of Experimental Criminology"
    assert item.doi == "10.1007/s11292-015-9243-6"
    assert item.publication_date == "2016-03"
    assert item.open_access is True  # Crossref's licence outranks the page's JSON-LD
    assert item.enriched_at == T0
    event = item.history[-1]
    assert event.action == "enriched" and set(event.changes) >= {"authors", "doi", "venue"}

    (page_hit,) = feed_server.requests_to("/article/1")
    assert "links@example.org" in (page_hit.header("user-agent") or "")
    (cross_hit,) = feed_server.requests_to("/crossref/works/10.1007/s11292-015-9243-6")
    assert parse_qs(urlsplit(cross_hit.path).query)["mailto"] == ["links@example.org"]

    # Fetched once: the item is done, and asking for it by id is answered from the cache.
    report = asyncio.run(cur.enrich_research([item.id]))
    assert (report.fetched, report.cached) == (0, 2)
    assert len(feed_server.requests_to("/article/1")) == 1
    assert cur.store.find_by_research_id(("doi:10.1007/s11292-015-9243-6",)) == cur.store.get_item(
        item.id
    )


def test_what_the_feed_or_an_editor_gave_is_never_overwritten(
    feed_server: FeedServer, make: Callable[..., Curator]
) -> None:
    page = feed_server.route("/article/1", landing(doi=None), content_type="text/html")
    feed = feed_server.route(
        "/feed.xml",
        rss(page).replace(
            b"<description>", b"<author>x@example.org (Feed Author)</author><description>"
        ),
    )
    cur = make(enrich_config(feed_server, feed))
    run(cur)
    (item,) = cur.store.items()
    assert item.authors == ("Feed Author",)
    assert item.venue == "Journal of Experimental Criminology"
    assert item.open_access is False  # the page's JSON-LD said so
    assert item.doi == "10.9999/not-this-one"  # no citation_doi: the dc.identifier's
    # Crossref does not know it (404): that is an answer, cached, and the item is done.
    assert len(feed_server.requests_to("/crossref/works/10.9999/not-this-one")) == 1
    assert item.enriched_at == T0


def test_failures_are_cached_and_retried_later(
    feed_server: FeedServer, make: Callable[..., Curator]
) -> None:
    feed_server.status("/article/1", 500)
    page = feed_server.url("/article/1")
    feed = feed_server.route("/feed.xml", rss(page))
    clock = Clock()
    cur = make(enrich_config(feed_server, feed), clock)
    run(cur)
    (item,) = cur.store.items()
    assert item.enriched_at is None and item.authors == ()
    lookup = cur.store.get_lookup(enrich._page_key(page))
    assert lookup is not None and lookup["ok"] is False and "HTTP 500" in lookup["error"]

    report = asyncio.run(cur.enrich_research())
    assert (report.items, report.fetched, report.cached) == (1, 0, 1)
    assert len(feed_server.requests_to("/article/1")) == 1
    # Asked for by name ("Look up metadata", --item), a failed look-up is tried again now.
    report = asyncio.run(cur.enrich_research([item.id]))
    assert (report.fetched, report.failed, report.cached) == (1, 1, 0)
    assert len(feed_server.requests_to("/article/1")) == 2

    clock.now = T0 + timedelta(days=8)  # research.retry_failed is 7 days
    feed_server.route("/article/1", landing(None, dc=False), content_type="text/html")
    report = asyncio.run(cur.enrich_research())
    assert (report.fetched, report.enriched) == (1, 1)
    (item,) = cur.store.items()
    assert item.venue == "Journal of Experimental Criminology"
    assert item.enriched_at == clock.now


def test_huge_slow_and_private_pages_fail_cleanly(
    feed_server: FeedServer, make: Callable[..., Curator]
) -> None:
    huge = feed_server.huge("/huge", 5 * 1024 * 1024, content_type="text/html")
    slow = feed_server.route("/slow", landing(), content_type="text/html", delay=30)
    feed = feed_server.route(
        "/feed.xml",
        rss(huge).replace(b"</channel>", b"<item><title>Slow CCTV page</title><link>"
                          + slow.encode() + b"</link></item></channel>"),
    )  # fmt: skip
    cur = make(enrich_config(feed_server, feed, research="  timeout: 1s\n  max_page: 1MB\n"))
    run(cur)
    errors = {
        key: doc["error"]
        for key in (enrich._page_key(huge), enrich._page_key(slow))
        if (doc := cur.store.get_lookup(key)) is not None
    }
    assert "cap" in errors[enrich._page_key(huge)]
    assert "timeout" in errors[enrich._page_key(slow)]
    assert all(i.enriched_at is None for i in cur.store.items())

    # Landing pages come from feeds: private addresses are refused as pasted links are.
    cfg = make_config(
        source("journal", feed, "feed"),
        research=f"  crossref_url: {feed_server.base_url}/crossref\n",
    )
    other = make_curator(cfg, store=TinyDBStore(cur.store.path.parent / "other"), clock=Clock())
    before = len(feed_server.requests_to("/huge"))
    run(other)
    assert len(feed_server.requests_to("/huge")) == before
    doc = other.store.get_lookup(enrich._page_key(huge))
    assert doc is not None and "not a public web address" in doc["error"]


def test_a_run_makes_at_most_per_run_look_ups(
    feed_server: FeedServer, make: Callable[..., Curator]
) -> None:
    links = [
        feed_server.route(f"/a/{n}", landing(None, dc=False), content_type="text/html")
        for n in range(3)
    ]
    items = "".join(
        f"<item><title>CCTV study number {n} of three</title><link>{u}</link></item>"
        for n, u in enumerate(links)
    )
    feed = feed_server.route(
        "/feed.xml", f'<rss version="2.0"><channel><title>R</title>{items}</channel></rss>'.encode()
    )
    cur = make(enrich_config(feed_server, feed, research="  per_run: 2\n"))
    run(cur)
    assert sum(1 for i in cur.store.items() if i.enriched_at) == 2
    report = asyncio.run(cur.enrich_research())
    assert (report.items, report.fetched, report.enriched) == (1, 1, 1)


def test_pacing_keeps_look_ups_on_one_host_apart() -> None:
    waits: list[float] = []
    now = [100.0]

    async def sleep(seconds: float) -> None:
        waits.append(seconds)
        now[0] += seconds

    pacer = enrich._Pacer(1.5, lambda: now[0], sleep)

    async def go() -> None:
        await pacer.wait("https://a.example/1")
        await pacer.wait("https://b.example/1")
        now[0] += 0.5
        await pacer.wait("https://a.example/2")

    asyncio.run(go())
    assert waits == [1.0]


def test_cli_research_enrich(
    feed_server: FeedServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    page = feed_server.route("/article/1", landing(None, dc=False), content_type="text/html")
    feed = feed_server.route("/feed.xml", rss(page))
    cfg_path = tmp_path / "feeds.yaml"
    cfg_path.write_text(
        "fetch:\n  jitter: 0s\n  allow_private_urls: true\n"
        "rules:\n  min_score: 3\n  include: {cctv: 3}\n"
        f"research:\n  enrich: false\n  host_delay: 0s\n  crossref_url: {feed_server.base_url}/cr\n"
        f"sources:\n{source('journal', feed, 'feed')}"
    )
    common = ["--config", str(cfg_path), "--store", str(tmp_path / "store")]
    assert main([*common, "fetch"]) == 0
    assert feed_server.requests_to("/article/1") == []  # research.enrich: false
    capsys.readouterr()
    assert main([*common, "research", "enrich", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out == {"items": 1, "enriched": 1, "fetched": 1, "cached": 0, "failed": 0, "deferred": 0}
    assert main([*common, "research", "enrich"]) == 0
    assert "0 research items looked at" in capsys.readouterr().out
    assert main([*common, "items", "--json"]) == 0
    (listed,) = json.loads(capsys.readouterr().out)
    assert listed["venue"] == "Journal of Experimental Criminology"
    assert listed["authors"] == ["Barak Ariel", "Alex Sutherland", "Darren Henstock"]
    assert (listed["doi"], listed["open_access"]) == (None, False)
    assert main([*common, "research", "enrich", "--item", "ffffffffffffffff"]) == 1
    assert "no item with id" in capsys.readouterr().err


def test_the_identifier_index_is_derived_data(
    feed_server: FeedServer, make: Callable[..., Curator], tmp_path: Path
) -> None:
    """A damaged research_ids.json stops no poll (the index is only consulted), and
    `curator store repair` rebuilds it from the items."""
    crossref_url = feed_server.route(
        "/works", crossref_works(journal_work()), content_type="application/json"
    )
    cfg = make_config(
        source("crossref-cctv", crossref_url, "crossref"), research="  enrich: false\n"
    )
    cur = make(cfg)
    run(cur)
    (item,) = cur.store.items()
    index = cur.store.path / "research_ids.json"
    index.write_bytes(b"\x00garbage")
    store = TinyDBStore(cur.store.path)
    assert {d.name for d in store.damage()} == {"research_ids.json"}
    assert store.find_by_research_id((f"doi:{JOURNAL_DOI}",)) is None
    arxiv_url = feed_server.route(
        "/api/query",
        arxiv_answer(
            arxiv_entry("2401.00002", 1, doi="10.1000/other", title="CCTV footage in court")
        ),
        content_type="application/atom+xml",
    )
    both = source("crossref-cctv", crossref_url, "crossref") + source(
        "arxiv-cctv", arxiv_url, "arxiv"
    )
    cur = make_curator(make_config(both, research="  enrich: false\n"), store=store, clock=Clock())
    assert run(cur).sources[1].new == 1  # stored, despite the damaged index

    (repaired,) = store.repair()
    assert repaired.name == "research_ids.json"
    assert store.damage(deep=True) == []
    assert store.find_by_research_id((f"doi:{JOURNAL_DOI}",)) == store.get_item(item.id)
    assert store.find_by_research_id(("arxiv:2401.00002",)) is not None


def test_entries_state_their_identifiers_in_real_feeds() -> None:
    """The corpus's real arXiv API answer (arxiv:doi, journal_ref) and bioRxiv RSS 1.0
    (dc:identifier "doi:…", prism:publicationName on the channel)."""
    from curator.normalize import normalize
    from curator.parse import parse_arxiv, parse_feed
    from tests.feedserver import need_corpus

    feeds = need_corpus() / "feeds"
    name = "arxiv.py__api-response__search_query_au_del_maestro.xml"
    url = "http://export.arxiv.org/api/query"
    parsed = parse_arxiv((feeds / name).read_bytes(), url=url, headers={}, source_id="a")
    entries = [normalize(r, source_id="a", feed_url=url, now=T0) for r in parsed.entries]
    first = next(e for e in entries if e and e.url == "http://arxiv.org/abs/1201.4869v1")
    assert (first.doi, first.arxiv_id) == ("10.1142/S021797921244002X", "1201.4869")
    assert first.venue == "Int. J. Mod. Phys. B, 26, 1244002 (2012)"
    old = next(e for e in entries if e and e.arxiv_id == "cond-mat/0412498")
    assert old.doi == "10.1103/PhysRevB.71.184511"
    assert all(e is not None and e.arxiv_id for e in entries)

    bio = feeds / "feed-rs__rss1__rss_1.0_biorxiv.xml"
    (raw,) = parse_feed(
        bio.read_bytes(), url="http://biorxiv.org/rss", headers={}, source_id="b"
    ).entries
    assert raw.doi == "10.1101/2023.12.16.571984"


def test_a_work_found_twice_is_pointed_out_not_merged(
    feed_server: FeedServer, make: Callable[..., Curator]
) -> None:
    """An article stored from Crossref, and a page about the same work that reached the store
    by another URL before it named its DOI: enrichment finds the DOI and says so."""
    work = journal_work("10.1007/s11292-015-9243-6")
    work["title"] = ["Body-worn cameras and public trust: a CCTV trial"]
    work["URL"] = feed_server.route("/publisher/1", b"<html></html>", content_type="text/html")
    crossref_url = feed_server.route(
        "/works", crossref_works(work), content_type="application/json"
    )
    page = feed_server.route("/article/1", landing(dc=False), content_type="text/html")
    feed = feed_server.route("/feed.xml", rss(page))
    feed_server.route(
        "/crossref/works/10.1007/s11292-015-9243-6",
        crossref_for_landing(),
        content_type="application/json",
    )
    sources = source("crossref-cctv", crossref_url, "crossref") + source("journal", feed, "feed")
    cfg = make_config(
        sources,
        fetch="  allow_private_urls: true\n",
        research=f"  crossref_url: {feed_server.base_url}/crossref\n",
    )
    cur = make(cfg)
    run(cur)
    article = next(i for i in cur.store.items() if i.sources == ("crossref-cctv",))
    found = next(i for i in cur.store.items() if i.sources == ("journal",))
    assert found.doi == "10.1007/s11292-015-9243-6"
    assert f"the same work as item {article.id}" in (found.history[-1].note or "")
    assert len(cur.store.items()) == 2
    assert len(feed_server.requests_to("/publisher/1")) == 1  # its own page, looked at once


def test_landing_pages_that_are_not_html_are_answers_without_metadata(
    feed_server: FeedServer, make: Callable[..., Curator]
) -> None:
    pdf = feed_server.route(
        "/paper.pdf", b"%PDF-1.7 " + b"x" * 5000, content_type="application/pdf"
    )
    feed = feed_server.route("/feed.xml", rss(pdf))
    cur = make(enrich_config(feed_server, feed))
    run(cur)
    (item,) = cur.store.items()
    assert item.enriched_at == T0 and item.authors == ()  # looked at once, nothing to read
    assert asyncio.run(cur.enrich_research()).items == 0
    assert len(feed_server.requests_to("/paper.pdf")) == 1
    arxiv_pdf = replace(item, url="https://arxiv.org/pdf/2301.01234v2", arxiv_id="2301.01234")
    assert enrich.landing_url(arxiv_pdf) == "https://arxiv.org/abs/2301.01234"
    assert enrich.landing_url(item) == pdf


def test_a_link_added_by_hand_names_its_work_and_the_feed_joins_it(
    feed_server: FeedServer, make: Callable[..., Curator]
) -> None:
    arxiv_url = feed_server.route(
        "/api/query",
        arxiv_answer(arxiv_entry("2301.01234", 2, doi=JOURNAL_DOI)),
        content_type="application/atom+xml",
    )
    cur = make(make_config(source("arxiv-cctv", arxiv_url, "arxiv"), research="  enrich: false\n"))
    added = cur.review.add_manual(
        url="https://arxiv.org/pdf/2301.01234v1",
        title="An audit of live facial recognition",
        summary="",
        category="research",
        published=None,
        by="ann",
    )
    assert (added.arxiv_id, added.doi) == ("2301.01234", None)
    report = run(cur)
    assert (report.sources[0].new, report.sources[0].duplicates) == (0, 1)
    (item,) = cur.store.items()
    assert item.id == added.id and item.status == "approved"
    assert item.urls == ("http://arxiv.org/abs/2301.01234v2",)
    assert item.doi == JOURNAL_DOI  # the feed's entry named the journal article


def test_serves_scheduled_poll_looks_up_metadata_too(
    feed_server: FeedServer, make: Callable[..., Curator]
) -> None:
    from curator import schedule

    page = feed_server.route("/article/1", landing(None, dc=False), content_type="text/html")
    feed = feed_server.route("/feed.xml", rss(page))
    cur = make(enrich_config(feed_server, feed))

    async def tick() -> None:
        try:
            await schedule.poll_if_due(cur, "journal")
        finally:
            await cur.aclose()

    asyncio.run(tick())
    (item,) = cur.store.items()
    assert item.venue == "Journal of Experimental Criminology" and item.enriched_at == T0


def test_the_look_up_cache_keeps_the_latest(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import curator.store.api as store_module

    monkeypatch.setattr(store_module, "MAX_RESEARCH_CACHE", 3)
    store = TinyDBStore(tmp_path / "store")
    with store.transaction():
        for n in range(5):
            store.put_lookup(
                f"page:{n}", at=T0 + timedelta(minutes=n), ok=n % 2 == 0, meta={"n": n}, error=None
            )
    assert [store.get_lookup(f"page:{n}") is not None for n in range(5)] == [
        False,
        False,
        True,
        True,
        True,
    ]
    assert TinyDBStore(tmp_path / "store").get_lookup("page:4") == {
        "at": "2026-11-02T09:04:00.000000+00:00",
        "ok": True,
        "meta": {"n": 4},
        "error": None,
    }
    with store.transaction(), pytest.raises(TypeError, match="not a JSON value"):
        store.put_lookup("page:x", at=T0, ok=True, meta={"bad": float("nan")}, error=None)
    (tmp_path / "store" / "research_cache.json").write_text('{"research_cache": {"k": {"ok": 1}}}')
    assert [d.name for d in TinyDBStore(tmp_path / "store").damage()] == ["research_cache.json"]
