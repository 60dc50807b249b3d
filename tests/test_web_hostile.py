"""Attacks on the editor's web app (issue #9), each reproduced against the real app: oversized
and lying bodies, hostile numbers and tokens, cross-site posts, sign-in lock-outs, look-alike
editor names and a store the disk will not write.

A real Curator on a fresh TinyDB store; Starlette's TestClient for requests, httpx's
ASGITransport where the test must see how much of a streamed body the app read.
"""

from __future__ import annotations

import asyncio
import logging
import resource
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from starlette.applications import Starlette
from starlette.routing import Route
from starlette.testclient import TestClient

from curator import auth, cli
from curator.core import Curator
from curator.exceptions import UserError
from curator.store import Store
from curator.web import create_app
from curator.web._numbers import BadNumber, strict_int
from curator.web._security import MAX_BODY
from tests.webkit import (
    EDITOR,
    FAST_HASHER,
    PASSWORD,
    Ticker,
    add_editor,
    config,
    csrf_of,
    curator_on,
    make_item,
    put,
)

PAIR, PER_ADDRESS, PER_ACCOUNT, WINDOW, PACE = 3, 50, 8, 900.0, 5.0


@dataclass
class Env:
    curator: Curator
    app: Starlette
    ticker: Ticker
    tmp: Path

    @property
    def store(self) -> Store:
        return self.curator.store

    def client(self, address: str = "testclient", **kwargs: object) -> TestClient:
        return TestClient(
            self.app,
            follow_redirects=False,
            client=(address, 50000),
            **kwargs,  # type: ignore[arg-type]
        )


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Env]:
    monkeypatch.setenv("CURATOR_SECRET_KEY", "hostile-tests-secret-key-0123456789abcdef")
    cur = curator_on(tmp_path / "store", config([("src-a", "Source A", "http://127.0.0.1:9/")]))
    ticker = Ticker()
    throttle = auth.SignInThrottle(
        per_pair=PAIR,
        per_address=PER_ADDRESS,
        per_account=PER_ACCOUNT,
        window=WINDOW,
        pace=PACE,
        free=PAIR,  # no exponential slowdown here: the windows and the pace are under test
        clock=ticker,
    )
    app = create_app(cur, password_hasher=FAST_HASHER, throttle=throttle)
    add_editor(cur.store)
    yield Env(cur, app, ticker, tmp_path)
    asyncio.run(cur.aclose())


def sign_in(
    client: TestClient, name: str = EDITOR, password: str = PASSWORD, **headers: str
) -> httpx.Response:
    page = client.get("/login")
    data = {"csrf": csrf_of(page.text), "name": name, "password": password, "next": "/"}
    r: httpx.Response = client.post("/login", data=data, headers=headers)
    return r


def signed_in(env: Env, address: str = "testclient") -> TestClient:
    client = env.client(address)
    assert sign_in(client).status_code == 303
    return client


def token(client: TestClient) -> str:
    return csrf_of(client.get("/account").text)


# --------------------------------------------------------------------------- bodies (#9.2)

CHUNK = 64 * 1024


async def _post_streamed(
    app: Starlette, total: int, headers: dict[str, str | bytes] | None = None
) -> tuple[int, int]:
    """POST /login a form body of ``total`` bytes in 64 KB chunks, the X-CSRF-Token header
    carrying the session's token; (status, bytes the app pulled from the stream)."""
    pulled = 0

    async def body() -> AsyncIterator[bytes]:
        nonlocal pulled
        chunk = b"name=" + b"a" * (CHUNK - 5)
        while pulled < total:
            pulled += len(chunk)
            yield chunk

    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
        csrf = csrf_of((await c.get("/login")).text)
        r = await c.post(
            "/login",
            content=body(),
            headers={
                "Content-Type": "application/x-www-form-urlencoded",
                "X-CSRF-Token": csrf,
                **(headers or {}),
            },
        )
    return r.status_code, pulled


def test_a_streamed_body_is_cut_off_at_the_limit(env: Env) -> None:
    """1 GB chunked, the token in the header (so the CSRF check never reads the body): the
    app stops pulling at the limit instead of parsing a gigabyte."""
    status, pulled = asyncio.run(_post_streamed(env.app, 1 << 30))
    assert status == 413
    assert pulled <= MAX_BODY + CHUNK


