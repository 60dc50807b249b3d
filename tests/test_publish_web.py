"""curator/web/public.py through Starlette's TestClient: every route, its validators and
caching headers, conditional requests, CORS, the category filter and bad parameters."""

from __future__ import annotations

import base64
import hashlib
import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.utils import format_datetime, parsedate_to_datetime
from pathlib import Path

import feedparser
import pytest
from starlette.applications import Starlette
from starlette.testclient import TestClient

from curator.config import Config, Publish
from curator.store import Store, TinyDBStore
from curator.types import Status
from curator.web.public import (
    EMBED_JS,
    SEEN_KEY,
    SEEN_MAX,
    accepts_gzip,
    first_served,
    public_routes,
)
from tests.test_publish import (
    HOSTILE_TITLE,
    NOW,
    check_atom_required,
    check_rss_required,
    fill_store,
    jsonfeed_validator,
    make_item,
    put,
    tricky_items,
)

BASE = "https://curator.example.org"
ROUTES = ["/links.json", "/links.rss", "/links.atom", "/embed", "/embed.js"]
DATA_ROUTES = ["/links.json", "/links.rss", "/links.atom", "/embed"]


@dataclass
class Site:
    """What the routes need of a Curator (core.Curator has the same three attributes)."""

    config: Config
    store: Store
    clock: Callable[[], datetime]


@dataclass
class Env:
    client: TestClient
    site: Site
    now: list[datetime]


@pytest.fixture
def env(tmp_path: Path) -> Iterator[Env]:
    items = [*tricky_items(), make_item(6, status="pending"), make_item(7, url="javascript:x")]
    store = fill_store(tmp_path / "store", items)
    now = [NOW]
    config = Config(publish=Publish(base_url=BASE, cache_seconds=120, limit=20))
    site = Site(config, store, lambda: now[0])
    app = Starlette(routes=public_routes(site))
    with TestClient(app, base_url=BASE) as client:
        yield Env(client, site, now)


@pytest.mark.parametrize("path", ROUTES)
def test_every_route_has_validators_and_caching_headers(env: Env, path: str) -> None:
    r = env.client.get(path, headers={"Accept-Encoding": "identity"})
    assert r.status_code == 200
    assert re.fullmatch(r'"[0-9a-f]{32}"', r.headers["etag"])
    assert r.headers["etag"] == '"' + hashlib.sha256(r.content).hexdigest()[:32] + '"'
    assert r.headers["last-modified"].endswith(" GMT")
    assert r.headers["vary"] == "Accept-Encoding"
    assert r.headers["cache-control"] == "public, max-age=120"
    assert r.headers["x-content-type-options"] == "nosniff"
    assert "set-cookie" not in r.headers


@pytest.mark.parametrize("path", ROUTES)
def test_if_none_match_gets_304_with_the_same_headers(env: Env, path: str) -> None:
    first = env.client.get(path)
    etag = first.headers["etag"]
    for header in (etag, f"W/{etag}", f'"other", {etag}', "*"):
        r = env.client.get(path, headers={"If-None-Match": header})
        assert r.status_code == 304, header
        assert r.content == b""
        assert r.headers["etag"] == etag
        assert r.headers["last-modified"] == first.headers["last-modified"]
        assert r.headers["cache-control"] == "public, max-age=120"
    assert env.client.get(path, headers={"If-None-Match": '"other"'}).status_code == 200


@pytest.mark.parametrize("path", ROUTES)
def test_if_modified_since(env: Env, path: str) -> None:
    last_modified = env.client.get(path).headers["last-modified"]
    assert env.client.get(path, headers={"If-Modified-Since": last_modified}).status_code == 304
    when = parsedate_to_datetime(last_modified)
    later = format_datetime(when + timedelta(seconds=1), usegmt=True)
    assert env.client.get(path, headers={"If-Modified-Since": later}).status_code == 304
    earlier = format_datetime(when - timedelta(seconds=1), usegmt=True)
    assert env.client.get(path, headers={"If-Modified-Since": earlier}).status_code == 200
    assert env.client.get(path, headers={"If-Modified-Since": "yesterday"}).status_code == 200
    # If-None-Match, when present, decides alone (RFC 9110 §13.1.3).
    both = {"If-Modified-Since": last_modified, "If-None-Match": '"stale"'}
    assert env.client.get(path, headers=both).status_code == 200


