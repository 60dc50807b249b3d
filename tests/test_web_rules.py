"""The rules page (web/_rules.py): the rules readable, the dry run of a changed ``rules:``
section over the kept entries, and saving it (administrators, CSRF, comments kept, refused
when feeds.yaml changed meanwhile, nothing written for invalid rules).  Through Starlette's
TestClient on a real store filled by a real poll of the local feed server."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from starlette.testclient import TestClient

from curator import __version__, auth, config
from curator.core import Curator, make_curator
from curator.store import TinyDBStore
from curator.web import create_app
from tests.feedserver import FeedServer
from tests.test_pipeline import CCTV, OFF_TOPIC, SHOP, Clock, rss, run
from tests.test_workbench import NOW, feeds_yaml
from tests.webkit import EDITOR, FAST_HASHER, PASSWORD, add_editor, csrf_of


@pytest.fixture
def cur(
    tmp_path: Path, feed_server: FeedServer, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Curator]:
    """A curator whose feeds.yaml is a real file, after one poll: CCTV kept, SHOP a near
    miss (its source requires a policing term), OFF_TOPIC dropped."""
    monkeypatch.delenv("CURATOR_SECRET_KEY", raising=False)
    url = feed_server.route("/f", rss(CCTV, SHOP, OFF_TOPIC), etag=None)
    path = tmp_path / "feeds.yaml"
    path.write_text(feeds_yaml(url))
    c = make_curator(config.load(path), store=TinyDBStore(tmp_path / "store"), clock=Clock(NOW))
    run(c)
    add_editor(c.store)  # the first account: an administrator
    auth.add_user(c.store, "bob", PASSWORD, hasher=FAST_HASHER)  # an editor
    try:
        yield c
    finally:
        asyncio.run(c.aclose())


def client(cur: Curator, name: str | None = EDITOR) -> TestClient:
    c = TestClient(
        create_app(cur, password_hasher=FAST_HASHER),
        base_url="https://testserver",
        follow_redirects=False,
    )
    if name is not None:
        page = c.get("/login")
        r = c.post("/login", data={"csrf": csrf_of(page.text), "name": name, "password": PASSWORD})
        assert r.status_code == 303
    return c


def body_of(page: str) -> str:
    m = re.search(r'<textarea id="rules-text"[^>]*>(.*?)</textarea>', page, re.S)
    assert m, "no rules editor on the page"
    import html

    return html.unescape(m.group(1))


def version_of(page: str) -> str:
    m = re.search(r'name="version" value="([0-9a-f]{64})"', page)
    assert m
    return m.group(1)


def post(c: TestClient, url: str, page: str, **data: str) -> httpx.Response:
    r: httpx.Response = c.post(url, data={"csrf": csrf_of(page), **data})
    return r


#: The change tried: supermarkets count as policing (SHOP newly kept) and an entry about a
#: council is excluded (CCTV newly dropped).
def changed(body: str) -> str:
    assert "met]" in body
    return body.replace("met]", "met, supermarket]") + "exclude: [council]\n"


def test_the_rules_page_needs_a_sign_in_and_shows_the_rules(cur: Curator) -> None:
    r = client(cur, None).get("/rules")
    assert r.status_code == 303 and r.headers["location"] == "/login?next=/rules"
    page = client(cur, "bob").get("/rules")
    assert page.status_code == 200
    text = page.text
    assert 'href="/rules" aria-current="page"' in text  # in the nav
    assert 'href="/near-misses"' in text
    assert "police · policing · met" in text  # the group's terms
    assert '<td>live facial recognition</td><td class="num">+4</td>' in text
    assert re.search(r"News</a>: requires policing", text)  # the source's own rules
    assert "3 entries the polls kept" in text
    assert body_of(text).startswith("min_score: 3\n")
    assert f"<p>Curator {__version__}</p>" in text  # the footer's, not the file's version
    # The content security policy allows no inline script or style.
    assert not re.search(r"<script(?![^>]*\bsrc=)", text) and " style=" not in text


def test_a_dry_run_lists_what_the_changed_rules_would_newly_keep_and_drop(
    cur: Curator, tmp_path: Path
) -> None:
    before = (tmp_path / "feeds.yaml").read_bytes()
    for name in (EDITOR, "bob"):
        c = client(cur, name)
        page = c.get("/rules").text
        r = post(c, "/rules/try", page, rules=changed(body_of(page)), version=version_of(page))
        assert r.status_code == 200
        kept = r.text.split('id="newly-kept"')[1].split("</ol>")[0]
        dropped = r.text.split('id="newly-dropped"')[1].split("</ol>")[0]
        assert SHOP[0] in kept and CCTV[0] not in kept
        decided = kept.split("Decided by:</strong> ")[1].split("</p>")[0].split("; ")
        assert {"supermarket", "cctv"} <= set(decided)
        assert CCTV[0] in dropped and "Decided by:</strong> excluded: Council" in dropped
        assert "1</strong> newly kept · <strong>1</strong> newly dropped · 1 unchanged" in r.text
        assert body_of(r.text) == changed(body_of(page))  # the text stays to work on
        confirm = 'id="rules-confirm"' in r.text
        assert confirm == (name == EDITOR), name  # only an administrator may save
    assert (tmp_path / "feeds.yaml").read_bytes() == before  # nothing written


def test_saving_needs_an_administrator_and_the_csrf_token(cur: Curator, tmp_path: Path) -> None:
    path = tmp_path / "feeds.yaml"
    before = path.read_text()
    bob = client(cur, "bob")
    page = bob.get("/rules").text
    data = {"rules": changed(body_of(page)), "version": version_of(page)}
    assert post(bob, "/rules/save", page, **data).status_code == 403
    admin = client(cur)
    assert admin.post("/rules/save", data=data).status_code == 403  # no token
    assert admin.post("/rules/save", data={**data, "csrf": "forged"}).status_code == 403
    assert path.read_text() == before

    r = post(admin, "/rules/save", admin.get("/rules").text, **data)
    assert r.status_code == 303 and r.headers["location"] == "/rules"
    after = path.read_text()
    # Only the rules: lines changed; the comments and everything else are as they were.
    assert after.startswith("# Curator's configuration: a comment that must survive edits\n")
    assert "  # the one test feed\n" in after
    assert "    policing: [police, policing, met, supermarket]\n  exclude: [council]\n" in after
    assert after.split("sources:")[1] == before.split("sources:")[1]
    assert config.load(path).rules.exclude == ["council"]
    shown = admin.get("/rules").text
    assert "curator serve reloads the file within seconds" in shown


def test_a_file_changed_meanwhile_is_not_overwritten(cur: Curator, tmp_path: Path) -> None:
    path = tmp_path / "feeds.yaml"
    admin = client(cur)
    page = admin.get("/rules").text
    meanwhile = path.read_text() + "# someone else's edit\n"
    path.write_text(meanwhile)
    r = post(admin, "/rules/save", page, rules=changed(body_of(page)), version=version_of(page))
    assert r.status_code == 409
    assert "changed by someone else since you opened it" in r.text
    assert body_of(r.text) == changed(body_of(page))  # the editor's work is not lost
    assert path.read_text() == meanwhile


def test_invalid_rules_show_their_problems_and_write_nothing(cur: Curator, tmp_path: Path) -> None:
    path = tmp_path / "feeds.yaml"
    before = path.read_text()
    admin = client(cur)
    page = admin.get("/rules").text
    bad = body_of(page).replace("min_score: 3", "min_score: lots")
    for url in ("/rules/try", "/rules/save"):
        r = post(admin, url, page, rules=bad, version=version_of(page))
        assert r.status_code == 400, url
        problems = r.text.split('id="rules-problems"')[1].split("</div>")[0]
        assert "the rules text:1" in problems and "rules.min_score" in problems
        assert 'id="rules-trial"' not in r.text
    r = post(
        admin, "/rules/try", page, rules='groups: {policing: ["--"]}\n', version=version_of(page)
    )
    assert r.status_code == 400
    assert "the rules text</code> <code>rules.groups.policing</code>: term" in r.text
    assert "has no letter or digit" in r.text
    r = post(
        admin, "/rules/save", page, rules="include:\n  cctv: 3\n---\n", version=version_of(page)
    )
    assert r.status_code == 400 and "not &#39;---&#39;" in r.text
    assert path.read_text() == before


def test_add_what_the_rules_now_catch(cur: Curator, tmp_path: Path) -> None:
    admin = client(cur, "bob")
    page = admin.get("/rules").text
    # As serve's reload would: the configuration without the source's requirement.
    text = feeds_yaml(cur.config.sources[0].url, source_rules="\n")
    (tmp_path / "feeds.yaml").write_text(text)
    cur.config = config.load(tmp_path / "feeds.yaml")
    r = post(admin, "/rules/apply", page)
    assert r.status_code == 303
    assert "Added 1 entry the current rules now catch" in admin.get("/rules").text
    assert {i.title for i in cur.store.items("pending")} == {CCTV[0], SHOP[0]}
