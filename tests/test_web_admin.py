"""The administrators' pages and the readers' unsubscribe link (web/_admin.py).

Route tests through Starlette's TestClient; the unsubscribe link end to end: a digest received
by a real SMTP server (aiosmtpd), its List-Unsubscribe URL POSTed as a mailbox provider does
(RFC 8058) to the app served by uvicorn over https (a trustme certificate).
"""

from __future__ import annotations

import asyncio
import re
import socket
import ssl
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
import trustme
import uvicorn
from starlette.applications import Starlette
from starlette.testclient import TestClient

from curator import auth, digests, subscribers
from curator.config import Config
from curator.core import Curator
from curator.mailer import Mailer
from curator.store import TinyDBStore
from curator.web import create_app
from tests.smtpserver import SmtpServer, smtp_server
from tests.webkit import (
    EDITOR,
    FAST_HASHER,
    PASSWORD,
    Clock,
    Ticker,
    add_editor,
    config,
    csrf_of,
    curator_on,
    make_item,
    put,
)

READER = "reader@example.org"
LINK = re.compile(r"<(https://[^>]+/unsubscribe/[^>]+)>")


def _config(base_url: str = "https://curator.example.org", smtp_port: int = 25) -> Config:
    cfg = config()
    digest = cfg.digest.model_copy(
        update={
            "sender": "CCTV links <links@example.org>",
            "recipients": [READER],
            "smtp": cfg.digest.smtp.model_copy(update={"host": "127.0.0.1", "port": smtp_port}),
        }
    )
    publish = cfg.publish.model_copy(update={"base_url": base_url})
    return cfg.model_copy(update={"digest": digest, "publish": publish})


@pytest.fixture
def cur(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Curator]:
    monkeypatch.delenv("CURATOR_SECRET_KEY", raising=False)
    c = curator_on(tmp_path / "store", _config())
    add_editor(c.store)  # the first account: an administrator
    auth.add_user(c.store, "bob", PASSWORD, hasher=FAST_HASHER)  # an editor
    try:
        yield c
    finally:
        asyncio.run(c.aclose())


@pytest.fixture
def ticker() -> Ticker:
    return Ticker()


@pytest.fixture
def app(cur: Curator, ticker: Ticker) -> Starlette:
    throttle = auth.SignInThrottle(
        per_pair=3, per_address=10, per_account=10, window=600, free=2, clock=ticker
    )
    return create_app(cur, password_hasher=FAST_HASHER, throttle=throttle)


def client_for(app: Starlette) -> TestClient:
    return TestClient(app, base_url="https://testserver", follow_redirects=False)


def try_sign_in(client: TestClient, name: str, password: str) -> httpx.Response:
    page = client.get("/login")
    r: httpx.Response = client.post(
        "/login", data={"csrf": csrf_of(page.text), "name": name, "password": password}
    )
    return r


def signed_in(app: Starlette, name: str = EDITOR, password: str = PASSWORD) -> TestClient:
    client = client_for(app)
    r = try_sign_in(client, name, password)
    assert r.status_code == 303, r.text
    return client


def post(client: TestClient, url: str, **data: str) -> httpx.Response:
    token = csrf_of(client.get("/account").text)
    r: httpx.Response = client.post(url, data={"csrf": token, **data})
    return r


def temporary_password(page: str) -> str:
    m = re.search(r'<code id="temporary-password">([^<]+)</code>', page)
    assert m, "no temporary password on the page"
    return m.group(1)


ADMIN_PAGES = ["/admin/editors", "/admin/subscribers"]
ADMIN_POSTS = [
    ("/admin/editors", {"name": "mallory", "admin": "yes"}),
    ("/admin/editors/editor/password", {}),
    ("/admin/editors/editor/remove", {}),
    ("/admin/editors/editor/unlock", {}),
    ("/admin/subscribers", {"address": "x@example.org"}),
    ("/admin/subscribers/remove", {"address": READER}),
]


def test_editors_who_are_not_administrators_get_403(cur: Curator, app: Starlette) -> None:
    bob = signed_in(app, "bob")
    for path in ADMIN_PAGES:
        r = bob.get(path)
        assert r.status_code == 403, path
    for path, data in ADMIN_POSTS:
        assert post(bob, path, **data).status_code == 403, path
    assert cur.store.get_user("mallory") is None and cur.store.get_user(EDITOR) is not None
    assert subscribers.readers(cur.config, cur.store) == [READER]
    assert 'href="/admin/editors"' not in bob.get("/").text  # no nav link either
    anonymous = client_for(app)
    for path in ADMIN_PAGES:
        r = anonymous.get(path)
        assert r.status_code == 303 and r.headers["location"].startswith("/login")


