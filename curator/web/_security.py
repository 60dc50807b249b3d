"""The web app's protective layers: body limit, session key, session cookie, CSRF and origin
check, response headers.

Each is a plain ASGI middleware so that no route can forget it: no request body grows past the
limit, whoever reads it; a POST without the session's CSRF token, or from another site, is
refused before any endpoint runs; and every editor response carries the
Content-Security-Policy.
"""

from __future__ import annotations

import hmac
import logging
import re
import secrets
from collections.abc import Collection
from urllib.parse import parse_qs, urlsplit

from starlette.datastructures import Headers, MutableHeaders
from starlette.middleware.sessions import SessionMiddleware
from starlette.types import ASGIApp, Message, Receive, Scope, Send

# Re-exported: their home is curator.secret_key (the digest sender signs links with it too).
from curator.secret_key import SECRET_ENV as SECRET_ENV
from curator.secret_key import session_secret as session_secret
from curator.web._numbers import BadNumber, strict_int

log = logging.getLogger("curator.web")

SESSION_COOKIE = "curator_session"
CSRF_FIELD = "csrf"
CSRF_HEADER = "x-csrf-token"
MAX_BODY = 256 * 1024  # the default web.max_body: the largest form (an edit) is a few KB

CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; "
    "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)


class SchemeSessionMiddleware:
    """Starlette's signed-cookie session, with ``Secure`` on the cookie whenever the request
    came over https (uvicorn's ``--proxy-headers`` sets the scheme behind a proxy) or
    ``always_secure`` says so."""

    def __init__(
        self, app: ASGIApp, *, secret_key: str, max_age: int, always_secure: bool = False
    ) -> None:
        options = {"session_cookie": SESSION_COOKIE, "max_age": max_age, "same_site": "lax"}
        self.secure = SessionMiddleware(app, secret_key, https_only=True, **options)  # type: ignore[arg-type]
        self.plain = (
            self.secure
            if always_secure
            else SessionMiddleware(app, secret_key, https_only=False, **options)  # type: ignore[arg-type]
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        secure = scope.get("scheme") in ("https", "wss")
        await (self.secure if secure else self.plain)(scope, receive, send)


def new_csrf_token() -> str:
    return secrets.token_urlsafe(32)


def csrf_token(session: dict[str, object]) -> str:
    """The session's synchronizer token, made on first use."""
    token = session.get(CSRF_FIELD)
    if not isinstance(token, str):
        token = new_csrf_token()
        session[CSRF_FIELD] = token
    return token


class BodyTooLarge(Exception):
    """Raised into the app from ``receive`` when a body passes the limit; never leaves
    :class:`BodyLimitMiddleware`."""


class BodyLimitMiddleware:
    """Caps every request body at ``max_body`` bytes before anything parses it.

    Outside everything that reads a body, so it holds whoever does (the CSRF check, a form, a
    future JSON endpoint) and whatever carries the CSRF token: a declared Content-Length over
    the cap is a 413 at once, a streamed (chunked) body or one longer than its
    Content-Length says is cut off at the cap and answered 413, and multipart bodies, which
    no form of ours sends and which Starlette spools to disk, are a 415 unread.
    """

    def __init__(self, app: ASGIApp, *, max_body: int = MAX_BODY) -> None:
        self.app = app
        self.max_body = max_body

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        refusal = self._refusal(headers)
        if refusal is not None:
            await _refuse(send, *refusal)
            return
        size = 0
        started = False

        async def counted() -> Message:
            nonlocal size
            message = await receive()
            if message["type"] == "http.request":
                size += len(message.get("body", b""))
                if size > self.max_body:
                    raise BodyTooLarge
            return message

        async def watched(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, counted, watched)
        except BodyTooLarge:
            log.info("body too large path=%s limit=%d", scope.get("path"), self.max_body)
            if not started:
                await _refuse(send, 413, self._too_large())

    def _refusal(self, headers: Headers) -> tuple[int, str] | None:
        """Refuse by the headers alone, before a byte of the body is read."""
        declared = headers.get("content-length")
        if declared is not None:
            try:
                length = strict_int(declared.strip(), name="Content-Length")
            except BadNumber:
                return 400, "The request's Content-Length is not a number."
            if length > self.max_body:
                return 413, self._too_large()
        if headers.get("content-type", "").lower().startswith("multipart/"):
            return 415, "No form here takes file uploads: send the form as the page does."
        return None

    def _too_large(self) -> str:
        return (
            f"That request is too large: at most {self.max_body // 1024} KB is accepted "
            "(web.max_body)."
        )


class CSRFMiddleware:
    """Refuses (403) every unsafe request that came from another site (an ``Origin`` that is
    not this site's, ``Sec-Fetch-Site: cross-site``) or whose token, from the
    ``X-CSRF-Token`` header or the form's ``csrf`` field, is not the one kept in the session.

    Reads the form body itself (the body limit outside bounds it) and hands it on
    unchanged, so endpoints parse forms as usual.  Runs inside the session middleware.

    ``exempt``: a pattern for the one path whose POST needs neither (the digest's RFC 8058
    one-click unsubscribe, which a mailbox provider sends without a session; its signed
    token is its authority).
    """

    def __init__(self, app: ASGIApp, *, exempt: str | None = None) -> None:
        self.app = app
        self.exempt = re.compile(exempt) if exempt else None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] in ("GET", "HEAD", "OPTIONS"):
            await self.app(scope, receive, send)
            return
        if (
            self.exempt is not None
            and scope["method"] == "POST"
            and self.exempt.fullmatch(scope.get("path", ""))
        ):
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        if not same_site(scope, headers):
            log.info(
                "cross-site post refused path=%s origin=%r",
                scope.get("path"),
                headers.get("origin", "")[:100],
            )
            await _refuse(
                send,
                403,
                "This form was sent from another site. Open Curator's own page and try again.",
            )
            return
        session = scope.get("session") or {}
        expected = session.get(CSRF_FIELD)
        supplied = headers.get(CSRF_HEADER)
        body = b""
        if supplied is None:
            chunks: list[bytes] = []
            more = True
            while more:
                message = await receive()
                if message["type"] == "http.disconnect":
                    return
                chunks.append(message.get("body", b""))
                more = message.get("more_body", False)
            body = b"".join(chunks)
            if headers.get("content-type", "").startswith("application/x-www-form-urlencoded"):
                values = parse_qs(body.decode("latin-1"), max_num_fields=10_000).get(CSRF_FIELD)
                supplied = values[0] if values else None
        if not (isinstance(expected, str) and supplied and tokens_equal(expected, supplied)):
            log.info("csrf refused path=%s", scope.get("path"))
            await _refuse(
                send,
                403,
                "This form has expired or did not come from this site. "
                "Go back, reload the page and try again.",
            )
            return
        if headers.get(CSRF_HEADER) is not None:  # body not read: pass it on as it comes
            await self.app(scope, receive, send)
            return
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)