def test_a_body_longer_than_its_content_length_is_cut_off(env: Env) -> None:
    status, pulled = asyncio.run(
        _post_streamed(env.app, 64 << 20, headers={"Content-Length": "100"})
    )
    assert status == 413
    assert pulled <= MAX_BODY + CHUNK


def test_a_declared_length_over_the_limit_is_refused_unread(env: Env) -> None:
    status, pulled = asyncio.run(
        _post_streamed(env.app, 1 << 30, headers={"Content-Length": str(1 << 30)})
    )
    assert (status, pulled) == (413, 0)


def test_a_body_under_the_limit_still_signs_in(env: Env) -> None:
    client = env.client()
    csrf = csrf_of(client.get("/login").text)
    r = client.post(
        "/login",
        content=f"name={EDITOR}&password={PASSWORD.replace(' ', '+')}&next=/&pad={'x' * 200_000}",
        headers={"Content-Type": "application/x-www-form-urlencoded", "X-CSRF-Token": csrf},
    )
    assert r.status_code == 303


def test_multipart_is_refused_before_it_is_spooled(env: Env) -> None:
    client = env.client()
    csrf = csrf_of(client.get("/login").text)
    r = client.post(
        "/login",
        files={"upload": ("big.bin", b"x" * 1000)},
        data={"name": EDITOR, "password": PASSWORD},
        headers={"X-CSRF-Token": csrf},
    )
    assert r.status_code == 415
    assert "file uploads" in r.text
    assert r.headers["x-frame-options"] == "DENY"  # refusals carry the security headers


@pytest.mark.parametrize("value", ["²", "1" * 5000, "-1", "1e9", "0x10", "12 3"])
def test_a_content_length_that_is_not_a_number_is_a_400(env: Env, value: str) -> None:
    headers: dict[str, str | bytes] = {"Content-Length": value.encode()}
    status, pulled = asyncio.run(_post_streamed(env.app, CHUNK, headers=headers))
    assert (status, pulled) == (400, 0)


