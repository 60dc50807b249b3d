"""digest.py: rendering is pure, so these tests build items and read the message back."""

from __future__ import annotations

import email
import email.policy
import hashlib
import re
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from html.parser import HTMLParser

import pytest

from curator import digest, normalize
from curator.config import Config, loads
from curator.exceptions import DigestError
from curator.types import Category, Item, Match, RawEntry

NOW = datetime(2025, 3, 10, 8, 0, tzinfo=UTC)
START = NOW - timedelta(days=7)

CONFIG = """
sources:
  - {id: bbc, name: BBC News, url: "https://feeds.bbci.co.uk/news/rss.xml"}
  - {id: journal, name: Surveillance & Society, url: "https://example.org/journal.xml",
     category: research}
digest:
  sender: "Actualités CCTV <links@example.org>"
  reply_to: editors@example.org
  recipients: [reader@example.org]
  list_id: cctv-links.example.org
  unsubscribe: "mailto:leave@example.org"
publish:
  site_url: https://example.org/links
"""


def config(text: str = CONFIG) -> Config:
    return loads(text)


def make_item(
    n: int,
    title: str,
    *,
    category: Category = "news",
    source: str = "bbc",
    summary: str = "A short summary.",
    url: str | None = None,
    days_ago: int = 1,
) -> Item:
    item_id = hashlib.sha256(str(n).encode()).hexdigest()[:16]
    link = url or f"https://example.com/story/{n}?a=1&b=2"
    return Item(
        id=item_id,
        url=link,
        canonical_url=link,
        title=title,
        summary=f"<p>{summary}</p>",
        summary_text=summary,
        category=category,
        published=NOW - timedelta(days=days_ago),
        first_seen=NOW - timedelta(days=days_ago),
        score=5.0,
        matched=(Match("cctv", "title", 1, 3.0),),
        why="title: cctv",
        sources=(source,),
        status="approved",
        reviewed_by="ed",
        reviewed_at=NOW - timedelta(hours=2),
    )


def render(items: list[Item], cfg: Config | None = None) -> digest.Digest:
    return digest.render(
        items,
        cfg or config(),
        start=START,
        end=NOW,
        created_at=NOW,
        message_id="<2025-03-10T080000Z.abc@cctv-links.example.org>",
    )


def parse(raw: bytes) -> EmailMessage:
    msg = email.message_from_bytes(raw, policy=email.policy.default)
    assert isinstance(msg, EmailMessage)
    return msg


ITEMS = [
    make_item(1, "Police expand CCTV network", days_ago=2),
    make_item(2, "Facial recognition vans in London", days_ago=1),
    make_item(3, "CCTV and crime displacement", category="research", source="journal"),
    make_item(4, "Code of practice for surveillance cameras", category="guidance", source="x"),
]


def test_groups_by_category_in_order_newest_first() -> None:
    d = render(ITEMS)
    text = d.text
    positions = [text.index(h) for h in ("NEWS (2)", "RESEARCH (1)", "GUIDANCE (1)")]
    assert positions == sorted(positions)
    assert text.index("Facial recognition vans") < text.index("Police expand CCTV")
    assert d.item_ids == (ITEMS[1].id, ITEMS[0].id, ITEMS[2].id, ITEMS[3].id)
    html = d.html or ""
    assert [m for m in re.findall(r"<h2[^>]*>(\w+)", html)] == ["News", "Research", "Guidance"]


def test_empty_groups_are_left_out() -> None:
    d = render([ITEMS[2]])
    assert "RESEARCH (1)" in d.text and "NEWS" not in d.text
    assert "Guidance" not in (d.html or "")


def test_each_entry_has_title_link_source_date_and_summary() -> None:
    d = render([make_item(7, "Headline", summary="What the editor wrote.", days_ago=3)])
    assert "* Headline\n  BBC News, 7 Mar 2025\n  https://example.com/story/7?a=1&b=2\n" in d.text
    assert "  What the editor wrote.\n" in d.text
    html = d.html or ""
    assert '<a href="https://example.com/story/7?a=1&amp;b=2"' in html
    assert "BBC News &middot; 7 Mar 2025" in html
    assert "What the editor wrote." in html


def test_the_editors_note_goes_with_its_item() -> None:
    item = replace(make_item(9, "Headline"), note="Worth reading <b>first</b>.\nSee page 4.")
    d = render([item, make_item(10, "Other")])
    assert "  Editor's note: Worth reading <b>first</b>. See page 4.\n" in d.text
    html = d.html or ""
    assert (
        "Editor&rsquo;s note:</strong> Worth reading &lt;b&gt;first&lt;/b&gt;. See page 4." in html
    )
    assert d.text.count("Editor's note") == 1


