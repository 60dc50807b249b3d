"""Approved items ─► JSON Feed 1.1, RSS 2.0, Atom 1.0 and an HTML list; the static export.

Everything but :func:`export` and :func:`refresh` is a pure function of values, so the web
routes (``curator/web/public.py``), the CLI and the tests render the same bytes from the same
items.

Selection (:func:`select`): approved items whose link is http(s), of the requested
categories, **approved** within ``publish.max_age`` (the approval date, not the article's: a
2019 evaluation approved today is news to the website's readers, as it is to the digest's),
**newest first by the article's own date** (``Item.published``), at most ``publish.limit`` of
them.  The article date is what every output shows next to a link, and it is what feed
readers sort on (the WordPress RSS block's SimplePie re-sorts by ``pubDate``), so ordering by
approval time would make the website's list and the feeds disagree.  Ties go to the more
recently approved item.  :func:`left_out` tells the editor which approved items that leaves
out, and why.

Validators: the body of each output is a function of the store and the clock only through the
selection, so the ETag (a hash of the bytes) changes exactly when the output does.
``Selection.last_modified`` is the latest change that can have altered an output: any change
to an item that is or was approved, or an approved item ageing out of the window.  It is
conservative (some changes move it without changing a given output), never late.  The web
routes serve as Last-Modified the time an output's bytes were first served
(``curator.web.public.first_served``), which also moves when a setting changes them.
"""

from __future__ import annotations

import base64
import contextlib
import functools
import hashlib
import heapq
import html
import json
import logging
import os
import re
import tempfile
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Protocol
from urllib.parse import urlencode, urlsplit

import jinja2
import nh3
from markupsafe import Markup

from curator import __version__, publisher
from curator.citation import citation_line, research_fields
from curator.config import Config, Publish
from curator.exceptions import PublishError
from curator.types import CATEGORIES, Category, Item, Status

if TYPE_CHECKING:
    from curator.store import Damage

log = logging.getLogger("curator.publish")

JSON_FEED_VERSION = "https://jsonfeed.org/version/1.1"
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)  # Last-Modified / <updated> of a list never approved
SUMMARY_CHARS = 300  # the short summary of the HTML list, the widget and JSON Feed ``summary``
EXPORT_FILES = ("links.json", "links.rss", "links.atom", "links.html")

Format = Literal["json", "rss", "atom", "html", "embed"]
_EXPORT_FORMATS: tuple[Format, ...] = ("json", "rss", "atom", "html")
MEDIA_TYPES: dict[Format, str] = {
    "json": "application/feed+json; charset=utf-8",
    "rss": "application/rss+xml; charset=utf-8",
    "atom": "application/atom+xml; charset=utf-8",
    "html": "text/html; charset=utf-8",
    "embed": "text/html; charset=utf-8",
}
CATEGORY_LABELS: dict[Category, str] = {
    "news": "News",
    "research": "Research",
    "guidance": "Guidance",
}
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")

# Characters no XML 1.0 document may hold, C1 controls (HTML parse errors) and lone
# surrogates (not encodable as UTF-8).  Feed text is untrusted, so every output drops them.
_BAD_CHARS = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff\ufffe\uffff]")
# Titles, names and descriptions are plain text in every output, XML- or HTML-escaped exactly
# once by the templates' autoescaping.  RSS 2.0 leaves <title> undefined, but SimplePie (the
# WordPress RSS block and widget) HTML-escapes an RSS title's text before anything else reads
# it, so a second escape of ours would show on the website as "Q&amp;A" (issue #8; checked
# against WordPress's own code in tests/test_wordpress.py).  Atom says so: type="text".


class ItemSource(Protocol):
    """What publishing needs of :class:`curator.store.Store`."""

    def items(self, status: Status | None = None) -> list[Item]: ...

    def items_reviewed_since(self, status: Status, since: datetime) -> Iterator[Item]: ...

    def last_reviewed(self, status: Status, until: datetime) -> datetime | None: ...

    def last_approved_change(self) -> datetime | None: ...

    def approved_ranks(self, since: datetime) -> list[tuple[datetime, datetime, str, str]]: ...

    def get_item(self, item_id: str) -> Item | None: ...

    def version(self) -> str: ...

    def damage(self, *, deep: bool = False) -> list[Damage]: ...


