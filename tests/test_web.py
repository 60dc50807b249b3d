"""Route tests for the editor's web app: every page, every action, every refusal.

A real Curator on a fresh store in tmp_path, Starlette's TestClient, and the fetch engineer's
local feed server (the ``feed_server`` fixture from tests/feedserver.py, through conftest)
wherever the app itself goes to the network (poll now, add a link by hand).
"""

from __future__ import annotations

import asyncio
import html
import os
import re
import stat
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import filelock
import httpx
import pytest
from argon2 import PasswordHasher
from starlette.applications import Starlette
from starlette.routing import Route
from starlette.testclient import TestClient

from curator import auth, normalize, subscribers
from curator.core import Curator
from curator.exceptions import CuratorError, DigestError, SecretKeyError, UserError
from curator.store import Store, TinyDBStore
from curator.types import DigestRecord, Item, SourceState
from curator.web import create_app
from tests.feedserver import FeedServer
from tests.webkit import (
    EDITOR,
    FAST_HASHER,
    PASSWORD,
    T0,
    Clock,
    Ticker,
    add_editor,
    config,
    csrf_of,
    curator_on,
    make_item,
    make_near_miss,
    put,
    put_near_misses,
)


@dataclass
class Env:
    curator: Curator
    app: Starlette
    client: TestClient
    clock: Clock
    ticker: Ticker
    server: FeedServer
    tmp: Path

    @property
    def store(self) -> Store:
        return self.curator.store

    def item(self, item_id: str) -> Item:
        item = self.store.get_item(item_id)
        assert item is not None
        return item


def _env(
    tmp_path: Path,
    server: FeedServer,
    *,
    base_url: str = "http://testserver",
    allow_private_urls: bool = True,
) -> Env:
    feed = server.corpus_url("feeds/FeedKit__RSS.xml")
    cfg = config([("src-a", "Source A", feed), ("src-b", "Source B", server.url("/b.xml"))])
    if not allow_private_urls:
        fetch = cfg.fetch.model_copy(update={"allow_private_urls": False})
        cfg = cfg.model_copy(update={"fetch": fetch})
    clock = Clock()
    cur = curator_on(tmp_path / "store", cfg, clock)
    ticker = Ticker()
    throttle = auth.SignInThrottle(
        per_pair=3, per_address=6, per_account=10, window=600, free=2, base_delay=1.0, clock=ticker
    )
    app = create_app(cur, password_hasher=FAST_HASHER, throttle=throttle)
    client = TestClient(app, base_url=base_url, follow_redirects=False)
    return Env(cur, app, client, clock, ticker, server, tmp_path)


@pytest.fixture
def env(tmp_path: Path, feed_server: FeedServer, monkeypatch: pytest.MonkeyPatch) -> Iterator[Env]:
    monkeypatch.delenv("CURATOR_SECRET_KEY", raising=False)
    e = _env(tmp_path, feed_server)
    add_editor(e.store)
    try:
        yield e
    finally:
        e.client.close()
        asyncio.run(e.curator.aclose())


def sign_in(
    client: TestClient, name: str = EDITOR, password: str = PASSWORD, nxt: str = "/"
) -> httpx.Response:
    page = client.get("/login")
    r: httpx.Response = client.post(
        "/login",
        data={"csrf": csrf_of(page.text), "name": name, "password": password, "next": nxt},
    )
    return r


@pytest.fixture
def editor(env: Env) -> TestClient:
    """A client signed in as the editor."""
    r = sign_in(env.client)
    assert r.status_code == 303, r.text
    return env.client


def token(client: TestClient) -> str:
    return csrf_of(client.get("/account").text)


def post(client: TestClient, url: str, data: dict[str, Any] | None = None) -> httpx.Response:
    r: httpx.Response = client.post(url, data={"csrf": token(client), **(data or {})})
    return r


_HIDDEN = re.compile(r'<input type="hidden" name="([a-z_]+)" value="([^"]*)">')


def edit_form(client: TestClient, item_id: str) -> dict[str, str]:
    """The hidden fields of the item's edit form as the browser got them (CSRF token, the
    revision it was opened on)."""
    page = client.get(f"/items/{item_id}/edit")
    assert page.status_code == 200, page.text
    return {k: html.unescape(v) for k, v in _HIDDEN.findall(page.text)}


def post_edit(client: TestClient, item_id: str, data: dict[str, Any]) -> httpx.Response:
    """Open the edit form, then submit it with ``data`` as the visible fields."""
    r: httpx.Response = client.post(
        f"/items/{item_id}/edit", data={**edit_form(client, item_id), **data}
    )
    return r


# --------------------------------------------------------------------------- refusals


EDITOR_PAGES = [
    "/",
    "/approved",
    "/rejected",
    "/items",
    "/near-misses",
    "/add",
    "/sources",
    "/account",
]


@pytest.mark.parametrize("path", EDITOR_PAGES)
def test_editor_pages_need_a_session(env: Env, path: str) -> None:
    r = env.client.get(path + "?page=2" if path == "/approved" else path)
    assert r.status_code == 303
    assert r.headers["location"].startswith("/login")
    if path == "/approved":
        assert r.headers["location"] == "/login?next=/approved%3Fpage%3D2"


def test_item_pages_need_a_session(env: Env) -> None:
    item = make_item(1)
    put(env.store, item)
    for path in (f"/items/{item.id}", f"/items/{item.id}/edit"):
        r = env.client.get(path)
        assert r.status_code == 303 and r.headers["location"].startswith("/login?next=")


def _post_paths(app: Starlette, item_id: str) -> list[str]:
    paths = []
    for route in app.routes:
        if isinstance(route, Route) and route.methods and "POST" in route.methods:
            paths.append(route.path.replace("{item_id}", item_id).replace("{source_id}", "src-a"))
    return paths


def test_every_post_refuses_a_missing_or_wrong_csrf_token(env: Env) -> None:
    item = make_item(1)
    put(env.store, item)
    paths = _post_paths(env.app, item.id)
    assert {"/login", "/logout", "/setup", "/items/bulk", f"/items/{item.id}/approve"} <= set(paths)
    assert len(paths) >= 12
    # Without a session at all, then signed in with a wrong token, then with none.
    for path in paths:
        assert env.client.post(path, data={"csrf": "x"}).status_code == 403, path
    sign_in(env.client)
    for path in paths:
        r = env.client.post(path, data={"csrf": "not-the-token", "ids": item.id})
        assert r.status_code == 403, path
        assert env.client.post(path, data={"ids": item.id}).status_code == 403, path
        r = env.client.post(path, headers={"X-CSRF-Token": "wrong"})
        assert r.status_code == 403, path
    assert env.item(item.id).status == "pending"


def test_post_without_session_is_refused_even_with_a_guessed_token(env: Env) -> None:
    r = env.client.post("/items/bulk", data={"csrf": "", "ids": "x", "action": "approve"})
    assert r.status_code == 403


def test_wrong_password_and_unknown_name(env: Env) -> None:
    r = sign_in(env.client, password="wrong password!")
    assert r.status_code == 401
    assert "Wrong name or password." in r.text
    assert "user" not in r.headers.get("set-cookie", "") or env.client.get("/").status_code == 303
    r = sign_in(env.client, name="nobody")
    assert r.status_code == 401
    assert env.client.get("/").status_code == 303


def test_sign_in_then_back_to_next_and_never_off_site(env: Env) -> None:
    r = sign_in(env.client, nxt="/sources")
    assert r.status_code == 303 and r.headers["location"] == "/sources"
    assert env.client.get("/sources").status_code == 200
    env.client.cookies.clear()
    for evil in ("//evil.example", "https://evil.example/", "/\\evil.example", "javascript:x"):
        r = sign_in(env.client, nxt=evil)
        assert r.headers["location"] == "/", evil
        env.client.cookies.clear()


def test_throttling_per_account_from_one_address(env: Env) -> None:
    for _ in range(2):  # free failures
        assert sign_in(env.client, password="nope nope nope").status_code == 401
    assert sign_in(env.client, password="nope nope nope").status_code == 401
    # Three failures: the account is locked for this window from this address, the right
    # password included (tests/test_web_hostile.py: other addresses still get in).
    r = sign_in(env.client)
    assert r.status_code == 429
    assert int(r.headers["retry-after"]) > 0
    assert "Too many failed sign-ins" in r.text
    env.ticker.advance(601)  # the window slides past the failures
    assert sign_in(env.client).status_code == 303


