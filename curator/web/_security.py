"""The web app's protective layers: session key, session cookie, CSRF check, response headers.

Each is a plain ASGI middleware so that no route can forget it: a POST without the session's
CSRF token is refused before any endpoint runs, and every editor response carries the
Content-Security-Policy.
"""

from __future__ import annotations

import contextlib
import hmac
import logging
import os
import secrets
from collections.abc import Collection
from pathlib import Path
from urllib.parse import parse_qs

from starlette.datastructures import Headers, MutableHeaders
from starlette.middleware.sessions import SessionMiddleware
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from curator.exceptions import SecretKeyError

log = logging.getLogger("curator.web")

SECRET_ENV = "CURATOR_SECRET_KEY"
SESSION_COOKIE = "curator_session"
CSRF_FIELD = "csrf"
CSRF_HEADER = "x-csrf-token"
MAX_FORM_BODY = 256 * 1024  # the largest form (an edited summary) is a few KB

CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; "
    "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)


def session_secret(store_path: Path) -> str:
    """The key that signs session cookies: ``CURATOR_SECRET_KEY``, else a key generated once
    and kept in ``<store>/secret_key`` (mode 0600) so sessions survive a restart.

    Raises SecretKeyError, naming the file and the remedy, when that file cannot be read or
    made, or holds too short a key (``curator serve`` prints it instead of a traceback).
    """
    env = os.environ.get(SECRET_ENV, "").strip()
    if env:
        if len(env) < 32:
            log.warning("%s is shorter than 32 characters; use a long random value", SECRET_ENV)
        return env
    path = store_path / "secret_key"
    try:
        return _read_key(path)
    except FileNotFoundError:
        pass
    key = secrets.token_urlsafe(48)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # another process made it first: use theirs
        return _read_key(path)
    except OSError as e:
        raise SecretKeyError(
            path,
            f"cannot create the session key ({e.strerror or e}): make the store directory "
            f"writable by the user running curator, or set {SECRET_ENV} (see README)",
        ) from e
    try:
        with os.fdopen(fd, "w", encoding="ascii") as f:
            f.write(key + "\n")
            f.flush()
            os.fsync(f.fileno())
    except OSError as e:
        with contextlib.suppress(OSError):
            path.unlink()  # a half-written key would only fail the next start
        raise SecretKeyError(
            path, f"cannot write the session key ({e.strerror or e}); set {SECRET_ENV} instead"
        ) from e
    log.warning(
        "%s is not set: generated a session key in %s (keep that file private, "
        "or set %s; see README)",
        SECRET_ENV,
        path,
        SECRET_ENV,
    )
    return key


def _read_key(path: Path) -> str:
    """The key kept in ``path``; FileNotFoundError when there is none yet."""
    try:
        key = path.read_text(encoding="ascii").strip()
        mode = path.stat().st_mode
    except FileNotFoundError:
        raise
    except (OSError, UnicodeDecodeError) as e:
        reason = e.strerror if isinstance(e, OSError) and e.strerror else str(e)
        raise SecretKeyError(
            path,
            f"cannot read the session key ({reason}): give the user running curator read "
            f"access to it (chmod 600, owned by that user), delete it to have a new one made "
            f"(everyone is signed out), or set {SECRET_ENV} (see README)",
        ) from e
    if len(key) < 32:
        raise SecretKeyError(
            path,
            f"the session key is too short ({len(key)} characters, at least 32 needed): delete "
            f"the file to have a new one made at the next start (everyone is signed out), "
            f"or set {SECRET_ENV} (see README)",
        )
    if mode & 0o077:
        log.warning("%s is readable by other users; chmod 600 it", path)
    return key


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


class CSRFMiddleware:
    """Refuses (403) every unsafe request whose token, from the ``X-CSRF-Token`` header or the
    form's ``csrf`` field, is not the one kept in the session.

    Reads the form body itself (bounded) and hands it on unchanged, so endpoints parse forms as
    usual.  Runs inside the session middleware.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] in ("GET", "HEAD", "OPTIONS"):
            await self.app(scope, receive, send)
            return
        session = scope.get("session") or {}
        expected = session.get(CSRF_FIELD)
        headers = Headers(scope=scope)
        supplied = headers.get(CSRF_HEADER)
        body = b""
        if supplied is None:
            chunks: list[bytes] = []
            size = 0
            more = True
            while more:
                message = await receive()
                if message["type"] == "http.disconnect":
                    return
                chunk = message.get("body", b"")
                size += len(chunk)
                if size > MAX_FORM_BODY:
                    await _refuse(send, 413, "That form is too large.")
                    return
                chunks.append(chunk)
                more = message.get("more_body", False)
            body = b"".join(chunks)
            if headers.get("content-type", "").startswith("application/x-www-form-urlencoded"):
                values = parse_qs(body.decode("latin-1"), max_num_fields=10_000).get(CSRF_FIELD)
                supplied = values[0] if values else None
        if not (
            isinstance(expected, str)
            and supplied
            and hmac.compare_digest(expected.encode(), supplied.encode("latin-1"))
        ):
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
