"""curator.parse.feed (RSS/Atom/JSON Feed), curator.parse.arxiv and the parse() dispatch.

Most checks run on the real-feed corpus in ../shared/corpus (CURATOR_CORPUS overrides);
crafted documents cover what the corpus does not.
"""

from __future__ import annotations

import csv
import gzip
import os
import re
from datetime import UTC, datetime
from pathlib import Path

import pytest

from curator.config import Source
from curator.exceptions import ParseError
from curator.normalize import SUMMARY_HTML_MAX, TITLE_MAX, normalize
from curator.parse import parse, parse_arxiv, parse_feed
from curator.types import Entry, Fetched, ParsedFeed

CORPUS = Path(
    os.environ.get("CURATOR_CORPUS", Path(__file__).resolve().parents[2] / "shared" / "corpus")
)
NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
URL = "https://feeds.example.org/feed"

# Skipped where the corpus is missing, but never in CI: there it must be present and tested.
needs_corpus = pytest.mark.skipif(
    not (CORPUS / "MANIFEST.tsv").exists() and not os.environ.get("CI"),
    reason="no feed corpus (../shared/corpus or CURATOR_CORPUS)",
)


def _manifest() -> list[dict[str, str]]:
    if not (CORPUS / "MANIFEST.tsv").exists():
        return []
    with (CORPUS / "MANIFEST.tsv").open(encoding="utf-8") as f:
        return [r for r in csv.DictReader(f, delimiter="\t") if r["file"].startswith("feeds/")]


MANIFEST = _manifest()
# JSON that is a feed but not a JSON Feed (Scripting News' RSS-in-JSON).
NOT_JSON_FEED = {"feeds/NetNewsWire__RSParser__ScriptingNews.json"}
# Where we read more entries than plain feedparser did (the manifest's count): a gzip body
# served without Content-Encoding, and UTF-16 without a byte-order mark.
RECOVERED = {
    "feeds/node-feedparser__compressed.xml",
    "feeds/simplepie__feed-utf16be.xml",
    "feeds/simplepie__feed-utf16le.xml",
}


def corpus(name: str) -> bytes:
    return (CORPUS / "feeds" / name).read_bytes()


def feed(name: str, url: str = URL, max_entries: int = 200) -> ParsedFeed:
    return parse_feed(corpus(name), url=url, headers={}, source_id="src", max_entries=max_entries)


def entries(parsed: ParsedFeed, url: str = URL) -> list[Entry]:
    out = [normalize(r, source_id="src", feed_url=url, now=NOW) for r in parsed.entries]
    return [e for e in out if e is not None]


def check_entry(e: Entry) -> None:
    assert e.url.startswith(("http://", "https://"))
    assert re.fullmatch(r"[0-9a-f]{16}", e.item_id)
    assert e.title and len(e.title) <= TITLE_MAX and "\n" not in e.title
    assert len(e.summary_html) <= SUMMARY_HTML_MAX
    lowered = e.summary_html.lower()
    assert "<script" not in lowered and "javascript:" not in lowered and "<img" not in lowered
    assert e.published.tzinfo is UTC
    assert datetime(1990, 1, 1, tzinfo=UTC) <= e.published <= NOW.replace(day=29)


# --------------------------------------------------------------------------- the corpus


@needs_corpus
@pytest.mark.parametrize("row", MANIFEST, ids=[r["file"][6:] for r in MANIFEST])
def test_every_corpus_feed_parses_or_fails_cleanly(row: dict[str, str]) -> None:
    url = "https://feeds.example.org/" + row["file"]
    try:
        parsed = parse_feed(
            (CORPUS / row["file"]).read_bytes(), url=url, headers={}, source_id="corpus"
        )
    except ParseError as e:
        assert row["kind"] == "illformed" or row["file"] in NOT_JSON_FEED, str(e)
        assert e.source_id == "corpus"
        assert url in str(e)
        return
    assert row["file"] not in NOT_JSON_FEED
    for entry in entries(parsed, url):
        check_entry(entry)
    m = re.search(r"feedparser: version=\S* entries=(\d+)", row["notes"])
    if row["kind"] in ("rss1", "rss2", "atom") and m and row["file"] not in RECOVERED:
        assert len(parsed.entries) == min(int(m.group(1)), 200)
    if row["kind"] == "json":
        n = re.search(r"; (\d+) items", row["notes"])
        assert n is not None and len(parsed.entries) == int(n.group(1))


