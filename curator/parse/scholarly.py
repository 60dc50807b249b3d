"""Research metadata from a landing page or a Crossref work: authors, venue, DOI, arXiv id,
publication date and open-access status.

Pure: bytes (or a parsed JSON document) in, a :class:`ScholarlyMeta` out.  A landing page is
read from, in this order of trust (the first reader that gives a field wins, so conflicting
values never mix; authors come whole from one reader, never half from two):

1. Highwire Press ``citation_*`` tags (what Google Scholar reads; journals and repositories,
   arXiv included),
2. JSON-LD ``ScholarlyArticle`` and kin (``@graph`` too),
3. Dublin Core ``DC.*`` / ``dcterms.*`` tags,
4. Open Graph and ``article:*`` tags (an ordinary news page has only these).

Pages are hostile: the bytes are capped (:data:`MAX_PAGE`) and pass the markup depth and
element limits before BeautifulSoup builds anything (only ``<meta>``, ``<script>`` and
``<link>`` are kept); a JSON-LD block is read only up to :data:`MAX_JSON_LD` characters and the
JSON depth limit, and walked at most :data:`LD_DEPTH` levels deep; every value becomes plain
text of bounded length, DOIs and arXiv ids are checked by :mod:`curator.identifiers`, dates
must be real dates.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import asdict, dataclass, fields, replace
from datetime import date
from typing import Any

from bs4 import BeautifulSoup, Tag
from bs4.exceptions import ParserRejectedMarkup
from bs4.filter import SoupStrainer

from curator import identifiers as ids
from curator.exceptions import ParseError
from curator.normalize import plain_text
from curator.parse._common import BadJSON, BadMarkup, check_markup, decode_html, load_json, short

__all__ = [
    "MAX_JSON_LD",
    "MAX_PAGE",
    "ScholarlyMeta",
    "crossref_meta",
    "landing_page_meta",
]

#: Bytes of a landing page read; metadata lives in ``<head>``, which is far smaller.
MAX_PAGE = 2 * 1024 * 1024
#: Characters of one JSON-LD block parsed, and blocks read per page.
MAX_JSON_LD = 200_000
MAX_LD_BLOCKS = 20
LD_DEPTH = 6
MAX_AUTHORS = 50
NAME_MAX = 200
VENUE_MAX = 300
TITLE_MAX = 500

_SCHOLARLY_TYPES = {
    "scholarlyarticle", "medicalscholarlyarticle", "article", "report", "thesis",
    "chapter", "book", "techarticle", "dataset", "publicationissue", "creativework",
}  # fmt: skip
_OPEN_LICENSES = ("creativecommons.org/licenses", "creativecommons.org/publicdomain")
_FLAGS = frozenset({"citation_fulltext_world_readable"})
_HEAD_END = re.compile(r"</head\s*>|<body[\s>]", re.IGNORECASE)
# A tag cannot hold "<": each attempt stops at the next one, so the scan stays linear.
_SCRIPT_OPEN = re.compile(r"<script\b[^<>]*>")
_LD_TYPE = re.compile(r"""\btype\s*=\s*["']?\s*application/ld\+json""")
_YMD = re.compile(r"^\s*(\d{4})(?:[-/.](\d{1,2})(?:[-/.](\d{1,2}))?)?(?!\d)")


