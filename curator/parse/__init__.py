"""Fetched bytes → :class:`~curator.types.ParsedFeed`, one module per source kind.

``parse`` is the only entry point the pipeline needs; it raises
:class:`~curator.exceptions.ParseError` (carrying the source id) for a document it cannot
read.  Parsers are pure: bytes and headers in, values out.
"""

from __future__ import annotations

from dataclasses import replace

from curator.config import Source
from curator.exceptions import ParseError
from curator.parse._common import MAX_ENTRIES
from curator.parse.arxiv import parse_arxiv
from curator.parse.crossref import parse_crossref
from curator.parse.feed import parse_feed
from curator.parse.page import PageMeta, page_metadata, parse_page
from curator.types import Fetched, ParsedFeed, RawEntry

__all__ = [
    "MAX_DOCUMENT_TEXT",
    "MAX_ENTRIES",
    "MAX_ENTRY_TEXT",
    "PageMeta",
    "page_metadata",
    "parse",
    "parse_arxiv",
    "parse_crossref",
    "parse_feed",
    "parse_page",
]

#: Characters of summary and of content kept per entry: normalize looks at 200,000 at most.
MAX_ENTRY_TEXT = 250_000
#: Characters of summary and content kept per document, all entries together; past it the
#: remaining entries keep their title and link only (and the result says so).
MAX_DOCUMENT_TEXT = 8_000_000
MAX_SHORT_TEXT = 4_000  # a title or a name; normalize keeps far less
MAX_URL = 8_000  # a link, guid or base longer than this is dropped, not cut
MAX_NAMES = 50  # authors or tags per entry


def parse(fetched: Fetched, source: Source, *, max_entries: int = MAX_ENTRIES) -> ParsedFeed:
    """Parse what ``fetched`` holds as ``source.kind`` says (feed, page, arxiv, crossref).

    ``max_entries`` is ``config.fetch.max_entries``: entries past it are ignored.  What each
    entry keeps is bounded too (MAX_ENTRY_TEXT, MAX_DOCUMENT_TEXT, MAX_SHORT_TEXT, MAX_URL,
    MAX_NAMES), so one document costs what it may, whatever it holds.  Bad input of any kind
    is a ParseError; a 304 has no body and must not reach here (ValueError: a caller's bug,
    not the source's).
    """
    if fetched.not_modified:
        raise ValueError(f"{source.id}: a 304 Not Modified answer has nothing to parse")
    try:
        return _bounded(_dispatch(fetched, source, max_entries))
    except RecursionError:
        # The markup and JSON depth checks come first, so this is a parser's own recursion
        # on something they let through: still the document's fault, not the service's.
        raise ParseError(
            source.id, f"{fetched.url}: not read: nested too deeply for the parser"
        ) from None


def _dispatch(fetched: Fetched, source: Source, max_entries: int) -> ParsedFeed:
    content, url, headers, sid = fetched.content, fetched.url, fetched.headers, source.id
    if source.kind == "page":
        return parse_page(
            content,
            url=url,
            headers=headers,
            source_id=sid,
            selector=source.selector,
            max_entries=max_entries,
        )
    if source.kind == "arxiv":
        return parse_arxiv(
            content, url=url, headers=headers, source_id=sid, max_entries=max_entries
        )
    if source.kind == "crossref":
        return parse_crossref(
            content, url=url, headers=headers, source_id=sid, max_entries=max_entries
        )
    return parse_feed(content, url=url, headers=headers, source_id=sid, max_entries=max_entries)


def _bounded(parsed: ParsedFeed) -> ParsedFeed:
    """``parsed`` with every text within its bound (see :func:`parse`)."""
    budget = MAX_DOCUMENT_TEXT
    entries: list[RawEntry] = []
    cut = False
    for raw in parsed.entries:
        entry = _bounded_entry(raw, keep_text=budget > 0)
        cut = cut or (budget <= 0 and bool(raw.summary or raw.content))
        budget -= len(entry.summary or "") + len(entry.content or "")
        entries.append(entry)
    warning = parsed.warning
    if cut:
        note = (
            f"the entries hold more than {MAX_DOCUMENT_TEXT:,} characters of text; "
            "the last ones keep only their title and link"
        )
        warning = f"{warning}; {note}" if warning else note
    return replace(
        parsed,
        title=_short(parsed.title),
        link=_url(parsed.link),
        entries=tuple(entries),
        warning=warning,
    )


def _bounded_entry(raw: RawEntry, *, keep_text: bool) -> RawEntry:
    return replace(
        raw,
        title=_short(raw.title),
        link=_url(raw.link),
        summary=raw.summary[:MAX_ENTRY_TEXT] if raw.summary and keep_text else None,
        content=raw.content[:MAX_ENTRY_TEXT] if raw.content and keep_text else None,
        guid=_url(raw.guid),
        authors=tuple(a[:MAX_SHORT_TEXT] for a in raw.authors[:MAX_NAMES]),
        tags=tuple(t[:MAX_SHORT_TEXT] for t in raw.tags[:MAX_NAMES]),
        base_url=_url(raw.base_url),
        doi=_short(raw.doi),
        venue=_short(raw.venue),
    )


def _short(text: str | None) -> str | None:
    return text[:MAX_SHORT_TEXT] if text else text


def _url(text: str | None) -> str | None:
    return text if text is None or len(text) <= MAX_URL else None