@needs_corpus
def test_illformed_with_entries_gives_them_with_a_warning() -> None:
    parsed = feed("FeedKit__Ampersand.xml")
    assert len(parsed.entries) == 20
    assert parsed.warning is not None and "not well-formed" in parsed.warning
    assert len(parsed.warning) < 300


@needs_corpus
def test_illformed_without_entries_is_a_parse_error() -> None:
    with pytest.raises(ParseError, match="not a readable feed") as info:
        feed("kurtmckee-feedparser__illformed__aaa_illformed.xml")
    assert info.value.source_id == "src"


@needs_corpus
def test_blank_lines_before_the_xml_declaration_are_forgiven() -> None:
    parsed = feed("feedjira__TechCrunch.xml")
    assert parsed.warning is None
    assert len(parsed.entries) == 20


@needs_corpus
def test_large_feed_is_capped() -> None:
    assert len(feed("rss-parser__giantbomb-podcast.rss").entries) == 200
    assert len(feed("rss-parser__giantbomb-podcast.rss", max_entries=5).entries) == 5


# --------------------------------------------------------------------------- golden entries


@needs_corpus
def test_golden_guardian_rss2() -> None:
    parsed = feed("rss-parser__guardian.rss")
    assert (parsed.title, parsed.link) == ("The Guardian", "https://www.theguardian.com/us")
    first = entries(parsed)[0]
    assert first.title == "Trump State of the Union address promised unity but emphasized discord"
    assert first.url == (
        "https://www.theguardian.com/us-news/2018/jan/31/"
        "donald-trump-state-of-the-union-address-unity-discord"
    )
    assert first.published == datetime(2018, 1, 31, 7, 26, 5, tzinfo=UTC)
    assert first.authors == ("David Smith in Washington",)
    assert first.tags[:3] == ("Donald Trump", "State of the Union address", "US news")
    assert first.summary_text.startswith("The president’s ‘new American moment’ speech")


@needs_corpus
def test_golden_arxiv_atom() -> None:
    parsed = parse_arxiv(
        corpus("arxiv.py__api-response__id_list_1111.2011v2.xml"),
        url="http://export.arxiv.org/api/query?id_list=1111.2011v2",
        headers={"content-type": "application/atom+xml; charset=UTF-8"},
        source_id="arxiv",
    )
    (e,) = entries(parsed)
    assert e.title == (
        "Quantum Criticality for Extended Nodes on a Bethe Lattice in the Large Connectivity Limit"
    )
    assert e.url == "http://arxiv.org/abs/1111.2011v2"
    assert e.published == datetime(2011, 11, 8, 18, 48, 36, tzinfo=UTC)
    assert e.authors == ("James M. Murray", "Adrian Del Maestro", "Zlatko Tesanovic")
    assert e.summary_text.startswith(
        "Theoretical description of anisotropic systems, such as layered"
    )


@needs_corpus
def test_golden_feedburner_origlink_beats_the_redirector() -> None:
    e = entries(feed("feedjira__TechCrunch.xml"))[0]
    assert e.url == (
        "http://techcrunch.com/2011/11/02/angies-list-prices-ipo-at-11-to-13-per-share-valued-at-over-600m/"
    )
    assert (
        e.title == "Angie’s List Sets Price Range IPO At $11 To $13 Per Share; Valued At Over $600M"
    )
    assert e.published == datetime(2011, 11, 2, 17, 25, 27, tzinfo=UTC)


@needs_corpus
def test_golden_json_feed_1_1() -> None:
    parsed = feed("lemon24-reader__full.json", url="https://example.org/feed.json")
    assert (parsed.title, parsed.link) == ("My Example Feed", "https://example.org/")
    first, second = entries(parsed, "https://example.org/feed.json")
    assert first.title == "Title"
    assert first.url == "https://example.org/second-item"
    assert first.published == datetime(2020, 1, 2, 21, 0, tzinfo=UTC)  # -07:00 → UTC
    assert first.summary_text == "A summary"
    assert first.authors == ("Joe", "Jane")  # the item has no names: the feed's authors
    assert second.title == "Hello, world!"  # no title: the start of its content
    assert second.authors == ("Jane",)  # 1.0 "author"
    assert second.published == datetime(2020, 1, 2, 12, 0, tzinfo=UTC)


@needs_corpus
def test_golden_json_feed_1_0() -> None:
    parsed = feed("feed-rs__jsonfeed__jsonfeed_spec_1.json")
    assert len(parsed.entries) == 1
    check_entry(entries(parsed)[0])