def damaged_items(store: ItemSource) -> list[Damage]:
    """The item files that do not load: an output made now would silently lack their items.

    The public outputs are an evidence list others copy and cache: while part of it is
    unreadable they keep what they last published in full (the last good export on disk, the
    last good answer in ``serve``) rather than a list with holes in it.
    """
    return [d for d in store.damage() if d.name.startswith("items/")]


@dataclass(frozen=True)
class Query:
    """What one output asks for: some categories (none = all) and at most ``limit`` items
    (``None`` = ``publish.limit``; a larger number is capped to it)."""

    categories: tuple[Category, ...] = ()
    limit: int | None = None
    # Added by sources (issue 12): publisher classes and jurisdictions (none = all), matched
    # against each item's first source as configured now (curator.publisher.of).
    classes: tuple[str, ...] = ()
    jurisdictions: tuple[str, ...] = ()


@dataclass(frozen=True)
class Selection:
    """The items one output shows, and the validators that go with them.

    ``valid_until`` is when the next shown item ages out of the window, i.e. when the same
    store would give a different selection (``None``: not before the store changes).
    """

    items: tuple[Item, ...]
    query: Query
    last_modified: datetime
    valid_until: datetime | None


@dataclass(frozen=True)
class Rendered:
    """One output, ready to serve or write."""

    body: bytes
    media_type: str
    etag: str
    last_modified: datetime


# --------------------------------------------------------------------------- selection


def _changed_at(item: Item) -> datetime:
    return item.updated_at or item.reviewed_at or item.first_seen


def _is_http(url: str) -> bool:
    parts = urlsplit(url)
    return parts.scheme in ("http", "https") and bool(parts.netloc)


def _was_approved(item: Item) -> bool:
    return any(event.action == "approved" for event in item.history)


def approved_at(item: Item) -> datetime:
    """When the item was approved: what ``publish.max_age`` counts from."""
    return item.reviewed_at or item.first_seen


def select(
    items: Iterable[Item],
    publish: Publish,
    now: datetime,
    query: Query | None = None,
    classes: publisher.Classes | None = None,
) -> Selection:
    """Choose what the outputs show; ``items`` is every item (``store.items()``), so that
    an item leaving the list (undone, rejected after approval) moves ``last_modified``.
    ``classes`` (the configured sources' classes) is needed only by a query that filters by
    class or jurisdiction."""
    return _select(items, publish, now, query, classes, (), ranked=False)


def _select(
    items: Iterable[Item],
    publish: Publish,
    now: datetime,
    query: Query | None,
    classes: publisher.Classes | None,
    marks: Iterable[datetime],
    *,
    ranked: bool,
) -> Selection:
    """:func:`select`, with ``marks`` added to the changes ``last_modified`` is the latest of;
    ``ranked``: ``items`` come in the outputs' order (highest :func:`_rank` first), so the
    first ``limit`` that pass the filters are the selection and the rest is never read."""
    query = query or Query()
    by_source = (classes or publisher.Classes()).lookup()
    by_publisher = bool(query.classes or query.jurisdictions)
    max_age = timedelta(seconds=publish.max_age)
    cutoff = now - max_age
    limit = min(query.limit or publish.limit, publish.limit)
    shown: list[Item] = []
    changes: list[datetime] = [EPOCH, *marks]
    for item in items:
        if item.status != "approved":
            if _was_approved(item):
                changes.append(_changed_at(item))
            continue
        changes.append(_changed_at(item))
        if approved_at(item) <= cutoff:
            changes.append(approved_at(item) + max_age)  # when it left the window
            continue
        if not _is_http(item.url):
            continue
        if query.categories and item.category not in query.categories:
            continue
        if by_publisher and not publisher.matches(
            publisher.of(item, by_source), query.classes, query.jurisdictions
        ):
            continue
        shown.append(item)
        if ranked and len(shown) == limit:
            break
    chosen = tuple(heapq.nlargest(limit, shown, key=_rank))
    last_modified = min(max(changes), now).replace(microsecond=0)
    valid_until = min((approved_at(i) + max_age for i in chosen), default=None)
    return Selection(chosen, query, last_modified, valid_until)


