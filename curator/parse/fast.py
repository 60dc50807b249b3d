"""A fast path for the feeds most sources serve: well-formed RSS 2.0/0.9x and Atom 1.0.

feedparser reads XML through SAX with a Python callback per element and a FeedParserDict per
value, about 15 ms for a 50-entry feed; ElementTree builds the same tree in C in 0.2 ms.
:func:`parse_fast` walks that tree and replays what feedparser 6.0's strict parser does for
each element (``parsers/strict.py``, ``mixin.py``, ``namespaces/*.py``): same element names,
same handler logic, same text clean-up, same dates, into plain dicts with the keys
feedparser would have set.  :mod:`curator.parse.feed` then reads those dicts with the code it
uses for feedparser's result, so both paths give the same :class:`~curator.types.RawEntry`
values (``tests/test_parse_fast.py`` checks that on the whole corpus).

Nothing is approximated: :func:`parse_fast` returns None, and the caller uses feedparser, for
anything outside that subset:

* a charset other than UTF-8, US-ASCII or ISO-8859-1 (feedparser's RFC 3023 choice), bytes
  that do not decode in it, a UTF-16/32 or EBCDIC byte order;
* a DOCTYPE or an entity declaration anywhere (feedparser strips and contains them);
* anything expat rejects (feedparser's loose SGML parser reads those);
* a root other than ``<rss>`` with a ``<channel>`` or an Atom 1.0 ``<feed>``;
* ``xml:base`` (or any ``base`` attribute), SVG or MathML, an XLink declaration, base64
  content, two attributes with one local name, namespace prefixes used ambiguously;
* an element feedparser has a handler for that is not ported here (GeoRSS, GML, Podlove
  chapters) or an element handler that would run inside inline XHTML;
* any condition under which feedparser's handler code would raise.

The module reads a few of feedparser's private names (date parsers, URL join, the namespace
table) so that the two paths cannot drift; it switches itself off for a feedparser other
than 6.0.x.
"""

from __future__ import annotations

import base64
import binascii
import codecs
import contextlib
import copy
import re
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterable
from datetime import datetime, timedelta
from time import struct_time
from typing import Any, NamedTuple, cast
from urllib.parse import urljoin
from xml.sax.saxutils import escape

import feedparser
from feedparser.api import StrictFeedParser
from feedparser.datetimes import _parse_date
from feedparser.datetimes.rfc822 import timezone_names as _RFC822_ZONES
from feedparser.encodings import RE_XML_PI_ENCODING
from feedparser.html import _cp1252
from feedparser.mixin import _FeedParserMixin
from feedparser.urls import _urifixer, make_safe_absolute_uri

__all__ = ["Unsupported", "parse_fast", "read_fast"]

Dict = dict[str, Any]

ENABLED = str(getattr(feedparser, "__version__", "")).startswith("6.0.")

XHTML = "application/xhtml+xml"
_HTML_TYPES = frozenset({"application/xhtml+xml", "text/html"})
_COPY_TO_SUMMARY = frozenset({"text/plain", "application/xhtml+xml", "text/html"})
_MATCH: dict[str, str] = {k.lower(): v for k, v in _FeedParserMixin.namespaces.items()}
_RELATIVE = frozenset(_FeedParserMixin.can_be_relative_uri)
_looks_like_html = _FeedParserMixin.looks_like_html
# FeedParserDict.__setitem__ renames these keys (a list: the first name).
_KEYMAP: dict[str, str] = {
    "channel": "feed",
    "items": "entries",
    "guid": "id",
    "date": "updated",
    "date_parsed": "updated_parsed",
    "description": "summary",
    "description_detail": "summary_detail",
    "url": "href",
    "modified": "updated",
    "modified_parsed": "updated_parsed",
    "issued": "published",
    "issued_parsed": "published_parsed",
    "copyright": "rights",
    "copyright_detail": "rights_detail",
    "tagline": "subtitle",
    "tagline_detail": "subtitle_detail",
}
# Handlers feedparser has; an element with one that is not ported below is Unsupported.
_FP_START = frozenset(n[7:] for n in dir(StrictFeedParser) if n.startswith("_start_"))
_FP_END = frozenset(n[5:] for n in dir(StrictFeedParser) if n.startswith("_end_"))
_ATOM_NS = "http://www.w3.org/2005/atom"
_RSS10_NS = "http://purl.org/rss/1.0/"
_RSS090_NS = "http://my.netscape.com/rdf/simple/0.9/"
_XLINK_NS = "http://www.w3.org/1999/xlink"

_DTD = re.compile(r"<!(?:DOCTYPE|ENTITY)", re.IGNORECASE)
_CP1252_RANGE = re.compile("[\x80-\x9f]")
_REF_FIX = re.compile("&([A-Za-z0-9_]+);")  # "?a=1&b;=2" (a mangled "&b=2") back to "&b"
_TYPE_READ = frozenset({"description", "summary", "content", "title"})  # Curator reads their "type"
_NOT_STORED = frozenset({"category", "tags", "itunes_keywords"})
_EMAIL = re.compile(
    r"""(([a-zA-Z0-9\_\-\.\+]+)@((\[[0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,3}\.)|(([a-zA-Z0-9\-]+\.)+))"""
    r"""([a-zA-Z]{2,4}|[0-9]{1,3})(\]?))(\?subject=\S+)?"""
)
_CODECS = {
    "utf-8": "utf-8",
    "utf8": "utf-8",
    "us-ascii": "ascii",
    "ascii": "ascii",
    "iso-8859-1": "latin-1",
    "latin-1": "latin-1",
    "latin1": "latin-1",
}
_ODD_STARTS = (
    codecs.BOM_UTF32_BE,
    codecs.BOM_UTF32_LE,
    codecs.BOM_UTF16_BE,
    codecs.BOM_UTF16_LE,
    b"\x4c\x6f\xa7\x94",  # EBCDIC "<?xm"
    b"\x00\x3c\x00\x3f",
    b"\x3c\x00\x3f\x00",
    b"\x00\x00\x00\x3c",
    b"\x3c\x00\x00\x00",
)


class Unsupported(Exception):
    """The document is outside what the fast path replays exactly; use feedparser."""


class _FPAttributeError(Exception):
    """Where feedparser's handler would raise AttributeError (it then pops the element)."""


def parse_fast(content: bytes, *, url: str, charset: str | None) -> tuple[Dict, list[Dict]] | None:
    """feedparser's ``(feed, entries)`` for *content*, or None when feedparser must read it.

    *content* and *charset* are what :func:`curator.parse.feed.parse_feed` hands feedparser
    (with an ``application/xml`` or ``application/*+xml`` content type); *url* is its
    Content-Location.
    """
    try:
        return read_fast(content, url=url, charset=charset)
    except Unsupported:
        return None


