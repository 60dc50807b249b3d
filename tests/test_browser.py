"""The editor's web app in a real browser: Debian's chromium driven by Playwright for Python,
against the app on a real uvicorn server in a thread on 127.0.0.1.

Playwright never downloads a browser here: it launches /usr/bin/chromium.  axe-core comes from
the npm registry into ``.cache/axe`` (the fixture runs ``npm install`` once when it is
missing; CI may do it first, see AXE_INSTALL).  A failing test leaves a screenshot of the page
in ``test-artifacts/``.
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import socket
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from filelock import FileLock

from curator.core import Curator
from curator.types import Item
from curator.web import create_app
from tests.feedserver import FeedServer
from tests.system import CHROMIUM, CHROMIUM_ARGS, require
from tests.webkit import (
    EDITOR,
    FAST_HASHER,
    PASSWORD,
    add_editor,
    config,
    curator_on,
    make_item,
    make_near_miss,
    put,
    put_near_misses,
)

pytestmark = pytest.mark.browser

playwright_sync = pytest.importorskip("playwright.sync_api")
from playwright.sync_api import Browser, Page, expect, sync_playwright  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
ARTIFACTS = ROOT / "test-artifacts"
AXE_VERSION = "4.14.1"
AXE_DIR = Path(os.environ.get("CURATOR_AXE_DIR", ROOT / ".cache" / "axe"))
AXE_JS = AXE_DIR / "node_modules" / "axe-core" / "axe.min.js"
AXE_INSTALL = [
    "npm",
    "install",
    "--prefix",
    str(AXE_DIR),
    f"axe-core@{AXE_VERSION}",
    "--no-audit",
    "--no-fund",
    "--no-package-lock",
]


@pytest.fixture(autouse=True)
def _chromium_present() -> None:
    require(Path(CHROMIUM).exists(), f"no chromium at {CHROMIUM} (Debian package chromium)")


class LiveServer:
    """uvicorn serving the app from its own thread and event loop.

    The socket is bound and listening before the thread starts, so the browser's first
    connection waits in the backlog instead of the test waiting for a "started" flag.
    """

    def __init__(self, curator: Curator) -> None:
        self.curator = curator
        app = create_app(curator, password_hasher=FAST_HASHER)
        # IPPROTO_TCP: asyncio sets TCP_NODELAY only on sockets that say so; with proto 0 every
        # keep-alive response waits ~40 ms for the client's delayed ACK (Nagle).
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        self.server = uvicorn.Server(
            uvicorn.Config(app, log_level="warning", lifespan="off", access_log=False)
        )
        self.thread = threading.Thread(
            target=self.server.run, kwargs={"sockets": [self.sock]}, daemon=True
        )
        self.thread.start()

    def close(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=30)
        self.sock.close()
        # Playwright's sync API keeps an event loop running in this thread: close elsewhere.
        closer = threading.Thread(target=lambda: asyncio.run(self.curator.aclose()))
        closer.start()
        closer.join(timeout=30)


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield b
        finally:
            b.close()


@pytest.fixture
def live(
    tmp_path: Path, feed_server: FeedServer, monkeypatch: pytest.MonkeyPatch
) -> Iterator[LiveServer]:
    monkeypatch.delenv("CURATOR_SECRET_KEY", raising=False)
    cfg = config(
        [
            ("src-a", "Source A", feed_server.url("/a.xml")),
            ("src-b", "Source B", feed_server.url("/b.xml")),
        ]
    )
    cur = curator_on(tmp_path / "store", cfg)
    add_editor(cur.store)
    server = LiveServer(cur)
    try:
        yield server
    finally:
        server.close()


def _shoot_on_failure(request: pytest.FixtureRequest, page: Page, failed_before: int) -> None:
    """Save what the browser showed when the test failed (the call phase has been reported
    by the time fixtures are torn down)."""
    if request.session.testsfailed > failed_before:
        ARTIFACTS.mkdir(exist_ok=True)
        name = re.sub(r"[^A-Za-z0-9_.-]+", "_", request.node.nodeid)
        page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def _page(browser: Browser, request: pytest.FixtureRequest, **options: Any) -> Iterator[Page]:
    context = browser.new_context(**options)
    context.set_default_timeout(15_000)
    page = context.new_page()
    failed_before = request.session.testsfailed
    try:
        yield page
    finally:
        _shoot_on_failure(request, page, failed_before)
        context.close()


@pytest.fixture
def page(browser: Browser, request: pytest.FixtureRequest) -> Iterator[Page]:
    yield from _page(browser, request)


@pytest.fixture
def page_without_js(browser: Browser, request: pytest.FixtureRequest) -> Iterator[Page]:
    yield from _page(browser, request, java_script_enabled=False)


@pytest.fixture
def audit_page(browser: Browser, request: pytest.FixtureRequest) -> Iterator[Page]:
    """A page that may inject axe-core: Playwright adds it as an inline script, which the
    app's Content-Security-Policy rightly refuses, so this context bypasses the CSP."""
    yield from _page(browser, request, bypass_csp=True)