def _rank(item: Item) -> tuple[datetime, datetime, str]:
    """The outputs' order, highest first: article date, then latest approval."""
    return (item.published, item.reviewed_at or EPOCH, item.id)


@dataclass(frozen=True)
class Standing:
    """Where the approved items stand in the outputs, to tell the editor why one is left out.

    ``shown`` is what the full outputs show; ``category_floor`` the rank of the last item that
    a full category-filtered output shows (absent: that output has room for more).
    """

    publish: Publish
    now: datetime
    shown: frozenset[str]
    category_floor: Mapping[Category, tuple[datetime, datetime, str]]

    def why_not(self, item: Item) -> str:
        """Why no output shows the approved ``item`` ("" when they do, or it is not approved)."""
        if item.status != "approved" or item.id in self.shown:
            return ""
        if not _is_http(item.url):
            return "its link is not an http(s) address"
        if approved_at(item) <= self.now - timedelta(seconds=self.publish.max_age):
            return (
                f"approved {human_date(approved_at(item))}, longer ago than "
                f"{duration(self.publish.max_age)} (publish.max_age)"
            )
        newer = f"the {self.publish.limit} newest articles (publish.limit, by the article's date)"
        floor = self.category_floor.get(item.category)
        if floor is None or _rank(item) >= floor:
            return f"the full list shows only {newer}; lists for ?category={item.category} show it"
        return f"the lists show only {newer}"


def standing(approved: Iterable[Item], publish: Publish, now: datetime) -> Standing:
    """:class:`Standing` of ``approved`` (``store.items("approved")``): one pass and partial
    sorts of small tuples, so the editor's Approved list stays fast with tens of thousands."""
    cutoff = now - timedelta(seconds=publish.max_age)
    rows: list[tuple[datetime, datetime, str, Category]] = []
    for item in approved:
        if item.status == "approved" and approved_at(item) > cutoff and _is_http(item.url):
            rows.append((*_rank(item), item.category))
    shown = frozenset(row[2] for row in heapq.nlargest(publish.limit, rows))
    floors: dict[Category, tuple[datetime, datetime, str]] = {}
    for category in CATEGORIES:
        ranked = heapq.nlargest(publish.limit, (r for r in rows if r[3] == category))
        if len(ranked) == publish.limit:
            floors[category] = ranked[-1][:3]
    return Standing(publish, now, shown, floors)


def standing_of(store: ItemSource, publish: Publish, now: datetime) -> Standing:
    """:func:`standing` of the store's approved items, decoding few of them: the ranks of
    those within ``publish.max_age`` come from the store's index or columns
    (:meth:`~curator.store.Store.approved_ranks`), and, best first, an item is read (its
    link checked) only while the full outputs or its category's still have room: at most
    ``publish.limit`` for each, plus the approved items without an http(s) link among them.
    :func:`standing` over every approved item decoded 100,000 of them on the embedded store.
    """
    cutoff = now - timedelta(seconds=publish.max_age)
    limit = publish.limit
    shown: list[str] = []
    by_category: dict[str, list[tuple[datetime, datetime, str]]] = {c: [] for c in CATEGORIES}
    for _, _, item_id, category in sorted(store.approved_ranks(cutoff), reverse=True):
        ranked = by_category.get(category)
        if len(shown) >= limit and (ranked is None or len(ranked) >= limit):
            continue
        item = store.get_item(item_id)
        if item is None or item.status != "approved" or approved_at(item) <= cutoff:
            continue  # changed since the look at the ranks
        if not _is_http(item.url):
            continue
        if len(shown) < limit:
            shown.append(item.id)
        ranked = by_category.get(item.category)
        if ranked is not None and len(ranked) < limit:
            ranked.append(_rank(item))
    floors = {c: by_category[c][-1] for c in CATEGORIES if len(by_category[c]) == limit}
    return Standing(publish, now, frozenset(shown), floors)


