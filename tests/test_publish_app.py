"""The public endpoints inside the whole web app (``create_app`` on a real Curator and store),
where the editor's session, the security layers and the other routes live beside them: what
the editor's pages say about publishing, and what the public answers never carry."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from starlette.testclient import TestClient

from curator.config import Publish
from curator.core import Curator
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
    assert "Not on the website: approved 4 Feb 2024" in app.client.get(f"/items/{forgotten.id}").text

    listed = app.client.get("/links.json").json()
    assert [i["title"] for i in listed["items"]] == [recent.title, evaluation.title]
