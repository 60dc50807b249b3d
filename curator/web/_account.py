"""Sign-in, sign-out, the first-run setup page and changing one's password."""

from __future__ import annotations

import logging
import math

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from curator import auth
from curator.exceptions import UserError
from curator.web._common import (
    client_address,
    current_user,
    editor_only,
    error_page,
    flash,
    form_str,
    render,
    safe_next,
    sign_in,
    state,
    user_name,
)

log = logging.getLogger("curator.web")

_MAX_NAME = 100  # longer is never a valid name; keeps the throttle's keys small


async def login(request: Request) -> Response:
    st = state(request)
    store = st.curator.store
    if request.method in ("GET", "HEAD"):  # HEAD is a GET without a body, never a form post
        nxt = safe_next(request.query_params.get("next"))
        if current_user(request) is not None:
            return RedirectResponse(nxt, status_code=303)
        return _login_page(request, nxt)

    form = await request.form()
    name = form_str(form, "name").strip()[:_MAX_NAME]
    password = form_str(form, "password")
    nxt = safe_next(form_str(form, "next"))
    address = client_address(request)
    # Counted as a failure before the slow check is awaited, refunded on success: checking
    # here and counting after the await would let concurrent guesses all through.
    attempt = st.throttle.attempt(name, address)
    if not attempt.allowed:
        seconds = math.ceil(attempt.wait)
        log.info("sign-in throttled name=%r address=%s wait=%ss", name, address, seconds)
        return _login_page(
            request,
            nxt,
            name=name,
            error=f"Too many failed sign-ins. Wait {_duration(seconds)} and try again.",
            status_code=429,
            headers={"Retry-After": str(seconds)},
        )
    try:
        user = store.get_user(name) if name else None
        ok = await run_in_threadpool(auth.check_password, user, password, hasher=st.hasher)
    except BaseException:
        st.throttle.refund(name, address, attempt)
        raise
    if not ok or user is None:
        log.info("sign-in failed name=%r address=%s", name, address)
        return _login_page(
            request, nxt, name=name, error="Wrong name or password.", status_code=401
        )
    st.throttle.succeeded(name, address, attempt)
    if auth.needs_rehash(user, hasher=st.hasher):
        new_hash = await run_in_threadpool(auth.hash_password, password, hasher=st.hasher)
        user = await run_in_threadpool(auth.replace_outdated_hash, store, user, new_hash)
    sign_in(request, user)
    log.info("signed in name=%s address=%s", user.name, address)
    return RedirectResponse(nxt, status_code=303)


def _duration(seconds: int) -> str:
    if seconds < 120:
        return "1 second" if seconds == 1 else f"{seconds} seconds"
    return f"{math.ceil(seconds / 60)} minutes"


def _login_page(
    request: Request,
    nxt: str,
    *,
    name: str = "",
    error: str | None = None,
    status_code: int = 200,
    headers: dict[str, str] | None = None,
) -> Response:
    setup_needed = not auth.has_editors(state(request).curator.store)
    return render(
        request,
        "login.html",
        {"next": nxt, "name": name, "error": error, "setup_needed": setup_needed},
        status_code=status_code,
        headers=headers,
    )


async def logout(request: Request) -> Response:
    """End this editor's sessions, this one and any copy of its cookie (every device)."""
    user = current_user(request)
    request.session.clear()
    if user is not None:
        await run_in_threadpool(auth.end_sessions, state(request).curator.store, user.name)
        log.info("signed out name=%s", user.name)
    flash(request, "You are signed out.")
    return RedirectResponse("/login", status_code=303)


async def setup(request: Request) -> Response:
    """First run: the one-time link creates the first editor, then it is gone."""
    st = state(request)
    store = st.curator.store
    if auth.has_editors(store):
        return error_page(
            request, 404, "Setup is closed", "An editor account exists already: sign in instead."
        )
    if request.method in ("GET", "HEAD"):  # HEAD is a GET without a body, never a form post
        token = request.query_params.get("token", "")
        if not auth.check_setup_token(store, token):
            return _bad_token(request)
        return render(request, "setup.html", {"token": token, "name": "", "error": None})

    form = await request.form()
    token = form_str(form, "token")
    name = form_str(form, "name").strip()
    password = form_str(form, "password")
    if not auth.check_setup_token(store, token):
        return _bad_token(request)
    error = None
    if password != form_str(form, "confirm"):
        error = "The two passwords differ."
    else:
        try:
            auth.validate_name(name)
            password_hash = await run_in_threadpool(auth.hash_password, password, hasher=st.hasher)
            user = await run_in_threadpool(
                auth.complete_setup, store, token, name, password_hash, now=st.curator.clock()
            )
        except UserError as e:
            error = str(e)
    if error is not None:
        return render(
            request,
            "setup.html",
            {"token": token, "name": name, "error": error},
            status_code=400,
        )
    log.info("first editor created name=%s address=%s", user.name, client_address(request))
    sign_in(request, user)
    flash(request, f"Welcome, {user.name}. Your editor account is ready.")
    return RedirectResponse("/", status_code=303)


def _bad_token(request: Request) -> Response:
    return error_page(
        request,
        403,
        "This setup link does not work",
        "It was used already, or `curator serve` was restarted and printed a new one.",
    )


@editor_only
async def account(request: Request) -> Response:
    st = state(request)
    store = st.curator.store
    if request.method in ("GET", "HEAD"):  # HEAD is a GET without a body, never a form post
        return render(request, "account.html", {"error": None})
    form = await request.form()
    name = user_name(request)
    address = client_address(request)
    error = None
    current = form_str(form, "current")
    attempt = st.throttle.attempt(name, address)  # counted now, refunded on success (login)
    if not attempt.allowed:
        error = (
            f"Too many failed attempts. Wait {_duration(math.ceil(attempt.wait))} and try again."
        )
    else:
        try:
            ok = await run_in_threadpool(
                auth.check_password, store.get_user(name), current, hasher=st.hasher
            )
        except BaseException:
            st.throttle.refund(name, address, attempt)
            raise
        if not ok:
            error = "Your current password is not that."
        else:
            st.throttle.succeeded(name, address, attempt)
            if form_str(form, "password") != form_str(form, "confirm"):
                error = "The two new passwords differ."
    if error is None:
        try:
            new_hash = await run_in_threadpool(
                auth.hash_password, form_str(form, "password"), hasher=st.hasher
            )
            # Ends every session of this editor, this one too: sign_in below starts it anew.
            user = await run_in_threadpool(auth.set_password_hash, store, name, new_hash)
        except UserError as e:
            error = str(e)
    if error is not None:
        return render(request, "account.html", {"error": error}, status_code=400)
    sign_in(request, user)  # this session goes on; every other one of this editor ends
    log.info("password changed name=%s", name)
    flash(request, "Your password is changed. Other sessions of yours are signed out.")
    return RedirectResponse("/", status_code=303)


routes = [
    Route("/login", login, methods=["GET", "POST"], name="login"),
    Route("/logout", logout, methods=["POST"], name="logout"),
    Route("/setup", setup, methods=["GET", "POST"], name="setup"),
    Route("/account", account, methods=["GET", "POST"], name="account"),
]