def read_fast(content: bytes, *, url: str, charset: str | None) -> tuple[Dict, list[Dict]]:
    """:func:`parse_fast`, raising :class:`Unsupported` with the reason instead of None."""
    if not ENABLED:
        raise Unsupported(f"feedparser {feedparser.__version__} is not the 6.0 the port follows")
    text = _decode(content, charset)
    if _DTD.search(text):
        raise Unsupported("DOCTYPE or entity declaration")
    parser: ET.XMLPullParser[ET.Element] = ET.XMLPullParser(events=("start-ns", "end"))
    root: ET.Element | None = None
    bindings: list[tuple[str, str]] = []
    try:
        parser.feed(text)
        parser.close()
        for item in parser.read_events():
            event, value = cast(tuple[str, Any], item)
            if event == "end":
                root = cast(ET.Element, value)
            else:
                bindings.append(cast(tuple[str, str], value))
    except ET.ParseError as e:
        raise Unsupported(f"not well-formed XML ({e})") from None
    if root is None:  # pragma: no cover - close() raises first
        raise Unsupported("no root element")
    sim = _Sim(url, bindings)
    try:
        sim.run(root)
    except (KeyError, IndexError, TypeError, ValueError, AttributeError) as e:
        # feedparser's handlers would have raised here too (or we cannot tell): its SAX
        # parse fails and the loose parser takes over.
        raise Unsupported(f"handler error ({type(e).__name__}: {e})") from None
    except RecursionError:
        raise Unsupported("elements nested too deeply") from None
    return sim.feeddata, sim.entries


def _decode(content: bytes, charset: str | None) -> str:
    """The document as feedparser's ``convert_to_utf8`` decodes it, when that is one of the
    plain cases: no BOM but UTF-8's, and the RFC 3023 choice (HTTP charset, else the XML
    declaration, else UTF-8) decodes the bytes without error."""
    data = content
    if data.startswith(_ODD_STARTS):
        raise Unsupported("UTF-16/32 or EBCDIC byte order")
    if data[:3] == codecs.BOM_UTF8:
        data = data[3:]
    declared = ""
    m = RE_XML_PI_ENCODING.match(data)
    if m:
        try:
            declared = m.group(1).decode("utf-8").lower()
        except UnicodeDecodeError:
            raise Unsupported("undecodable encoding declaration") from None
    chosen = charset or declared or "utf-8"
    codec = _CODECS.get(chosen.lower())
    if codec is None:
        raise Unsupported(f"encoding {chosen!r}")
    try:
        return data.decode(codec)
    except UnicodeDecodeError:
        raise Unsupported(f"bytes are not {chosen}") from None


# --------------------------------------------------------------------------------- dates

_MONTHS = {
    "jan": 1, "feb": 2, "mar": 3, "apr": 4, "may": 5, "jun": 6,
    "jul": 7, "aug": 8, "sep": 9, "oct": 10, "nov": 11, "dec": 12,
}  # fmt: skip
_RFC822 = re.compile(
    r"(?:(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun), )?(\d\d?) "
    r"(Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) (\d{4}) "
    r"(\d\d):(\d\d):(\d\d) ([A-Za-z]{1,5}|[+-]\d{4})"
)
_W3DTF = re.compile(r"(\d{4})-(\d\d)-(\d\d)T(\d\d):(\d\d):(\d\d)(?:\.\d{1,9})?(Z|[+-]\d\d:\d\d)")


def parse_date(value: str | None) -> struct_time | None:
    """feedparser's ``_parse_date``: the two common shapes computed directly (as its W3DTF
    and RFC 822 handlers compute them), everything else handed to it."""
    if not value:
        return None
    m = _RFC822.fullmatch(value)
    if m:
        # feedparser's W3DTF handler gives up on these (no 4-digit first field), so its
        # RFC 822 handler decides.
        day, mon, year, hh, mm, ss, zone = m.groups()
        zone = zone.lower()
        if zone[0] in "+-":
            hours, minutes = int(zone[1:3]), int(zone[3:])
            if zone[0] == "-":
                hours, minutes = -hours, -minutes
        else:
            if zone.startswith("gmt"):
                zone = zone[3:] or "gmt"
            hours, minutes = _RFC822_ZONES.get(zone, 0), 0
        try:
            stamp = datetime(int(year), _MONTHS[mon.lower()], int(day), int(hh), int(mm), int(ss))
            return (stamp - timedelta(hours=hours, minutes=minutes)).utctimetuple()
        except (ValueError, OverflowError):
            pass  # other handlers may still read it
    else:
        m = _W3DTF.fullmatch(value)
        if m:
            year, mon, day, hh, mm, ss, zone = m.groups()
            hours = minutes = 0
            if zone != "Z":
                hours, minutes = int(zone[1:3]), int(zone[4:])
                if zone[0] == "-":
                    hours, minutes = -hours, -minutes
            try:
                stamp = datetime(int(year), int(mon), int(day), int(hh), int(mm), int(ss))
                return (stamp - timedelta(hours=hours, minutes=minutes)).utctimetuple()
            except (ValueError, OverflowError):
                pass
    parsed: struct_time | None = _parse_date(value)
    return parsed


# --------------------------------------------------------------------------------- the port


def _key(key: str) -> str:
    return _KEYMAP.get(key, key)


def _ref_fix(m: re.Match[str]) -> str:
    return "&" + m.group(1)


def _map_content_type(content_type: str | None) -> str:
    if content_type is None:
        raise _FPAttributeError("map_content_type(None)")
    content_type = content_type.lower()
    if content_type in ("text", "plain"):
        return "text/plain"
    if content_type == "html":
        return "text/html"
    if content_type == "xhtml":
        return XHTML
    return content_type


# _map_content_type and _is_base64 of the default types (no attributes)
_CONTENT_TYPES = {t: t for t in ("text/plain", "text/html", XHTML)}
_BASE64 = {"text/plain": 0, "text/html": 0, XHTML: 0}


def _strattrs(attrs: Iterable[tuple[str, str]]) -> str:
    return "".join(' {}="{}"'.format(k, escape(v, {'"': "&quot;"})) for k, v in attrs)


def _urljoin(base: str, uri: str) -> str:
    """feedparser.urls._urljoin, whose clean-up of "scheme:///x" changes nothing else."""
    if ":///" in uri:
        uri = _urifixer.sub(r"\1\3", uri)
    try:
        return urljoin(base, uri)
    except ValueError:
        return ""


def _enforce_href(attrs_d: dict[str, str]) -> dict[str, str]:
    href = attrs_d.get("url", attrs_d.get("uri", attrs_d.get("href")))
    if href:
        attrs_d.pop("url", None)
        attrs_d.pop("uri", None)
        attrs_d["href"] = href
    return attrs_d