@pytest.fixture(scope="session")
def axe_js() -> Path:
    """axe-core's script, installed from the npm registry on first use.  A file lock keeps
    pytest-xdist workers from installing into the same folder at once."""
    if not AXE_JS.exists():
        require(shutil.which("npm") is not None, "axe-core is not installed and npm is missing")
        AXE_DIR.mkdir(parents=True, exist_ok=True)
        with FileLock(str(AXE_DIR / ".install.lock")):
            if not AXE_JS.exists():
                subprocess.run(AXE_INSTALL, check=True, capture_output=True, timeout=300)
    return AXE_JS


def sign_in(page: Page, base: str, nxt: str = "/", *, js: bool = True) -> None:
    page.goto(base + nxt)
    expect(page).to_have_url(re.compile(r"/login"))
    page.get_by_label("Name").fill(EDITOR)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("navigation", name="Main")).to_be_visible()
    if js:
        script_ready(page)


def script_ready(page: Page) -> None:
    """Wait until app.js (loaded with ``defer``) has wired its handlers: a key pressed
    before that does nothing, and the page alone does not say when that is."""
    expect(page.locator("html[data-js=ready]")).to_have_count(1)


def three_items(live: LiveServer) -> list[Item]:
    items = [
        make_item(1, score=9.0, title="Police CCTV network expands"),
        make_item(2, score=8.0, title="Camera plan for the high street"),
        make_item(3, score=7.0, title="Facial recognition trial ends"),
    ]
    put(live.curator.store, *items)
    return items


def status(live: LiveServer, item: Item) -> str:
    stored = live.curator.store.get_item(item.id)
    assert stored is not None
    return stored.status


# --------------------------------------------------------------------------- flows


def test_sign_in_and_sign_out(live: LiveServer, page: Page) -> None:
    sign_in(page, live.url, "/sources")
    expect(page).to_have_url(live.url + "/sources")
    expect(page.get_by_role("heading", level=1)).to_contain_text("Sources")
    page.get_by_role("button", name="Sign out").click()
    expect(page).to_have_url(live.url + "/login")
    expect(page.get_by_role("status")).to_contain_text("You are signed out.")
    page.goto(live.url + "/")
    expect(page).to_have_url(re.compile(r"/login$"))


def test_wrong_password_in_the_browser(live: LiveServer, page: Page) -> None:
    page.goto(live.url + "/login")
    page.get_by_label("Name").fill(EDITOR)
    page.get_by_label("Password").fill("not the password")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("alert")).to_contain_text("Wrong name or password.")


