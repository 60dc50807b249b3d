"""The widget (embed.js) and the embed page in a real browser: Playwright driving Debian's
chromium against real uvicorn servers on 127.0.0.1.

Two servers, two origins, as on the real website: "curator" serves the public routes (and, at
/hostile/, embed.js beside a crafted links.json), "host" serves the pages that include the
widget.  The host pages carry a strict CSP with Trusted Types required, so the browser itself
refuses any string written to innerHTML (or any inline script) while the widget runs.

The servers run in threads (Playwright's sync API refuses to run inside an event loop) on
sockets bound before they start, so the browser can connect at once: no waiting.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from types import TracebackType
from typing import Any

import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route

from curator.config import Config, Publish, Source
from curator.store import Store
from curator.web.public import EMBED_JS, public_routes
from tests.system import CHROMIUM, CHROMIUM_ARGS, require
from tests.test_publish import (
    HOSTILE_TITLE,
    NON_LATIN_TITLE,
    NOW,
    expected_title,
    fill_store,
    make_item,
    tricky_items,
)

playwright_sync = pytest.importorskip("playwright.sync_api")

pytestmark = [pytest.mark.browser, pytest.mark.slow]


HOSTILE_FEED: dict[str, Any] = {
    "version": "https://jsonfeed.org/version/1.1",
    "title": "Crafted",
    "items": [
        {"id": "1", "url": "javascript:window.__pwned=1", "title": "JS link"},
        {"id": "2", "url": " javascript:window.__pwned=2", "title": "Spaced JS link"},
        {"id": "3", "url": "java\tscript:window.__pwned=3", "title": "Tabbed JS link"},
        {"id": "4", "url": "data:text/html,<script>alert(1)</script>", "title": "Data link"},
        {"id": "5", "url": "vbscript:msgbox(1)", "title": "VB link"},
        {"id": "6", "url": "//evil.example.org/x", "title": "Scheme-relative link"},
        {"id": "7", "url": {"href": "https://evil.example.org/"}, "title": "Object URL"},
        {
            "id": "8",
            "url": "https://ok.example.org/a?x=1&y=2",
            "title": '<img src=x onerror="window.__pwned=8">',
            "summary": "<script>window.__pwned=9</script>",
            "date_published": "2025-06-01T11:00:00Z",
            "tags": ["news"],
            "_curator": {"citation": '<img src=x onerror="window.__pwned=10">'},
        },
        {
            "id": "9",
            "url": "HTTPS://OK.example.org/b",
            "title": "Upper-case scheme",
            "_curator": "not an object",
        },
        {"id": "10", "url": "https://ok.example.org/c", "title": 42},
        "not an object",
    ],
}


@dataclass
class Site:
    config: Config
    store: Store
    clock: Callable[[], datetime] = field(default=lambda: NOW)


class ServerThread:
    """uvicorn serving ``app`` in a thread, on a socket already listening."""

    def __init__(self, app: Starlette) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.origin = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        config = uvicorn.Config(app, log_level="warning", lifespan="off")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(
            target=self.server.run, kwargs={"sockets": [self.sock]}, daemon=True
        )

    def __enter__(self) -> ServerThread:
        self.thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=30)
        self.sock.close()


def host_page(curator: str, body: str) -> Response:
    csp = (
        "default-src 'none'; "
        f"script-src {curator}/embed.js {curator}/hostile/embed.js; "
        f"connect-src {curator}; frame-src {curator}; img-src 'none'; style-src 'none'; "
        "require-trusted-types-for 'script'; trusted-types 'none'"
    )
    page = (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>Host</title>'
        f"</head><body><main><h1>Links</h1>{body}</main></body></html>"
    )
    return HTMLResponse(page, headers={"Content-Security-Policy": csp})


@dataclass
class Servers:
    curator: str
    host: str


@pytest.fixture(scope="module")
def servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Servers]:
    items = [
        *tricky_items(),
        make_item(6, status="pending", title="Pending, never shown"),
        make_item(7, url="javascript:window.__pwned=7", title="Stored javascript: link"),
    ]
    store = fill_store(tmp_path_factory.mktemp("store"), items)
    # The items' source ("test") is a police force in the UK: ?class= selects by it.
    police = Source.model_validate(
        {"id": "test", "name": "Test", "url": "https://test.example/f", "class": "police"}
    )
    site = Site(Config(publish=Publish(limit=20), sources=[police]), store)

    def hostile_js(request: Request) -> Response:
        return Response(EMBED_JS.read_bytes(), media_type="text/javascript")

    def hostile_json(request: Request) -> Response:
        return JSONResponse(HOSTILE_FEED, headers={"Access-Control-Allow-Origin": "*"})

    curator_app = Starlette(
        routes=[
            *public_routes(site),
            Route("/hostile/embed.js", hostile_js),
            Route("/hostile/links.json", hostile_json),
        ]
    )
    origin: dict[str, str] = {}

    def page(body: str) -> Callable[[Request], Response]:
        return lambda request: host_page(origin["curator"], body.format(c=origin["curator"]))

    host_app = Starlette(
        routes=[
            Route(
                "/all",
                page(
                    '<div id="links"><a href="https://www.example.org/links">All links</a></div>'
                    '<script src="{c}/embed.js" data-target="#links" data-limit="10" async>'
                    "</script>"
                ),
            ),
            Route(
                "/research",
                page(
                    '<section id="research"></section>'
                    '<script src="{c}/embed.js" data-target="#research" '
                    'data-category="research" data-summaries="0" data-dates="0" async></script>'
                ),
            ),
            Route(
                "/by-class",
                page(
                    '<div id="police"></div><div id="press"></div>'
                    '<script src="{c}/embed.js" data-target="#police" data-class="police" '
                    'data-jurisdiction="uk" async></script>'
                    '<script src="{c}/embed.js" data-target="#press" data-class="press" '
                    "async></script>"
                ),
            ),
            Route(
                "/inline", page('<div><script src="{c}/embed.js" data-limit="2"></script></div>')
            ),
            Route(
                "/hostile",
                page(
                    '<ul id="x"></ul><script src="{c}/hostile/embed.js" data-target="#x"></script>'
                ),
            ),
            Route(
                "/frame",
                page('<iframe src="{c}/embed?limit=3" title="Our links" width="600"></iframe>'),
            ),
        ]
    )
    with ServerThread(curator_app) as curator, ServerThread(host_app) as host:
        origin["curator"] = curator.origin
        yield Servers(curator.origin, host.origin)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    require(Path(CHROMIUM).exists(), f"{CHROMIUM} is not installed (Debian package chromium)")
    with playwright_sync.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        b.close()


# Runs before any page script: records CSP violations (a Trusted Types refusal is one).
WATCH = """
window.__violations = [];
document.addEventListener('securitypolicyviolation', function (e) {
  window.__violations.push(e.violatedDirective + ' ' + e.blockedURI);
});
"""


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    context = browser.new_context()
    pg = context.new_page()
    pg.add_init_script(WATCH)
    errors: list[str] = []
    pg.on("pageerror", lambda e: errors.append(str(e)))
    PAGE_ERRORS[id(pg)] = errors
    yield pg
    PAGE_ERRORS.pop(id(pg), None)
    context.close()


PAGE_ERRORS: dict[int, list[str]] = {}


def assert_clean(page: Any) -> None:
    """No payload ran, the page's CSP (Trusted Types included) was never violated, and no
    script threw."""
    assert page.evaluate("window.__pwned") is None
    assert page.evaluate("window.__violations") == []
    assert PAGE_ERRORS[id(page)] == []


def test_widget_renders_the_list_from_another_origin(servers: Servers, page: Any) -> None:
    expect = playwright_sync.expect
    page.goto(servers.host + "/all")
    items = page.locator("#links ul.curator-links > li.curator-item")
    expect(items).to_have_count(len(tricky_items()))
    titles = page.locator("#links a.curator-title")
    assert titles.nth(0).text_content() == HOSTILE_TITLE
    assert titles.nth(2).text_content() == NON_LATIN_TITLE
    # Every title is the stored text: nothing unescaped, nothing escaped twice (issue #8).
    assert titles.all_text_contents() == [expected_title(i) for i in tricky_items()]
    assert page.locator("#links img").count() == 0
    hrefs = titles.evaluate_all("els => els.map(a => a.href)")
    assert all(h.startswith("https://news.example.org/story/") for h in hrefs)
    assert page.locator("#links a[href^='javascript:']").count() == 0
    assert "Stored javascript: link" not in page.locator("#links").inner_text()
    assert "Pending, never shown" not in page.locator("#links").inner_text()
    assert page.locator("#links a[href='https://www.example.org/links']").count() == 0
    first_time = page.locator("#links time").first
    assert first_time.text_content() == "1 Jun 2025"
    assert first_time.get_attribute("datetime") == "2025-06-01T11:00:00Z"
    assert page.locator("#links .curator-summary").count() == len(tricky_items())
    assert page.locator("#links").get_attribute("aria-busy") is None
    assert_clean(page)


def test_widget_options_category_summaries_dates(servers: Servers, page: Any) -> None:
    expect = playwright_sync.expect
    page.goto(servers.host + "/research")
    items = page.locator("#research li.curator-item")
    expect(items).to_have_count(2)
    assert items.evaluate_all("els => els.map(e => e.dataset.category)") == [
        "research",
        "research",
    ]
    assert page.locator("#research .curator-summary").count() == 0
    assert page.locator("#research time").count() == 0
    assert_clean(page)


def test_widget_selects_by_publisher_class_and_jurisdiction(servers: Servers, page: Any) -> None:
    expect = playwright_sync.expect
    page.goto(servers.host + "/by-class")
    expect(page.locator("#police li.curator-item")).to_have_count(len(tricky_items()))
    expect(page.locator("#press")).not_to_have_attribute("aria-busy", "true")
    assert page.locator("#press li.curator-item").count() == 0
    assert_clean(page)


def test_widget_without_target_renders_where_the_script_is(servers: Servers, page: Any) -> None:
    expect = playwright_sync.expect
    page.goto(servers.host + "/inline")
    expect(page.locator("main div.curator-widget li.curator-item")).to_have_count(2)
    assert_clean(page)


def test_widget_keeps_hostile_feed_data_inert(servers: Servers, page: Any) -> None:
    expect = playwright_sync.expect
    page.goto(servers.host + "/hostile")
    items = page.locator("#x li.curator-item")
    expect(items).to_have_count(2)
    links = page.locator("#x a")
    assert links.evaluate_all("els => els.map(a => a.href)") == [
        "https://ok.example.org/a?x=1&y=2",
        "https://ok.example.org/b",
    ]
    assert links.nth(0).text_content() == '<img src=x onerror="window.__pwned=8">'
    assert links.nth(1).text_content() == "Upper-case scheme"
    assert page.locator("#x .curator-summary").first.text_content() == (
        "<script>window.__pwned=9</script>"
    )
    citations = page.locator("#x .curator-citation")  # research metadata (issue 12)
    assert citations.all_text_contents() == ['<img src=x onerror="window.__pwned=10">']
    assert page.locator("#x img, #x script").count() == 0
    assert_clean(page)


def test_embed_page_renders_in_a_cross_origin_iframe(servers: Servers, page: Any) -> None:
    expect = playwright_sync.expect
    page.goto(servers.host + "/frame")
    frame = page.frame_locator("iframe")
    expect(frame.locator("li.curator-item")).to_have_count(3)
    assert frame.locator("a.curator-title").first.text_content() == HOSTILE_TITLE
    shown = frame.locator("a.curator-title").all_text_contents()
    assert shown == [expected_title(i) for i in tricky_items()[:3]]
    assert frame.locator("img").count() == 0
    assert_clean(page)


def test_a_conditional_fetch_from_another_origin_passes_the_preflight(
    servers: Servers, page: Any
) -> None:
    """If-None-Match is not a CORS-safelisted header: the browser asks OPTIONS first."""
    page.goto(servers.host + "/research")
    statuses = page.evaluate(
        """async (url) => {
          const first = await fetch(url, {credentials: "omit"});
          const etag = first.headers.get("ETag");
          const again = await fetch(url, {credentials: "omit", headers: {"If-None-Match": etag}});
          return [first.status, typeof etag, again.status];
        }""",
        servers.curator + "/links.json",
    )
    assert statuses == [200, "string", 304]
    assert_clean(page)
