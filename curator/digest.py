"""Render digests: approved items + configuration + period -> a :class:`Digest` (pure).

Nothing here touches the store, the network or the clock: every date arrives as an argument, so
the same record renders the same message today and when a send is retried next week (see
:mod:`curator.digests`, which decides *what* goes out and *when*).

Item fields come from feeds and are untrusted.  They reach the message only through the
templates in ``curator/digest_templates/`` (the HTML one autoescapes), titles and summaries are
folded onto one line so a CR/LF cannot start a header or a fake part, and no feed text is ever
put in a header: the subject comes from ``digest.subject`` and the period's dates.  The HTML part
is built for mail clients rather than browsers: nested tables, inline CSS only, no remote images,
no scripts, no ``<style>`` block (Gmail and Outlook drop or mangle them).
"""

from __future__ import annotations

import email.policy
import functools
import re
import secrets
import textwrap
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from email.message import EmailMessage
from email.utils import format_datetime, parseaddr
from html import escape as html_escape
from typing import Literal
from urllib.parse import quote, urlsplit
from zoneinfo import ZoneInfo

import jinja2

from curator import publisher
from curator.citation import citation_line
from curator.config import Config
from curator.exceptions import DigestError
from curator.types import CATEGORIES, Category, Item

HEADINGS: Mapping[Category, str] = {"news": "News", "research": "Research", "guidance": "Guidance"}
SUMMARY_CHARS = 600  # a digest links out; a long summary belongs on the article's page
TEXT_WIDTH = 72
# Where a reader's own unsubscribe link goes in a digest rendered with ``one_click``.
UNSUBSCRIBE_SLOT = "https://unsubscribe.invalid/curator-reader-link"

Format = Literal["html", "txt", "eml"]


