"""curator.normalize: URL identity, text and HTML cleaning, dates, RawEntry → Entry."""

from __future__ import annotations

import html
import re
from datetime import UTC, datetime, timedelta, timezone
from typing import Any
from urllib.parse import urljoin, urlsplit

import feedparser
import pytest

from curator.normalize import (
    SUMMARY_HTML_MAX,
    SUMMARY_TEXT_MAX,
    TITLE_MAX,
    _cut_point,
    canonical_url,
    clean_title,
    clean_url,
    document_url,
    html_to_text,
    item_id,
    normalize,
    sanitize_html,
    tex_accents,
    title_key,
)
from curator.types import Entry, RawEntry

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
FEED = "https://feeds.example.org/news/rss.xml"


def norm(**fields: Any) -> Entry | None:
    raw = RawEntry(**{"title": "A title", "link": "https://example.org/a", **fields})
    return normalize(raw, source_id="src", feed_url=FEED, now=NOW)


# --------------------------------------------------------------------------- canonical_url

CANONICAL_CASES = [
    ("lower-case scheme and host", "HTTP://Example.COM/Path", "http://example.com/Path"),
    ("default http port", "http://example.com:80/a", "http://example.com/a"),
    ("default https port", "https://example.com:443/a", "https://example.com/a"),
    ("other port kept", "https://example.com:8443/a", "https://example.com:8443/a"),
    ("comments anchor dropped", "https://example.com/a#comments", "https://example.com/a"),
    ("top anchor dropped", "https://example.com/a#top", "https://example.com/a"),
    ("read-more anchor dropped", "https://example.com/a/#more-1234", "https://example.com/a/"),
    ("empty fragment dropped", "https://example.com/a#", "https://example.com/a"),
    ("text fragment dropped", "https://example.com/a#:~:text=CCTV", "https://example.com/a"),
    ("text directive cut", "https://example.com/a#s2:~:text=CCTV", "https://example.com/a#s2"),
    ("xtor fragment dropped", "https://example.fr/a#xtor=RSS-8", "https://example.fr/a"),
    (
        "IDG fragment dropped",
        "https://www.macworld.com/a.html#tk.rss_all",
        "https://www.macworld.com/a.html",
    ),
    (
        "utm in fragment dropped",
        "https://example.com/a#x=1&utm_source=rss",
        "https://example.com/a#x=1",
    ),
    (
        "post anchor kept",
        "http://scripting.com/2017/06/26.html#a080605",
        "http://scripting.com/2017/06/26.html#a080605",
    ),
    ("fragment case kept", "https://example.com/a#Section2", "https://example.com/a#Section2"),
    (
        "fragment escaped",
        "https://example.com/a#caf\u00e9 2",
        "https://example.com/a#caf%C3%A9%202",
    ),
    ("hashbang route kept", "https://example.com/#!/story/5", "https://example.com/#!/story/5"),
    ("empty path is /", "https://example.com", "https://example.com/"),
    ("trailing ? dropped", "https://example.com/a?", "https://example.com/a"),
    ("query sorted", "https://example.com/a?b=2&a=1&c=3", "https://example.com/a?a=1&b=2&c=3"),
    (
        "utm_* removed",
        "https://example.com/a?utm_source=rss&utm_medium=feed&UTM_Campaign=x&id=7",
        "https://example.com/a?id=7",
    ),
    (
        "click ids removed",
        "https://example.com/a?fbclid=1&gclid=2&dclid=3&msclkid=4&mc_cid=5&mc_eid=6&_ga=7&igshid=8",
        "https://example.com/a",
    ),
    (
        "publisher campaign ids removed",
        "https://www.theguardian.com/uk/x?CMP=share_btn_tw&ref_src=twsrc&ocid=rss&cmpid=1",
        "https://www.theguardian.com/uk/x",
    ),
    (
        "BBC at_* and ns_* removed",
        "https://www.bbc.co.uk/news/uk-1?at_medium=RSS&at_campaign=KARANGA&ns_mchannel=social"
        "&ns_source=twitter&ns_campaign=bbc&ns_linkname=news&ns_fee=0",
        "https://www.bbc.co.uk/news/uk-1",
    ),
    ("only tracking → no ?", "https://example.com/a?utm_source=x", "https://example.com/a"),
    ("empty pieces dropped", "https://example.com/a?b=2&&a=1&", "https://example.com/a?a=1&b=2"),
    ("path case kept", "https://example.com/CaseSensitive", "https://example.com/CaseSensitive"),
    ("trailing dot in host", "https://example.com./a", "https://example.com/a"),
    ("spaces escaped", "https://example.com/a b", "https://example.com/a%20b"),
    ("non-ASCII path escaped", "https://example.com/café", "https://example.com/caf%C3%A9"),
    ("IDN host to punycode", "https://Bücher.de/x", "https://xn--bcher-kva.de/x"),
    ("IPv6 default port", "http://[::1]:80/x", "http://[::1]/x"),
    ("surrounding whitespace", "  https://example.com/a\n", "https://example.com/a"),
    (
        "google /url?url=",
        "https://www.google.com/url?rct=j&sa=t&url=https%3A%2F%2Fnews.example.org%2Fstory%3Fid%3D5"
        "&ct=ga&usg=AOv",
        "https://news.example.org/story?id=5",
    ),
    (
        "google /url?q= on a country domain",
        "https://www.google.co.uk/url?q=https://police.example.uk/cctv&sa=U",
        "https://police.example.uk/cctv",
    ),
    (
        "news.google.com with a url parameter",
        "https://news.google.com/news/url?sa=t&fd=R&url=https://example.org/a%3Futm_source%3Dgn",
        "https://example.org/a",
    ),
    (
        "news.google.com opaque article link kept",
        "https://news.google.com/rss/articles/CBMiXGh0dHBz?oc=5",
        "https://news.google.com/rss/articles/CBMiXGh0dHBz?oc=5",
    ),
    (
        "bing news apiclick",
        "http://www.bing.com/news/apiclick.aspx?ref=FexRss&aid=&tid=abc"
        "&url=https%3a%2f%2fwww.bbc.co.uk%2fnews%2fuk-1&c=123&mkt=en-gb",
        "https://www.bbc.co.uk/news/uk-1",
    ),
    (
        "duckduckgo l/?uddg=",
        "https://duckduckgo.com/l/?uddg=https%3A%2F%2Fa.example%2Fp%3Fx%3D1&rut=abc",
        "https://a.example/p?x=1",
    ),
    (
        "redirector with a non-http target kept",
        "https://www.google.com/url?q=javascript:alert(1)",
        "https://www.google.com/url?q=javascript:alert(1)",
    ),
    ("t.co not unwrapped", "https://t.co/AbC123", "https://t.co/AbC123"),
    (
        "feedproxy not unwrapped",
        "http://feedproxy.google.com/~r/Techcrunch/~3/kTeeGj4FnwU/",
        "http://feedproxy.google.com/~r/Techcrunch/~3/kTeeGj4FnwU/",
    ),
]


