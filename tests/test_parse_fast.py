"""curator.parse.fast: the ElementTree fast path gives exactly what the feedparser path gives.

Every document is parsed twice through :func:`curator.parse.parse_feed`: as it runs (fast path
first) and with the fast path switched off (feedparser only); where the fast path took the
document the two ParsedFeeds must be equal, field by field.  The corpus (../shared/corpus,
CURATOR_CORPUS overrides) covers real feeds, crafted documents the rest, and a seeded random
generator the combinations neither thinks of.
"""

from __future__ import annotations

import dataclasses
import os
import random
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from unittest import mock
from xml.sax.saxutils import escape

import pytest
from feedparser.datetimes import _parse_date

import curator.parse.feed as feed_module
from curator.exceptions import ParseError
from curator.parse import fast, parse_feed
from curator.parse._common import from_struct
from curator.types import ParsedFeed

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))
from farm import make_feed

CORPUS = Path(
    os.environ.get("CURATOR_CORPUS", Path(__file__).resolve().parents[2] / "shared" / "corpus")
)
URL = "https://feeds.example.org/news/feed.xml"
# Skipped where the corpus is missing, but never in CI: there it must be present and tested.
needs_corpus = pytest.mark.skipif(
    not (CORPUS / "MANIFEST.tsv").exists() and not os.environ.get("CI"),
    reason="no feed corpus (../shared/corpus or CURATOR_CORPUS)",
)
CORPUS_FILES = sorted((CORPUS / "feeds").iterdir()) if (CORPUS / "feeds").is_dir() else []
# 202 of the 367 corpus files took the fast path when this was written (0 differences); the
# rest are RSS 1.0, Atom 0.3, xml:base, JSON, other encodings and ill-formed XML.
FAST_FLOOR = 195

Outcome = ParsedFeed | str  # a ParseError's message


def _parse(content: bytes, url: str, headers: Mapping[str, str]) -> Outcome:
    try:
        return parse_feed(content, url=url, headers=headers, source_id="src")
    except ParseError as e:
        return str(e)


@contextmanager
def _fast_path(enabled: bool) -> Iterator[list[bool]]:
    """Patch the fast path in parse_feed: off, or on and recording whether it took the body."""
    took: list[bool] = []

    def spy(content: bytes, *, url: str, charset: str | None) -> object:
        if not enabled:
            return None
        result = fast.parse_fast(content, url=url, charset=charset)
        took.append(result is not None)
        return result

    with mock.patch.object(feed_module, "parse_fast", spy):
        yield took


def both(
    content: bytes, url: str = URL, headers: Mapping[str, str] | None = None
) -> tuple[bool, Outcome, Outcome]:
    """(fast path taken, parse_feed as it runs, parse_feed through feedparser only)."""
    with _fast_path(True) as took:
        quick = _parse(content, url, headers or {})
    with _fast_path(False):
        slow = _parse(content, url, headers or {})
    return any(took), quick, slow


def differences(a: Outcome, b: Outcome) -> list[str]:
    if isinstance(a, str) or isinstance(b, str):
        return [] if a == b else [f"{a!r} != {b!r}"]
    out = [
        f"{name}: {getattr(a, name)!r} != {getattr(b, name)!r}"
        for name in ("title", "link", "warning")
        if getattr(a, name) != getattr(b, name)
    ]
    if len(a.entries) != len(b.entries):
        out.append(f"{len(a.entries)} entries != {len(b.entries)}")
    for i, (x, y) in enumerate(zip(a.entries, b.entries, strict=False)):
        for f in dataclasses.fields(x):
            vx, vy = getattr(x, f.name), getattr(y, f.name)
            if vx != vy:
                out.append(f"entries[{i}].{f.name}: {vx!r} != {vy!r}")
    return out


def assert_same(
    content: bytes, url: str = URL, headers: Mapping[str, str] | None = None, *, fast_path: bool
) -> ParsedFeed:
    took, quick, slow = both(content, url, headers)
    assert took is fast_path, "fast path taken" if took else "fell back to feedparser"
    diff = differences(quick, slow)
    assert not diff, "fast path != feedparser:\n  " + "\n  ".join(diff[:20])
    assert isinstance(quick, ParsedFeed)
    return quick


def reason(content: bytes, charset: str | None = None) -> str | None:
    """Why the fast path refuses *content* (None: it takes it)."""
    try:
        fast.read_fast(content, url=URL, charset=charset)
    except fast.Unsupported as e:
        return str(e)
    return None


# --------------------------------------------------------------------------- the corpus