def test_last_modified_is_when_these_bytes_were_first_served(env: Env) -> None:
    first = env.client.get("/links.rss")
    assert first.headers["last-modified"] == format_datetime(NOW, usegmt=True)
    env.now[0] = NOW + timedelta(hours=3)
    assert env.client.get("/links.rss").headers["last-modified"] == first.headers["last-modified"]
    # Routes made afresh (a restart) on the same store remember it.
    with TestClient(Starlette(routes=public_routes(env.site)), base_url=BASE) as restarted:
        again = restarted.get("/links.rss")
    assert again.headers["etag"] == first.headers["etag"]
    assert again.headers["last-modified"] == first.headers["last-modified"]


@pytest.mark.parametrize("path", DATA_ROUTES)
def test_a_change_in_the_store_changes_etag_and_last_modified(env: Env, path: str) -> None:
    before = env.client.get(path)
    env.now[0] = NOW + timedelta(minutes=5)
    approved = NOW + timedelta(minutes=4)
    new = make_item(8, title="Newly approved CCTV story", reviewed_at=approved)
    put(env.site.store, new)
    after = env.client.get(path, headers={"If-None-Match": before.headers["etag"]})
    assert after.status_code == 200
    assert after.headers["etag"] != before.headers["etag"]
    # The approval explains the new bytes: they date from it.
    assert after.headers["last-modified"] == format_datetime(approved, usegmt=True)
    assert "Newly approved CCTV story" in after.text
    ims = {"If-Modified-Since": before.headers["last-modified"]}
    assert env.client.get(path, headers=ims).status_code == 200


def test_an_item_ageing_out_changes_the_output(env: Env) -> None:
    env.site.config = env.site.config.model_copy(
        update={"publish": env.site.config.publish.model_copy(update={"max_age": 3.5 * 86400})}
    )
    before = env.client.get("/links.json").json()
    assert len(before["items"]) == 3
    env.now[0] = NOW + timedelta(days=1)
    after = env.client.get("/links.json").json()
    assert len(after["items"]) == 2


def test_json_feed_is_cors_open_and_valid(env: Env) -> None:
    r = env.client.get("/links.json", headers={"Origin": "https://www.example.org"})
    assert r.headers["access-control-allow-origin"] == "*"
    assert r.headers["content-type"] == "application/feed+json; charset=utf-8"
    doc = r.json()
    jsonfeed_validator().validate(doc)
    assert doc["feed_url"] == f"{BASE}/links.json"
    assert doc["items"][0]["title"] == HOSTILE_TITLE
    assert all(i["url"].startswith("https://") for i in doc["items"])
    assert len(doc["items"]) == len(tricky_items())  # not the pending nor the javascript: one
    etag = r.headers["etag"]
    r304 = env.client.get("/links.json", headers={"If-None-Match": etag})
    assert r304.headers["access-control-allow-origin"] == "*"
    bad = env.client.get("/links.json?limit=x")
    assert bad.headers["access-control-allow-origin"] == "*"


def test_rss_and_atom_responses_are_valid_feeds(env: Env) -> None:
    rss = env.client.get("/links.rss?category=research")
    assert rss.headers["content-type"] == "application/rss+xml; charset=utf-8"
    check_rss_required(rss.content, f"{BASE}/links.rss?category=research")
    parsed = feedparser.parse(rss.content)
    assert not parsed.bozo and len(parsed.entries) == 2
    atom = env.client.get("/links.atom")
    assert atom.headers["content-type"] == "application/atom+xml; charset=utf-8"
    check_atom_required(atom.content, f"{BASE}/links.atom")
    assert not feedparser.parse(atom.content).bozo


