"""Helpers shared by the parsers: content sniffing, character sets, dates.

Private to :mod:`curator.parse`; nothing here is part of the contract.
"""

from __future__ import annotations

import calendar
import codecs
import html
import itertools
import json
import operator
import re
import time
import zlib
from collections.abc import Mapping
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

# A gzip body that slipped past Content-Encoding (a ``.xml.gz`` served as-is) is inflated
# up to this many bytes; more is a bomb, not a feed.
MAX_INFLATED = 16 * 1024 * 1024
MAX_ENTRIES = 200
FEED_ROOTS = frozenset({"rss", "feed", "rdf", "rdf:rdf", "channel"})
# JSON nesting past this is refused before parsing: JSON Feed and Crossref answers nest about
# 6 deep; Python's decoder recurses once per level and ends in a RecursionError near 1,000.
MAX_JSON_DEPTH = 64
# Markup (XML or HTML) nesting past this is refused before parsing.  Real documents nest under
# 20 (the corpus's deepest, a Yahoo page full of unclosed tags, scans at about 300); a
# 100,000-deep one took feedparser 3 s and a million-deep one 31 s and 400 MB.
MAX_MARKUP_DEPTH = 1_000
# Elements in one document: the corpus's most is about 20,000 (a 1.6 MB podcast feed); a
# 10 MB body of empty elements holds 2.5 million, about 1 GB once feedparser has built them.
MAX_ELEMENTS = 250_000
# Digits in one JSON number: int() refuses more than 4,300, and nothing we read needs 40.
MAX_NUMBER_DIGITS = 100

_FIRST_NAME = re.compile(rb"<([A-Za-z][\w:.-]*)")
_SKIP_PROLOG = re.compile(
    rb"\A(?:\s+|<\?.*?\?>|<!--.*?-->|<!(?!--)[^>]*>)*",
    re.DOTALL,
)
_DOCTYPE_HTML = re.compile(rb"<!doctype\s+html", re.IGNORECASE)
_META_CHARSET = re.compile(
    rb"""<meta[^>]+?charset\s*=\s*["']?\s*([A-Za-z0-9._:-]+)""", re.IGNORECASE
)
_WS = re.compile(r"\s+")


def lower_headers(headers: Mapping[str, str] | None) -> dict[str, str]:
    return {k.lower(): v for k, v in (headers or {}).items()}


def media_type(headers: Mapping[str, str]) -> tuple[str, str | None]:
    """``text/html; charset=UTF-8`` → (``text/html``, ``utf-8``); empty type when absent."""
    raw = headers.get("content-type", "")
    kind, _, params = raw.partition(";")
    charset = None
    for param in params.split(";"):
        name, _, value = param.partition("=")
        if name.strip().lower() == "charset":
            charset = value.strip().strip("\"'").lower() or None
    return kind.strip().lower(), charset


def maybe_gunzip(content: bytes) -> bytes:
    """Inflate a body that is still gzip-compressed (magic bytes), within MAX_INFLATED."""
    if not content.startswith(b"\x1f\x8b"):
        return content
    inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
    try:
        out = inflater.decompress(content, MAX_INFLATED)
    except zlib.error:
        return content
    return out if out else content


def sniff_head(content: bytes) -> bytes:
    """The first KB with BOMs and the NULs of UTF-16/32 removed, good enough to look at tags."""
    head = content[:4096]
    if head[:3] == codecs.BOM_UTF8:
        head = head[3:]
    if b"\x00" in head[:8]:
        head = head.replace(b"\x00", b"")
    return head.lstrip(b"\xff\xfe\xef\xbb\xbf \t\r\n")


def first_element(content: bytes) -> str | None:
    """Name of the first element after any XML declaration, comments and doctype."""
    head = sniff_head(content)
    start = _SKIP_PROLOG.match(head)
    rest = head[start.end() if start else 0 :]
    m = _FIRST_NAME.match(rest)
    return m.group(1).decode("ascii", "replace") if m else None


def looks_like_html(content: bytes) -> bool:
    """The first element is <html>, <head> or <body>, or an HTML doctype heads something that
    is not a feed root (real feeds carry an XHTML doctype by mistake)."""
    name = (first_element(content) or "").lower()
    if name in ("html", "head", "body"):
        return True
    return name not in FEED_ROOTS and bool(_DOCTYPE_HTML.search(sniff_head(content)[:1024]))


_BOMLESS_UNICODE = (
    (b"\x00\x00\x00<", "utf-32-be"),
    (b"<\x00\x00\x00", "utf-32-le"),
    (b"\x00<", "utf-16-be"),
    (b"<\x00", "utf-16-le"),
)


def bomless_unicode(content: bytes) -> bytes | None:
    """UTF-8 bytes for an XML document in UTF-16/32 without a byte-order mark (which expat
    cannot read), or None when the document is not one."""
    for prefix, codec in _BOMLESS_UNICODE:
        if content.startswith(prefix):
            try:
                return content.decode(codec).encode("utf-8")
            except UnicodeDecodeError:
                return None
    return None