@needs_corpus
@pytest.mark.parametrize("path", CORPUS_FILES, ids=[p.name for p in CORPUS_FILES])
def test_corpus_fast_path_equals_feedparser(path: Path) -> None:
    took, quick, slow = both(path.read_bytes(), "https://feeds.example.org/" + path.name)
    if took:
        diff = differences(quick, slow)
        assert not diff, "fast path != feedparser:\n  " + "\n  ".join(diff[:20])


@needs_corpus
def test_most_of_the_corpus_takes_the_fast_path() -> None:
    taken = []
    for path in CORPUS_FILES:
        with _fast_path(True) as took:
            _parse(path.read_bytes(), URL, {})
        if any(took):
            taken.append(path.name)
    assert len(taken) >= FAST_FLOOR, f"only {len(taken)} corpus feeds took the fast path"
    for name in (  # plain, well-formed RSS 2.0 and Atom 1.0 from real sites
        "rss-parser__guardian.rss",
        "feed-rs__rss2__rss_2.0_bbc.xml",
        "NetNewsWire__RSParser__allthis.atom",
        "miniflux__large_atom.xml",
        "rss-parser__giantbomb-podcast.rss",
    ):
        assert name in taken, name


@needs_corpus
@pytest.mark.parametrize(
    ("name", "why"),
    [
        ("kurtmckee-feedparser__docs-example__rss10.rdf", "root element"),
        ("kurtmckee-feedparser__docs-example__atom03.xml", "Atom other than 1.0"),
        ("feed-rs__atom__atom_xml_base.xml", "xml:base"),
        ("miniflux__encoding_WINDOWS-1251.xml", "encoding"),
        ("FeedKit__Ampersand.xml", "not well-formed"),
        ("kurtmckee-feedparser__wellformed__rdf__doctype_contains_entity_decl.xml", "DOCTYPE"),
    ],
)
def test_corpus_documents_outside_the_subset_fall_back(name: str, why: str) -> None:
    content = (CORPUS / "feeds" / name).read_bytes()
    assert why in (reason(content) or "")
    assert not both(content)[0]


# --------------------------------------------------------------------------- the benchmark farm


@pytest.mark.parametrize("i", [0, 1, 7, 42, 499])
def test_farm_feeds_take_the_fast_path(i: int) -> None:
    parsed = assert_same(make_feed(i), "http://127.0.0.1:8000/feed/1.xml", fast_path=True)
    assert len(parsed.entries) == 50
    assert parsed.entries[0].published is not None
    assert parsed.entries[0].authors and parsed.entries[0].tags == ("News",)


# --------------------------------------------------------------------------- crafted documents


def rss(
    items: str, ns: str = "", channel: str = "<title>T</title><link>https://ex.org/</link>"
) -> bytes:
    return (
        f'<?xml version="1.0" encoding="utf-8"?><rss version="2.0"{ns}><channel>{channel}'
        f"{items}</channel></rss>"
    ).encode()


def atom(entries: str, ns: str = "") -> bytes:
    return (
        '<?xml version="1.0" encoding="utf-8"?><feed xmlns="http://www.w3.org/2005/Atom"'
        f'{ns}><title>A</title><link href="https://ex.org/"/><id>urn:x</id>{entries}</feed>'
    ).encode()


BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE rss [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">
<!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;"><!ENTITY d "&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;">]>
<rss version="2.0"><channel><title>&d;</title><item><title>x</title>
<link>https://ex.org/1</link></item></channel></rss>"""
XXE = b"""<?xml version="1.0"?><!DOCTYPE rss [<!ENTITY x SYSTEM "file:///etc/passwd">]>
<rss version="2.0"><channel><item><title>&x;</title><link>https://ex.org/1</link></item>
</channel></rss>"""


@pytest.mark.parametrize("content", [BILLION_LAUGHS, XXE], ids=["billion-laughs", "xxe"])
def test_doctype_and_entities_go_to_feedparser(content: bytes) -> None:
    assert "DOCTYPE" in (reason(content) or "")
    took, quick, _ = both(content)
    assert not took
    assert not isinstance(quick, str) and "root:" not in repr(quick)


def test_cdata_description() -> None:
    parsed = assert_same(
        rss(
            "<item><title>T</title><link>https://ex.org/a</link>"
            "<description><![CDATA[<p>Hello <b>world</b> &amp; more</p>]]></description></item>"
        ),
        fast_path=True,
    )
    assert parsed.entries[0].summary == "<p>Hello <b>world</b> &amp; more</p>"


@pytest.mark.parametrize("prefix", ["content", "c"])
def test_namespaced_content_encoded(prefix: str) -> None:
    ns = f' xmlns:{prefix}="http://purl.org/rss/1.0/modules/content/"'
    parsed = assert_same(
        rss(
            "<item><title>T</title><link>https://ex.org/a</link><description>short</description>"
            f"<{prefix}:encoded><![CDATA[<p>full</p>]]></{prefix}:encoded></item>"
            "<item><title>U</title><link>https://ex.org/b</link>"
            f"<{prefix}:encoded>&lt;p&gt;only&lt;/p&gt;</{prefix}:encoded></item>",
            ns,
        ),
        fast_path=True,
    )
    assert (parsed.entries[0].summary, parsed.entries[0].content) == ("short", "<p>full</p>")
    assert (parsed.entries[1].summary, parsed.entries[1].content) == (None, "<p>only</p>")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Tue, 10 Jun 2003 04:00:00 EST", datetime(2003, 6, 10, 9, 0, tzinfo=UTC)),
        ("Tue, 10 Jun 2003 04:00:00 EDT", datetime(2003, 6, 10, 8, 0, tzinfo=UTC)),
        ("Thu, 01 Jan 2015 12:00:00 +0530", datetime(2015, 1, 1, 6, 30, tzinfo=UTC)),
        ("Sat, 07 Sep 2002 00:00:01 GMT", datetime(2002, 9, 7, 0, 0, 1, tzinfo=UTC)),
        ("7 Sep 2002 00:00:01 -0800", datetime(2002, 9, 7, 8, 0, 1, tzinfo=UTC)),
        ("Mon, 06 Sep 2010 12:00:00 GMT+01:00", datetime(2010, 9, 6, 11, 0, tzinfo=UTC)),
        ("Mon, 06 Sep 2010 12:00:00 GMT+1", None),  # feedparser reads no date from it
        ("Mon, 31 Sep 2002 08:00:00 GMT", None),  # no such day: feedparser gives up too
        ("2003-12-13T18:30:02+01:00", datetime(2003, 12, 13, 17, 30, 2, tzinfo=UTC)),
        ("2003-12-13T18:30:02.25Z", datetime(2003, 12, 13, 18, 30, 2, tzinfo=UTC)),
        ("2003-12-13", datetime(2003, 12, 13, tzinfo=UTC)),
        ("yesterday", None),
    ],
)
def test_dates_in_odd_zones(text: str, expected: datetime | None) -> None:
    parsed = assert_same(
        rss(f"<item><title>T</title><link>https://ex.org/a</link><pubDate>{text}</pubDate></item>"),
        fast_path=True,
    )
    assert parsed.entries[0].published == expected
    assert from_struct(fast.parse_date(text)) == expected


def test_dc_date_and_atom_dates() -> None:
    ns = ' xmlns:dc="http://purl.org/dc/elements/1.1/"'
    parsed = assert_same(
        rss(
            "<item><title>T</title><link>https://ex.org/a</link>"
            "<dc:date>2024-02-29T23:30:00-05:00</dc:date></item>",
            ns,
        ),
        fast_path=True,
    )
    assert parsed.entries[0].updated == datetime(2024, 3, 1, 4, 30, tzinfo=UTC)
    parsed = assert_same(
        atom(
            "<entry><title>E</title><id>urn:e</id><link href='https://ex.org/e'/>"
            "<published>2024-01-02T03:04:05Z</published><updated>2024-01-03T00:00:00+02:00"
            "</updated></entry>"
        ),
        fast_path=True,
    )
    e = parsed.entries[0]
    assert e.published == datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC)
    assert e.updated == datetime(2024, 1, 2, 22, 0, tzinfo=UTC)


def test_atom_xhtml_content_and_title() -> None:
    parsed = assert_same(
        atom(
            '<entry><title type="xhtml"><div xmlns="http://www.w3.org/1999/xhtml">An '
            "<em>xhtml</em> title</div></title><id>urn:e</id>"
            '<link rel="alternate" type="text/html" href="/e1"/>'
            '<content type="xhtml"><div xmlns="http://www.w3.org/1999/xhtml">'
            '<p class="x">One &amp; <a href="/rel">two</a></p><br/></div></content>'
            '<summary type="html">&lt;b&gt;sum&lt;/b&gt;</summary></entry>'
        ),
        fast_path=True,
    )
    e = parsed.entries[0]
    assert e.title == "An <em>xhtml</em> title"
    assert e.content == '<p class="x">One &amp; <a href="/rel">two</a></p><br></br>'
    assert e.summary == "<b>sum</b>"
    assert e.link == "https://feeds.example.org/e1"


