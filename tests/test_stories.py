"""Same story, one item: grouping other outlets' tellings of a story, on real pairs from 2023
news, through dedupe into a real store; the queue's "Also in", approving the story, the
digest and public outputs listing it once, splitting it again, the time window, old stores.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from curator import cli, config, dedupe, digests, normalize, pipeline, publish, stories
from curator.core import Curator
from curator.exceptions import ItemError
from curator.review import Review
from curator.store import Store, TinyDBStore
from curator.types import Candidate, Entry, Item, Match
from curator.web import create_app
from tests.feedserver import FeedServer
from tests.webkit import EDITOR, FAST_HASHER, PASSWORD, add_editor, csrf_of, curator_on
from tests.webkit import config as web_config

DATA = Path(__file__).parent / "data" / "stories_pairs.json"
NOW = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)

# Wire copy as two outlets ran it (AP, March 2023), the second under its own headline.
AP_TITLE = "Police body cameras: Nashville releases footage of school shooting response"
AP_LEAD = (
    "Police in Nashville released body camera footage on Tuesday showing officers entering "
    "the Covenant School and confronting the shooter who killed three children and three "
    "adults, in the latest school shooting in the United States."
)
OTHER_TITLE = "Nashville police release bodycam video of officers confronting school shooter"
OTHER_LEAD = (
    "Nashville police on Tuesday released body camera footage showing officers entering the "
    "Covenant School and confronting the shooter who killed three children and three adults."
)
UNRELATED_TITLE = "Council approves new CCTV cameras for the town centre car parks"
UNRELATED_LEAD = (
    "The borough council voted to fund twelve new cameras covering the multi-storey car "
    "parks after a rise in vehicle crime reported by residents."
)

WIRE = config.Source(id="wire", name="Wire Service", url="https://example.org/wire.rss")
DAILY = config.Source(id="daily", name="The Daily", url="https://example.org/daily.rss")
WEEKLY = config.Source(id="weekly", name="The Weekly", url="https://example.org/weekly.rss")


def candidate(
    url: str,
    *,
    source: str,
    title: str,
    lead: str,
    published: datetime = NOW - timedelta(hours=3),
    score: float = 5.0,
) -> Candidate:
    url = normalize.clean_url(url)
    canonical = normalize.canonical_url(url)
    entry = Entry(
        source_id=source,
        title=title,
        url=url,
        canonical_url=canonical,
        item_id=normalize.item_id(canonical),
        summary_html=f"<p>{lead}</p>",
        summary_text=lead,
        published=published,
    )
    matches = (Match("body camera", "summary", 1, 3.0),)
    return Candidate(entry=entry, score=score, matches=matches, why="summary: body camera")


def wire(**kw: Any) -> Candidate:
    return candidate(
        "https://apnews.example/article/nashville-bodycam", source="wire", title=AP_TITLE,
        lead=AP_LEAD, **kw,
    )  # fmt: skip


def daily(**kw: Any) -> Candidate:
    return candidate(
        "https://www.dailypaper.example/us/nashville-police-video", source="daily",
        title=OTHER_TITLE, lead=OTHER_LEAD, **kw,
    )  # fmt: skip


@pytest.fixture
def store(store_location: str, store_at: Callable[..., Store]) -> Store:
    """A fresh store of each backend (tests/backends.py)."""
    return store_at(store_location)


@pytest.fixture
def index() -> stories.StoryIndex:
    return stories.StoryIndex()


def decide(
    c: Candidate,
    source: config.Source,
    store: Store,
    index: stories.StoryIndex | None,
    now: datetime = NOW,
) -> dedupe.Decision:
    """Decide and store the outcome, as the pipeline does."""
    with store.transaction():
        decision = dedupe.decide(c, source=source, store=store, now=now, stories=index)
        pipeline.record(decision, store)
    return decision


def stored(store: Store, item_id: str) -> Item:
    item = store.get_item(item_id)
    assert item is not None
    return item


# ------------------------------------------------------------------------- the measure


def test_words_links_and_function_words_left_out() -> None:
    words = stories.shingles("The Mayor says: CCTV is back", "See https://x.example/a?b=1 now")
    assert words == frozenset({"mayor", "cctv", "back", "see", "now"})


def test_only_the_lead_counts() -> None:
    tail = " ".join(f"word{i}" for i in range(200))
    words = stories.shingles("Title here", tail)
    assert "word0" in words and f"word{stories.LEAD_WORDS - 1}" in words
    assert f"word{stories.LEAD_WORDS}" not in words


def test_outlet_is_the_registered_site() -> None:
    assert stories.outlet("https://www.bbc.co.uk/news/1") == "bbc.co.uk"
    assert stories.outlet("http://feeds.bbc.co.uk/x") == "bbc.co.uk"
    assert stories.outlet("https://www.theguardian.com/world/x") == "theguardian.com"
    assert stories.outlet("https://abc.net.au/news") == "abc.net.au"
    assert stories.outlet("https://news.example.org/") == "example.org"


def test_required_similarity_rises_after_the_first_day() -> None:
    assert stories.required(0.3, timedelta(hours=20)) == 0.3
    assert stories.required(0.3, -timedelta(hours=20)) == 0.3
    assert stories.required(0.3, timedelta(days=3)) == pytest.approx(0.4)


def _pairs() -> list[dict[str, Any]]:
    pairs: list[dict[str, Any]] = json.loads(DATA.read_text())
    return pairs


@pytest.mark.parametrize("pair", _pairs(), ids=lambda p: f"{p['label']}: {p['note']}")
def test_labelled_pairs_from_news2023(pair: dict[str, Any]) -> None:
    """Pairs from bench/stories/pairs.csv, judged by reading them: wire copy and rewritten
    announcements group; look-alikes (next day's summary, another video of a channel,
    another sale) do not."""
    a, b = pair["a"], pair["b"]
    index = stories.StoryIndex()
    index.add(
        "a",
        item_id="a",
        title=a["title"],
        text=a["summary_text"],
        published=datetime.fromisoformat(a["published"]),
        outlets=frozenset({stories.outlet(a["url"])}),
    )
    found = index.nearest(
        title=b["title"],
        text=b["summary_text"],
        published=datetime.fromisoformat(b["published"]),
        url=b["url"],
    )
    assert bool(found) == (pair["label"] == "same")


def test_fixed_pairs_cover_both_kinds() -> None:
    labels = [p["label"] for p in _pairs()]
    assert labels.count("same") >= 5 and labels.count("different") >= 3


# ------------------------------------------------------------------------------ dedupe


def test_another_outlets_telling_joins_the_story(store: Store, index: stories.StoryIndex) -> None:
    first = decide(wire(), WIRE, store, index)
    assert isinstance(first, dedupe.New)
    second = decide(daily(), DAILY, store, index)
    assert isinstance(second, dedupe.SameStory) and second.by == "story"
    item = stored(store, first.item.id)
    assert item.sources == ("wire", "daily")
    assert item.urls == (daily().entry.url,)
    (member,) = item.story
    assert member.source == "daily" and member.title == OTHER_TITLE
    assert member.url == daily().entry.url and member.summary_text == OTHER_LEAD
    assert 0.3 <= member.similarity <= 1
    assert item.title == AP_TITLE and item.status == "pending"
    assert item.history[-1].action == "merged" and "same story" in (item.history[-1].note or "")
    assert store.get_item(daily().entry.item_id) is None  # one item, not two
    assert len(store.items("pending")) == 1


def test_rules_apply_joins_a_telling_to_its_story_and_leaves_a_rejected_one(
    store: Store, index: stories.StoryIndex
) -> None:
    """`curator rules apply` decides as a poll does: another outlet's telling of a story the
    editors rejected does not come back as a pending item of its own."""
    from curator import workbench
    from curator.types import SeenEntry

    first = decide(wire(), WIRE, store, index)
    Review(store, lambda: NOW, stories=index).reject([first.item.id], by="ed")
    telling = daily().entry
    seen = SeenEntry(
        id=telling.item_id,
        source_id="daily",
        title=telling.title,
        url=telling.url,
        canonical_url=telling.canonical_url,
        summary=telling.summary_text,
        published=telling.published,
        seen_at=NOW - timedelta(hours=2),
        outcome="dropped",
        score=0.0,
        matched=(),
        why="dropped",
    )
    with store.transaction():
        store.keep_seen([seen])
    cfg = config.loads(
        "sources:\n"
        "  - {id: wire, name: Wire Service, url: 'https://example.org/wire.rss'}\n"
        "  - {id: daily, name: The Daily, url: 'https://example.org/daily.rss',"
        " rules: {keep_all: true}}\n"
    )
    done = workbench.apply(cfg, store, now=NOW, since=NOW - timedelta(days=1), stories=index)
    assert done.added == () and done.merged == ()
    assert [why for _, why in done.left] == ["the same story is already rejected"]
    assert store.get_item(telling.item_id) is None
    assert [i.status for i in store.items()] == ["rejected"]


def test_the_members_feed_repeating_it_is_seen(store: Store, index: stories.StoryIndex) -> None:
    decide(wire(), WIRE, store, index)
    decide(daily(), DAILY, store, index)
    again = decide(daily(), DAILY, store, index)
    assert isinstance(again, dedupe.Seen)
    assert len(stored(store, wire().entry.item_id).story) == 1


def test_unrelated_story_stays_its_own(store: Store, index: stories.StoryIndex) -> None:
    decide(wire(), WIRE, store, index)
    other = candidate(
        "https://www.dailypaper.example/local/car-parks",
        source="daily",
        title=UNRELATED_TITLE,
        lead=UNRELATED_LEAD,
    )
    assert isinstance(decide(other, DAILY, store, index), dedupe.New)


def test_without_an_index_nothing_is_grouped_by_words(store: Store) -> None:
    decide(wire(), WIRE, store, None)
    assert isinstance(decide(daily(), DAILY, store, None), dedupe.New)


def test_same_source_or_same_outlet_is_never_grouped(
    store: Store, index: stories.StoryIndex
) -> None:
    decide(wire(), WIRE, store, index)
    from_wire_again = candidate(
        "https://apnews.example/article/nashville-bodycam-update",
        source="wire",
        title=OTHER_TITLE,
        lead=OTHER_LEAD,
    )
    assert isinstance(decide(from_wire_again, WIRE, store, index), dedupe.New)
    same_site_other_feed = candidate(
        "https://www.apnews.example/hub/nashville-video",
        source="weekly",
        title=OTHER_TITLE + " (video)",
        lead=OTHER_LEAD,
    )
    assert isinstance(decide(same_site_other_feed, WEEKLY, store, index), dedupe.New)


def test_window_bounds_the_index(store: Store) -> None:
    index = stories.StoryIndex(window=timedelta(days=14))
    decide(
        wire(published=NOW - timedelta(days=20)), WIRE, store, index, now=NOW - timedelta(days=20)
    )
    late = decide(daily(published=NOW - timedelta(days=20)), DAILY, store, index, now=NOW)
    assert isinstance(late, dedupe.New)  # first seen 20 days ago: outside the window
    assert len(index) == 1  # the old one left the index; the new one, first seen now, is in
    index.sync(store, NOW + stories.RESYNC)
    assert len(index) == 1
    index.sync(store, NOW + timedelta(days=15))  # the window has passed it too
    assert len(index) == 0


def test_days_apart_ask_for_more_likeness(store: Store, index: stories.StoryIndex) -> None:
    decide(wire(published=NOW - timedelta(days=12)), WIRE, store, index, now=NOW)
    later = decide(daily(), DAILY, store, index)
    assert isinstance(later, dedupe.New)  # alike, but 12 days apart: the next development


def test_two_outlets_in_one_poll_are_one_story(tmp_path: Path) -> None:
    """Inside one transaction the second candidate sees the first (the store's buffer)."""
    store = TinyDBStore(tmp_path / "store")
    index = stories.StoryIndex()
    with store.transaction():
        for c, source in ((wire(), WIRE), (daily(), DAILY)):
            decision = dedupe.decide(c, source=source, store=store, now=NOW, stories=index)
            pipeline.record(decision, store)
    assert len(store.items()) == 1


# ------------------------------------------------------------------------ review, split


def grouped(store: Store, index: stories.StoryIndex) -> Item:
    decide(wire(), WIRE, store, index)
    decide(daily(), DAILY, store, index)
    return stored(store, wire().entry.item_id)


def test_approving_one_approves_the_story(store: Store, index: stories.StoryIndex) -> None:
    story = grouped(store, index)
    review = Review(store, lambda: NOW, stories=index)
    review.approve([story.id], by="ann")
    assert store.items("pending") == []
    assert [i.id for i in store.items("approved")] == [story.id]
    # A third outlet's telling arriving later joins the approved story: nothing new to review.
    third = candidate(
        "https://weekly.example/2025/nashville-bodycam-footage",
        source="weekly",
        title="Nashville police release body camera footage of school shooting response",
        lead=AP_LEAD,
    )
    assert isinstance(decide(third, WEEKLY, store, index), dedupe.SameStory)
    assert store.items("pending") == []
    assert stored(store, story.id).status == "approved"


def test_split_makes_it_its_own_item_again(store: Store, index: stories.StoryIndex) -> None:
    story = grouped(store, index)
    review = Review(store, lambda: NOW + timedelta(hours=1), stories=index)
    review.approve([story.id], by="ann")
    lead, own = review.split(story.id, daily().entry.url, by="ann")
    assert lead.story == () and lead.sources == ("wire",) and lead.urls == ()
    assert lead.status == "approved"  # the story's decision stands
    assert lead.history[-1].action == "split" and lead.history[-1].by == "ann"
    assert "not the same story" in (lead.history[-1].note or "")
    assert own.id == daily().entry.item_id and own.status == "pending"
    assert (own.title, own.url, own.sources) == (OTHER_TITLE, daily().entry.url, ("daily",))
    assert own.summary_text == OTHER_LEAD and own.score == 5.0
    assert [e.action for e in own.history] == ["created", "split"]
    assert stored(store, own.id) == own and stored(store, lead.id) == lead
    # The feed repeating it finds its own item; a later poll does not group them again.
    assert decide(daily(), DAILY, store, index) == dedupe.Seen(own.id)
    assert stored(store, lead.id).story == ()


def test_split_names_the_members_when_it_cannot(store: Store, index: stories.StoryIndex) -> None:
    story = grouped(store, index)
    review = Review(store, lambda: NOW, stories=index)
    with pytest.raises(ItemError, match="not one of this story's other tellings") as e:
        review.split(story.id, "https://nowhere.example/x", by="ann")
    assert daily().entry.url in str(e.value)
    assert stored(store, story.id) == story  # nothing written


def test_split_refuses_a_stale_page(store: Store, index: stories.StoryIndex) -> None:
    story = grouped(store, index)
    review = Review(store, lambda: NOW, stories=index)
    review.approve([story.id], by="bob")
    with pytest.raises(ItemError):
        review.split(story.id, daily().entry.item_id, by="ann", expect=len(story.history))
    assert len(stored(store, story.id).story) == 1


# ---------------------------------------------------------------------------- old store


@pytest.mark.parametrize("backend", ["tinydb"])  # the files of a store from before
def test_a_store_written_before_stories_loads(store: Store, tmp_path: Path) -> None:
    item = dedupe.new_item(wire(), category="news", now=NOW)
    with store.transaction():
        store.put_item(item)
    shards = list((tmp_path / "store" / "items").glob("*.json"))
    changed = 0
    for shard in shards:
        text = shard.read_text()
        if '"story"' in text:
            shard.write_text(re.sub(r',\s*"story":\s*\[\]', "", text))
            changed += 1
    assert changed == 1
    again = TinyDBStore(tmp_path / "store").get_item(item.id)
    assert again is not None and again.story == () and again.title == AP_TITLE
    index = stories.StoryIndex()
    assert isinstance(
        decide(daily(), DAILY, TinyDBStore(tmp_path / "store"), index), dedupe.SameStory
    )


# ------------------------------------------------------------------ the app and outputs


@pytest.fixture
def app_env(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[Curator, TestClient]]:
    monkeypatch.delenv("CURATOR_SECRET_KEY", raising=False)
    cfg = web_config(
        [
            ("wire", "Wire Service", "https://example.org/wire.rss"),
            ("daily", "The Daily", "https://example.org/daily.rss"),
        ]
    )
    cur = curator_on(tmp_path / "store", cfg)
    add_editor(cur.store)
    client = TestClient(
        create_app(cur, password_hasher=FAST_HASHER),
        base_url="http://testserver",
        follow_redirects=False,
    )
    page = client.get("/login")
    r = client.post(
        "/login",
        data={"csrf": csrf_of(page.text), "name": EDITOR, "password": PASSWORD, "next": "/"},
    )
    assert r.status_code == 303, r.text
    assert cur.stories is not None
    now = cur.clock()
    decide(wire(published=now - timedelta(hours=3)), WIRE, cur.store, cur.stories, now=now)
    decide(daily(published=now - timedelta(hours=2)), DAILY, cur.store, cur.stories, now=now)
    try:
        yield cur, client
    finally:
        client.close()
        asyncio.run(cur.aclose())


def test_queue_shows_the_story_once_with_also_in(app_env: tuple[Curator, TestClient]) -> None:
    _, client = app_env
    html = client.get("/").text
    rows = re.findall(r'<article class="item[^"]*" id="item-([0-9a-f]+)"', html)
    assert rows == [wire().entry.item_id]
    also = re.search(r'<p class="also-in">(.*?)</p>', html, re.S)
    assert also is not None
    assert "Also in:" in also.group(1)
    assert f'href="{daily().entry.url}"' in also.group(1) and ">The Daily</a>" in also.group(1)
    assert "Same story in" not in html  # the member is not listed twice


def test_item_page_splits_with_csrf(app_env: tuple[Curator, TestClient]) -> None:
    cur, client = app_env
    story_id, member_id = wire().entry.item_id, daily().entry.item_id
    page = client.get(f"/items/{story_id}").text
    assert "Not the same story" in page and f'name="member" value="{member_id}"' in page
    refused = client.post(f"/items/{story_id}/split", data={"member": member_id})
    assert refused.status_code == 403
    assert len(stored(cur.store, story_id).story) == 1
    r = client.post(
        f"/items/{story_id}/split",
        data={"csrf": csrf_of(page), "member": member_id, "next": f"/items/{story_id}"},
    )
    assert r.status_code == 303 and r.headers["location"] == f"/items/{story_id}"
    assert stored(cur.store, story_id).story == ()
    assert stored(cur.store, member_id).status == "pending"
    queue = client.get("/").text
    assert set(re.findall(r'id="item-([0-9a-f]+)"', queue)) == {story_id, member_id}
    history = client.get(f"/items/{member_id}").text
    assert "<strong>split</strong> by editor" in history
    bad = client.post(
        f"/items/{story_id}/split",
        data={"csrf": csrf_of(page), "member": member_id},
        headers={"accept": "application/json"},
    )
    assert bad.status_code == 409 and "not one of this story" in bad.json()["error"]
    long = client.post(
        f"/items/{story_id}/split",
        data={"csrf": csrf_of(page), "member": "x" * 100_000},
        headers={"accept": "application/json"},
    )
    assert long.status_code == 409 and len(long.json()["error"]) < 1000
    unknown = client.post(
        "/items/0123456789abcdef/split", data={"csrf": csrf_of(page), "member": member_id}
    )
    assert unknown.status_code == 404


def test_digest_and_public_outputs_list_the_story_once(
    app_env: tuple[Curator, TestClient], tmp_path: Path
) -> None:
    cur, client = app_env
    story_id = wire().entry.item_id
    cur.review.approve([story_id], by="editor")
    story_url, member_url = wire().entry.url, daily().entry.url
    for path in ("/links.json", "/links.rss", "/links.atom", "/embed"):
        body = client.get(path).text
        assert body.count(story_url) >= 1, path
        assert member_url not in body, path
    out = tmp_path / "site"
    written = publish.export(cur.config, cur.store, out, cur.clock())
    assert {p.name for p in written} == set(publish.EXPORT_FILES)
    for name in publish.EXPORT_FILES:
        body = (out / name).read_text()
        assert story_url in body and member_url not in body, name
    feed = client.get("/links.json").json()
    assert [i["url"] for i in feed["items"]] == [story_url]
    preview = digests.preview_digest(cur.config, cur.store, cur.clock())
    assert preview.item_ids == (story_id,)
    assert preview.text.count(story_url) == 1 and member_url not in preview.text
    assert preview.html is not None and member_url not in preview.html


# -------------------------------------------------------------------------- command line


def test_cli_lists_also_in_and_splits(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cfg = tmp_path / "feeds.yaml"
    cfg.write_text(
        "sources:\n"
        "  - {id: wire, name: Wire Service, url: 'https://example.org/wire.rss'}\n"
        "  - {id: daily, name: The Daily, url: 'https://example.org/daily.rss'}\n"
        "rules:\n  include: {body camera: 3}\n"
    )
    store = TinyDBStore(tmp_path / "store")
    index = stories.StoryIndex()
    decide(wire(), WIRE, store, index)
    decide(daily(), DAILY, store, index)
    base = ["--config", str(cfg), "--store", str(tmp_path / "store")]
    assert cli.main([*base, "items", "--json"]) == 0
    (shown,) = json.loads(capsys.readouterr().out)
    assert [m["url"] for m in shown["also_in"]] == [daily().entry.url]
    assert shown["also_in"][0]["source"] == "daily"
    assert cli.main([*base, "split", shown["id"], "https://nowhere.example/"]) == 1
    assert "not one of this story's other tellings" in capsys.readouterr().err
    assert cli.main([*base, "split", shown["id"], shown["also_in"][0]["id"], "--by", "ann"]) == 0
    assert f"split {daily().entry.item_id} (pending)" in capsys.readouterr().out
    assert len(TinyDBStore(tmp_path / "store").items("pending")) == 2


def test_stories_can_be_turned_off(tmp_path: Path) -> None:
    cfg = config.Config.model_validate({"stories": {"enabled": False}})
    assert curator_on(tmp_path / "s", cfg).stories is None
    on = config.Config.model_validate({"stories": {"window": "7d", "threshold": 0.4}})
    cur = curator_on(tmp_path / "t", on)
    assert cur.stories is not None and cur.stories.window == timedelta(days=7)
    assert cur.stories.threshold == 0.4
    with pytest.raises(ValueError, match="threshold"):
        config.Config.model_validate({"stories": {"threshold": 0}})


def test_a_changed_stories_section_waits_for_a_restart() -> None:
    from curator.reload import restart_needed

    running = config.Config()
    new = config.Config.model_validate({"stories": {"threshold": 0.35}})
    assert restart_needed(running, new) == ("stories.threshold",)
    assert restart_needed(running, config.Config()) == ()


def test_rejecting_one_rejects_the_story(store: Store, index: stories.StoryIndex) -> None:
    story = grouped(store, index)
    Review(store, lambda: NOW, stories=index).reject([story.id], by="ann")
    assert store.items("pending") == [] and store.items("approved") == []
    assert [i.id for i in store.items("rejected")] == [story.id]
    assert isinstance(decide(daily(), DAILY, store, index), dedupe.Seen)
    assert store.items("pending") == []


def test_compact_queue_names_the_other_outlets(app_env: tuple[Curator, TestClient]) -> None:
    _, client = app_env
    html = client.get("/?view=compact").text
    assert 'class="items compact"' in html
    assert 'title="Also in: The Daily"' in html and "Wire Service +1" in html


def _rss(title: str, link: str, lead: str, when: datetime) -> bytes:
    return (
        '<?xml version="1.0"?><rss version="2.0"><channel><title>t</title>'
        "<link>https://example.org/</link><description>d</description>"
        f"<item><title>{title}</title><link>{link}</link><description>{lead}</description>"
        f"<pubDate>{when:%a, %d %b %Y %H:%M:%S} +0000</pubDate></item></channel></rss>"
    ).encode()


def test_a_poll_of_two_outlets_stores_one_story(tmp_path: Path, feed_server: FeedServer) -> None:
    """The whole flow: two feeds on a real local server carry the same wire story under
    different links and headlines; one poll stores one item with both."""
    when = datetime(2025, 3, 10, 6, 0, tzinfo=UTC)
    a = feed_server.route(
        "/wire.xml",
        _rss(AP_TITLE, "https://apnews.example/article/nashville-bodycam", AP_LEAD, when),
    )
    b = feed_server.route(
        "/daily.xml",
        _rss(OTHER_TITLE, "https://www.dailypaper.example/us/video", OTHER_LEAD, when),
    )
    cfg = web_config([("wire", "Wire Service", a), ("daily", "The Daily", b)])
    cfg = cfg.model_copy(
        update={"rules": cfg.rules.model_copy(update={"include": {"body camera": 3.0}})}
    )
    cur = curator_on(tmp_path / "store", cfg)
    try:
        report = asyncio.run(cur.poll())
    finally:
        asyncio.run(cur.aclose())
    assert report.total("new") == 1 and report.total("duplicates") == 1
    (item,) = cur.store.items()
    assert set(item.sources) == {"wire", "daily"} and len(item.story) == 1
    assert {item.url, item.story[0].url} == {
        "https://apnews.example/article/nashville-bodycam",
        "https://www.dailypaper.example/us/video",
    }


def test_another_instances_writes_reach_the_index_without_a_full_pass(
    store: Store, store_location: str, store_at: Callable[..., Store]
) -> None:
    """Between full passes, the index follows what other processes (instances) store and
    change: a story told elsewhere is found, and one split elsewhere loses its member."""
    index = stories.StoryIndex()
    index.sync(store, NOW)  # the full pass
    other = store_at(store_location)  # another instance, with its own index
    first = decide(wire(), WIRE, other, stories.StoryIndex())
    assert isinstance(first, dedupe.New)
    index.sync(store, NOW + timedelta(minutes=1))
    assert len(index) == 1
    second = decide(daily(), DAILY, store, index, now=NOW + timedelta(minutes=1))
    assert isinstance(second, dedupe.SameStory) and second.item.id == first.item.id
    joined = stored(store, first.item.id)
    assert len(joined.story) == 1
    with other.transaction():  # the editor splits it, on the other instance
        other.put_item(replace(joined, story=()))
    index.sync(store, NOW + timedelta(minutes=2))
    assert len(index) == 1  # the member's telling is gone from the index
