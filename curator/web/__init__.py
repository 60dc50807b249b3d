"""The editor's web app and the public endpoints, as one Starlette application.

``create_app(curator)`` is the only public name.  ``curator serve`` runs it on uvicorn in the
same event loop as the scheduler.  Layers, outermost first: security headers, the body limit,
the signed session cookie, the CSRF and origin check, then the routes (every editor route
wrapped by ``editor_only``).  The publish engineer's ``curator.web.public`` routes are mounted
when that module exists and keep their own frame and cache headers.
"""

from __future__ import annotations

import html
import importlib
import importlib.util
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, cast

from argon2 import PasswordHasher
from markupsafe import Markup, escape
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import FileResponse, HTMLResponse, JSONResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from curator import publisher
from curator.auth import FailureLedger, SharedSignInThrottle, SignInThrottle
from curator.exceptions import (
    CuratorError,
    StoreCorrupt,
    StoreError,
    StoreLocked,
    UnknownItem,
)
from curator.secret_key import session_secret
from curator.store import is_database_url
from curator.types import Item
from curator.web import (
    _account,
    _admin,
    _items,
    _near,
    _research,
    _rules,
    _source_edit,
    _sources,
    _stories,
)
from curator.web._common import STATIC, WebState, error_page, make_templates, wants_json
from curator.web._numbers import BadNumber
from curator.web._security import (
    BodyLimitMiddleware,
    CSRFMiddleware,
    SchemeSessionMiddleware,
    SecurityHeadersMiddleware,
)
from curator.web.public import NotPublished, PublicEndpoints

if TYPE_CHECKING:
    from curator.core import Curator

__all__ = ["create_app"]

log = logging.getLogger("curator.web")

_TITLES = {
    400: "Not understood",
    403: "Not allowed",
    404: "Not found",
    405: "Not allowed that way",
    413: "Too large",
}


async def _favicon(request: Request) -> Response:
    """What browsers ask for before they read a page's icon link: the same SVG, so that no
    page (the public feeds, an error) shows a missing icon or logs a 404."""
    return FileResponse(
        STATIC / "favicon.svg",
        media_type="image/svg+xml",
        headers={"Cache-Control": "public, max-age=86400"},
    )


def create_app(
    curator: Curator,
    *,
    password_hasher: PasswordHasher | None = None,
    throttle: SignInThrottle | None = None,
) -> Starlette:
    """The whole web app for one Curator.

    ``password_hasher`` and ``throttle`` exist for tests (a cheaper hash, a controllable
    clock); the defaults are argon2-cffi's recommended parameters and the limits in
    ``feeds.yaml``'s ``web:`` section.
    """
    web = curator.config.web
    if throttle is None:
        limits: dict[str, Any] = {
            "per_pair": web.signin_attempts,
            "per_address": web.signin_attempts_per_address,
            "per_account": web.signin_attempts_per_account,
            "window": web.signin_window,
        }
        if is_database_url(curator.store.location):
            # Several instances behind a load balancer count the same failures.
            throttle = SharedSignInThrottle(cast(FailureLedger, curator.store), **limits)
        else:
            throttle = SignInThrottle(**limits)
    rules_cache: dict[str, Any] = {}
    digest_routes = _digest_routes()
    templates = make_templates(curator, _highlighter(curator, rules_cache))
    templates.env.globals["digests_enabled"] = bool(digest_routes)
    templates.env.globals["not_published"] = NotPublished(curator)
    templates.env.globals["publisher_of"] = _publisher_of(curator)

    public = _public_routes(curator)
    public_paths = {p for r in public if isinstance(p := getattr(r, "path", None), str)}
    routes: list[BaseRoute] = [
        *public,
        *_account.routes,
        *_admin.routes,
        *_items.routes,
        *_near.routes,
        *_research.routes,
        *_stories.routes,
        *_rules.routes,
        *_source_edit.routes,  # ahead of /sources/{source_id}: /sources/new
        *_sources.routes,
        *digest_routes,
        Mount("/static", StaticFiles(directory=STATIC), name="static"),
        Route("/favicon.ico", _favicon, methods=["GET"], name="favicon"),
    ]
    secret = session_secret(curator.store)
    middleware = [
        Middleware(SecurityHeadersMiddleware, public_paths=public_paths),
        Middleware(BodyLimitMiddleware, max_body=web.max_body),
        Middleware(PublicEndpoints, routes=public),  # ahead of the session: no cookie there
        Middleware(
            SchemeSessionMiddleware,
            secret_key=secret,
            max_age=web.session_days * 86400,
            always_secure=web.secure_cookies,
        ),
        Middleware(CSRFMiddleware, exempt=_admin.UNSUBSCRIBE_PATH),
    ]
    app = Starlette(
        routes=routes,
        middleware=middleware,
        exception_handlers={
            BadNumber: _bad_number,
            UnknownItem: _unknown_item,
            CuratorError: _curator_error,
            HTTPException: _http_error,
        },
    )
    app.state.web = WebState(
        curator=curator,
        templates=templates,
        throttle=throttle,
        hasher=password_hasher,
        rules=rules_cache,
        link_secret=secret,
    )
    return app