@dataclass(frozen=True)
class ScholarlyMeta:
    """What a landing page or Crossref says about one work; every field may be missing.

    ``publication_date`` is ``YYYY``, ``YYYY-MM`` or ``YYYY-MM-DD``, as precise as the source;
    ``open_access`` is None when the source does not say; ``found`` names the readers that
    gave something (``citation``, ``json-ld``, ``dc``, ``og``, ``crossref``).
    """

    title: str | None = None
    authors: tuple[str, ...] = ()
    venue: str | None = None
    doi: str | None = None
    arxiv_id: str | None = None
    publication_date: str | None = None
    open_access: bool | None = None
    found: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        """A JSON object for the store's look-up cache."""
        out = asdict(self)
        out["authors"] = list(self.authors)
        out["found"] = list(self.found)
        return out

    @classmethod
    def from_json(cls, data: object) -> ScholarlyMeta:
        """The inverse of :meth:`to_json`; fields of the wrong type are left out."""
        if not isinstance(data, Mapping):
            return cls()
        kwargs: dict[str, Any] = {}
        for f in fields(cls):
            value = data.get(f.name)
            if f.name in ("authors", "found"):
                if isinstance(value, list):
                    kwargs[f.name] = tuple(v for v in value if isinstance(v, str))
            elif f.name == "open_access":
                if isinstance(value, bool):
                    kwargs[f.name] = value
            elif isinstance(value, str):
                kwargs[f.name] = value
        return cls(**kwargs)

    def __bool__(self) -> bool:
        return bool(self.found)


# --------------------------------------------------------------------------- landing pages


def landing_page_meta(
    content: bytes, *, url: str, headers: Mapping[str, str], source_id: str = "research"
) -> ScholarlyMeta:
    """The research metadata of one landing page (see the module docstring).

    Raises ParseError for a page past the markup limits or one html.parser cannot read.
    """
    content = content[:MAX_PAGE]
    try:
        check_markup(content)
    except BadMarkup as e:
        raise ParseError(source_id, f"{url}: not read: {e}") from None
    text = decode_html(content, {k.lower(): v for k, v in headers.items()})
    # The tags live in <head>: only it is built into a tree (a news page's body cost 80 ms a
    # page to tokenise); JSON-LD blocks, which pages also put in the body, are cut out of the
    # whole text by a linear scan.
    end = _HEAD_END.search(text)
    try:
        soup = BeautifulSoup(
            text[: end.start()] if end else text,
            "html.parser",
            parse_only=SoupStrainer(["meta", "link"]),
        )
    except ParserRejectedMarkup as e:
        reason = short(str(e).rsplit("\n", 1)[-1])
        raise ParseError(source_id, f"{url}: not a readable HTML page ({reason})") from None
    metas = _metas(soup)
    readers = (
        ("citation", _citation(metas)),
        ("json-ld", _json_ld(_ld_blocks(text))),
        ("dc", _dublin_core(metas)),
        ("og", _open_graph(metas)),
    )
    meta = _combine(readers)
    if meta.arxiv_id is None:
        meta = _with(meta, arxiv_id=ids.arxiv_from_url(url))
    if meta.arxiv_id and meta.open_access is None:
        meta = _with(meta, open_access=True)  # arXiv is open to every reader
    return meta


def _with(meta: ScholarlyMeta, **changes: Any) -> ScholarlyMeta:
    return replace(meta, **changes)


def _combine(readers: tuple[tuple[str, dict[str, Any]], ...]) -> ScholarlyMeta:
    out: dict[str, Any] = {}
    found: list[str] = []
    for name, got in readers:
        useful = {k: v for k, v in got.items() if v not in (None, (), "")}
        if useful:
            found.append(name)
        for key, value in useful.items():
            out.setdefault(key, value)
    return ScholarlyMeta(**out, found=tuple(found))


def _metas(soup: BeautifulSoup) -> dict[str, list[str]]:
    metas: dict[str, list[str]] = {}
    for m in soup.find_all("meta"):
        if not isinstance(m, Tag):
            continue
        key = _attr(m, "name") or _attr(m, "property")
        value = _attr(m, "content")
        if key and key.lower() in _FLAGS:
            value = value or "yes"  # a flag: present (usually empty) means true
        if key and value and len(metas.get(key.lower(), ())) < 2 * MAX_AUTHORS:
            metas.setdefault(key.lower(), []).append(value[: 4 * NAME_MAX + VENUE_MAX])
    return metas


def _attr(tag: Tag, name: str) -> str | None:
    value = tag.get(name)
    if isinstance(value, list):
        value = " ".join(value)
    return value.strip() if isinstance(value, str) and value.strip() else None


def _first(metas: Mapping[str, list[str]], *keys: str) -> str | None:
    for key in keys:
        for value in metas.get(key, ()):
            return value
    return None


