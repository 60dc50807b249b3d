"""curator.parse.page: article metadata (page_metadata) and listing pages (parse_page)."""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path

import pytest

from curator.exceptions import ParseError
from curator.normalize import normalize
from curator.parse import PageMeta, page_metadata, parse_page

CORPUS = Path(
    os.environ.get("CURATOR_CORPUS", Path(__file__).resolve().parents[2] / "shared" / "corpus")
)
# Skipped where the corpus is missing, but never in CI: there it must be present and tested.
needs_corpus = pytest.mark.skipif(
    not (CORPUS / "html").is_dir() and not os.environ.get("CI"),
    reason="no page corpus (../shared/corpus or CURATOR_CORPUS)",
)
NOW = datetime(2026, 11, 28, tzinfo=UTC)


def html_file(name: str) -> bytes:
    return (CORPUS / "html" / name).read_bytes()


def meta(
    body: bytes | str, url: str = "https://www.example.org/a/story", **headers: str
) -> PageMeta:
    data = body.encode() if isinstance(body, str) else body
    return page_metadata(data, url=url, headers=headers)


# --------------------------------------------------------------------------- corpus articles


@needs_corpus
def test_pew_research_article() -> None:
    m = page_metadata(
        html_file("newspaper__pewresearch.org1.html"), url="http://x.example/", headers={}
    )
    assert m.url == (
        "http://www.pewresearch.org/fact-tank/2014/11/20/"
        "those-from-mexico-will-benefit-most-from-obamas-executive-action/"
    )
    assert m.title == "Those from Mexico will benefit most from Obama’s executive action"
    assert m.site_name == "Pew Research Center"
    assert m.published == datetime(2014, 11, 20, 21, 57, 15, tzinfo=UTC)
    assert m.summary is None  # og:description is empty: nothing invented


@needs_corpus
def test_reuters_article() -> None:
    m = page_metadata(
        html_file("newspaper__reuters.com1.html"), url="http://x.example/", headers={}
    )
    assert (
        m.url == "http://in.reuters.com/article/2014/12/30/india-sensex-nifty-idINKBN0K80A020141230"
    )
    assert m.title == "Sensex ends flat; weaker Asian markets offset reform hopes"
    assert m.summary is not None and m.summary.startswith("MUMBAI (Reuters) - The BSE Sensex")
    assert m.site_name == "in.reuters.com"  # no og:site_name: the host
    assert m.published == datetime(2014, 12, 30, 11, 3, tzinfo=UTC)  # Parse.ly metadata


@needs_corpus
def test_telegraph_article() -> None:
    m = page_metadata(
        html_file("newspaper__telegraph.co.uk1.html"), url="http://x.example/", headers={}
    )
    assert m.published == datetime(2014, 12, 31, 17, 0, 37, tzinfo=UTC)  # timestamp beats DC date
    assert m.authors == ("Harriet Alexander",)
    assert m.title is not None and m.title.startswith("AirAsia plane")


@needs_corpus
def test_atlantic_article_with_json_ld() -> None:
    m = page_metadata(
        html_file("NetNewsWire__RSParser__coco.html"), url="http://x.example/", headers={}
    )
    assert m.title == "'Coco' Is Among Pixar's Best Movies in Years"
    assert m.site_name == "The Atlantic"
    assert m.authors == ("Christopher Orr",)
    assert m.published == datetime(2017, 11, 24, 6, 0, tzinfo=UTC)


@needs_corpus
def test_not_a_feed_snippet() -> None:
    m = page_metadata(
        html_file("node-feedparser__notafeed.html"), url="https://x.example/p", headers={}
    )
    assert m == PageMeta(
        url="https://x.example/p",
        title="The Is Not The Feed You're Looking For",
        summary=None,
        site_name="x.example",
        published=None,
        authors=(),
    )


@needs_corpus
@pytest.mark.parametrize(
    "name",
    sorted(p.name for p in (CORPUS / "html").glob("*.html")) if (CORPUS / "html").is_dir() else [],
)
def test_every_corpus_page_gives_metadata_and_links(name: str) -> None:
    data = html_file(name)
    m = page_metadata(data, url="https://pages.example/p", headers={})
    assert m.url.startswith(("http://", "https://"))
    assert m.site_name
    parsed = parse_page(data, url="https://pages.example/p", headers={}, source_id="p")
    for raw in parsed.entries:
        e = normalize(raw, source_id="p", feed_url="https://pages.example/p", now=NOW)
        assert e is not None and e.title


# --------------------------------------------------------------------------- crafted metadata

OG_PAGE = """<!doctype html><html><head>
<meta charset="utf-8">
<title>Fallback title | Site</title>
<meta property="og:title" content="Force trials &quot;live&quot; facial recognition">
<meta property="og:url" content="/news/2026/lfr?utm_source=x">
<meta property="og:description" content="  The   trial   starts  in May. ">
<meta property="og:site_name" content="Police Professional">
<meta property="article:published_time" content="2026-03-01T09:15:00+01:00">
<meta name="author" content="Jo Bloggs">
<meta property="article:author" content="https://www.facebook.com/jo">
<link rel="canonical" href="https://www.example.org/ignored-because-og-url">
</head><body><time datetime="2020-01-01">old</time></body></html>"""