@dataclass(frozen=True)
class Digest:
    """One rendered message, ready to address to each recipient with :meth:`message`.

    ``headers`` holds every header but ``To`` (From, Reply-To, Date, Message-ID, List-Id,
    List-Unsubscribe, Precedence), already checked to hold no line breaks.  ``html`` is None for
    a text-only message (the editors' note).
    """

    subject: str
    text: str
    html: str | None
    headers: Mapping[str, str]
    message_id: str
    period_start: datetime
    period_end: datetime
    item_ids: tuple[str, ...] = ()

    def message(self, to: str, *, unsubscribe: str | None = None) -> EmailMessage:
        """The MIME message for one recipient: multipart/alternative, text part first.

        ``unsubscribe``: the recipient's own unsubscribe link (:mod:`curator.subscribers`),
        put in the body where :func:`render` with ``one_click`` left room, and first in
        ``List-Unsubscribe``; an https one also gets RFC 8058's ``List-Unsubscribe-Post``,
        what large mailbox providers require for their one-click button.

        ``email.policy.SMTP`` encodes a non-ASCII subject or display name as RFC 2047 words and
        refuses a header value with a line break, so a bad value fails here, not at the server.
        """
        headers = dict(self.headers)
        text, html_part = self.text, self.html
        if unsubscribe is not None:
            link = _check_header("List-Unsubscribe", unsubscribe)
            old = headers.get("List-Unsubscribe")
            headers["List-Unsubscribe"] = f"<{link}>" + (f", {old}" if old else "")
            if link.startswith("https://"):
                headers["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
            text = text.replace(UNSUBSCRIBE_SLOT, link)
            if html_part is not None:
                html_part = html_part.replace(UNSUBSCRIBE_SLOT, html_escape(link))
        elif UNSUBSCRIBE_SLOT in text:
            raise ValueError("this digest was rendered for one-click links: give unsubscribe")
        msg = EmailMessage(policy=email.policy.SMTP)
        msg["Subject"] = self.subject
        for name in ("From", "Reply-To"):
            if headers.get(name):
                msg[name] = headers[name]
        msg["To"] = to
        for name, value in headers.items():
            if name not in ("From", "Reply-To"):
                msg[name] = value
        msg.set_content(text, subtype="plain", charset="utf-8", cte="quoted-printable")
        if html_part is not None:
            msg.add_alternative(html_part, subtype="html", charset="utf-8", cte="quoted-printable")
        return msg

    def as_bytes(self, to: str) -> bytes:
        """The message as sent on the wire (CRLF line ends): what ``preview --out x.eml`` writes."""
        return self.message(to).as_bytes(policy=email.policy.SMTP)

    def render(self, fmt: Format, *, to: str | None = None) -> str | bytes:
        """The HTML part, the text part or the whole message (``eml``, bytes)."""
        if fmt == "html":
            return self.html if self.html is not None else self.text
        if fmt == "txt":
            return self.text
        return self.as_bytes(to or self.headers["From"])


@dataclass(frozen=True)
class SourceHealth:
    """One source as the editors' note reports it."""

    source_id: str
    name: str
    last_error: str | None = None
    last_success: datetime | None = None
    last_new: datetime | None = None
    consecutive_errors: int = 0
    gone: bool = False


@dataclass(frozen=True)
class EditorsNote:
    """What editors should act on this week (gathered by :func:`curator.digests.editors_note`)."""

    period_start: datetime
    period_end: datetime
    queue_size: int
    oldest_pending: datetime | None
    approved: int
    rejected: int
    by_editor: Mapping[str, tuple[int, int]] = field(default_factory=dict)  # name: (appr., rej.)
    failing: tuple[SourceHealth, ...] = ()
    silent: tuple[SourceHealth, ...] = ()
    unmatched_terms: tuple[str, ...] = ()
    digest_items: int | None = None  # items in the readers' digest; None when it was skipped
    digest_recipients: int = 0


# --------------------------------------------------------------------------- rendering


def render(
    items: Iterable[Item],
    config: Config,
    *,
    start: datetime,
    end: datetime,
    created_at: datetime,
    message_id: str,
    one_click: bool = False,
) -> Digest:
    """The readers' digest for ``items`` over the period ``[start, end)``.

    ``one_click`` leaves :data:`UNSUBSCRIBE_SLOT` in the body where each reader's own
    unsubscribe link goes (:meth:`Digest.message` fills it in); without it (a preview, the
    web archive) the body offers only the mailto address.

    Items are grouped into News, Research and Guidance (empty groups left out), newest first
    within a group; research is told apart from news by :func:`section_of`.  With no items
    it is the short "nothing new" note; whether that is sent at all is
    :mod:`curator.digests`' business (``digest.empty_week``).
    """
    settings = config.digest
    tz = ZoneInfo(settings.timezone)
    chosen = list(items)
    sections = _sections(chosen, config, tz)
    subject = _subject(settings.subject, start, end, tz, len(chosen))
    unsub_addr, unsub_url = _unsubscribe(config)
    context = {
        "subject": subject,
        "title": _line(config.publish.title),
        "period": _period(start, end, tz),
        "intro": _line(settings.intro),
        "sections": sections,
        "empty_message": "Our editors approved nothing new this time. "
        "The next digest will carry whatever they pick.",
        "footer": f"You receive this because you follow {_line(config.publish.title)}.",
        "archive_url": _http_url(config.publish.site_url or ""),
        "unsubscribe_address": unsub_addr,
        "unsubscribe_url": unsub_url,
        "one_click_url": UNSUBSCRIBE_SLOT if one_click else None,
    }
    text = _env().get_template("digest.txt").render(context)
    html = _env().get_template("digest.html").render(context)
    return Digest(
        subject=subject,
        text=text,
        html=html,
        headers=_headers(config, created_at=created_at, message_id=message_id),
        message_id=message_id,
        period_start=start,
        period_end=end,
        item_ids=tuple(e.item_id for s in sections for e in s.entries),
    )


def render_editors_note(
    note: EditorsNote, config: Config, *, created_at: datetime, message_id: str
) -> Digest:
    """The short text-only note to ``digest.editors``: what needs their attention."""
    tz = ZoneInfo(config.digest.timezone)
    period = _period(note.period_start, note.period_end, tz)
    subject = f"Editors' note: {_line(config.publish.title)}, {period}"
    if note.digest_items is None:
        summary = "skipped, nothing was approved"
    else:
        n, r = note.digest_items, note.digest_recipients
        summary = f"{n} item{'s' * (n != 1)} to {r} recipient{'s' * (r != 1)}"
    view = {
        "digest_summary": summary,
        "queue_size": note.queue_size,
        "oldest_pending": _age(note.period_end - note.oldest_pending)
        if note.oldest_pending is not None
        else None,
        "approved": note.approved,
        "rejected": note.rejected,
        "by_editor": [(_line(k), a, r) for k, (a, r) in sorted(note.by_editor.items())],
        "failing": [_health(s, tz, failing=True) for s in note.failing],
        "silent": [_health(s, tz, failing=False) for s in note.silent],
        "silent_days": config.digest.silent_days,
        "unmatched_terms": [_line(t) for t in note.unmatched_terms],
    }
    text = (
        _env()
        .get_template("editors.txt")
        .render(subject=subject, note=view, title=_line(config.publish.title))
    )
    headers = dict(_headers(config, created_at=created_at, message_id=message_id))
    del headers["List-Unsubscribe"]  # not a list: the editors are configured by name
    headers["List-Id"] = f"Curator editors <editors.{_list_id(config.digest.list_id)}>"
    return Digest(
        subject=subject,
        text=text,
        html=None,
        headers=headers,
        message_id=message_id,
        period_start=note.period_start,
        period_end=note.period_end,
    )


def make_message_id(record_id: str, list_id: str) -> str:
    """A Message-ID unique to one digest record, kept in the record so a retry reuses it."""
    local = re.sub(r"[^A-Za-z0-9.-]", "", record_id) or "digest"
    return f"<{local}.{secrets.token_hex(6)}@{_list_id(list_id)}>"


def address_of(value: str) -> str:
    """The bare address of ``Name <addr@example.org>`` (what the SMTP envelope carries)."""
    return parseaddr(value)[1]


# --------------------------------------------------------------------------- helpers


@dataclass(frozen=True)
class _Entry:
    item_id: str
    title: str
    url: str | None
    source: str
    date: str
    summary: str
    note: str = ""  # the editor's "note for the digest"
    citation: str = ""  # a research item's authors, venue, year, DOI (curator.citation)


@dataclass(frozen=True)
class _Section:
    category: Category
    heading: str
    entries: tuple[_Entry, ...]


@functools.cache
def _env() -> jinja2.Environment:
    """One Jinja environment, built on first use (the templates are package data)."""
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("curator", "digest_templates"),
        autoescape=jinja2.select_autoescape(enabled_extensions=("html",), default=False),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters["wrap"] = _wrap
    return env


def _wrap(text: str, indent: str = "", first: str | None = None) -> str:
    return textwrap.fill(
        text,
        width=TEXT_WIDTH,
        initial_indent=indent if first is None else first,
        subsequent_indent=indent,
        break_long_words=False,
        break_on_hyphens=False,
    )


def _line(text: str) -> str:
    """Fold every run of whitespace (CR, LF, tabs, Unicode separators) into one space."""
    return " ".join(text.split())


def _clip(text: str, limit: int) -> str:
    text = _line(text)
    if len(text) <= limit:
        return text
    cut = text[:limit].rsplit(" ", 1)[0].rstrip(" ,.;:")
    return cut + "…"


def _http_url(url: str) -> str | None:
    """The URL if it is absolute http(s) without whitespace; links in a mail go nowhere else."""
    url = url.strip()
    parts = urlsplit(url)
    if parts.scheme.lower() in ("http", "https") and parts.netloc and not re.search(r"\s", url):
        return url
    return None


def _date(value: datetime, tz: ZoneInfo) -> str:
    local = value.astimezone(tz)
    return f"{local.day} {local:%b %Y}"


def _period(start: datetime, end: datetime, tz: ZoneInfo) -> str:
    a, b = start.astimezone(tz), end.astimezone(tz)
    left = f"{a.day} {a:%b}" if a.year == b.year else f"{a.day} {a:%b %Y}"
    return f"{left} to {b.day} {b:%b %Y}"


def _subject(template: str, start: datetime, end: datetime, tz: ZoneInfo, count: int) -> str:
    try:
        subject = template.format(start=start.astimezone(tz), end=end.astimezone(tz), count=count)
    except (KeyError, IndexError, ValueError, AttributeError) as e:
        raise DigestError(
            f"digest.subject {template!r} cannot be filled in ({type(e).__name__}: {e}); "
            "it may use {start:%-d %b}, {end:%-d %b %Y} and {count}"
        ) from e
    return _line(subject) or "Digest"


def _source_name(item: Item, config: Config) -> str:
    for source_id in item.sources:
        source = config.source(source_id)
        if source is not None:
            return _line(source.name)
    if item.site:  # a link added by hand: the site's own name for itself
        return _line(item.site)
    host = urlsplit(item.url).hostname or ""
    return host.removeprefix("www.") or (item.sources[0] if item.sources else "")


def section_of(item: Item, classes: Mapping[str, tuple[str | None, str]]) -> Category:
    """The digest section an item goes in: Research for research (category ``research``, or
    an academic publisher: a university's news feed reports studies), else its category's
    (:func:`curator.publisher.is_research`).  A category an editor chose stands: they moved
    the item there knowing where it came from."""
    if "category" in item.original:
        return item.category
    if publisher.is_research(item, publisher.of(item, classes)):
        return "research"
    return item.category


def _sections(items: Sequence[Item], config: Config, tz: ZoneInfo) -> list[_Section]:
    out: list[_Section] = []
    classes = publisher.Classes.of_config(config).lookup()
    placed = {i.id: section_of(i, classes) for i in items}
    for category in CATEGORIES:
        chosen = sorted(
            (i for i in items if placed[i.id] == category),
            key=lambda i: (i.published, i.id),
            reverse=True,
        )
        if not chosen:
            continue
        entries = tuple(
            _Entry(
                item_id=i.id,
                title=_line(i.title) or _http_url(i.url) or i.id,
                url=_http_url(i.url),
                source=_source_name(i, config),
                date=_date(i.published, tz),
                summary=_clip(i.summary_text, SUMMARY_CHARS),
                note=_clip(" ".join((i.note or "").split()), SUMMARY_CHARS),
                citation=_line(citation_line(i)),
            )
            for i in chosen
        )
        out.append(_Section(category, HEADINGS[category], entries))
    return out


def _list_id(value: str) -> str:
    """A List-Id must be a dot-atom (RFC 2919): keep the characters that may appear in one."""
    cleaned = re.sub(r"[^A-Za-z0-9.-]", "", value).strip(".")
    return cleaned or "curator.invalid"


def _unsubscribe(config: Config) -> tuple[str, str]:
    """(address, mailto URL): ``digest.unsubscribe``, else the reply-to, else the sender."""
    settings = config.digest
    raw = settings.unsubscribe or settings.reply_to or settings.sender
    address = raw.strip()
    if address.lower().startswith("mailto:"):
        address = address[len("mailto:") :].split("?", 1)[0]
    address = address_of(address) or address
    if not _ADDR.match(address):
        raise DigestError(
            f"digest.unsubscribe {raw!r} is not an e-mail address (or a mailto: URL to one)"
        )
    return address, f"mailto:{quote(address, safe='@.+-_')}?subject=unsubscribe"


_ADDR = re.compile(r"^[^@\s<>()\[\],;:\"]+@[A-Za-z0-9.-]+$")


def _check_header(name: str, value: str) -> str:
    if "\r" in value or "\n" in value:
        raise DigestError(f"the {name} header must be one line, not {value!r}")
    return value


def _headers(config: Config, *, created_at: datetime, message_id: str) -> dict[str, str]:
    settings = config.digest
    sender = _check_header("From", settings.sender)
    if not _ADDR.match(address_of(sender)):
        raise DigestError(f"digest.sender {sender!r} is not an e-mail address")
    _, unsub_url = _unsubscribe(config)
    headers = {
        "From": sender,
        "Date": format_datetime(created_at.astimezone(ZoneInfo(settings.timezone))),
        "Message-ID": _check_header("Message-ID", message_id),
        "List-Id": f"{_list_phrase(config.publish.title)} <{_list_id(settings.list_id)}>",
        "List-Unsubscribe": f"<{unsub_url}>",
        "Precedence": "list",
        "X-Auto-Response-Suppress": "OOF, AutoReply",
    }
    if settings.reply_to:
        headers["Reply-To"] = _check_header("Reply-To", settings.reply_to)
    return headers


def _list_phrase(title: str) -> str:
    """The List-Id description, quoted when it holds characters a phrase may not."""
    phrase = _line(title).replace("\\", "").replace('"', "")
    if re.fullmatch(r"[A-Za-z0-9 !#$%&'*+/=?^_`{|}~-]*", phrase):
        return phrase
    return f'"{phrase}"'


def _age(delta: timedelta) -> str:
    days = delta.days
    if days >= 1:
        return f"{days} day{'s' * (days != 1)}"
    hours = max(0, int(delta.total_seconds() // 3600))
    return f"{hours} hour{'s' * (hours != 1)}"


def _health(s: SourceHealth, tz: ZoneInfo, *, failing: bool) -> dict[str, str]:
    if failing:
        what = (
            "gone (410), not polled until its configuration changes"
            if s.gone
            else (f"{s.consecutive_errors} failed poll{'s' * (s.consecutive_errors != 1)} in a row")
        )
        since = (
            f"; last success {_date(s.last_success, tz)}" if s.last_success else "; never succeeded"
        )
        error = f"; last error: {_line(s.last_error)}" if s.last_error else ""
        detail = what + since + error
    else:
        detail = (
            f"last new item {_date(s.last_new, tz)}" if s.last_new else "has never given an item"
        )
    return {"source_id": s.source_id, "name": _line(s.name), "detail": detail}


def check_address(value: str, what: str) -> str:
    """The bare ASCII address in ``value``; DigestError names ``what`` when there is none."""
    if "\r" in value or "\n" in value:
        raise DigestError(f"{what}: {value!r} must be on one line")
    addr = address_of(value)
    if not _ADDR.match(addr) or not addr.isascii():
        raise DigestError(
            f"{what}: {value!r} is not a usable e-mail address "
            "(write an international domain in its xn-- form)"
        )
    return addr