@pytest.mark.parametrize("path", ["/links.json", "/links.rss", "/links.atom", "/embed"])
def test_category_filter(env: Env, path: str) -> None:
    def count(query: str) -> int:
        r = env.client.get(path + query)
        assert r.status_code == 200
        if path == "/links.json":
            return len(r.json()["items"])
        if path == "/embed":
            return r.text.count('<li class="curator-item"')
        return len(feedparser.parse(r.content).entries)

    assert count("") == 5
    assert count("?category=research") == 2
    assert count("?category=guidance") == 1
    assert count("?category=news,guidance") == 3
    assert count("?category=news&category=research") == 4
    assert count("?category=") == 5
    assert count("?limit=2") == 2
    assert count("?limit=999") == 5  # capped at publish.limit, not refused
    assert count("?limit=2&category=research&v=12345") == 2  # unknown parameters ignored


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("category=videos", "unknown category 'videos'; use one of news, research, guidance"),
        ("limit=ten", "limit must be a whole number from 1 to 20, not 'ten'"),
        ("limit=0", "limit must be a whole number from 1 to 20, not '0'"),
        ("limit=-3", "limit must be a whole number from 1 to 20, not '-3'"),
    ],
)
@pytest.mark.parametrize("path", DATA_ROUTES)
def test_bad_parameters_get_400_with_a_clear_message(
    env: Env, path: str, query: str, message: str
) -> None:
    r = env.client.get(f"{path}?{query}")
    assert r.status_code == 400
    assert r.text.strip() == message
    assert r.headers["content-type"].startswith("text/plain")
    assert r.headers["cache-control"] == "no-store"


@pytest.mark.parametrize("query", ["summaries=yes", "dates=2", "summaries="])
def test_embed_flags_must_be_0_or_1(env: Env, query: str) -> None:
    r = env.client.get(f"/embed?{query}")
    assert r.status_code == 400
    assert "must be 0 or 1" in r.text


def test_embed_page_can_be_framed_anywhere_and_runs_nothing(env: Env) -> None:
    r = env.client.get("/embed")
    assert r.headers["content-type"] == "text/html; charset=utf-8"
    assert "x-frame-options" not in r.headers
    directives = r.headers["content-security-policy"].split(";")
    csp = dict(d.strip().partition(" ")[::2] for d in directives)
    assert csp["frame-ancestors"] == "*"
    assert csp["default-src"] == "'none'"
    assert "script-src" not in csp  # default-src 'none' forbids every script
    style = re.search(r"<style>(.*?)</style>", r.text, re.S)
    assert style is not None
    digest = base64.b64encode(hashlib.sha256(style.group(1).encode()).digest()).decode()
    assert csp["style-src"] == f"'sha256-{digest}'"
    assert "<script" not in r.text and " style=" not in r.text
    assert '<base target="_top">' in r.text
    assert '<html lang="en">' in r.text
    assert "&lt;img src=x onerror=" in r.text and "<img" not in r.text


def test_embed_options(env: Env) -> None:
    full = env.client.get("/embed").text
    assert full.count('class="curator-summary"') == 5
    assert full.count("<time ") == 5
    bare = env.client.get("/embed?summaries=0&dates=0&limit=3").text
    assert bare.count('<li class="curator-item"') == 3
    assert 'class="curator-summary"' not in bare and "<time " not in bare
    assert env.client.get("/embed?summaries=1&dates=0").text.count("<time ") == 0


def test_embed_js_is_the_static_file(env: Env) -> None:
    r = env.client.get("/embed.js")
    assert r.content == EMBED_JS.read_bytes()
    assert r.headers["content-type"] == "text/javascript; charset=utf-8"
    assert "innerHTML" not in r.text.split("*/", 1)[1]  # code, past the header comment


