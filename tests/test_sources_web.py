"""Administrators add, edit, disable and enable sources in the web app (web/_source_edit.py):
feeds.yaml rewritten with its comments kept, the same checks as `curator check`, errors next
to the fields, a file changed meanwhile refused, CSRF and the administrator role enforced, and
serve's watcher (curator/reload.py) picking the change up."""

from __future__ import annotations

import asyncio
import re
import shutil
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from starlette.testclient import TestClient

from curator import auth, config
from curator.core import Curator
from curator.reload import ConfigWatcher
from curator.web import create_app
from tests.test_web_admin import client_for, signed_in
from tests.webkit import FAST_HASHER, PASSWORD, add_editor, csrf_of, curator_on

BASE_YAML = Path(__file__).parent / "data" / "opml" / "base.yaml"


@pytest.fixture
def cfg_path(tmp_path: Path) -> Path:
    path = tmp_path / "feeds.yaml"
    shutil.copy(BASE_YAML, path)
    return path


@pytest.fixture
def cur(tmp_path: Path, cfg_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Curator]:
    monkeypatch.delenv("CURATOR_SECRET_KEY", raising=False)
    c = curator_on(tmp_path / "store", config.load(cfg_path))
    add_editor(c.store)  # the first account: an administrator
    auth.add_user(c.store, "bob", PASSWORD, hasher=FAST_HASHER)  # an editor, not an admin
    try:
        yield c
    finally:
        asyncio.run(c.aclose())


@pytest.fixture
def admin(cur: Curator) -> TestClient:
    return signed_in(create_app(cur, password_hasher=FAST_HASHER))


def form_of(page: str) -> dict[str, str]:
    """The hidden inputs and current values of the source form."""
    values = dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', page))
    for name, value in re.findall(
        r'<input id="[^"]+" name="([^"]+)" type="[^"]+" value="([^"]*)"', page
    ):
        values[name] = value
    for name, body in re.findall(
        r'<select id="[^"]+" name="([^"]+)"[^>]*>(.*?)</select>', page, re.S
    ):
        chosen = re.search(r'<option value="([^"]*)" selected>', body)
        values[name] = chosen.group(1) if chosen else ""
    if re.search(r'name="enabled" value="yes" checked', page):
        values["enabled"] = "yes"
    return values


def post_form(client: TestClient, target: str, page_url: str, /, **changes: str) -> httpx.Response:
    values = form_of(client.get(page_url).text)
    values.update(changes)
    r: httpx.Response = client.post(target, data=values)
    return r


def test_an_administrator_adds_a_source_and_the_file_keeps_its_comments(
    admin: TestClient, cfg_path: Path
) -> None:
    page = admin.get("/sources")
    assert 'href="/sources/new"' in page.text
    r = post_form(
        admin,
        "/sources/new",
        "/sources/new",
        id="west-mids-police",
        name="West Midlands Police",
        url="https://www.westmidlands.police.uk/news/rss",
        **{"class": "police"},
        jurisdiction="uk",
        interval="6h",
        enabled="yes",
    )
    assert r.status_code == 303, r.text
    assert r.headers["location"] == "/sources#source-west-mids-police"
    text = cfg_path.read_text(encoding="utf-8")
    assert "# Confirmed on the publisher's site." in text
    assert "enabled: false  # waiting for the publisher to fix the feed" in text
    assert 'url: "https://www.westmidlands.police.uk/news/rss"' in text
    source = config.load(cfg_path).source("west-mids-police")
    assert source is not None
    assert (source.publisher_class, source.jurisdiction, source.interval) == ("police", "UK", 21600)
    assert source.homepage is None and source.enabled
    follow = admin.get("/sources")
    assert "Added West Midlands Police: saved to feeds.yaml" in follow.text


