"""The administrators' pages: editor accounts and the digest's subscribers (issue #10).

Only administrators (:func:`curator.auth.is_admin`) see them; any other editor gets a 403.
A new account, or a reset password, gets a temporary password made here and shown once, on
the page that answers the form (never in a flash, which travels in the session cookie): the
administrator hands it on and the editor changes it under "Your account".

Also the readers' unsubscribe page, ``/unsubscribe/<token>``: no sign-in, and its POST is the
one request the CSRF middleware lets through without a token (RFC 8058 one-click, sent by
mailbox providers, who have no session); the signed token is what authorises it.
"""

from __future__ import annotations

import functools
import logging
import secrets

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from curator import auth, subscribers
from curator.digest import address_of
from curator.exceptions import UserError
from curator.web._common import (
    Endpoint,
    editor_only,
    error_page,
    flash,
    form_str,
    render,
    state,
    user_name,
)

log = logging.getLogger("curator.web")

UNSUBSCRIBE_PATH = r"/unsubscribe/[A-Za-z0-9_.\-]{1,512}"  # the CSRF middleware's one exemption


def admin_only(endpoint: Endpoint) -> Endpoint:
    """Wrap an administrator's page: sign-in first (as ``editor_only``), then 403 for an
    editor who is not an administrator."""

    @functools.wraps(endpoint)
    async def check(request: Request) -> Response:
        if not auth.is_admin(state(request).curator.store, request.state.user):
            return error_page(
                request, 403, "Not allowed", "Only an administrator can manage accounts."
            )
        return await endpoint(request)

    return editor_only(check)


def _temporary_password() -> str:
    return secrets.token_urlsafe(12)  # 16 characters, 96 bits


# --------------------------------------------------------------------------- editors


def _editors_page(
    request: Request,
    *,
    error: str | None = None,
    issued: tuple[str, str] | None = None,
    status_code: int = 200,
) -> Response:
    st = state(request)
    store = st.curator.store
    admins = {u.name for u in auth.admins(store)}
    rows = [
        {
            "user": u,
            "admin": u.name in admins,
            "failures": st.throttle.failures(u.name, auth.signin_epoch(store, u)),
        }
        for u in store.users()
    ]
    return render(
        request,
        "admin_editors.html",
        {
            "rows": rows,
            "error": error,
            "issued": issued,
            "locked_at": st.throttle.per_pair,
        },
        status_code=status_code,
    )


@admin_only
async def editors(request: Request) -> Response:
    if request.method in ("GET", "HEAD"):
        return _editors_page(request)
    st = state(request)
    form = await request.form()
    name = form_str(form, "name").strip()
    password = _temporary_password()
    try:
        user = await run_in_threadpool(
            auth.add_user,
            st.curator.store,
            name,
            password,
            now=st.curator.clock(),
            hasher=st.hasher,
            admin=form_str(form, "admin") == "yes",
        )
    except UserError as e:
        return _editors_page(request, error=str(e), status_code=400)
    log.info("editor added name=%s admin=%s by=%s", user.name, user.admin, user_name(request))
    return _editors_page(request, issued=(user.name, password))


@admin_only
async def reset_password(request: Request) -> Response:
    st = state(request)
    name = request.path_params["name"]
    password = _temporary_password()
    try:
        new_hash = await run_in_threadpool(auth.hash_password, password, hasher=st.hasher)
        user = await run_in_threadpool(auth.set_password_hash, st.curator.store, name, new_hash)
    except UserError as e:
        return _editors_page(request, error=str(e), status_code=400)
    log.info("password reset name=%s by=%s", user.name, user_name(request))
    return _editors_page(request, issued=(user.name, password))


@admin_only
async def remove_editor(request: Request) -> Response:
    name = request.path_params["name"]
    if name.casefold() == user_name(request).casefold():
        return _editors_page(
            request, error="You cannot remove your own account here.", status_code=400
        )
    try:
        await run_in_threadpool(auth.remove_user, state(request).curator.store, name)
    except UserError as e:
        return _editors_page(request, error=str(e), status_code=400)
    log.info("editor removed name=%s by=%s", name, user_name(request))
    flash(request, f"Removed {name}. Their past decisions keep their name.")
    return RedirectResponse("/admin/editors", status_code=303)