def test_head_answers_like_get(env: Env) -> None:
    get = env.client.get("/links.rss")
    head = env.client.head("/links.rss")
    assert head.status_code == 200
    assert head.headers["etag"] == get.headers["etag"]
    assert head.content == b""


def test_post_is_not_allowed(env: Env) -> None:
    assert env.client.post("/links.json").status_code == 405


def test_a_reloaded_config_applies_at_once(env: Env) -> None:
    env.site.config = env.site.config.model_copy(
        update={"publish": replace_publish(env.site.config.publish, title="New title")}
    )
    assert json.loads(env.client.get("/links.json").content)["title"] == "New title"


def replace_publish(publish: Publish, **changes: object) -> Publish:
    return publish.model_copy(update=changes)


def test_responses_are_cached_per_store_version(env: Env) -> None:
    calls = 0
    store = env.site.store
    original = store.items_reviewed_since

    def counting(status: Status, since: datetime) -> object:
        nonlocal calls
        calls += 1
        return original(status, since)

    env.site.store = replace_store(store, counting)
    for _ in range(3):
        env.client.get("/links.rss")
    assert calls == 1
    put(store, make_item(9, reviewed_at=NOW - timedelta(seconds=5)))
    env.client.get("/links.rss")
    assert calls == 2


def replace_store(store: Store, items: Callable[..., object]) -> Store:
    """The same store, with the read of the outputs' items (``items_reviewed_since``: the
    approved items within the window) counted (the routes read the attribute per request)."""

    class Counting:
        def version(self) -> str:
            return store.version()

        def items_reviewed_since(self, status: Status, since: datetime) -> object:
            return items(status, since)

        def __getattr__(self, name: str) -> object:  # the meta and transactions
            return getattr(store, name)

    return Counting()  # type: ignore[return-value]


@pytest.mark.parametrize(
    ("header", "gzip"),
    [
        (None, False),
        ("", False),
        ("gzip", True),
        ("GZIP;Q=0.5", True),
        ("x-gzip", True),
        ("deflate, br", False),
        ("gzip;q=0", False),
        ("gzip;q=nonsense", False),
        ("*", True),
        ("br, *;q=0", False),
        ("gzip;q=0, *", False),
        ("identity;q=1, *;q=0.1", True),
    ],
)
def test_accept_encoding_is_negotiated_with_q_values(header: str | None, gzip: bool) -> None:
    assert accepts_gzip(header) is gzip


def test_first_served_moves_strictly_and_forgets_the_oldest(tmp_path: Path) -> None:
    store = TinyDBStore(tmp_path / "store")
    t = NOW.replace(microsecond=0)
    assert first_served(store, "rss", '"a"', t - timedelta(days=1), t) == t
    assert first_served(store, "rss", '"a"', t, t + timedelta(hours=1)) == t
    # New bytes within the same second still get a later time than the old bytes had.
    assert first_served(store, "rss", '"b"', t, t) == t + timedelta(seconds=1)
    # New bytes that an item change explains take its time.
    changed = t + timedelta(minutes=5)
    assert first_served(store, "rss", '"c"', changed, t + timedelta(minutes=9)) == changed
    for n in range(SEEN_MAX + 10):
        first_served(store, f"json?limit={n + 1}", '"x"', t, t + timedelta(seconds=n))
    seen = store.get_meta(SEEN_KEY)
    assert len(seen) == SEEN_MAX
    assert "json?limit=1" not in seen and f"json?limit={SEEN_MAX + 10}" in seen


def test_first_served_falls_back_to_now_when_the_store_cannot_say(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    store = TinyDBStore(tmp_path / "store")
    (tmp_path / "store" / "meta.json").write_text("{not json", encoding="utf-8")
    assert first_served(store, "rss", '"a"', NOW - timedelta(days=1), NOW) == NOW
    assert "cannot record when an output changed output=rss" in caplog.text
    assert (tmp_path / "store" / "meta.json").read_text(encoding="utf-8") == "{not json"