@pytest.mark.parametrize(
    ("url", "expected"), [c[1:] for c in CANONICAL_CASES], ids=[c[0] for c in CANONICAL_CASES]
)
def test_canonical_url(url: str, expected: str) -> None:
    assert canonical_url(url) == expected


@pytest.mark.parametrize(("url", "expected"), [c[1:] for c in CANONICAL_CASES])
def test_canonical_url_is_idempotent(url: str, expected: str) -> None:
    assert canonical_url(canonical_url(url)) == canonical_url(url)


@pytest.mark.parametrize(
    "junk", ["", "not a url", "http://[::1", "http://example.com:port/x", "\x00\x01"]
)
def test_canonical_url_never_raises(junk: str) -> None:
    assert isinstance(canonical_url(junk), str)


def test_clean_url_keeps_order_and_fragment_but_drops_tracking() -> None:
    url = "https://Example.com/a?b=2&utm_source=x&a=1#part"
    assert clean_url(url) == "https://Example.com/a?b=2&a=1#part"
    assert clean_url("https://duckduckgo.com/l/?uddg=https%3A%2F%2Fa.example%2Fp") == (
        "https://a.example/p"
    )


def test_entries_sharing_a_page_keep_distinct_identities() -> None:
    """One page per day, one anchor per post: each post is its own item."""
    a = canonical_url("http://scripting.com/2017/06/26.html#a080605")
    b = canonical_url("http://scripting.com/2017/06/26.html#a030658")
    assert a != b and item_id(a) != item_id(b)
    assert document_url(a) == document_url(b) == "http://scripting.com/2017/06/26.html"
    assert document_url("https://example.com/a?x=1") == "https://example.com/a?x=1"


def test_item_id_is_16_hex_and_follows_the_canonical_url() -> None:
    a = item_id(canonical_url("https://Example.com/a?utm_source=x&b=1#top"))
    b = item_id(canonical_url("https://example.com:443/a?b=1"))
    assert a == b
    assert re.fullmatch(r"[0-9a-f]{16}", a)
    assert item_id("https://example.com/a") != item_id("https://example.com/b")


# --------------------------------------------------------------------------- title_key

TITLE_KEY_CASES = [
    (
        "Police roll out live facial recognition - BBC News",
        "police roll out live facial recognition",
    ),
    (
        "Police roll out live facial recognition | The Guardian",
        "police roll out live facial recognition",
    ),
    (
        "Police roll out live facial recognition – Police Professional",
        "police roll out live facial recognition",
    ),
    ("POLICE Roll-Out: LIVE facial recognition!", "police roll out live facial recognition"),
    ("  Spaces\tand\nnewlines  ", "spaces and newlines"),
    ("CCTV - the future", "cctv the future"),  # too little title left to drop a suffix
    ("Straße ÜBER Cafés", "strasse über cafés"),
    ("Ｆｕｌｌ　ｗｉｄｔｈ ＣＣＴＶ", "full width cctv"),
    ("Title - with - many - dashes - Site", "title with many dashes"),
    ("", ""),
]


@pytest.mark.parametrize(("title", "expected"), TITLE_KEY_CASES)
def test_title_key(title: str, expected: str) -> None:
    assert title_key(title) == expected