@admin_only
async def unlock_editor(request: Request) -> Response:
    try:
        user = await run_in_threadpool(
            auth.unlock, state(request).curator.store, request.path_params["name"]
        )
    except UserError as e:
        return _editors_page(request, error=str(e), status_code=400)
    log.info("editor unlocked name=%s by=%s", user.name, user_name(request))
    flash(request, f"Unlocked {user.name}: their failed sign-ins are forgotten.")
    return RedirectResponse("/admin/editors", status_code=303)


# --------------------------------------------------------------------------- subscribers


def _subscribers_page(
    request: Request, *, error: str | None = None, address: str = "", status_code: int = 200
) -> Response:
    cur = state(request).curator
    return render(
        request,
        "admin_subscribers.html",
        {
            "subscribers": subscribers.subscribers(cur.config, cur.store),
            "error": error,
            "address": address,
        },
        status_code=status_code,
    )


@admin_only
async def subscribers_page(request: Request) -> Response:
    if request.method in ("GET", "HEAD"):
        return _subscribers_page(request)
    cur = state(request).curator
    form = await request.form()
    address = form_str(form, "address").strip()
    try:
        bare = await run_in_threadpool(
            subscribers.add, cur.store, address, now=cur.clock(), by=user_name(request)
        )
    except UserError as e:
        return _subscribers_page(request, error=str(e), address=address, status_code=400)
    log.info("subscriber added address=%s by=%s", bare, user_name(request))
    flash(request, f"Subscribed {bare}.")
    return RedirectResponse("/admin/subscribers", status_code=303)


@admin_only
async def remove_subscriber(request: Request) -> Response:
    cur = state(request).curator
    form = await request.form()
    address = form_str(form, "address")
    removed = await run_in_threadpool(
        subscribers.remove,
        cur.config,
        cur.store,
        address,
        now=cur.clock(),
        by=user_name(request),
    )
    if removed:
        log.info("subscriber removed address=%s by=%s", address, user_name(request))
        flash(request, f"Unsubscribed {address}.")
    else:
        flash(request, f"{address} was not subscribed.", "error")
    return RedirectResponse("/admin/subscribers", status_code=303)


# --------------------------------------------------------------------------- unsubscribe


async def unsubscribe(request: Request) -> Response:
    """GET: a page with a button (a link scanner following links must not unsubscribe
    anyone).  POST: unsubscribe at once, from that button or a mailbox provider's one-click
    (RFC 8058), with no session and no CSRF token."""
    st = state(request)
    cur = st.curator
    address = subscribers.token_address(st.link_secret, request.path_params["token"])
    if address is None:
        return error_page(
            request,
            404,
            "This unsubscribe link does not work",
            "It may be cut short: copy the whole link from the e-mail, or reply to the "
            "digest and ask to be taken off the list.",
        )
    if request.method in ("GET", "HEAD"):
        subscribed = any(
            address_of(s.address).casefold() == address
            for s in subscribers.subscribers(cur.config, cur.store)
        )
        return render(
            request,
            "unsubscribe.html",
            {"address": address, "subscribed": subscribed, "done": False},
        )
    removed = await run_in_threadpool(
        subscribers.remove, cur.config, cur.store, address, now=cur.clock(), by="unsubscribe link"
    )
    if removed:
        log.info("subscriber unsubscribed address=%s", address)
    return render(
        request, "unsubscribe.html", {"address": address, "subscribed": False, "done": True}
    )


routes = [
    Route("/admin/editors", editors, methods=["GET", "POST"], name="admin_editors"),
    Route("/admin/editors/{name}/password", reset_password, methods=["POST"]),
    Route("/admin/editors/{name}/remove", remove_editor, methods=["POST"]),
    Route("/admin/editors/{name}/unlock", unlock_editor, methods=["POST"]),
    Route("/admin/subscribers", subscribers_page, methods=["GET", "POST"], name="admin_subs"),
    Route("/admin/subscribers/remove", remove_subscriber, methods=["POST"]),
    Route("/unsubscribe/{token}", unsubscribe, methods=["GET", "POST"], name="unsubscribe"),
]
