"""OPML subscription lists in and out: ``curator sources import`` and ``export``.

Reading.  An OPML file comes from anywhere (a feed reader's export, a colleague's mail), so it
is read as hostile: at most :data:`MAX_BYTES`, by lxml with entities left unresolved, no DTD
loaded, no network, and any document with a DOCTYPE refused outright (OPML needs none; a
DOCTYPE is how "billion laughs" and external-entity attacks arrive).  A file that is not XML,
or not OPML, is an :class:`~curator.exceptions.OpmlError` naming the file and the line.

Every ``<outline>`` with an ``xmlUrl`` is a feed, however deeply nested.  An outline without
one is a folder: readers use folders for the reader's own grouping ("Tech", "Must read"), which
says nothing Curator can use, so a folder name is only used when it *is* a Curator category
(``News``, ``Research``, ``Guidance``) or publisher class (``Police``, ``Academic``…), as in
the files :func:`export` writes; any other folder name is shown in the import report and
otherwise ignored.

Planning (:func:`plan`) turns the feeds into new ``sources:`` entries: ids derived from the
titles (:func:`slug`, unique against the configuration and each other), and feeds already
configured skipped — "already" compared on :func:`url_key`, which ignores what does not change
the feed a URL names (http/https, ``www.``, case of the host, a default port, a trailing
slash, a fragment, the order of query parameters).

Writing (:func:`export`) produces OPML 2.0 with a folder per category and, on each feed,
``text``, ``title``, ``type="rss"``, ``xmlUrl`` and ``htmlUrl`` (what Miniflux, FreshRSS,
NetNewsWire and Feedly read), plus the Curator id, class and jurisdiction in a namespace of
their own, which those readers ignore and which an import reads back (a source's interval and
own rules are Curator's settings, not a subscription: they are not exported).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from email.utils import format_datetime
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from lxml import etree

from curator import config_edit
from curator.config import ID_PATTERN, JURISDICTION_CODE, Config, Source
from curator.exceptions import OpmlError
from curator.types import CATEGORIES, PUBLISHER_CLASSES, Category

#: The largest OPML file read: a reader's export of thousands of feeds is well under 1 MB.
MAX_BYTES = 5 * 1024 * 1024
#: The most feeds one file may hold.
MAX_FEEDS = 5000
#: The namespace of Curator's own attributes in an exported file.
NS = "urn:curator:opml:1"
NAME_MAX = 120
#: The kinds of source a feed reader can read (arXiv's API answers in Atom).
EXPORTED_KINDS = ("feed", "arxiv")

_ID_MAX = 48
#: Letters NFKD does not split into a base letter and an accent.
_FOLD = str.maketrans({"ß": "ss", "æ": "ae", "Æ": "ae", "ø": "o", "Ø": "o", "œ": "oe", "ł": "l"})


@dataclass(frozen=True)
class OpmlFeed:
    """One feed outline as the file gave it."""

    title: str
    xml_url: str  # http(s), as written (``feed://`` turned into ``http://``)
    html_url: str | None
    folders: tuple[str, ...]  # the enclosing folders' names, outermost first
    line: int | None
    source_id: str | None = None  # curator:id, in files Curator exported
    publisher_class: str | None = None  # curator:class
    jurisdiction: str | None = None  # curator:jurisdiction
    kind: str | None = None  # curator:kind


@dataclass(frozen=True)
class Ignored:
    """An outline that is not a usable feed, and why."""

    line: int | None
    title: str
    reason: str


@dataclass(frozen=True)
class OpmlDocument:
    title: str | None
    feeds: tuple[OpmlFeed, ...]
    ignored: tuple[Ignored, ...] = ()
    folders: tuple[str, ...] = ()  # every folder name met, in order, once each


# --------------------------------------------------------------------------- reading


def _text(value: str | None, limit: int = NAME_MAX) -> str:
    """An attribute as one clean line: control characters out, spaces collapsed, capped."""
    if not value:
        return ""
    cleaned = "".join(" " if unicodedata.category(c)[0] == "C" else c for c in value)
    cleaned = " ".join(cleaned.split())
    return cleaned if len(cleaned) <= limit else cleaned[: limit - 1].rstrip() + "…"


def _http_url(value: str | None) -> str | None:
    """An absolute http(s) URL, or None.  ``feed://host/x`` and ``feed:https://…`` (the old
    feed: scheme) become the http(s) URL they stand for."""
    if not value:
        return None
    url = value.strip()
    if url.lower().startswith("feed:"):
        rest = url[5:]
        url = rest if rest.lower().startswith(("http://", "https://")) else "http:" + rest
    parts = urlsplit(url)
    if parts.scheme.lower() not in ("http", "https") or not parts.netloc:
        return None
    if any(c.isspace() for c in url) or len(url) > 2000:
        return None
    return url


def _attr(element: Any, *names: str) -> str | None:
    """The first of ``names`` the element has, matched without regard to case (exporters
    write ``xmlUrl``, ``xmlurl`` or ``XMLURL``)."""
    wanted = [n.lower() for n in names]
    found = {str(k).lower(): v for k, v in element.attrib.items() if "}" not in str(k)}
    for name in wanted:
        if name in found:
            return str(found[name])
    return None


def _ns(element: Any, name: str) -> str | None:
    value = element.get(f"{{{NS}}}{name}")
    return str(value) if value is not None else None


def parse(data: bytes, name: str) -> OpmlDocument:
    """The feeds of an OPML file; :class:`OpmlError` (with ``name`` and the line) when it
    cannot be one."""
    if len(data) > MAX_BYTES:
        raise OpmlError(
            name, None, f"the file is {len(data):,} bytes; an OPML list is at most {MAX_BYTES:,}"
        )
    if not data.strip():
        raise OpmlError(name, None, "the file is empty; expected an OPML subscription list")
    doctype = re.search(rb"<!DOCTYPE", data, re.IGNORECASE)
    if doctype:
        raise OpmlError(
            name,
            data.count(b"\n", 0, doctype.start()) + 1,
            "the file has a DOCTYPE; OPML needs none, and one is refused for safety "
            "(entities can expand without bound or read local files)",
        )
    parser = etree.XMLParser(
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        dtd_validation=False,
        huge_tree=False,
        remove_comments=True,
        remove_pis=True,
    )
    try:
        root = etree.fromstring(data, parser)
    except etree.XMLSyntaxError as e:
        message = str(e.msg or e).split(", line ")[0]
        raise OpmlError(name, e.lineno or None, f"not well-formed XML: {message}") from None
    if root.getroottree().docinfo.doctype:  # written in an encoding the search missed
        raise OpmlError(name, 1, "the file has a DOCTYPE; OPML needs none, and it is refused")
    if not isinstance(root.tag, str) or etree.QName(root).localname.lower() != "opml":
        shown = etree.QName(root).localname if isinstance(root.tag, str) else "?"
        raise OpmlError(
            name,
            root.sourceline,
            f"the document is <{shown}>, not <opml>: is this an OPML subscription list?",
        )
    body = next((c for c in root if isinstance(c.tag, str) and c.tag.lower() == "body"), None)
    if body is None:
        raise OpmlError(name, root.sourceline, "the <opml> element has no <body>")
    head = next((c for c in root if isinstance(c.tag, str) and c.tag.lower() == "head"), None)
    title = None
    if head is not None:
        t = next((c for c in head if isinstance(c.tag, str) and c.tag.lower() == "title"), None)
        title = _text(t.text) if t is not None and t.text else None
    feeds: list[OpmlFeed] = []
    ignored: list[Ignored] = []
    folders: list[str] = []
    _walk(body, (), feeds, ignored, folders, name)
    return OpmlDocument(title, tuple(feeds), tuple(ignored), tuple(dict.fromkeys(folders)))


def _walk(
    parent: Any,
    path: tuple[str, ...],
    feeds: list[OpmlFeed],
    ignored: list[Ignored],
    folders: list[str],
    name: str,
) -> None:
    """Depth first; recursion is safe: lxml refuses nesting deeper than 256 levels."""
    for element in parent:
        if not isinstance(element.tag, str) or element.tag.lower() != "outline":
            continue
        label = _text(_attr(element, "text")) or _text(_attr(element, "title"))
        raw_url = _attr(element, "xmlUrl")
        if raw_url is None:
            if len(element):
                folder = label or "(unnamed folder)"
                folders.append(folder)
                _walk(element, (*path, folder), feeds, ignored, folders, name)
            elif _attr(element, "type") not in (None, "", "rss", "atom"):
                ignored.append(
                    Ignored(
                        element.sourceline,
                        label,
                        f"an outline of type {_text(_attr(element, 'type'), 30)!r}, not a feed",
                    )
                )
            continue
        url = _http_url(raw_url)
        if url is None:
            ignored.append(
                Ignored(
                    element.sourceline,
                    label,
                    f"xmlUrl {_text(raw_url, 80)!r} is not an absolute http(s) URL",
                )
            )
            continue
        if len(feeds) >= MAX_FEEDS:
            raise OpmlError(
                name, element.sourceline, f"more than {MAX_FEEDS:,} feeds; split the file"
            )
        html_url = _http_url(_attr(element, "htmlUrl"))
        feeds.append(
            OpmlFeed(
                title=label or _text(urlsplit(html_url or url).netloc),
                xml_url=url,
                html_url=html_url,
                folders=path,
                line=element.sourceline,
                source_id=_ns(element, "id"),
                publisher_class=_ns(element, "class"),
                jurisdiction=_ns(element, "jurisdiction"),
                kind=_ns(element, "kind"),
            )
        )
        if len(element):  # a feed with children (rare): its children are read too
            _walk(element, path, feeds, ignored, folders, name)


# --------------------------------------------------------------------------- planning


def url_key(url: str) -> str:
    """What makes two feed URLs the same feed, for "already configured": scheme, ``www.``,
    host case, default port, trailing slash, fragment and query order do not count."""
    parts = urlsplit(url.strip())
    host = (parts.hostname or "").lower().rstrip(".")
    if host.startswith("www."):
        host = host[4:]
    port = parts.port if parts.port not in (None, 80, 443) else None
    netloc = host + (f":{port}" if port else "")
    path = parts.path.rstrip("/") or ""
    query = urlencode(sorted(parse_qsl(parts.query, keep_blank_values=True)))
    return urlunsplit(("", netloc, path, query, ""))


def slug(title: str) -> str:
    """An id from a title: ``"Police Scotland – News"`` → ``police-scotland-news``; accents
    folded, at most 48 characters, cut at a word."""
    folded = unicodedata.normalize("NFKD", title.translate(_FOLD))
    ascii_text = folded.encode("ascii", "ignore").decode("ascii").lower()
    words = re.findall(r"[a-z0-9]+", ascii_text)
    out = ""
    for word in words:
        candidate = f"{out}-{word}" if out else word
        if len(candidate) > _ID_MAX:
            break
        out = candidate
    if not out and words:
        out = words[0][:_ID_MAX]
    return out


def _unique(base: str, taken: set[str]) -> str:
    if base not in taken:
        return base
    n = 2
    while f"{base[: _ID_MAX - 4]}-{n}" in taken:
        n += 1
    return f"{base[: _ID_MAX - 4]}-{n}"


@dataclass(frozen=True)
class Added:
    """A feed to become a source: the entry written under ``sources:``."""

    feed: OpmlFeed
    entry: dict[str, Any]

    @property
    def source_id(self) -> str:
        return str(self.entry["id"])


@dataclass(frozen=True)
class Skipped:
    feed: OpmlFeed
    reason: str
    existing: str | None = None  # the configured source id it duplicates


@dataclass(frozen=True)
class ImportPlan:
    added: tuple[Added, ...]
    skipped: tuple[Skipped, ...]
    ignored: tuple[Ignored, ...]
    folders: tuple[str, ...]
    folder_use: dict[str, str] = field(default_factory=dict)  # folder → what it set


def _folder_meaning(folders: Sequence[str]) -> tuple[Category | None, str | None]:
    """The innermost folders naming a Curator category and a publisher class, if any."""
    category: Category | None = None
    klass: str | None = None
    for folder in folders:
        key = folder.strip().lower()
        for c in CATEGORIES:
            if key == c:
                category = c
        if key in PUBLISHER_CLASSES:
            klass = key
    return category, klass


def plan(
    document: OpmlDocument,
    sources: Iterable[Source],
    *,
    category: Category | None = None,
    publisher_class: str | None = None,
    jurisdiction: str | None = None,
) -> ImportPlan:
    """Which feeds become sources (with their entries) and which are skipped, and why.

    Options given on the command line win over what the file says; the file (curator:
    attributes, folders named after a category or class) wins over the defaults (category
    ``news``, no class, jurisdiction ``UK``)."""
    configured = list(sources)
    by_key = {url_key(s.url): s.id for s in configured}
    taken = {s.id for s in configured}
    seen: dict[str, OpmlFeed] = {}
    added: list[Added] = []
    skipped: list[Skipped] = []
    folder_use: dict[str, str] = {}
    for feed in document.feeds:
        key = url_key(feed.xml_url)
        if key in by_key:
            skipped.append(
                Skipped(feed, f"already configured as source {by_key[key]}", by_key[key])
            )
            continue
        if key in seen:
            first = seen[key]
            where = f"line {first.line}" if first.line else "earlier"
            skipped.append(Skipped(feed, f"the same feed as {where} of this file"))
            continue
        seen[key] = feed
        folder_category, folder_class = _folder_meaning(feed.folders)
        for folder in feed.folders:
            low = folder.strip().lower()
            if low in CATEGORIES:
                folder_use.setdefault(folder, f"category {low}")
            elif low in PUBLISHER_CLASSES:
                folder_use.setdefault(folder, f"class {low}")
        wanted_id = feed.source_id if feed.source_id and _valid_id(feed.source_id) else None
        base = wanted_id or slug(feed.title) or slug(urlsplit(feed.xml_url).netloc) or "feed"
        source_id = _unique(base, taken)
        taken.add(source_id)
        entry: dict[str, Any] = {
            "id": source_id,
            "name": feed.title or source_id,
            "url": feed.xml_url,
            "kind": feed.kind if feed.kind in EXPORTED_KINDS else "feed",
            "category": category or folder_category or "news",
        }
        klass = publisher_class or _known_class(feed.publisher_class) or folder_class
        if klass:
            entry["class"] = klass
        place = jurisdiction or _known_jurisdiction(feed.jurisdiction)
        if place:
            entry["jurisdiction"] = place
        if feed.html_url:
            entry["homepage"] = feed.html_url
        entry["enabled"] = True
        added.append(Added(feed, entry))
    return ImportPlan(tuple(added), tuple(skipped), document.ignored, document.folders, folder_use)


def _valid_id(value: str) -> bool:
    return bool(ID_PATTERN.match(value))


def _known_class(value: str | None) -> str | None:
    return value if value in PUBLISHER_CLASSES else None


def _known_jurisdiction(value: str | None) -> str | None:
    if value and JURISDICTION_CODE.match(value.strip().upper()):
        return value.strip().upper()
    return None


def add_to_document(doc: Any, entries: Sequence[dict[str, Any]], note: str) -> None:
    """Append ``entries`` to the round-trip document's ``sources:`` (made if missing) in the
    bundled file's style: a blank line before each, the first preceded by the comment
    ``note``, URLs quoted; everything else in the file stays as it was."""
    from ruamel.yaml.comments import CommentedMap, CommentedSeq
    from ruamel.yaml.error import CommentMark
    from ruamel.yaml.scalarstring import DoubleQuotedScalarString
    from ruamel.yaml.tokens import CommentToken

    if not isinstance(doc, dict):
        raise OpmlError("feeds.yaml", None, "expected a mapping of sections (sources:, rules:…)")
    sources = doc.get("sources")
    if sources is None:
        sources = CommentedSeq()
        doc["sources"] = sources
    start = len(sources)
    items = []
    for entry in entries:
        item = CommentedMap()
        for key, value in entry.items():
            quoted = key in ("url", "homepage") and isinstance(value, str)
            item[key] = DoubleQuotedScalarString(value) if quoted else value
        items.append(item)
    config_edit.append_entries(sources, items)
    for index in range(start, start + len(entries)):
        before = [CommentToken("\n", CommentMark(0), None)]
        if index == start:
            before.append(CommentToken(f"# {note}\n", CommentMark(2), None))
        sources.ca.items[index] = [None, before, None, None]


# --------------------------------------------------------------------------- writing


@dataclass(frozen=True)
class Export:
    data: bytes
    written: tuple[str, ...]  # source ids
    left_out: tuple[tuple[str, str], ...]  # (source id, why)


def export(config: Config, now: datetime) -> Export:
    """The configured sources as OPML 2.0: a folder per category, enabled feeds only (a
    feed reader cannot read Crossref's JSON or a page Curator scrapes)."""
    nsmap = {"curator": NS}
    root = etree.Element("opml", nsmap=nsmap)
    root.set("version", "2.0")
    head = etree.SubElement(root, "head")
    etree.SubElement(head, "title").text = f"{config.publish.title}: sources"
    etree.SubElement(head, "dateCreated").text = format_datetime(now, usegmt=True)
    etree.SubElement(head, "docs").text = "http://opml.org/spec2.opml"
    body = etree.SubElement(root, "body")
    written: list[str] = []
    left_out: list[tuple[str, str]] = []
    for category in CATEGORIES:
        chosen: list[Source] = []
        for s in config.sources:
            if s.category != category:
                continue
            if s.kind not in EXPORTED_KINDS:
                left_out.append((s.id, f"kind {s.kind}: not a feed a reader can read"))
            elif not s.enabled:
                left_out.append((s.id, "disabled"))
            else:
                chosen.append(s)
        if not chosen:
            continue
        folder = etree.SubElement(body, "outline")
        folder.set("text", category.capitalize())
        folder.set("title", category.capitalize())
        for s in chosen:
            o = etree.SubElement(folder, "outline")
            o.set("text", _xml_text(s.name))
            o.set("title", _xml_text(s.name))
            o.set("type", "rss")
            o.set("xmlUrl", s.url)
            if s.homepage:
                o.set("htmlUrl", s.homepage)
            if s.publisher_class:
                o.set("category", f"/{s.publisher_class}")
            o.set(f"{{{NS}}}id", s.id)
            if s.publisher_class:
                o.set(f"{{{NS}}}class", s.publisher_class)
            o.set(f"{{{NS}}}jurisdiction", s.jurisdiction)
            o.set(f"{{{NS}}}kind", s.kind)
            written.append(s.id)
    data = etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True)
    return Export(data, tuple(written), tuple(left_out))


_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff\ud800-\udfff]")


def _xml_text(text: str) -> str:
    """A name as XML 1.0 can carry it: feeds.yaml accepts any text, XML not control
    characters (a name pasted with a stray one would otherwise stop the whole export)."""
    return _NOT_XML.sub("", text)