def tokens_equal(expected: str, supplied: str) -> bool:
    """Constant-time comparison of whole tokens; any text (a ``€`` in a form field, a lone
    surrogate) compares unequal rather than failing to encode."""
    return hmac.compare_digest(
        expected.encode("utf-8", "replace"), supplied.encode("utf-8", "replace")
    )


_DEFAULT_PORTS = {"http": 80, "https": 443}


def same_site(scope: Scope, headers: Headers) -> bool:
    """False when the browser says the request came from another site.

    ``Sec-Fetch-Site: cross-site`` is refused.  An ``Origin`` header, when present, must name
    this site: the host and port the request was sent to (``Host``), with a scheme no weaker
    than the request's (``--proxy-headers`` makes it https behind a TLS proxy).  An https
    origin is accepted on a plain-http request, since only our own https pages can send it
    (a proxy that does not forward X-Forwarded-Proto).  No ``Origin`` (old browsers, the
    CLI's clients) is left to the CSRF token.
    """
    if headers.get("sec-fetch-site", "").strip().lower() == "cross-site":
        return False
    origin = headers.get("origin")
    if origin is None:
        return True
    try:
        theirs = urlsplit(origin.strip())
        ours = urlsplit("//" + headers.get("host", ""))
        if theirs.scheme not in _DEFAULT_PORTS or not theirs.hostname or not ours.hostname:
            return False
        if scope.get("scheme") == "https" and theirs.scheme != "https":
            return False
        default = _DEFAULT_PORTS[theirs.scheme]
        return (
            theirs.hostname == ours.hostname
            and (theirs.port or default) == (ours.port or default)
            and not (theirs.path or theirs.query or theirs.fragment or theirs.username)
        )
    except ValueError:  # a port that is not a number, a bracket left open
        return False


async def _refuse(send: Send, status: int, text: str) -> None:
    body = (
        "<!doctype html><html lang=en><meta charset=utf-8><title>Refused</title>"
        f"<main><h1>Refused</h1><p>{text}</p></main></html>"
    ).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"text/html; charset=utf-8"),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


class SecurityHeadersMiddleware:
    """Adds the editor pages' security headers.  Paths in ``public_paths`` (the embeddable
    feeds and widget) keep the frame and CSP headers their own routes set."""

    def __init__(
        self, app: ASGIApp, *, public_paths: Collection[str], static_prefix: str = "/static/"
    ) -> None:
        self.app = app
        self.public_paths = frozenset(public_paths)
        self.static_prefix = static_prefix

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope.get("path", "")
        public = path in self.public_paths
        static = path.startswith(self.static_prefix)

        async def send_wrapper(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                headers.setdefault("X-Content-Type-Options", "nosniff")
                if public:
                    headers.setdefault("Referrer-Policy", "strict-origin-when-cross-origin")
                else:
                    # A route may tighten or sandbox its own (the digest's HTML part does).
                    headers.setdefault("Content-Security-Policy", CSP)
                    headers["X-Frame-Options"] = "DENY"
                    headers["Referrer-Policy"] = "same-origin"
                    headers["Cross-Origin-Opener-Policy"] = "same-origin"
                    if not static:
                        headers.setdefault("Cache-Control", "no-store")
            await send(message)

        await self.app(scope, receive, send_wrapper)