@pytest.mark.parametrize(
    ("changes", "field", "words"),
    [
        ({"url": "ftp://example.org/feed"}, "url", "absolute http:// or https:// URL"),
        ({"jurisdiction": "Britain!"}, "jurisdiction", "short code such as UK"),
        ({"id": "daring-fireball"}, "id", "duplicate source id"),
        ({"id": "Bad Id"}, "id", "is not a usable id"),
        ({"interval": "soon"}, "interval", "expected a duration"),
        ({"kind": "page", "selector": "a[["}, "selector", "not a usable CSS selector"),
        # An administrator's account is no way into the host's network (SSRF).
        ({"url": "http://127.0.0.1:9/feed"}, "url", "127.0.0.1, not a public web address"),
        ({"url": "http://169.254.169.254/latest/"}, "url", "at 169.254.169.254, not a public"),
        ({"url": "http://localhost/feed"}, "url", "not a public web address"),
        # One source per feed, compared as `sources import` compares them.
        (
            {"url": "http://DaringFireball.net/feeds/json/#again"},
            "url",
            "the same feed as source daring-fireball",
        ),
    ],
)
def test_invalid_values_are_shown_next_to_their_field_and_nothing_is_written(
    admin: TestClient, cfg_path: Path, changes: dict[str, str], field: str, words: str
) -> None:
    before = cfg_path.read_bytes()
    values = {"id": "new-one", "name": "New one", "url": "https://new.example/feed", **changes}
    r = post_form(admin, "/sources/new", "/sources/new", **values)
    assert r.status_code == 400
    found = re.search(
        rf'<p class="error field-error" id="err-{field}" role="alert">([^<]+)</p>', r.text
    )
    assert found, r.text
    assert words in found.group(1)
    assert f'aria-describedby="err-{field}"' in r.text
    assert cfg_path.read_bytes() == before


def test_an_edit_cannot_point_a_source_at_the_hosts_network(
    admin: TestClient, cfg_path: Path
) -> None:
    before = cfg_path.read_bytes()
    page = admin.get("/sources/daring-fireball/edit").text
    values = {**form_of(page), "url": "http://[::1]:8080/admin"}
    r = admin.post("/sources/daring-fireball/edit", data=values)
    assert r.status_code == 400 and "not a public web address" in r.text
    assert cfg_path.read_bytes() == before


def test_under_serve_a_saved_source_is_in_use_at_once(
    admin: TestClient, cur: Curator, cfg_path: Path
) -> None:
    """serve hands the web app its watcher's reload: the page after a save shows the change,
    not the configuration of a few seconds before."""
    cur.reload_config = ConfigWatcher(cur, on_change=lambda old: None).reload
    r = post_form(
        admin,
        "/sources/new",
        "/sources/new",
        id="now-one",
        name="Now One",
        url="https://now.example/feed",
        enabled="yes",
    )
    assert r.status_code == 303
    assert cur.config.source("now-one") is not None
    page = admin.get("/sources").text
    assert "Added Now One: saved to feeds.yaml (comments kept), and in use now." in page
    assert 'href="/sources/now-one"' in page


def test_editing_changes_only_the_form_keys(admin: TestClient, cfg_path: Path) -> None:
    text = cfg_path.read_text(encoding="utf-8").replace(
        "    class: press\n", "    class: press\n    rules: {keep_all: true}  # all on topic\n"
    )
    cfg_path.write_text(text, encoding="utf-8")
    page = admin.get("/sources/daring-fireball/edit").text
    assert 'value="Daring Fireball"' in page and '<option value="press" selected>' in page
    r = post_form(
        admin,
        "/sources/daring-fireball/edit",
        "/sources/daring-fireball/edit",
        name="Daring Fireball <b>DF</b>",
        homepage="",
        **{"class": "industry"},
        jurisdiction="US",
    )
    assert r.status_code == 303, r.text
    after = cfg_path.read_text(encoding="utf-8")
    assert "rules: {keep_all: true}  # all on topic" in after
    assert "homepage" not in after.split("college-of-policing")[0]
    source = config.load(cfg_path).source("daring-fireball")
    assert source is not None
    assert (source.name, source.publisher_class, source.jurisdiction) == (
        "Daring Fireball <b>DF</b>",
        "industry",
        "US",
    )
    assert source.rules.keep_all
    again = admin.get("/sources/daring-fireball/edit").text
    assert "Daring Fireball &lt;b&gt;DF&lt;/b&gt;" in again and "<b>DF</b>" not in again