def test_title_key_same_story_from_two_publishers() -> None:
    a = title_key("Met Police expands use of live facial recognition - BBC News")
    b = title_key("Met police expands use of live facial recognition | Evening Standard")
    assert a == b


# --------------------------------------------------------------------------- titles and text

TITLE_CASES = [
    ("entity", "AT&amp;T sells CCTV", "AT&T sells CCTV"),
    ("twice-escaped entity", "AT&amp;amp;T", "AT&T"),
    ("numeric entities", "&#8220;Quoted&#8221; &#x2014; done", "“Quoted” — done"),
    ("named entity", "Caf&eacute;", "Café"),
    ("tags stripped", "<b>Bold</b> <i>move</i>", "Bold move"),
    ("escaped tags stripped", "&lt;b&gt;Bold&lt;/b&gt; move", "Bold move"),
    ("script and its content removed", "<script>alert(1)</script>Real title", "Real title"),
    ("escaped script removed", "&lt;script&gt;alert(1)&lt;/script&gt;Title", "Title"),
    ("comparison survives", "a < b and c > d", "a < b and c > d"),
    ("whitespace collapsed", "  many\n\t spaces  ", "many spaces"),
    ("bidi override removed", "safe\u202etxt.exe", "safetxt.exe"),
    ("control characters removed", "bell\x07 and null\x00", "bell and null"),
]


@pytest.mark.parametrize(
    ("raw", "expected"), [c[1:] for c in TITLE_CASES], ids=[c[0] for c in TITLE_CASES]
)
def test_clean_title(raw: str, expected: str) -> None:
    assert clean_title(raw) == expected


def test_clean_title_caps_at_500_on_a_word_boundary() -> None:
    title = clean_title("word " * 300)
    assert TITLE_MAX - 5 <= len(title) <= TITLE_MAX
    assert title.endswith("word…")


def test_html_to_text_keeps_block_boundaries_and_decodes() -> None:
    text = html_to_text("<p>One</p><p>Two&amp;three</p><ul><li>a</li><li>b</li></ul>x<br>y")
    assert text == "One\n\nTwo&three\n\na\n\nb\n\nx\n\ny"
    assert html_to_text("<style>p{}</style><script>bad()</script>ok") == "ok"
    assert html_to_text("") == ""


def test_html_to_text_caps_on_a_word_boundary() -> None:
    text = html_to_text("<p>" + "lorem ipsum " * 500 + "</p>")
    assert SUMMARY_TEXT_MAX - 6 <= len(text) <= SUMMARY_TEXT_MAX
    assert text.endswith("…")
    assert not text[:-1].endswith(" ")
    assert text[:-1].split()[-1] in ("lorem", "ipsum")


# --------------------------------------------------------------------------- sanitize_html


def test_sanitize_keeps_the_allow_list_and_makes_links_absolute() -> None:
    out = sanitize_html(
        '<p class="x" onclick="steal()">Hi <a href="/a?b=1" title="t" target="_blank">rel</a>'
        " <strong>s</strong> <em>e</em></p><ul><li>i</li></ul><blockquote>q</blockquote>"
        "<pre><code>c</code></pre><h3>h</h3>",
        base_url="https://example.org/news/feed.xml",
    )
    assert out == (
        '<p>Hi <a href="https://example.org/a?b=1" title="t" rel="noopener noreferrer nofollow">'
        "rel</a> <strong>s</strong> <em>e</em></p><ul><li>i</li></ul><blockquote>q</blockquote>"
        "<pre><code>c</code></pre><h3>h</h3>"
    )


@pytest.mark.parametrize(
    "evil",
    [
        '<a href="javascript:alert(1)">x</a>',
        '<a href="JaVaScRiPt:alert(1)">x</a>',
        '<a href="java\tscript:alert(1)">x</a>',
        '<a href=" javascript:alert(1)">x</a>',
        '<a href="data:text/html;base64,PHNjcmlwdD4=">x</a>',
        '<a href="vbscript:msgbox(1)">x</a>',
    ],
)
def test_sanitize_drops_dangerous_hrefs(evil: str) -> None:
    out = sanitize_html(evil, base_url="https://example.org/")
    assert "href" not in out
    assert ">x<" in out


def test_sanitize_removes_scripts_styles_images_and_frames() -> None:
    out = sanitize_html(
        '<p>a<script>alert(1)</script><style>p{color:red}</style><img src="http://t.example/p.gif"'
        ' onerror="x()"><iframe src="http://evil.example/"></iframe><svg><script>y()</script></svg>'
        "<object data='x'></object>b</p><!-- comment -->",
        base_url="https://example.org/",
    )
    assert out == "<p>ab</p>"


def test_sanitize_keeps_mailto_and_drops_relative_links_without_a_base() -> None:
    assert 'href="mailto:press@example.org"' in sanitize_html(
        '<a href="mailto:press@example.org">m</a>'
    )
    assert "href" not in sanitize_html('<a href="/relative">x</a>')


def test_sanitize_separates_dropped_block_elements() -> None:
    assert html_to_text(sanitize_html("<table><tr><td>a</td><td>b</td></tr></table>")) == "a b"