@needs_corpus
def test_json_feed_with_wrong_types_costs_fields_not_the_feed() -> None:
    parsed = feed("lemon24-reader__invalid.json")
    assert len(parsed.entries) == 8
    assert parsed.title is None
    assert parsed.entries[0].title is None and parsed.entries[0].published is None
    assert parsed.entries[1].guid == "3.1415"
    assert parsed.entries[-1].authors == ("Jane",)


@needs_corpus
def test_json_feed_lenient_version() -> None:
    parsed = feed("gofeed__version_json_10.json")  # "version": "1.0", not the spec URL
    assert len(parsed.entries) == 1


# --------------------------------------------------------------------------- encodings

ENCODINGS = [
    ("KOI8-R", "miniflux__encoding__koi8r.xml", "Пример RSS ленты", "Первая новость"),
    (
        "windows-1251",
        "node-feedparser__iconv.xml",
        "Новости Оренбурга и области / Раздел Новости",
        "В Бузулуке главные стройплощадки – детсад и Ледовый дворец",
    ),
    (
        "windows-1251, gzip body",
        "node-feedparser__compressed.xml",
        "Новости Оренбурга и области / Раздел Новости",
        "В Бузулуке главные стройплощадки – детсад и Ледовый дворец",
    ),
    (
        "GB2312",
        "NetNewsWire__RSParser__kc0011.rss",
        "投资资讯网交易在线--流通纪念币最新20篇论坛主题-全文",
        "建国35周年纪念，华表，和平鸽",
    ),
    (
        "ISO-8859-1",
        "rss-parser__encoding.rss",
        "Jornal de Notícias - Últimas Notícias",
        "Mãe de utente é a nova presidente da Raríssimas",
    ),
    ("windows-1251 2", "miniflux__encoding_WINDOWS-1251.xml", "iBash.Org.Ru", "Цитата #17703"),
    ("UTF-16BE, no BOM", "simplepie__feed-utf16be.xml", "Test feed", "Test feed title 1"),
    ("UTF-16LE, no BOM", "simplepie__feed-utf16le.xml", "Test feed", "Test feed title 1"),
]


@needs_corpus
@pytest.mark.parametrize(
    ("name", "title", "first"), [c[1:] for c in ENCODINGS], ids=[c[0] for c in ENCODINGS]
)
def test_non_utf8_encodings_decode(name: str, title: str, first: str) -> None:
    parsed = feed(name)
    assert parsed.title == title
    assert parsed.entries[0].title == first
    assert parsed.warning is None


def test_http_charset_wins_over_a_missing_declaration() -> None:
    body = "<rss version='2.0'><channel><title>Полиция</title></channel></rss>".encode("cp1251")
    parsed = parse_feed(
        body,
        url=URL,
        headers={"content-type": "application/rss+xml; charset=windows-1251"},
        source_id="src",
    )
    assert parsed.title == "Полиция"


def test_text_xml_without_charset_follows_the_declaration() -> None:
    # RFC 3023 said us-ascii here; RFC 7303 and every real server mean "see the document".
    body = "<?xml version='1.0' encoding='utf-8'?><rss version='2.0'><channel><title>Café</title>"
    body += "<item><title>Caméra</title><link>http://x.example/1</link></item></channel></rss>"
    parsed = parse_feed(body.encode(), url=URL, headers={"content-type": "text/xml"}, source_id="s")
    assert (parsed.title, parsed.entries[0].title, parsed.warning) == ("Café", "Caméra", None)


def test_wrong_declared_encoding_is_decoded_with_a_warning() -> None:
    body = "<?xml version='1.0' encoding='utf-8'?><rss version='2.0'><channel><item>"
    body += "<title>Café</title><link>http://x.example/1</link></item></channel></rss>"
    parsed = parse_feed(body.encode("cp1252"), url=URL, headers={}, source_id="s")
    assert parsed.entries[0].title == "Café"
    assert parsed.warning is not None and "declared encoding is wrong" in parsed.warning


def test_gzip_body_without_content_encoding() -> None:
    body = gzip.compress(
        b"<rss version='2.0'><channel><item><title>t</title></item></channel></rss>"
    )
    assert parse_feed(body, url=URL, headers={}, source_id="s").entries[0].title == "t"


# --------------------------------------------------------------------------- relative links


