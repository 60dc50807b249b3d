"""The administrators' pages and the readers' unsubscribe link in Chromium (Playwright with
Debian's chromium, as tests/test_browser.py)."""

from __future__ import annotations

import asyncio
import re
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import trustme

from curator import auth, subscribers
from curator.core import Curator
from tests.smtpserver import smtp_server
from tests.test_web_admin import READER, _config, https_app, send_digest
from tests.webkit import FAST_HASHER, PASSWORD, add_editor, curator_on

playwright_sync = pytest.importorskip("playwright.sync_api")
from playwright.sync_api import Browser, Page, expect  # noqa: E402

from tests.test_browser import (  # noqa: E402  (the same browser, server and sign-in steps)
    LiveServer,
    _chromium_present,  # noqa: F401
    browser,  # noqa: F401
    page,  # noqa: F401
    sign_in,
)


@pytest.fixture
def cur(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Curator]:
    monkeypatch.delenv("CURATOR_SECRET_KEY", raising=False)
    c = curator_on(tmp_path / "store", _config())
    add_editor(c.store)  # the first account: an administrator
    auth.add_user(c.store, "bob", PASSWORD, hasher=FAST_HASHER)
    try:
        yield c
    finally:
        # Playwright's sync API keeps an event loop running in this thread: close elsewhere.
        closer = threading.Thread(target=lambda: asyncio.run(c.aclose()))
        closer.start()
        closer.join(timeout=30)


def test_the_admin_pages(cur: Curator, page: Page) -> None:  # noqa: F811
    live = LiveServer(cur)
    try:
        sign_in(page, live.url)
        page.get_by_role("link", name="Admin").click()
        expect(page.get_by_role("heading", name="Editors")).to_be_visible()
        page.get_by_label("Name").fill("carol")
        page.get_by_role("button", name="Add, with a temporary password").click()
        password = page.locator("#temporary-password").inner_text()
        assert len(password) >= 10
        carol = cur.store.get_user("carol")
        assert carol is not None and not carol.admin
        assert auth.check_password(carol, password)
        page.locator('tr[data-name="bob"]').get_by_role("button", name="Remove").click()
        expect(page.get_by_text("Removed bob.")).to_be_visible()
        assert cur.store.get_user("bob") is None
        page.get_by_role("link", name="Digest subscribers").click()
        page.get_by_label("E-mail address").fill("new@example.org")
        page.get_by_role("button", name="Subscribe").click()
        expect(page.locator("#subscribers")).to_contain_text("new@example.org")
        assert subscribers.readers(cur.config, cur.store) == ["new@example.org", READER]
    finally:
        live.close()


def test_a_received_digests_link_followed_in_the_browser_unsubscribes(
    cur: Curator,
    browser: Browser,  # noqa: F811
    tmp_path: Path,
) -> None:
    ca = trustme.CA()
    context = browser.new_context(ignore_https_errors=True)  # the test CA is not Chromium's
    context.set_default_timeout(15_000)
    try:
        with https_app(cur, ca, tmp_path) as base, smtp_server() as server:
            url = send_digest(cur, server, base)
            tab = context.new_page()
            tab.goto(url)
            expect(tab.get_by_role("heading", name=re.compile("Unsubscribe"))).to_be_visible()
            assert subscribers.readers(cur.config, cur.store) == [READER]  # opening is not enough
            tab.get_by_role("button", name="Unsubscribe").click()
            expect(tab.get_by_role("heading", name="You are unsubscribed")).to_be_visible()
        assert subscribers.readers(cur.config, cur.store) == []
    finally:
        context.close()