def test_values_left_alone_keep_their_spelling(admin: TestClient, cfg_path: Path) -> None:
    text = cfg_path.read_text(encoding="utf-8").replace(
        "    class: press\n", "    class: press\n    interval: 360m   # six hours\n"
    )
    cfg_path.write_text(text, encoding="utf-8")
    page = "/sources/daring-fireball/edit"
    assert 'value="6h"' in admin.get(page).text
    r = post_form(admin, page, page, name="Daring Fireball (JSON)")
    assert r.status_code == 303, r.text
    after = cfg_path.read_text(encoding="utf-8")
    assert "interval: 360m   # six hours" in after
    assert "name: Daring Fireball (JSON)" in after
    assert "jurisdiction" not in after and "kind:" not in after  # defaults not written out
    r = post_form(admin, page, page, interval="2h")
    assert r.status_code == 303
    assert re.search(r"interval: 2h +# six hours", cfg_path.read_text(encoding="utf-8"))


def test_a_file_changed_meanwhile_is_refused(admin: TestClient, cfg_path: Path) -> None:
    values = form_of(admin.get("/sources/daring-fireball/edit").text)
    cfg_path.write_text(cfg_path.read_text(encoding="utf-8") + "# edited by hand\n", "utf-8")
    before = cfg_path.read_bytes()
    values["name"] = "Renamed"
    r = admin.post("/sources/daring-fireball/edit", data=values)
    assert r.status_code == 409
    assert "was changed by someone else since you opened it" in r.text
    assert cfg_path.read_bytes() == before


def test_disable_and_enable_from_the_source_page(
    admin: TestClient, cur: Curator, cfg_path: Path
) -> None:
    page = admin.get("/sources/daring-fireball").text
    assert 'action="/sources/daring-fireball/disable"' in page
    values = form_of(page)
    r = admin.post("/sources/daring-fireball/disable", data=values)
    assert r.status_code == 303
    assert config.load(cfg_path).source("daring-fireball").enabled is False  # type: ignore[union-attr]
    # serve's watcher reads the file and the running configuration follows.
    watcher = ConfigWatcher(cur, on_change=lambda old: None)
    cur.config = config.load(BASE_YAML).model_copy(update={"path": str(cfg_path)})
    assert asyncio.run(watcher.reload("test")) is True
    assert cur.config.source("daring-fireball").enabled is False  # type: ignore[union-attr]
    page = admin.get("/sources/daring-fireball").text
    assert 'action="/sources/daring-fireball/enable"' in page
    r = admin.post("/sources/daring-fireball/enable", data=form_of(page))
    assert r.status_code == 303
    assert config.load(cfg_path).source("daring-fireball").enabled is True  # type: ignore[union-attr]


def test_a_stale_disable_button_is_refused(admin: TestClient, cfg_path: Path) -> None:
    values = form_of(admin.get("/sources/daring-fireball").text)
    cfg_path.write_text(cfg_path.read_text(encoding="utf-8") + "# edited\n", "utf-8")
    before = cfg_path.read_bytes()
    r = admin.post("/sources/daring-fireball/disable", data=values)
    assert r.status_code == 303
    assert cfg_path.read_bytes() == before
    assert "not disabled" in admin.get("/sources/daring-fireball").text


def test_an_editor_who_is_not_an_administrator_cannot_change_sources(
    cur: Curator, cfg_path: Path
) -> None:
    bob = signed_in(create_app(cur, password_hasher=FAST_HASHER), "bob")
    before = cfg_path.read_bytes()
    assert bob.get("/sources/new").status_code == 403
    assert bob.get("/sources/daring-fireball/edit").status_code == 403
    token = csrf_of(bob.get("/account").text)
    r = bob.post("/sources/daring-fireball/disable", data={"csrf": token})
    assert r.status_code == 403
    assert 'href="/sources/new"' not in bob.get("/sources").text
    assert cfg_path.read_bytes() == before


def test_without_a_csrf_token_nothing_changes(admin: TestClient, cfg_path: Path) -> None:
    before = cfg_path.read_bytes()
    values = form_of(admin.get("/sources/daring-fireball").text)
    values.pop("csrf")
    r = admin.post("/sources/daring-fireball/disable", data=values)
    assert r.status_code == 403
    assert cfg_path.read_bytes() == before


def test_signed_out_visitors_are_sent_to_sign_in(cur: Curator, cfg_path: Path) -> None:
    client = client_for(create_app(cur, password_hasher=FAST_HASHER))
    r = client.get("/sources/new")
    assert r.status_code in (302, 303) and "/login" in r.headers["location"]


def test_unknown_source_is_a_404(admin: TestClient) -> None:
    assert admin.get("/sources/no-such/edit").status_code == 404