@needs_corpus
def test_xml_base_resolves_entry_links_and_content() -> None:
    parsed = feed("kurtmckee-feedparser__docs-example__base.xml")
    (e,) = entries(parsed)
    assert e.url == "http://example.org/archives/000001.html"
    assert 'href="http://example.org/archives/000001.html#anchor2"' in e.summary_html
    assert e.authors == ("Mark Pilgrim",)
    assert e.published == datetime(2004, 4, 20, 0, 23, 47, tzinfo=UTC)


@needs_corpus
def test_item_scoped_xml_base_in_rss() -> None:
    url = "https://example.com/feed.xml"
    first, second = entries(feed("node-feedparser__rss-with-item-scoped-html-base.xml", url), url)
    assert first.url == "https://example.com/first/first"
    assert 'href="https://example.com/first/post"' in first.summary_html
    assert second.url == "https://example.com/second"
    assert 'href="https://example.com/post"' in second.summary_html


@needs_corpus
@pytest.mark.parametrize("name", ["lemon24-reader__relative.rss", "lemon24-reader__relative.atom"])
def test_relative_links_resolve_against_the_feed_url(name: str) -> None:
    url = "http://host.example/dir/feed"
    (e,) = entries(feed(name, url), url)
    assert e.url in (
        "http://host.example/dir/blog/post/1",
        "http://host.example/dir/entries/entry.html",
    )
    link = '<a href="http://host.example/dir/target" rel="noopener noreferrer nofollow">two</a>'
    assert e.summary_html == f"one {link} three"


# --------------------------------------------------------------------------- failures


@pytest.mark.parametrize(
    ("content_type", "body"),
    [
        (
            "text/html; charset=utf-8",
            b"<!DOCTYPE html><html><head><title>Home</title></head><body>hi</body></html>",
        ),
        ("application/rss+xml", b"\n<html lang='en'><body><h1>Moved</h1></body></html>"),
        ("", b"<!doctype html>\n<title>x</title><p>no html element"),
        (
            "text/html",
            b"<?xml version='1.0'?><!DOCTYPE html PUBLIC '-//W3C//DTD XHTML 1.0 Strict//EN' "
            b"'http://www.w3.org/TR/xhtml1/DTD/xhtml1-strict.dtd'><html xmlns='http://www.w3.org/1999/xhtml'>"
            b"<body><p>page</p></body></html>",
        ),
    ],
)
def test_html_served_as_a_feed_is_a_parse_error(content_type: str, body: bytes) -> None:
    headers = {"content-type": content_type} if content_type else {}
    with pytest.raises(ParseError) as info:
        parse_feed(body, url="http://news.example/rss", headers=headers, source_id="news")
    message = str(info.value)
    assert message.startswith("http://news.example/rss: not a feed: the server sent an HTML page")
    assert "check the URL" in message
    if content_type:
        assert content_type.split(";")[0] in message
    assert info.value.source_id == "news"


@pytest.mark.parametrize(
    ("body", "headers", "match"),
    [
        (b"", {}, "empty body"),
        (b"  \n\t ", {"content-type": "application/rss+xml"}, "empty body"),
        (b'{"version": "https://jsonfeed.org/version/1.1", "items": [', {}, "invalid JSON"),
        (
            b'{"version": "https://jsonfeed.org/version/1.1"',
            {"content-type": "application/feed+json"},
            "invalid JSON",
        ),
        (
            b'{"rss": {"channel": {}}}',
            {"content-type": "application/json"},
            "not a feed: JSON without",
        ),
        (b"[1, 2, 3]", {}, "not a feed: JSON without"),
        (
            b"<?xml version='1.0'?><note><to>you</to></note>",
            {},
            r"not a feed: no RSS, Atom .*<note>",
        ),
        (b"http://127.0.0.1:9/feed.xml", {}, "not a feed"),  # bytes are never taken as a URL
        (b"/etc/passwd", {}, "not a feed"),
        (b"<rss version='2.0'><channel><title>t</title><", {}, "not a readable feed"),
    ],
)
def test_unreadable_documents_are_parse_errors(
    body: bytes, headers: dict[str, str], match: str
) -> None:
    with pytest.raises(ParseError, match=match):
        parse_feed(body, url=URL, headers=headers, source_id="src")


def test_truncated_feed_keeps_what_it_read_with_a_warning() -> None:
    body = b"<rss version='2.0'><channel><item><title>one</title></item><item><title>tw"
    parsed = parse_feed(body, url=URL, headers={}, source_id="src")
    assert parsed.entries[0].title == "one"
    assert parsed.warning is not None