def test_exponential_slowdown_per_address(env: Env) -> None:
    for name in ("x1", "x2", "x3"):  # two free failures, then the address slows down
        assert sign_in(env.client, name=name, password="wrong one").status_code == 401
    r = sign_in(env.client)  # the right password, but too soon after the third failure
    assert r.status_code == 429 and r.headers["retry-after"] == "1"
    env.ticker.advance(1)
    assert sign_in(env.client).status_code == 303


def test_throttle_slowdown_doubles() -> None:
    tick = Ticker()
    t = auth.SignInThrottle(per_pair=100, per_address=100, window=3600, free=2, clock=tick)
    waits = []
    for _ in range(6):
        waits.append(t.retry_after("a", "1.2.3.4"))
        t.failed("a", "1.2.3.4")
    assert waits == [0.0, 0.0, 0.0, 1.0, 2.0, 4.0]
    tick.advance(8)
    assert t.retry_after("a", "1.2.3.4") == 0.0
    good = t.attempt("a", "1.2.3.4")
    assert good.allowed
    t.succeeded(good)  # takes back its own count and forgets the pair's failures
    assert t.retry_after("a", "9.9.9.9") == 0.0
    t.failed("b", "1.2.3.4")  # the address kept its six failures: this is the seventh
    assert t.retry_after("c", "1.2.3.4") == 16.0


def test_throttling_per_address_across_names(env: Env) -> None:
    add_editor(env.store, "second", PASSWORD)
    for n in ["a1", "a2", "a3", "a4", "a5", "a6"]:
        env.ticker.advance(60)  # past each slowdown: the window's limit is what stops them
        assert sign_in(env.client, name=n, password="whatever 123").status_code == 401
    env.ticker.advance(60)
    r = sign_in(env.client, name="second")
    assert r.status_code == 429


