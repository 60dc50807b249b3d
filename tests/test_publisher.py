"""Publisher class and jurisdiction (curator/publisher.py): the config keys, items made by the
pipeline, old stores, /links.json?class= and the embed, the editor's queue filter, and the
digest's Research section."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from starlette.applications import Starlette
from starlette.testclient import TestClient

from curator import config, dedupe, digest, publisher, store
from curator.config import Config, Publish, Source
from curator.exceptions import ConfigError
from curator.store import Store, TinyDBStore
from curator.types import Candidate, Entry, Item
from curator.web import create_app
from curator.web.public import public_routes
from tests.test_publish import NOW, fill_store, make_item
from tests.test_web_admin import signed_in
from tests.webkit import FAST_HASHER, add_editor, curator_on

BASE = "https://curator.example.org"


def src(sid: str, klass: str | None, jurisdiction: str = "UK", **extra: object) -> Source:
    data: dict[str, object] = {"id": sid, "name": sid.title(), "url": f"https://{sid}.example/f"}
    if klass:
        data["class"] = klass
    data["jurisdiction"] = jurisdiction
    return Source.model_validate({**data, **extra})


SOURCES = [
    src("met", "police"),
    src("homeoffice", "government"),
    src("uni", "academic", "INT"),
    src("wired", "press", "US"),
    src("blank", None),
]


def item_from(n: int, source: str, **changes: object) -> Item:
    return replace(make_item(n), sources=(source,), **changes)  # type: ignore[arg-type]


# --------------------------------------------------------------------------- config


def test_class_and_jurisdiction_are_read_and_checked() -> None:
    cfg = config.loads(
        "sources:\n"
        "  - {id: a, name: A, url: 'https://a.example/f', class: police}\n"
        "  - {id: b, name: B, url: 'https://b.example/f', class: press, jurisdiction: gb-sct}\n"
    )
    a, b = cfg.sources
    assert (a.publisher_class, a.jurisdiction) == ("police", "UK")
    assert (b.publisher_class, b.jurisdiction) == ("press", "GB-SCT")
    with pytest.raises(ConfigError) as e:
        config.loads(
            "sources:\n"
            "  - {id: a, name: A, url: 'https://a.example/f', class: polis}\n"
            "  - {id: b, name: B, url: 'https://b.example/f', jurisdiction: Britain!}\n"
        )
    text = str(e.value)
    assert "feeds.yaml:2: sources[0] (id a).class" in text and "'polis'" in text
    assert "feeds.yaml:3: sources[1] (id b).jurisdiction" in text


def test_every_bundled_source_declares_a_class() -> None:
    bundled = config.load(Path(__file__).parent.parent / "feeds.yaml")
    assert all(s.publisher_class for s in bundled.sources)
    assert {s.publisher_class for s in bundled.sources} <= set(publisher.PUBLISHER_CLASSES)


def test_classifying_a_source_keeps_its_config_hash() -> None:
    """A 410 mark is cleared by a change of configuration; a class says nothing of fetching."""
    plain = src("met", None)
    assert src("met", "police", "US").config_hash() == plain.config_hash()
    assert src("met", "police", url="https://other.example/f").config_hash() != plain.config_hash()


# --------------------------------------------------------------------------- items


def _candidate(source_id: str) -> Candidate:
    entry = Entry(
        source_id=source_id,
        title="Police CCTV network upgrade approved by council",
        url="https://news.example/cctv-upgrade",
        canonical_url="https://news.example/cctv-upgrade",
        item_id="abc123",
        summary_html="<p>x</p>",
        summary_text="x",
        published=NOW,
    )
    return Candidate(entry, 5.0, (), "title: cctv")


def test_new_items_carry_their_first_source_values(tmp_path: Path) -> None:
    decision = dedupe.decide(
        _candidate("wired"), source=SOURCES[3], store=TinyDBStore(tmp_path / "s"), now=NOW
    )
    assert isinstance(decision, dedupe.New)
    assert (decision.item.publisher_class, decision.item.jurisdiction) == ("press", "US")


def test_an_old_store_without_the_fields_still_loads(tmp_path: Path) -> None:
    item = item_from(1, "met", publisher_class="police", jurisdiction="UK")
    data = store.to_json(item)
    assert data["publisher_class"] == "police"
    old = {k: v for k, v in data.items() if k not in ("publisher_class", "jurisdiction")}
    back = store.from_json(Item, old)
    assert (back.publisher_class, back.jurisdiction) == (None, None)
    assert back == dataclasses.replace(item, publisher_class=None, jurisdiction=None)
    # And through a real store on disk, whose item file was written without them.
    s = fill_store(tmp_path / "store", [replace(item, publisher_class=None, jurisdiction=None)])
    raw = next((tmp_path / "store").rglob("items/*.json"))
    text = raw.read_text(encoding="utf-8")
    assert '"publisher_class"' in text
    doc = json.loads(text)
    _strip(doc)
    raw.write_text(json.dumps(doc), encoding="utf-8")
    loaded = TinyDBStore(tmp_path / "store").get_item(item.id)
    assert loaded is not None and loaded.publisher_class is None
    del s


def _strip(node: object) -> None:
    """Remove the new keys wherever they appear in a store file."""
    if isinstance(node, dict):
        node.pop("publisher_class", None)
        node.pop("jurisdiction", None)
        for v in node.values():
            _strip(v)
    elif isinstance(node, list):
        for v in node:
            _strip(v)


def test_read_prefers_the_current_configuration_and_falls_back_to_the_item() -> None:
    table = publisher.Classes.of_config(SOURCES)
    made_as_press = item_from(1, "met", publisher_class="press", jurisdiction="US")
    assert publisher.of(made_as_press, table) == publisher.Publisher("police", "UK")
    orphan = item_from(2, "removed-source", publisher_class="campaign", jurisdiction="EU")
    assert publisher.of(orphan, table) == publisher.Publisher("campaign", "EU")
    by_hand = item_from(3, "manual")
    assert publisher.of(by_hand, table) == publisher.Publisher(None, None)


def test_filter_parsing() -> None:
    assert publisher.parse_classes(["Police", "academic,police", ""]) == ("police", "academic")
    with pytest.raises(ValueError, match="unknown class 'cops'; use one of government, police"):
        publisher.parse_classes(["cops"])
    assert publisher.parse_jurisdictions(["uk,US", " eu "]) == ("EU", "UK", "US")
    with pytest.raises(ValueError, match="jurisdiction must be a short code"):
        publisher.parse_jurisdictions(["<script>"])


# --------------------------------------------------------------------------- public outputs


@dataclasses.dataclass
class Site:
    config: Config
    store: Store
    clock: object


@pytest.fixture
def site(tmp_path: Path) -> Iterator[tuple[TestClient, Site]]:
    items = [
        item_from(1, "met"),
        item_from(2, "homeoffice"),
        item_from(3, "uni", category="research"),
        item_from(4, "wired"),
        item_from(5, "blank"),
        item_from(6, "gone-source", publisher_class="police", jurisdiction="UK"),
    ]
    s = fill_store(tmp_path / "store", items)
    cfg = Config(sources=SOURCES, publish=Publish(base_url=BASE, cache_seconds=60, limit=20))
    the_site = Site(cfg, s, lambda: NOW)
    app = Starlette(routes=public_routes(the_site))  # type: ignore[arg-type]
    with TestClient(app, base_url=BASE) as client:
        yield client, the_site


def _urls(client: TestClient, query: str) -> list[str]:
    r = client.get("/links.json" + query)
    assert r.status_code == 200, r.text
    return sorted(i["url"].split("?")[0].rsplit("/", 1)[-1] for i in r.json()["items"])


def test_links_json_selects_by_class_and_jurisdiction(site: tuple[TestClient, Site]) -> None:
    client, _ = site
    assert _urls(client, "") == ["1", "2", "3", "4", "5", "6"]
    assert _urls(client, "?class=police") == ["1", "6"]  # 6: its source is gone, kept value
    assert _urls(client, "?class=police,government") == ["1", "2", "6"]
    assert _urls(client, "?class=academic&class=press") == ["3", "4"]
    assert _urls(client, "?jurisdiction=us") == ["4"]
    assert _urls(client, "?jurisdiction=UK&class=government") == ["2"]
    assert _urls(client, "?class=police&category=research") == []
    assert _urls(client, "?jurisdiction=FR") == []
    feed = client.get("/links.json?class=police").json()
    assert feed["feed_url"] == f"{BASE}/links.json?class=police"


@pytest.mark.parametrize(
    ("query", "message"),
    [
        (
            "class=cops",
            "unknown class 'cops'; use one of government, police, regulator, "
            "academic, press, industry, campaign",
        ),
        (
            "jurisdiction=United+Kingdom",
            "jurisdiction must be a short code such as UK, US, EU or GB-SCT, not 'United Kingdom'",
        ),
    ],
)
@pytest.mark.parametrize("path", ["/links.json", "/links.rss", "/links.atom", "/embed"])
def test_unknown_values_get_400_with_a_clear_message(
    site: tuple[TestClient, Site], path: str, query: str, message: str
) -> None:
    client, _ = site
    r = client.get(f"{path}?{query}")
    assert r.status_code == 400
    assert r.text.strip() == message


def test_the_embed_selects_by_class(site: tuple[TestClient, Site]) -> None:
    client, _ = site
    page = client.get("/embed?class=academic").text
    assert page.count('<li class="curator-item"') == 1
    assert "/3?" in page or "/3&" in page or '/3"' in page
    js = client.get("/embed.js").text
    assert 'attr("data-class"' in js and 'url.searchParams.set("class"' in js
    assert 'url.searchParams.set("jurisdiction"' in js


def test_reclassifying_a_source_changes_the_cached_output(
    site: tuple[TestClient, Site],
) -> None:
    client, the_site = site
    assert _urls(client, "?class=press") == ["4"]
    moved = [src("met", "press") if s.id == "met" else s for s in SOURCES]
    the_site.config = the_site.config.model_copy(update={"sources": moved})
    assert _urls(client, "?class=press") == ["1", "4"]


# --------------------------------------------------------------------------- queue


@pytest.fixture
def web(tmp_path: Path) -> Iterator[TestClient]:
    cfg = Config(sources=SOURCES)
    cur = curator_on(tmp_path / "store", cfg)
    add_editor(cur.store)
    with cur.store.transaction():
        for n, sid in enumerate(("met", "homeoffice", "uni", "wired", "manual"), start=1):
            cur.store.put_item(
                replace(
                    item_from(n, sid, status="pending"),
                    title=f"CCTV story from {sid}",
                    reviewed_by=None,
                    reviewed_at=None,
                )
            )
    app = create_app(cur, password_hasher=FAST_HASHER)
    yield signed_in(app)


def test_the_queue_filters_by_class_and_jurisdiction(web: TestClient) -> None:
    def titles(query: str) -> set[str]:
        page = web.get("/" + query).text
        return {
            sid
            for sid in ("met", "homeoffice", "uni", "wired", "manual")
            if f"CCTV story from {sid}" in page
        }

    assert titles("") == {"met", "homeoffice", "uni", "wired", "manual"}
    assert titles("?class=police") == {"met"}
    assert titles("?class=unclassified") == {"manual"}
    assert titles("?jurisdiction=int") == {"uni"}
    assert titles("?class=nonsense") == titles("")  # unknown: ignored, like category
    page = web.get("/?class=academic").text
    assert '<option value="academic" selected>' in page
    assert 'class="publisher publisher-academic"' in page


# --------------------------------------------------------------------------- digest


def test_the_digest_puts_academic_publishers_under_research() -> None:
    cfg = Config(sources=SOURCES)
    items = [
        item_from(1, "met"),
        item_from(2, "uni"),  # category news, academic publisher → Research
        item_from(3, "wired", category="research"),  # research category → Research
        item_from(4, "homeoffice", category="guidance"),
    ]
    d = digest.render(
        items,
        cfg,
        start=NOW - timedelta(days=7),
        end=NOW,
        created_at=NOW,
        message_id="<x@example.org>",
    )
    text = d.text
    news, rest = text.split("NEWS (1)", 1)[1], text
    assert "RESEARCH (2)" in rest and "GUIDANCE (1)" in rest
    research = text.split("RESEARCH (2)", 1)[1].split("GUIDANCE", 1)[0]
    assert "Uni" in research and "Wired" in research
    assert "Met" in news.split("RESEARCH", 1)[0]
    classes = publisher.Classes.of_config(SOURCES).lookup()
    assert digest.section_of(item_from(2, "uni"), classes) == "research"
    # An editor who set the category to news (from research) is followed, not overruled.
    moved = replace(item_from(2, "uni"), original={"category": "research"})
    assert digest.section_of(moved, classes) == "news"
    assert datetime.now(UTC) > NOW  # the fixture dates are in the past


def test_items_json_carries_class_and_jurisdiction(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from curator.cli import main

    (tmp_path / "feeds.yaml").write_text(
        "sources:\n"
        "  - {id: met, name: Met, url: 'https://met.example/f', class: police}\n"
        "  - {id: uni, name: Uni, url: 'https://uni.example/f', class: academic,"
        " jurisdiction: INT}\n",
        encoding="utf-8",
    )
    fill_store(
        tmp_path / "store",
        [item_from(1, "met"), item_from(2, "uni"), item_from(3, "old", jurisdiction="EU")],
    )
    where = ["--config", str(tmp_path / "feeds.yaml"), "--store", str(tmp_path / "store")]
    code = main([*where, "items", "--status", "all", "--json"])
    assert code == 0
    rows = json.loads(capsys.readouterr().out)
    got = {r["sources"][0]: (r["class"], r["jurisdiction"]) for r in rows}
    assert got == {"met": ("police", "UK"), "uni": ("academic", "INT"), "old": (None, "EU")}