def test_sanitize_caps_output_and_keeps_tags_balanced() -> None:
    big = "<p>" + "<b>word</b> " * 5000 + "</p>" + "<p>tail</p>"
    out = sanitize_html(big, base_url="https://example.org/")
    assert len(out) <= SUMMARY_HTML_MAX
    assert out.endswith("…</p>") or out.endswith("…</b></p>")
    assert out.count("<b>") == out.count("</b>")
    assert out.count("<p>") == out.count("</p>")
    assert sanitize_html(out, base_url="https://example.org/") == out  # stable


def test_sanitize_deep_nesting_stays_under_the_cap() -> None:
    out = sanitize_html("<em>" * 6000 + "x" * 30000)
    # closing 6,000 tags leaves no room for markup: the text, capped, is what remains
    assert out == "x" * (SUMMARY_TEXT_MAX - 1) + "…"


def test_sanitize_huge_input_is_cut_before_cleaning() -> None:
    out = sanitize_html("<p>" + "a" * 1_000_000)
    assert SUMMARY_HTML_MAX - 300 < len(out) <= SUMMARY_HTML_MAX
    assert re.fullmatch(r"<p>a+…</p>", out)


# --------------------------------------------------------------------------- normalize


def test_normalize_builds_a_clean_entry() -> None:
    raw = RawEntry(
        title=" <b>CCTV</b> &amp; police ",
        link="/news/2026/cctv?utm_source=rss&id=4#top",
        summary='<p>Read <a href="more.html">more</a><script>x()</script></p>',
        published=datetime(2026, 2, 27, 9, 30, tzinfo=UTC),
        authors=("press@example.org (Press Office)", "Press Office", " "),
        tags=("CCTV", "cctv", "<i>Policing</i>"),
        base_url="https://www.example.org/news/",
    )
    e = normalize(raw, source_id="src", feed_url=FEED, now=NOW)
    assert e is not None
    assert e.source_id == "src"
    assert e.title == "CCTV & police"
    assert e.url == "https://www.example.org/news/2026/cctv?id=4#top"
    assert e.canonical_url == "https://www.example.org/news/2026/cctv?id=4"
    assert e.item_id == item_id(e.canonical_url)
    assert e.summary_html == (
        '<p>Read <a href="https://www.example.org/news/more.html" '
        'rel="noopener noreferrer nofollow">more</a></p>'
    )
    assert e.summary_text == "Read more"
    assert e.published == datetime(2026, 2, 27, 9, 30, tzinfo=UTC)
    assert e.authors == ("Press Office",)
    assert e.tags == ("CCTV", "Policing")


@pytest.mark.parametrize(
    "link",
    [
        None,
        "",
        "   ",
        "javascript:alert(1)",
        "JAVASCRIPT:alert(1)",
        "data:text/html,<script>alert(1)</script>",
        "mailto:someone@example.org",
        "ftp://example.org/file",
        "tag:example.org,2004:1",
        "urn:uuid:1225c695-cfb8-4ebb-aaaa-80da344efa6a",
        "http://",
    ],
)
def test_normalize_drops_entries_without_an_http_link(link: str | None) -> None:
    assert norm(link=link) is None


def test_normalize_resolves_relative_links_against_base_then_feed() -> None:
    e = norm(link="../b/c.html", base_url="https://site.example/x/y/")
    assert e is not None and e.url == "https://site.example/x/b/c.html"
    e = norm(link="story/1")
    assert e is not None and e.url == "https://feeds.example.org/news/story/1"
    e = norm(link="//cdn.example/p")
    assert e is not None and e.url == "https://cdn.example/p"
    e = norm(link="story/2", base_url="tag:not-a-base")  # unusable base: the feed URL
    assert e is not None and e.url == "https://feeds.example.org/news/story/2"


@pytest.mark.parametrize(
    ("published", "updated", "expected"),
    [
        (None, None, NOW),
        (datetime(2025, 6, 1, tzinfo=UTC), None, datetime(2025, 6, 1, tzinfo=UTC)),
        (None, datetime(2025, 6, 2, tzinfo=UTC), datetime(2025, 6, 2, tzinfo=UTC)),
        (NOW + timedelta(hours=20), None, NOW + timedelta(hours=20)),  # clock skew tolerated
        (NOW + timedelta(days=3), None, NOW),  # future → first seen
        (datetime(1970, 1, 1, tzinfo=UTC), None, NOW),  # epoch zero → first seen
        (
            datetime(1989, 12, 31, tzinfo=UTC),
            datetime(2025, 1, 1, tzinfo=UTC),
            datetime(2025, 1, 1, tzinfo=UTC),
        ),
        (datetime(2025, 6, 1, 12, 0), None, datetime(2025, 6, 1, 12, 0, tzinfo=UTC)),  # naive = UTC
        (
            datetime(2025, 6, 1, 12, 0, tzinfo=timezone(timedelta(hours=2))),
            None,
            datetime(2025, 6, 1, 10, 0, tzinfo=UTC),
        ),
    ],
)
def test_normalize_dates(
    published: datetime | None, updated: datetime | None, expected: datetime
) -> None:
    e = norm(published=published, updated=updated)
    assert e is not None
    assert e.published == expected
    assert e.published.tzinfo is UTC


