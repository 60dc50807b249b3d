"""RawEntry → Entry, and the URL identity every later stage relies on.

Pure functions of their arguments (the clock is passed in).  Everything that comes from a
feed is hostile until it leaves here: titles become plain text, summaries pass an nh3
allow-list (no images: a remote image in a digest tells its sender who read it), links keep
only http(s), dates are clamped to something plausible.

URL identity: :func:`canonical_url` is for *identity* (dedupe, ``item_id``) and is still a
working URL; ``Entry.url`` is the link readers follow: redirectors unwrapped and tracking
parameters dropped, but query order and fragment kept.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import html
import re
import unicodedata
from collections.abc import Callable, Iterable
from datetime import UTC, datetime, timedelta
from urllib.parse import SplitResult, parse_qs, quote, unquote_plus, urljoin, urlsplit, urlunsplit

import nh3

from curator import identifiers as ids
from curator.types import Entry, RawEntry

TITLE_MAX = 500  # characters
VENUE_MAX = 300  # a journal, proceedings or repository name, or an arXiv journal reference
SUMMARY_HTML_MAX = 20_000  # characters of sanitised HTML
SUMMARY_TEXT_MAX = 2_000  # characters of plain text
HTML_INPUT_MAX = 200_000  # characters of untrusted HTML looked at, at most
AUTHORS_MAX, AUTHOR_LEN = 20, 200
TAGS_MAX, TAG_LEN = 30, 100
EARLIEST = datetime(1990, 1, 1, tzinfo=UTC)
FUTURE_SLACK = timedelta(days=1)

ALLOWED_TAGS = frozenset(
    {
        "p", "br", "a", "em", "strong", "b", "i", "u", "sub", "sup", "ul", "ol", "li",
        "blockquote", "code", "pre", "h3", "h4", "h5", "h6",
    }
)  # fmt: skip
ALLOWED_ATTRIBUTES = {"a": {"href", "title"}}
LINK_REL = "noopener noreferrer nofollow"
URL_SCHEMES = frozenset({"http", "https", "mailto"})
# Dropped together with everything inside them, not just the tags.
_DROP_CONTENT = frozenset(
    {
        "script", "style", "noscript", "template", "iframe", "object", "embed", "svg",
        "math", "textarea", "select", "title", "head",
    }
)  # fmt: skip

# Query parameters that identify a click, not a document (compared lower-cased).
TRACKING_PARAMS = frozenset(
    {
        "fbclid", "gclid", "dclid", "gbraid", "wbraid", "msclkid", "yclid", "twclid",
        "mc_cid", "mc_eid", "_ga", "_gl", "igshid", "ref_src", "ref_url", "cmp", "cmpid",
        "ocid", "ns_mchannel", "ns_source", "ns_campaign", "ns_linkname", "ns_fee",
        "at_medium", "at_campaign", "at_custom1", "at_custom2", "at_custom3", "at_custom4",
        "at_link_id", "at_link_origin", "at_link_type", "at_format", "at_ptr_name",
        "at_bbc_team", "mkt_tok", "_hsenc", "_hsmi", "oly_enc_id", "oly_anon_id", "vero_id",
        "wt.mc_id", "smid", "xtor", "sr_share",
    }
)  # fmt: skip
TRACKING_PREFIXES = ("utm_",)
# Fragments that name a place every article page has, not one entry among several.
_PAGE_ANCHOR = re.compile(
    r"(?i)(?:top|main|content|main-?content|article|comments?|respond|reply|disqus_thread|"
    r"more(?:-\d+)?|continue(?:-reading)?|read-?more|comment-form|page)"
)
_TRACKING_FRAGMENT = re.compile(r"(?i)tk\.")  # IDG's "#tk.rss_all", at the start
_DEFAULT_PORTS = {"http": "80", "https": "443"}

_WS = re.compile(r"\s+")
# Characters no reader should receive from a feed or an edit, removed once, here, so that every
# output (digest, feeds, widget, web pages) is clean:
# - C0 controls but tab/LF/CR (which fold to spaces), DEL and C1 controls (ESC reaches a
#   terminal; NEL, U+0085, is whitespace and folds);
# - the bidi embeddings, overrides and isolates (U+202A-U+202E, U+2066-U+2069): U+202E shows
#   "exe.txt" as "txt.exe", and an unclosed one reorders whatever follows it on the page;
# - invisible format characters that hide a word from matching or a reader: zero width space,
#   word joiner and invisible operators (U+200B, U+2060-U+2064), the deprecated format
#   controls (U+206A-U+206F), the BOM/zero width no-break space (U+FEFF), the interlinear
#   annotation marks (U+FFF9-U+FFFB);
# - noncharacters (U+FDD0-U+FDEF, U+FFFE/U+FFFF of every plane) and lone surrogates, which no
#   UTF-8 output can carry.
# Kept on purpose: ZWNJ and ZWJ (U+200C, U+200D: Persian and Indic spelling, emoji sequences
# such as 👩‍💻), variation selectors, tag characters (subdivision flags), soft hyphens, and the
# direction marks LRM, RLM and ALM (U+200E, U+200F, U+061C).  A mark only sets the direction
# of the neutral characters beside it (the full stop after Hebrew text, a number in Arabic),
# which mixed-direction text needs to read right, and cannot reverse a run of letters as an
# override or isolate does.
_INVISIBLE_CLASS = (
    "\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x84\x86-\x9f\u200b\u202a-\u202e\u2060-\u2064"
    "\u2066-\u206f\ufdd0-\ufdef\ufeff\ufff9-\ufffb\ufffe\uffff\ud800-\udfff"
    + "".join(f"{chr(plane << 16 | 0xFFFE)}{chr(plane << 16 | 0xFFFF)}" for plane in range(1, 17))
)
_CONTROL = re.compile(f"[{_INVISIBLE_CLASS}]")
# controls dropped (WHATWG), spaces escaped, invisible characters dropped
_URL_JUNK = re.compile(f"[\t\n\r\x20{_INVISIBLE_CLASS}]")
_ENTITY = re.compile(r"&(?:#\d{1,7}|#[xX][0-9a-fA-F]{1,6}|[A-Za-z][A-Za-z0-9]{1,31});")
_TAG = re.compile(r"</?[A-Za-z][^<>]*>")
_BLOCK = re.compile(
    r"<(?:/?(?:p|div|br|li|ul|ol|dl|dt|dd|h[1-6]|tr|td|th|table|blockquote|pre|section|"
    r"article|header|footer|figure|figcaption|hr))\b",
    re.IGNORECASE,
)
# "<" of each of those tags, so that re.sub inserts the mark without a Python callback
_BLOCK_START = re.compile("<(?=" + _BLOCK.pattern[1:] + ")", re.IGNORECASE)
# Where a paragraph of summary_text ends: a control character strip_invisible removes from
# every input first, so the only ones left are the marks put at _BLOCK_START.
_PARA = "\x1e"
# Block elements the allow-list drops: a space keeps "<td>a</td><td>b</td>" from reading "ab".
_DROPPED_BLOCK = re.compile(
    r"</?(?:div|h1|h2|tr|td|th|table|section|article|header|footer|figure|figcaption|dl|dt|"
    r"dd|hr|aside|nav|main|address|caption)\b",
    re.IGNORECASE,
)
_BLANK_LINE = re.compile(r"\n[^\S\n]*\n\s*")
# A link whose whole text is a "read the rest" phrase, as nh3 writes it (text holds no "<"):
# "Continue reading" with anything after it (WordPress adds the title), the others with
# punctuation or an arrow only ("Read more about the trial" is a link worth keeping), a
# bare "more" only with an ellipsis or an arrow ("Read <a>more</a>" may be the only link).
_MORE_LINK = re.compile(
    r"\s*<a\b[^>]*>\s*[\[(]?\s*(?:continue reading\b[^<]{0,300}|(?:read more(?: here)?|"
    r"keep reading|read the (?:full|rest of the) (?:article|story|post)|"
    r"more(?=\s*(?:[…»›→]|\.\.\.|&gt;)))(?:\s|[.…:»›→\])]|&gt;)*)</a>",
    re.IGNORECASE,
)
_EMPTY_P = re.compile(r"<p>\s*</p>")
_SERIALIZED_TAG = re.compile(r'<[^>"]*(?:"[^"]*"[^>"]*)*>')  # a tag as nh3 writes it
_EMAIL_NAME = re.compile(r"^\S+@\S+\s*\((.+)\)$")
_GOOGLE = re.compile(r"^(?:www\.)?google(?:\.[a-z]{2,3}){1,2}$")
_URL_SAFE = "/:@!$&'()*+,;=%-._~?#[]"
# What urllib.parse.quote(safe=_URL_SAFE) leaves alone: its always-safe set plus _URL_SAFE.
_QUOTE_NOOP = re.compile("[A-Za-z0-9" + re.escape("_.-~" + _URL_SAFE) + "]*")
# An absolute http(s) URL that urljoin() and urlsplit() give back unchanged: lower-case
# scheme, a plain host (ASCII letters, digits, dots, hyphens; optional port), no ;params in
# the path, no empty "?" or "#" (urlunsplit would drop them), no whitespace.
_PLAIN_HTTP_URL = re.compile(
    r"(https?)://([A-Za-z0-9.-]+(?::[0-9]*)?)(/[^?#;\s]*)?(?:\?([^#\s]+))?(?:#(\S+))?"
)
_REDIRECTOR_HOSTS = ("google", "bing.com", "duckduckgo.com")  # what _unwrap looks for


# --------------------------------------------------------------------------- text


def _scrub(url: str) -> str:
    """Control characters out of a URL (as browsers do), inner spaces escaped."""
    if url.isascii() and url.isprintable() and " " not in url:
        return url  # nothing _URL_JUNK matches
    return _URL_JUNK.sub(lambda m: "%20" if m.group() == " " else "", url)


# Built once: nh3.clean() builds its sanitizer anew on every call, which costs more than
# the cleaning itself on a summary-sized fragment.
_TAG_STRIPPER = nh3.Cleaner(tags=set(), clean_content_tags=set(_DROP_CONTENT))


def _strip_tags(s: str) -> str:
    # nh3 takes only what UTF-8 can carry: a lone surrogate (JSON's "\ud83d") must go first.
    return html.unescape(_TAG_STRIPPER.clean(strip_invisible(s)))


def strip_invisible(s: str) -> str:
    """``s`` without the control, bidi and invisible characters listed at ``_INVISIBLE_CLASS``
    (line breaks and tabs are kept: they are whitespace, for the caller to fold or keep)."""
    if s.isascii() and s.isprintable():  # printable ASCII holds none of them
        return s
    return _CONTROL.sub("", s)


def _fold(s: str) -> str:
    # str.split() and the regex \s agree on what whitespace is (every code point checked).
    return " ".join(strip_invisible(s).split())


def text_line(value: str | None, limit: int | None = None) -> str:
    """One line of plain text from a value that *is* text (a ``text/plain`` title, an
    editor's input): invisible characters out, whitespace folded, capped on a word boundary.
    Nothing that looks like markup is touched: ``a <b> c`` stays ``a <b> c``."""
    if not value:
        return ""
    text = _fold(value[:HTML_INPUT_MAX])
    return _cap(text, limit) if limit is not None else text


def _cap(text: str, limit: int) -> str:
    """Cut to ``limit`` characters on a word boundary, ending in "…"."""
    if len(text) <= limit:
        return text
    cut = max(text.rfind(" ", 0, limit), text.rfind("\n", 0, limit))
    if cut < limit * 0.6:
        cut = limit - 1
    return text[:cut].rstrip() + "…"


def plain_text(value: str | None, limit: int = TITLE_MAX) -> str:
    """One line of plain text from a field that may hold markup or (double) escaping.

    ``AT&amp;amp;T`` → ``AT&T``; ``&lt;b&gt;x&lt;/b&gt;`` → ``x``; ``<script>…</script>`` and its
    content disappear.  Used for titles, author names and tags.
    """
    if not value:
        return ""
    if "<" not in value and "&" not in value:  # most names and tags: nothing to parse
        return _cap(_fold(value[:HTML_INPUT_MAX]), limit)
    text = _strip_tags(value[:HTML_INPUT_MAX])
    if "&" in text and _ENTITY.search(text):  # escaped twice
        text = html.unescape(text)
    if "<" in text and _TAG.search(text):  # markup that had been escaped once
        text = _strip_tags(text)
    return _cap(_fold(text), limit)


#: Media types of a title that is text, as feedparser reports them (``title_detail.type``).
TEXT_TYPES = frozenset({"text/plain", "text"})


def clean_title(title: str | None, content_type: str | None = None) -> str:
    """A title as plain text, at most TITLE_MAX characters ("" when nothing is left).

    A title the document says is text (``text/plain``: feedparser's judgement for an RSS
    title that does not look like HTML) is kept as it is, so ``CCTV & lighting <effects> on
    crime`` keeps ``<effects>``.  An HTML title, or one of unknown type, is read as HTML:
    tags stripped, entities decoded, escaped markup stripped too (:func:`plain_text`).
    """
    if content_type is not None and content_type.strip().lower() in TEXT_TYPES:
        return text_line(title, TITLE_MAX)
    return plain_text(title, TITLE_MAX)


def _paragraphs(text: str) -> str:
    """Text with ``_PARA`` marks at block boundaries → paragraphs (each one line, whitespace
    folded) separated by a blank line."""
    # strip_invisible again: an entity can decode to what it removes ("&#x202e;").
    parts = (" ".join(strip_invisible(part).split()) for part in text.split(_PARA))
    return "\n\n".join(part for part in parts if part)


def html_to_text(html_: str) -> str:
    """Plain text of an HTML fragment: a paragraph per block (``<p>``, ``<li>``, ``<br>``…),
    paragraphs separated by a blank line, each one line; capped at 2,000 characters on a word
    boundary."""
    if not html_:
        return ""
    visible = strip_invisible(html_[:HTML_INPUT_MAX])  # takes any _PARA out of the input
    marked = _BLOCK_START.sub(_PARA + "<", visible)
    return _cap(_paragraphs(html.unescape(_TAG_STRIPPER.clean(marked))), SUMMARY_TEXT_MAX)


def _origin(base_url: str | None) -> str | None:
    """``scheme://netloc`` of an http(s) base URL with a host, as urljoin sees it."""
    if not base_url:
        return None
    try:
        parts = urlsplit(base_url)
    except ValueError:
        return None
    if parts.scheme in ("http", "https") and parts.netloc:
        return f"{parts.scheme}://{parts.netloc}"
    return None


def _plain_root_path(target: str) -> bool:
    """True for ``/a/b?q#f``-shaped references that urljoin() resolves to origin + target:
    no authority, no dot segments, no ``;params``, no empty ``?`` or ``#`` to drop."""
    return (
        target[:1] == "/"
        and target[:2] != "//"
        and "/." not in target
        and ";" not in target
        and "?#" not in target
        and target[-1] not in "?#"
    )


def _sanitized_text(html_: str) -> str:
    """:func:`html_to_text` of what :func:`sanitize_html` returned, without parsing it again.

    That HTML is html5ever's serialisation: every ``<`` opens a tag, attribute values are
    double-quoted, text holds only the entities nh3 writes.  Removing the tags and decoding
    the entities gives the text a second parse gives (the one difference, the newline a
    parser drops after ``<pre>``, is folded away as whitespace next to the space put before
    ``<pre``).
    """
    if not html_:
        return ""
    # nh3's output went through strip_invisible: it holds no _PARA, and no entity decodes
    # to one (html.unescape drops C0 controls).
    marked = _BLOCK_START.sub(_PARA + "<", html_[:HTML_INPUT_MAX])
    return _cap(_paragraphs(html.unescape(_SERIALIZED_TAG.sub("", marked))), SUMMARY_TEXT_MAX)


def _href_filter(base_url: str | None) -> Callable[[str, str, str], str | None]:
    # nh3 checks url_schemes *before* this filter runs, so whatever it returns is checked
    # again here.  It must not raise: nh3 would report that as an unraisable exception.
    origin = _origin(base_url)

    def rewrite(tag: str, attr: str, value: str) -> str | None:
        if attr != "href":
            return value
        try:
            target = _scrub(value.strip())
            if base_url:
                if origin is not None and _plain_root_path(target):
                    return origin + target  # urljoin's answer, an http(s) URL with a host
                target = urljoin(base_url, target)
            parts = urlsplit(target)
        except ValueError:
            return None
        scheme = parts.scheme.lower()
        if scheme in ("http", "https") and parts.netloc:
            return target
        if scheme == "mailto":
            return target
        return None

    return rewrite


@functools.lru_cache(maxsize=256)
def _sanitizer(base_url: str | None) -> nh3.Cleaner:
    """The allow-list sanitizer for links relative to ``base_url`` (one per feed base)."""
    return nh3.Cleaner(
        tags=set(ALLOWED_TAGS),
        clean_content_tags=set(_DROP_CONTENT),
        attributes={k: set(v) for k, v in ALLOWED_ATTRIBUTES.items()},
        attribute_filter=_href_filter(base_url),
        link_rel=LINK_REL,
        url_schemes=set(URL_SCHEMES),
        strip_comments=True,
    )


def _clean(html_: str, base_url: str | None) -> str:
    # Again after cleaning: "&#x202e;" in the input is a U+202E in nh3's output.
    return strip_invisible(_sanitizer(base_url).clean(html_)).strip()


def sanitize_html(html_: str, *, base_url: str | None = None) -> str:
    """Allow-listed HTML, links absolute (against ``base_url``) with rel=noopener, no images.

    Looks at the first 200,000 characters; returns at most 20,000, cut on a text boundary
    and re-cleaned so every tag is closed.  Relative links with no ``base_url`` lose their
    href: they would point into our own site.
    """
    if not html_ or not html_.strip():
        return ""
    visible = strip_invisible(html_[:HTML_INPUT_MAX])  # from text and attributes alike
    if "\n" in visible and not _TAG.search(visible):
        visible = _text_paragraphs(visible)
    spaced = _DROPPED_BLOCK.sub(lambda m: " " + m.group(0), visible)
    out = _drop_boilerplate(_clean(spaced, base_url))
    if len(out) <= SUMMARY_HTML_MAX:
        return out
    limit = SUMMARY_HTML_MAX - 200
    for _ in range(4):
        candidate = _clean(out[: _cut_point(out, limit)].rstrip() + "…", base_url)
        if len(candidate) <= SUMMARY_HTML_MAX:
            return candidate
        limit -= len(candidate) - SUMMARY_HTML_MAX + 200  # closing tags took the room
        if limit <= 0:
            break
    return html.escape(_cap(html_to_text(out), SUMMARY_TEXT_MAX), quote=False)


def _text_paragraphs(text: str) -> str:
    """A summary without markup (an arXiv abstract, a text/plain description): each
    blank-line-separated paragraph in a ``<p>``.  Its text is still read as HTML, as before."""
    parts = [p.strip() for p in _BLANK_LINE.split(text)]
    if len(parts) < 2:
        return text
    return "".join(f"<p>{p}</p>" for p in parts if p)


def _drop_boilerplate(clean: str) -> str:
    """Sanitised HTML without the feed's own "Continue reading…" link and the paragraph it
    leaves empty: the reader follows the item's link anyway, and in plain text the words run
    into the summary."""
    if "</a>" not in clean:
        return clean
    out = _EMPTY_P.sub("", _MORE_LINK.sub("", clean))
    return out.strip() if len(out) != len(clean) else clean


def _cut_point(s: str, limit: int) -> int:
    """An index ≤ limit that is outside any tag and entity, at a word end when near one."""
    cut = limit
    if s.rfind("<", 0, cut) > s.rfind(">", 0, cut):
        cut = s.rfind("<", 0, cut)
    amp = s.rfind("&", 0, cut)
    if amp > s.rfind(";", 0, cut):
        cut = amp
    boundary = max(s.rfind(" ", 0, cut), s.rfind(">", 0, cut) + 1)
    if boundary > cut - 300:
        cut = boundary
    return max(cut, 0)


def _names(values: Iterable[str], count: int, length: int) -> tuple[str, ...]:
    seen: set[str] = set()
    out: list[str] = []
    for value in values:
        text = plain_text(value, length)
        m = _EMAIL_NAME.match(text)
        if m:
            text = m.group(1).strip()
        key = text.casefold()
        if text and key not in seen:
            seen.add(key)
            out.append(text)
            if len(out) == count:
                break
    return tuple(out)


# --------------------------------------------------------------------------- TeX

# TeX's accent commands and the combining mark each puts on its letter.
TEX_ACCENTS = {
    "'": "\u0301", "`": "\u0300", "^": "\u0302", '"': "\u0308", "~": "\u0303",
    "=": "\u0304", ".": "\u0307", "c": "\u0327", "k": "\u0328", "v": "\u030c",
    "H": "\u030b", "r": "\u030a", "u": "\u0306", "d": "\u0323", "b": "\u0331",
}  # fmt: skip
# Letters TeX spells as commands, read only in braces ({\o}, {\ss}): bare, "\o" may be text.
TEX_LETTERS = {
    "o": "ø", "O": "Ø", "ss": "ß", "aa": "å", "AA": "Å", "ae": "æ", "AE": "Æ", "oe": "œ",
    "OE": "Œ", "l": "ł", "L": "Ł", "i": "ı", "j": "ȷ",
}  # fmt: skip


def _tex_pattern(n: str) -> str:
    """One accent command with its letter; ``n`` tells the copies' group names apart."""
    arg = rf"(?:\{{\s*(?P<{n}b>\\[ij]|[A-Za-z])\s*\}}|(?P<{n}l>\\[ij](?![A-Za-z])|[A-Za-z]))"
    symbol = rf"\\(?P<{n}s>[`'^\"~=.])\s*"
    word = rf"\\(?P<{n}w>[ckvHrudb])(?:\s+|(?=\{{))"
    return rf"(?:{symbol}|{word}){arg}"


_TEX_ACCENT = re.compile(
    rf"\{{\s*{_tex_pattern('o')}\s*\}}|{_tex_pattern('p')}"
    rf"|\{{\\(?P<letter>{'|'.join(sorted(TEX_LETTERS, key=len, reverse=True))})\}}"
)


def _tex_char(m: re.Match[str]) -> str:
    groups = {k: v for k, v in m.groupdict().items() if v is not None}
    if "letter" in groups:
        return TEX_LETTERS[groups["letter"]]
    command = next(v for k, v in groups.items() if k[1] in "sw")
    base = next(v for k, v in groups.items() if k[1] in "bl")
    return unicodedata.normalize("NFC", base.lstrip("\\") + TEX_ACCENTS[command])


def tex_accents(text: str) -> str:
    """TeX's accented letters as Unicode: ``R\\'{e}nyi`` → ``Rényi``, ``\\v{S}koda`` → ``Škoda``,
    ``{\\o}`` → ``ø``.  Only these spellings of single letters: math (``$\\delta$``) and other
    commands stay as they are.  For text known to be TeX (arXiv's): elsewhere ``\\"`` and
    ``\\'`` are more often an escaped quote (``It\\'s``)."""
    if "\\" not in text:
        return text
    return _TEX_ACCENT.sub(_tex_char, text)


def _is_arxiv(url: str) -> bool:
    host = (urlsplit(url).hostname or "") if "arxiv.org" in url else ""
    return host == "arxiv.org" or host.endswith(".arxiv.org")


# --------------------------------------------------------------------------- URLs


def _quote(part: str) -> str:
    if _QUOTE_NOOP.fullmatch(part):  # quote() would give it back unchanged
        return part
    return quote(part, safe=_URL_SAFE)


def _unwrap(parts: SplitResult) -> SplitResult:
    """Follow search-engine redirect links whose target is in the URL (at most 3 deep)."""
    for _ in range(3):
        netloc = parts.netloc.lower()
        if not any(name in netloc for name in _REDIRECTOR_HOSTS):
            return parts  # the host is part of the netloc: no redirector
        host = (parts.hostname or "").lower()
        path = parts.path
        names: tuple[str, ...] = ()
        if _GOOGLE.match(host) and path == "/url":
            names = ("url", "q")
        elif host == "news.google.com" or (
            host in ("bing.com", "www.bing.com") and path.lower() == "/news/apiclick.aspx"
        ):
            names = ("url",)
        elif host in ("duckduckgo.com", "html.duckduckgo.com", "lite.duckduckgo.com") and (
            path in ("/l/", "/l")
        ):
            names = ("uddg",)
        if not names:
            return parts
        params = parse_qs(parts.query)
        target = next((params[n][0].strip() for n in names if params.get(n)), "")
        if not target.lower().startswith(("http://", "https://")):
            return parts
        try:
            parts = urlsplit(_scrub(target))
        except ValueError:
            return parts
    return parts


def _is_tracking(piece: str) -> bool:
    key = unquote_plus(piece.partition("=")[0]).strip().lower()
    return key.startswith(TRACKING_PREFIXES) or key in TRACKING_PARAMS


def _query_pieces(query: str) -> list[str]:
    return [_quote(p) for p in query.split("&") if p and not _is_tracking(p)]


def _netloc(netloc: str, scheme: str) -> str:
    userinfo, at, hostport = netloc.rpartition("@")
    if hostport.startswith("["):
        end = hostport.find("]")
        host, port = (hostport[: end + 1], hostport[end + 2 :]) if end > 0 else (hostport, "")
    else:
        host, _, port = hostport.partition(":")
    host = host.lower().rstrip(".")
    if not host.isascii():
        with contextlib.suppress(UnicodeError):
            host = host.encode("idna").decode("ascii")
    if port == _DEFAULT_PORTS.get(scheme):
        port = ""
    return f"{userinfo}{at}{host}" + (f":{port}" if port else "")


def _split(url: str) -> SplitResult | None:
    s = url.strip()
    s = _scrub(s)
    m = _PLAIN_HTTP_URL.fullmatch(s)
    if m:  # urlsplit's answer for these, without its generality
        scheme, netloc, path, query, fragment = m.groups(default="")
        return SplitResult(scheme, netloc, path, query, fragment)
    try:
        return urlsplit(s)
    except ValueError:
        return None


def _unsplit(scheme: str, netloc: str, path: str, query: str, fragment: str) -> str:
    """urlunsplit(), spelt out for the usual case: a host, and a path that is empty or
    starts with "/" (the steps are urlunsplit's own)."""
    if not netloc or path[:1] not in ("", "/"):
        return urlunsplit((scheme, netloc, path, query, fragment))
    url = "//" + netloc + path
    if scheme:
        url = scheme + ":" + url
    if query:
        url = url + "?" + query
    if fragment:
        url = url + "#" + fragment
    return url


def identity_fragment(fragment: str) -> str:
    """The part of a URL's fragment that tells one entry from another, or "".

    A fragment is kept: one page per day with one anchor per post (``26.html#a080605``) is
    a blog's whole archive, and dropping the anchor merged 50 posts into 7 items.  What is
    dropped names no entry: a text directive (``#:~:text=…``, from ``:~:`` on), tracking
    (``#xtor=RSS-8``, ``#utm_source=…``, IDG's ``#tk.rss_all``) and the anchors every
    article page has (``#comments``, ``#respond``, ``#top``, ``#more-123`` …).
    """
    fragment = fragment.partition(":~:")[0]
    if "=" in fragment:
        fragment = "&".join(p for p in fragment.split("&") if p and not _is_tracking(p))
    if not fragment or _PAGE_ANCHOR.fullmatch(fragment) or _TRACKING_FRAGMENT.match(fragment):
        return ""
    return _quote(fragment)


def canonical_url(url: str) -> str:
    """The identity form of a URL: lower-case scheme and host, no default port, tracking
    parameters removed, the rest sorted, known redirectors unwrapped, and the fragment only
    where it tells entries apart (:func:`identity_fragment`).  Two links to one document
    should give one string; two entries that share a page should not."""
    parts = _split(url)
    if parts is None:
        return url.strip()
    parts = _unwrap(parts)
    scheme = parts.scheme.lower()
    netloc = _netloc(parts.netloc, scheme)
    path = _quote(parts.path) or ("/" if netloc else "")
    query = "&".join(sorted(_query_pieces(parts.query)))
    return _unsplit(scheme, netloc, path, query, identity_fragment(parts.fragment))


def document_url(canonical: str) -> str:
    """A canonical URL without its fragment: the page that holds the entry.

    Before 0.2 this was the canonical URL itself (fragments were dropped), so item ids made
    then are ``item_id(document_url(...))``; dedupe looks there for items stored earlier."""
    head, sep, _ = canonical.partition("#")
    return head if sep else canonical


def clean_url(url: str) -> str:
    """The link to show and follow: redirectors unwrapped, tracking parameters dropped,
    unsafe characters escaped; otherwise as the feed gave it (order, fragment, case)."""
    parts = _split(url)
    if parts is None:
        return url.strip()
    parts = _unwrap(parts)
    query = "&".join(_query_pieces(parts.query))
    return _unsplit(
        parts.scheme.lower(), parts.netloc, _quote(parts.path), query, _quote(parts.fragment)
    )


def absolute_http_url(link: str | None, base: str | None = None) -> str | None:
    """``link`` resolved against ``base``, or None unless it is an http(s) URL with a host."""
    if not link:
        return None
    s = _scrub(link.strip())
    if not s:
        return None
    if _PLAIN_HTTP_URL.fullmatch(s):
        return s  # what urljoin() would give, whatever the base
    try:
        url = urljoin(base, s) if base else s
        parts = urlsplit(url)
        host = parts.hostname
    except ValueError:
        return None
    if parts.scheme.lower() not in ("http", "https") or not host:
        return None
    return url


def item_id(canonical: str) -> str:
    """16 hex characters of the SHA-256 of the canonical URL: the item's key for ever."""
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()[:16]


_SUFFIX_SEPARATORS = (" - ", " – ", " — ", " | ", " · ", " :: ")


def title_key(title: str) -> str:
    """A title folded for same-story detection across sites.

    Case-folded and NFKC-normalised, a trailing ``" - Publisher"`` / ``" | Publisher"``
    dropped (when the suffix is short and enough title is left), then only letters and
    digits, single-spaced.
    """
    t = _fold(unicodedata.normalize("NFKC", title)).casefold()
    cut, sep = max((t.rfind(sep), sep) for sep in _SUFFIX_SEPARATORS)
    if cut > 0:
        head, tail = t[:cut], t[cut + len(sep) :]
        if len(tail.split()) <= 6 and len(tail) <= 60 and len(head.split()) >= 3:
            t = head
    return " ".join(re.sub(r"[\W_]+", " ", t).split())


# --------------------------------------------------------------------------- entries


def _as_utc(dt: datetime) -> datetime:
    if dt.tzinfo is UTC:  # astimezone(UTC) would return it as it is
        return dt
    return dt.replace(tzinfo=UTC) if dt.tzinfo is None else dt.astimezone(UTC)


def published_at(raw: RawEntry, now: datetime) -> datetime:
    """``published``, else ``updated``, when plausible (1990 ≤ date ≤ now + 1 day); else now,
    which is when we first saw it."""
    now = _as_utc(now)
    for candidate in (raw.published, raw.updated):
        if candidate is None:
            continue
        try:
            dt = _as_utc(candidate)
        except (OverflowError, ValueError):
            continue
        if EARLIEST <= dt <= now + FUTURE_SLACK:
            return dt
    return now


@functools.lru_cache(maxsize=1024)
def _entry_base(base_url: str | None, feed_url: str) -> str:
    # the same for every entry of a feed
    return absolute_http_url(base_url, feed_url) or feed_url


def normalize(raw: RawEntry, *, source_id: str, feed_url: str, now: datetime) -> Entry | None:
    """Clean one entry; None when it has no http(s) link (the caller counts it as dropped)."""
    base = _entry_base(raw.base_url, feed_url)
    link = absolute_http_url(raw.link, base)
    if link is None:
        return None
    url = clean_url(link)
    canonical = canonical_url(url)
    body = raw.summary if raw.summary and raw.summary.strip() else raw.content
    raw_title, authors = raw.title, raw.authors
    if _is_arxiv(feed_url):  # abstracts, titles and names are TeX there
        body, raw_title = tex_accents(body or ""), tex_accents(raw_title or "")
        authors = tuple(tex_accents(a) for a in authors)
    summary_html = sanitize_html(body or "", base_url=base)
    summary_text = _sanitized_text(summary_html)
    title = (
        clean_title(raw_title, raw.title_type)
        or _cap(" ".join(summary_text.split()), 120)
        or _cap(url, TITLE_MAX)
    )
    return Entry(
        source_id=source_id,
        title=title,
        url=url,
        canonical_url=canonical,
        item_id=item_id(canonical),
        summary_html=summary_html,
        summary_text=summary_text,
        published=published_at(raw, now),
        authors=_names(authors, AUTHORS_MAX, AUTHOR_LEN),
        tags=_names(raw.tags, TAGS_MAX, TAG_LEN),
        **_research_ids(raw, url),
    )


def _research_ids(raw: RawEntry, url: str) -> dict[str, str | None]:
    """The entry's DOI, arXiv id (versionless) and venue, from what it states and its links
    (issue 12); identifiers are checked, the venue is plain text."""
    doi = ids.normalize_doi(raw.doi) or ids.doi_from_url(url) or ids.doi_from_url(raw.guid)
    arxiv = ids.arxiv_from_url(url) or ids.arxiv_from_url(raw.guid) or ids.normalize_arxiv(doi)
    venue = (plain_text(raw.venue, VENUE_MAX) or None) if raw.venue else None
    return {"doi": doi, "arxiv_id": arxiv, "venue": venue}
