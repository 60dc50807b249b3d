"""The news2023 stream as Curator's pipeline sees it: every entry of the 153 RSS files parsed
and normalised (title, lead text, canonical URL, date), for the same-story bench and pair
search.

    from stories_corpus import load
    entries = load(Path("/tmp/news2023"))   # the unpacked ../shared/news2023/feeds.tar.xz
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path

from curator import normalize
from curator.config import Source
from curator.parse import parse
from curator.types import Entry, Fetched

NOW = datetime(2024, 1, 1, tzinfo=UTC)


def source_id(path: Path) -> str:
    """A valid Curator source id from a capture's file name."""
    stem = path.name.removesuffix(".xml").lower()
    return re.sub(r"[^a-z0-9_-]+", "-", stem).strip("-")[:63]


def load(folder: Path) -> list[Entry]:
    """Every normalised entry of every ``*.xml`` file under *folder*, oldest first."""
    entries: list[Entry] = []
    for path in sorted(folder.rglob("*.xml")):
        sid = source_id(path)
        url = f"http://news2023.test/{path.name}"
        source = Source.model_validate({"id": sid, "name": sid, "url": url})
        fetched = Fetched(sid, url, 200, {"content-type": "application/rss+xml"}, path.read_bytes())
        for raw in parse(fetched, source, max_entries=100_000).entries:
            entry = normalize.normalize(raw, source_id=sid, feed_url=url, now=NOW)
            if entry is not None:
                entries.append(entry)
    entries.sort(key=lambda e: e.published)
    return entries
