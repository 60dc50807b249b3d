"""How a research item's metadata is shown: one citation line, and the fields the outputs
carry (issue 12).  Pure functions of an :class:`~curator.types.Item`, shared by the editor's
pages, the digest and every published output, so they all say the same thing.

The line reads ``Ann Example, Bo Sample and Cy Third · Journal of Criminal Justice · 2023 ·
doi:10.1016/j.jcrimjus.2023.102030 · arXiv:2301.01234 · open access``; parts the item lacks
are left out, more than three authors become ``First Author et al.``.  It is plain text:
each output escapes it as it escapes a title.
"""

from __future__ import annotations

from typing import Any

from curator.identifiers import arxiv_url, doi_url
from curator.types import Item

__all__ = ["citation_line", "has_research_metadata", "research_fields"]

#: Authors named in a citation line before "et al.".
MAX_NAMED = 3


def has_research_metadata(item: Item) -> bool:
    """Whether *item* carries anything a citation line would show beyond its authors."""
    return any(
        (item.doi, item.arxiv_id, item.venue, item.publication_date, item.open_access is not None)
    )


def _authors(names: tuple[str, ...]) -> str:
    if not names:
        return ""
    if len(names) > MAX_NAMED:
        return f"{names[0]} et al."
    if len(names) == 1:
        return names[0]
    return f"{', '.join(names[:-1])} and {names[-1]}"


def citation_line(item: Item) -> str:
    """The item's citation in one line; empty for an item with no research metadata (a news
    story's authors alone make no citation)."""
    if not has_research_metadata(item):
        return ""
    parts = [
        _authors(item.authors),
        item.venue or "",
        (item.publication_date or "")[:4],
        f"doi:{item.doi}" if item.doi else "",
        f"arXiv:{item.arxiv_id}" if item.arxiv_id else "",
        "open access" if item.open_access else "",
    ]
    return " · ".join(p for p in parts if p)


def research_fields(item: Item) -> dict[str, Any]:
    """The ``_curator`` extension fields of a research item for JSON Feed and links.json:
    ``doi``, ``doi_url``, ``arxiv_id``, ``arxiv_url``, ``venue``, ``publication_date``,
    ``open_access``, ``citation`` and ``links`` (every URL of the work: the preprint's and
    the article's); empty for an item without research metadata."""
    if not has_research_metadata(item):
        return {}
    return {
        "doi": item.doi,
        "doi_url": doi_url(item.doi) if item.doi else None,
        "arxiv_id": item.arxiv_id,
        "arxiv_url": arxiv_url(item.arxiv_id) if item.arxiv_id else None,
        "venue": item.venue,
        "publication_date": item.publication_date,
        "open_access": item.open_access,
        "citation": citation_line(item),
        "links": list(dict.fromkeys((item.url, *item.urls))),
    }