def test_normalize_title_falls_back_to_summary_then_url() -> None:
    e = norm(title="  <br> ", summary="<p>The force installed " + "new cameras " * 30 + "</p>")
    assert e is not None
    assert e.title.startswith("The force installed new cameras")
    assert len(e.title) <= 121 and e.title.endswith("…")
    e = norm(title=None, summary=None, link="https://example.org/a")
    assert e is not None and e.title == "https://example.org/a"


def test_normalize_prefers_summary_and_falls_back_to_content() -> None:
    e = norm(summary="<p>short</p>", content="<p>long body</p>")
    assert e is not None and e.summary_text == "short"
    e = norm(summary="  ", content="<p>long body</p>")
    assert e is not None and e.summary_text == "long body"
    e = norm(summary=None, content=None)
    assert e is not None and (e.summary_html, e.summary_text) == ("", "")


def test_normalize_caps_every_field() -> None:
    e = norm(
        title="t " * 1000,
        summary="<p>" + "word " * 50_000 + "</p>",
        authors=(*(f"Author {i}" for i in range(100)), "x" * 1000),
        tags=tuple(f"tag{i}" for i in range(100)),
    )
    assert e is not None
    assert TITLE_MAX - 3 <= len(e.title) <= TITLE_MAX and e.title.endswith("t…")
    assert SUMMARY_HTML_MAX - 300 < len(e.summary_html) <= SUMMARY_HTML_MAX
    assert e.summary_html.startswith("<p>word word") and e.summary_html.endswith("word…</p>")
    assert SUMMARY_TEXT_MAX - 6 <= len(e.summary_text) <= SUMMARY_TEXT_MAX
    assert e.summary_text.endswith("word…")
    assert e.authors == tuple(f"Author {i}" for i in range(20))
    assert e.tags == tuple(f"tag{i}" for i in range(30))


def test_normalize_neutralises_hostile_titles_and_summaries() -> None:
    e = norm(
        title='<script>alert("t")</script><img src=x onerror=alert(1)>Headline',
        summary='<a href="javascript:alert(1)">click</a><script>alert(2)</script>'
        '<a href="http://ok.example/">ok</a><img src="http://tracker.example/p.gif">',
    )
    assert e is not None
    assert e.title == "Headline"
    html_ = e.summary_html
    assert "script" not in html_ and "javascript" not in html_ and "<img" not in html_
    assert 'href="http://ok.example/"' in html_


# --------------------------------------------------------------------------- title types

RSS_TITLES = b"""<?xml version="1.0"?><rss version="2.0"><channel><title>t</title>
<link>https://example.org/</link>
<item><title>CCTV &amp; lighting &lt;effects&gt; on crime</title><link>https://example.org/1</link></item>
<item><title>&lt;b&gt;Bold&lt;/b&gt; CCTV move</title><link>https://example.org/2</link></item>
<item><title>AT&amp;amp;T sells CCTV</title><link>https://example.org/3</link></item>
<item><title>Is a &lt; b for CCTV?</title><link>https://example.org/4</link></item>
</channel></rss>"""


def test_titles_keep_their_content_type_as_feedparser_reports_it() -> None:
    """feedparser calls a title that does not look like HTML ``text/plain`` and keeps
    ``<effects>``; so does normalize.  One that is HTML loses its tags and entities."""
    parsed = feedparser.parse(RSS_TITLES)
    raws = [
        RawEntry(title=e.title, link=e.link, title_type=e.title_detail.type) for e in parsed.entries
    ]
    assert [r.title_type for r in raws] == ["text/plain", "text/html", "text/html", "text/plain"]
    titles = [
        entry.title
        for entry in (normalize(r, source_id="s", feed_url=FEED, now=NOW) for r in raws)
        if entry is not None
    ]
    assert titles == [
        "CCTV & lighting <effects> on crime",
        "Bold CCTV move",
        "AT&T sells CCTV",
        "Is a < b for CCTV?",
    ]


@pytest.mark.parametrize(
    ("title", "content_type", "expected"),
    [
        ("CCTV & lighting <effects> on crime", "text/plain", "CCTV & lighting <effects> on crime"),
        ("CCTV & lighting <effects> on crime", "TEXT/PLAIN", "CCTV & lighting <effects> on crime"),
        ("&lt;b&gt; stays &amp; as written", "text/plain", "&lt;b&gt; stays &amp; as written"),
        ("  two\n lines\t\u202eand an override ", "text/plain", "two lines and an override"),
        ("CCTV &amp; lighting &lt;effects&gt; on crime", "text/html", "CCTV & lighting on crime"),
        ("<i>CCTV</i> & lighting", "application/xhtml+xml", "CCTV & lighting"),
        ("<i>CCTV</i> & lighting", None, "CCTV & lighting"),
    ],
)
def test_clean_title_by_content_type(title: str, content_type: str | None, expected: str) -> None:
    assert clean_title(title, content_type) == expected


def test_a_plain_text_title_is_capped_like_any_other() -> None:
    title = clean_title("<tag> " * 200, "text/plain")
    assert len(title) <= TITLE_MAX and title.startswith("<tag> <tag>") and title.endswith("…")


# --------------------------------------------------------------------------- invisible characters

