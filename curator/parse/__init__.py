"""Fetched bytes → :class:`~curator.types.ParsedFeed`, one module per source kind.

``parse`` is the only entry point the pipeline needs; it raises
:class:`~curator.exceptions.ParseError` (carrying the source id) for a document it cannot
read.  Parsers are pure: bytes and headers in, values out.
"""

from __future__ import annotations

from curator.config import Source
from curator.parse._common import MAX_ENTRIES
from curator.parse.arxiv import parse_arxiv
from curator.parse.crossref import parse_crossref
from curator.parse.feed import parse_feed
from curator.parse.page import PageMeta, page_metadata, parse_page
from curator.types import Fetched, ParsedFeed

__all__ = [
    "MAX_ENTRIES",
    "PageMeta",
    "page_metadata",
    "parse",
    "parse_arxiv",
    "parse_crossref",
    "parse_feed",
    "parse_page",
]


def parse(fetched: Fetched, source: Source, *, max_entries: int = MAX_ENTRIES) -> ParsedFeed:
    """Parse what ``fetched`` holds as ``source.kind`` says (feed, page, arxiv, crossref).

    ``max_entries`` is ``config.fetch.max_entries``: entries past it are ignored.  A 304
    has no body and must not reach here (ValueError: a caller's bug, not the source's).
    """
    if fetched.not_modified:
        raise ValueError(f"{source.id}: a 304 Not Modified answer has nothing to parse")
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
