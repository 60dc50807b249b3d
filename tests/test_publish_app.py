"""The public endpoints inside the whole web app (``create_app`` on a real Curator and store),
where the editor's session, the security layers and the other routes live beside them: what
the editor's pages say about publishing, and what the public answers never carry."""

from __future__ import annotations

import asyncio
import gzip
import json
import os
import re
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime, parsedate_to_datetime
from pathlib import Path

import httpx
import pytest
from starlette.testclient import TestClient

from curator.config import Publish
from curator.core import Curator
from curator.exceptions import PublishError, StoreError
from curator.publish import export
from curator.store import TinyDBStore
from curator.types import Item
from curator.web import create_app
from tests.test_publish import make_item, put
from tests.webkit import EDITOR, FAST_HASHER, PASSWORD, T0, Clock, add_editor, config, csrf_of
from tests.webkit import curator_on as _curator_on

BASE = "https://curator.example.org"


@dataclass
class App:
    curator: Curator
    client: TestClient
    clock: Clock


def start(store: Path, clock: Clock, **publish: object) -> App:
    cfg = config().model_copy(update={"publish": Publish(base_url=BASE, **publish)})  # type: ignore[arg-type]
    cur = _curator_on(store, cfg, clock)
    client = TestClient(create_app(cur, password_hasher=FAST_HASHER), base_url=BASE)
    return App(cur, client, clock)


def stop(app: App) -> None:
    app.client.close()
    asyncio.run(app.curator.aclose())