def test_the_administrator_adds_an_editor_with_a_temporary_password(
    cur: Curator, app: Starlette
) -> None:
    admin = signed_in(app)
    assert 'href="/admin/editors"' in admin.get("/").text
    page = admin.get("/admin/editors")
    assert page.status_code == 200
    rows = re.findall(r'<tr data-name="([^"]+)">\s*<td>[^<]*</td>\s*<td>(\w+)</td>', page.text)
    assert rows == [("bob", "editor"), ("editor", "administrator")]
    r = post(admin, "/admin/editors", name="carol", admin="yes")
    assert r.status_code == 200
    password = temporary_password(r.text)
    carol = cur.store.get_user("carol")
    assert carol is not None and carol.admin
    assert signed_in(app, "carol", password).get("/admin/editors").status_code == 200
    assert temporary_password(r.text) not in admin.get("/admin/editors").text  # shown once
    r = post(admin, "/admin/editors", name="<b>bad</b>")
    assert r.status_code == 400 and "&lt;b&gt;bad&lt;/b&gt;" in r.text and "<b>bad" not in r.text


def test_reset_password_ends_the_editors_sessions(cur: Curator, app: Starlette) -> None:
    admin = signed_in(app)
    bob = signed_in(app, "bob")
    assert bob.get("/").status_code == 200
    r = post(admin, "/admin/editors/bob/password")
    assert r.status_code == 200
    password = temporary_password(r.text)
    assert bob.get("/").status_code == 303  # the old session is over
    signed_in(app, "bob", password)
    assert try_sign_in(client_for(app), "bob", PASSWORD).status_code == 401


def test_remove_not_yourself(cur: Curator, app: Starlette) -> None:
    admin = signed_in(app)
    r = post(admin, f"/admin/editors/{EDITOR}/remove")
    assert r.status_code == 400 and "your own account" in r.text
    assert cur.store.get_user(EDITOR) is not None
    r = post(admin, "/admin/editors/bob/remove")
    assert r.status_code == 303 and cur.store.get_user("bob") is None
    assert "Removed bob" in admin.get(r.headers["location"]).text


def test_the_last_administrator_cannot_be_removed_by_another(cur: Curator, app: Starlette) -> None:
    """One administrator may remove another; the one left cannot remove themselves."""
    auth.add_user(cur.store, "carol", PASSWORD, hasher=FAST_HASHER, admin=True)
    carol = signed_in(app, "carol")
    assert post(carol, f"/admin/editors/{EDITOR}/remove").status_code == 303
    admin_flags = {u.name: u.admin for u in cur.store.users()}
    assert admin_flags == {"bob": False, "carol": True}
    r = post(carol, "/admin/editors/carol/remove")
    assert r.status_code == 400 and cur.store.get_user("carol") is not None


def test_the_account_the_setup_link_makes_is_an_administrator(tmp_path: Path) -> None:
    store = TinyDBStore(tmp_path / "fresh")
    token = auth.setup_link_token(store)
    assert token is not None
    first = auth.complete_setup(
        store, token, "ann", auth.hash_password(PASSWORD, hasher=FAST_HASHER)
    )
    second = auth.add_user(store, "ben", PASSWORD, hasher=FAST_HASHER)
    assert first.admin and not second.admin
    assert [u.name for u in auth.admins(store)] == ["ann"]


def test_unlock_clears_a_locked_out_editor(cur: Curator, app: Starlette, ticker: Ticker) -> None:
    admin = signed_in(app)
    guesser = client_for(app)
    for _ in range(3):
        assert try_sign_in(guesser, "bob", "not the password").status_code == 401
    assert signins_of(admin, "bob").startswith("locked: 3 failed")
    ticker.advance(60)  # past the slow-down, still inside the lock-out window
    assert try_sign_in(guesser, "bob", PASSWORD).status_code == 429
    r = post(admin, "/admin/editors/bob/unlock")
    assert r.status_code == 303
    assert signins_of(admin, "bob") == "ok"
    assert try_sign_in(guesser, "bob", PASSWORD).status_code == 303


def signins_of(client: TestClient, name: str) -> str:
    page = client.get("/admin/editors").text
    m = re.search(rf'<tr data-name="{name}">.*?<td class="signins">([^<]+)</td>', page, re.S)
    assert m, page
    return m.group(1)