def test_concurrent_wrong_passwords_are_throttled_as_they_arrive(env: Env) -> None:
    """The attempts are counted before the (awaited) password check, not after it."""

    async def main() -> list[int]:
        transport = httpx.ASGITransport(app=env.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
            csrf = csrf_of((await c.get("/login")).text)
            data = {"csrf": csrf, "name": EDITOR, "password": "wrong password!", "next": "/"}
            answers = await asyncio.gather(*(c.post("/login", data=data) for _ in range(40)))
        return [r.status_code for r in answers]

    codes = asyncio.run(main())
    assert set(codes) == {401, 429}
    assert codes.count(401) <= 3  # the per-account limit
    assert codes.count(429) >= 37


def test_a_success_takes_its_attempt_back(env: Env) -> None:
    for _ in range(5):  # five good sign-ins in a row from one address: never throttled
        env.client.cookies.clear()
        assert sign_in(env.client).status_code == 303
    env.client.cookies.clear()
    for name in ("x1", "x2"):
        assert sign_in(env.client, name=name, password="wrong one").status_code == 401
    assert sign_in(env.client).status_code == 303  # two failures are free


def test_unknown_item_is_404(editor: TestClient) -> None:
    assert editor.get("/items/0123456789abcdef").status_code == 404
    assert editor.get("/items/0123456789abcdef/edit").status_code == 404
    for action in ("approve", "reject", "undo", "reopen"):
        r = post(editor, f"/items/0123456789abcdef/{action}")
        assert r.status_code == 404, action
        assert "No such item" in r.text
    r = post(editor, "/items/bulk", {"ids": "0123456789abcdef", "action": "approve"})
    assert r.status_code == 404
    assert editor.get("/no/such/page").status_code == 404


def test_unknown_source_poll_is_404(editor: TestClient) -> None:
    assert post(editor, "/sources/nope/poll").status_code == 404


def test_a_write_waiting_for_the_store_lock_does_not_block_other_requests(
    env: Env, editor: TestClient
) -> None:
    """A CLI command holding the store's lock (a long fetch commit) makes an approval wait,
    in a worker thread: meanwhile the event loop answers other requests."""
    item = make_item(1)
    put(env.store, item)
    csrf = token(editor)
    held = filelock.FileLock(str(env.store.path / ".lock"), thread_local=False)
    held.acquire()
    release = threading.Timer(2.0, held.release)

    async def main() -> tuple[int, float, int]:
        transport = httpx.ASGITransport(app=env.app)
        async with httpx.AsyncClient(
            transport=transport, base_url="http://testserver", cookies=editor.cookies
        ) as c:
            start = time.monotonic()
            release.start()
            approving = asyncio.create_task(
                c.post(f"/items/{item.id}/approve", data={"csrf": csrf, "next": "/"})
            )
            await asyncio.sleep(0.2)  # the approval is waiting for the lock by now
            queue = await c.get("/")
            answered = time.monotonic() - start
            approved = await approving
        return queue.status_code, answered, approved.status_code

    try:
        queue_status, answered, approve_status = asyncio.run(main())
    finally:
        release.join()
    assert queue_status == 200
    assert answered < 1.5, f"the queue page waited {answered:.1f} s for the store lock"
    assert approve_status == 303
    assert env.item(item.id).status == "approved"


# --------------------------------------------------------------------------- escaping


def test_a_title_holding_script_is_escaped(env: Env, editor: TestClient) -> None:
    evil = make_item(
        1,
        title='<script>alert("x")</script> CCTV <img src=x onerror=alert(1)>',
        summary='<script>alert("s")</script> police cctv',
        urls=("javascript:alert(1)",),
    )
    evil = replace(evil, summary='<p>ok</p><script>alert("s")</script><a href="javascript:x">j</a>')
    put(env.store, evil)
    for path in ("/", f"/items/{evil.id}", f"/items/{evil.id}/edit"):
        html = editor.get(path).text
        assert "<script>alert" not in html, path
        assert "<img src=x" not in html, path
        assert 'href="javascript:' not in html, path
    assert "&lt;script&gt;alert(" in editor.get("/").text


# --------------------------------------------------------------------------- headers, cookies


def test_security_headers_on_editor_pages(env: Env, editor: TestClient) -> None:
    for path in ("/login", "/", "/sources", "/healthz"):
        r = editor.get(path)
        csp = r.headers["content-security-policy"]
        assert "default-src 'self'" in csp and "script-src 'self'" in csp
        assert "style-src 'self'" in csp and "frame-ancestors 'none'" in csp
        assert "unsafe-inline" not in csp
        assert r.headers["x-content-type-options"] == "nosniff"
        assert r.headers["referrer-policy"] == "same-origin"
    assert editor.get("/").headers["cache-control"] == "no-store"


def test_public_pages_keep_their_own_frame_headers(env: Env) -> None:
    r = env.client.get("/embed")
    assert r.status_code == 200
    assert "frame-ancestors 'none'" not in r.headers.get("content-security-policy", "")
    assert "x-frame-options" not in r.headers
    r = env.client.get("/links.json")
    assert r.status_code == 200
    assert r.headers["x-content-type-options"] == "nosniff"
    assert "set-cookie" not in r.headers


def test_no_inline_script_or_style_in_any_page(env: Env, editor: TestClient) -> None:
    item = make_item(1)
    put(env.store, item)
    pages = ["/", "/approved", "/rejected", "/items", "/add", "/sources", "/account"]
    pages += [f"/items/{item.id}", f"/items/{item.id}/edit"]
    for path in pages:
        html = editor.get(path).text
        assert not re.search(r"<script(?![^>]*\bsrc=)", html), path
        assert "<style" not in html and " style=" not in html, path
        assert not re.search(r"\son[a-z]+=", html), path


def test_session_cookie_flags(env: Env) -> None:
    r = sign_in(env.client)
    cookie = r.headers["set-cookie"]
    assert "curator_session=" in cookie
    assert "httponly" in cookie.lower() and "samesite=lax" in cookie.lower()
    assert "secure" not in cookie.lower()


def test_session_cookie_is_secure_over_https(
    tmp_path: Path, feed_server: FeedServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("CURATOR_SECRET_KEY", raising=False)
    e = _env(tmp_path, feed_server, base_url="https://testserver")
    add_editor(e.store)
    r = sign_in(e.client)
    assert r.status_code == 303
    assert "; secure" in r.headers["set-cookie"].lower()
    assert e.client.get("/").status_code == 200


def test_session_key_file_is_private_and_env_wins(
    tmp_path: Path,
    feed_server: FeedServer,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    monkeypatch.delenv("CURATOR_SECRET_KEY", raising=False)
    e = _env(tmp_path, feed_server)
    key = tmp_path / "store" / "secret_key"
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    assert "CURATOR_SECRET_KEY is not set" in caplog.text
    add_editor(e.store)
    sign_in(e.client)
    # A second app on the same store reads the same key: the session survives a restart.
    again = TestClient(create_app(e.curator, password_hasher=FAST_HASHER), follow_redirects=False)
    again.cookies.update(e.client.cookies)
    assert again.get("/").status_code == 200
    # With the environment variable set, that key signs, and old cookies no longer pass.
    monkeypatch.setenv("CURATOR_SECRET_KEY", "k" * 40)
    other = TestClient(create_app(e.curator, password_hasher=FAST_HASHER), follow_redirects=False)
    other.cookies.update(e.client.cookies)
    assert other.get("/").status_code == 303


def test_healthz(env: Env) -> None:
    put(env.store, make_item(1), make_item(2, status="approved"))
    r = env.client.get("/healthz")
    assert r.status_code == 200
    assert r.json() == {"status": "ok"}  # details only for editors (tests/test_store_damage.py)
    assert "set-cookie" not in r.headers
    sign_in(env.client)
    body = env.client.get("/healthz").json()
    assert body["items"]["pending"] == 1 and body["items"]["approved"] == 1


# --------------------------------------------------------------------------- sign-out, accounts


def test_sign_out(env: Env, editor: TestClient) -> None:
    assert editor.get("/").status_code == 200
    r = post(editor, "/logout")
    assert r.status_code == 303 and r.headers["location"] == "/login"
    assert "You are signed out." in editor.get("/login").text
    assert editor.get("/").status_code == 303


def test_sign_out_revokes_a_copy_of_the_cookie(env: Env, editor: TestClient) -> None:
    copy = TestClient(env.app, follow_redirects=False)
    copy.cookies.update(editor.cookies)  # e.g. lifted from a shared computer
    assert copy.get("/").status_code == 200
    other = TestClient(env.app, follow_redirects=False)
    assert sign_in(other).status_code == 303
    assert post(editor, "/logout").status_code == 303
    r = copy.get("/")
    assert r.status_code == 303 and r.headers["location"].startswith("/login")
    assert other.get("/").status_code == 303  # signing out ends every session of the editor
    assert sign_in(editor).status_code == 303  # and signing in again works
    assert editor.get("/").status_code == 200
    assert copy.get("/").status_code == 303


def test_sign_out_with_a_dead_session_ends_nothing(env: Env, editor: TestClient) -> None:
    copy = TestClient(env.app, follow_redirects=False)
    copy.cookies.update(editor.cookies)
    csrf = token(copy)
    auth.end_sessions(env.store, EDITOR)  # e.g. signed out elsewhere
    assert sign_in(editor).status_code == 303
    copy.post("/logout", data={"csrf": csrf})  # the old cookie's token still matches its session
    assert editor.get("/").status_code == 200  # but it cannot sign the editor out again


def test_change_password_ends_other_sessions(env: Env, editor: TestClient) -> None:
    other = TestClient(env.app, follow_redirects=False)
    assert sign_in(other).status_code == 303
    r = post(editor, "/account", {"current": "bad", "password": "x" * 12, "confirm": "x" * 12})
    assert r.status_code == 400 and "current password" in r.text
    r = post(editor, "/account", {"current": PASSWORD, "password": "short", "confirm": "short"})
    assert r.status_code == 400 and "too short" in r.text
    new = "a new long password"
    r = post(editor, "/account", {"current": PASSWORD, "password": new, "confirm": new})
    assert r.status_code == 303
    assert editor.get("/").status_code == 200  # this session goes on
    assert other.get("/").status_code == 303  # the other one is over
    assert auth.verify(env.store, EDITOR, new, hasher=FAST_HASHER) is not None


def test_removed_editor_is_signed_out(env: Env, editor: TestClient) -> None:
    auth.remove_user(env.store, EDITOR)
    assert editor.get("/").status_code == 303


# --------------------------------------------------------------------------- first run


def test_first_run_setup_link_is_single_use(
    tmp_path: Path, feed_server: FeedServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("CURATOR_SECRET_KEY", raising=False)
    e = _env(tmp_path, feed_server)
    page = e.client.get("/login")
    assert "No editor account exists yet" in page.text
    assert e.client.get("/").status_code == 303  # nothing else is reachable
    tok = auth.setup_link_token(e.store)
    assert tok
    assert tok not in str(e.store.get_meta(auth.SETUP_META_KEY))  # kept hashed
    assert e.client.get("/setup?token=wrong").status_code == 403
    assert e.client.get("/setup").status_code == 403
    page = e.client.get(f"/setup?token={tok}")
    assert page.status_code == 200
    csrf = csrf_of(page.text)
    data = {"csrf": csrf, "token": tok, "name": "first", "password": PASSWORD, "confirm": "other"}
    r = e.client.post("/setup", data=data)
    assert r.status_code == 400 and "differ" in r.text
    data["confirm"] = PASSWORD
    r = e.client.post("/setup", data=data)
    assert r.status_code == 303 and r.headers["location"] == "/"
    assert "Welcome, first" in e.client.get("/").text
    assert e.store.get_meta(auth.SETUP_META_KEY) is None
    # The link is spent, for this browser and any other.
    fresh = TestClient(e.app, follow_redirects=False)
    assert fresh.get(f"/setup?token={tok}").status_code == 404
    csrf = csrf_of(fresh.get("/login").text)
    r = fresh.post("/setup", data={**data, "csrf": csrf, "name": "second"})
    assert r.status_code == 404
    assert [u.name for u in e.store.users()] == ["first"]
    assert e.store.users()[0].created_at == e.clock.now  # the Curator's clock, not the wall's
    assert auth.setup_link_token(e.store) is None


def test_a_new_setup_link_replaces_the_old(env: Env) -> None:
    auth.remove_user(env.store, EDITOR)
    old = auth.setup_link_token(env.store)
    new = auth.setup_link_token(env.store)
    assert old and new and old != new
    assert env.client.get(f"/setup?token={old}").status_code == 403
    assert env.client.get(f"/setup?token={new}").status_code == 200


# --------------------------------------------------------------------------- auth library


def test_auth_accounts(tmp_path: Path) -> None:
    store = TinyDBStore(tmp_path / "s")
    user = auth.add_user(store, "ann", "a long password", hasher=FAST_HASHER)
    assert user.password_hash.startswith("$argon2id$")
    with pytest.raises(UserError, match="already exists"):
        auth.add_user(store, "ann", "a long password", hasher=FAST_HASHER)
    with pytest.raises(UserError, match="too short"):
        auth.add_user(store, "bob", "short", hasher=FAST_HASHER)
    with pytest.raises(UserError, match="not a usable editor name"):
        auth.add_user(store, "bad name", "a long password", hasher=FAST_HASHER)
    assert auth.verify(store, "ann", "wrong password", hasher=FAST_HASHER) is None
    assert auth.verify(store, "nobody", "a long password", hasher=FAST_HASHER) is None
    assert auth.verify(store, "ann", "a long password", hasher=FAST_HASHER) is not None
    auth.change_password(store, "ann", "another password", hasher=FAST_HASHER)
    assert auth.verify(store, "ann", "a long password", hasher=FAST_HASHER) is None
    assert auth.verify(store, "ann", "another password", hasher=FAST_HASHER) is not None
    auth.remove_user(store, "ann")
    with pytest.raises(UserError):
        auth.remove_user(store, "ann")
    with pytest.raises(UserError):
        auth.change_password(store, "ann", "another password", hasher=FAST_HASHER)


def test_verify_upgrades_an_outdated_hash(tmp_path: Path) -> None:
    store = TinyDBStore(tmp_path / "s")
    auth.add_user(store, "ann", "a long password", hasher=FAST_HASHER)
    stronger = PasswordHasher(time_cost=2, memory_cost=2048, parallelism=1)
    user = auth.verify(store, "ann", "a long password", hasher=stronger)
    assert user is not None and "m=2048,t=2" in user.password_hash
    again = store.get_user("ann")
    assert again is not None and again.password_hash == user.password_hash


# --------------------------------------------------------------------------- the queue


def test_queue_order_best_score_then_newest(env: Env, editor: TestClient) -> None:
    low_new = make_item(1, score=2.0, published=T0)
    high_old = make_item(2, score=9.0, published=T0.replace(year=2024))
    high_new = make_item(3, score=9.0, published=T0)
    done = make_item(4, score=99.0, status="approved")
    put(env.store, low_new, high_old, high_new, done)
    html = editor.get("/").text
    order = [m for m in re.findall(r'data-id="([0-9a-f]+)"', html)]
    assert order == [high_new.id, high_old.id, low_new.id]
    assert 'target="_blank" rel="noopener noreferrer"' in html
    assert "Source A" in html and "title: cctv" in html


def test_queue_item_shows_other_sources_and_links(env: Env, editor: TestClient) -> None:
    item = make_item(1, sources=("src-a", "src-b"), urls=("https://www.other.example/same-story",))
    put(env.store, item)
    html = editor.get("/").text
    assert "Same story in Source B" in html
    assert 'href="https://www.other.example/same-story"' in html and ">other.example<" in html


def test_pagination_and_filters(env: Env, editor: TestClient) -> None:
    items = [make_item(i, score=100 - i) for i in range(1, 13)]
    items.append(
        make_item(50, title="Facial recognition vans", category="research", sources=("src-b",))
    )
    put(env.store, *items)
    env.app.state.web.curator.config = env.curator.config.model_copy(
        update={"web": env.curator.config.web.model_copy(update={"page_size": 5})}
    )
    first = editor.get("/").text
    assert first.count('class="item ') == 5 and "Page 1 of 3" in first
    third = editor.get("/?page=3").text
    assert third.count('class="item ') == 3 and 'rel="prev"' in third
    assert editor.get("/?page=99").status_code == 200
    r = editor.get("/?category=research")
    assert r.text.count('class="item ') == 1 and "Facial recognition vans" in r.text
    r = editor.get("/?source=src-b")
    assert r.text.count('class="item ') == 1
    r = editor.get("/?q=facial+VANS")
    assert r.text.count('class="item ') == 1
    r = editor.get("/?q=nothing-like-this")
    assert "No items here." in r.text


def test_status_lists(env: Env, editor: TestClient) -> None:
    put(
        env.store,
        make_item(1),
        make_item(2, status="approved", title="Approved one"),
        make_item(3, status="rejected", title="Rejected one"),
    )
    approved = editor.get("/approved").text
    assert "Approved one" in approved
    assert f'href="/items/{make_item(2).id}/edit?next=/approved"' in approved  # back here after
    assert "Rejected one" not in editor.get("/approved").text
    assert "Rejected one" in editor.get("/rejected").text
    all_items = editor.get("/items").text
    assert all_items.count('class="item ') == 3
    assert editor.get("/?status=approved").text.count('class="item ') == 1
    assert editor.get("/?status=bogus").text.count('class="item ') == 1


def test_empty_queue(editor: TestClient) -> None:
    assert "The queue is empty" in editor.get("/").text


# --------------------------------------------------------------------------- actions


def test_approve_reject_undo_reopen_by_form(env: Env, editor: TestClient) -> None:
    item = make_item(1)
    put(env.store, item)
    r = post(editor, f"/items/{item.id}/approve", {"next": "/?page=1"})
    assert r.status_code == 303 and r.headers["location"] == "/?page=1"
    stored = env.item(item.id)
    assert stored.status == "approved" and stored.reviewed_by == EDITOR
    page = editor.get("/").text
    assert "Approved “CCTV story number 1”." in page
    assert f'action="/items/{item.id}/undo"' in page  # the flash offers undo
    r = post(editor, f"/items/{item.id}/undo")
    assert env.item(item.id).status == "pending"
    post(editor, f"/items/{item.id}/reject", {"next": "https://evil.example/"})
    assert env.item(item.id).status == "rejected"
    r = post(editor, f"/items/{item.id}/reopen")
    assert r.headers["location"] == "/"
    stored = env.item(item.id)
    assert stored.status == "pending"
    actions = [e.action for e in stored.history]
    assert actions == ["approved", "undone", "rejected", "reopened"]


def test_actions_answer_json_for_the_script(env: Env, editor: TestClient) -> None:
    item = make_item(1)
    put(env.store, item)
    csrf = token(editor)
    headers = {"Accept": "application/json", "X-CSRF-Token": csrf}
    r = editor.post(f"/items/{item.id}/reject", headers=headers)
    assert r.status_code == 200
    assert r.json() == {
        "id": item.id,
        "status": "rejected",
        "title": "CCTV story number 1",
        "message": "Rejected “CCTV story number 1”.",
        "undo": True,
        "version": 1,
        "pending": 0,
    }
    r = editor.post(f"/items/{item.id}/undo", headers=headers)
    assert r.json()["status"] == "pending"
    r = editor.post(f"/items/{item.id}/undo", headers=headers)  # nothing left to undo
    assert r.status_code == 409 and "nothing to undo" in r.json()["error"]
    r = editor.post("/items/0123456789abcdef/approve", headers=headers)
    assert r.status_code == 404
    editor.cookies.clear()
    r = editor.post(f"/items/{item.id}/approve", headers=headers)
    assert r.status_code == 403


def test_undo_from_a_stale_page_is_refused(env: Env, editor: TestClient) -> None:
    """A page loaded before a later change must not undo that change unseen: after an edit
    then an approval, an Undo clicked twice on the same page undoes the approval only."""
    item = make_item(1)
    put(env.store, item)
    env.curator.review.edit(item.id, by="ed", title="Edited by hand")
    env.curator.review.approve([item.id], by="ed")
    page = editor.get("/approved").text
    seen = re.search(rf'name="expect-{item.id}" value="(\d+)"', page)
    assert seen is not None and seen.group(1) == "2"
    form = {f"expect-{item.id}": seen.group(1)}
    post(editor, f"/items/{item.id}/undo", form)
    assert env.item(item.id).status == "pending"
    r = post(editor, f"/items/{item.id}/undo", form)  # the same, stale page
    assert r.status_code == 303
    assert "changed since the page was loaded" in editor.get("/").text
    assert env.item(item.id).title == "Edited by hand"
    headers = {"Accept": "application/json", "X-CSRF-Token": token(editor)}
    r = editor.post(f"/items/{item.id}/undo", data=form, headers=headers)
    assert r.status_code == 409 and env.item(item.id).title == "Edited by hand"


def test_undo_with_nothing_to_undo_flashes(env: Env, editor: TestClient) -> None:
    item = make_item(1)
    put(env.store, item)
    r = post(editor, f"/items/{item.id}/undo")
    assert r.status_code == 303
    assert "nothing to undo" in editor.get("/").text


def test_bulk_approve_and_reject(env: Env, editor: TestClient) -> None:
    items = [make_item(i) for i in range(1, 5)]
    put(env.store, *items)
    ids = [i.id for i in items]
    r = post(editor, "/items/bulk", {"ids": ids[:3], "action": "approve", "next": "/"})
    assert r.status_code == 303
    assert [env.item(i).status for i in ids] == ["approved"] * 3 + ["pending"]
    assert "Approved 3 items." in editor.get("/approved").text
    post(editor, "/items/bulk", {"ids": ids[3:], "action": "reject"})
    assert env.item(ids[3]).status == "rejected"
    post(editor, "/items/bulk", {"action": "approve"})
    assert "Select one or more items first." in editor.get("/").text
    post(editor, "/items/bulk", {"ids": ids[:1], "action": "delete"})
    assert "Choose approve or reject" in editor.get("/").text


_BATCH = re.compile(r'<input type="hidden" name="batch" value="([^"]+)">')


def test_bulk_reject_offers_undo_of_what_it_changed(env: Env, editor: TestClient) -> None:
    items = [make_item(i) for i in range(1, 5)]
    items.append(make_item(5, status="rejected"))
    put(env.store, *items)
    ids = [i.id for i in items]
    post(editor, "/items/bulk", {"ids": ids[1:], "action": "reject", "next": "/"})
    page = editor.get("/").text
    assert "Rejected 4 items." in page
    batch = _BATCH.search(page)
    assert batch is not None and 'action="/items/undo"' in page
    r = post(editor, "/items/undo", {"batch": batch.group(1), "next": "/rejected"})
    assert r.status_code == 303 and r.headers["location"] == "/rejected"
    assert "Undid the last change to 3 items." in editor.get("/rejected").text
    # The three it rejected are back; the one rejected before is left as it was.
    assert [env.item(i).status for i in ids] == ["pending"] * 4 + ["rejected"]
    post(editor, "/items/undo", {"batch": batch.group(1)})  # only once
    assert "That undo is no longer available" in editor.get("/").text
    assert [env.item(i).status for i in ids] == ["pending"] * 4 + ["rejected"]


def test_bulk_undo_changes_nothing_when_an_item_moved_on(env: Env, editor: TestClient) -> None:
    items = [make_item(i) for i in range(1, 4)]
    put(env.store, *items)
    ids = [i.id for i in items]
    post(editor, "/items/bulk", {"ids": ids, "action": "approve"})
    batch = _BATCH.search(editor.get("/approved").text)
    assert batch is not None
    env.curator.review.reject([ids[1]], by="someone else")
    post(editor, "/items/undo", {"batch": batch.group(1)})
    page = editor.get("/").text
    assert "Nothing was undone: “CCTV story number 2” has changed since." in page
    assert [env.item(i).status for i in ids] == ["approved", "rejected", "approved"]
    post(editor, "/items/undo", {"batch": "made-up"})
    assert "That undo is no longer available" in editor.get("/").text


def test_lists_offer_only_what_fits_them(env: Env, editor: TestClient) -> None:
    put(
        env.store,
        make_item(1),
        make_item(2, status="approved"),
        make_item(3, status="rejected"),
    )
    queue = editor.get("/").text
    assert "Approve selected" in queue and "Reject selected" in queue
    assert "<kbd>a</kbd> approve" in queue and "<kbd>r</kbd> reject" in queue
    approved = editor.get("/approved").text
    assert "Approve selected" not in approved and "<kbd>a</kbd>" not in approved
    assert "Reject selected" in approved and "<kbd>r</kbd> reject" in approved
    rejected = editor.get("/rejected").text
    assert "Reject selected" not in rejected and "<kbd>r</kbd>" not in rejected
    assert "Approve selected" in rejected


def test_the_edit_page_is_headed_for_the_items_status(env: Env, editor: TestClient) -> None:
    pending, approved, rejected = (
        make_item(1),
        make_item(2, status="approved"),
        make_item(3, status="rejected"),
    )
    put(env.store, pending, approved, rejected)
    page = editor.get(f"/items/{pending.id}/edit").text
    assert "<h1>Edit before approving</h1>" in page and "Save and approve" in page
    page = editor.get(f"/items/{approved.id}/edit").text
    assert "<h1>Edit an approved item</h1>" in page
    assert "before approving" not in page and "Save and approve" not in page
    assert '<button type="submit" name="then" value="save" class="approve">Save</button>' in page
    page = editor.get(f"/items/{rejected.id}/edit").text
    assert "<h1>Edit a rejected item</h1>" in page and "Save and approve" in page


def test_an_edit_of_a_pending_item_can_be_undone_from_its_page(
    env: Env, editor: TestClient
) -> None:
    item = make_item(1)
    put(env.store, item)
    before = editor.get(f"/items/{item.id}").text
    assert f'formaction="/items/{item.id}/undo"' not in before  # nothing to undo yet
    env.curator.review.edit(item.id, by=EDITOR, title="Retitled by hand")
    page = editor.get(f"/items/{item.id}").text
    assert "Last change: edited by editor" in page
    assert f'formaction="/items/{item.id}/undo"' in page
    assert f'formaction="/items/{item.id}/undo"' in editor.get("/").text  # and in the queue
    seen = re.search(rf'name="expect-{item.id}" value="(\d+)"', page)
    assert seen is not None
    post(editor, f"/items/{item.id}/undo", {f"expect-{item.id}": seen.group(1)})
    stored = env.item(item.id)
    assert stored.title == "CCTV story number 1" and stored.status == "pending"


def test_compact_view_is_chosen_by_a_link_and_remembered(env: Env, editor: TestClient) -> None:
    item = make_item(1, title="<script>alert(1)</script> CCTV")
    put(env.store, item)
    cards = editor.get("/?q=cctv").text
    assert 'class="items"' in cards
    assert 'href="/?q=cctv&amp;view=compact"' in cards  # keeps the filters
    r = editor.get("/?view=compact")
    assert "curator_view=compact" in r.headers["set-cookie"]
    assert 'class="items compact"' in r.text and 'class="item line status-pending"' in r.text
    assert "<script>alert" not in r.text and "&lt;script&gt;alert(1)&lt;/script&gt;" in r.text
    assert ">Source A<" in r.text and "10 Mar 2025" in r.text and ">3.0<" in r.text
    assert "</span> cctv</span>" in r.text  # the deciding terms
    assert 'class="items compact"' in editor.get("/").text  # remembered
    put(env.store, make_item(2, status="approved"))
    assert 'class="items compact"' in editor.get("/approved").text  # by every list
    editor.get("/?view=cards")
    assert 'class="items"' in editor.get("/").text
    assert 'class="items"' in editor.get("/?view=bogus").text


def test_an_empty_queue_says_when_sources_are_failing(env: Env, editor: TestClient) -> None:
    assert "failing" not in editor.get("/").text
    with env.store.transaction():
        env.store.put_state(SourceState(source_id="src-b", last_fetch=T0, consecutive_errors=2))
    page = editor.get("/").text
    assert "The queue is empty" in page
    assert '1 of 2 sources is failing — <a href="/sources">see Sources</a>.' in page
    with env.store.transaction():
        env.store.put_state(SourceState(source_id="src-a", last_fetch=T0, gone=True))
    assert "2 of 2 sources are failing" in editor.get("/").text
    # A disabled source counts among all sources, never among the failing ones.
    cfg = env.curator.config
    off = cfg.sources[0].model_copy(update={"id": "src-off", "enabled": False})
    env.curator.config = cfg.model_copy(update={"sources": [*cfg.sources, off]})
    with env.store.transaction():
        env.store.put_state(SourceState(source_id="src-off", last_fetch=T0, consecutive_errors=9))
    assert "2 of 3 sources are failing" in editor.get("/").text
    env.curator.config = cfg
    put(env.store, make_item(1))
    assert "sources are failing" not in editor.get("/").text  # only to explain an empty queue


def test_item_history_page(env: Env, editor: TestClient) -> None:
    item = make_item(1)
    put(env.store, item)
    post_edit(
        editor,
        item.id,
        {
            "title": "Better title",
            "summary": item.summary_text,
            "category": "news",
            "note": "",
            "then": "approve",
        },
    )
    html = editor.get(f"/items/{item.id}").text
    assert "History" in html and "edited" in html and "approved" in html
    assert "by editor" in html
    assert "CCTV story number 1" in html  # the old value, kept
    assert "What the source said" in html


# --------------------------------------------------------------------------- edit


def test_edit_then_approve(env: Env, editor: TestClient) -> None:
    item = make_item(1)
    put(env.store, item)
    page = editor.get(f"/items/{item.id}/edit")
    assert page.status_code == 200 and 'value="CCTV story number 1"' in page.text
    r = post_edit(
        editor,
        item.id,
        {
            "title": "  Police CCTV: a better title ",
            "summary": "First paragraph.\r\n\r\nSecond <b>para</b>.",
            "category": "research",
            "note": "Worth a look",
            "then": "approve",
            "next": "/",
        },
    )
    assert r.status_code == 303 and r.headers["location"] == "/"
    stored = env.store.get_item(item.id)
    assert stored is not None
    assert stored.status == "approved"
    assert stored.title == "Police CCTV: a better title"
    assert stored.category == "research" and stored.note == "Worth a look"
    assert stored.summary.startswith("<p>First paragraph.</p>")
    assert "&lt;b&gt;" in stored.summary  # the editor types text, not markup
    assert stored.original["title"] == "CCTV story number 1"
    assert [e.action for e in stored.history] == ["edited", "approved"]


def test_edit_without_changes_records_nothing(env: Env, editor: TestClient) -> None:
    item = make_item(1)
    put(env.store, item)
    values = {"title": item.title, "summary": item.summary_text, "category": "news", "note": ""}
    assert post_edit(editor, item.id, {**values, "then": "save"}).status_code == 303
    assert env.item(item.id).history == ()


def test_edit_refuses_an_empty_title(env: Env, editor: TestClient) -> None:
    item = make_item(1)
    put(env.store, item)
    r = post(
        editor,
        f"/items/{item.id}/edit",
        {"title": "  ", "summary": "", "category": "news", "note": "", "then": "approve"},
    )
    assert r.status_code == 400 and "A title is needed." in r.text
    r = post(
        editor,
        f"/items/{item.id}/edit",
        {"title": "x", "summary": "", "category": "poetry", "note": "", "then": "approve"},
    )
    assert r.status_code == 400
    assert env.item(item.id).status == "pending"


def test_a_stale_edit_form_does_not_overwrite_a_newer_change(env: Env, editor: TestClient) -> None:
    item = make_item(1)
    put(env.store, item)
    stale = edit_form(editor, item.id)  # the editor opens the form …
    env.curator.review.edit(item.id, by="cli", title="Title from the command line")  # … meanwhile
    r = editor.post(
        f"/items/{item.id}/edit",
        data={
            **stale,
            "title": item.title,  # what the form showed, unchanged
            "summary": "The editor's new summary.",
            "category": "news",
            "note": "",
            "then": "approve",
        },
    )
    assert r.status_code == 409
    assert "changed by someone else since you opened it" in r.text
    assert 'value="Title from the command line"' in r.text  # the form shows what is stored now
    stored = env.item(item.id)
    assert stored.title == "Title from the command line"  # the other change survives
    assert stored.summary_text == item.summary_text and stored.status == "pending"
    # Saved again from the refreshed form, it goes through.
    fresh = {**edit_form(editor, item.id), "title": "Title from the command line"}
    r = editor.post(
        f"/items/{item.id}/edit",
        data={**fresh, "summary": "The editor's new summary.", "category": "news", "note": ""},
    )
    assert r.status_code == 303
    assert env.item(item.id).summary_text == "The editor's new summary."


def test_a_change_within_the_same_clock_tick_is_still_seen(env: Env, editor: TestClient) -> None:
    item = make_item(1)
    put(env.store, item)
    env.curator.review.edit(item.id, by="cli", note="first")  # at T0, as is the next one
    stale = edit_form(editor, item.id)
    env.curator.review.edit(item.id, by="cli", note="second")
    values = {"title": item.title, "summary": item.summary_text, "category": "news"}
    r = editor.post(f"/items/{item.id}/edit", data={**stale, **values, "note": "mine"})
    assert r.status_code == 409
    assert env.item(item.id).note == "second"


def test_an_edit_form_without_its_revision_is_refused(env: Env, editor: TestClient) -> None:
    item = make_item(1)
    put(env.store, item)
    values = {"title": "New", "summary": "", "category": "news", "note": ""}
    r = post(editor, f"/items/{item.id}/edit", values)
    assert r.status_code == 409
    assert env.item(item.id).title == item.title


# --------------------------------------------------------------------------- add by hand

ARTICLE = b"""<!doctype html><html><head>
<title>Ignored title | Site</title>
<meta property="og:title" content="Council votes on facial recognition cameras">
<meta property="og:description" content="The council debated live facial recognition.">
<meta property="og:site_name" content="Local Paper">
<meta property="article:published_time" content="2025-03-01T10:00:00Z">
</head><body><p>Body</p></body></html>"""


def test_add_a_link_by_hand(env: Env, editor: TestClient) -> None:
    url = env.server.route("/article", body=ARTICLE, content_type="text/html; charset=utf-8")
    assert editor.get("/add").status_code == 200
    r = post(editor, "/add/fetch", {"url": url})
    assert r.status_code == 200, r.text
    assert 'value="Council votes on facial recognition cameras"' in r.text
    assert "The council debated live facial recognition." in r.text
    assert 'value="2025-03-01T10:00"' in r.text  # the page's time is kept, not only its day
    assert '<input type="hidden" name="site" value="Local Paper">' in r.text
    r = post(
        editor,
        "/add/save",
        {
            "url": url,
            "title": "Council votes on facial recognition cameras",
            "summary": "The council debated live facial recognition.",
            "category": "news",
            "published": "2025-03-01T10:00",
            "note": "",
            "site": "Local Paper",
            "then": "approve",
        },
    )
    assert r.status_code == 303 and r.headers["location"] == "/approved"
    approved = env.store.items("approved")
    assert len(approved) == 1
    item = approved[0]
    assert item.title == "Council votes on facial recognition cameras"
    assert item.reviewed_by == EDITOR
    assert item.published == datetime(2025, 3, 1, 10, 0, tzinfo=UTC)
    assert item.site == "Local Paper"
    listed = editor.get("/approved").text
    assert "Council votes" in listed
    assert '<span class="sources">Local Paper, added by hand</span>' in listed
    assert "score 0.0" not in listed  # no rules scored it: no score shown
    page = editor.get(f"/items/{item.id}").text
    assert "Local Paper, added by hand" in page and "score" not in page.split("Why:")[0]
    # History: newest first, numbered so (the approval is 2, the adding 1).
    assert '<ol class="history" reversed>' in page
    assert page.index("<strong>approved</strong>") < page.index("<strong>added</strong>")
    # The same link again is recognised before anything is fetched.
    r = post(editor, "/add/fetch", {"url": url})
    assert r.status_code == 409 and "already here" in r.text
    assert len(env.server.requests_to("/article")) == 1


def test_a_feed_item_shows_its_score(env: Env, editor: TestClient) -> None:
    put(env.store, make_item(1, score=7.0))
    assert "score 7.0" in editor.get("/").text


def test_favicon(env: Env, editor: TestClient) -> None:
    page = editor.get("/").text
    link = re.search(r'<link rel="icon" href="([^"]+)" type="image/svg\+xml">', page)
    assert link is not None
    icon = env.client.get(link.group(1))
    assert icon.status_code == 200 and icon.text.startswith("<svg")
    env.client.cookies.clear()  # browsers ask for /favicon.ico signed out too
    r = env.client.get("/favicon.ico")
    assert r.status_code == 200 and r.headers["content-type"].startswith("image/svg+xml")
    assert r.content == icon.content


def test_add_by_hand_when_the_page_fails(env: Env, editor: TestClient) -> None:
    url = env.server.status("/missing", 404)
    r = post(editor, "/add/fetch", {"url": url})
    assert r.status_code == 200
    assert "Could not read that page" in r.text and f'value="{url}"' in r.text
    r = post(editor, "/add/fetch", {"url": "ftp://example.org/x"})
    assert r.status_code == 400 and "http://" in r.text
    r = post(
        editor,
        "/add/save",
        {
            "url": url,
            "title": "By hand",
            "summary": "",
            "category": "guidance",
            "published": "1 March",
            "then": "approve",
        },
    )
    assert r.status_code == 400 and "YYYY-MM-DD" in r.text
    r = post(
        editor,
        "/add/save",
        {
            "url": url,
            "title": "By hand",
            "summary": "",
            "category": "guidance",
            "published": "",
            "then": "queue",
        },
    )
    assert r.status_code == 303 and r.headers["location"] == "/"
    assert [i.title for i in env.store.items("pending")] == ["By hand"]


def test_add_by_hand_does_not_fetch_private_addresses(
    tmp_path: Path, feed_server: FeedServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("CURATOR_SECRET_KEY", raising=False)
    e = _env(tmp_path, feed_server, allow_private_urls=False)
    add_editor(e.store)
    try:
        assert sign_in(e.client).status_code == 303
        url = feed_server.route("/internal", body=ARTICLE, content_type="text/html")
        for pasted in (url, "http://169.254.169.254/latest/meta-data/", "http://[::1]/"):
            r = post(e.client, "/add/fetch", {"url": pasted})
            assert r.status_code == 200
            assert "not a public web address" in r.text, pasted
            assert "Council votes" not in r.text
        assert not feed_server.requests_to("/internal")
    finally:
        e.client.close()
        asyncio.run(e.curator.aclose())


# --------------------------------------------------------------------------- sources


def test_sources_page_shows_health(env: Env, editor: TestClient) -> None:
    """A row per source, trouble first, a summary line, and the details a click away."""
    with env.store.transaction():
        env.store.put_state(
            SourceState(
                source_id="src-b",
                last_fetch=T0,
                last_success=T0.replace(day=1),
                consecutive_errors=3,
                last_error="HTTP 503 from the server",
                next_due=T0.replace(hour=12),
                permanent_redirect="https://moved.example/feed",
                items_total=7,
            )
        )
    cfg = env.curator.config
    off = cfg.sources[0].model_copy(
        update={"id": "src-off", "name": "Switched off", "enabled": False}
    )
    env.curator.config = cfg.model_copy(update={"sources": [*cfg.sources, off]})
    html = editor.get("/sources").text
    assert "0 ok · 1 failing · 1 not polled yet · 1 disabled" in re.sub(r"<[^>]+>", "", html)
    rows = re.findall(r'<tr id="source-([a-z-]+)"[^>]*>(.*?)</tr>', html, re.S)
    assert [sid for sid, _ in rows] == ["src-b", "src-a", "src-off"]  # trouble first
    cells = {sid: re.findall(r"<t[hd][^>]*>(.*?)</t[hd]>", row, re.S) for sid, row in rows}
    text = {sid: [re.sub(r"<[^>]+>|\s+", " ", c).strip() for c in cs] for sid, cs in cells.items()}
    assert text["src-b"][:7] == [
        "Source B",
        "feed, news",
        "Failing: 3 errors in a row",
        "1 Mar 2025 09:00 UTC",
        "10 Mar 2025 12:00 UTC",
        "7",
        "3",
    ]
    assert text["src-a"][2:7] == ["Not polled yet", "never", "due now", "0", "0"]
    assert text["src-off"][2:5] == ["Disabled in feeds.yaml", "never", "not polled (disabled)"]
    assert "Poll now" in cells["src-a"][7] and "Poll now" not in cells["src-off"][7]
    assert "next scheduler run" not in html
    assert 'href="/sources/src-b"' in html
    assert "https://moved.example/feed" not in html  # on the source's own page

    page = editor.get("/sources/src-b").text
    assert "HTTP 503 from the server" in page and "https://moved.example/feed" in page
    assert "Items so far" in page and "10 Mar 2025 12:00 UTC" in page
    off_page = editor.get("/sources/src-off").text
    assert "not polled (disabled)" in off_page and "next scheduler run" not in off_page
    assert "Poll now" not in off_page
    assert editor.get("/sources/nope").status_code == 404


def test_poll_now_from_a_source_page_comes_back_to_it(env: Env, editor: TestClient) -> None:
    r = post(editor, "/sources/src-a/poll", {"back": "source"})
    assert r.status_code == 303 and r.headers["location"] == "/sources/src-a"


def test_poll_now(env: Env, editor: TestClient) -> None:
    r = post(editor, "/sources/src-a/poll")
    assert r.status_code == 303 and r.headers["location"] == "/sources#source-src-a"
    page = editor.get("/sources").text
    assert re.search(r"Source A: \d+ entries, \d+ matched, \d+ new\.", page), page
    assert env.store.get_state("src-a") is not None
    env.server.status("/b.xml", 500)
    post(editor, "/sources/src-b/poll")
    assert "Source B: error" in editor.get("/sources").text


def test_pages_render(env: Env, editor: TestClient) -> None:
    put(env.store, make_item(1))
    for path in EDITOR_PAGES:
        r = editor.get(path)
        assert r.status_code == 200, path
        assert r.headers["content-type"].startswith("text/html")
    r = editor.get("/static/app.js")
    assert r.status_code == 200 and "X-CSRF-Token" in r.text
    assert editor.get("/static/app.css").status_code == 200


def test_secret_key_env_short_warns(
    tmp_path: Path,
    feed_server: FeedServer,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    monkeypatch.setenv("CURATOR_SECRET_KEY", "short")
    _env(tmp_path, feed_server)
    assert "shorter than 32" in caplog.text
    assert not (tmp_path / "store" / "secret_key").exists()
    assert os.environ["CURATOR_SECRET_KEY"] == "short"


@pytest.mark.parametrize("problem", ["short", "not ascii", "a directory"])
def test_an_unusable_secret_key_file_is_a_clear_error(
    tmp_path: Path, feed_server: FeedServer, monkeypatch: pytest.MonkeyPatch, problem: str
) -> None:
    monkeypatch.delenv("CURATOR_SECRET_KEY", raising=False)
    key = tmp_path / "store" / "secret_key"
    key.parent.mkdir()
    if problem == "short":
        key.write_text("too short\n")
    elif problem == "not ascii":
        key.write_bytes("é".encode() * 40)
    else:
        key.mkdir()
    with pytest.raises(SecretKeyError) as info:
        _env(tmp_path, feed_server)
    message = str(info.value)
    assert isinstance(info.value, CuratorError) and info.value.path == key
    assert message.startswith(f"{key}: ")
    assert "CURATOR_SECRET_KEY" in message
    if problem == "short":
        assert "too short" in message and "delete the file" in message
    else:
        assert "cannot read the session key" in message


def test_a_locked_store_is_a_503_page_not_a_traceback(
    env: Env, editor: TestClient, caplog: pytest.LogCaptureFixture
) -> None:
    item = make_item(1)
    put(env.store, item)
    env.store._lock_timeout = 0.1  # a CLI command holds the lock far longer than this
    held = filelock.FileLock(str(env.store.path / ".lock"), thread_local=False)
    with held:
        r = post(editor, f"/items/{item.id}/approve", {"next": "/"})
        answer = editor.post(
            f"/items/{item.id}/approve",
            headers={"Accept": "application/json", "X-CSRF-Token": token(editor)},
        )
    assert r.status_code == 503
    assert "The store is busy" in r.text and "is busy: another process held its lock" in r.text
    assert r.headers["retry-after"] == "30"
    assert answer.status_code == 503 and "busy" in answer.json()["error"]
    assert env.item(item.id).status == "pending"
    lines = [rec for rec in caplog.records if "request failed" in rec.getMessage()]
    assert len(lines) == 2 and all("StoreLocked" in rec.getMessage() for rec in lines)
    assert all(rec.exc_info is None for rec in lines)


def test_a_corrupt_store_file_costs_only_its_items(env: Env, editor: TestClient) -> None:
    item, other = make_item(1), make_item(2)
    assert item.id[:2] != other.id[:2]
    put(env.store, item, other)
    shard = env.store.path / "items" / f"{item.id[:2]}.json"
    shard.write_text("{not json")
    # The queue still works, with the other item, and a banner naming the file.
    r = editor.get("/")
    assert r.status_code == 200
    assert other.title in r.text and item.title not in r.text
    assert "store-damage" in r.text and str(shard) in r.text and "1 item" in r.text
    # Acting on the damaged item is refused, naming the file.
    r = editor.get(f"/items/{item.id}")
    assert r.status_code == 503
    assert "The store needs repair" in r.text and str(shard) in r.text
    # Someone who is not signed in is never shown the server's file paths.
    anonymous = TestClient(env.app, follow_redirects=False)
    r = anonymous.get(f"/items/{item.id}")
    assert str(shard) not in r.text
    r = anonymous.get("/links.json")
    assert r.status_code == 200 and str(shard) not in r.text


def test_other_curator_errors_are_a_500_page(env: Env, editor: TestClient) -> None:
    async def boom(request: Any) -> Any:
        raise DigestError("the digest template does not render: no such variable 'x'")

    env.app.router.routes.insert(0, Route("/boom", boom))
    r = editor.get("/boom")
    assert r.status_code == 500
    assert "Something went wrong" in r.text and "no such variable" in r.text
    assert "Traceback" not in r.text


# --------------------------------------------------------------------------- digests


def test_digest_archive_record_and_preview(env: Env, editor: TestClient) -> None:
    sent = make_item(1, status="approved", title="Sent <b>last</b> week")
    waiting = make_item(2, status="approved", title="Waiting for the next one")
    put(env.store, replace(sent, digest_id="2025-03-03"), waiting)
    record = DigestRecord(
        id="2025-03-03",
        period_start=T0.replace(day=1),
        period_end=T0.replace(day=3),
        item_ids=(sent.id,),
        message_id="<2025-03-03@cctv-links.example.org>",
        created_at=T0.replace(day=3),
        subject="CCTV in policing: 1 to 3 Mar 2025",
        recipients={"a@example.org": "sent", "b@example.org": "refused: 550 no such user"},
        status="partial",
    )
    with env.store.transaction():
        env.store.put_digest(record)
    html = editor.get("/digests").text
    assert "CCTV in policing: 1 to 3 Mar 2025" in html
    assert "1 approved item waits for the next digest" in html
    assert "1 sent, 1 refused" in html
    page = editor.get("/digests/2025-03-03")
    assert page.status_code == 200
    assert "b@example.org: refused: 550 no such user" in page.text
    assert "Sent &lt;b&gt;last&lt;/b&gt; week" in page.text
    mail = editor.get("/digests/2025-03-03/html")
    assert mail.status_code == 200
    csp = mail.headers["content-security-policy"]
    assert csp.startswith("sandbox;") and "script" not in csp
    assert "<b>last</b>" not in mail.text
    preview = editor.get("/digests/preview")
    assert preview.status_code == 200 and "Waiting for the next one" in preview.text
    assert "Nothing is sent or recorded." in preview.text
    assert editor.get("/digests/preview/html").status_code == 200
    assert editor.get("/digests/nope").status_code == 404
    env.client.cookies.clear()
    assert editor.get("/digests").status_code == 303
    assert editor.get("/digests/2025-03-03/html").status_code == 303


def test_digests_page_warns_when_nobody_would_receive_the_digest(
    env: Env, editor: TestClient
) -> None:
    """Issue 10: with no recipients the digest goes to nobody; the page says so."""
    cfg = env.curator.config
    warning = "The digest has no recipients"
    assert warning in editor.get("/digests").text
    # A subscriber added on the Admin page is a reader too.
    subscribers.add(env.store, "admin-added@example.org", now=T0, by="ed")
    assert warning not in editor.get("/digests").text
    subscribers.remove(cfg, env.store, "admin-added@example.org", now=T0)
    assert warning in editor.get("/digests").text
    with_readers = cfg.digest.model_copy(update={"recipients": ["reader@example.org"]})
    env.curator.config = cfg.model_copy(update={"digest": with_readers})
    assert warning not in editor.get("/digests").text
    (env.tmp / "readers.txt").write_text("reader@example.org\nnot an address\n")
    from_file = cfg.digest.model_copy(update={"recipients_file": "readers.txt"})
    env.curator.config = cfg.model_copy(
        update={"digest": from_file, "path": str(env.tmp / "feeds.yaml")}
    )
    page = editor.get("/digests").text
    assert "The digest cannot be sent" in page and "readers.txt:2" in page
    off = cfg.digest.model_copy(update={"enabled": False})
    env.curator.config = cfg.model_copy(update={"digest": off})
    assert warning not in editor.get("/digests").text


def test_head_is_a_get_never_a_form_post(env: Env) -> None:
    """A monitor's HEAD must not count as a failed sign-in, nor sign anyone in without CSRF."""
    item = make_item(1)
    put(env.store, item)
    for _ in range(30):
        assert env.client.head("/login").status_code == 200
    assert env.client.request("HEAD", "/setup?token=x").status_code in (200, 403, 404)
    r = env.client.request(
        "HEAD", "/login", data={"name": EDITOR, "password": PASSWORD, "next": "/"}
    )
    assert r.status_code == 200 and "set-cookie" not in {k.lower() for k in r.headers}
    assert sign_in(env.client).status_code == 303  # not throttled by the HEADs
    assert env.client.head(f"/items/{item.id}/edit").status_code == 200
    assert env.item(item.id).status == "pending"


# --------------------------------------------------------------------------- near misses


def test_near_misses_are_listed_with_their_reason_and_promoted_to_the_queue(
    env: Env, editor: TestClient
) -> None:
    near = make_near_miss(1, title="Shop <script>alert(1)</script> fits CCTV")
    old = make_near_miss(2, seen_at=T0 - timedelta(days=31))  # not pruned yet: no poll since
    put_near_misses(env.store, near, old)
    page = editor.get("/near-misses")
    assert page.status_code == 200
    assert '<a href="/near-misses" aria-current="page">Near misses</a>' in page.text
    assert "Left out:</strong> scored 7, lacked a term from group &#39;policing&#39;" in page.text
    assert "Shop &lt;script&gt;alert(1)&lt;/script&gt; fits CCTV" in page.text
    assert "<script>alert" not in page.text
    assert old.candidate.entry.title not in page.text  # past the 30 days
    assert editor.get("/").text.count(near.id) == 0  # not in the queue

    r = post(editor, f"/near-misses/{near.id}/promote")
    assert r.status_code == 303 and r.headers["location"] == "/near-misses"
    item = env.item(near.id)
    assert (item.status, item.sources, item.score) == ("pending", ("src-a",), 7.0)
    assert item.why == near.candidate.why
    assert [e.action for e in item.history] == ["created", "promoted"]
    assert item.history[-1].by == EDITOR
    assert item.history[-1].note == "a near miss: scored 7, lacked a term from group 'policing'"
    assert env.store.get_near_miss(near.id) is None
    listing = editor.get("/near-misses").text
    assert "Promoted to the queue" in listing
    assert near.id not in listing
    assert near.id in editor.get("/").text

    # The same form sent again (a second click, a second editor) changes nothing.
    again = post(editor, f"/near-misses/{near.id}/promote")
    assert again.status_code == 303
    assert "no longer here" in editor.get("/near-misses").text
    assert env.item(near.id).history == item.history


def test_promoting_a_story_already_in_the_store_merges_into_it(
    env: Env, editor: TestClient
) -> None:
    title = "Police fit CCTV at supermarket tills in the town"
    stored = replace(make_item(1, title=title), title_key=normalize.title_key(title))
    put(env.store, stored)
    near = make_near_miss(9, title=stored.title, source_id="src-b")
    put_near_misses(env.store, near)
    post(editor, f"/near-misses/{near.id}/promote")
    merged = env.item(stored.id)
    assert merged.sources == ("src-a", "src-b")
    assert merged.urls == (near.candidate.entry.url,)
    assert env.store.get_item(near.id) is None
    assert env.store.alias_of(near.id) == stored.id
    assert env.store.near_misses() == []


def test_a_near_miss_from_a_source_since_removed_keeps_its_category(
    env: Env, editor: TestClient
) -> None:
    near = replace(make_near_miss(3, source_id="gone-source"), category="research")
    put_near_misses(env.store, near)
    post(editor, f"/near-misses/{near.id}/promote")
    item = env.item(near.id)
    assert (item.sources, item.category) == (("gone-source",), "research")


def test_near_misses_come_a_page_at_a_time(env: Env, editor: TestClient) -> None:
    size = env.curator.config.web.page_size
    near = [make_near_miss(n, seen_at=T0 - timedelta(minutes=n)) for n in range(size + 1)]
    put_near_misses(env.store, *near)
    first = editor.get("/near-misses").text
    assert first.count('class="item near-miss"') == size
    assert "Page 1 of 2" in first and '<a href="/near-misses?page=2" rel="next">' in first
    assert near[0].id in first and near[-1].id not in first  # latest seen first
    second = editor.get("/near-misses?page=2").text
    assert second.count('class="item near-miss"') == 1 and near[-1].id in second
    assert editor.get("/near-misses?page=0").status_code == 400
