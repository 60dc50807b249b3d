"""The public, session-free endpoints the website uses: feeds, the embed page and its widget.

::

    GET /links.json   JSON Feed 1.1, CORS open (embed.js reads it from another origin)
    GET /links.rss    RSS 2.0 (the WordPress RSS block)
    GET /links.atom   Atom 1.0
    GET /embed        the list as a small HTML page for an <iframe>; may be framed anywhere
    GET /embed.js     the widget script (curator/web/static/embed.js)

Query parameters: ``category`` (``news``, ``research``, ``guidance``, several comma-separated
or repeated), ``limit`` (1 or more; above ``publish.limit`` it is capped), and on /embed
``summaries`` and ``dates`` (``0`` or ``1``).  Anything else is ignored (cache busters); a bad
value is a 400 that says what is wrong.

Every answer carries ETag (a hash of the body), Last-Modified and Cache-Control, and a
conditional GET that matches gets 304.  Rendering is cached per store version and query, so a
busy website costs one render per change.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Protocol

from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from curator import publish
from curator.config import Config
from curator.publish import Format, ItemSource, Query, Rendered
from curator.web._numbers import BadNumber, strict_int

EMBED_JS = Path(__file__).parent / "static" / "embed.js"
_CACHE_SIZE = 64
_CORS = {
    "Access-Control-Allow-Origin": "*",
    "Access-Control-Expose-Headers": "ETag, Last-Modified",
}


class PublicSource(Protocol):
    """What the routes need of :class:`curator.core.Curator` (read per request, so a
    reloaded configuration applies at once)."""

    @property
    def config(self) -> Config: ...

    @property
    def store(self) -> ItemSource: ...

    @property
    def clock(self) -> Callable[[], datetime]: ...


class BadParameter(ValueError):
    """A query parameter the client must fix; its message is the 400 body."""


@dataclass(frozen=True)
class _Options:
    query: Query
    summaries: bool = True
    dates: bool = True


def _flag(params: Mapping[str, str], name: str) -> bool:
    value = params.get(name, "1").strip()
    if value not in ("0", "1"):
        raise BadParameter(f"{name} must be 0 or 1, not {value!r}")
    return value == "1"


def parse_options(request: Request, *, max_limit: int, flags: bool = False) -> _Options:
    """The query string → options; BadParameter says what is wrong."""
    params = request.query_params
    try:
        categories = publish.parse_categories(params.getlist("category"))
    except ValueError as e:
        raise BadParameter(str(e)) from None
    limit: int | None = None
    raw = params.get("limit", "").strip()
    if raw:
        try:
            limit = min(strict_int(raw, name="limit", low=1), max_limit)
        except BadNumber:
            shown = raw if len(raw) <= 40 else raw[:40] + "…"
            raise BadParameter(
                f"limit must be a whole number from 1 to {max_limit}, not {shown!r}"
            ) from None
    query = Query(categories=categories, limit=limit)
    if not flags:
        return _Options(query)
    return _Options(query, summaries=_flag(params, "summaries"), dates=_flag(params, "dates"))


def _etag_matches(header: str, etag: str) -> bool:
    """Weak comparison (RFC 9110 §13.1.2), as If-None-Match on GET wants."""
    if header.strip() == "*":
        return True
    ours = etag.removeprefix("W/")
    return any(tag.strip().removeprefix("W/") == ours for tag in header.split(","))


def not_modified(request: Request, etag: str, last_modified: datetime) -> bool:
    """True when the client's copy is current. If-None-Match, when sent, decides alone."""
    inm = request.headers.get("if-none-match")
    if inm is not None:
        return _etag_matches(inm, etag)
    ims = request.headers.get("if-modified-since")
    if not ims:
        return False
    try:
        since = parsedate_to_datetime(ims)
    except (TypeError, ValueError):
        return False
    if since.tzinfo is None:
        since = since.replace(tzinfo=UTC)
    return last_modified.replace(microsecond=0) <= since


def conditional_response(
    request: Request,
    rendered: Rendered,
    *,
    max_age: int,
    extra: Mapping[str, str] | None = None,
) -> Response:
    """The 200 or the 304, with the validators and caching headers on both."""
    headers = {
        "ETag": rendered.etag,
        "Last-Modified": publish.http_date(rendered.last_modified),
        "Cache-Control": f"public, max-age={max_age}",
        "X-Content-Type-Options": "nosniff",
        **(extra or {}),
    }
    if not_modified(request, rendered.etag, rendered.last_modified):
        return Response(status_code=304, headers=headers)
    return Response(rendered.body, media_type=rendered.media_type, headers=headers)