def test_subscribers_listed_added_and_removed(cur: Curator, app: Starlette) -> None:
    admin = signed_in(app)
    page = admin.get("/admin/subscribers")
    assert page.status_code == 200 and READER in page.text and "feeds.yaml" in page.text
    r = post(admin, "/admin/subscribers", address="New Reader <new@example.org>")
    assert r.status_code == 303
    page = admin.get("/admin/subscribers")
    assert "New Reader &lt;new@example.org&gt;" in page.text and f"by {EDITOR}" in page.text
    r = post(admin, "/admin/subscribers", address="<script>x</script>")
    assert r.status_code == 400 and "&lt;script&gt;" in r.text and "<script>x" not in r.text
    assert post(admin, "/admin/subscribers/remove", address=READER).status_code == 303
    assert subscribers.readers(cur.config, cur.store) == ["New Reader <new@example.org>"]


def test_the_unsubscribe_page_asks_then_the_post_needs_no_session(
    cur: Curator, app: Starlette
) -> None:
    url = subscribers.one_click_url(cur.config, app.state.web.link_secret, READER)
    path = url.removeprefix("https://curator.example.org")
    reader = client_for(app)
    page = reader.get(path)
    assert page.status_code == 200 and READER in page.text
    assert f'<form method="post" action="{path}">' in page.text
    assert subscribers.readers(cur.config, cur.store) == [READER]  # a GET changes nothing
    # What a mailbox provider sends (RFC 8058): no cookie, no CSRF token, from elsewhere.
    r = client_for(app).post(
        path,
        content=b"List-Unsubscribe=One-Click",
        headers={"content-type": "application/x-www-form-urlencoded"},
    )
    assert r.status_code == 200 and "You are unsubscribed" in r.text
    assert subscribers.readers(cur.config, cur.store) == []
    assert "Not subscribed" in reader.get(path).text
    assert client_for(app).post(path).status_code == 200  # twice is harmless


def test_only_the_unsubscribe_post_skips_the_csrf_check(cur: Curator, app: Starlette) -> None:
    anonymous = client_for(app)
    assert anonymous.post("/unsubscribe/not-a-token").status_code == 404
    assert anonymous.get("/unsubscribe/not-a-token").status_code == 404
    for path in ("/unsubscribe/a/b", "/admin/subscribers/remove", "/login", "/unsubscribe"):
        assert anonymous.post(path, data={"address": READER}).status_code == 403, path
    assert subscribers.readers(cur.config, cur.store) == [READER]


@contextmanager
def https_app(cur: Curator, ca: trustme.CA, tmp_path: Path) -> Iterator[str]:
    """uvicorn serving the app over TLS from its own thread; the base URL."""
    pem = tmp_path / "server.pem"
    ca.issue_cert("127.0.0.1").private_key_and_cert_chain_pem.write_to_path(str(pem))
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.bind(("127.0.0.1", 0))
    sock.listen(16)
    server = uvicorn.Server(
        uvicorn.Config(
            create_app(cur, password_hasher=FAST_HASHER),
            log_level="warning",
            lifespan="off",
            ssl_certfile=str(pem),
            ssl_keyfile=str(pem),
        )
    )
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        yield f"https://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(timeout=30)
        sock.close()


def send_digest(cur: Curator, server: SmtpServer, base_url: str) -> str:
    """Send a digest with one approved item to the readers; the one-click URL received."""
    cfg = _config(base_url=base_url, smtp_port=server.port)
    put(cur.store, make_item(1, status="approved"))
    result = digests.send_due(cfg, cur.store, Mailer(cfg.digest.smtp), clock=Clock(), force=True)
    assert result.outcome == "sent", result.message
    [received] = server.messages
    msg = received.message
    assert received.rcpt_tos == [READER]
    assert msg["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    m = LINK.match(str(msg["List-Unsubscribe"]))
    assert m, msg["List-Unsubscribe"]
    return m.group(1)


def test_a_received_digests_one_click_link_unsubscribes_over_https(
    cur: Curator, tmp_path: Path
) -> None:
    ca = trustme.CA()
    with https_app(cur, ca, tmp_path) as base, smtp_server() as server:
        url = send_digest(cur, server, base)
        assert url.startswith(base + "/unsubscribe/")
        context = ssl.create_default_context()
        ca.configure_trust(context)
        with httpx.Client(verify=context) as provider:
            r = provider.post(url, data={"List-Unsubscribe": "One-Click"})
        assert r.status_code == 200, r.text
    assert subscribers.readers(cur.config, cur.store) == []
    assert subscribers.readers(cur.config, type(cur.store)(cur.store.path)) == []  # on disk