def test_approve_reject_undo_with_the_keyboard(live: LiveServer, page: Page) -> None:
    first, second, third = three_items(live)
    sign_in(page, live.url)
    rows = page.locator("article.item")
    expect(rows).to_have_count(3)
    page.keyboard.press("j")
    expect(rows.nth(0)).to_have_class(re.compile(r"\bcurrent\b"))
    count = page.locator("nav .count")
    expect(count).to_have_text("3")
    page.keyboard.press("a")
    expect(rows.nth(0).locator(".done-msg")).to_contain_text("Approved")
    assert status(live, first) == "approved"
    expect(rows.nth(0).locator(".status")).to_have_text("approved")  # the card says so
    expect(count).to_have_text("2")  # and so does the queue's count
    expect(rows.nth(1)).to_have_class(re.compile(r"\bcurrent\b"))  # moved on by itself
    page.keyboard.press("r")
    expect(rows.nth(1).locator(".done-msg")).to_contain_text("Rejected")
    assert status(live, second) == "rejected"
    page.keyboard.press("u")  # undo the last decision: the rejection
    expect(rows.nth(1)).not_to_have_class(re.compile(r"\bdone\b"))
    assert status(live, second) == "pending"
    expect(count).to_have_text("2")
    page.keyboard.press("k")
    page.keyboard.press("k")
    expect(rows.nth(0)).to_have_class(re.compile(r"\bcurrent\b"))
    rows.nth(0).get_by_role("button", name="Undo").click()
    expect(rows.nth(0).locator(".done-msg")).to_be_empty()
    assert status(live, first) == "pending"
    assert status(live, third) == "pending"
    # A reload shows the same truth the store holds.
    page.reload()
    expect(page.locator("article.item")).to_have_count(3)


def test_edit_then_approve(live: LiveServer, page: Page) -> None:
    first, _, _ = three_items(live)
    sign_in(page, live.url)
    page.keyboard.press("j")
    page.keyboard.press("e")
    expect(page).to_have_url(re.compile(rf"/items/{first.id}/edit"))
    page.get_by_label("Title").fill("Police CCTV network expands to three towns")
    page.get_by_label("Category").select_option("research")
    page.get_by_role("button", name="Save and approve").click()
    expect(page).to_have_url(live.url + "/")
    expect(page.get_by_role("status")).to_contain_text(
        "Saved and approved “Police CCTV network expands to three towns”."
    )
    expect(page.locator("article.item")).to_have_count(2)
    stored = live.curator.store.get_item(first.id)
    assert stored is not None and stored.status == "approved"
    assert stored.title == "Police CCTV network expands to three towns"
    assert stored.category == "research"


def test_reject_and_undo_without_javascript(live: LiveServer, page_without_js: Page) -> None:
    page = page_without_js
    first, _, _ = three_items(live)
    sign_in(page, live.url, js=False)
    page.locator(f"#item-{first.id}").get_by_role("button", name="Reject").click()
    expect(page.get_by_role("status")).to_contain_text("Rejected “Police CCTV network expands”.")
    expect(page.locator("article.item")).to_have_count(2)
    assert status(live, first) == "rejected"
    page.get_by_role("status").get_by_role("button", name="Undo").click()
    expect(page.locator("article.item")).to_have_count(3)
    assert status(live, first) == "pending"


def test_bulk_approve(live: LiveServer, page: Page) -> None:
    items = three_items(live)
    sign_in(page, live.url)
    page.get_by_label("All on this page").check()
    page.get_by_role("button", name="Approve selected").click()
    expect(page.get_by_role("status")).to_contain_text("Approved 3 items.")
    assert [status(live, i) for i in items] == ["approved"] * 3
    expect(page.get_by_text("The queue is empty")).to_be_visible()