def test_the_limit_is_a_setting(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CURATOR_SECRET_KEY", "hostile-tests-secret-key-0123456789abcdef")
    cfg = config()
    cfg = cfg.model_copy(update={"web": cfg.web.model_copy(update={"max_body": 4096})})
    cur = curator_on(tmp_path / "store", cfg)
    try:
        status, pulled = asyncio.run(_post_streamed(create_app(cur), 1 << 20))
    finally:
        asyncio.run(cur.aclose())
    assert status == 413 and pulled <= 4096 + CHUNK


# --------------------------------------------------------------------------- numbers (#9.7)

HOSTILE_NUMBERS = ["²", "٣", "１", "9" * 5000, "-1", "0", " 1", "1_0", "1e3", "+1", "\x00", "€"]


def test_strict_int() -> None:
    assert strict_int("42", name="n") == 42
    assert strict_int("007", name="n", low=1, high=10) == 7
    for bad in (*HOSTILE_NUMBERS, "", "11", "1" * 19):
        if bad in ("0",):
            continue
        with pytest.raises(BadNumber, match="n must be a whole number from 1 to 10"):
            strict_int(bad, name="n", low=1, high=10)
    with pytest.raises(BadNumber, match="from 1 to 10, not 0"):
        strict_int("0", name="n", low=1, high=10)
    with pytest.raises(BadNumber) as caught:
        strict_int("9" * 5000, name="n")
    assert len(str(caught.value)) < 200  # the value is clipped, not echoed whole


@dataclass(frozen=True)
class Case:
    """One parameter of one route, and what a hostile value there must get."""

    method: str
    path: str
    field: str
    numeric: bool  # a number: a bad one is a 400; otherwise anything but a 500


def _cases(item_id: str) -> list[Case]:
    gets = [
        *(Case("GET", p, "page", True) for p in ("/", "/approved", "/rejected", "/items")),
        *(Case("GET", "/", f, False) for f in ("status", "source", "category", "q")),
        *(Case("GET", p, "limit", True) for p in ("/links.json", "/links.rss", "/links.atom")),
        Case("GET", "/embed", "limit", True),
        Case("GET", "/embed", "summaries", True),
        Case("GET", "/embed", "dates", True),
        Case("GET", "/embed", "category", False),
        Case("GET", "/login", "next", False),
        Case("GET", "/setup", "token", False),
        Case("GET", f"/items/{item_id}/edit", "next", False),
    ]
    posts = [
        Case("POST", f"/items/{item_id}/undo", f"expect-{item_id}", True),
        Case("POST", f"/items/{item_id}/edit", "updated_at", True),
        Case("POST", f"/items/{item_id}/approve", "next", False),
        Case("POST", "/items/bulk", "ids", False),
        Case("POST", "/add/save", "published", False),
        Case("POST", "/add/fetch", "url", False),
        Case("POST", "/login", "name", False),
        Case("POST", "/account", "current", False),
    ]
    return gets + posts


def _valid(case: Case, value: str) -> bool:
    """The hostile values that are in fact fine there: version 0 (the item's history is
    empty), and a limit with spaces around it (the public feeds strip them)."""
    if value == "0":
        return case.field.startswith(("expect-", "updated_at", "summaries", "dates"))
    return value == " 1" and case.path.startswith(("/links", "/embed"))


def test_hostile_values_in_every_parameter_are_never_a_500(env: Env) -> None:
    """Table-driven: each route's parameters get each hostile value; numbers answer 400 with
    a message naming the parameter, everything else anything but a 500."""
    item = make_item(1, status="approved")
    put(env.store, item)
    client = signed_in(env)
    client = TestClient(
        env.app, follow_redirects=False, raise_server_exceptions=False, cookies=client.cookies
    )
    csrf = token(client)
    base = {  # the item's own values: a form that gets through changes nothing
        "title": item.title,
        "summary": item.summary_text,
        "category": item.category,
        "note": "",
        "url": "https://news.example.org/new",
        "updated_at": str(len(item.history)),
    }
    failures = []
    for case in _cases(item.id):
        for value in [*HOSTILE_NUMBERS, "%", "<script>", "/" * 3000]:
            if case.method == "GET":
                r = client.get(case.path, params={case.field: value})
            else:
                data = {**base, "csrf": csrf, case.field: value}
                r = client.post(case.path, data=data)
            expected_400 = case.numeric and not _valid(case, value)
            if r.status_code >= 500 or (expected_400 and r.status_code != 400):
                failures.append((case, value[:20], r.status_code, r.text[:200]))
            elif expected_400 and case.field not in ("summaries", "dates"):
                name = "version" if case.field.startswith(("expect-", "updated")) else case.field
                assert name in r.text, (case, value[:20], r.text[:300])
    assert not failures, "\n".join(map(str, failures))
    assert env.store.get_item(item.id) == item  # nothing hostile was written


@pytest.mark.parametrize(
    "path", ["/items/%C2%B2", "/items/" + "f" * 5000, "/digests/%E2%82%AC", "/items/zz/edit"]
)
def test_hostile_ids_in_paths_are_404s(env: Env, path: str) -> None:
    client = signed_in(env)
    assert client.get(path).status_code == 404


def test_a_non_latin1_csrf_value_is_a_403(env: Env) -> None:
    client = env.client(raise_server_exceptions=False)
    client.get("/login")
    for value in ("€" * 43, "é", "%ED%A0%80", "%FF"):  # the last two: not UTF-8 at all
        r = client.post(
            "/login",
            content=f"csrf={value}&name={EDITOR}",
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        )
        assert r.status_code == 403, value
    r = client.post("/login", headers={"X-CSRF-Token": "€".encode()})
    assert r.status_code == 403


def test_hostile_conditional_headers_on_public_pages(env: Env) -> None:
    client = env.client(raise_server_exceptions=False)
    for value in ("²", "Mon, 99 Jan 99999999 99:99:99 GMT", "\x00" * 10, "9" * 5000):
        for header in ("If-Modified-Since", "If-None-Match"):
            r = client.get("/links.json", headers={header: value.encode()})
            assert r.status_code == 200


# --------------------------------------------------------------------------- CSRF


def _form_posts(app: Starlette, item_id: str) -> list[str]:
    return [
        r.path.replace("{item_id}", item_id).replace("{source_id}", "src-a")
        for r in app.routes
        if isinstance(r, Route) and r.methods and "POST" in r.methods
    ]


def _same_length_wrong(good: str) -> str:
    flipped = "A" if good[0] != "A" else "B"
    return flipped + good[1:]


def test_every_form_post_is_listed(env: Env) -> None:
    paths = _form_posts(env.app, "x")
    assert {"/login", "/logout", "/setup", "/account", "/items/bulk", "/add/save"} <= set(paths)


@pytest.mark.parametrize(
    "path",
    [
        "/login",
        "/logout",
        "/setup",
        "/account",
        "/items/bulk",
        "/items/{id}/approve",
        "/items/{id}/reject",
        "/items/{id}/undo",
        "/items/{id}/reopen",
        "/items/{id}/edit",
        "/add/fetch",
        "/add/save",
        "/sources/src-a/poll",
    ],
)
def test_a_missing_wrong_or_same_length_wrong_token_is_a_403(env: Env, path: str) -> None:
    """A comparison reduced to a length check, or to a prefix, would let these through."""
    item = make_item(1)
    put(env.store, item)
    path = path.replace("{id}", item.id)
    assert path in _form_posts(env.app, item.id)
    client = signed_in(env)
    good = token(client)
    data = {"ids": item.id, "action": "approve", "name": EDITOR, "password": PASSWORD}
    for supplied in (None, "", "x", _same_length_wrong(good), good[:-1], good + "x"):
        form = data if supplied is None else {**data, "csrf": supplied}
        assert client.post(path, data=form).status_code == 403, (path, supplied)
        if supplied:
            r = client.post(path, headers={"X-CSRF-Token": supplied})
            assert r.status_code == 403, (path, supplied)
    assert env.store.get_item(item.id) == item
    assert client.get("/account").status_code == 200  # still signed in: logout refused too


# --------------------------------------------------------------------------- origin (#9.11)


def _approve(client: TestClient, item_id: str, **headers: str) -> int:
    r = client.post(f"/items/{item_id}/approve", data={"csrf": token(client)}, headers=headers)
    return r.status_code


@pytest.mark.parametrize(
    "headers",
    [
        {"Origin": "http://evil.example"},
        {"Origin": "null"},
        {"Origin": "http://testserver.evil.example"},
        {"Origin": "http://testserver:8080"},
        {"Origin": "http://testserver:http"},
        {"Origin": "ftp://testserver"},
        {"Sec-Fetch-Site": "cross-site"},
        {"Origin": "http://testserver", "Sec-Fetch-Site": "cross-site"},
    ],
)
def test_a_post_from_another_site_is_a_403_even_with_the_token(
    env: Env, headers: dict[str, str]
) -> None:
    item = make_item(1)
    put(env.store, item)
    client = signed_in(env)
    assert _approve(client, item.id, **headers) == 403
    assert env.store.get_item(item.id) == item


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Origin": "http://testserver"},
        {"Origin": "HTTP://TestServer:80"},
        {"Origin": "https://testserver"},  # TLS ended at a proxy that did not say so
        {"Sec-Fetch-Site": "same-origin"},
        {"Sec-Fetch-Site": "none"},
    ],
)
def test_a_post_from_this_site_or_without_origin_goes_through(
    env: Env, headers: dict[str, str]
) -> None:
    item = make_item(1)
    put(env.store, item)
    client = signed_in(env)
    assert _approve(client, item.id, **headers) == 303
    assert env.store.get_item(item.id).status == "approved"  # type: ignore[union-attr]


