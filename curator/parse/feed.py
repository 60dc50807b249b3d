"""RSS 0.9x/1.0/2.0, Atom and JSON Feed bytes → :class:`~curator.types.ParsedFeed`.

feedparser gets the bytes and the response headers, never a URL: it has no timeout, and a
string it mistakes for a path or URL would be opened.  Its sanitiser and relative-URI
rewriting are off (they cost ~4× the parse); :mod:`curator.normalize` sanitises with nh3 and
resolves links against ``RawEntry.base_url``.
"""

from __future__ import annotations

import io
from collections.abc import Mapping
from typing import Any

import feedparser

from curator.exceptions import ParseError
from curator.identifiers import doi_from_text, doi_from_url
from curator.normalize import absolute_http_url, plain_text
from curator.parse import jsonfeed
from curator.parse._common import (
    FEED_ROOTS,
    MAX_ENTRIES,
    BadMarkup,
    bomless_unicode,
    check_markup,
    escape_text,
    first_element,
    from_struct,
    looks_like_html,
    looks_like_json,
    lower_headers,
    maybe_gunzip,
    media_type,
    short,
)
from curator.parse.fast import parse_fast
from curator.types import ParsedFeed, RawEntry

# bozo exceptions that say "the bytes were odd" rather than "the document is broken": a
# feed that raises only these and has no entries is an empty feed, not a failure.
_MILD = ("CharacterEncodingOverride", "NonXMLContentType")


def parse_feed(
    content: bytes,
    *,
    url: str,
    headers: Mapping[str, str],
    source_id: str,
    max_entries: int = MAX_ENTRIES,
) -> ParsedFeed:
    """Parse one feed document.

    Raises ParseError for an empty body, an HTML page, invalid JSON, or XML that yields no
    entries and is broken; a broken document that still yields entries gives them with
    ``warning`` set.  A well-formed feed with no entries is not an error.
    """
    hdrs = lower_headers(headers)
    content = maybe_gunzip(content)
    kind, charset = media_type(hdrs)
    if not content.strip():
        raise ParseError(source_id, f"{url}: the server sent an empty body, not a feed")
    if b"<" not in content[:4096] and not looks_like_json(content):
        raise ParseError(
            source_id, f"{url}: not a feed: the body is not XML, JSON or HTML ({kind or 'no type'})"
        )
    if looks_like_json(content) or ("json" in kind and not content.lstrip().startswith(b"<")):
        return jsonfeed.parse_json_feed(
            content, url=url, source_id=source_id, max_entries=max_entries
        )
    utf8 = bomless_unicode(content)
    if utf8 is not None:
        content, charset = utf8, "utf-8"
    content = _strip_before_declaration(content)
    try:
        check_markup(content)
    except BadMarkup as e:
        raise ParseError(source_id, f"{url}: not read: {e}") from None
    return _parse_xml(content, url, hdrs, kind, charset, source_id, max_entries)


def _strip_before_declaration(content: bytes) -> bytes:
    """Drop the blank lines some generators print before ``<?xml``, which make expat give
    up on an otherwise well-formed feed."""
    bom = b"\xef\xbb\xbf" if content.startswith(b"\xef\xbb\xbf") else b""
    body = content[len(bom) :]
    if body[:1].isspace():
        stripped = body.lstrip()
        if stripped.startswith(b"<?xml"):
            return bom + stripped
    return content


def _html_message(url: str, kind: str) -> str:
    return (
        f"{url}: not a feed: the server sent an HTML page ({kind or 'no content type'}); "
        "check the URL"
    )


def _parse_xml(
    content: bytes,
    url: str,
    hdrs: Mapping[str, str],
    kind: str,
    charset: str | None,
    source_id: str,
    max_entries: int,
) -> ParsedFeed:
    html_page = looks_like_html(content)
    if not html_page:
        # Well-formed RSS 2.0 / Atom 1.0 in a plain encoding: the same values about ten times
        # faster (curator.parse.fast replays feedparser's handlers on an ElementTree).
        fast = parse_fast(content, url=url, charset=charset)
        if fast is not None:
            return _parsed_feed(fast[0], fast[1], url, max_entries, None)
    # RFC 7303 (not RFC 3023's us-ascii default) for text/xml, and servers that label feeds
    # text/html, text/plain or nothing at all: let the BOM / XML declaration decide, but keep
    # an explicit HTTP charset, which wins.
    keep = kind.startswith("application/") and kind.endswith("+xml")
    ctype = kind if keep else "application/xml"
    if charset:
        ctype += f"; charset={charset}"
    response_headers = {"content-type": ctype, "content-location": url}
    if "content-language" in hdrs:
        response_headers["content-language"] = hdrs["content-language"]
    try:
        d = feedparser.parse(
            io.BytesIO(content),
            response_headers=response_headers,
            sanitize_html=False,
            resolve_relative_uris=False,
        )
    except Exception as e:  # feedparser has many internal failure modes; none is ours
        raise ParseError(
            source_id, f"{url}: not a readable feed ({type(e).__name__}: {short(e)})"
        ) from e

    entries = d.get("entries") or []
    version = d.get("version") or ""
    exc = d.get("bozo_exception") if d.get("bozo") else None
    exc_name = type(exc).__name__ if exc is not None else ""
    if html_page and not (entries and version):
        raise ParseError(source_id, _html_message(url, kind))
    if not entries:
        root = (first_element(content) or "").lower()
        if exc is not None and exc_name not in _MILD:
            raise ParseError(source_id, f"{url}: not a readable feed: {short(exc)}")
        if not version and root not in FEED_ROOTS:
            shown = f"<{root}>" if root else "no XML at all"
            raise ParseError(
                source_id, f"{url}: not a feed: no RSS, Atom or JSON Feed document ({shown})"
            )

    warning = None
    if html_page:
        warning = "the feed is wrapped in an HTML page; read its entries anyway"
    elif exc is not None and entries and exc_name.startswith("CharacterEncoding"):
        warning = f"the feed's declared encoding is wrong ({short(exc, 120)}); read it anyway"
    elif exc is not None and entries and exc_name != "NonXMLContentType":
        warning = f"the feed is not well-formed XML ({short(exc, 120)}); read its entries anyway"
    return _parsed_feed(d.get("feed") or {}, entries, url, max_entries, warning)


