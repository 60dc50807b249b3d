"""Every per-document cost is bounded: hostile documents served by the real local feed server
(tests/feedserver.py), fetched and parsed as a poll would, end as a ParseError naming the
source, never as another exception; what a readable document keeps is capped.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from curator import config
from curator.config import FetchSettings, Source, SourceKind
from curator.core import make_curator
from curator.exceptions import CuratorError, ParseError
from curator.fetch import Fetcher
from curator.parse import (
    MAX_DOCUMENT_TEXT,
    MAX_ENTRY_TEXT,
    MAX_NAMES,
    MAX_URL,
    page_metadata,
    parse,
)
from curator.parse._common import (
    MAX_ELEMENTS,
    MAX_JSON_DEPTH,
    MAX_MARKUP_DEPTH,
    json_depth,
    markup_shape,
)
from curator.store import TinyDBStore
from curator.types import Fetched, PollReport
from tests.feedserver import FeedServer, need_corpus

MB = 1024 * 1024


@pytest.fixture
def server() -> Iterator[FeedServer]:
    with FeedServer() as s:
        yield s
    assert not s.errors


def fetched_from(server: FeedServer, body: bytes, content_type: str) -> Fetched:
    url = server.route("/doc", body, content_type=content_type)
    settings = FetchSettings(max_body=10 * MB, allow_private_urls=True)

    async def get() -> Fetched:
        fetcher = Fetcher(settings)
        try:
            return await fetcher.fetch(Source(id="hostile", name="Hostile", url=url))
        finally:
            await fetcher.aclose()

    return asyncio.run(get())


def parse_error(
    server: FeedServer, body: bytes, kind: SourceKind = "feed", content_type: str = "text/xml"
) -> ParseError:
    fetched = fetched_from(server, body, content_type)
    source = Source(id="hostile", name="Hostile", url=fetched.url, kind=kind)
    with pytest.raises(ParseError) as info:
        parse(fetched, source)
    assert info.value.source_id == "hostile"
    assert fetched.url in str(info.value)
    return info.value


def feed(items: str) -> bytes:
    return (
        f'<?xml version="1.0"?><rss version="2.0"><channel><title>T</title>{items}</channel></rss>'
    ).encode()


def item(title: str = "CCTV", link: str = "https://example.org/a", extra: str = "") -> str:
    return f"<item><title>{title}</title><link>{link}</link>{extra}</item>"


# ---------------------------------------------------------------------- JSON


JSON_FEED = '{"version": "https://jsonfeed.org/version/1.1", "title": "T", "items": %s}'


@pytest.mark.parametrize("kind", ["feed", "crossref"])
def test_json_nested_100000_deep_is_a_parse_error(server: FeedServer, kind: SourceKind) -> None:
    # Before: RecursionError out of json.loads, which ended the whole run with a traceback.
    body = (JSON_FEED % ("[" * 100_000)).encode()
    e = parse_error(server, body, kind, "application/json")
    assert f"nested more than {MAX_JSON_DEPTH} deep" in str(e)


@pytest.mark.parametrize("kind", ["feed", "crossref"])
def test_json_number_of_5000_digits_is_a_parse_error(server: FeedServer, kind: SourceKind) -> None:
    # Before: ValueError ("Exceeds the limit (4300 digits)"), which no parser caught.
    body = (JSON_FEED % ('[{"id": %s, "url": "https://e.org/1"}]' % ("9" * 5000))).encode()
    e = parse_error(server, body, kind, "application/json")
    assert "a number 5000 characters long" in str(e)


def test_json_depth_and_numbers_within_bounds_are_read(server: FeedServer) -> None:
    nested = "[" * (MAX_JSON_DEPTH - 3) + "]" * (MAX_JSON_DEPTH - 3)
    items = '[{"id": 12345678901234567890, "url": "https://e.org/1", "title": "CCTV",'
    items += f' "_extension": {nested}}}]'
    fetched = fetched_from(server, (JSON_FEED % items).encode(), "application/feed+json")
    parsed = parse(fetched, Source(id="ok", name="OK", url=fetched.url))
    assert [(e.guid, e.title) for e in parsed.entries] == [("12345678901234567890", "CCTV")]


def test_json_depth_skips_strings_and_escapes() -> None:
    assert json_depth('[1, {"a": "[[[[\\" [["}, [[2]]]') == 3
    assert json_depth('["\\\\", [[1]], "]]]"]') == 3
    assert json_depth("") == 0


def test_hostile_json_ld_on_a_page_is_ignored(server: FeedServer) -> None:
    page = (
        "<html><head><title>A story on CCTV</title>"
        '<script type="application/ld+json">' + "[" * 100_000 + "</script>"
        '<script type="application/ld+json">{"@type": "NewsArticle", "n": ' + "9" * 5000 + "}"
        "</script></head><body></body></html>"
    ).encode()
    fetched = fetched_from(server, page, "text/html")
    meta = page_metadata(fetched.content, url=fetched.url, headers=fetched.headers)
    assert meta.title == "A story on CCTV"


# ---------------------------------------------------------------------- markup


def test_xml_nested_100000_deep_is_refused_before_parsing(server: FeedServer) -> None:
    # Before: feedparser built it (3 s; a million deep took 31 s and 400 MB).
    body = feed(item(extra="<x>" * 100_000 + "</x>" * 100_000))
    e = parse_error(server, body)
    assert "nested 100,00" in str(e) and f"{MAX_MARKUP_DEPTH:,}" in str(e)


def test_unclosed_elements_count_as_nested(server: FeedServer) -> None:
    e = parse_error(server, feed(item(extra="<description>" + "<div>" * 5000)))
    assert "nested 5,00" in str(e)


def test_stray_close_tags_do_not_hide_nesting(server: FeedServer) -> None:
    body = feed("</x>" * 50_000 + item(extra="<x>" * 2000 + "</x>" * 2000))
    assert "nested 2,00" in str(parse_error(server, body))


def test_too_many_elements_is_refused(server: FeedServer) -> None:
    body = feed(item(extra="<x/>" * (MAX_ELEMENTS + 1)))
    assert f"more than the {MAX_ELEMENTS:,} read per document" in str(parse_error(server, body))


def test_markup_in_cdata_and_comments_is_not_counted(server: FeedServer) -> None:
    text = "<div>" * 5000
    body = feed(item(extra=f"<description><![CDATA[{text}]]></description><!-- {text} -->"))
    fetched = fetched_from(server, body, "application/rss+xml")
    parsed = parse(fetched, Source(id="ok", name="OK", url=fetched.url))
    assert parsed.entries[0].summary == text


def test_html_page_nested_deep_is_refused(server: FeedServer) -> None:
    page = b"<html><body><h2><a href='/a'>CCTV</a></h2>" + b"<div>" * 100_000 + b"</body></html>"
    e = parse_error(server, page, "page", "text/html")
    assert "nested 100,00" in str(e)
    fetched = fetched_from(server, page, "text/html")
    with pytest.raises(CuratorError, match="nested 100,00"):  # "Add a link" shows it, no crash
        page_metadata(fetched.content, url=fetched.url, headers=fetched.headers)


def test_html_void_elements_and_stray_text_do_not_count() -> None:
    assert markup_shape(b"<p>a < b<br><img src=x><p>c</p></p>") == (2, 2)
    assert markup_shape(b"<a><b/><c>x</c></a>") == (3, 2)
    assert markup_shape(b"") == (0, 0)


def test_every_corpus_document_is_well_within_the_limits() -> None:
    corpus = need_corpus()
    files = [p for d in ("feeds", "html") for p in sorted((corpus / d).iterdir())]
    for path in files:
        if path.suffix == ".json":
            continue
        elements, depth = markup_shape(path.read_bytes())
        assert elements < MAX_ELEMENTS // 10 and depth < MAX_MARKUP_DEPTH // 3, path.name
    for path in (corpus / "feeds").glob("*.json"):
        try:
            text = path.read_bytes().decode("utf-8-sig")
        except UnicodeDecodeError:
            continue
        assert json_depth(text) < MAX_JSON_DEPTH // 4, path.name


# ---------------------------------------------------------------------- what is kept


def test_entry_text_links_and_names_are_capped(server: FeedServer) -> None:
    long_link = "https://example.org/" + "a" * MAX_URL
    authors = "".join(f"<category>tag {i}</category>" for i in range(MAX_NAMES + 10))
    body = feed(
        item(extra=f"<description>{'x' * MB}</description>{authors}")
        + item(title="Long link", link=long_link)
    )
    fetched = fetched_from(server, body, "application/rss+xml")
    parsed = parse(fetched, Source(id="ok", name="OK", url=fetched.url))
    first, second = parsed.entries
    assert first.summary is not None and len(first.summary) == MAX_ENTRY_TEXT
    assert len(first.tags) == MAX_NAMES
    assert second.title == "Long link" and second.link is None


def test_document_text_past_the_budget_keeps_titles_and_links() -> None:
    # Built in memory: more text than a body cap would let through the server.
    count = MAX_DOCUMENT_TEXT // MAX_ENTRY_TEXT + 8
    big = "x" * (MAX_ENTRY_TEXT + 1000)
    entries = [
        {"id": str(i), "url": f"https://e.org/{i}", "title": f"T{i}", "content_html": big}
        for i in range(count)
    ]
    doc = {"version": "https://jsonfeed.org/version/1.1", "title": "T", "items": entries}
    fetched = Fetched(
        source_id="big",
        url="https://e.org/feed.json",
        status=200,
        headers={"content-type": "application/feed+json"},
        content=json.dumps(doc).encode(),
    )
    parsed = parse(fetched, Source(id="big", name="Big", url=fetched.url))
    kept = sum(len(e.content or "") for e in parsed.entries)
    assert MAX_DOCUMENT_TEXT <= kept < MAX_DOCUMENT_TEXT + MAX_ENTRY_TEXT
    assert [e.title for e in parsed.entries] == [f"T{i}" for i in range(count)]
    last = parsed.entries[-1]
    assert last.content is None and last.link == f"https://e.org/{count - 1}"
    assert parsed.warning is not None and "keep only their title and link" in parsed.warning


def test_limits_are_documented_where_the_operator_reads() -> None:
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    for figure in (f"{MAX_MARKUP_DEPTH:,}", f"{MAX_ELEMENTS:,}", f"{MAX_JSON_DEPTH}"):
        assert figure in readme


# ---------------------------------------------------------------------- one bad source in a run


HOSTILE_FEEDS = {
    "deep-json": (JSON_FEED % ("[" * 100_000)).encode(),
    "long-number": (JSON_FEED % ('[{"id": %s}]' % ("9" * 5000))).encode(),
    "deep-xml": feed(item(extra="<x>" * 100_000)),
}


def test_hostile_documents_cost_only_their_own_source(server: FeedServer, tmp_path: Path) -> None:
    # Before: the first of these ended `curator fetch` with a traceback and lost the others.
    good = feed(item("Council approves CCTV upgrade", "https://news.example.org/cctv"))
    lines = ["fetch:\n  jitter: 0s\nrules:\n  min_score: 1\n  include: {cctv: 3}\nsources:\n"]
    for sid, body in [*HOSTILE_FEEDS.items(), ("good", good)]:
        url = server.route(f"/{sid}", body, content_type="application/octet-stream")
        lines.append(f"  - id: {sid}\n    name: {sid}\n    url: {url}\n")
    cfg = config.loads("".join(lines), "test.yaml")
    curator = make_curator(cfg, store=TinyDBStore(tmp_path / "store"))

    async def poll() -> PollReport:
        try:
            return await curator.poll(None)
        finally:
            await curator.aclose()

    report = {r.source_id: r for r in asyncio.run(poll()).sources}
    assert (report["good"].outcome, report["good"].new) == ("ok", 1)
    assert [i.title for i in curator.store.items("pending")] == ["Council approves CCTV upgrade"]
    for sid in HOSTILE_FEEDS:
        assert report[sid].outcome == "error" and report[sid].error, sid
        state = curator.store.get_state(sid)
        assert state is not None and state.consecutive_errors == 1 and state.last_error, sid
    assert "nested more than 64 deep" in (report["deep-json"].error or "")
    assert "a number 5000 characters long" in (report["long-number"].error or "")
    assert "nested 100,00" in (report["deep-xml"].error or "")


def test_listing_of_nested_articles_is_read_in_one_pass(server: FeedServer) -> None:
    # Before: every <article> searched its whole subtree and every heading walked up to the
    # root: 20,000 headings under 990 nested articles took 95 s (this one about 25 s).
    cards = b"".join(
        b"<h3><a href='/story/%d'>CCTV story %d</a></h3><p>A summary that is long enough.</p>"
        % (i, i)
        for i in range(10_000)
    )
    page = b"<html><body>" + b"<article>" * 990 + cards + b"</body></html>"
    fetched = fetched_from(server, page, "text/html")
    parsed = parse(fetched, Source(id="p", name="P", url=fetched.url, kind="page"))
    # Each article's headline is the first card; the rest sit inside articles.
    assert [e.title for e in parsed.entries] == ["CCTV story 0"]
    assert parsed.entries[0].link == server.url("/story/0")


def test_headings_deep_in_a_page_are_read_in_one_pass(server: FeedServer) -> None:
    cards = b"".join(b"<h2><a href='/s/%d'>Story %d</a></h2>" % (i, i) for i in range(10_000))
    page = b"<html><body>" + b"<div>" * 990 + cards + b"</body></html>"
    fetched = fetched_from(server, page, "text/html")
    parsed = parse(fetched, Source(id="p", name="P", url=fetched.url, kind="page"))
    assert len(parsed.entries) == 200 and parsed.entries[199].title == "Story 199"