@pytest.fixture
def app(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[App]:
    monkeypatch.setenv("CURATOR_SECRET_KEY", "k" * 48)
    a = start(tmp_path / "store", Clock())
    add_editor(a.curator.store)
    try:
        yield a
    finally:
        stop(a)


def sign_in(client: TestClient) -> None:
    page = client.get("/login")
    r = client.post(
        "/login",
        data={"csrf": csrf_of(page.text), "name": EDITOR, "password": PASSWORD, "next": "/"},
        follow_redirects=False,
    )
    assert r.status_code == 303, r.text


def card(page: str, item: Item) -> str:
    """The part of a list page about one item."""
    m = re.search(rf'<article [^>]*id="item-{item.id}".*?</article>', page, re.S)
    assert m, f"no card for {item.id}"
    return m.group(0)


# --------------------------------------------------------------------------- the editor's view


def test_the_editor_sees_which_approved_items_are_not_published(app: App) -> None:
    recent = make_item(1, published=T0 - timedelta(days=1), reviewed_at=T0 - timedelta(hours=2))
    evaluation = make_item(
        2,
        title="2019 evaluation of police CCTV",
        category="research",
        published=datetime(2019, 5, 1, tzinfo=UTC),
        reviewed_at=T0 - timedelta(hours=1),
    )
    forgotten = make_item(3, reviewed_at=T0 - timedelta(days=400))
    put(app.curator.store, recent, evaluation, forgotten)
    sign_in(app.client)

    page = app.client.get("/approved").text
    assert "Not on the website" not in card(page, recent)
    assert "Not on the website" not in card(page, evaluation)  # approved today: published
    assert (
        "Not on the website: approved 4 Feb 2024, longer ago than 365 days (publish.max_age)."
        in card(page, forgotten)
    )
    assert (
        "Not on the website: approved 4 Feb 2024" in app.client.get(f"/items/{forgotten.id}").text
    )

    listed = app.client.get("/links.json").json()
    assert [i["title"] for i in listed["items"]] == [recent.title, evaluation.title]


# --------------------------------------------------------------------------- public answers

PUBLIC = ["/links.json", "/links.rss", "/links.atom", "/embed", "/embed.js"]


@pytest.mark.parametrize("path", PUBLIC)
def test_public_answers_never_set_the_session_cookie(app: App, path: str) -> None:
    put(app.curator.store, make_item(1, reviewed_at=T0 - timedelta(hours=1)))
    for signed_in in (False, True):
        if signed_in:
            sign_in(app.client)
            assert app.client.cookies.get("curator_session")
        answers = [
            app.client.get(path),
            app.client.head(path),
            app.client.get(path + "?limit=nope"),
            app.client.options(path, headers={"Origin": "https://www.example.org"}),
            app.client.post(path),
            app.client.delete(path),
        ]
        for r in answers:
            assert "set-cookie" not in r.headers, (signed_in, r.request.method, r.status_code)
    statuses = [r.status_code for r in answers]
    assert statuses[:2] == [200, 200]
    assert statuses[3:] == [204, 405, 405]
    assert answers[4].headers["allow"] == "GET, HEAD, OPTIONS"
    assert answers[4].text == "POST is not allowed here; use GET.\n"


def test_the_cors_preflight_of_links_json(app: App) -> None:
    r = app.client.options(
        "/links.json",
        headers={
            "Origin": "https://www.example.org",
            "Access-Control-Request-Method": "GET",
            "Access-Control-Request-Headers": "if-none-match, if-modified-since",
        },
    )
    assert r.status_code == 204
    assert r.headers["access-control-allow-origin"] == "*"
    assert r.headers["access-control-allow-methods"] == "GET, HEAD, OPTIONS"
    assert r.headers["access-control-allow-headers"] == "if-none-match, if-modified-since"
    assert r.headers["access-control-max-age"] == "86400"
    assert "set-cookie" not in r.headers
    odd = app.client.options(
        "/links.json",
        headers={"Origin": "https://x.example", "Access-Control-Request-Headers": "a b\x7f"},
    )
    assert "access-control-allow-headers" not in odd.headers


def raw_get(client: TestClient, path: str, **headers: str) -> tuple[httpx.Response, bytes]:
    """The response and its body as sent (not decompressed)."""
    with client.stream("GET", path, headers=headers) as r:
        return r, b"".join(r.iter_raw())


@pytest.mark.parametrize("path", ["/links.json", "/links.rss", "/links.atom", "/embed"])
def test_public_answers_are_gzipped_for_clients_that_accept_it(app: App, path: str) -> None:
    put(app.curator.store, *(make_item(n, reviewed_at=T0 - timedelta(hours=n)) for n in range(30)))
    plain, plain_body = raw_get(app.client, path, **{"Accept-Encoding": "identity"})
    packed, packed_body = raw_get(app.client, path, **{"Accept-Encoding": "gzip, br;q=0.5"})
    assert "content-encoding" not in plain.headers
    assert packed.headers["content-encoding"] == "gzip"
    assert gzip.decompress(packed_body) == plain_body
    assert len(packed_body) * 3 < len(plain_body)
    assert plain.headers["vary"] == packed.headers["vary"] == "Accept-Encoding"
    # Each representation has its own ETag, and each revalidates to a 304.
    assert packed.headers["etag"] == plain.headers["etag"][:-1] + '-gzip"'
    for etag, coding in ((plain.headers["etag"], "identity"), (packed.headers["etag"], "gzip")):
        again = app.client.get(path, headers={"If-None-Match": etag, "Accept-Encoding": coding})
        assert again.status_code == 304
        assert again.headers["etag"] == etag and again.headers["vary"] == "Accept-Encoding"
    refused, _ = raw_get(app.client, path, **{"Accept-Encoding": "gzip;q=0, *;q=1"})
    assert "content-encoding" not in refused.headers
    assert plain.headers["last-modified"] == packed.headers["last-modified"]


# --------------------------------------------------------------------------- Last-Modified


def test_last_modified_survives_a_restart_and_moves_with_the_bytes(tmp_path: Path) -> None:
    """Issue #8: a changed ``publish.title`` (or limit, max_age …) after a restart changes the
    bytes; Last-Modified must move too, or an If-Modified-Since client keeps the old list."""
    clock = Clock()
    store = tmp_path / "store"
    first = start(store, clock, title="CCTV links")
    put(first.curator.store, make_item(1, reviewed_at=T0 - timedelta(days=2)))
    before = first.client.get("/links.rss")
    stop(first)

    clock.advance(hours=1)
    same = start(store, clock, title="CCTV links")
    unchanged = same.client.get(
        "/links.rss", headers={"If-Modified-Since": before.headers["last-modified"]}
    )
    assert unchanged.status_code == 304
    assert unchanged.headers["last-modified"] == before.headers["last-modified"]
    stop(same)

    clock.advance(hours=1)
    renamed = start(store, clock, title="Police CCTV: the links")
    after = renamed.client.get(
        "/links.rss", headers={"If-Modified-Since": before.headers["last-modified"]}
    )
    assert after.status_code == 200
    assert "<title>Police CCTV: the links</title>" in after.text
    assert after.headers["etag"] != before.headers["etag"]
    assert after.headers["last-modified"] == format_datetime(clock.now, usegmt=True)
    again = renamed.client.get(
        "/links.rss", headers={"If-Modified-Since": after.headers["last-modified"]}
    )
    assert again.status_code == 304
    stop(renamed)


def test_a_damaged_shard_keeps_the_last_good_answer(app: App, tmp_path: Path) -> None:
    """One damaged items file must not punch holes in the website's list: the public answers
    stay what they last were in full, the static export is not rewritten, and a server that
    never saw the store whole serves the rest.  Nothing says where or why (the editor's pages
    and the log do)."""
    store = app.curator.store
    for n in range(1, 40):
        put(store, make_item(n, reviewed_at=T0 - timedelta(hours=1)))
    out = tmp_path / "site"
    export(app.curator.config, store, out, app.clock())
    exported = (out / "links.json").read_bytes()
    before = app.client.get("/links.json")
    assert before.status_code == 200 and len(before.json()["items"]) == 39

    victim = sorted((store.path / "items").glob("*.json"))[0]
    held = {i.url for i in store.items() if i.id in victim.read_text()}
    assert held
    victim.write_text("{not json", encoding="utf-8")
    during = app.client.get("/links.json")
    assert during.status_code == 200 and during.content == before.content
    assert str(store.path) not in during.text and "set-cookie" not in during.headers
    with pytest.raises(PublishError, match="the last good export stays"):
        export(app.curator.config, store, out, app.clock())
    assert (out / "links.json").read_bytes() == exported

    fresh = start(store.path, app.clock)
    try:
        rest = fresh.client.get("/links.json")
        urls = {entry["url"] for entry in rest.json()["items"]}
        assert rest.status_code == 200 and len(urls) == 39 - len(held) and not urls & held
    finally:
        stop(fresh)


def test_a_store_that_cannot_answer_gets_a_plain_503_without_detail_or_cookie(
    app: App, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A read error (the disk failing under it, which a test cannot cause for real)."""
    put(app.curator.store, make_item(1, reviewed_at=T0 - timedelta(hours=1)))
    sign_in(app.client)
    store = app.curator.store

    def failing() -> str:
        raise StoreError(f"{store.path}/items/00.json: cannot read: Input/output error")

    monkeypatch.setattr(store, "version", failing)
    r = app.client.get("/links.json")
    assert r.status_code == 503
    assert r.text == (
        "Curator cannot answer right now. Try again in a minute; if it goes on, "
        "tell the people who run this site.\n"
    )
    assert str(app.curator.store.path) not in r.text
    assert r.headers["retry-after"] == "30"
    assert r.headers["access-control-allow-origin"] == "*"
    assert "set-cookie" not in r.headers


def serve(tmp_path: Path, title: str) -> tuple[subprocess.Popen[str], str]:
    """`curator serve` on the store in ``tmp_path`` with ``publish.title``, once it listens."""
    config = tmp_path / "feeds.yaml"
    config.write_text(f"publish:\n  title: {json.dumps(title)}\ndigest: {{enabled: false}}\n")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "curator",
            "-v",
            "--config",
            str(config),
            "--store",
            str(tmp_path / "store"),
            "serve",
            "--port",
            str(port),
        ],
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "CURATOR_SECRET_KEY": "s" * 48},
    )
    assert proc.stderr is not None
    for line in proc.stderr:
        if "serving on" in line:
            return proc, f"http://127.0.0.1:{port}"
    raise AssertionError(f"curator serve ended (code {proc.wait()}) before serving")


def stop_serving(proc: subprocess.Popen[str]) -> None:
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err


@pytest.mark.slow
def test_curator_serve_restarted_with_a_new_title_moves_last_modified(tmp_path: Path) -> None:
    """test_last_modified_survives_a_restart_and_moves_with_the_bytes through real processes
    and the real clock."""
    put(TinyDBStore(tmp_path / "store"), make_item(1, reviewed_at=datetime.now(UTC)))
    proc, url = serve(tmp_path, "CCTV links")
    try:
        before = httpx.get(url + "/links.rss", timeout=30)
    finally:
        stop_serving(proc)
    assert before.status_code == 200 and "<title>CCTV links</title>" in before.text
    only_ims = {"If-Modified-Since": before.headers["last-modified"]}

    proc, url = serve(tmp_path, "Police CCTV: the links")
    try:
        after = httpx.get(url + "/links.rss", headers=only_ims, timeout=30)
        assert after.status_code == 200
        assert "<title>Police CCTV: the links</title>" in after.text
        assert parsedate_to_datetime(after.headers["last-modified"]) > parsedate_to_datetime(
            before.headers["last-modified"]
        )
        now_ims = {"If-Modified-Since": after.headers["last-modified"]}
        assert httpx.get(url + "/links.rss", headers=now_ims, timeout=30).status_code == 304
    finally:
        stop_serving(proc)