def _bad_request(message: str, extra: Mapping[str, str] | None = None) -> Response:
    headers = {"Cache-Control": "no-store", **(extra or {})}
    return PlainTextResponse(message + "\n", status_code=400, headers=headers)


def _embed_csp() -> str:
    """Nothing may load or run; the one inline style is allowed by its hash; any page may
    frame it (``frame-ancestors *``)."""
    return (
        f"default-src 'none'; style-src {publish.embed_style_hash()}; base-uri 'none'; "
        "form-action 'none'; frame-ancestors *"
    )


class _Site:
    """The routes' shared state: a small render cache keyed by store version and request."""

    def __init__(self, curator: PublicSource) -> None:
        self.curator = curator
        self._lock = threading.Lock()
        self._cache: OrderedDict[tuple[object, ...], tuple[Rendered, datetime | None]] = (
            OrderedDict()
        )
        self._script = EMBED_JS.read_bytes()
        modified = datetime.fromtimestamp(EMBED_JS.stat().st_mtime, UTC).replace(microsecond=0)
        self._script_rendered = Rendered(
            self._script,
            "text/javascript; charset=utf-8",
            publish.etag(self._script),
            modified,
        )

    def _render(self, fmt: Format, name: str, options: _Options) -> Rendered:
        config = self.curator.config
        store = self.curator.store
        now = self.curator.clock()
        key = (store.version(), config.publish, fmt, options)
        with self._lock:
            hit = self._cache.get(key)
            if hit is not None and (hit[1] is None or now < hit[1]):
                self._cache.move_to_end(key)
                return hit[0]
        selection = publish.items_for(store, config.publish, now, options.query)
        rendered = publish.render(
            fmt,
            selection,
            config.publish,
            self_url=publish.feed_url(config.publish, name, options.query),
            summaries=options.summaries,
            dates=options.dates,
        )
        with self._lock:
            self._cache[key] = (rendered, selection.valid_until)
            self._cache.move_to_end(key)
            while len(self._cache) > _CACHE_SIZE:
                self._cache.popitem(last=False)
        return rendered

    def _serve(
        self,
        request: Request,
        fmt: Format,
        name: str,
        *,
        flags: bool = False,
        extra: Mapping[str, str] | None = None,
    ) -> Response:
        publish_config = self.curator.config.publish
        try:
            options = parse_options(request, max_limit=publish_config.limit, flags=flags)
        except BadParameter as e:
            return _bad_request(str(e), extra)
        rendered = self._render(fmt, name, options)
        return conditional_response(
            request, rendered, max_age=publish_config.cache_seconds, extra=extra
        )

    def links_json(self, request: Request) -> Response:
        return self._serve(request, "json", "links.json", extra=_CORS)

    def links_rss(self, request: Request) -> Response:
        return self._serve(request, "rss", "links.rss")

    def links_atom(self, request: Request) -> Response:
        return self._serve(request, "atom", "links.atom")

    def embed(self, request: Request) -> Response:
        headers = {"Content-Security-Policy": _embed_csp()}
        return self._serve(request, "embed", "embed", flags=True, extra=headers)

    def embed_js(self, request: Request) -> Response:
        max_age = self.curator.config.publish.cache_seconds
        return conditional_response(request, self._script_rendered, max_age=max_age)


def public_routes(curator: PublicSource) -> list[Route]:
    """The routes ``create_app`` mounts; handlers are plain functions, so Starlette runs them
    (and their store reads) in its thread pool, off the event loop."""
    site = _Site(curator)
    return [
        Route("/links.json", site.links_json, methods=["GET"], name="public_links_json"),
        Route("/links.rss", site.links_rss, methods=["GET"], name="public_links_rss"),
        Route("/links.atom", site.links_atom, methods=["GET"], name="public_links_atom"),
        Route("/embed", site.embed, methods=["GET"], name="public_embed"),
        Route("/embed.js", site.embed_js, methods=["GET"], name="public_embed_js"),
    ]