class _Sim:
    """feedparser's ``_FeedParserMixin`` state machine, for the elements it is fed here.

    Method names and bodies follow feedparser's, minus what cannot matter (xml:lang, the
    sanitiser and relative-URI rewriting, which Curator turns off) and with plain dicts for
    FeedParserDicts (keys renamed as FeedParserDict renames them).
    """

    def __init__(self, url: str, bindings: list[tuple[str, str]]) -> None:
        self.feeddata: Dict = {}
        self.entries: list[Dict] = []
        self.version = ""
        self.namespaces_in_use: dict[str, str] = {}
        self.namespacemap: dict[str | None, str] = {}
        self.infeed = self.inentry = self.incontent = self.intextinput = self.inimage = 0
        self.inauthor = self.incontributor = self.inpublisher = self.insource = 0
        self.sourcedata: Dict = {}
        self.contentparams: Dict = {}
        self._summaryKey: str | None = None
        self.elementstack: list[list[Any]] = []
        self.title_depth = -1
        self.depth = 0
        self.hasContent = 0
        self.guidislink: Any = 0
        self._depths: list[dict[str, int]] = []  # property_depth_map, one per entry
        self._names: dict[str, _Tag] = {}
        self._urls: dict[str, str] = {}
        self.baseuri = self._base(url)
        self._track_bindings(bindings)

    # ------------------------------------------------------------------ set-up

    @staticmethod
    def _base(url: str) -> str:
        # StrictFeedParser starts from the Content-Location and re-derives the base at every
        # start tag (make_safe_absolute_uri(base, base)); that must settle at once.
        first = make_safe_absolute_uri(url, url) or url if url else ""
        second = make_safe_absolute_uri(first, first) or first if first else ""
        if first != second:
            raise Unsupported("the feed URL does not settle as a base URI")
        return str(first)

    def _track_bindings(self, bindings: list[tuple[str, str]]) -> None:
        by_prefix: dict[str, set[str]] = {}
        unknown_prefixes: dict[str, set[str]] = {}
        unknown_default: set[str] = set()
        known_prefixes: set[str] = set()  # feedparser's names of the namespaces declared
        for prefix, uri in bindings:
            if not uri:
                continue  # startPrefixMapping ignores xmlns=""
            if prefix and uri == _XLINK_NS:
                raise Unsupported("XLink namespace")
            self.track_namespace(prefix or None, uri)
            lower = uri.lower()
            if "backend.userland.com/rss" in lower:
                lower = "http://backend.userland.com/rss"
            if prefix:
                by_prefix.setdefault(prefix, set()).add(uri)
            if lower in _MATCH:
                known_prefixes.add(_MATCH[lower].lower())
            else:
                if prefix:
                    unknown_prefixes.setdefault(uri, set()).add(prefix)
                else:
                    unknown_default.add(uri)
        # feedparser names an element in an unknown namespace by the first prefix bound to
        # that URI *so far*; keep to documents where the order cannot matter.
        if any(len(uris) > 1 for uris in by_prefix.values()):
            raise Unsupported("a namespace prefix bound to two URIs")
        for uri, prefixes in unknown_prefixes.items():
            if len(prefixes) > 1 or uri in unknown_default:
                raise Unsupported(f"namespace {uri!r} bound to several prefixes")
        # Element names carry those prefixes; a document prefix equal to one of them but bound
        # to another namespace would rename the elements (namespacemap) from where it occurs.
        candidates = known_prefixes | {p.lower() for ps in unknown_prefixes.values() for p in ps}
        for doc_prefix, std in self.namespacemap.items():
            if doc_prefix is not None and doc_prefix != std and doc_prefix in candidates:
                raise Unsupported(f"prefix {doc_prefix!r} names another namespace")

    def track_namespace(self, prefix: str | None, uri: str) -> None:
        loweruri = uri.lower()
        if not self.version:
            if (prefix, loweruri) == (None, _RSS090_NS):
                self.version = "rss090"
            elif loweruri == _RSS10_NS:
                self.version = "rss10"
            elif loweruri == _ATOM_NS:
                self.version = "atom10"
        if "backend.userland.com/rss" in loweruri:
            uri = "http://backend.userland.com/rss"
            loweruri = uri
        if loweruri in _MATCH:
            self.namespacemap[prefix] = _MATCH[loweruri]
            self.namespaces_in_use[_MATCH[loweruri]] = uri
        else:
            self.namespaces_in_use[prefix or ""] = uri

    def _name(self, tag: str) -> _Tag:
        """What strict.py and mixin.py make of an ET tag (cached: the same for every
        occurrence in one document)."""
        known = self._names.get(tag)
        if known is not None:
            return known
        if tag[:1] == "{":
            namespace: str | None
            namespace, local = tag[1:].split("}", 1)
        else:
            namespace, local = None, tag
        lowernamespace = (namespace or "").lower()
        if "backend.userland.com/rss" in lowernamespace:
            namespace = "http://backend.userland.com/rss"
            lowernamespace = namespace
        prefix = _MATCH.get(lowernamespace)
        localname = local.lower()
        if localname in ("svg", "math"):
            raise Unsupported(f"inline {localname}")
        if prefix:
            localname = prefix.lower() + ":" + localname
        elif namespace:
            for name, value in self.namespaces_in_use.items():
                if name and value == namespace:
                    localname = name + ":" + localname
                    break
        tagname = localname.lower()
        if ":" in tagname:
            fprefix, suffix = tagname.split(":", 1)
        else:
            fprefix, suffix = "", tagname
        fprefix = self.namespacemap.get(fprefix, fprefix)
        handler = (fprefix + "_" + suffix) if fprefix else suffix
        start = _STARTS.get(handler) or _start_without_handler(handler)
        end = _ENDS.get(handler) or _end_without_handler(handler)
        known = _Tag(
            tagname,
            handler,
            not fprefix and tagname not in ("title", "link", "description", "name"),
            not fprefix
            and tagname not in ("title", "link", "description", "url", "href", "width", "height"),
            start,
            end,
        )
        self._names[tag] = known
        return known

    @staticmethod
    def _attrs(attrib: dict[str, str]) -> list[tuple[str, str]]:
        """strict.py's attribute dict (namespaced names twice: prefixed and local), then
        mixin.py's normalisation (lower-case names, lower-case rel and type values)."""
        out: dict[str, str] = {}
        locals_: dict[str, str] = {}
        for k, v in attrib.items():
            if k[:1] == "{":
                uri, local = k[1:].split("}", 1)
                prefix = _MATCH.get(uri.lower(), "")
                key = prefix + ":" + local if prefix else local
            else:
                key = local = k
            out[key.lower()] = v
            lowered = local.lower()
            if lowered in locals_:
                raise Unsupported("two attributes with one local name")
            locals_[lowered] = v
        for k, v in locals_.items():
            out[k] = v
        if "base" in out or "xml:base" in out:
            raise Unsupported("xml:base")
        return [(k, v.lower() if k in ("rel", "type") else v) for k, v in out.items()]

    # ------------------------------------------------------------------ the walk

    def run(self, root: ET.Element) -> None:
        tagname = self._name(root.tag).name
        if tagname == "rss":
            if not any(self._name(c.tag).handler == "channel" for c in root):
                raise Unsupported("<rss> without <channel>")
        elif tagname == "feed":
            # In the Atom namespace the root declares it, so the version feedparser settles on
            # (from the first declaration it tracks) is decided by the root's declarations.
            if root.tag != "{http://www.w3.org/2005/Atom}feed" or self.version != "atom10":
                raise Unsupported("Atom other than 1.0")
        else:
            raise Unsupported(f"root element <{tagname}>")
        self._walk(root)

    def _walk(self, el: ET.Element) -> None:
        info = self._names.get(el.tag) or self._name(el.tag)
        inline = self.unknown_starttag(el, info)
        text = el.text
        if text and self.elementstack:  # handle_data, inlined: most elements hold text
            if self.contentparams.get("type") == XHTML:
                text = escape(text)
            self.elementstack[-1][2].append(text)
        for child in el:
            self._walk(child)
            tail = child.tail
            if tail:
                self.handle_data(tail)
        self.unknown_endtag(info, inline)

    def unknown_starttag(self, el: ET.Element, info: _Tag) -> bool:
        """mixin.py's unknown_starttag; True when the element went into inline content as
        markup (its end tag must then run no handler)."""
        self.depth += 1
        attrib = el.attrib
        attrs = self._attrs(attrib) if attrib else []

        if self.incontent:
            ctype = self.contentparams.get("type", "xml")
            if not ctype.endswith("xml"):
                if info.name in ("xhtml:div", "div"):
                    return True  # typepad does this 10/2007
                self.contentparams["type"] = ctype = XHTML
            if ctype == XHTML:
                tag = info.name
                if ":" in tag:
                    tag = tag.split(":", 1)[1]
                self.handle_data(f"<{tag}{_strattrs(attrs)}>", escape_=False)
                return True

        if info.reset_textinput:
            self.intextinput = 0
        if info.reset_image:
            self.inimage = 0
        info.start(self, dict(attrs) if attrs else {})
        return False

    def unknown_endtag(self, info: _Tag, inline: bool) -> None:
        end = info.end
        if end is not None:
            if inline:
                raise Unsupported(f"</{info.name}> handler inside inline content")
            try:
                end(self)
            except _FPAttributeError:
                self.pop(info.handler)
        else:
            self.pop(info.handler)

        if self.incontent:
            ctype = self.contentparams.get("type", "xml")
            if not ctype.endswith("xml"):
                if info.name in ("xhtml:div", "div"):
                    return  # typepad does this 10/2007 (and skips the depth count)
                self.contentparams["type"] = ctype = XHTML
            if ctype == XHTML:
                self.handle_data(f"</{info.name.split(':')[-1]}>", escape_=False)
        self.depth -= 1

    def handle_data(self, text: str, escape_: bool = True) -> None:
        if not self.elementstack:
            return
        if escape_ and self.contentparams.get("type") == XHTML:
            text = escape(text)
        self.elementstack[-1][2].append(text)

    # ------------------------------------------------------------------ mixin.py

    def resolve_uri(self, uri: str) -> str:
        done = self._urls.get(uri)
        if done is None:
            done = self._urls[uri] = _urljoin(self.baseuri or "", uri)
        return done

    def push(self, element: str, expecting_text: Any) -> None:
        self.elementstack.append([element, expecting_text, []])

    def pop(self, element: str, strip_whitespace: int = 1) -> Any:
        stack = self.elementstack
        if not stack or stack[-1][0] != element:
            return None
        _, expecting_text, pieces = stack.pop()
        contentparams = self.contentparams

        if self.version == "atom10" and contentparams.get("type", "text") == XHTML:
            # remove enclosing child element, but only if it is a <div> and
            # only if all the remaining content is nested underneath it.
            while pieces and len(pieces) > 1 and not pieces[-1].strip():
                del pieces[-1]
            while pieces and len(pieces) > 1 and not pieces[0].strip():
                del pieces[0]
            if (
                pieces
                and (pieces[0] == "<div>" or pieces[0].startswith("<div "))
                and pieces[-1] == "</div>"
            ):
                depth = 0
                for piece in pieces[:-1]:
                    if piece.startswith("</"):
                        depth -= 1
                        if depth == 0:
                            break
                    elif piece.startswith("<") and not piece.endswith("/>"):
                        depth += 1
                else:
                    pieces = pieces[1:-1]

        output: str = "".join(pieces)
        if strip_whitespace:
            output = output.strip()
        if not expecting_text:
            return output

        if contentparams and contentparams.get("base64", 0):
            with contextlib.suppress(binascii.Error, binascii.Incomplete, UnicodeDecodeError):
                output = base64.decodebytes(output.encode("utf8")).decode("utf8")

        if output and element in _RELATIVE and (element != "id" or self.guidislink):
            output = self.resolve_uri(output)

        if contentparams:
            # feedparser guesses HTML in nominally plain RSS text; only the detail's type
            # changes, and Curator reads that type for summaries and content alone.
            if (
                element in _TYPE_READ
                and contentparams.get("type") == "text/plain"
                and not self.version.startswith("atom")
                and _looks_like_html(output)
            ):
                contentparams["type"] = "text/html"
            contentparams.pop("mode", None)
            contentparams.pop("base64", None)

        if not output.isascii():
            # utf-8 read as iso-8859-1 and re-encoded, undone; then cp1252's C1 code points
            with contextlib.suppress(UnicodeEncodeError, UnicodeDecodeError):
                output = output.encode("iso-8859-1").decode("utf-8")
            if _CP1252_RANGE.search(output):
                output = output.translate(_cp1252)

        if element in _NOT_STORED:
            return output
        if element == "title" and -1 < self.title_depth <= self.depth:
            return output

        if self.inentry and not self.insource:
            entry = self.entries[-1]
            if element == "content":
                entry.setdefault("content", [])
                detail = dict(contentparams)
                detail["value"] = output
                entry["content"].append(detail)
            elif element == "link":
                if not self.inimage:
                    if "&" in output:
                        output = output.replace("&amp;", "&")
                        output = _REF_FIX.sub(_ref_fix, output)
                    entry["link"] = output
                    if output:
                        entry["links"][-1]["href"] = output
            else:
                if element == "description":
                    element = "summary"
                depths = self._depths[-1]
                old_value_depth = depths.get(element)
                if old_value_depth is None or self.depth <= old_value_depth:
                    depths[element] = self.depth
                    entry[_KEYMAP.get(element, element)] = output
                if self.incontent:
                    detail = dict(contentparams)
                    detail["value"] = output
                    entry[_key(element + "_detail")] = detail
        elif self.infeed or self.insource:
            context = self._get_context()
            if element == "description":
                element = "subtitle"
            context[_KEYMAP.get(element, element)] = output
            if element == "link":
                if "&" in output:
                    output = _REF_FIX.sub(_ref_fix, output)
                context["link"] = output
                context["links"][-1]["href"] = output
            elif self.incontent:
                detail = dict(contentparams)
                detail["value"] = output
                context[_key(element + "_detail")] = detail
        return output

    def push_content(
        self, tag: str, attrs_d: dict[str, str], default_content_type: str, expecting_text: Any
    ) -> None:
        self.incontent += 1
        ctype = attrs_d.get("type", default_content_type)
        ctype = _CONTENT_TYPES.get(ctype) or _map_content_type(ctype)
        self.contentparams = {
            "type": ctype,
            "language": None,
            "base": self.baseuri,
            "base64": self._is_base64(attrs_d, ctype) if attrs_d else _BASE64[ctype],
        }
        self.elementstack.append([tag, expecting_text, []])

    def pop_content(self, tag: str) -> Any:
        value = self.pop(tag)
        self.incontent -= 1
        self.contentparams.clear()
        return value

    def _map_to_standard_prefix(self, name: str) -> str:
        colonpos = name.find(":")
        if colonpos != -1:
            prefix = name[:colonpos]
            suffix = name[colonpos + 1 :]
            prefix = self.namespacemap.get(prefix, prefix)
            name = prefix + ":" + suffix
        return name

    def _get_attribute(self, attrs_d: dict[str, str], name: str) -> str | None:
        return attrs_d.get(self._map_to_standard_prefix(name))

    @staticmethod
    def _is_base64(attrs_d: dict[str, str], ctype: str) -> int:
        if attrs_d.get("mode", "") == "base64":
            return 1
        if ctype.startswith("text/") or ctype.endswith("+xml") or ctype.endswith("/xml"):
            return 0
        return 1

    def _save(self, key: str, value: Any, overwrite: bool = False) -> None:
        context = self._get_context()
        key = _key(key)
        if overwrite or key not in context:
            context[key] = value

    def _get_context(self) -> Dict:
        if self.insource:
            return self.sourcedata
        if self.inimage and "image" in self.feeddata:
            image: Dict = self.feeddata["image"]
            return image
        if self.intextinput:
            textinput: Dict = self.feeddata["textinput"]
            return textinput
        if self.inentry:
            return self.entries[-1]
        return self.feeddata

    def _save_author(self, key: str, value: Any, prefix: str = "author") -> None:
        context = self._get_context()
        context.setdefault(prefix + "_detail", {})
        context[prefix + "_detail"][key] = value
        self._sync_author_detail()
        context.setdefault("authors", [{}])
        context["authors"][-1][key] = value

    def _save_contributor(self, key: str, value: Any) -> None:
        context = self._get_context()
        context.setdefault("contributors", [{}])
        context["contributors"][-1][key] = value

    def _sync_author_detail(self, key: str = "author") -> None:
        context = self._get_context()
        detail = context.get(f"{key}s", [{}])[-1]
        if detail:
            name = detail.get("name")
            email = detail.get("email")
            if name and email:
                context[key] = f"{name} ({email})"
            elif name:
                context[key] = name
            elif email:
                context[key] = email
        else:
            author, email = context.get(key), None
            if not author:
                return
            emailmatch = _EMAIL.search(author)
            if emailmatch:
                email = emailmatch.group(0)
                author = author.replace(email, "")
                author = author.replace("()", "")
                author = author.replace("<>", "")
                author = author.replace("&lt;&gt;", "")
                author = author.strip()
                if author and (author[0] == "("):
                    author = author[1:]
                if author and (author[-1] == ")"):
                    author = author[:-1]
                author = author.strip()
            if author or email:
                context.setdefault(f"{key}_detail", detail)
            if author:
                detail["name"] = author
            if email:
                detail["email"] = email

    def _add_tag(self, term: Any, scheme: Any, label: Any) -> None:
        context = self._get_context()
        tags = context.setdefault("tags", [])
        if (not term) and (not scheme) and (not label):
            return
        value = {"term": term, "scheme": scheme, "label": label}
        if value not in tags:
            tags.append(value)

    def _start_tags(self, attrs_d: dict[str, str]) -> None:
        self.push("tags", 1)

    def _end_tags(self) -> None:
        value = self.pop("tags")
        if value is None:
            raise _FPAttributeError("tags")
        for term in value.split(","):
            self._add_tag(term.strip(), None, None)

    # ------------------------------------------------------------------ namespaces/_base.py

    def _start_rss(self, attrs_d: dict[str, str]) -> None:
        versionmap = {"0.91": "rss091u", "0.92": "rss092", "0.93": "rss093", "0.94": "rss094"}
        if not self.version or not self.version.startswith("rss"):
            attr_version = attrs_d.get("version", "")
            version = versionmap.get(attr_version)
            if version:
                self.version = version
            elif attr_version.startswith("2."):
                self.version = "rss20"
            else:
                self.version = "rss"

    def _start_channel(self, attrs_d: dict[str, str]) -> None:
        self.infeed = 1
        self._cdf_common(attrs_d)

    def _cdf_common(self, attrs_d: dict[str, str]) -> None:
        if "lastmod" in attrs_d:
            self._start_modified({})
            self.elementstack[-1][-1] = attrs_d["lastmod"]
            self._end_modified()
        if "href" in attrs_d:
            self._start_link({})
            self.elementstack[-1][-1] = attrs_d["href"]
            self._end_link()

    def _start_feed(self, attrs_d: dict[str, str]) -> None:
        self.infeed = 1
        versionmap = {"0.1": "atom01", "0.2": "atom02", "0.3": "atom03"}
        if not self.version:
            version = versionmap.get(attrs_d.get("version", ""))
            self.version = version or "atom"

    def _end_channel(self) -> None:
        self.infeed = 0

    _end_feed = _end_channel

    def _start_image(self, attrs_d: dict[str, str]) -> None:
        context = self._get_context()
        if not self.inentry:
            context.setdefault("image", {})
        self.inimage = 1
        self.title_depth = -1
        self.push("image", 0)

    def _end_image(self) -> None:
        self.pop("image")
        self.inimage = 0

    def _start_textinput(self, attrs_d: dict[str, str]) -> None:
        context = self._get_context()
        context.setdefault("textinput", {})
        self.intextinput = 1
        self.title_depth = -1
        self.push("textinput", 0)

    def _end_textinput(self) -> None:
        self.pop("textinput")
        self.intextinput = 0

    def _start_author(self, attrs_d: dict[str, str]) -> None:
        self.inauthor = 1
        self.push("author", 1)
        context = self._get_context()
        context.setdefault("authors", [])
        context["authors"].append({})

    _start_managingeditor = _start_author

    def _end_author(self) -> None:
        self.pop("author")
        self.inauthor = 0
        self._sync_author_detail()

    _end_managingeditor = _end_author

    def _start_contributor(self, attrs_d: dict[str, str]) -> None:
        self.incontributor = 1
        context = self._get_context()
        context.setdefault("contributors", [])
        context["contributors"].append({})
        self.push("contributor", 0)

    def _end_contributor(self) -> None:
        self.pop("contributor")
        self.incontributor = 0

    def _start_name(self, attrs_d: dict[str, str]) -> None:
        self.push("name", 0)

    def _end_name(self) -> None:
        value = self.pop("name")
        if self.inpublisher:
            self._save_author("name", value, "publisher")
        elif self.inauthor:
            self._save_author("name", value)
        elif self.incontributor:
            self._save_contributor("name", value)
        elif self.intextinput:
            context = self._get_context()
            context["name"] = value

    def _start_width(self, attrs_d: dict[str, str]) -> None:
        self.push("width", 0)

    def _end_width(self) -> None:
        self._end_size("width")

    def _start_height(self, attrs_d: dict[str, str]) -> None:
        self.push("height", 0)

    def _end_height(self) -> None:
        self._end_size("height")

    def _end_size(self, name: str) -> None:
        value = self.pop(name)
        try:
            number = int(value)
        except ValueError:
            number = 0
        if self.inimage:
            context = self._get_context()
            context[name] = number

    def _start_url(self, attrs_d: dict[str, str]) -> None:
        self.push("href", 1)

    _start_homepage = _start_url
    _start_uri = _start_url

    def _end_url(self) -> None:
        value = self.pop("href")
        if self.inauthor:
            self._save_author("href", value)
        elif self.incontributor:
            self._save_contributor("href", value)

    _end_homepage = _end_url
    _end_uri = _end_url

    def _start_email(self, attrs_d: dict[str, str]) -> None:
        self.push("email", 0)

    def _end_email(self) -> None:
        value = self.pop("email")
        if self.inpublisher:
            self._save_author("email", value, "publisher")
        elif self.inauthor:
            self._save_author("email", value)
        elif self.incontributor:
            self._save_contributor("email", value)

    def _start_subtitle(self, attrs_d: dict[str, str]) -> None:
        self.push_content("subtitle", attrs_d, "text/plain", 1)

    _start_tagline = _start_subtitle

    def _end_subtitle(self) -> None:
        self.pop_content("subtitle")

    _end_tagline = _end_subtitle

    def _start_rights(self, attrs_d: dict[str, str]) -> None:
        self.push_content("rights", attrs_d, "text/plain", 1)

    _start_copyright = _start_rights

    def _end_rights(self) -> None:
        self.pop_content("rights")

    _end_copyright = _end_rights

    def _start_item(self, attrs_d: dict[str, str]) -> None:
        self.entries.append({})
        self._depths.append({})
        self.push("item", 0)
        self.inentry = 1
        self.guidislink = 0
        self.title_depth = -1
        id_ = self._get_attribute(attrs_d, "rdf:about")
        if id_:
            context = self._get_context()
            context["id"] = id_
        self._cdf_common(attrs_d)

    _start_entry = _start_item

    def _end_item(self) -> None:
        self.pop("item")
        self.inentry = 0
        self.hasContent = 0

    _end_entry = _end_item

    def _start_language(self, attrs_d: dict[str, str]) -> None:
        self.push("language", 1)

    def _end_language(self) -> None:
        self.pop("language")  # sets self.lang in feedparser, which Curator does not read

    def _start_webmaster(self, attrs_d: dict[str, str]) -> None:
        self.push("publisher", 1)

    def _end_webmaster(self) -> None:
        self.pop("publisher")
        self._sync_author_detail("publisher")

    def _start_published(self, attrs_d: dict[str, str]) -> None:
        self.push("published", 1)

    _start_issued = _start_published
    _start_pubdate = _start_published

    def _end_published(self) -> None:
        value = self.pop("published")
        self._save("published_parsed", parse_date(value), overwrite=True)

    _end_issued = _end_published
    _end_pubdate = _end_published

    def _start_updated(self, attrs_d: dict[str, str]) -> None:
        self.push("updated", 1)

    _start_modified = _start_updated
    _start_lastbuilddate = _start_updated

    def _end_updated(self) -> None:
        value = self.pop("updated")
        self._save("updated_parsed", parse_date(value), overwrite=True)

    _end_modified = _end_updated
    _end_lastbuilddate = _end_updated

    def _start_created(self, attrs_d: dict[str, str]) -> None:
        self.push("created", 1)

    def _end_created(self) -> None:
        value = self.pop("created")
        self._save("created_parsed", parse_date(value), overwrite=True)

    def _start_expirationdate(self, attrs_d: dict[str, str]) -> None:
        self.push("expired", 1)

    def _end_expirationdate(self) -> None:
        self._save("expired_parsed", parse_date(self.pop("expired")), overwrite=True)

    def _start_category(self, attrs_d: dict[str, str]) -> None:
        term = attrs_d.get("term")
        scheme = attrs_d.get("scheme", attrs_d.get("domain"))
        label = attrs_d.get("label")
        self._add_tag(term, scheme, label)
        self.push("category", 1)

    _start_keywords = _start_category

    def _end_category(self) -> None:
        value = self.pop("category")
        if not value:
            return
        context = self._get_context()
        tags = context["tags"]
        if value and len(tags) and not tags[-1]["term"]:
            tags[-1]["term"] = value
        else:
            self._add_tag(value, None, None)

    _end_keywords = _end_category

    def _start_cloud(self, attrs_d: dict[str, str]) -> None:
        self._get_context()["cloud"] = dict(attrs_d)

    def _start_link(self, attrs_d: dict[str, str]) -> None:
        attrs_d.setdefault("rel", "alternate")
        if attrs_d["rel"] == "self":
            attrs_d.setdefault("type", "application/atom+xml")
        else:
            attrs_d.setdefault("type", "text/html")
        context = self._get_context()
        attrs_d = _enforce_href(attrs_d)
        if "href" in attrs_d:
            attrs_d["href"] = self.resolve_uri(attrs_d["href"])
        expecting_text = self.infeed or self.inentry or self.insource
        context.setdefault("links", [])
        if not (self.inentry and self.inimage):
            context["links"].append(dict(attrs_d))
        if "href" in attrs_d:
            if (
                attrs_d.get("rel") == "alternate"
                and _map_content_type(attrs_d.get("type")) in _HTML_TYPES
            ):
                context["link"] = attrs_d["href"]
        else:
            self.push("link", expecting_text)

    def _end_link(self) -> None:
        self.pop("link")

    def _start_guid(self, attrs_d: dict[str, str]) -> None:
        self.guidislink = attrs_d.get("ispermalink", "true") == "true"
        self.push("id", 1)

    _start_id = _start_guid

    def _end_guid(self) -> None:
        value = self.pop("id")
        self._save("guidislink", self.guidislink and "link" not in self._get_context())
        if self.guidislink:
            self._save("link", value)

    _end_id = _end_guid

    def _start_title(self, attrs_d: dict[str, str]) -> None:
        self.push_content(
            "title", attrs_d, "text/plain", self.infeed or self.inentry or self.insource
        )

    def _end_title(self) -> None:
        value = self.pop_content("title")
        if not value:
            return
        self.title_depth = self.depth

    def _start_description(self, attrs_d: dict[str, str]) -> None:
        context = self._get_context()
        if "summary" in context and not self.hasContent:
            self._summaryKey = "content"
            self._start_content(attrs_d)
        else:
            self.push_content(
                "description", attrs_d, "text/html", self.infeed or self.inentry or self.insource
            )

    def _start_abstract(self, attrs_d: dict[str, str]) -> None:
        self.push_content(
            "description", attrs_d, "text/plain", self.infeed or self.inentry or self.insource
        )

    def _end_description(self) -> None:
        if self._summaryKey == "content":
            self._end_content()
        else:
            self.pop_content("description")
        self._summaryKey = None

    _end_abstract = _end_description

    def _start_info(self, attrs_d: dict[str, str]) -> None:
        self.push_content("info", attrs_d, "text/plain", 1)

    _start_feedburner_browserfriendly = _start_info

    def _end_info(self) -> None:
        self.pop_content("info")

    _end_feedburner_browserfriendly = _end_info

    def _start_generator(self, attrs_d: dict[str, str]) -> None:
        if attrs_d:
            attrs_d = _enforce_href(attrs_d)
            if "href" in attrs_d:
                attrs_d["href"] = self.resolve_uri(attrs_d["href"])
        self._get_context()["generator_detail"] = dict(attrs_d)
        self.push("generator", 1)

    def _end_generator(self) -> None:
        value = self.pop("generator")
        context = self._get_context()
        if "generator_detail" in context:
            context["generator_detail"]["name"] = value

    def _start_summary(self, attrs_d: dict[str, str]) -> None:
        context = self._get_context()
        if "summary" in context and not self.hasContent:
            self._summaryKey = "content"
            self._start_content(attrs_d)
        else:
            self._summaryKey = "summary"
            self.push_content(self._summaryKey, attrs_d, "text/plain", 1)

    def _end_summary(self) -> None:
        if self._summaryKey == "content":
            self._end_content()
        else:
            self.pop_content(self._summaryKey or "summary")
        self._summaryKey = None

    def _start_enclosure(self, attrs_d: dict[str, str]) -> None:
        attrs_d = _enforce_href(attrs_d)
        context = self._get_context()
        attrs_d["rel"] = "enclosure"
        context.setdefault("links", []).append(dict(attrs_d))

    def _start_source(self, attrs_d: dict[str, str]) -> None:
        if "url" in attrs_d:
            self.sourcedata["href"] = attrs_d["url"]
        self.push("source", 1)
        self.insource = 1
        self.title_depth = -1

    def _end_source(self) -> None:
        self.insource = 0
        value = self.pop("source")
        if value:
            self.sourcedata["title"] = value
        self._get_context()["source"] = copy.deepcopy(self.sourcedata)
        self.sourcedata.clear()

    def _start_content(self, attrs_d: dict[str, str]) -> None:
        self.hasContent = 1
        self.push_content("content", attrs_d, "text/plain", 1)
        src = attrs_d.get("src")
        if src:
            self.contentparams["src"] = src
        self.push("content", 1)

    def _start_body(self, attrs_d: dict[str, str]) -> None:
        self.push_content("content", attrs_d, XHTML, 1)

    _start_xhtml_body = _start_body

    def _start_content_encoded(self, attrs_d: dict[str, str]) -> None:
        self.hasContent = 1
        self.push_content("content", attrs_d, "text/html", 1)

    _start_fullitem = _start_content_encoded

    def _end_content(self) -> None:
        copy_to_summary = _map_content_type(self.contentparams.get("type")) in _COPY_TO_SUMMARY
        value = self.pop_content("content")
        if copy_to_summary:
            self._save("summary", value)

    _end_body = _end_content
    _end_xhtml_body = _end_content
    _end_content_encoded = _end_content
    _end_fullitem = _end_content

    def _start_newlocation(self, attrs_d: dict[str, str]) -> None:
        self.push("newlocation", 1)

    def _end_newlocation(self) -> None:
        url = self.pop("newlocation")
        if url is None:
            raise _FPAttributeError("newlocation")
        context = self._get_context()
        if context is not self.feeddata:
            return
        context["newlocation"] = make_safe_absolute_uri(self.baseuri, url.strip())

    # ------------------------------------------------------------------ namespaces/dc.py
    # (feedparser's wrappers that only call another handler, as aliases)

    _start_dc_author = _start_author
    _end_dc_author = _end_author
    _start_dc_creator = _start_author
    _end_dc_creator = _end_author
    _start_dc_date = _start_updated
    _end_dc_date = _end_updated
    _start_dc_description = _start_description
    _end_dc_description = _end_description
    _start_dc_language = _start_language
    _end_dc_language = _end_language
    _start_dc_publisher = _start_webmaster
    _end_dc_publisher = _end_webmaster
    _start_dc_rights = _start_rights
    _end_dc_rights = _end_rights
    _start_dc_subject = _start_category
    _end_dc_subject = _end_category
    _start_dc_title = _start_title
    _end_dc_title = _end_title
    _start_dcterms_created = _start_created
    _end_dcterms_created = _end_created
    _start_dcterms_issued = _start_published
    _end_dcterms_issued = _end_published
    _start_dcterms_modified = _start_updated
    _end_dcterms_modified = _end_updated

    def _start_dcterms_valid(self, attrs_d: dict[str, str]) -> None:
        self.push("validity", 1)

    def _end_dcterms_valid(self) -> None:
        value = self.pop("validity")
        if value is None:
            raise _FPAttributeError("validity")
        for validity_detail in value.split(";"):
            if "=" in validity_detail:
                key, item = validity_detail.split("=", 1)
                if key == "start":
                    self._save("validity_start", item, overwrite=True)
                    self._save("validity_start_parsed", parse_date(item), overwrite=True)
                elif key == "end":
                    self._save("validity_end", item, overwrite=True)
                    self._save("validity_end_parsed", parse_date(item), overwrite=True)

    def _start_dc_contributor(self, attrs_d: dict[str, str]) -> None:
        self.incontributor = 1
        context = self._get_context()
        context.setdefault("contributors", [])
        context["contributors"].append({})
        self.push("name", 0)

    def _end_dc_contributor(self) -> None:
        self._end_name()
        self.incontributor = 0

    # ------------------------------------------------------------------ namespaces/itunes.py

    _start_itunes_author = _start_author
    _end_itunes_author = _end_author
    _end_itunes_category = _end_category
    _start_itunes_name = _start_name
    _end_itunes_name = _end_name
    _start_itunes_email = _start_email
    _end_itunes_email = _end_email
    _start_itunes_subtitle = _start_subtitle
    _end_itunes_subtitle = _end_subtitle
    _start_itunes_summary = _start_summary
    _end_itunes_summary = _end_summary

    def _start_itunes_owner(self, attrs_d: dict[str, str]) -> None:
        self.inpublisher = 1
        self.push("publisher", 0)

    def _end_itunes_owner(self) -> None:
        self.pop("publisher")
        self.inpublisher = 0
        self._sync_author_detail("publisher")

    def _end_itunes_keywords(self) -> None:
        value = self.pop("itunes_keywords")
        if value is None:
            raise _FPAttributeError("itunes_keywords")
        for term in value.split(","):
            if term.strip():
                self._add_tag(term.strip(), "http://www.itunes.com/", None)

    def _start_itunes_category(self, attrs_d: dict[str, str]) -> None:
        self._add_tag(attrs_d.get("text"), "http://www.itunes.com/", None)
        self.push("category", 1)

    def _start_itunes_image(self, attrs_d: dict[str, str]) -> None:
        self.push("itunes_image", 0)
        if attrs_d.get("href"):
            self._get_context()["image"] = {"href": attrs_d.get("href")}
        elif attrs_d.get("url"):
            self._get_context()["image"] = {"href": attrs_d.get("url")}

    _start_itunes_link = _start_itunes_image

    def _end_itunes_block(self) -> None:
        value = self.pop("itunes_block", 0)
        self._get_context()["itunes_block"] = 1 if value in ("yes", "Yes") else 0

    def _end_itunes_explicit(self) -> None:
        value = self.pop("itunes_explicit", 0)
        self._get_context()["itunes_explicit"] = (None, False, True)[
            (value == "yes" and 2) or value == "clean" or 0
        ]

    # ------------------------------------------------------------------ namespaces/mediarss.py

    def _start_media_category(self, attrs_d: dict[str, str]) -> None:
        attrs_d.setdefault("scheme", "http://search.yahoo.com/mrss/category_schema")
        self._start_category(attrs_d)

    _end_media_category = _end_category

    def _end_media_keywords(self) -> None:
        value = self.pop("media_keywords")
        if value is None:
            raise _FPAttributeError("media_keywords")
        for term in value.split(","):
            if term.strip():
                self._add_tag(term.strip(), None, None)

    _start_media_title = _start_title

    def _end_media_title(self) -> None:
        title_depth = self.title_depth
        self._end_title()
        self.title_depth = title_depth

    def _start_media_group(self, attrs_d: dict[str, str]) -> None:
        pass

    def _start_media_rating(self, attrs_d: dict[str, str]) -> None:
        context = self._get_context()
        context.setdefault("media_rating", attrs_d)
        self.push("rating", 1)

    def _end_media_rating(self) -> None:
        rating = self.pop("rating")
        if rating is not None and rating.strip():
            context = self._get_context()
            context["media_rating"]["content"] = rating

    def _start_media_credit(self, attrs_d: dict[str, str]) -> None:
        context = self._get_context()
        context.setdefault("media_credit", [])
        context["media_credit"].append(attrs_d)
        self.push("credit", 1)

    def _end_media_credit(self) -> None:
        credit = self.pop("credit")
        if credit is not None and credit.strip():
            context = self._get_context()
            context["media_credit"][-1]["content"] = credit

    _start_media_description = _start_description
    _end_media_description = _end_description

    def _start_media_restriction(self, attrs_d: dict[str, str]) -> None:
        context = self._get_context()
        context.setdefault("media_restriction", attrs_d)
        self.push("restriction", 1)

    def _end_media_restriction(self) -> None:
        restriction = self.pop("restriction")
        if restriction is not None and restriction.strip():
            context = self._get_context()
            context["media_restriction"]["content"] = [
                cc.strip().lower() for cc in restriction.split(" ")
            ]

    def _start_media_license(self, attrs_d: dict[str, str]) -> None:
        context = self._get_context()
        context.setdefault("media_license", attrs_d)
        self.push("license", 1)

    def _end_media_license(self) -> None:
        license_ = self.pop("license")
        if license_ is not None and license_.strip():
            context = self._get_context()
            context["media_license"]["content"] = license_

    def _start_media_content(self, attrs_d: dict[str, str]) -> None:
        context = self._get_context()
        context.setdefault("media_content", [])
        context["media_content"].append(attrs_d)

    def _start_media_thumbnail(self, attrs_d: dict[str, str]) -> None:
        context = self._get_context()
        context.setdefault("media_thumbnail", [])
        self.push("url", 1)
        context["media_thumbnail"].append(attrs_d)

    def _end_media_thumbnail(self) -> None:
        url = self.pop("url")
        context = self._get_context()
        if url is not None and url.strip() and "url" not in context["media_thumbnail"][-1]:
            context["media_thumbnail"][-1]["url"] = url

    def _start_media_player(self, attrs_d: dict[str, str]) -> None:
        self.push("media_player", 0)
        self._get_context()["media_player"] = dict(attrs_d)

    def _end_media_player(self) -> None:
        value = self.pop("media_player")
        context = self._get_context()
        context["media_player"]["content"] = value

    # ------------------------------------------------------------------ cc.py, admin.py

    def _start_cc_license(self, attrs_d: dict[str, str]) -> None:
        context = self._get_context()
        value = self._get_attribute(attrs_d, "rdf:resource")
        link: Dict = {"rel": "license"}
        if value:
            link["href"] = value
        context.setdefault("links", []).append(link)

    def _start_creativecommons_license(self, attrs_d: dict[str, str]) -> None:
        self.push("license", 1)

    def _end_creativecommons_license(self) -> None:
        value = self.pop("license")
        context = self._get_context()
        link: Dict = {"rel": "license"}
        if value:
            link["href"] = value
        context.setdefault("links", []).append(link)
        del context["license"]

    def _start_admin_generatoragent(self, attrs_d: dict[str, str]) -> None:
        self.push("generator", 1)
        value = self._get_attribute(attrs_d, "rdf:resource")
        if value:
            self.elementstack[-1][2].append(value)
        self.pop("generator")
        self._get_context()["generator_detail"] = {"href": value}

    def _start_admin_errorreportsto(self, attrs_d: dict[str, str]) -> None:
        self.push("errorreportsto", 1)
        value = self._get_attribute(attrs_d, "rdf:resource")
        if value:
            self.elementstack[-1][2].append(value)
        self.pop("errorreportsto")