def test_over_https_an_http_origin_is_refused(env: Env) -> None:
    item = make_item(1)
    put(env.store, item)
    client = TestClient(env.app, base_url="https://links.example.org", follow_redirects=False)
    assert sign_in(client).status_code == 303
    assert _approve(client, item.id, Origin="http://links.example.org") == 403
    assert _approve(client, item.id, Origin="https://links.example.org:443") == 303


def test_a_sign_in_form_posted_from_another_site_is_refused(env: Env) -> None:
    client = env.client()
    r = sign_in(client, Origin="https://evil.example")
    assert r.status_code == 403
    assert "another site" in r.text


# --------------------------------------------------------------------------- lock-out (#9.8)


def test_wrong_passwords_lock_out_only_the_address_they_came_from(env: Env) -> None:
    attacker, editor = env.client("203.0.113.7"), env.client("198.51.100.2")
    for _ in range(PAIR):
        assert sign_in(attacker, password="guess guess guess").status_code == 401
    refused = sign_in(attacker)  # even the right password, from there
    assert refused.status_code == 429
    assert 0 < int(refused.headers["retry-after"]) <= WINDOW
    # Renewed window after window, it never reaches the editor somewhere else.
    for _ in range(3):
        env.ticker.advance(WINDOW + 1)
        for _ in range(PAIR):
            assert sign_in(attacker, password="guess guess guess").status_code == 401
        assert sign_in(editor).status_code == 303
        editor.cookies.clear()