def test_edited_title_and_unknown_source() -> None:
    item = replace(
        make_item(8, "Edited title", source="manual", url="https://www.gov.uk/x"),
        original={"title": "Feed title"},
    )
    d = render([item])
    assert "Edited title" in d.text and "Feed title" not in d.text
    assert "gov.uk, " in d.text  # no configured source: the site's host
    named = render([replace(item, site="GOV.UK")])  # added by hand: the page's og:site_name
    assert "GOV.UK, " in named.text and "gov.uk, " not in named.text


def test_html_escapes_feed_text() -> None:
    evil = make_item(
        9,
        'Bad <script>alert("x")</script> & <img src=https://t.example/p.gif>',
        summary="<b>bold</b> <a href='javascript:alert(1)'>x</a>",
    )
    html = render([evil]).html or ""
    assert "<script" not in html.lower()
    assert "<img" not in html.lower()
    assert "&lt;script&gt;" in html and "&amp;" in html
    assert "&lt;b&gt;bold&lt;/b&gt;" in html


def test_only_http_links_are_linked() -> None:
    d = render([make_item(10, "Sneaky", url="javascript:alert(1)")])
    assert "javascript:" not in (d.html or "")
    assert "javascript:" not in d.text


def test_cr_lf_in_a_title_cannot_make_a_header() -> None:
    item = make_item(11, "Innocent\r\nBcc: victim@example.net\r\n\r\n<b>body</b>")
    d = render([item])
    raw = d.as_bytes("reader@example.org")
    msg = parse(raw)
    assert msg["Bcc"] is None
    assert "Innocent Bcc: victim@example.net <b>body</b>" in d.text
    headers = raw.split(b"\r\n\r\n", 1)[0]
    assert b"victim" not in headers


def test_message_structure_and_headers() -> None:
    d = render(ITEMS)
    msg = parse(d.as_bytes("Zoë Reader <reader@example.org>"))
    assert msg.get_content_type() == "multipart/alternative"
    parts = list(msg.iter_parts())
    assert [p.get_content_type() for p in parts] == ["text/plain", "text/html"]
    assert all(p.get_content_charset() == "utf-8" for p in parts)
    assert "Police expand CCTV network" in parts[0].get_content()
    assert "Police expand CCTV network" in parts[1].get_content()
    assert msg["Message-ID"] == "<2025-03-10T080000Z.abc@cctv-links.example.org>"
    assert msg["Date"] == "Mon, 10 Mar 2025 08:00:00 +0000"  # London is on GMT in March
    assert msg["List-Id"] == '"CCTV in policing: news and research" <cctv-links.example.org>'
    assert msg["List-Unsubscribe"] == "<mailto:leave@example.org?subject=unsubscribe>"
    assert msg["Reply-To"] == "editors@example.org"
    assert msg["Subject"] == "CCTV in policing: news and research, 3 Mar to 10 Mar 2025"
    assert str(msg["To"]) == "Zoë Reader <reader@example.org>"
    assert str(msg["From"]) == "Actualités CCTV <links@example.org>"


def test_unicode_subject_and_names_are_encoded_on_the_wire() -> None:
    cfg = config(
        CONFIG.replace("recipients:", 'subject: "Vidéosurveillance — {end:%d/%m}"\n  recipients:')
    )
    d = render(ITEMS, cfg)
    raw = d.as_bytes("Zoë Reader <reader@example.org>")
    assert raw.isascii()
    head = raw.split(b"\r\n\r\n", 1)[0].decode("ascii")
    assert "=?utf-8?" in head
    assert all(len(line) <= 78 for line in head.split("\r\n"))
    msg = parse(raw)
    assert msg["Subject"] == "Vidéosurveillance — 10/03"
    assert "Zoë" in str(msg["To"]) and "Actualités" in str(msg["From"])


def test_date_header_follows_the_digest_time_zone() -> None:
    d = digest.render(
        ITEMS,
        config(),
        start=START,
        end=NOW,
        created_at=datetime(2025, 7, 7, 7, 0, tzinfo=UTC),
        message_id="<x@y>",
    )
    assert d.headers["Date"] == "Mon, 07 Jul 2025 08:00:00 +0100"


def test_list_unsubscribe_defaults_to_reply_to_or_sender() -> None:
    cfg = config(CONFIG.replace('  unsubscribe: "mailto:leave@example.org"\n', ""))
    assert render(ITEMS, cfg).headers["List-Unsubscribe"] == (
        "<mailto:editors@example.org?subject=unsubscribe>"
    )
    cfg = config(
        CONFIG.replace('  unsubscribe: "mailto:leave@example.org"\n', "").replace(
            "  reply_to: editors@example.org\n", ""
        )
    )
    assert render(ITEMS, cfg).headers["List-Unsubscribe"] == (
        "<mailto:links@example.org?subject=unsubscribe>"
    )


class _Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))


