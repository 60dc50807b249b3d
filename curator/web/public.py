"""The public, session-free endpoints the website uses: feeds, the embed page and its widget.

::

    GET /links.json   JSON Feed 1.1, CORS open (embed.js reads it from another origin)
    GET /links.rss    RSS 2.0 (the WordPress RSS block)
    GET /links.atom   Atom 1.0
    GET /embed        the list as a small HTML page for an <iframe>; may be framed anywhere
    GET /embed.js     the widget script (curator/web/static/embed.js)

Query parameters: ``category`` (``news``, ``research``, ``guidance``, several comma-separated
or repeated), ``class`` (publisher classes, likewise: ``police``, ``academic``…) and
``jurisdiction`` (``UK``, ``US``…, likewise; see :mod:`curator.publisher`), ``limit`` (1 or
more; above ``publish.limit`` it is capped), and on /embed
``summaries`` and ``dates`` (``0`` or ``1``).  Anything else is ignored (cache busters); a bad
value is a 400 that says what is wrong.  HEAD answers like GET; OPTIONS answers the CORS
preflight of /links.json (and says ``Allow`` elsewhere); other methods get 405.

Every answer carries ETag (a hash of the body), Last-Modified and Cache-Control, and a
conditional GET that matches gets 304.  Last-Modified is when this output's current bytes
were first served, kept per output in the store's meta (:func:`first_served`), so it moves
whenever the bytes do, a change of ``publish:`` settings or of Curator itself across a restart
included, and a client that sends only If-Modified-Since never gets 304 for another document.
Bodies of 1 KB or more go gzip-compressed to clients that accept it, with an ETag of their own
(``"…-gzip"``) and ``Vary: Accept-Encoding``.  Rendering and compression are cached per store
version and query, so a busy website costs one render per change.

:class:`PublicEndpoints` serves these paths ahead of the editor app's session and CSRF
layers: no public answer sets, refreshes or clears the editor's session cookie (a shared cache
must never keep one), whatever cookie the request brought.
"""

from __future__ import annotations

import contextlib
import gzip
import logging
import re
import threading
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import BaseRoute, Route, Router, request_response
from starlette.types import ASGIApp, Receive, Scope, Send

from curator import publish, publisher
from curator.config import Config
from curator.exceptions import CuratorError
from curator.publish import Format, ItemSource, Query, Rendered
from curator.types import Item
from curator.web._numbers import BadNumber, strict_int

log = logging.getLogger("curator.web")