def test_bulk_reject_then_undo_all(live: LiveServer, page: Page) -> None:
    items = three_items(live)
    extra = make_item(4, score=6.0, title="Camera vans on the ring road")
    put(live.curator.store, extra)
    items.append(extra)
    sign_in(page, live.url)
    page.get_by_label("All on this page").check()
    page.get_by_role("button", name="Reject selected").click()
    flash = page.get_by_role("status")
    expect(flash).to_contain_text("Rejected 4 items.")
    expect(page.get_by_text("The queue is empty")).to_be_visible()
    assert [status(live, i) for i in items] == ["rejected"] * 4
    flash.get_by_role("button", name="Undo").click()
    expect(page.get_by_role("status")).to_contain_text("Undid the last change to 4 items.")
    expect(page.locator("article.item")).to_have_count(4)
    expect(page.locator("h1 .total")).to_have_text("4")
    assert [status(live, i) for i in items] == ["pending"] * 4


def test_the_heading_count_follows_in_place_decisions(live: LiveServer, page: Page) -> None:
    three_items(live)
    sign_in(page, live.url)
    heading = page.locator("h1 .total")
    badge = page.locator("nav .count")
    expect(heading).to_have_text("3")
    page.keyboard.press("j")
    page.keyboard.press("a")
    expect(heading).to_have_text("2")
    expect(badge).to_have_text("2")
    page.keyboard.press("r")
    expect(heading).to_have_text("1")
    page.keyboard.press("u")
    expect(heading).to_have_text("2")
    # A list of decided items counts the other way: rejecting from Approved leaves it.
    page.goto(live.url + "/approved")
    script_ready(page)
    expect(heading).to_have_text("1")
    page.locator("article.item").first.get_by_role("button", name="Reject").click()
    expect(heading).to_have_text("0")
    page.keyboard.press("a")  # not offered on the Approved list: nothing happens
    expect(page.locator("article.item .done-msg").first).to_contain_text("Rejected")
    page.locator("article.item .done-msg").first.get_by_role("button", name="Undo").click()
    expect(heading).to_have_text("1")
    expect(badge).to_have_text("2")


def test_compact_view_fits_a_screen_of_items(live: LiveServer, browser: Browser) -> None:
    items = [
        make_item(n, score=50.0 - n, title=f"Police CCTV story {n} with a longer title " * 2)
        for n in range(1, 31)
    ]
    put(live.curator.store, *items)
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    try:
        page = context.new_page()
        sign_in(page, live.url)
        rows = page.locator("article.item")

        def on_screen() -> int:
            bottoms: list[float] = rows.evaluate_all(
                "els => els.map(e => e.getBoundingClientRect().bottom)"
            )
            return sum(1 for b in bottoms if b <= 800)

        assert on_screen() < 12  # cards: a few a screen
        page.get_by_role("link", name="Compact").click()
        expect(page.locator("ol.items.compact")).to_be_visible()
        assert on_screen() >= 12
        width = page.evaluate(
            "document.documentElement.scrollWidth - document.documentElement.clientWidth"
        )
        assert width <= 0
        first = rows.first
        expect(first.locator("h2")).to_have_count(1)
        box = first.bounding_box()
        assert box is not None and box["height"] < 48  # one line
        expect(first).to_contain_text("Source A")
        expect(first).to_contain_text("cctv")
        # Remembered: the next visit, and the other lists, keep it.
        page.goto(live.url + "/")
        expect(page.locator("ol.items.compact")).to_be_visible()
        script_ready(page)
        first.get_by_role("button", name="Approve").click()
        expect(first.locator(".done-msg")).to_contain_text("Approved")
        expect(page.locator("h1 .total")).to_have_text("29")
        page.goto(live.url + "/approved")
        expect(page.locator("ol.items.compact")).to_be_visible()
        page.get_by_role("link", name="Cards").click()
        expect(page.locator("ol.items.compact")).to_have_count(0)
        page.goto(live.url + "/")
        expect(page.locator("ol.items")).not_to_have_class(re.compile(r"compact"))
    finally:
        context.close()