def _text(value: object, limit: int) -> str | None:
    if not isinstance(value, str) or not value.strip():
        return None
    return plain_text(value, limit) or None


def person(name: str) -> str | None:
    """A display name: ``Family, Given`` → ``Given Family``; plain text, capped; a URL or an
    e-mail address is no name."""
    text = plain_text(name, NAME_MAX)
    if not text or "://" in text or "@" in text:
        return None
    family, comma, given = text.partition(",")
    if comma and given.strip() and "," not in given and len(family.split()) <= 4:
        text = f"{given.strip()} {family.strip()}"
    return text


def _people(names: Iterator[str] | list[str]) -> tuple[str, ...]:
    out: list[str] = []
    seen: set[str] = set()
    for raw in names:
        name = person(raw) if isinstance(raw, str) else None
        if name and name.casefold() not in seen:
            seen.add(name.casefold())
            out.append(name)
            if len(out) == MAX_AUTHORS:
                break
    return tuple(out)


def pub_date(value: object) -> str | None:
    """``2019/05/03``, ``2019-05-03T10:00:00Z``, ``2019-5``, ``2019`` → ``2019-05-03``,
    ``2019-05``, ``2019``; None unless it is a real date from 1600 to 2200."""
    if not isinstance(value, str):
        return None
    m = _YMD.match(value[:64])
    if m is None:
        return None
    year, month, day = (int(g) if g else None for g in m.groups())
    assert year is not None
    try:
        date(year, month or 1, day or 1)
    except ValueError:
        return None
    if not 1600 <= year <= 2200:
        return None
    if month is None:
        return f"{year:04d}"
    return f"{year:04d}-{month:02d}" if day is None else f"{year:04d}-{month:02d}-{day:02d}"


def _open_from_license(value: object) -> bool | None:
    if isinstance(value, str) and any(lic in value.lower() for lic in _OPEN_LICENSES):
        return True
    return None


def _citation(metas: Mapping[str, list[str]]) -> dict[str, Any]:
    """Highwire Press tags (Google Scholar's inclusion guidelines)."""
    doi = ids.normalize_doi(_first(metas, "citation_doi", "bepress_citation_doi"))
    venue = _first(
        metas,
        "citation_journal_title",
        "citation_conference_title",
        "citation_inbook_title",
        "citation_book_title",
        "citation_technical_report_institution",
        "citation_dissertation_institution",
        "bepress_citation_journal_title",
    )
    arxiv = ids.normalize_arxiv(_first(metas, "citation_arxiv_id"))
    arxiv = arxiv or ids.arxiv_from_url(
        _first(metas, "citation_pdf_url", "citation_abstract_html_url")
    )
    # Google Scholar's flag that the full text is free to read: open access as it says it.
    free = True if "citation_fulltext_world_readable" in metas else None
    return {
        "open_access": free,
        "title": _text(_first(metas, "citation_title"), TITLE_MAX),
        "authors": _people(
            metas.get("citation_author", []) or metas.get("bepress_citation_author", [])
        ),
        "venue": _text(venue, VENUE_MAX),
        "doi": doi,
        "arxiv_id": arxiv,
        "publication_date": pub_date(
            _first(metas, "citation_publication_date", "citation_date", "citation_online_date")
        ),
    }


def _dublin_core(metas: Mapping[str, list[str]]) -> dict[str, Any]:
    doi = None
    for value in metas.get("dc.identifier", []) + metas.get("dcterms.identifier", []):
        doi = ids.normalize_doi(value) or ids.doi_from_text(value)
        if doi:
            break
    doi = doi or ids.normalize_doi(_first(metas, "prism.doi"))
    rights = " ".join(
        metas.get("dc.rights", []) + metas.get("dcterms.rights", [])
        + metas.get("dcterms.accessrights", []) + metas.get("dcterms.license", [])
    )  # fmt: skip
    open_access = _open_from_license(rights)
    if open_access is None and "open access" in rights.lower():
        open_access = True
    return {
        "title": _text(_first(metas, "dc.title", "dcterms.title"), TITLE_MAX),
        "authors": _people(metas.get("dc.creator", []) + metas.get("dcterms.creator", [])),
        "venue": _text(
            _first(metas, "dcterms.ispartof", "dc.source", "prism.publicationname"), VENUE_MAX
        ),
        "doi": doi,
        "publication_date": pub_date(
            _first(metas, "dcterms.issued", "dc.date.issued", "dc.date", "dcterms.date")
        ),
        "open_access": open_access,
    }