def test_empty_title_and_link_rules() -> None:
    parsed = assert_same(
        rss(
            "<item><title></title><guid>https://ex.org/guid-is-link</guid></item>"
            '<item><title>  </title><guid isPermaLink="false">not-a-link</guid>'
            "<link>/relative</link></item>"
            "<item><title>FB</title><link>https://feedproxy.example/x</link>"
            "<feedburner:origLink>https://ex.org/orig</feedburner:origLink></item>",
            ' xmlns:feedburner="http://rssnamespace.org/feedburner/ext/1.0"',
        ),
        fast_path=True,
    )
    first, second, third = parsed.entries
    assert (first.title, first.link) == (None, "https://ex.org/guid-is-link")
    assert (second.title, second.link, second.guid) == (
        None,
        "https://feeds.example.org/relative",
        "not-a-link",
    )
    assert third.link == "https://ex.org/orig"


def test_authors_tags_and_unknown_namespaces() -> None:
    parsed = assert_same(
        rss(
            "<item><title>T</title><link>https://ex.org/a</link>"
            "<author>jo@example.com (Jo Bloggs)</author><dc:creator>Second</dc:creator>"
            '<category domain="d">One</category><dc:subject>Two</dc:subject>'
            '<media:category scheme="s">Three</media:category>'
            "<x:thing>ignored</x:thing><x:other a='1'>ignored</x:other></item>",
            ' xmlns:dc="http://purl.org/dc/elements/1.1/"'
            ' xmlns:media="http://search.yahoo.com/mrss/" xmlns:x="http://example.com/x"',
        ),
        fast_path=True,
    )
    e = parsed.entries[0]
    assert e.authors == ("Jo Bloggs", "Second")
    assert e.tags == ("One", "Two", "Three")


@pytest.mark.parametrize(
    ("content", "headers", "taken"),
    [
        ('<?xml version="1.0" encoding="iso-8859-1"?>', {}, True),
        ('<?xml version="1.0" encoding="us-ascii"?>', {}, True),
        ('<?xml version="1.0" encoding="windows-1252"?>', {}, False),
        ('<?xml version="1.0" encoding="koi8-r"?>', {}, False),
        (
            '<?xml version="1.0" encoding="utf-8"?>',
            {"content-type": "application/rss+xml; charset=ISO-8859-1"},
            True,
        ),
    ],
)
def test_encodings(content: str, headers: dict[str, str], taken: bool) -> None:
    body = (
        content + '<rss version="2.0"><channel><title>Caf\xe9 \x93q\x94</title><item>'
        "<title>T\xe9</title><link>https://ex.org/a</link></item></channel></rss>"
    ).encode("latin-1")
    if "ascii" in content:
        body = body.replace(b"\xe9", b"&#233;").replace(b"\x93", b"").replace(b"\x94", b"")
    assert_same(body, headers=headers, fast_path=taken)


@pytest.mark.parametrize(
    "content",
    [
        b"<rss version='2.0'><channel xml:base='https://b.example/'><item><title>T</title>"
        b"<link>x</link></item></channel></rss>",
        b'<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#" '
        b'xmlns="http://purl.org/rss/1.0/"><channel><title>T</title></channel></rdf:RDF>',
        b'<feed version="0.3" xmlns="http://purl.org/atom/ns#"><title>T</title></feed>',
        b"<rss version='2.0'><item><title>no channel</title></rss>",
        b"<rss version='2.0'><channel><item><title>&nbsp;</title></item></channel></rss>",
        b'<rss version="2.0"><channel><item><georss:point xmlns:georss='
        b'"http://www.georss.org/georss">1 2</georss:point></item></channel></rss>',
    ],
    ids=["xml-base", "rss10", "atom03", "no-channel", "html-entity", "georss"],
)
def test_unusual_documents_fall_back(content: bytes) -> None:
    assert reason(content) is not None
    took, quick, slow = both(content)
    assert not took
    assert not differences(quick, slow)


def test_dates_agree_with_feedparser() -> None:
    rng = random.Random(5)
    days, months = ["", "Mon, ", "Thu, ", "Sat, "], ["Jan", "Feb", "Sep", "Oct", "Dec"]
    zones = ["GMT", "UT", "Z", "EST", "EDT", "PST", "CEST", "A", "+0000", "+0530", "-0800", "-1200"]
    for _ in range(3000):
        day = rng.choice(["1", "07", "28", "29", "30", "31", "00"])
        year = rng.choice(["1999", "2024", "2100", "0001", "9999"])
        hms = rng.choice(["00:00:00", "23:59:59", "12:30:45", "24:00:00", "23:59:60"])
        rfc = f"{rng.choice(days)}{day} {rng.choice(months)} {year} {hms} {rng.choice(zones)}"
        iso = (
            f"{year}-{rng.choice(['01', '02', '12', '13'])}-{day.zfill(2)}T{hms}"
            f"{rng.choice(['', '.5', '.123456789'])}"
            f"{rng.choice(['Z', '+00:00', '+05:30', '-09:00', '+14:00'])}"
        )
        for text in (rfc, iso):
            assert fast.parse_date(text) == _parse_date(text), text