def _public_routes(curator: Curator) -> list[BaseRoute]:
    """The publish engineer's feeds and widget, when that module is installed."""
    if importlib.util.find_spec("curator.web.public") is None:
        return []
    module = importlib.import_module("curator.web.public")
    return list(module.public_routes(curator))


def _digest_routes() -> list[BaseRoute]:
    """The digest archive and preview pages, when the digest module is there to call."""
    if importlib.util.find_spec("curator.digests") is None:
        return []
    module = importlib.import_module("curator.web._digests")
    return list(module.routes)


_RULES_OF = " config"  # the highlighter cache's key for the configuration it was compiled from


def _publisher_of(curator: Curator) -> Callable[[Item], publisher.Publisher]:
    """An item's class and jurisdiction for the templates, from the running configuration
    (see curator.publisher); the table is rebuilt when a reload replaced the configuration."""
    cache: dict[str, Any] = {}

    def of(item: Item) -> publisher.Publisher:
        cfg = curator.config
        if cache.get("config") is not cfg:
            cache["config"] = cfg
            cache["table"] = publisher.Classes.of_config(cfg).lookup()
        return publisher.of(item, cache["table"])

    return of


def _highlighter(curator: Curator, cache: dict[str, Any]) -> Callable[[str, Item], Markup]:
    """Escaped text with the item's matched terms in ``<mark>``, by the match engine's rules
    for the item's first source (compiled once per source).  Plain escaped text while
    ``curator.match`` is not installed."""
    if importlib.util.find_spec("curator.match") is None:
        return lambda text, item: escape(text)
    from curator.match import compile_rules, highlight

    def highlighter(text: str, item: Item) -> Markup:
        if cache.get(_RULES_OF) is not curator.config:  # feeds.yaml was reloaded
            cache.clear()
            cache[_RULES_OF] = curator.config
        source_id = item.sources[0] if item.sources else ""
        rules = cache.get(source_id)
        if rules is None:
            source = curator.config.source(source_id)
            rules = compile_rules(curator.config.rules, source.rules if source else None)
            cache[source_id] = rules
        return Markup("").join(
            Markup("<mark>{}</mark>").format(chunk) if hit else escape(chunk)
            for chunk, hit in highlight(text, rules)
        )

    return highlighter


async def _bad_number(request: Request, exc: Exception) -> Response:
    """A number in the query or a form that the client must fix: 400 with the reason."""
    return error_page(request, 400, _TITLES[400], str(exc))


async def _unknown_item(request: Request, exc: Exception) -> Response:
    item_id = exc.item_id if isinstance(exc, UnknownItem) else ""
    return error_page(request, 404, "No such item", f"No item has the id {item_id!r}.")


async def _http_error(request: Request, exc: Exception) -> Response:
    status = exc.status_code if isinstance(exc, HTTPException) else 500
    title = _TITLES.get(status, "Something went wrong")
    detail = exc.detail if isinstance(exc, HTTPException) else ""
    response = error_page(request, status, title, detail)
    if isinstance(exc, HTTPException) and exc.headers:
        response.headers.update(exc.headers)
    return response


async def _curator_error(request: Request, exc: Exception) -> Response:
    """A deliberate error no route answered itself (the store busy or unreadable, a digest
    that cannot be built…): the error page with its message, one log line, no traceback."""
    if isinstance(exc, StoreError):  # busy, damaged, or the disk refused a write: not a bug
        status = 503
        title = (
            "The store is busy"
            if isinstance(exc, StoreLocked)
            else "The store needs repair"
            if isinstance(exc, StoreCorrupt)
            else "The store cannot be written"
        )
    else:
        status, title = 500, "Something went wrong"
    message = str(exc)
    log.error(
        "request failed path=%s status=%d error=%s: %s",
        request.url.path,
        status,
        type(exc).__name__,
        message,
    )
    if not isinstance(request.session.get("user"), str):
        # Not an editor's browser: no file paths for the public; the log has the detail.
        message = (
            "Curator cannot answer right now. Try again in a minute; if it goes on, "
            "tell the people who run this site."
        )
    headers = {"Retry-After": "30"} if isinstance(exc, StoreLocked) else {}
    try:
        response = error_page(request, status, title, message)
    except CuratorError:  # the page itself needs the store (who is signed in, the counts)
        if wants_json(request):
            response = JSONResponse({"error": message}, status_code=status)
        else:
            response = HTMLResponse(
                "<!doctype html><html lang=en><meta charset=utf-8>"
                f"<title>{html.escape(title)}</title><main><h1>{html.escape(title)}</h1>"
                f"<p>{html.escape(message)}</p></main></html>",
                status_code=status,
            )
    response.headers.update(headers)
    return response