def test_guesses_from_many_addresses_pace_the_account_but_never_lock_it(env: Env) -> None:
    for n in range(PER_ACCOUNT):
        r = sign_in(env.client(f"203.0.113.{n}"), password="guess guess guess")
        assert r.status_code == 401
    editor = env.client("198.51.100.2")
    paced = sign_in(editor)
    assert paced.status_code == 429
    assert 0 < int(paced.headers["retry-after"]) <= PACE
    env.ticker.advance(PACE)
    assert sign_in(editor).status_code == 303
    # The guessers are held to the pace too: one attempt per PACE seconds, all together.
    env.ticker.advance(PACE)
    assert sign_in(env.client("203.0.113.200"), password="guess again!").status_code == 401
    assert sign_in(env.client("203.0.113.201"), password="guess again!").status_code == 429


def _locked_out(env: Env) -> TestClient:
    client = env.client("203.0.113.7")
    for _ in range(PAIR):
        assert sign_in(client, password="guess guess guess").status_code == 401
    assert sign_in(client).status_code == 429
    return client


def test_curator_user_unlock_clears_a_lock_out_in_the_running_app(
    env: Env, capsys: pytest.CaptureFixture[str]
) -> None:
    client = _locked_out(env)
    cfg = env.tmp / "feeds.yaml"
    cfg.write_text("sources: []\n")
    code = cli.main(
        ["--config", str(cfg), "--store", str(env.store.path), "user", "unlock", "EDITOR"]
    )
    assert code == 0
    assert f"unlocked editor {EDITOR}" in capsys.readouterr().out
    assert sign_in(client).status_code == 303

    code = cli.main(
        ["--config", str(cfg), "--store", str(env.store.path), "user", "unlock", "nobody"]
    )
    assert code == 1
    assert "no editor named 'nobody'" in capsys.readouterr().err


def test_a_new_password_clears_a_lock_out(env: Env) -> None:
    client = _locked_out(env)
    auth.change_password(env.store, EDITOR, "another long password", hasher=FAST_HASHER)
    assert sign_in(client, password="another long password").status_code == 303


# --------------------------------------------------------------------------- names (#9.11)


def test_editor_names_refuse_a_trailing_newline_and_case_twins(env: Env) -> None:
    for bad in ("alice\n", "alice\r\n", "\nalice", "al ice"):
        with pytest.raises(UserError, match="not a usable editor name"):
            auth.validate_name(bad)
    for twin in ("EDITOR", "Editor"):
        with pytest.raises(UserError, match="already exists"):
            auth.add_user(env.store, twin, PASSWORD, hasher=FAST_HASHER)
    assert [u.name for u in env.store.users()] == [EDITOR]


def test_sign_in_by_any_case_of_the_name(env: Env) -> None:
    client = env.client()
    assert sign_in(client, name="EDITOR").status_code == 303
    page = client.get("/account")
    assert page.status_code == 200 and EDITOR in page.text
    # and the lock-out counts the name case-folded: three spellings, one account
    guesser = env.client("203.0.113.9")
    for name in ("Editor", "EDITOR", "editor"):
        assert sign_in(guesser, name=name, password="guess guess guess").status_code == 401
    assert sign_in(guesser, name="eDiToR").status_code == 429


# --------------------------------------------------------------------------- full disk (#9.9)


@pytest.fixture
def disk_full() -> Iterator[None]:
    """Writes to files fail with EFBIG, for this process only, as on a full disk (root is
    not stopped by permissions; a file-size limit stops everyone).  CPython ignores SIGXFSZ,
    so the failing write raises instead of killing the process."""
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    resource.setrlimit(resource.RLIMIT_FSIZE, (0, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))