def test_bozo_with_entries_is_a_warning() -> None:
    body = b"<rss version='2.0'><channel><item><title>Fish & chips</title><link>http://x.example/1</link>"
    body += b"</item><item><title>B</title><link>http://x.example/2</link></item></channel></rss>"
    parsed = parse_feed(body, url=URL, headers={}, source_id="src")
    assert [e.title for e in parsed.entries] == ["Fish & chips", "B"]
    assert parsed.warning is not None


@pytest.mark.parametrize(
    "body",
    [
        b"<?xml version='1.0'?><rss version='2.0'><channel><title>Quiet</title></channel></rss>",
        b"<feed xmlns='http://www.w3.org/2005/Atom'><title>Quiet</title></feed>",
        b'{"version": "https://jsonfeed.org/version/1.1", "title": "Quiet", "items": []}',
    ],
)
def test_a_valid_feed_with_no_entries_is_fine(body: bytes) -> None:
    parsed = parse_feed(body, url=URL, headers={}, source_id="src")
    assert (parsed.title, parsed.entries, parsed.warning) == ("Quiet", (), None)


# --------------------------------------------------------------------------- hostile entries

HOSTILE_RSS = b"""<?xml version="1.0" encoding="utf-8"?>
<rss version="2.0"><channel><title>Hostile</title><link>https://hostile.example/</link>
<item><title>&lt;script&gt;alert(1)&lt;/script&gt;CCTV &amp;amp; police</title>
  <link>https://hostile.example/a</link>
  <description>&lt;p onmouseover="x()"&gt;Hi&lt;script&gt;steal()&lt;/script&gt;
  &lt;a href="javascript:alert(1)"&gt;js&lt;/a&gt; &lt;img src="https://t.example/p.gif"&gt;
  &lt;a href="/ok"&gt;ok&lt;/a&gt;&lt;/p&gt;</description>
  <pubDate>Mon, 06 Sep 2021 16:45:00 +0200</pubDate></item>
<item><title>Bad link</title><link>javascript:alert(document.cookie)</link></item>
<item><title>Data link</title>
  <link>data:text/html,&lt;script&gt;alert(1)&lt;/script&gt;</link></item>
<item><title>Bad date</title><link>https://hostile.example/b</link>
  <pubDate>not a date</pubDate></item>
<item><title>Future</title><link>https://hostile.example/c</link>
  <pubDate>Tue, 01 Jan 2999 00:00:00 GMT</pubDate></item>
</channel></rss>"""


def test_hostile_titles_links_and_summaries_are_neutralised() -> None:
    url = "https://hostile.example/rss"
    parsed = parse_feed(
        HOSTILE_RSS, url=url, headers={"content-type": "application/rss+xml"}, source_id="h"
    )
    assert len(parsed.entries) == 5
    assert parsed.entries[0].published == datetime(2021, 9, 6, 14, 45, tzinfo=UTC)
    assert parsed.entries[3].published is None
    got = entries(parsed, url)
    # An RSS title is plain text: what the feed escaped once is kept literally (and escaped
    # again wherever it is shown), never run as markup.  Two links are dropped.
    assert [e.title for e in got] == [
        "<script>alert(1)</script>CCTV &amp; police",
        "Bad date",
        "Future",
    ]
    first = got[0]
    assert first.summary_html == (
        '<p>Hi\n  <a rel="noopener noreferrer nofollow">js</a> \n  '
        '<a href="https://hostile.example/ok" rel="noopener noreferrer nofollow">ok</a></p>'
    )
    assert got[1].published == NOW and got[2].published == NOW


def test_entity_encoded_titles_are_decoded() -> None:
    body = b"""<rss version="2.0"><channel>
    <item><title>Caf&amp;eacute; &amp;#8220;CCTV&amp;#8221;</title><link>http://x.example/1</link></item>
    <item><title>AT&amp;amp;amp;T</title><link>http://x.example/2</link></item>
    <item><title><![CDATA[Police &amp; <b>crime</b>]]></title><link>http://x.example/3</link></item>
    </channel></rss>"""
    got = entries(parse_feed(body, url=URL, headers={}, source_id="s"))
    assert [e.title for e in got] == ["Café “CCTV”", "AT&T", "Police & crime"]


