"""JSON Feed 1.0 and 1.1 (https://jsonfeed.org/version/1.1), which feedparser 6 does not read.

Every field is checked for its type: real feeds put numbers in ``title`` and strings in
``authors``, and one bad field must cost that field, not the feed.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from curator.exceptions import ParseError
from curator.normalize import absolute_http_url, plain_text
from curator.parse._common import MAX_ENTRIES, BadJSON, escape_text, load_json, parse_date
from curator.types import ParsedFeed, RawEntry

VERSION_PREFIXES = ("https://jsonfeed.org/version/", "http://jsonfeed.org/version/")


def parse_json_feed(
    content: bytes, *, url: str, source_id: str, max_entries: int = MAX_ENTRIES
) -> ParsedFeed:
    """Raises ParseError for invalid JSON and for JSON that is not a JSON Feed."""
    try:
        doc = load_json(content.decode("utf-8-sig"), strict=False)
    except UnicodeDecodeError as e:
        raise ParseError(
            source_id, f"{url}: not a readable JSON Feed: not UTF-8 ({e.reason})"
        ) from e
    except BadJSON as e:
        raise ParseError(source_id, f"{url}: not a readable JSON Feed: {e}") from e
    if not _is_json_feed(doc):
        raise ParseError(
            source_id,
            f"{url}: not a feed: JSON without a JSON Feed version "
            '(expected "version": "https://jsonfeed.org/version/1.1")',
        )
    items = doc.get("items")
    if not isinstance(items, list):
        items = []
    feed_authors = _authors(doc)  # items inherit the feed's authors (spec, 1.1)
    entries = tuple(
        _item(item, url, feed_authors) for item in items[:max_entries] if isinstance(item, Mapping)
    )
    return ParsedFeed(
        title=plain_text(_str(doc.get("title"))) or None,
        link=absolute_http_url(_str(doc.get("home_page_url")), url),
        entries=entries,
    )


def _is_json_feed(doc: object) -> bool:
    """A jsonfeed.org version URL; or, leniently, any "version" or "title" beside an items
    list (some generators write ``"version": "1.0"``)."""
    if not isinstance(doc, dict):
        return False
    version = doc.get("version")
    if isinstance(version, str) and version.startswith(VERSION_PREFIXES):
        return True
    return isinstance(doc.get("items"), list) and ("version" in doc or "title" in doc)


def _str(value: object) -> str | None:
    if isinstance(value, str) and value.strip():
        return value.strip()
    return None


def _item(item: Mapping[str, Any], base: str, feed_authors: tuple[str, ...]) -> RawEntry:
    link = _str(item.get("url")) or _str(item.get("external_url"))
    guid = item.get("id")
    guid_s = (
        _str(guid)
        if isinstance(guid, str)
        else (str(guid) if isinstance(guid, int | float) else None)
    )
    if link is None and guid_s and guid_s.lower().startswith(("http://", "https://")):
        link = guid_s
    content = _str(item.get("content_html")) or escape_text(_str(item.get("content_text")))
    return RawEntry(
        title=_str(item.get("title")),
        title_type="text/plain",  # JSON Feed titles are plain text by definition
        link=link,
        summary=escape_text(_str(item.get("summary"))),
        content=content,
        guid=guid_s,
        published=parse_date(item.get("date_published")),
        updated=parse_date(item.get("date_modified")),
        authors=_authors(item) or feed_authors,
        tags=_tags(item.get("tags")),
        base_url=base,
    )


def _authors(item: Mapping[str, Any]) -> tuple[str, ...]:
    raw = item.get("authors")  # 1.1
    people = list(raw) if isinstance(raw, list) else []
    if not people and isinstance(item.get("author"), Mapping):  # 1.0
        people = [item["author"]]
    names = []
    for person in people:
        if isinstance(person, Mapping):
            name = _str(person.get("name"))
            if name:
                names.append(name)
    return tuple(names)


def _tags(raw: object) -> tuple[str, ...]:
    if not isinstance(raw, list):
        return ()
    return tuple(t.strip() for t in raw if isinstance(t, str) and t.strip())