def test_compact_view_without_javascript(live: LiveServer, page_without_js: Page) -> None:
    page = page_without_js
    first, second, _ = three_items(live)
    sign_in(page, live.url, js=False)
    page.get_by_role("link", name="Compact").click()
    expect(page.locator("ol.items.compact article.item")).to_have_count(3)
    page.locator(f"#item-{second.id}").get_by_role("button", name="Reject").click()
    expect(page.get_by_role("status")).to_contain_text("Rejected “Camera plan")
    # Back from the form post, still compact: the cookie remembered it.
    expect(page.locator("ol.items.compact article.item")).to_have_count(2)
    assert status(live, second) == "rejected" and status(live, first) == "pending"


def test_undo_an_edit_from_the_item_page(live: LiveServer, page_without_js: Page) -> None:
    page = page_without_js
    first, _, _ = three_items(live)
    sign_in(page, live.url, js=False)
    page.locator(f"#item-{first.id}").get_by_role("link", name="Edit").click()
    page.get_by_label("Title").fill("A title I regret")
    page.get_by_role("button", name="Save only").click()
    page.goto(live.url + f"/items/{first.id}")  # later, after leaving the page
    expect(page.locator(".last-change")).to_contain_text("Last change: edited by editor")
    page.get_by_role("button", name="Undo").click()
    expect(page.get_by_role("status")).to_contain_text("Undid the last change to")
    expect(page.get_by_role("heading", level=1)).to_have_text("Police CCTV network expands")
    stored = live.curator.store.get_item(first.id)
    assert stored is not None and stored.title == "Police CCTV network expands"
    assert stored.status == "pending"


def test_undo_an_edit_in_the_queue(live: LiveServer, page: Page) -> None:
    first, _, _ = three_items(live)
    live.curator.review.edit(first.id, by=EDITOR, title="A title I regret")
    sign_in(page, live.url)
    row = page.locator(f"#item-{first.id}")
    expect(row.locator("h2")).to_have_text("A title I regret")
    row.get_by_role("button", name="Undo").click()
    expect(row.locator("h2")).to_have_text("Police CCTV network expands")
    expect(page.locator("h1 .total")).to_have_text("3")  # still in the queue
    stored = live.curator.store.get_item(first.id)
    assert stored is not None and stored.title == "Police CCTV network expands"


ARTICLE = """<!doctype html><html><head><title>Page title</title>
<meta property="og:title" content="Watchdog report on police use of CCTV">
<meta name="description" content="The commissioner reviewed how forces use CCTV.">
<meta property="og:site_name" content="Commissioner">
<meta name="citation_publication_date" content="2025/02/14">
</head><body><p>Text</p></body></html>"""


def test_add_a_link_by_hand(live: LiveServer, page: Page, feed_server: FeedServer) -> None:
    url = feed_server.route("/report", body=ARTICLE, content_type="text/html; charset=utf-8")
    sign_in(page, live.url)
    page.get_by_role("link", name="Add a link").click()
    page.get_by_label("Web address of the article").fill(url)
    page.get_by_role("button", name="Fetch its details").click()
    title = page.get_by_label("Title")
    expect(title).to_have_value("Watchdog report on police use of CCTV")
    expect(page.get_by_label("Summary")).to_have_value(
        "The commissioner reviewed how forces use CCTV."
    )
    title.fill("Watchdog report on police CCTV")
    page.get_by_label("Category").select_option("guidance")
    page.get_by_role("button", name="Approve", exact=True).click()
    expect(page).to_have_url(live.url + "/approved")
    expect(page.locator("article.item")).to_have_count(1)
    expect(page.locator("article.item h2")).to_have_text("Watchdog report on police CCTV")
    [item] = live.curator.store.items("approved")
    assert item.url == url and item.category == "guidance" and item.reviewed_by == EDITOR


def test_phone_width_has_no_sideways_scroll(live: LiveServer, browser: Browser) -> None:
    three_items(live)
    context = browser.new_context(viewport={"width": 360, "height": 740}, is_mobile=True)
    try:
        page = context.new_page()
        sign_in(page, live.url)
        for path in ("/", "/?view=compact", "/sources", "/add"):
            page.goto(live.url + path)
            overflow = page.evaluate(
                "document.documentElement.scrollWidth - document.documentElement.clientWidth"
            )
            assert overflow <= 0, path
    finally:
        context.close()