def test_sign_out_ends_the_session_when_the_store_cannot_be_written(
    env: Env, request: pytest.FixtureRequest, caplog: pytest.LogCaptureFixture
) -> None:
    client = signed_in(env)
    copy = TestClient(env.app, follow_redirects=False, cookies=dict(client.cookies))
    assert copy.get("/account").status_code == 200
    request.getfixturevalue("disk_full")
    with caplog.at_level(logging.INFO, logger="curator.web"):
        r = client.post("/logout", data={"csrf": token(client)})
        assert r.status_code == 303 and r.headers["location"] == "/login"
        assert client.get("/account").status_code == 303  # this browser
        assert copy.get("/account").status_code == 303  # a copy of its cookie
    assert "in memory only" in caplog.text and "signed out name=editor" in caplog.text
    # Signing in again works, and a later recorded sign-out still ends that session.
    assert sign_in(client).status_code == 303
    assert client.get("/account").status_code == 200


def test_a_refused_approval_is_a_503_and_is_not_logged(
    env: Env, request: pytest.FixtureRequest, caplog: pytest.LogCaptureFixture
) -> None:
    item = make_item(1)
    put(env.store, item)
    client = signed_in(env)
    csrf = token(client)
    request.getfixturevalue("disk_full")
    with caplog.at_level(logging.INFO):
        r = client.post(f"/items/{item.id}/approve", data={"csrf": csrf})
        edit = client.post(
            f"/items/{item.id}/edit",
            data={
                "csrf": csrf,
                "title": "A new title",
                "summary": item.summary_text,
                "category": "news",
                "note": "",
                "updated_at": str(len(item.history)),
                "then": "approve",
            },
        )
    assert r.status_code == 503 and "cannot be written" in r.text
    assert edit.status_code == 503
    assert "approved item=" not in caplog.text and "edited item=" not in caplog.text
    assert env.store.get_item(item.id) == item


def test_save_and_approve_logs_both_once_the_write_is_done(
    env: Env, caplog: pytest.LogCaptureFixture
) -> None:
    item = make_item(1)
    put(env.store, item)
    client = signed_in(env)
    form = {
        "csrf": token(client),
        "title": "A new title",
        "summary": item.summary_text,
        "category": "news",
        "note": "",
        "updated_at": str(len(item.history)),
        "then": "approve",
    }
    with caplog.at_level(logging.INFO, logger="curator.review"):
        assert client.post(f"/items/{item.id}/edit", data=form).status_code == 303
    lines = [r.getMessage() for r in caplog.records if r.name == "curator.review"]
    assert lines == [
        f"edited item={item.id} by={EDITOR} fields=title",
        f"approved item={item.id} by={EDITOR}",
    ]
    assert env.store.get_item(item.id).status == "approved"  # type: ignore[union-attr]


def test_behind_a_tls_proxy_the_origin_is_the_https_one(env: Env) -> None:
    """uvicorn's proxy-headers layer (what `serve --proxy-headers` adds) makes the scheme
    https from X-Forwarded-Proto; Host is passed through: only https://<host> may post."""
    from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

    item = make_item(1)
    put(env.store, item)
    proxied = ProxyHeadersMiddleware(env.app, trusted_hosts="*")
    # The proxy speaks plain http to us, so the Secure session cookie is carried by hand.
    client = TestClient(proxied, base_url="http://links.example.org", follow_redirects=False)
    jar = {"X-Forwarded-Proto": "https", "X-Forwarded-For": "198.51.100.2"}

    def keep(r: httpx.Response) -> httpx.Response:
        for name, value in r.cookies.items():
            jar["Cookie"] = f"{name}={value}"
        return r

    page = keep(client.get("/login", headers=jar))
    data = {"csrf": csrf_of(page.text), "name": EDITOR, "password": PASSWORD, "next": "/"}
    assert keep(client.post("/login", data=data, headers=jar)).status_code == 303
    csrf = csrf_of(keep(client.get("/account", headers=jar)).text)
    for origin, status in (("http://links.example.org", 403), ("https://links.example.org", 303)):
        r = client.post(
            f"/items/{item.id}/approve", data={"csrf": csrf}, headers={**jar, "Origin": origin}
        )
        assert r.status_code == status, origin
    assert env.store.get_item(item.id).status == "approved"  # type: ignore[union-attr]