def _parsed_feed(
    feed: Any, entries: list[Any], url: str, max_entries: int, warning: str | None
) -> ParsedFeed:
    """feedparser's ``feed`` and ``entries`` (or the fast path's copies of them) → ParsedFeed."""
    feed_link = _str(feed.get("link"))
    feed_base = _detail_base(feed.get("title_detail")) or url
    raw = tuple(_entry(e, feed_link or feed_base) for e in entries[:max_entries])
    return ParsedFeed(
        title=plain_text(_str(feed.get("title"))) or None,
        link=absolute_http_url(feed_link, url),
        entries=raw,
        warning=warning,
    )


def _str(value: object) -> str | None:
    if isinstance(value, str) and value.strip():
        return value.strip()
    return None


def _detail_base(detail: object) -> str | None:
    if isinstance(detail, Mapping):
        return _str(detail.get("base"))
    return None


def _detail_type(detail: object) -> str | None:
    if isinstance(detail, Mapping):
        return _str(detail.get("type"))
    return None


def _html_of(detail: object) -> str | None:
    """The value of a feedparser text construct as HTML (plain text escaped)."""
    if not isinstance(detail, Mapping):
        return None
    value = detail.get("value")
    if not isinstance(value, str) or not value.strip():
        return None
    if detail.get("type") == "text/plain":
        return escape_text(value)
    return value


def _entry(e: Any, fallback_base: str) -> RawEntry:
    summary = _html_of(e.get("summary_detail"))
    content = None
    base = None
    contents = e.get("content") or []
    if contents:
        best = next(
            (c for c in contents if c.get("type") in ("text/html", "application/xhtml+xml")),
            contents[0],
        )
        content = _html_of(best)
        base = _detail_base(best)
    if content is not None and content == summary:
        content = None
    base = (
        base
        or _detail_base(e.get("summary_detail"))
        or _detail_base(e.get("title_detail"))
        or fallback_base
    )
    return RawEntry(
        title=_str(e.get("title")),
        title_type=_detail_type(e.get("title_detail")),
        link=_link(e),
        summary=summary,
        content=content,
        guid=_str(e.get("id")),
        # dict.get: FeedParserDict maps a missing updated_parsed to published_parsed, with a
        # DeprecationWarning, which would make "updated" a copy of "published".
        published=from_struct(dict.get(e, "published_parsed"))
        or from_struct(dict.get(e, "created_parsed")),
        updated=from_struct(dict.get(e, "updated_parsed")),
        authors=_authors(e),
        tags=_tags(e),
        base_url=base,
        doi=_doi(e),
        venue=_str(e.get("prism_publicationname")) or _str(e.get("arxiv_journal_ref")),
    )


def _doi(e: Any) -> str | None:
    """The DOI an entry states: arXiv's ``arxiv:doi``, ``prism:doi``, a ``dc:identifier``
    holding one, or a link titled "doi" (arXiv's related link)."""
    for key in ("arxiv_doi", "prism_doi", "dc_identifier"):
        doi = doi_from_text(_str(e.get(key)))
        if doi:
            return doi
    for x in e.get("links") or []:
        if isinstance(x, Mapping) and x.get("title") == "doi":
            doi = doi_from_url(_str(x.get("href")))
            if doi:
                return doi
    return None


def _link(e: Any) -> str | None:
    # FeedBurner's own link is a redirector; origLink is the article.
    orig = _str(e.get("feedburner_origlink"))
    if orig and orig.lower().startswith(("http://", "https://")):
        return orig
    link = _str(e.get("link"))
    if link:
        return link
    links = [x for x in e.get("links") or [] if isinstance(x, Mapping) and _str(x.get("href"))]
    for rel in ("alternate", None):
        for x in links:
            if (rel is None and x.get("rel") != "enclosure") or x.get("rel") == rel:
                return _str(x.get("href"))
    guid = _str(e.get("id"))
    if guid and guid.lower().startswith(("http://", "https://")):
        return guid
    return None


def _authors(e: Any) -> tuple[str, ...]:
    names: list[str] = []
    for a in e.get("authors") or []:
        if isinstance(a, Mapping):
            name = _str(a.get("name")) or _str(a.get("email"))
            if name:
                names.append(name)
    if not names:
        name = _str(e.get("author"))
        if name:
            names.append(name)
    return tuple(names)


def _tags(e: Any) -> tuple[str, ...]:
    out: list[str] = []
    for t in e.get("tags") or []:
        if isinstance(t, Mapping):
            term = _str(t.get("label")) or _str(t.get("term"))
            if term:
                out.append(term)
    return tuple(out)
