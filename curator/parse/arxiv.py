"""arXiv API answers: Atom, read by :func:`~curator.parse.feed.parse_feed`.

The API reports a bad query as an Atom feed whose only entry has an id under
``http://arxiv.org/api/errors``; that is turned into a ParseError instead of an item.
"""

from __future__ import annotations

from collections.abc import Mapping

from curator.exceptions import ParseError
from curator.normalize import html_to_text
from curator.parse._common import MAX_ENTRIES, short
from curator.parse.feed import parse_feed
from curator.types import ParsedFeed

_ERROR_ID = ("http://arxiv.org/api/errors", "https://arxiv.org/api/errors")


def parse_arxiv(
    content: bytes,
    *,
    url: str,
    headers: Mapping[str, str],
    source_id: str,
    max_entries: int = MAX_ENTRIES,
) -> ParsedFeed:
    parsed = parse_feed(
        content, url=url, headers=headers, source_id=source_id, max_entries=max_entries
    )
    for entry in parsed.entries:
        if entry.guid and entry.guid.startswith(_ERROR_ID):
            why = html_to_text(entry.summary or "") or entry.title or "unknown error"
            raise ParseError(source_id, f"{url}: the arXiv API refused the query: {short(why)}")
    return parsed