def looks_like_json(content: bytes) -> bool:
    return sniff_head(content)[:1] in (b"{", b"[")


class BadJSON(ValueError):
    """JSON we will not read, with a one-line reason fit for a source's error message."""


_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"[]{}")
_DEPTH_STEP = [0] * 256
_DEPTH_STEP[ord("[")] = _DEPTH_STEP[ord("{")] = 1
_DEPTH_STEP[ord("]")] = _DEPTH_STEP[ord("}")] = -1


def json_depth(text: str) -> int:
    """How deep ``text``'s arrays and objects nest, safe to ask before parsing: escapes and
    strings are cut out with bytes methods and the brackets left summed in C (about 0.3 s for
    10 MB of brackets, 10 ms for a 1 MB feed)."""
    data = text.encode("utf-8", "ignore").replace(b"\\\\", b"").replace(b'\\"', b"")
    outside = b"".join(data.split(b'"')[::2])  # even pieces lie between strings
    brackets = outside.translate(None, _NOT_BRACKETS)
    return max(itertools.accumulate(map(_DEPTH_STEP.__getitem__, brackets)), default=0)


def _bounded_number(convert: type[int] | type[float]) -> Any:
    def parse(digits: str) -> int | float:
        if len(digits) > MAX_NUMBER_DIGITS:
            raise BadJSON(
                f"a number {len(digits)} characters long (at most {MAX_NUMBER_DIGITS} are read)"
            )
        return convert(digits)

    return parse


def load_json(text: str, *, strict: bool = True) -> Any:
    """``json.loads`` for untrusted text, within bounds: raises :class:`BadJSON` (never
    RecursionError or a bare ValueError) for invalid JSON, nesting past MAX_JSON_DEPTH, or a
    number longer than MAX_NUMBER_DIGITS."""
    if json_depth(text) > MAX_JSON_DEPTH:
        raise BadJSON(f"arrays or objects nested more than {MAX_JSON_DEPTH} deep")
    try:
        return json.loads(
            text,
            strict=strict,
            parse_int=_bounded_number(int),
            parse_float=_bounded_number(float),
        )
    except BadJSON:
        raise
    except json.JSONDecodeError as e:
        raise BadJSON(f"invalid JSON ({short(e)})") from None
    except (RecursionError, ValueError) as e:  # the depth scan should have caught a recursion
        raise BadJSON(f"invalid JSON ({type(e).__name__}: {short(e)})") from None


class BadMarkup(ValueError):
    """Markup we will not parse, with a one-line reason fit for a source's error message."""


# What the parsers do not nest: comments, CDATA, declarations, processing instructions, HTML
# void elements, and a "<" that starts no tag ("a < b", "<3").  What is left is "<" (opens),
# "</" (closes) and "/>" (an open that closes itself).
_UNNESTED = re.compile(
    rb"<!--.*?(?:-->|\Z)|<!\[CDATA\[.*?(?:\]\]>|\Z)|<[!?][^>]*>?"
    rb"|<(?:area|base|br|col|embed|hr|img|input|link|meta|param|source|track|wbr)\b"
    rb"|<(?![A-Za-z/])",
    re.DOTALL | re.IGNORECASE,
)
_MARK_STEP = [0] * 256
_MARK_STEP[1], _MARK_STEP[2], _MARK_STEP[ord("<")] = -1, -1, 1
_NOT_MARKS = bytes(b for b in range(256) if b not in (1, 2, ord("<")))


def markup_shape(content: bytes, *, max_elements: int = MAX_ELEMENTS) -> tuple[int, int]:
    """(elements, deepest nesting) of an XML or HTML document, safe to ask before parsing;
    past ``max_elements`` the depth is not counted (reported as 0).

    Counted with regex and bytes methods and summed in C, not parsed (about 12 ms for a 1.6 MB
    feed of 20,000 elements): a close tag with no open one counts for nothing (as parsers
    ignore it), one that closes several open elements at once counts for one, so the depth is
    never less than a parser would build.
    """
    data = _UNNESTED.sub(b"", content.replace(b"\x00", b"")).replace(b"\x01", b"")
    data = data.replace(b"\x02", b"").replace(b"</", b"\x01").replace(b"/>", b"\x02")
    marks = data.translate(None, _NOT_MARKS)
    elements = marks.count(b"<")
    if elements > max_elements:
        return elements, 0
    if elements <= 1:
        return elements, elements
    level, low = itertools.tee(itertools.accumulate(map(_MARK_STEP.__getitem__, marks)))
    floor = itertools.accumulate(itertools.chain((0,), low), min)
    # Depth after each mark, with strays ignored: the level above the lowest point so far.
    return elements, max(map(operator.sub, level, floor))