EMBED_JS = Path(__file__).parent / "static" / "embed.js"
SEEN_KEY = "publish.first_served"  # store meta: output -> {etag, since}
SEEN_MAX = 256  # outputs remembered; a forgotten one starts again at "now", which is safe
_CACHE_SIZE = 64
_GZIP_MIN = 1024  # smaller bodies gain little and may grow
_METHODS = "GET, HEAD, OPTIONS"
_CORS = {
    "Access-Control-Allow-Origin": "*",
    "Access-Control-Expose-Headers": "ETag, Last-Modified",
}
# A list of header names (RFC 9110 tokens), as Access-Control-Request-Headers carries.
_HEADER_NAMES = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+(?:\s*,\s*[!#$%&'*+.^_`|~0-9A-Za-z-]+)*")


class PublicStore(ItemSource, Protocol):
    """What the routes need of :class:`curator.store.Store`: the items, and a small value
    kept across restarts (when each output's bytes were first served)."""

    def transaction(self) -> contextlib.AbstractContextManager[None]: ...

    def get_meta(self, key: str, default: Any = None) -> Any: ...

    def put_meta(self, key: str, value: Any) -> None: ...


class PublicSource(Protocol):
    """What the routes need of :class:`curator.core.Curator` (read per request, so a
    reloaded configuration applies at once)."""

    @property
    def config(self) -> Config: ...

    @property
    def store(self) -> PublicStore: ...

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
    try:
        classes = publisher.parse_classes(params.getlist("class"))
        jurisdictions = publisher.parse_jurisdictions(params.getlist("jurisdiction"))
    except ValueError as e:
        raise BadParameter(str(e)) from None
    query = Query(categories=categories, limit=limit, classes=classes, jurisdictions=jurisdictions)
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


def accepts_gzip(header: str | None) -> bool:
    """Whether an Accept-Encoding header accepts gzip (RFC 9110 §12.5.3: ``q=0`` refuses,
    ``*`` stands for every coding not named)."""
    named: float | None = None
    star: float | None = None
    for part in (header or "").split(","):
        coding, _, params = part.partition(";")
        coding = coding.strip().lower()
        q = 1.0
        for param in params.split(";"):
            name, _, value = param.partition("=")
            if name.strip().lower() == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        if coding in ("gzip", "x-gzip"):
            named = q
        elif coding == "*":
            star = q
    chosen = named if named is not None else star
    return chosen is not None and chosen > 0


def gzip_etag(etag: str) -> str:
    """The compressed representation's own strong ETag: different bytes, different tag."""
    return etag[:-1] + '-gzip"'


@dataclass(frozen=True)
class Output:
    """One output as served: the rendered body and, when worth it, its gzip form."""

    rendered: Rendered
    gzipped: bytes | None

    @classmethod
    def of(cls, rendered: Rendered) -> Output:
        if len(rendered.body) < _GZIP_MIN:
            return cls(rendered, None)
        # mtime=0: the same body always compresses to the same bytes, so its ETag holds.
        return cls(rendered, gzip.compress(rendered.body, compresslevel=6, mtime=0))


def conditional_response(
    request: Request,
    output: Output,
    *,
    max_age: int,
    extra: Mapping[str, str] | None = None,
) -> Response:
    """The 200 or the 304 of the representation the client accepts (gzip or not), with the
    validators and caching headers on both."""
    rendered = output.rendered
    compressed = output.gzipped is not None and accepts_gzip(request.headers.get("accept-encoding"))
    etag = gzip_etag(rendered.etag) if compressed else rendered.etag
    headers = {
        "ETag": etag,
        "Last-Modified": publish.http_date(rendered.last_modified),
        "Cache-Control": f"public, max-age={max_age}",
        "Vary": "Accept-Encoding",
        "X-Content-Type-Options": "nosniff",
        **(extra or {}),
    }
    if not_modified(request, etag, rendered.last_modified):
        return Response(status_code=304, headers=headers)
    if output.gzipped is not None and compressed:
        headers["Content-Encoding"] = "gzip"
        return Response(output.gzipped, media_type=rendered.media_type, headers=headers)
    return Response(rendered.body, media_type=rendered.media_type, headers=headers)


def first_served(
    store: PublicStore, output: str, etag: str, changed: datetime, now: datetime
) -> datetime:
    """Last-Modified of ``output`` (e.g. ``rss?category=news``) now that its bytes are ``etag``.

    The same bytes keep the time they were first served.  New bytes get ``changed`` (the
    latest item change, :attr:`Selection.last_modified`) when that is newer than the previous
    bytes' time, since the items explain the change; else ``now`` (a ``publish:`` setting or
    Curator itself changed); never the previous time, so that an If-Modified-Since copy of the
    old bytes is not taken for the new.  An output never recorded starts at ``now``: a client
    may hold bytes served before the record existed.  Kept in the store's meta so it survives
    a restart; if the store cannot record it, ``now`` (a 200 too many, never a wrong 304).
    """
    now = now.replace(microsecond=0)
    try:
        seen = store.get_meta(SEEN_KEY, {})
        record = seen.get(output) if isinstance(seen, dict) else None
        if isinstance(record, dict) and record.get("etag") == etag:
            with contextlib.suppress(KeyError, TypeError, ValueError):
                return datetime.fromisoformat(record["since"])
        with store.transaction():
            seen = store.get_meta(SEEN_KEY, {})
            if not isinstance(seen, dict):
                seen = {}
            record = seen.get(output)
            since = _next_since(record, etag, changed.replace(microsecond=0), now)
            seen[output] = {"etag": etag, "since": since.isoformat()}
            if len(seen) > SEEN_MAX:
                for key in sorted(seen, key=lambda k: _since_text(seen[k]))[:-SEEN_MAX]:
                    del seen[key]
            store.put_meta(SEEN_KEY, seen)
            return since
    except CuratorError as e:
        log.warning("cannot record when an output changed output=%s error=%s", output, e)
        return now


def _since_text(record: object) -> str:
    """A record's time as stored (ISO 8601 in UTC, so it sorts as text); "" when unreadable."""
    return str(record.get("since", "")) if isinstance(record, dict) else ""


def _next_since(record: object, etag: str, changed: datetime, now: datetime) -> datetime:
    if not isinstance(record, dict):
        return now
    try:
        previous = datetime.fromisoformat(record["since"])
    except (KeyError, TypeError, ValueError):
        return now
    if record.get("etag") == etag:
        return previous  # another thread or process recorded these bytes first
    since = changed if changed > previous else now
    return max(since, previous + timedelta(seconds=1))


def _output_name(fmt: Format, options: _Options) -> str:
    params: list[tuple[str, str]] = []
    if options.query.categories:
        params.append(("category", ",".join(options.query.categories)))
    if options.query.classes:
        params.append(("class", ",".join(options.query.classes)))
    if options.query.jurisdictions:
        params.append(("jurisdiction", ",".join(options.query.jurisdictions)))
    if options.query.limit is not None:
        params.append(("limit", str(options.query.limit)))
    if fmt == "embed":
        params += [("summaries", str(int(options.summaries))), ("dates", str(int(options.dates)))]
    return fmt + ("?" + urlencode(params, safe=",") if params else "")


def _bad_request(message: str, extra: Mapping[str, str] | None = None) -> Response:
    headers = {"Cache-Control": "no-store", **(extra or {})}
    return PlainTextResponse(message + "\n", status_code=400, headers=headers)


def _unavailable(path: str, error: CuratorError, extra: Mapping[str, str] | None) -> Response:
    """The store is busy or damaged: a plain 503 for the public (the log has the detail)."""
    log.error("public request failed path=%s error=%s: %s", path, type(error).__name__, error)
    headers = {"Cache-Control": "no-store", "Retry-After": "30", **(extra or {})}
    return PlainTextResponse(
        "Curator cannot answer right now. Try again in a minute; if it goes on, "
        "tell the people who run this site.\n",
        status_code=503,
        headers=headers,
    )


def _embed_csp() -> str:
    """Nothing may load or run; the one inline style is allowed by its hash; any page may
    frame it (``frame-ancestors *``)."""
    return (
        f"default-src 'none'; style-src {publish.embed_style_hash()}; base-uri 'none'; "
        "form-action 'none'; frame-ancestors *"
    )


Handler = Callable[[Request], Response]


class _Site:
    """The routes' shared state: a small render cache keyed by store version and request."""

    def __init__(self, curator: PublicSource) -> None:
        self.curator = curator
        self._lock = threading.Lock()
        self._cache: OrderedDict[tuple[object, ...], tuple[Output, datetime | None]] = OrderedDict()
        self._script = EMBED_JS.read_bytes()
        self._script_output: Output | None = None
        # The last answer made while every item file loaded, per output, for while some do not.
        self._good: OrderedDict[tuple[object, ...], Output] = OrderedDict()
        self._damage_logged: frozenset[str] = frozenset()

    def _damaged(self) -> bool:
        """Whether item files are damaged now (logged once per change of which ones)."""
        damaged = publish.damaged_items(self.curator.store)
        names = frozenset(str(d.path) for d in damaged)
        if names != self._damage_logged:
            self._damage_logged = names
            if names:
                log.warning(
                    "public outputs keep their last good answer while the store has damaged "
                    "files=%s: run `curator store repair`",
                    ",".join(sorted(names)),
                )
        return bool(names)

    def _render(self, fmt: Format, name: str, options: _Options) -> Output:
        config = self.curator.config
        store = self.curator.store
        now = self.curator.clock()
        # The sources' classes are part of the key: reclassifying a source in feeds.yaml
        # changes what ?class= selects without changing the store.
        classes = publisher.Classes.of_config(config)
        key = (store.version(), config.publish, fmt, options, classes)
        with self._lock:
            hit = self._cache.get(key)
            if hit is not None and (hit[1] is None or now < hit[1]):
                self._cache.move_to_end(key)
                return hit[0]
        good_key = key[1:]
        healthy = not self._damaged()
        if not healthy:
            with self._lock:
                good = self._good.get(good_key)
            if good is not None:
                return good
        selection = publish.items_for(store, config.publish, now, options.query, classes)
        rendered = publish.render(
            fmt,
            selection,
            config.publish,
            self_url=publish.feed_url(config.publish, name, options.query),
            summaries=options.summaries,
            dates=options.dates,
        )
        since = first_served(
            store, _output_name(fmt, options), rendered.etag, selection.last_modified, now
        )
        output = Output.of(replace(rendered, last_modified=since))
        with self._lock:
            self._cache[key] = (output, selection.valid_until)
            self._cache.move_to_end(key)
            while len(self._cache) > _CACHE_SIZE:
                self._cache.popitem(last=False)
            if healthy:
                self._good[good_key] = output
                self._good.move_to_end(good_key)
                while len(self._good) > _CACHE_SIZE:
                    self._good.popitem(last=False)
        return output

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
        try:
            output = self._render(fmt, name, options)
        except CuratorError as e:
            return _unavailable(request.url.path, e, extra)
        return conditional_response(
            request, output, max_age=publish_config.cache_seconds, extra=extra
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
        try:
            output = self._script_stamped()
        except CuratorError as e:
            return _unavailable(request.url.path, e, None)
        return conditional_response(request, output, max_age=max_age)

    def _script_stamped(self) -> Output:
        with self._lock:
            if self._script_output is not None:
                return self._script_output
        etag = publish.etag(self._script)
        now = self.curator.clock()
        since = first_served(self.curator.store, "embed.js", etag, now, now)
        rendered = Rendered(self._script, "text/javascript; charset=utf-8", etag, since)
        output = Output.of(rendered)
        with self._lock:
            self._script_output = output
        return output


class _AnyMethod:
    """A route endpoint that every method reaches (Starlette limits a plain function to GET
    and HEAD, and answers others with the app's HTML error page)."""

    def __init__(self, handler: Handler) -> None:
        self.app = request_response(handler)  # a sync handler runs in the thread pool

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.app(scope, receive, send)


def _methods(get: Handler, *, cors: bool) -> _AnyMethod:
    """GET and HEAD go to ``get``; OPTIONS answers (the CORS preflight where ``cors``); any
    other method gets a plain 405 naming the allowed ones."""
    extra = _CORS if cors else {}

    def endpoint(request: Request) -> Response:
        if request.method in ("GET", "HEAD"):
            return get(request)
        if request.method == "OPTIONS":
            return _options(request, cors=cors)
        return PlainTextResponse(
            f"{request.method} is not allowed here; use GET.\n",
            status_code=405,
            headers={"Allow": _METHODS, "Cache-Control": "no-store", **extra},
        )

    return _AnyMethod(endpoint)


def _options(request: Request, *, cors: bool) -> Response:
    headers = {"Allow": _METHODS}
    if cors:
        headers.update(_CORS)
        headers["Access-Control-Allow-Methods"] = _METHODS
        headers["Access-Control-Max-Age"] = "86400"
        headers["Vary"] = "Access-Control-Request-Headers"
        asked = request.headers.get("access-control-request-headers", "").strip()
        if asked and _HEADER_NAMES.fullmatch(asked):
            # Public, read-only and without credentials: any request header is harmless.
            headers["Access-Control-Allow-Headers"] = asked
    return Response(status_code=204, headers=headers)


class NotPublished:
    """For the editor's pages: ``not_published(item)`` says why an approved item is in none of
    the published outputs ("" when it is in them, or is not approved).

    Where the approved items stand (:func:`curator.publish.standing`) is worked out once per
    store version and configuration, and again after a minute, since approvals age out of
    ``publish.max_age``; a page that shows no approved item never asks.
    """

    _TTL = timedelta(minutes=1)

    def __init__(self, curator: PublicSource) -> None:
        self.curator = curator
        self._lock = threading.Lock()
        self._key: tuple[object, ...] | None = None
        self._standing: publish.Standing | None = None

    def __call__(self, item: Item) -> str:
        if item.status != "approved":
            return ""
        return self.standing().why_not(item)

    def standing(self) -> publish.Standing:
        config = self.curator.config
        store = self.curator.store
        now = self.curator.clock()
        key = (store.version(), config.publish)
        with self._lock:
            current = self._standing
            if current is not None and key == self._key and now < current.now + self._TTL:
                return current
        # Standing looks only at approvals within max_age, and reads only the best of them.
        fresh = publish.standing_of(store, config.publish, now)
        with self._lock:
            self._key, self._standing = key, fresh
        return fresh


def public_routes(curator: PublicSource) -> list[Route]:
    """The routes ``create_app`` mounts; handlers are plain functions, so Starlette runs them
    (and their store reads) in its thread pool, off the event loop.  Every method reaches
    them: they answer OPTIONS and 405 themselves, without the editor app's error pages."""
    site = _Site(curator)
    return [
        Route("/links.json", _methods(site.links_json, cors=True), name="public_links_json"),
        Route("/links.rss", _methods(site.links_rss, cors=False), name="public_links_rss"),
        Route("/links.atom", _methods(site.links_atom, cors=False), name="public_links_atom"),
        Route("/embed", _methods(site.embed, cors=False), name="public_embed"),
        Route("/embed.js", _methods(site.embed_js, cors=False), name="public_embed_js"),
    ]


class PublicEndpoints:
    """ASGI middleware that answers the public paths with ``routes`` itself, and passes every
    other request on to the editor app.

    Placed outside the session middleware, it keeps the editor's session cookie off every
    public answer: Starlette's session layer re-sends the cookie on each response to a request
    that brought one, and a cache that kept such a response would hand the editor's session
    to the public.  CSRF checks and the editor's error pages are not needed here either.
    """

    def __init__(self, app: ASGIApp, *, routes: Sequence[BaseRoute]) -> None:
        self.app = app
        self.paths = frozenset(r.path for r in routes if isinstance(r, Route))
        self.router = Router(routes=list(routes))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope.get("path") in self.paths:
            await self.router(scope, receive, send)
        else:
            await self.app(scope, receive, send)
