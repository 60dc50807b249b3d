"""Research metadata in every output: the citation line (curator.citation), JSON Feed's
``authors`` and ``_curator`` fields (links.json too), Atom ``author``, the HTML fragment, the
digest, and the editor's queue and item pages; hostile values stay escaped text."""

from __future__ import annotations

import json
from dataclasses import replace
from xml.etree import ElementTree as ET

from starlette.testclient import TestClient

from curator.citation import citation_line, research_fields
from curator.types import Item
from tests.test_digest import render as render_digest
from tests.test_publish import jsonfeed_validator, make_item, rendered
from tests.test_web import Env, editor, env  # noqa: F401  (fixtures)
from tests.webkit import csrf_of, put

ATOM = "{http://www.w3.org/2005/Atom}"


def research_item(n: int = 1, **changes: object) -> Item:
    item = make_item(
        n,
        title=f"Live facial recognition in public space CCTV: an audit {n}",
        category="research",
        authors=("Ann Example", "Bo Sample"),
    )
    research: dict[str, object] = {
        "doi": "10.1016/j.jcrimjus.2023.102030",
        "arxiv_id": "2301.01234",
        "venue": "Journal of Criminal Justice",
        "publication_date": "2023-05-02",
        "open_access": True,
        "urls": ("http://dx.doi.org/10.1016/j.jcrimjus.2023.102030",),
    }
    return replace(item, **{**research, **changes})  # type: ignore[arg-type]


LINE = (
    "Ann Example and Bo Sample · Journal of Criminal Justice · 2023 · "
    "doi:10.1016/j.jcrimjus.2023.102030 · arXiv:2301.01234 · open access"
)


def test_citation_line() -> None:
    item = research_item()
    assert citation_line(item) == LINE
    four = replace(item, authors=("A One", "B Two", "C Three", "D Four"), open_access=False)
    assert citation_line(four).startswith("A One et al. · Journal")
    assert "open access" not in citation_line(four)
    news = make_item(2, authors=("Reporter",))
    assert citation_line(news) == "" and research_fields(news) == {}
    only_doi = replace(news, doi="10.1/x")
    assert citation_line(only_doi) == "Reporter · doi:10.1/x"


def test_json_feed_carries_authors_and_the_curator_extension() -> None:
    items = [research_item(1), make_item(2)]
    out = rendered("json", items)
    doc = json.loads(out.body)
    jsonfeed_validator().validate(doc)
    research, news = sorted(doc["items"], key=lambda i: "_curator" not in i)
    assert research["authors"] == [{"name": "Ann Example"}, {"name": "Bo Sample"}]
    ext = research["_curator"]
    assert ext["doi"] == "10.1016/j.jcrimjus.2023.102030"
    assert ext["doi_url"] == "https://doi.org/10.1016/j.jcrimjus.2023.102030"
    assert (ext["arxiv_id"], ext["arxiv_url"]) == ("2301.01234", "https://arxiv.org/abs/2301.01234")
    assert (ext["venue"], ext["publication_date"], ext["open_access"]) == (
        "Journal of Criminal Justice",
        "2023-05-02",
        True,
    )
    assert ext["citation"] == LINE
    assert ext["links"] == [items[0].url, "http://dx.doi.org/10.1016/j.jcrimjus.2023.102030"]
    assert "_curator" not in news


def test_atom_names_each_author() -> None:
    out = rendered("atom", [research_item()])
    root = ET.fromstring(out.body)
    (entry,) = root.findall(f"{ATOM}entry")
    names = [a.findtext(f"{ATOM}name") for a in entry.findall(f"{ATOM}author")]
    assert names == ["Ann Example", "Bo Sample"]


def test_html_fragment_has_an_escaped_citation_line() -> None:
    hostile = research_item(venue="<script>alert(1)</script> & Co")
    out = rendered("html", [hostile])
    body = out.body.decode()
    assert '<div class="curator-citation" dir="auto">' in body
    assert "&lt;script&gt;alert(1)&lt;/script&gt; &amp; Co" in body
    assert "<script>" not in body


def test_digest_shows_a_citation_line_under_research_items() -> None:
    d = render_digest([research_item(), make_item(2)])
    text = d.render("txt")
    assert isinstance(text, str)
    assert "Ann Example and Bo Sample · Journal of Criminal Justice · 2023" in text
    assert text.count("doi:10.1016/j.jcrimjus.2023.102030") == 1
    page = d.render("html")
    assert isinstance(page, str) and "arXiv:2301.01234" in page


def test_editor_pages_show_the_citation_line(env: Env, editor: TestClient) -> None:  # noqa: F811
    pending = replace(research_item(3, venue="<b>Bold</b> Journal"), status="pending")
    put(env.store, pending)
    queue = editor.get("/")
    assert queue.status_code == 200
    assert '<p class="citation">' in queue.text
    assert "&lt;b&gt;Bold&lt;/b&gt; Journal" in queue.text and "<b>Bold</b>" not in queue.text
    page = editor.get(f"/items/{pending.id}")
    assert 'href="https://doi.org/10.1016/j.jcrimjus.2023.102030"' in page.text
    assert 'href="https://arxiv.org/abs/2301.01234"' in page.text


NO_DOI_PAGE = b"""<!DOCTYPE html><html><head><meta charset="utf-8">
<meta name="citation_title" content="Town centre CCTV and night-time crime">
<meta name="citation_author" content="Example, Ann">
<meta name="citation_journal_title" content="Security Journal">
<meta name="citation_publication_date" content="2024/02/01">
</head><body></body></html>"""


def test_look_up_metadata_from_the_item_page(env: Env, editor: TestClient) -> None:  # noqa: F811
    page = env.server.route("/paper", NO_DOI_PAGE, content_type="text/html")
    item = replace(make_item(4, url=page, category="research"), status="pending")
    put(env.store, item)
    shown = editor.get(f"/items/{item.id}")
    assert 'action="/items/' + item.id + '/research"' in shown.text
    assert editor.post(f"/items/{item.id}/research", data={}).status_code == 403  # no token
    token = csrf_of(shown.text)
    r = editor.post(f"/items/{item.id}/research", data={"csrf": token})
    assert (r.status_code, r.headers["location"]) == (303, f"/items/{item.id}")
    stored = env.item(item.id)
    assert (stored.venue, stored.authors) == ("Security Journal", ("Ann Example",))
    assert stored.publication_date == "2024-02-01" and stored.enriched_at is not None
    after = editor.get(f"/items/{item.id}")
    assert "Metadata found" in after.text
    assert "Ann Example · Security Journal · 2024" in after.text
    assert len(env.server.requests_to("/paper")) == 1
    news = make_item(5)
    put(env.store, replace(news, status="pending"))
    assert "/research" not in editor.get(f"/items/{news.id}").text.split("<section")[0]