def _open_graph(metas: Mapping[str, list[str]]) -> dict[str, Any]:
    authors = [a for a in metas.get("article:author", []) + metas.get("author", [])]
    url = _first(metas, "og:url")
    return {
        "title": _text(_first(metas, "og:title"), TITLE_MAX),
        "authors": _people(authors),
        "venue": _text(_first(metas, "og:site_name"), VENUE_MAX),
        "doi": ids.doi_from_url(url),
        "arxiv_id": ids.arxiv_from_url(url),
        "publication_date": pub_date(_first(metas, "article:published_time")),
    }


# --------------------------------------------------------------------------- JSON-LD


def _ld_blocks(text: str) -> Iterator[str]:
    """The bodies of the page's ``<script type="application/ld+json">`` elements, at most
    :data:`MAX_LD_BLOCKS`, in one pass (a script's body is raw text up to ``</script``, as
    html.parser reads it; an unclosed one ends the search)."""
    lowered = text.lower()
    found = 0
    pos = 0
    while found < MAX_LD_BLOCKS:
        m = _SCRIPT_OPEN.search(lowered, pos)
        if m is None:
            return
        close = lowered.find("</script", m.end())
        if close < 0:
            return
        if _LD_TYPE.search(m.group(0)):
            found += 1
            yield text[m.end() : close]
        pos = close + 8


def _json_ld(blocks: Iterator[str]) -> dict[str, Any]:
    """The first ScholarlyArticle-like node of the page's JSON-LD blocks."""
    for body in blocks:
        if len(body) > MAX_JSON_LD:
            continue
        try:
            doc = load_json(body)
        except BadJSON:
            continue
        for node in _walk(doc, 0):
            if _is_scholarly(node):
                return _ld_fields(node)
    return {}


def _walk(node: Any, depth: int) -> Iterator[Mapping[str, Any]]:
    if depth > LD_DEPTH:
        return
    if isinstance(node, list):
        for child in node[:200]:
            yield from _walk(child, depth + 1)
    elif isinstance(node, Mapping):
        yield node
        if "@graph" in node:
            yield from _walk(node["@graph"], depth + 1)


def _types(node: Mapping[str, Any]) -> list[str]:
    kinds = node.get("@type")
    names = [kinds] if isinstance(kinds, str) else kinds if isinstance(kinds, list) else []
    return [k.lower() for k in names if isinstance(k, str)]


def _is_scholarly(node: Mapping[str, Any]) -> bool:
    return any(k in _SCHOLARLY_TYPES for k in _types(node))


def _ld_name(value: Any) -> str | None:
    if isinstance(value, str):
        return value
    if isinstance(value, Mapping):
        name = value.get("name")
        if isinstance(name, str):
            return name
        given, family = value.get("givenName"), value.get("familyName")
        parts = [p for p in (given, family) if isinstance(p, str) and p.strip()]
        return " ".join(parts) or None
    return None


def _ld_venue(node: Mapping[str, Any]) -> str | None:
    """The periodical a work is part of (``isPartOf``, through an issue and a volume)."""
    part: Any = node.get("isPartOf")
    for _ in range(4):
        if isinstance(part, list):
            part = part[0] if part else None
        if not isinstance(part, Mapping):
            return _text(part, VENUE_MAX) if isinstance(part, str) else None
        if any(k in ("periodical", "publicationevent", "book") for k in _types(part)):
            return _text(part.get("name"), VENUE_MAX)
        inner = part.get("isPartOf")
        if inner is None:
            return _text(part.get("name"), VENUE_MAX)
        part = inner
    return None


