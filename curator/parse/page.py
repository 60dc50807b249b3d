"""HTML pages: a listing page with no feed (``kind: page``), and one article's metadata.

beautifulsoup4 with ``html.parser`` (as fast as lxml here; tree building dominates).  We
decode the bytes ourselves (HTTP charset, then ``<meta charset>``, then UTF-8, then
windows-1252) so a page never goes through a slow statistical guess.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from bs4 import BeautifulSoup, Tag
from bs4.exceptions import ParserRejectedMarkup
from bs4.filter import SoupStrainer

from curator.exceptions import ParseError
from curator.normalize import SUMMARY_TEXT_MAX, TITLE_MAX, absolute_http_url, plain_text
from curator.parse._common import (
    FEED_ROOTS,
    MAX_ENTRIES,
    BadJSON,
    BadMarkup,
    check_markup,
    decode_html,
    escape_text,
    first_element,
    load_json,
    looks_like_html,
    looks_like_json,
    lower_headers,
    parse_date,
    short,
)
from curator.types import ParsedFeed, RawEntry

_ARTICLE_TYPES = {
    "article", "newsarticle", "scholarlyarticle", "blogposting", "report", "techarticle",
    "analysisnewsarticle", "reportagenewsarticle", "opinionnewsarticle", "liveblogposting",
    "medicalscholarlyarticle", "socialmediaposting",
}  # fmt: skip


@dataclass(frozen=True)
class PageMeta:
    """What a page says about itself; every text is plain, every URL absolute http(s)."""

    url: str
    title: str | None
    summary: str | None
    site_name: str | None
    published: datetime | None
    authors: tuple[str, ...] = ()


def _attr(tag: Tag, name: str) -> str | None:
    value = tag.get(name)
    if isinstance(value, list):
        value = " ".join(value)
    return value.strip() if isinstance(value, str) and value.strip() else None


def _base(soup: BeautifulSoup, url: str) -> str:
    tag = soup.find("base")
    href = _attr(tag, "href") if isinstance(tag, Tag) else None
    return absolute_http_url(href, url) or url


# --------------------------------------------------------------------------- metadata


def page_metadata(
    content: bytes, *, url: str, headers: Mapping[str, str], source_id: str = "manual"
) -> PageMeta:
    """Open Graph, citation_* (Highwire/Google Scholar), Dublin Core, JSON-LD Article,
    Parse.ly and plain ``<title>`` / ``<meta name=description>``, in that order of trust.

    Raises ParseError for a page past the markup limits (see :func:`_bounded_markup`).
    """
    _bounded_markup(content, url, source_id)
    text = decode_html(content, lower_headers(headers))
    strainer = SoupStrainer(["meta", "link", "title", "time", "script", "base"])
    soup = _soup(text, url, source_id, strainer)
    base = _base(soup, url)

    metas: dict[str, list[str]] = {}
    for m in soup.find_all("meta"):
        if not isinstance(m, Tag):
            continue
        # itemprop is left out: on a listing it as often describes a neighbouring item.
        key = _attr(m, "property") or _attr(m, "name")
        value = _attr(m, "content")
        if key and value:
            metas.setdefault(key.lower(), []).append(value)

    def first(*keys: str) -> str | None:
        for key in keys:
            for value in metas.get(key, ()):
                return value
        return None

    ld = _json_ld_article(soup)
    parsely = _parsely(first("parsely-page"))
    canonical = None
    for link in soup.find_all("link"):
        if isinstance(link, Tag) and "canonical" in (_attr(link, "rel") or "").lower().split():
            canonical = _attr(link, "href")
            break
    title_tag = soup.find("title")
    html_title = title_tag.get_text(" ", strip=True) if isinstance(title_tag, Tag) else None
    time_tag = soup.find("time", attrs={"datetime": True, "itemprop": "datePublished"})
    time_tag = time_tag or soup.find("time", attrs={"datetime": True})
    time_value = _attr(time_tag, "datetime") if isinstance(time_tag, Tag) else None

    page_url = (
        absolute_http_url(first("og:url"), base)
        or absolute_http_url(canonical, base)
        or absolute_http_url(_ld_str(ld, "url"), base)
        or url
    )
    title = _text(
        first("og:title", "citation_title", "dc.title", "dcterms.title")
        or _ld_str(ld, "headline")
        or _ld_str(ld, "name")
        or first("twitter:title")
        or html_title,
        TITLE_MAX,
    )
    summary = _text(
        first(
            "og:description",
            "description",
            "citation_abstract",
            "dc.description",
            "dcterms.abstract",
        )
        or _ld_str(ld, "description")
        or first("twitter:description"),
        SUMMARY_TEXT_MAX,
    )
    publisher = ld.get("publisher") if ld else None
    site_name = _text(
        first("og:site_name", "citation_journal_title", "application-name")
        or (_ld_str(publisher, "name") if isinstance(publisher, Mapping) else None),
        200,
    ) or _host(page_url)
    published = None
    for candidate in (
        first("article:published_time", "citation_publication_date", "citation_date"),
        _ld_str(ld, "datePublished"),
        parsely.get("pub_date") if isinstance(parsely.get("pub_date"), str) else None,
        first("parsely-pub-date", "citation_online_date"),
        first("dc.date.issued", "dcterms.issued", "dc.date", "dcterms.date"),
        first("pubdate", "publishdate", "date"),
        time_value,
    ):
        published = parse_date(candidate)
        if published is not None:
            break
    names: list[str] = []
    names += metas.get("citation_author", [])
    names += metas.get("dc.creator", []) + metas.get("dcterms.creator", [])
    names += metas.get("author", []) + metas.get("article:author", [])
    names += metas.get("article:authorname", [])
    names += _ld_authors(ld)
    p_authors = parsely.get("authors")
    if isinstance(p_authors, list):
        names += [a for a in p_authors if isinstance(a, str)]
    return PageMeta(
        url=page_url,
        title=title,
        summary=summary,
        site_name=site_name,
        published=published,
        authors=_people(names),
    )


def _text(value: str | None, limit: int) -> str | None:
    return (plain_text(value, limit) or None) if value else None


def _host(url: str) -> str | None:
    host = (urlsplit(url).hostname or "").lower()
    return host.removeprefix("www.") or None


def _people(names: list[str]) -> tuple[str, ...]:
    seen: set[str] = set()
    out: list[str] = []
    for name in names:
        if name.lower().startswith(("http://", "https://")):
            continue  # article:author is often a profile URL
        text = plain_text(name, 200)
        if text and text.casefold() not in seen:
            seen.add(text.casefold())
            out.append(text)
    return tuple(out[:20])


def _parsely(value: str | None) -> dict[str, Any]:
    if not value:
        return {}
    try:
        doc = load_json(value)
    except BadJSON:
        return {}
    return doc if isinstance(doc, dict) else {}


def _walk_ld(node: Any, depth: int = 0) -> Iterator[Mapping[str, Any]]:
    if depth > 4:
        return
    if isinstance(node, list):
        for child in node:
            yield from _walk_ld(child, depth + 1)
    elif isinstance(node, Mapping):
        yield node
        if "@graph" in node:
            yield from _walk_ld(node["@graph"], depth + 1)


def _json_ld_article(soup: BeautifulSoup) -> Mapping[str, Any] | None:
    for script in soup.find_all("script"):
        if not isinstance(script, Tag):
            continue
        if (_attr(script, "type") or "").lower() != "application/ld+json":
            continue
        try:
            doc = load_json(script.get_text())
        except BadJSON:
            continue
        for node in _walk_ld(doc):
            kinds = node.get("@type")
            names = [kinds] if isinstance(kinds, str) else kinds if isinstance(kinds, list) else []
            if any(isinstance(k, str) and k.lower() in _ARTICLE_TYPES for k in names):
                return node
    return None


def _ld_str(node: object, key: str) -> str | None:
    if not isinstance(node, Mapping):
        return None
    value = node.get(key)
    return value.strip() if isinstance(value, str) and value.strip() else None


def _ld_authors(ld: Mapping[str, Any] | None) -> list[str]:
    if not ld:
        return []
    raw = ld.get("author")
    people = raw if isinstance(raw, list) else [raw]
    out: list[str] = []
    for person in people:
        if isinstance(person, str):
            out.append(person)
        elif isinstance(person, Mapping) and isinstance(person.get("name"), str):
            out.append(person["name"])
    return out


# --------------------------------------------------------------------------- listing pages


def parse_page(
    content: bytes,
    *,
    url: str,
    headers: Mapping[str, str],
    source_id: str,
    selector: str | None = None,
    max_entries: int = MAX_ENTRIES,
) -> ParsedFeed:
    """Article links on a page with no feed.

    With ``selector`` (CSS), each match is a link or holds one; without, the headline link of
    each ``<article>`` and every link in or around an ``<h2>``/``<h3>``.  A page that turns
    out to be a feed is parsed as one.  No links is a warning, not an error: the page may be
    between issues, or the selector may need updating.
    """
    hdrs = lower_headers(headers)
    if not content.strip():
        raise ParseError(source_id, f"{url}: the server sent an empty body, not a page")
    if looks_like_json(content) or (
        not looks_like_html(content) and (first_element(content) or "").lower() in FEED_ROOTS
    ):
        from curator.parse.feed import parse_feed

        return parse_feed(
            content, url=url, headers=hdrs, source_id=source_id, max_entries=max_entries
        )
    _bounded_markup(content, url, source_id)
    soup = _soup(decode_html(content, hdrs), url, source_id)
    base = _base(soup, url)
    if selector:
        try:
            nodes = soup.select(selector)
        except Exception as e:  # soupsieve's SelectorSyntaxError and friends
            raise ParseError(source_id, f"selector {selector!r} is not valid CSS: {e}") from e
        found: Iterator[tuple[Tag | None, Tag]] = (
            (_link_in(n), n) for n in nodes if isinstance(n, Tag)
        )
    else:
        found = _heuristic_links(soup)

    entries: list[RawEntry] = []
    seen = {url, base}
    for anchor, container in found:
        if anchor is None:
            continue
        link = absolute_http_url(_attr(anchor, "href"), base)
        if link is None:
            continue
        link = link.split("#", 1)[0] if urlsplit(link).fragment else link
        heading = next(_near(anchor, _HEADINGS), None)  # a card link: use its headline
        shown = heading if heading is not None else anchor
        title = _shown_text(shown, 4 * TITLE_MAX) or _attr(anchor, "title") or ""
        if link in seen or not title:
            continue
        seen.add(link)
        entries.append(_page_entry(title, link, container, anchor, base))
        if len(entries) == max_entries:
            break
    title_tag = soup.find("title")
    page_title = title_tag.get_text(" ", strip=True) if isinstance(title_tag, Tag) else None
    warning = None
    if not entries:
        how = f"with selector {selector!r}" if selector else "in <article>, <h2> or <h3>"
        warning = f"no article links found {how}"
    return ParsedFeed(
        title=plain_text(page_title) or None, link=url, entries=tuple(entries), warning=warning
    )


def _bounded_markup(content: bytes, url: str, source_id: str) -> None:
    """A page nested or crowded past the limits is refused before BeautifulSoup builds it
    (a million nested tags took 31 s and 400 MB to build)."""
    try:
        check_markup(content)
    except BadMarkup as e:
        raise ParseError(source_id, f"{url}: not read: {e}") from None


def _soup(
    text: str, url: str, source_id: str, strainer: SoupStrainer | None = None
) -> BeautifulSoup:
    """The page's tree; a ParseError where html.parser gives up (it asserts on a marked
    section such as ``<![OCTYPE html>``, which bs4 reports as ParserRejectedMarkup)."""
    try:
        return BeautifulSoup(text, "html.parser", parse_only=strainer)
    except ParserRejectedMarkup as e:
        reason = short(str(e).rsplit("\n", 1)[-1])
        raise ParseError(source_id, f"{url}: not a readable HTML page ({reason})") from None


#: How far one look around a node of a listing goes: descendants examined for a link, a
#: heading, a paragraph or a date, and ancestors for an enclosing link.  A card holds these
#: within a few dozen nodes; unbounded, a hostile page of nested elements made every look
#: cover the whole page (20,000 headings under 990 nested <article>s took 95 s).
LOOK_DOWN = 500
LOOK_UP = 10
_HEADINGS = ("h1", "h2", "h3", "h4")


def _near(node: Tag, names: tuple[str, ...]) -> Iterator[Tag]:
    """Tags named ``names`` among the first LOOK_DOWN descendants of ``node``, in order."""
    for found in itertools.islice(node.descendants, LOOK_DOWN):
        if isinstance(found, Tag) and found.name in names:
            yield found


def _shown_text(node: Tag, limit: int) -> str:
    """``node.get_text(" ", strip=True)``, stopped once it is ``limit`` characters long."""
    parts: list[str] = []
    size = 0
    for piece in node.stripped_strings:
        parts.append(piece)
        size += len(piece) + 1
        if size > limit:
            break
    return " ".join(parts)[:limit]


def _link_in(node: Tag) -> Tag | None:
    if node.name == "a" and node.has_attr("href"):
        return node
    found = next((a for a in _near(node, ("a",)) if a.has_attr("href")), None)
    if found is not None:
        return found
    for parent in itertools.islice(node.parents, LOOK_UP):
        if parent.name == "a" and parent.has_attr("href"):
            return parent
    return None


def _heuristic_links(soup: BeautifulSoup) -> Iterator[tuple[Tag | None, Tag]]:
    """The headline link of each ``<article>``, and the link of each ``<h2>``/``<h3>`` outside
    one, in document order: one pass, knowing for each tag whether an article holds it."""
    in_article: dict[int, bool] = {}  # by id(): tags are alive for as long as the soup
    for node in soup.descendants:
        if not isinstance(node, Tag):
            continue
        parent = node.parent
        inside = parent is not None and (
            parent.name == "article" or in_article.get(id(parent), False)
        )
        in_article[id(node)] = inside
        if node.name == "article":
            headed = (_link_in(h) for h in _near(node, _HEADINGS))
            anchor = next((a for a in headed if a is not None), None)
            yield (anchor or _link_in(node)), node
        elif node.name in ("h2", "h3") and not inside:
            yield _link_in(node), node


def _page_entry(title: str, link: str, container: Tag, anchor: Tag, base: str) -> RawEntry:
    summary = None
    published = None
    if container.name not in ("a", *_HEADINGS):
        in_anchor = {id(d) for d in itertools.islice(anchor.descendants, LOOK_DOWN)}
        for p in _near(container, ("p",)):
            if id(p) not in in_anchor and p is not anchor:
                text = _shown_text(p, SUMMARY_TEXT_MAX)
                if len(text) > 20:
                    summary = escape_text(text)
                    break
        t = next((t for t in _near(container, ("time",)) if t.has_attr("datetime")), None)
        if t is not None:
            published = parse_date(_attr(t, "datetime"))
    return RawEntry(
        title=escape_text(title),
        link=link,
        summary=summary,
        published=published,
        base_url=base,
    )