def test_open_graph_tags() -> None:
    m = meta(OG_PAGE)
    assert m.url == "https://www.example.org/news/2026/lfr?utm_source=x"  # absolute, else as given
    assert m.title == 'Force trials "live" facial recognition'
    assert m.summary == "The trial starts in May."
    assert m.site_name == "Police Professional"
    assert m.published == datetime(2026, 3, 1, 8, 15, tzinfo=UTC)
    assert m.authors == ("Jo Bloggs",)  # the profile URL is not a name


CITATION_PAGE = """<html><head>
<meta name="citation_title" content="Does CCTV reduce crime? A meta-analysis">
<meta name="citation_author" content="Welsh, Brandon C.">
<meta name="citation_author" content="Farrington, David P.">
<meta name="citation_author" content="Welsh, Brandon C.">
<meta name="citation_publication_date" content="2019/05/17">
<meta name="citation_journal_title" content="Criminology &amp; Public Policy">
<meta name="citation_abstract" content="&lt;p&gt;We review 80 evaluations.&lt;/p&gt;">
<link rel="canonical" href="https://journals.example/doi/10.1111/1745-9133.12419">
<title>Journal page</title>
</head><body></body></html>"""


def test_citation_tags() -> None:
    m = meta(CITATION_PAGE)
    assert m.url == "https://journals.example/doi/10.1111/1745-9133.12419"
    assert m.title == "Does CCTV reduce crime? A meta-analysis"
    assert m.authors == ("Welsh, Brandon C.", "Farrington, David P.")
    assert m.published == datetime(2019, 5, 17, tzinfo=UTC)
    assert m.site_name == "Criminology & Public Policy"
    assert m.summary == "We review 80 evaluations."


JSON_LD_PAGE = """<html><head><title>t</title>
<script type="application/ld+json">{"@context": "https://schema.org", "@graph": [
 {"@type": "WebSite", "name": "Site"},
 {"@type": ["NewsArticle"], "headline": "ANPR cameras expanded",
  "datePublished": "2025-12-01T10:00:00Z", "description": "Councils add cameras.",
  "author": [{"@type": "Person", "name": "A. Writer"}, "B. Writer"],
  "publisher": {"@type": "Organization", "name": "Gazette"}}]}</script>
<script type="application/ld+json">{ not json </script>
</head></html>"""


def test_json_ld_article() -> None:
    m = meta(JSON_LD_PAGE)
    assert m.title == "ANPR cameras expanded"
    assert m.summary == "Councils add cameras."
    assert m.published == datetime(2025, 12, 1, 10, 0, tzinfo=UTC)
    assert m.authors == ("A. Writer", "B. Writer")
    assert m.site_name == "Gazette"


def test_bare_page_falls_back_to_title_url_and_host() -> None:
    m = meta(
        "<html><head><title>  Just   a title </title></head></html>",
        url="https://www.gov.example/x",
    )
    assert m == PageMeta(
        url="https://www.gov.example/x",
        title="Just a title",
        summary=None,
        site_name="gov.example",
        published=None,
        authors=(),
    )


def test_hostile_metadata_is_neutralised() -> None:
    m = meta(
        """<html><head><title>&lt;script&gt;alert(1)&lt;/script&gt;Safe title</title>
        <meta property="og:url" content="javascript:alert(1)">
        <link rel="canonical" href="data:text/html,x">
        <meta name="description" content="&lt;img src=x onerror=alert(1)&gt;Summary">
        <meta property="article:published_time" content="not a date">
        </head></html>""",
        url="https://www.example.org/a",
    )
    assert m.url == "https://www.example.org/a"
    assert m.title == "Safe title"
    assert m.summary == "Summary"
    assert m.published is None


def test_charset_from_meta_and_from_headers() -> None:
    body = '<html><head><meta charset="windows-1251"><title>Камеры</title></head></html>'
    assert meta(body.encode("cp1251")).title == "Камеры"
    body_koi = "<html><head><title>Камеры</title></head></html>".encode("koi8-r")
    assert meta(body_koi, **{"content-type": "text/html; charset=KOI8-R"}).title == "Камеры"
    http_equiv = (
        '<html><head><meta http-equiv="Content-Type" content="text/html; charset=iso-8859-1">'
        "<title>Caf\xe9</title></head></html>"
    ).encode("latin-1")
    assert meta(http_equiv).title == "Café"
    assert meta("<title>Café</title>".encode()).title == "Café"  # undeclared UTF-8
    assert meta("<title>Caf\xe9</title>".encode("cp1252")).title == "Café"  # undeclared, not UTF-8