def test_atom_plain_text_summary_keeps_its_characters() -> None:
    body = b"""<feed xmlns="http://www.w3.org/2005/Atom"><entry><title>t</title>
    <link href="http://x.example/1"/><id>1</id><updated>2024-01-01T00:00:00Z</updated>
    <summary type="text">5 &lt; 6 &amp; &lt;b&gt;not bold&lt;/b&gt;</summary></entry></feed>"""
    (e,) = entries(parse_feed(body, url=URL, headers={}, source_id="s"))
    assert e.summary_text == "5 < 6 & <b>not bold</b>"
    assert "<b>" not in e.summary_html


def test_links_fall_back_to_alternates_and_permalink_guids() -> None:
    body = b"""<rss version="2.0"><channel>
    <item><title>guid</title><guid>https://x.example/by-guid</guid></item>
    <item><title>not a permalink</title><guid isPermaLink="false">https://x.example/opaque</guid></item>
    </channel></rss>"""
    parsed = parse_feed(body, url=URL, headers={}, source_id="s")
    assert parsed.entries[0].link == "https://x.example/by-guid"
    assert parsed.entries[1].link == "https://x.example/opaque"  # an http(s) guid is still a link


# --------------------------------------------------------------------------- dispatch


def _fetched(body: bytes, content_type: str, url: str = URL, status: int = 200) -> Fetched:
    return Fetched(
        source_id="s", url=url, status=status, headers={"content-type": content_type}, content=body
    )


def test_parse_dispatches_on_kind() -> None:
    rss = b"<rss version='2.0'><channel><item><title>t</title><link>http://x.example/1</link></item></channel></rss>"
    src = Source(id="s", name="S", url=URL)
    assert parse(_fetched(rss, "application/rss+xml"), src).entries[0].title == "t"
    page = b"<html><body><article><h2><a href='/a1'>Story one</a></h2></article></body></html>"
    src_page = Source(id="s", name="S", url=URL, kind="page")
    assert (
        parse(_fetched(page, "text/html"), src_page).entries[0].link
        == "https://feeds.example.org/a1"
    )
    crossref = b'{"status":"ok","message-type":"work-list","message":{"items":[{"title":["T"],"URL":"https://doi.org/10.1/x"}]}}'
    src_cr = Source(id="s", name="S", url=URL, kind="crossref", category="research")
    assert (
        parse(_fetched(crossref, "application/json"), src_cr).entries[0].link
        == "https://doi.org/10.1/x"
    )
    many = (
        b"<rss version='2.0'><channel>"
        + b"<item><title>t</title></item>" * 10
        + b"</channel></rss>"
    )
    assert len(parse(_fetched(many, "application/rss+xml"), src, max_entries=3).entries) == 3


def test_parse_refuses_a_304() -> None:
    with pytest.raises(ValueError, match="304"):
        parse(_fetched(b"", "", status=304), Source(id="s", name="S", url=URL))


@needs_corpus
def test_arxiv_kind_reads_the_atom_answer() -> None:
    src = Source(
        id="arxiv",
        name="arXiv",
        url="http://export.arxiv.org/api/query?search_query=all:cctv",
        kind="arxiv",
    )
    parsed = parse(
        _fetched(
            corpus("arxiv.py__api-response__search_query_au_del_maestro.xml"),
            "application/atom+xml",
        ),
        src,
    )
    assert len(parsed.entries) == 10
    assert all(e.link and e.link.startswith("http://arxiv.org/abs/") for e in parsed.entries)


def test_arxiv_error_answer_is_a_parse_error() -> None:
    body = b"""<?xml version="1.0" encoding="UTF-8"?>
<feed xmlns="http://www.w3.org/2005/Atom"><title>ArXiv Query: search_query=&amp;id_list=bad</title>
<id>http://arxiv.org/api/x</id><updated>2024-01-01T00:00:00-05:00</updated>
<entry><id>http://arxiv.org/api/errors#incorrect_id_format_for_bad</id><title>Error</title>
<summary>incorrect id format for bad</summary><updated>2024-01-01T00:00:00-05:00</updated>
<link href="http://arxiv.org/api/errors#incorrect_id_format_for_bad" rel="alternate"/>
</entry></feed>"""
    src = Source(
        id="arxiv", name="arXiv", url="http://export.arxiv.org/api/query?id_list=bad", kind="arxiv"
    )
    with pytest.raises(
        ParseError, match="arXiv API refused the query: incorrect id format for bad"
    ):
        parse(_fetched(body, "application/atom+xml"), src)
