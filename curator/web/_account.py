"""Sign-in, sign-out, the first-run setup page and changing one's password."""

from __future__ import annotations

import logging
import math

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from curator import auth
from curator.exceptions import CuratorError, UserError
from curator.web._common import (
    client_address,
    current_user,
    editor_only,
    error_page,
    flash,
    form_str,
    live_generation,
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
    user = auth.find_user(store, name) if name else None
    # Counted as a failure before the slow check is awaited, refunded on success: checking
    # here and counting after the await would let concurrent guesses all through.
    account = user.name if user is not None else name
    attempt = st.throttle.attempt(account, address, auth.signin_epoch(store, user))
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
        ok = await run_in_threadpool(auth.check_password, user, password, hasher=st.hasher)
    except BaseException:
        st.throttle.refund(attempt)
        raise
    if not ok or user is None:
        log.info("sign-in failed name=%r address=%s", name, address)
        return _login_page(
            request, nxt, name=name, error="Wrong name or password.", status_code=401
        )
    st.throttle.succeeded(attempt)
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
    """End this editor's sessions, this one and any copy of its cookie (every device).

    Fails open for the editor, closed for the session: when the store cannot record the
    sign-out (a full disk, an unreadable file) the cookie is still cleared and the session's
    generation is ended in this process's memory, so a copied cookie stops working too."""
    claimed = request.session.get("user")
    claimed_gen = request.session.get("gen", 0)
    try:
        user = current_user(request)
    except CuratorError as e:  # cannot tell whether the session is current: end it anyway
        request.session.clear()
        if isinstance(claimed, str) and isinstance(claimed_gen, int):
            _end_in_memory(request, claimed, claimed_gen, e)
        flash(request, "You are signed out.")
        return RedirectResponse("/login", status_code=303)
    request.session.clear()
    if user is not None:
        generation = live_generation(request, user.name)
        store = state(request).curator.store
        try:
            await run_in_threadpool(auth.end_sessions, store, user.name, after=generation)
        except CuratorError as e:
            _end_in_memory(request, user.name, generation, e)
        else:
            log.info("signed out name=%s", user.name)
    flash(request, "You are signed out.")
    return RedirectResponse("/login", status_code=303)


def _end_in_memory(request: Request, name: str, generation: int, error: CuratorError) -> None:
    ended = state(request).ended
    ended[name] = max(ended.get(name, 0), generation + 1)
    log.error(
        "signed out name=%s in memory only: the store could not record it (%s); copies of "
        "the session's cookie work again if `curator serve` restarts before a sign-out is "
        "recorded",
        name,
        error,
    )


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
    epoch = auth.signin_epoch(store, request.state.user)
    attempt = st.throttle.attempt(name, address, epoch)  # counted now, refunded on success
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
            st.throttle.refund(attempt)
            raise
        if not ok:
            error = "Your current password is not that."
        else:
            st.throttle.succeeded(attempt)
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