def test_base_href_is_honoured() -> None:
    m = meta(
        '<html><head><base href="https://cdn.example/site/">'
        '<link rel="canonical" href="p/1"></head></html>'
    )
    assert m.url == "https://cdn.example/site/p/1"


# --------------------------------------------------------------------------- listing pages


@needs_corpus
def test_heuristics_on_a_weblog() -> None:
    url = "https://inessential.com/"
    parsed = parse_page(
        html_file("NetNewsWire__RSCore__inessential.html"), url=url, headers={}, source_id="p"
    )
    assert parsed.title == "inessential: weblog"
    assert parsed.warning is None
    assert len(parsed.entries) == 8
    first = parsed.entries[0]
    assert first.title == "Why NetNewsWire Is Not a Web App"
    assert first.link == "https://inessential.com/2025/10/04/why-netnewswire-is-not-web-app.html"


@needs_corpus
def test_heuristics_prefer_the_headline_of_a_card_link() -> None:
    url = "https://www.theatlantic.com/entertainment/archive/2017/11/coco/546695/"
    parsed = parse_page(
        html_file("NetNewsWire__RSParser__coco.html"), url=url, headers={}, source_id="p"
    )
    titles = [e.title for e in parsed.entries]
    assert "The Making of an American Nazi" in titles
    assert all(e.link and e.link.startswith("https://www.theatlantic.com/") for e in parsed.entries)


LISTING = """<!doctype html><html><head><title>Press releases</title></head><body>
<nav><h2><a href="/about">About us</a></h2></nav>
<article><a href="/img/1.jpg"><img src="/img/1.jpg"></a>
  <h3><a href="/news/cctv-strategy">New CCTV strategy</a></h3>
  <time datetime="2026-02-01T10:00:00Z">1 Feb</time>
  <p>The council publishes its five-year CCTV strategy today.</p></article>
<article><h2><a href="https://other.example/story?id=2#comments">Second &amp; last</a></h2>
</article>
<article><h2><a href="javascript:void(0)">Script link</a></h2></article>
<article><h2><a href="/news/cctv-strategy">Duplicate</a></h2></article>
<ul class="releases">
  <li><a href="r/1.html">Release one</a></li>
  <li><a href="r/2.html"><span>Release</span> two</a></li>
  <li><a href="r/2.html">Release two again</a></li>
  <li><a href="r/3.html"></a></li>
</ul>
</body></html>"""


def test_heuristic_listing() -> None:
    parsed = parse_page(
        LISTING.encode(), url="https://council.example/press/", headers={}, source_id="c"
    )
    assert [(e.title, e.link) for e in parsed.entries] == [
        ("About us", "https://council.example/about"),
        ("New CCTV strategy", "https://council.example/news/cctv-strategy"),
        ("Second &amp; last", "https://other.example/story?id=2"),
    ]
    strategy = parsed.entries[1]
    assert strategy.published == datetime(2026, 2, 1, 10, 0, tzinfo=UTC)
    assert strategy.summary == "The council publishes its five-year CCTV strategy today."
    e = normalize(
        parsed.entries[2], source_id="c", feed_url="https://council.example/press/", now=NOW
    )
    assert e is not None and e.title == "Second & last"


def test_selector_listing() -> None:
    parsed = parse_page(
        LISTING.encode(),
        url="https://council.example/press/",
        headers={"content-type": "text/html; charset=utf-8"},
        source_id="c",
        selector="ul.releases li",
    )
    assert [(e.title, e.link) for e in parsed.entries] == [
        ("Release one", "https://council.example/press/r/1.html"),
        ("Release two", "https://council.example/press/r/2.html"),
    ]
    capped = parse_page(
        LISTING.encode(), url="https://council.example/press/", headers={}, source_id="c",
        selector="ul.releases a", max_entries=1,
    )  # fmt: skip
    assert len(capped.entries) == 1


def test_selector_matching_nothing_is_a_warning() -> None:
    parsed = parse_page(
        LISTING.encode(), url="https://c.example/", headers={}, source_id="c", selector=".nope a"
    )
    assert parsed.entries == ()
    assert parsed.warning == "no article links found with selector '.nope a'"


def test_invalid_selector_is_a_parse_error() -> None:
    with pytest.raises(ParseError, match="is not valid CSS") as info:
        parse_page(
            LISTING.encode(),
            url="https://c.example/",
            headers={},
            source_id="c",
            selector="ul >>> [",
        )
    assert info.value.source_id == "c"


def test_empty_page_is_a_parse_error() -> None:
    with pytest.raises(ParseError, match="empty body"):
        parse_page(b"  ", url="https://c.example/", headers={}, source_id="c")


def test_a_feed_configured_as_a_page_is_read_as_a_feed() -> None:
    rss = b"<?xml version='1.0'?><rss version='2.0'><channel><title>F</title>"
    rss += b"<item><title>Item</title><link>https://c.example/1</link></item></channel></rss>"
    parsed = parse_page(rss, url="https://c.example/rss", headers={}, source_id="c")
    assert (parsed.title, parsed.entries[0].title) == ("F", "Item")