def left_out(approved: Iterable[Item], publish: Publish, now: datetime) -> dict[str, str]:
    """Why each approved item that no output shows is left out, by item id (an item that only
    a category-filtered output shows, ``?category=…``, is listed too, with that said)."""
    items = list(approved)
    state = standing(items, publish, now)
    return {i.id: why for i in items if (why := state.why_not(i))}


def duration(seconds: float) -> str:
    """``365 days``, ``36 hours``: a duration setting's value as an editor reads it."""
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds >= size and seconds % size == 0:
            count = int(seconds // size)
            return f"{count} {unit}{'s' if count != 1 else ''}"
    return f"{seconds:g} seconds"


def items_for(
    store: ItemSource,
    publish: Publish,
    now: datetime,
    query: Query | None = None,
    classes: publisher.Classes | None = None,
) -> Selection:
    """:func:`select` over everything in ``store``, without reading everything.

    ``select(store.items(), …)`` decodes every item, a million on a big PostgreSQL store,
    where the answer depends on few: the approved items within ``publish.max_age``, read in
    the outputs' order until the list is full (:meth:`~curator.store.Store.items_reviewed_since`),
    and two dates that stand for all the others in ``last_modified``: the latest change of
    an item approved now or ever (each one's change is a mark in :func:`select`), and the
    latest approval that aged out of the window (its mark is that approval + ``max_age``, and
    the latest such is the largest).  The same :class:`Selection` as :func:`select` over
    every item: ``tests/test_store.py`` holds both backends to that."""
    cutoff = now - timedelta(seconds=publish.max_age)
    marks: list[datetime] = []
    changed = store.last_approved_change()
    if changed is not None:
        marks.append(changed)
    aged = store.last_reviewed("approved", cutoff)
    if aged is not None:
        marks.append(aged + timedelta(seconds=publish.max_age))
    window = store.items_reviewed_since("approved", cutoff)
    return _select(window, publish, now, query, classes, marks, ranked=True)


# --------------------------------------------------------------------------- views


def _clean(text: str) -> str:
    return _BAD_CHARS.sub("", text)


def _clean_html(fragment: str) -> str:
    """The stored summary is already sanitised; this second allow-list pass costs little and
    keeps the published outputs safe whatever path an edit took into the store."""
    return nh3.clean(_clean(fragment), link_rel="noopener noreferrer")


def _text_of(item: Item) -> str:
    if item.summary_text.strip():
        return " ".join(_clean(item.summary_text).split())
    text = html.unescape(nh3.clean(_clean(item.summary), tags=set()))
    return " ".join(_clean(text).split())


def shorten(text: str, limit: int = SUMMARY_CHARS) -> str:
    """Cut at a word boundary and mark the cut, for list summaries."""
    if len(text) <= limit:
        return text
    cut = text[: limit - 1]
    space = cut.rfind(" ")
    if space > limit // 2:
        cut = cut[:space]
    return cut.rstrip(" ,;:.-–—") + "…"


def rfc3339(dt: datetime) -> str:
    return dt.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def http_date(dt: datetime) -> str:
    """RFC 822/1123 date, as RSS ``pubDate`` and HTTP ``Last-Modified`` want it."""
    return format_datetime(dt.astimezone(UTC).replace(microsecond=0), usegmt=True)


def human_date(dt: datetime) -> str:
    """``1 May 2024``: unambiguous in every English variant, and what embed.js writes too."""
    d = dt.astimezone(UTC)
    return f"{d.day} {_MONTHS[d.month - 1]} {d.year}"


@dataclass(frozen=True)
class _Entry:
    id: str
    url: str
    title: str
    summary_html: str
    summary_text: str
    summary_short: str
    category: Category
    category_label: str
    authors: tuple[str, ...]
    published: datetime
    updated: datetime
    citation: str = ""  # research metadata in one line (curator.citation)
    research: Mapping[str, Any] = field(default_factory=dict)  # JSON Feed's _curator fields


@dataclass(frozen=True)
class _Feed:
    title: str
    description: str
    language: str
    author: str
    home_url: str
    self_url: str
    updated: datetime
    generator: str
    entries: tuple[_Entry, ...]


def _entry(item: Item) -> _Entry:
    text = _text_of(item)
    return _Entry(
        id=item.canonical_url or item.url,
        url=item.url,
        title=" ".join(_clean(item.title).split()) or item.url,
        summary_html=_clean_html(item.summary),
        summary_text=text,
        summary_short=shorten(text),
        category=item.category,
        category_label=CATEGORY_LABELS[item.category],
        authors=tuple(a for a in (" ".join(_clean(a).split()) for a in item.authors) if a),
        published=item.published,
        updated=_changed_at(item),
        citation=citation_line(item),
        research=research_fields(item),
    )


def home_url(publish: Publish) -> str:
    """The HTML page the feeds describe: the website, else our own /embed page."""
    return publish.site_url or publish.base_url.rstrip("/") + "/embed"


def feed_url(
    publish: Publish, name: str, query: Query | None = None, *, base: str | None = None
) -> str:
    """The public URL of one output (``name`` e.g. ``links.rss``) with its query, so that a
    filtered feed's self link and id name the filtered feed."""
    params: list[tuple[str, str]] = []
    if query and query.categories:
        params.append(("category", ",".join(query.categories)))
    if query and query.classes:
        params.append(("class", ",".join(query.classes)))
    if query and query.jurisdictions:
        params.append(("jurisdiction", ",".join(query.jurisdictions)))
    if query and query.limit is not None:
        params.append(("limit", str(min(query.limit, publish.limit))))
    url = (base or publish.base_url).rstrip("/") + "/" + name
    return url + ("?" + urlencode(params, safe=",") if params else "")


def _feed(selection: Selection, publish: Publish, self_url: str) -> _Feed:
    return _Feed(
        title=_clean(publish.title),
        description=_clean(publish.description),
        language=publish.language,
        author=_clean(publish.author or publish.title),
        home_url=home_url(publish),
        self_url=self_url,
        updated=selection.last_modified,
        generator=f"Curator {__version__}",
        entries=tuple(_entry(i) for i in selection.items),
    )


@functools.cache
def _templates() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("curator", "publish_templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters.update(rfc3339=rfc3339, rfc822=http_date, human_date=human_date)
    return env


def _render_template(name: str, **context: Any) -> str:
    return _templates().get_template(name).render(**context)


# --------------------------------------------------------------------------- renderers


def json_feed(selection: Selection, publish: Publish, *, self_url: str) -> dict[str, Any]:
    """JSON Feed 1.1 (https://jsonfeed.org/version/1.1) as a dict."""
    feed = _feed(selection, publish, self_url)
    items: list[dict[str, Any]] = []
    for e in feed.entries:
        item: dict[str, Any] = {
            "id": e.id,
            "url": e.url,
            "title": e.title,
            "content_html": e.summary_html,
            "content_text": e.summary_text,
            "summary": e.summary_short,
            "date_published": rfc3339(e.published),
            "date_modified": rfc3339(e.updated),
            "tags": [e.category],
        }
        if e.authors:
            item["authors"] = [{"name": a} for a in e.authors]
        if e.research:
            item.setdefault("_curator", {}).update(e.research)
        items.append(item)
    return {
        "version": JSON_FEED_VERSION,
        "title": feed.title,
        "home_page_url": feed.home_url,
        "feed_url": feed.self_url,
        "description": feed.description,
        "language": feed.language,
        "authors": [{"name": feed.author}],
        "items": items,
    }


def json_feed_bytes(selection: Selection, publish: Publish, *, self_url: str) -> bytes:
    doc = json_feed(selection, publish, self_url=self_url)
    return json.dumps(doc, ensure_ascii=False, indent=1).encode("utf-8") + b"\n"


def rss(selection: Selection, publish: Publish, *, self_url: str) -> bytes:
    """RSS 2.0 with atom:link rel=self, as the WordPress RSS block (SimplePie) reads it."""
    feed = _feed(selection, publish, self_url)
    return _render_template("links.rss.xml", feed=feed).encode("utf-8")


def atom(selection: Selection, publish: Publish, *, self_url: str) -> bytes:
    """Atom 1.0 (RFC 4287)."""
    feed = _feed(selection, publish, self_url)
    return _render_template("links.atom.xml", feed=feed).encode("utf-8")


def html_fragment(
    selection: Selection, publish: Publish, *, summaries: bool = True, dates: bool = True
) -> str:
    """The list as an HTML fragment (a ``<ul>``, or a ``<p>`` when empty) for a server-side
    include; class names only, so the host page's styles apply."""
    feed = _feed(selection, publish, home_url(publish))
    return _render_template("fragment.html", feed=feed, summaries=summaries, dates=dates)


EMBED_CSS = """\
body { margin: 0; padding: 0.25rem; background: transparent; color: #1f1f1f;
  font-family: system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif;
  font-size: 1rem; line-height: 1.5; }
.curator-links { list-style: none; margin: 0; padding: 0; font: inherit; }
.curator-item { margin: 0 0 0.75em; padding: 0 0 0.75em; border-bottom: 1px solid #d6d6d6; }
.curator-item:last-child { margin-bottom: 0; border-bottom: 0; }
.curator-title { color: #0645ad; font-weight: 600; }
.curator-title:visited { color: #5b2d91; }
.curator-title:hover { text-decoration: none; }
.curator-title:focus-visible { outline: 2px solid #0645ad; outline-offset: 2px; }
.curator-meta { color: #555; font-size: 0.875em; }
.curator-citation { color: #555; font-size: 0.875em; font-style: italic; }
.curator-summary { margin: 0.25em 0 0; }
.curator-empty { margin: 0; color: #555; }
"""


def embed_style_hash() -> str:
    """The CSP source for the embed page's one ``<style>`` element."""
    digest = hashlib.sha256(EMBED_CSS.encode("utf-8")).digest()
    return "'sha256-" + base64.b64encode(digest).decode("ascii") + "'"


def embed_page(
    selection: Selection, publish: Publish, *, summaries: bool = True, dates: bool = True
) -> str:
    """A whole HTML document around :func:`html_fragment`, for an ``<iframe>``; links open
    in the top window, as the host page's own links would."""
    fragment = html_fragment(selection, publish, summaries=summaries, dates=dates)
    return _render_template(
        "embed.html",
        title=_clean(publish.title),
        language=publish.language,
        css=Markup(EMBED_CSS),
        fragment=Markup(fragment),
    )


def etag(content: bytes) -> str:
    """A strong ETag from the bytes: equal bytes, equal tag, whichever process made them."""
    return '"' + hashlib.sha256(content).hexdigest()[:32] + '"'


def render(
    fmt: Format,
    selection: Selection,
    publish: Publish,
    *,
    self_url: str,
    summaries: bool = True,
    dates: bool = True,
) -> Rendered:
    """One output with its validators. ``self_url`` is where the output itself is served."""
    if fmt == "json":
        body = json_feed_bytes(selection, publish, self_url=self_url)
    elif fmt == "rss":
        body = rss(selection, publish, self_url=self_url)
    elif fmt == "atom":
        body = atom(selection, publish, self_url=self_url)
    elif fmt == "html":
        body = html_fragment(selection, publish, summaries=summaries, dates=dates).encode("utf-8")
    else:
        body = embed_page(selection, publish, summaries=summaries, dates=dates).encode("utf-8")
    return Rendered(body, MEDIA_TYPES[fmt], etag(body), selection.last_modified)


# --------------------------------------------------------------------------- static export


def _write_atomically(path: Path, data: bytes) -> bool:
    """Replace ``path`` with ``data`` so that a reader sees the old file or the new one, never
    part of one.  Returns False (and leaves the file, and its mtime, alone) when unchanged."""
    try:
        if path.read_bytes() == data:
            return False
    except FileNotFoundError:
        pass
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fchmod(f.fileno(), 0o644)  # mkstemp makes 0600; a web server must read it
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    return True


def _fsync_dir(path: Path) -> None:
    with contextlib.suppress(OSError):  # not every filesystem lets a directory be fsynced
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


class ExportSource(ItemSource, Protocol):
    """What the export needs of :class:`curator.store.Store`: the items, and the store's
    locks, one of which serialises exports."""

    def lock(self, name: str, *, wait: float) -> contextlib.AbstractContextManager[bool]: ...


def export_lock(out: Path) -> str:
    """The name of the store lock that serialises exports to ``out``: one per export
    directory, kept by the store (a file beside its data, or a PostgreSQL advisory lock),
    never in ``out`` (a web root publishes whatever lies in it)."""
    key = hashlib.sha256(str(out.resolve()).encode("utf-8")).hexdigest()[:16]
    return f"publish-{key}"


def export(
    config: Config, store: ExportSource, out_dir: str | os.PathLike[str], now: datetime
) -> list[Path]:
    """Write links.json, links.rss, links.atom and links.html (the fragment) into ``out_dir``.

    Each file is replaced atomically and only when its content changed; the four are rendered
    from one read of the store.  A lock file in the store's directory (:func:`export_lock`)
    serialises exports from several processes, so an older state never overwrites a newer one;
    nothing but the four files and, for an instant, their temporary files enters ``out_dir``.
    The feeds' self links point at ``publish.export_url`` when set, else at ``base_url``.
    Returns the files that changed.  Raises PublishError naming the path when it cannot write,
    and when item files are damaged (:func:`damaged_items`: the files on disk stay as they are).
    """
    publish = config.publish
    out = Path(out_dir)
    try:
        out.mkdir(parents=True, exist_ok=True)
        with store.lock(export_lock(out), wait=60) as held:
            if not held:
                raise PublishError(f"{out}: another export held its lock for 60 s; try again")
            damaged = damaged_items(store)
            if damaged:
                lost = ", ".join(f"{d.path} ({d.held})" for d in damaged)
                raise PublishError(
                    f"{out}: not written, the last good export stays: the store has damaged "
                    f"files ({lost}) whose items it would leave out. Run `curator store "
                    "verify`, then `curator store repair`."
                )
            selection = items_for(store, publish, now)
            written: list[Path] = []
            for fmt, name in zip(_EXPORT_FORMATS, EXPORT_FILES, strict=True):
                url = feed_url(publish, name, base=publish.export_url)
                body = render(fmt, selection, publish, self_url=url).body
                if _write_atomically(out / name, body):
                    written.append(out / name)
            if written:
                _fsync_dir(out)
    except OSError as e:
        where = e.filename or out
        raise PublishError(f"{where}: cannot write the export ({e.strerror or e})") from e
    for path in written:
        log.info("exported file=%s items=%d", path, len(selection.items))
    return written


def export_dir(config: Config) -> Path | None:
    """``publish.out_dir``, a relative one taken from the directory of the config file."""
    if not config.publish.out_dir:
        return None
    out = Path(config.publish.out_dir).expanduser()
    return out if out.is_absolute() else Path(config.path).parent / out


def refresh(config: Config, store: ExportSource, now: datetime) -> list[Path]:
    """The hook for ``Curator.changed()``: re-export to ``publish.out_dir`` when it is set.

    A failed export is logged, not raised: the review or poll that triggered it has already
    been stored, and the next change or ``curator publish --out`` writes the files again.
    """
    out = export_dir(config)
    if out is None:
        return []
    try:
        return export(config, store, out, now)
    except PublishError as e:
        log.error("export failed: %s", e)
        return []


def parse_categories(values: Sequence[str]) -> tuple[Category, ...]:
    """``["research", "news,guidance"]`` → categories in a canonical order; ValueError names
    the unknown one."""
    wanted: set[str] = set()
    for value in values:
        for part in value.split(","):
            name = part.strip().lower()
            if not name:
                continue
            if name not in CATEGORIES:
                raise ValueError(
                    f"unknown category {part.strip()!r}; use one of {', '.join(CATEGORIES)}"
                )
            wanted.add(name)
    return tuple(c for c in CATEGORIES if c in wanted)