def _ld_doi(node: Mapping[str, Any]) -> str | None:
    candidates: list[Any] = []
    for key in ("identifier", "sameAs", "@id", "url"):
        value = node.get(key)
        candidates += value[:20] if isinstance(value, list) else [value]
    for value in candidates:
        if isinstance(value, Mapping):
            scheme = str(value.get("propertyID", "")).lower()
            value = value.get("value")
            if scheme and scheme != "doi":
                continue
        if isinstance(value, str):
            doi = ids.normalize_doi(value) or (
                ids.doi_from_text(value) if value.lower().startswith("doi") else None
            )
            if doi:
                return doi
    return None


def _ld_fields(node: Mapping[str, Any]) -> dict[str, Any]:
    raw_authors = node.get("author")
    people = raw_authors[:MAX_AUTHORS] if isinstance(raw_authors, list) else [raw_authors]
    names = [n for n in (_ld_name(p) for p in people) if n]
    free = node.get("isAccessibleForFree")
    open_access: bool | None = None
    if isinstance(free, bool):
        open_access = free
    elif isinstance(free, str) and free.strip().lower() in ("true", "false"):
        open_access = free.strip().lower() == "true"
    if open_access is None:
        lic = node.get("license")
        open_access = _open_from_license(lic if isinstance(lic, str) else _ld_name(lic))
    title = node.get("headline") or node.get("name")
    return {
        "title": _text(title, TITLE_MAX),
        "authors": _people(names),
        "venue": _ld_venue(node),
        "doi": _ld_doi(node),
        "publication_date": pub_date(node.get("datePublished")),
        "open_access": open_access,
    }


# --------------------------------------------------------------------------- Crossref


def crossref_meta(doc: object) -> ScholarlyMeta:
    """The metadata of a Crossref ``/works/{doi}`` answer (``message-type: work``); an empty
    ScholarlyMeta for anything else (an error answer, a list)."""
    if not isinstance(doc, Mapping) or doc.get("status") != "ok":
        return ScholarlyMeta()
    work = doc.get("message")
    if doc.get("message-type") != "work" or not isinstance(work, Mapping):
        return ScholarlyMeta()
    names: list[str] = []
    authors = work.get("author")
    for a in authors[: 2 * MAX_AUTHORS] if isinstance(authors, list) else []:
        if not isinstance(a, Mapping):
            continue
        parts = [a.get("given"), a.get("family")]
        name = " ".join(p.strip() for p in parts if isinstance(p, str) and p.strip())
        if not name and isinstance(a.get("name"), str):
            name = a["name"]
        if name:
            names.append(name)
    date_value = None
    for key in ("published", "published-print", "published-online", "issued"):
        part = work.get(key)
        got = part.get("date-parts") if isinstance(part, Mapping) else None
        if isinstance(got, list) and got and isinstance(got[0], list) and got[0]:
            ymd = [x for x in got[0][:3] if isinstance(x, int) and not isinstance(x, bool)]
            if len(ymd) == len(got[0][:3]):
                date_value = pub_date("-".join(str(x) for x in ymd))
                if date_value:
                    break
    licences = work.get("license")
    open_access = None
    for lic in licences[:20] if isinstance(licences, list) else []:
        if isinstance(lic, Mapping) and _open_from_license(lic.get("URL")):
            open_access = True
    venue = _first_text(work.get("container-title")) or _first_text(work.get("institution"))
    meta = {
        "title": _text(_first_text(work.get("title")), TITLE_MAX),
        "authors": _people(names),
        "venue": _text(venue, VENUE_MAX),
        "doi": ids.normalize_doi(work.get("DOI") if isinstance(work.get("DOI"), str) else None),
        "publication_date": date_value,
        "open_access": open_access,
    }
    return _combine((("crossref", meta),))


def _first_text(value: object) -> str | None:
    if isinstance(value, list):
        value = next((v for v in value[:10] if isinstance(v, str) and v.strip()), None)
        if value is None:
            return None
    if isinstance(value, Mapping):
        value = value.get("name")
    return value if isinstance(value, str) and value.strip() else None
