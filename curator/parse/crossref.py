"""Crossref REST API (``/works?…``) JSON → entries.

One work per item: ``title[0]`` (plus ``subtitle[0]``), the DOI URL, the JATS abstract turned
into plain paragraphs, the first of published / published-online / published-print / issued /
created, authors as "Given Family", and the journal (``container-title``) then ``subject``
as tags.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from curator.exceptions import ParseError
from curator.parse._common import (
    MAX_ENTRIES,
    BadJSON,
    load_json,
    lower_headers,
    parse_date,
    short,
)
from curator.types import ParsedFeed, RawEntry

_DATE_FIELDS = ("published", "published-online", "published-print", "issued", "created")
# A tag never holds "<": "[^<>]*" keeps each attempt from running to the end of a long
# abstract of unclosed tags, which made "[^>]*" quadratic (320 KB took 16 s).
_JATS_HEADING_ABSTRACT = re.compile(
    r"<jats:title[^<>]*>\s*(?:abstract|summary)\s*</jats:title>", re.IGNORECASE
)
_JATS_TAG = re.compile(r"<(/?)jats:([\w.-]+)[^<>]*>", re.IGNORECASE)
_JATS_TO_HTML = {"p": "p", "title": "b", "italic": "i", "bold": "b", "sub": "sub", "sup": "sup"}


def parse_crossref(
    content: bytes,
    *,
    url: str,
    headers: Mapping[str, str],
    source_id: str,
    max_entries: int = MAX_ENTRIES,
) -> ParsedFeed:
    """Raises ParseError for invalid JSON, a Crossref error answer, or any other JSON."""
    lower_headers(headers)  # accepted for symmetry with the other parsers
    try:
        doc = load_json(content.decode("utf-8-sig"))
    except (UnicodeDecodeError, BadJSON) as e:
        raise ParseError(source_id, f"{url}: not a readable Crossref answer: {short(e)}") from e
    if not isinstance(doc, dict):
        raise ParseError(source_id, f"{url}: not a Crossref answer (no JSON object)")
    message = doc.get("message")
    if doc.get("status") != "ok":
        detail = message
        if isinstance(message, list) and message and isinstance(message[0], Mapping):
            detail = message[0].get("message") or message[0]
        raise ParseError(
            source_id, f"{url}: Crossref answered {doc.get('status')!r}: {short(detail)}"
        )
    if doc.get("message-type") == "work" and isinstance(message, Mapping):
        items: list[Any] = [message]
    elif isinstance(message, Mapping) and isinstance(message.get("items"), list):
        items = message["items"]
    else:
        raise ParseError(source_id, f"{url}: not a Crossref works list (message.items missing)")
    entries = tuple(_work(w) for w in items[:max_entries] if isinstance(w, Mapping))
    return ParsedFeed(title=None, link=None, entries=entries)


def _first_str(value: object) -> str | None:
    if isinstance(value, list):
        value = next((v for v in value if isinstance(v, str) and v.strip()), None)
    return value.strip() if isinstance(value, str) and value.strip() else None


def _work(w: Mapping[str, Any]) -> RawEntry:
    title = _first_str(w.get("title"))
    subtitle = _first_str(w.get("subtitle"))
    if title and subtitle and subtitle.casefold() not in title.casefold():
        title = f"{title}: {subtitle}"
    doi = _first_str(w.get("DOI"))
    link = _first_str(w.get("URL")) or (f"https://doi.org/{doi}" if doi else None)
    tags = [t for t in (_first_str(w.get("container-title")),) if t]
    subjects = w.get("subject")
    if isinstance(subjects, list):
        tags += [s.strip() for s in subjects if isinstance(s, str) and s.strip()]
    return RawEntry(
        title=title,
        link=link,
        summary=_abstract(w.get("abstract")),
        guid=doi,
        published=_date(w),
        authors=_authors(w.get("author")),
        tags=tuple(tags),
        doi=doi,
        venue=_first_str(w.get("container-title")),
    )


def jats_to_html(abstract: str) -> str:
    """JATS markup → the few HTML tags it means; the sanitiser drops everything else."""
    s = _JATS_HEADING_ABSTRACT.sub("", abstract)

    def swap(m: re.Match[str]) -> str:
        name = _JATS_TO_HTML.get(m.group(2).lower())
        return f"<{m.group(1)}{name}>" if name else ""

    return _JATS_TAG.sub(swap, s).strip()


def _abstract(value: object) -> str | None:
    if not isinstance(value, str) or not value.strip():
        return None
    return jats_to_html(value) or None


def _date(w: Mapping[str, Any]) -> datetime | None:
    for name in _DATE_FIELDS:
        field = w.get(name)
        if not isinstance(field, Mapping):
            continue
        parts = field.get("date-parts")
        if isinstance(parts, list) and parts and isinstance(parts[0], list) and parts[0]:
            ymd = parts[0]
            if all(isinstance(x, int) and not isinstance(x, bool) for x in ymd[:3]):
                try:
                    return datetime(
                        ymd[0], ymd[1] if len(ymd) > 1 else 1, ymd[2] if len(ymd) > 2 else 1,
                        tzinfo=UTC,
                    )  # fmt: skip
                except (ValueError, OverflowError):  # year 0, month 13, a 30-digit day
                    pass
        stamp = parse_date(field.get("date-time"))
        if stamp is not None:
            return stamp
    return None


def _authors(value: object) -> tuple[str, ...]:
    if not isinstance(value, list):
        return ()
    names: list[str] = []
    for a in value:
        if not isinstance(a, Mapping):
            continue
        parts = [a.get("given"), a.get("family")]
        name = " ".join(p.strip() for p in parts if isinstance(p, str) and p.strip())
        name = name or (a["name"].strip() if isinstance(a.get("name"), str) else "")
        if name:
            names.append(name)
    return tuple(names)