INVISIBLE = [
    ("ESC", "\x1b"),
    ("CSI (C1)", "\x9b"),
    ("DEL", "\x7f"),
    ("NUL", "\x00"),
    ("U+FFFE", "\ufffe"),
    ("U+FFFF", "\uffff"),
    ("U+1FFFE", "\U0001fffe"),
    ("U+FDD0", "\ufdd0"),
    ("BOM U+FEFF", "\ufeff"),
    ("LRE U+202A", "\u202a"),
    ("RLE U+202B", "\u202b"),
    ("PDF U+202C", "\u202c"),
    ("LRO U+202D", "\u202d"),
    ("RLO U+202E", "\u202e"),
    ("LRI U+2066", "\u2066"),
    ("RLI U+2067", "\u2067"),
    ("FSI U+2068", "\u2068"),
    ("PDI U+2069", "\u2069"),
    ("ZWSP U+200B", "\u200b"),
    ("word joiner U+2060", "\u2060"),
    ("lone surrogate", "\ud83d"),
]


@pytest.mark.parametrize("char", [c[1] for c in INVISIBLE], ids=[c[0] for c in INVISIBLE])
def test_invisible_characters_leave_every_field(char: str) -> None:
    raw = RawEntry(
        title=f"CC{char}TV in {char}the{char} high street",
        link=f"https://example.org/{char}story?q={char}1#p{char}2",
        summary=f'<p title="a{char}b">Cameras{char} <a href="/x{char}y">here{char}</a></p>',
        authors=(f"A{char}n Author",),
        tags=(f"{char}policing",),
    )
    e = normalize(raw, source_id="s", feed_url=FEED, now=NOW)
    assert e is not None
    fields = [e.title, e.url, e.canonical_url, e.summary_html, e.summary_text, *e.authors, *e.tags]
    assert all(char not in f for f in fields), fields
    assert e.title == "CCTV in the high street"
    assert e.summary_text == "Cameras here"
    assert e.authors == ("An Author",) and e.tags == ("policing",)
    for value in fields:
        value.encode("utf-8")  # a lone surrogate would make this raise


KEPT = [
    ("emoji ZWJ sequence", "Coder 👩\u200d💻 on CCTV"),
    (
        "flag with tag characters",
        "England 🏴\U000e0067\U000e0062\U000e0065\U000e006e\U000e0067\U000e007f CCTV",
    ),
    ("skin tone and variation selector", "👍🏽 ❤\ufe0f CCTV"),
    ("Persian ZWNJ", "دوربین\u200cهای مداربسته"),
    ("Devanagari ZWJ", "क्\u200dष CCTV"),
    ("Hebrew with RLM", "מצלמות אבטחה\u200f. CCTV"),
    ("Arabic letter mark", "كاميرات\u061c 24"),
    ("LRM", "CCTV\u200e (UK)"),
    ("CJK", "监控摄像头 防范犯罪"),
    ("soft hyphen", "sur\u00adveillance"),
]


@pytest.mark.parametrize("text", [c[1] for c in KEPT], ids=[c[0] for c in KEPT])
def test_legitimate_characters_are_kept(text: str) -> None:
    e = norm(title=text, summary=f"<p>{text}</p>")
    assert e is not None
    assert e.title == text
    assert e.summary_text == text
    assert clean_title(text, "text/plain") == text


def test_links_keep_only_href_and_title_and_get_our_rel() -> None:
    """The attribute allow-list, exactly: no style (a link dressed as something else), no
    event handlers, no target; rel is ours."""
    out = sanitize_html(
        '<a href="https://example.org/x" title="More" style="color:red;position:fixed" '
        'onclick="steal()" target="_top" rel="opener" class="c" id="i">x</a>'
        '<p style="display:none" onmouseover="x()">y</p>'
    )
    assert out == (
        '<a href="https://example.org/x" title="More" rel="noopener noreferrer nofollow">x</a>'
        "<p>y</p>"
    )


# --------------------------------------------------------------------------- boundaries


@pytest.mark.parametrize(
    ("title", "expected"),
    [
        # the suffix is dropped when it has at most 6 words and 60 characters ...
        ("One two three - a b c d e f", "one two three"),
        ("One two three - a b c d e f g", "one two three a b c d e f g"),
        ("One two three - " + "x" * 60, "one two three"),
        ("One two three - " + "x" * 61, "one two three " + "x" * 61),
        # ... and at least 3 words of title are left
        ("One two - Site", "one two site"),
        ("One two three | Site", "one two three"),
        ("One two three – Site – Section", "one two three site"),  # the last separator only
    ],
)
def test_title_key_suffix_boundaries(title: str, expected: str) -> None:
    assert title_key(title) == expected


@pytest.mark.parametrize(
    ("published", "expected"),
    [
        (datetime(1990, 1, 1, tzinfo=UTC), datetime(1990, 1, 1, tzinfo=UTC)),  # EARLIEST itself
        (datetime(1989, 12, 31, 23, 59, 59, tzinfo=UTC), NOW),
        (NOW + timedelta(days=1), NOW + timedelta(days=1)),  # the slack itself
        (NOW + timedelta(days=1, microseconds=1), NOW),
    ],
)
def test_published_date_boundaries(published: datetime, expected: datetime) -> None:
    e = norm(published=published)
    assert e is not None and e.published == expected