# --------------------------------------------------------------------------- generated documents

_NS = (
    ' xmlns:dc="http://purl.org/dc/elements/1.1/"'
    ' xmlns:content="http://purl.org/rss/1.0/modules/content/"'
    ' xmlns:media="http://search.yahoo.com/mrss/" xmlns:atom="http://www.w3.org/2005/Atom"'
    ' xmlns:itunes="http://www.itunes.com/dtds/podcast-1.0.dtd" xmlns:x="http://example.com/x"'
    ' xmlns:feedburner="http://rssnamespace.org/feedburner/ext/1.0"'
)
_TEXTS = [
    "plain",
    " spaced\n ",
    "AT&amp;T",
    "&lt;b&gt;bold&lt;/b&gt;",
    "<![CDATA[<p>para <a href='/x'>l</a></p>]]>",
    "caf\u00e9 \u00c3\u00a9 \u0092",
    "",
    "<b>inline</b> element",
]
_LINKS = ["https://ex.org/a?b=1&amp;c=2", "/rel/x", "rel", "", "tag:ex.org,2024:1", "  https://s/ "]
_DATES = ["Sat, 07 Sep 2002 00:00:01 GMT", "2003-12-13T18:30:02+01:00", "bad", "", "2003-12-13"]


def _random_children(rng: random.Random, atom_entry: bool) -> str:
    t, lk, d = rng.choice(_TEXTS), escape(rng.choice(_LINKS)), rng.choice(_DATES)
    rss_kids = [
        f"<title>{t}</title>",
        f"<link>{lk}</link>",
        f'<guid isPermaLink="{rng.choice(["true", "false"])}">{lk}</guid>',
        f"<description>{t}</description>",
        f"<content:encoded>{t}</content:encoded>",
        f"<pubDate>{d}</pubDate>",
        f"<dc:date>{d}</dc:date>",
        f"<dc:creator>{t}</dc:creator>",
        f"<author>{rng.choice(['a@b.co (Al)', 'Al', ''])}</author>",
        f"<category>{t}</category>",
        f"<media:title>{t}</media:title>",
        f"<media:group><media:description>{t}</media:description></media:group>",
        f"<itunes:summary>{t}</itunes:summary>",
        f'<atom:link rel="{rng.choice(["alternate", "self"])}" href="{lk}"/>',
        f"<feedburner:origLink>{lk}</feedburner:origLink>",
        f"<x:thing>{t}</x:thing>",
        f'<source url="https://s.example/">{t}</source>',
        '<enclosure url="https://ex.org/a.mp3" type="audio/mpeg"/>',
    ]
    atom_kids = [
        f'<title type="{rng.choice(["text", "html"])}">{t}</title>',
        f'<link rel="{rng.choice(["alternate", "related", "enclosure"])}" href="{lk}"/>',
        f"<id>{lk}</id>",
        f"<updated>{d}</updated>",
        f"<published>{d}</published>",
        "<author><name>N</name><email>n@e.co</email></author>",
        f'<category term="{rng.choice(["t", ""])}" label="{rng.choice(["L", ""])}"/>',
        f'<summary type="{rng.choice(["text", "html"])}">{t}</summary>',
        f'<content type="{rng.choice(["text", "html"])}">{t}</content>',
        '<content type="xhtml"><div xmlns="http://www.w3.org/1999/xhtml"><p>x</p></div></content>',
    ]
    kids = atom_kids if atom_entry else rss_kids
    return "".join(rng.choice(kids) for _ in range(rng.randint(0, 8)))


@pytest.mark.parametrize("seed", range(0, 400, 50))
def test_generated_documents(seed: int) -> None:
    for s in range(seed, seed + 50):
        rng = random.Random(s)
        if rng.random() < 0.5:
            items = "".join(f"<item>{_random_children(rng, False)}</item>" for _ in range(3))
            content = rss(items, _NS)
        else:
            entries = "".join(f"<entry>{_random_children(rng, True)}</entry>" for _ in range(3))
            content = atom(entries, _NS.replace(' xmlns:atom="http://www.w3.org/2005/Atom"', ""))
        _, quick, slow = both(content)
        diff = differences(quick, slow)
        assert not diff, f"seed {s}: " + "\n  ".join(diff[:20])