# --------------------------------------------------------------------------- accessibility


def _violations(page: Page, axe_js: Path) -> list[dict[str, Any]]:
    page.add_script_tag(path=str(axe_js))
    result: dict[str, Any] = page.evaluate("async () => await axe.run(document)")
    return [v for v in result["violations"] if v.get("impact") in ("serious", "critical")]


def test_accessibility(live: LiveServer, audit_page: Page, axe_js: Path) -> None:
    page = audit_page
    items = three_items(live)
    page.goto(live.url + "/login")
    problems: dict[str, list[str]] = {}
    bad = _violations(page, axe_js)
    if bad:
        problems["/login"] = [f"{v['id']}: {v['help']}" for v in bad]
    sign_in(page, live.url)
    put_near_misses(live.curator.store, make_near_miss(1))
    paths = ["/", "/?view=compact", f"/items/{items[0].id}/edit", "/sources", "/add"]
    paths += [f"/items/{items[0].id}", "/digests", "/sources/src-a", "/near-misses"]
    for path in paths:
        page.goto(live.url + path)
        bad = _violations(page, axe_js)
        if bad:
            problems[path] = [
                f"{v['id']}: {v['help']} ({len(v['nodes'])} nodes, e.g. {v['nodes'][0]['target']})"
                for v in bad
            ]
    assert not problems, problems


# --------------------------------------------------------------------------- sources


def test_thirty_sources_fit_a_table_and_each_opens_its_details(
    live: LiveServer, page: Page
) -> None:
    """Issue 10: 30 sources made a 9,980 px page of cards; now a row each, details a click
    away."""
    cfg = live.curator.config
    first = cfg.sources[0]
    many = [
        first.model_copy(update={"id": f"src-{n:02d}", "name": f"Source {n:02d}"})
        for n in range(30)
    ]
    many[29] = many[29].model_copy(update={"enabled": False})
    live.curator.config = cfg.model_copy(update={"sources": many})
    page.set_viewport_size({"width": 1280, "height": 800})
    sign_in(page, live.url, "/sources")
    expect(page.locator("table.sources tbody tr")).to_have_count(30)
    expect(page.locator("#sources-summary")).to_have_text(
        "0 ok · 0 failing · 29 not polled yet · 1 disabled"
    )
    height = page.evaluate("document.documentElement.scrollHeight")
    assert height < 2500, height
    row = page.locator("#source-src-29")
    expect(row).to_contain_text("not polled (disabled)")
    expect(row.get_by_role("button", name="Poll now")).to_have_count(0)
    page.get_by_role("link", name="Source 07").click()
    expect(page).to_have_url(live.url + "/sources/src-07")
    expect(page.get_by_role("heading", level=1)).to_contain_text("Source 07")
    expect(page.locator("dl")).to_contain_text(first.url)
    page.get_by_role("link", name="All sources").click()
    expect(page.locator("table.sources")).to_be_visible()


def _expect_rows(page: Page, n: int) -> None:
    """The Sources table has ``n`` rows; when not, the failure shows the page it got."""
    rows = page.locator("table.sources tbody tr")
    try:
        expect(rows).to_have_count(n)
    except AssertionError as e:
        raise AssertionError(f"{e}\n--- {page.url}\n{page.inner_text('body')[:1500]}") from None