def test_caps_keep_text_of_exactly_the_limit() -> None:
    exact = "w" * (TITLE_MAX - 1) + "x"
    assert clean_title(exact) == exact
    assert clean_title(" " + exact + " ") == exact
    assert clean_title(exact + "y") == "w" * (TITLE_MAX - 1) + "…"  # no space: a hard cut
    summary = "<p>" + "a" * 120 + "</p>"
    e = norm(title=None, summary=summary)
    assert e is not None and e.title == "a" * 120  # 120 characters fit a fallback title
    e = norm(title=None, summary="<p>" + "a" * 121 + "</p>")
    assert e is not None and e.title == "a" * 119 + "…"


RELATIVE_HREFS = [
    "/a/b?q=1#f", "/a/./b", "/a/../b", "/a;p=1", "/a?", "/a#", "//cdn.example/x", "b/c",
    "../up", "?only=query", "#only-fragment", "", "https://other.example/abs",
    "HTTP://Other.Example/abs", "javascript:alert(1)", "mailto:a@b.org", "/sp ace", "/ünï",
]  # fmt: skip
BASES = [
    "https://example.org/news/2026/",
    "http://example.org:8080/x",
    "https://example.org",
    "HTTPS://Example.ORG/a/b",
    "tag:example.org,2026:x",
    "ftp://example.org/",
    None,
]


@pytest.mark.parametrize("base", BASES)
def test_links_resolve_exactly_as_urljoin_does(base: str | None) -> None:
    """The fast paths for plain absolute and root-relative links give urljoin's answer."""
    for href in RELATIVE_HREFS:
        out = sanitize_html(f'<a href="{href}">x</a>', base_url=base)
        expected = urljoin(base, href.replace(" ", "%20")) if base else href
        scheme = urlsplit(expected).scheme.lower()
        if scheme == "mailto" or (scheme in ("http", "https") and urlsplit(expected).netloc):
            assert f'href="{html.escape(expected)}"' in out, (href, base, out)
        else:
            assert "href" not in out, (href, base, out)


@pytest.mark.parametrize(
    ("s", "limit", "expected"),
    [
        pytest.param("a" * 400 + "<b>x", 402, 400, id="inside-a-tag"),
        pytest.param("a" * 400 + "<b>x", 403, 403, id="after-a-tag"),
        pytest.param("a" * 400 + "&amp;b", 402, 400, id="inside-an-entity"),
        pytest.param("a" * 400 + "&amp;b", 405, 405, id="after-an-entity"),
        pytest.param("a" * 100 + " " + "b" * 400, 399, 100, id="a-space-299-back"),
        pytest.param("a" * 100 + " " + "b" * 400, 400, 400, id="a-space-300-back-is-too-far"),
        pytest.param("a" * 50 + "<br>" + "b" * 100, 120, 54, id="just-after-a-tag"),
        pytest.param("<" + "b" * 10, 5, 0, id="tag-at-the-start"),
    ],
)
def test_cut_point(s: str, limit: int, expected: int) -> None:
    """Where an over-long summary is cut: outside tags and entities, at a word end within
    300 characters."""
    assert _cut_point(s, limit) == expected


def test_long_nested_summary_is_cut_inside_and_every_tag_closed() -> None:
    out = sanitize_html("<b>" * 1000 + "word " * 8000)
    assert SUMMARY_HTML_MAX - 300 < len(out) <= SUMMARY_HTML_MAX  # the closing tags fit
    assert re.fullmatch(r"(<b>){1000}(word )+word…(</b>){1000}", out)
    out = sanitize_html("<p>" + "x &amp; y " * 4000 + "</p>")
    assert SUMMARY_HTML_MAX - 300 < len(out) <= SUMMARY_HTML_MAX
    assert re.fullmatch(r"<p>(x &amp; y )+x…</p>", out)  # never half an entity


# --------------------------------------------------------------------------- paragraphs, TeX


def _corpus_entry(name: str, title: str, feed_url: str) -> Entry:
    """The entry titled ``title`` of a corpus feed, parsed and normalised as a poll would."""
    from curator.parse import parse_feed
    from tests.feedserver import need_corpus

    content = (need_corpus() / "feeds" / name).read_bytes()
    parsed = parse_feed(content, url=feed_url, headers={}, source_id="src")
    raw = next(r for r in parsed.entries if r.title and " ".join(r.title.split()) == title)
    entry = normalize(raw, source_id="src", feed_url=feed_url, now=NOW)
    assert entry is not None
    return entry


def test_summary_text_keeps_paragraphs_and_drops_continue_reading() -> None:
    entry = _corpus_entry(
        "rss-parser__guardian.rss",
        "Global use of mosquito nets for fishing 'endangering humans and wildlife'",
        "https://www.theguardian.com/uk/rss",
    )
    paragraphs = entry.summary_text.split("\n\n")
    assert paragraphs[0].endswith("calls for urgent research into potential impacts")
    assert paragraphs[1].startswith("Anti-malarial mosquito nets are being used")
    assert len(paragraphs) == 3
    assert "Continue reading" not in entry.summary_text
    assert "Continue reading" not in entry.summary_html
    assert entry.summary_html.endswith("</p>")  # the link after the last paragraph is gone
    assert html_to_text(entry.summary_html) == entry.summary_text