def test_html_is_mail_client_friendly() -> None:
    html = render(ITEMS).html or ""
    parser = _Tags()
    parser.feed(html)
    names = {t for t, _ in parser.tags}
    assert "table" in names
    assert not names & {"script", "img", "style", "link", "iframe", "object", "form", "div"}
    for tag, attrs in parser.tags:
        if tag in ("td", "table", "p", "h1", "h2", "a", "body"):
            assert attrs.get("style"), f"<{tag}> without inline style"
        for name, value in attrs.items():
            assert not name.startswith("on"), f"event handler {name} on <{tag}>"
            if name in ("src", "background"):
                pytest.fail(f"remote resource {value} on <{tag}>")
    assert 'width="600"' in html and "max-width:600px" in html
    hrefs = [a.get("href") or "" for t, a in parser.tags if t == "a"]
    assert hrefs and all(h.startswith(("https:", "http:", "mailto:")) for h in hrefs)


def test_empty_week_note() -> None:
    d = render([])
    assert d.item_ids == ()
    assert "approved nothing new" in d.text
    assert "approved nothing new" in (d.html or "")


def test_long_summary_is_clipped_and_wrapped() -> None:
    d = render([make_item(12, "Long", summary="word " * 400)])
    body = d.text.split("* Long", 1)[1]
    assert "…" in body
    assert all(len(line) <= digest.TEXT_WIDTH for line in body.splitlines() if "word" in line)


def test_bad_subject_template_is_a_digest_error() -> None:
    cfg = config(CONFIG.replace("recipients:", 'subject: "{week}"\n  recipients:'))
    with pytest.raises(DigestError, match=r"digest\.subject"):
        render(ITEMS, cfg)


def test_subject_can_count_items() -> None:
    cfg = config(CONFIG.replace("recipients:", 'subject: "{count} links"\n  recipients:'))
    assert render(ITEMS, cfg).subject == "4 links"


def test_formats() -> None:
    d = render(ITEMS)
    assert d.render("txt") == d.text
    assert d.render("html") == d.html
    raw = d.render("eml", to="reader@example.org")
    assert isinstance(raw, bytes) and b"multipart/alternative" in raw


def test_editors_note_is_short_plain_text() -> None:
    note = digest.EditorsNote(
        period_start=START,
        period_end=NOW,
        queue_size=12,
        oldest_pending=NOW - timedelta(days=9),
        approved=5,
        rejected=3,
        by_editor={"ed": (5, 3)},
        failing=(
            digest.SourceHealth(
                "bbc",
                "BBC News",
                last_error="HTTP 503\r\nX: y",
                consecutive_errors=4,
                last_success=NOW - timedelta(days=3),
            ),
        ),
        silent=(digest.SourceHealth("journal", "Surveillance & Society", last_new=None),),
        unmatched_terms=("anpr", "body-worn camera*"),
        digest_items=5,
        digest_recipients=40,
    )
    d = digest.render_editors_note(note, config(), created_at=NOW, message_id="<e@x>")
    assert d.html is None
    msg = parse(d.as_bytes("ed@example.org"))
    assert msg.get_content_type() == "text/plain"
    body = " ".join(msg.get_content().split())
    assert "5 items to 40 recipients" in body
    assert "12 pending, the oldest waiting 9 days" in body
    assert "5 approved, 3 rejected" in body
    assert (
        "BBC News [bbc]: 4 failed polls in a row; last success 7 Mar 2025; "
        "last error: HTTP 503 X: y" in body
    )
    assert "Surveillance & Society [journal]: has never given an item" in body
    assert "anpr, body-worn camera*" in body
    assert msg["List-Unsubscribe"] is None


def test_check_address() -> None:
    assert digest.check_address("Zoë <zoe@example.org>", "x") == "zoe@example.org"
    for bad in ("nobody", "a@b\r\nBcc: c@d", "zoë@exämple.org"):
        with pytest.raises(DigestError):
            digest.check_address(bad, "digest.recipients[0]")


def test_invisible_characters_from_a_feed_reach_neither_part() -> None:
    """Cleaned once, when the entry is normalised: the stored item, and so both parts of the
    digest (and the whole message on the wire), carry no override, ESC, BOM or nonchar."""
    hostile = "\u202e\x1b\ufeff\ufffe\u2066\u200b"
    raw = RawEntry(
        title=f"{hostile}CCTV exe.txt{hostile} report",
        link="https://example.com/story/9",
        summary=f"<p>Summary{hostile} of the report</p>",
        authors=(f"{hostile}Reporter",),
    )
    entry = normalize.normalize(raw, source_id="bbc", feed_url="https://example.com/f", now=NOW)
    assert entry is not None
    item = replace(
        make_item(9, entry.title),
        summary=entry.summary_html,
        summary_text=entry.summary_text,
    )
    d = render([item])
    wire = d.as_bytes("reader@example.org").decode("utf-8", "replace")
    decoded = parse(d.as_bytes("reader@example.org"))
    parts = [p.get_content() for p in decoded.walk() if p.get_content_maintype() == "text"]
    assert len(parts) == 2 and all("CCTV exe.txt report" in p for p in parts)
    for text in (d.text, d.html or "", wire, *parts):
        assert not any(c in text for c in hostile), repr(text)