class _Tag(NamedTuple):
    name: str  # as strict.py hands it to mixin.py: "title", "dc:creator", "xhtml:div"
    handler: str  # the _start_/_end_ suffix: "title", "dc_creator", "xhtml_div"
    reset_textinput: bool  # the "special hack" in unknown_starttag
    reset_image: bool
    start: Callable[[_Sim, dict[str, str]], None]
    end: Callable[[_Sim], None] | None  # None: no _end_ method, the element is just popped


def _ported(prefix: str, names: frozenset[str]) -> dict[str, Any]:
    return {n: getattr(_Sim, prefix + n) for n in names if hasattr(_Sim, prefix + n)}


_STARTS: dict[str, Callable[[_Sim, dict[str, str]], None]] = _ported("_start_", _FP_START)
_ENDS: dict[str, Callable[[_Sim], None]] = _ported("_end_", _FP_END)


def _start_without_handler(handler: str) -> Callable[[_Sim, dict[str, str]], None]:
    if handler in _FP_START:

        def unported(sim: _Sim, attrs_d: dict[str, str]) -> None:
            raise Unsupported(f"<{handler}> (feedparser handler not ported)")

        return unported

    def generic(sim: _Sim, attrs_d: dict[str, str]) -> None:
        # mixin.py, when there is no _start_ method: text is pushed, attributes are saved
        if not attrs_d:
            sim.push(handler, 1)
        else:
            sim._get_context()[_key(handler)] = attrs_d

    return generic


def _end_without_handler(handler: str) -> Callable[[_Sim], None] | None:
    if handler not in _FP_END:
        return None

    def unported(sim: _Sim) -> None:
        raise Unsupported(f"</{handler}> (feedparser handler not ported)")

    return unported