@pytest.mark.parametrize(
    "link",
    [
        '<a href="https://e.org/a">Continue reading...</a>',
        '<a href="https://e.org/a" class="more-link">Continue reading<span> "A title"</span></a>',
        '<a href="https://e.org/a">Read more »</a>',
        '<a href="https://e.org/a">Read the full story</a>',
        '<a href="https://e.org/a">More…</a>',
        '<a href="https://e.org/a">[read more]</a>',  # donthitsave.xml in the corpus
        '<a href="https://e.org/a">Read More Here <span class="meta-nav">&#8594;</span></a>',
    ],
)
def test_read_more_links_are_dropped(link: str) -> None:
    out = sanitize_html(f"<p>CCTV in Leeds.</p><p>{link}</p>")
    assert out == "<p>CCTV in Leeds.</p>"


def test_links_that_only_start_alike_are_kept() -> None:
    html_ = '<p>See <a href="https://e.org/a">more cameras in Leeds</a> and <a href="https://e.org/b">readmore.org</a>.</p>'
    assert "more cameras in Leeds</a>" in sanitize_html(html_)
    assert "readmore.org</a>" in sanitize_html(html_)
    html_ = '<p><a href="https://e.org/a">Read more about the Leeds trial</a></p>'
    assert "Read more about the Leeds trial</a>" in sanitize_html(html_)


def test_plain_text_paragraphs_become_paragraphs() -> None:
    out = sanitize_html("First line\nstill first.\n\n  Second paragraph.\n \n\nThird.")
    assert out == "<p>First line\nstill first.</p><p>Second paragraph.</p><p>Third.</p>"
    assert html_to_text(out) == "First line still first.\n\nSecond paragraph.\n\nThird."
    assert sanitize_html("One line\nwrapped.") == "One line\nwrapped."  # one paragraph: as it was


ARXIV = "http://export.arxiv.org/api/query?search_query=au:del_maestro"


def test_arxiv_abstracts_show_tex_accents() -> None:
    name = "arxiv.py__api-response__search_query_au_del_maestro.xml"
    title = "Particle partition entanglement of bosonic Luttinger liquids"
    entry = _corpus_entry(name, title, ARXIV)
    assert entry.summary_text.startswith("We consider the Rényi entanglement entropy")
    assert "Rényi" in entry.summary_html
    assert "$\\delta$-function" in entry.summary_text  # math is not an accent: left as it is
    # Elsewhere a backslash and a quote are more often an escaped quote: left alone.
    other = _corpus_entry(name, title, "https://feeds.example.org/physics.xml")
    assert "R\\'{e}nyi" in other.summary_text


def test_arxiv_titles_and_authors_show_tex_accents() -> None:
    entry = norm(
        title="Schr\\\"{o}dinger and R\\'enyi",
        link="http://arxiv.org/abs/1412.6529v2",
        authors=("P. Erd\\H{o}s", "{\\O}. Str{\\o}m"),
    )
    assert entry is not None and entry.title == "Schr\\\"{o}dinger and R\\'enyi"  # not arXiv
    raw = RawEntry(
        title="Schr\\\"{o}dinger and R\\'enyi",
        link="http://arxiv.org/abs/1412.6529v2",
        authors=("P. Erd\\H{o}s", "{\\O}. Str{\\o}m"),
    )
    entry = normalize(raw, source_id="ax", feed_url=ARXIV, now=NOW)
    assert entry is not None
    assert entry.title == "Schrödinger and Rényi"
    assert entry.authors == ("P. Erdős", "Ø. Strøm")


@pytest.mark.parametrize(
    ("tex", "text"),
    [
        ("R\\'{e}nyi", "Rényi"),
        ("R\\'enyi", "Rényi"),
        ("{\\'e}", "é"),
        ("{\\'{e}}", "é"),
        ("\\`a", "à"),
        ("\\^o", "ô"),
        ('Schr\\"odinger', "Schrödinger"),
        ('{\\"u}ber', "über"),
        ("\\~n", "ñ"),
        ("\\c{c}a", "ça"),
        ("\\c ca", "ça"),
        ("\\v{S}koda", "Škoda"),
        ("Erd\\H{o}s", "Erdős"),
        ('\\r{A}ngstr\\"om', "Ångström"),
        ("\\u{a}", "ă"),
        ("\\=a", "ā"),
        ("\\.Z", "Ż"),
        ("\\k{a}", "ą"),
        ("\\'{\\i}", "í"),
        ("{\\o}", "ø"),
        ("{\\ss}", "ß"),
        ("$\\delta$", "$\\delta$"),  # math: not an accent
        ("\\cdot", "\\cdot"),  # a command that starts like \c
        ("\\^{}", "\\^{}"),  # no letter
        ("\\o", "\\o"),  # letters only in braces
    ],
)
def test_tex_accents(tex: str, text: str) -> None:
    assert tex_accents(tex) == text