def check_markup(content: bytes) -> None:
    """Raise :class:`BadMarkup` for a document past MAX_ELEMENTS or MAX_MARKUP_DEPTH."""
    elements, depth = markup_shape(content)
    if elements > MAX_ELEMENTS:
        raise BadMarkup(f"{elements:,} elements, more than the {MAX_ELEMENTS:,} read per document")
    if depth > MAX_MARKUP_DEPTH:
        raise BadMarkup(
            f"elements nested {depth:,} deep, more than the {MAX_MARKUP_DEPTH:,} read per document"
        )


# Text codecs Python has that no document is written in, and whose decoders fail even with
# errors="replace" (a page declaring one made html.parser's caller raise UnicodeError).
_NOT_FOR_DOCUMENTS = frozenset(
    {"idna", "punycode", "undefined", "unicode-escape", "raw-unicode-escape", "mbcs", "oem"}
)


def usable_codec(name: str | None) -> str | None:
    """A codec Python has for a declared charset, with the WHATWG supersets substituted."""
    if not name:
        return None
    name = name.strip().lower()
    name = {
        "gb2312": "gb18030",
        "gbk": "gb18030",
        "iso-8859-1": "windows-1252",
        "latin1": "windows-1252",
        "latin-1": "windows-1252",
        "us-ascii": "windows-1252",
        "ascii": "windows-1252",
        "x-sjis": "shift_jis",
    }.get(name, name)
    try:
        codec = codecs.lookup(name).name
        b"<".decode(codec, "replace")  # LookupError: bytes-to-bytes (base64, zlib, rot13 …)
    except (LookupError, ValueError):  # ValueError: a NUL in the name
        return None
    return None if codec in _NOT_FOR_DOCUMENTS else codec


def decode_html(content: bytes, headers: Mapping[str, str]) -> str:
    """Bytes of an HTML page → text: BOM, then the HTTP charset, then <meta charset>, then
    UTF-8 if it decodes cleanly, else windows-1252 (what browsers fall back to)."""
    for bom, codec in (
        (codecs.BOM_UTF8, "utf-8"),
        (codecs.BOM_UTF16_LE, "utf-16-le"),
        (codecs.BOM_UTF16_BE, "utf-16-be"),
    ):
        if content.startswith(bom):
            return content[len(bom) :].decode(codec, "replace")
    declared = usable_codec(media_type(headers)[1])
    if declared is None:
        m = _META_CHARSET.search(content[:4096])
        declared = usable_codec(m.group(1).decode("ascii", "replace")) if m else None
        if declared in ("utf-16-le", "utf-16-be", "utf-16"):
            declared = "utf-8"  # a <meta> we could read in ASCII cannot be UTF-16
    if declared is not None:
        return content.decode(declared, "replace")
    try:
        return content.decode("utf-8")
    except UnicodeDecodeError:
        return content.decode("windows-1252", "replace")


def from_struct(value: object) -> datetime | None:
    """feedparser's naive-UTC ``struct_time`` → aware UTC datetime; None when unusable."""
    if not isinstance(value, time.struct_time):
        return None
    try:
        return datetime.fromtimestamp(calendar.timegm(value), UTC)
    except (OverflowError, ValueError, OSError):
        return None


_YMD = re.compile(r"^(\d{4})(?:[-/.](\d{1,2})(?:[-/.](\d{1,2}))?)?$")


def parse_date(text: object) -> datetime | None:
    """A date as found in JSON Feed, Open Graph, citation_* and JSON-LD → aware UTC.

    Accepts RFC 3339 / ISO 8601 (a missing offset means UTC), RFC 822 and the
    ``2019/05/17``, ``2019-5`` and ``2019`` forms that citation_* tags use.
    """
    if not isinstance(text, str):
        return None
    s = text.strip()
    if not s or len(s) > 64:
        return None
    dt: datetime | None = None
    m = _YMD.match(s)
    if m:
        try:
            dt = datetime(int(m.group(1)), int(m.group(2) or 1), int(m.group(3) or 1))
        except ValueError:
            return None
    else:
        iso = s.replace(" ", "T", 1) if re.match(r"^\d{4}-\d\d-\d\d \d", s) else s
        try:
            dt = datetime.fromisoformat(iso)
        except ValueError:
            try:
                dt = parsedate_to_datetime(s)
            except (TypeError, ValueError, IndexError):
                return None
    if dt.tzinfo is None:
        return dt.replace(tzinfo=UTC)
    try:
        return dt.astimezone(UTC)
    except (OverflowError, ValueError):
        return None


def clean_text(value: object, limit: int = 1000) -> str | None:
    """A short plain-text value (meta content, author name): entities decoded, spaces folded."""
    if not isinstance(value, str):
        return None
    text = _WS.sub(" ", html.unescape(value)).strip()
    return text[:limit] or None


def escape_text(value: str | None) -> str | None:
    """Plain text → HTML that shows exactly that text (RawEntry fields may hold markup)."""
    if value is None or not value.strip():
        return None
    return html.escape(value, quote=False)


def short(message: object, limit: int = 160) -> str:
    text = _WS.sub(" ", str(message)).strip()
    return text if len(text) <= limit else text[: limit - 1] + "…"