def test_a_running_serve_follows_a_saved_feeds_yaml(tmp_path: Path, page: Page) -> None:
    """Issue 10: an administrator edits feeds.yaml; the Sources page of a real `curator
    serve` follows a saved change, and shows the problems of a bad one while the running
    sources stay.  (SIGHUP: tests/test_serve.py, with the watch turned off.)"""
    import signal

    from curator import auth
    from curator.store import TinyDBStore
    from tests.test_serve import Log, free_port, sources_yaml, start

    dead = "http://127.0.0.1:9/feed"
    cfg = tmp_path / "feeds.yaml"
    cfg.write_text(sources_yaml(("a", dead)))
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    proc = start(tmp_path, port, args=("--watch-interval", "0.1"))
    log = Log(proc)
    try:
        log.wait(r"serving on")
        auth.add_user(TinyDBStore(tmp_path / "store"), EDITOR, PASSWORD, hasher=FAST_HASHER)
        sign_in(page, base, "/sources")
        _expect_rows(page, 1)

        cfg.write_text(sources_yaml(("a", dead), ("b", dead + "/b")))
        log.wait(r"configuration reloaded .*added=b")
        page.reload()
        _expect_rows(page, 2)
        expect(page.get_by_role("link", name="B", exact=True)).to_be_visible()

        cfg.write_text(sources_yaml(("a", dead), ("b", dead + "/b")) + "sources: []\n")
        log.wait(r"not reloaded path=.*why=the file changed problems=1")
        page.reload()
        problems = page.locator("#config-problems")
        expect(problems).to_contain_text("feeds.yaml was not reloaded")
        expect(problems).to_contain_text(f"{cfg}:6 sources: this key appears twice")
        _expect_rows(page, 2)
    finally:
        proc.send_signal(signal.SIGTERM)
        err = log.rest()
    assert proc.returncode == 0 and "Traceback" not in err


def test_a_running_serve_rereads_feeds_yaml_on_sighup(tmp_path: Path, page: Page) -> None:
    """Issue 10: `systemctl reload curator` (SIGHUP) with the file watch off: the Sources page
    of a real `curator serve` shows the new source only after the signal."""
    import signal

    from curator import auth
    from curator.store import TinyDBStore
    from tests.test_serve import Log, free_port, sources_yaml, start

    dead = "http://127.0.0.1:9/feed"
    cfg = tmp_path / "feeds.yaml"
    cfg.write_text(sources_yaml(("a", dead)))
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    proc = start(tmp_path, port, args=("--watch-interval", "0"))
    log = Log(proc)
    try:
        log.wait(r"serving on")
        auth.add_user(TinyDBStore(tmp_path / "store"), EDITOR, PASSWORD, hasher=FAST_HASHER)
        sign_in(page, base, "/sources")
        cfg.write_text(sources_yaml(("a", dead), ("b", dead + "/b")))
        page.reload()  # saved, but nothing watches the file: still one source
        expect(page.locator("table.sources tbody tr")).to_have_count(1)
        proc.send_signal(signal.SIGHUP)
        log.wait(r"configuration reloaded .*why=SIGHUP.*added=b")
        page.reload()
        expect(page.locator("table.sources tbody tr")).to_have_count(2)
    finally:
        proc.send_signal(signal.SIGTERM)
        err = log.rest()
    assert proc.returncode == 0 and "Traceback" not in err


def test_promote_a_near_miss(live: LiveServer, page: Page) -> None:
    near = make_near_miss(1, title="Supermarket fits CCTV at its tills")
    put_near_misses(live.curator.store, near)
    sign_in(page, live.url)
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Near misses").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Near misses")
    row = page.locator(f"#near-{near.id}")
    expect(row).to_contain_text("scored 7, lacked a term from group 'policing'")
    page.keyboard.press("a")  # the queue's keys do nothing here
    row.get_by_role("button", name="Promote").click()
    expect(page.get_by_role("status")).to_contain_text(
        "Promoted to the queue: “Supermarket fits CCTV at its tills”."
    )
    expect(page.locator(f"#near-{near.id}")).to_have_count(0)
    stored = live.curator.store.get_item(near.id)
    assert stored is not None and stored.status == "pending"
    page.get_by_role("link", name=re.compile(r"^Queue")).click()
    expect(page.locator(f"#item-{near.id}")).to_contain_text("Supermarket fits CCTV at its tills")
