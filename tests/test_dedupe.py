"""Dedupe against a real store: new stories, the same story again, and the same story
through another source or URL."""

from __future__ import annotations

import re
import tempfile
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from curator import config, dedupe, normalize, pipeline
from curator.store import Store, TinyDBStore
from curator.types import Candidate, Entry, Fetched, Item, Match
from tests.feedserver import need_corpus

NOW = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
TITLE = "Met Police to expand live facial recognition vans"

BBC = config.Source(id="bbc", name="BBC", url="https://example.org/bbc.rss")
GUARDIAN = config.Source(id="guardian", name="Guardian", url="https://example.org/g.rss")
JOURNAL = config.Source(
    id="journal", name="Journal", url="https://example.org/j.rss", category="research"
)


@pytest.fixture
def store(tmp_path: Path) -> Store:
    return TinyDBStore(tmp_path / "store")


def candidate(
    url: str = "https://www.bbc.co.uk/news/uk-1",
    *,
    source: str = "bbc",
    title: str = TITLE,
    score: float = 8.0,
) -> Candidate:
    url = normalize.clean_url(url)  # as normalize gives it
    canonical = normalize.canonical_url(url)
    entry = Entry(
        source_id=source,
        title=title,
        url=url,
        canonical_url=canonical,
        item_id=normalize.item_id(canonical),
        summary_html="<p>Vans will visit every borough.</p>",
        summary_text="Vans will visit every borough.",
        published=NOW - timedelta(hours=2),
        authors=("A. Reporter",),
        tags=("Policing",),
    )
    matches = (Match("live facial recognition", "title", 1, 4.0),)
    return Candidate(entry=entry, score=score, matches=matches, why=f"title: x (score {score:g})")


def decide(
    c: Candidate, source: config.Source, store: Store, now: datetime = NOW
) -> dedupe.Decision:
    """Decide and store the outcome, as the pipeline does."""
    with store.transaction():
        decision = dedupe.decide(c, source=source, store=store, now=now)
        pipeline.record(decision, store)
    return decision


def stored(store: Store, item_id: str) -> Item:
    item = store.get_item(item_id)
    assert item is not None
    return item


# ------------------------------------------------------------------------------ new items


def test_new_item_from_candidate() -> None:
    c = candidate()
    item = dedupe.new_item(c, category="research", now=NOW)
    e = c.entry
    assert item.id == e.item_id
    assert (item.url, item.canonical_url, item.title) == (e.url, e.canonical_url, e.title)
    assert (item.summary, item.summary_text) == (e.summary_html, e.summary_text)
    assert (item.published, item.authors, item.tags) == (e.published, e.authors, e.tags)
    assert item.category == "research"
    assert (item.score, item.matched, item.why) == (c.score, c.matches, c.why)
    assert item.sources == ("bbc",)
    assert item.urls == ()
    assert item.title_key == normalize.title_key(TITLE)
    assert item.status == "pending"
    assert item.first_seen == item.updated_at == NOW
    assert [(ev.action, ev.at) for ev in item.history] == [("created", NOW)]


def test_unknown_candidate_is_new_with_the_source_category(store: Store) -> None:
    c = candidate("https://journal.example.org/article/1", source="journal")
    d = decide(c, JOURNAL, store)
    assert isinstance(d, dedupe.New)
    assert d.item.category == "research"
    assert stored(store, d.item.id) == d.item


# ------------------------------------------------------------------------------ same URL


def test_same_source_repeating_an_entry_is_seen(store: Store) -> None:
    first = decide(candidate(), BBC, store)
    assert isinstance(first, dedupe.New)
    again = decide(candidate(score=20), BBC, store, NOW + timedelta(hours=1))
    assert again == dedupe.Seen(first.item.id)
    assert stored(store, first.item.id) == first.item


def test_same_url_with_tracking_parameters_is_the_same_item(store: Store) -> None:
    first = decide(candidate("https://www.bbc.co.uk/news/uk-1"), BBC, store)
    assert isinstance(first, dedupe.New)
    again = decide(candidate("https://WWW.BBC.co.uk/news/uk-1?utm_source=rss#top"), BBC, store)
    assert again == dedupe.Seen(first.item.id)


def test_same_url_from_another_source_adds_the_source(store: Store) -> None:
    first = decide(candidate(score=8), BBC, store)
    assert isinstance(first, dedupe.New)
    later = NOW + timedelta(hours=3)
    d = decide(candidate(source="guardian", score=5), GUARDIAN, store, later)
    assert isinstance(d, dedupe.SameStory)
    assert d.by == "url"
    item = d.item
    assert item.id == first.item.id
    assert item.sources == ("bbc", "guardian")
    assert item.urls == ()  # the same canonical URL is not another URL
    assert item.score == 8  # the higher score stays
    assert item.first_seen == NOW
    assert item.updated_at == later
    merged = item.history[-1]
    assert (merged.action, merged.at) == ("merged", later)
    assert merged.changes == {"sources": ("bbc", "bbc, guardian")}
    assert stored(store, item.id) == item
    # and the new source repeating it changes nothing
    assert decide(candidate(source="guardian"), GUARDIAN, store) == dedupe.Seen(item.id)


def test_merge_keeps_the_higher_score_with_its_reasons(store: Store) -> None:
    decide(candidate(score=4), BBC, store)
    better = candidate(source="guardian", score=12)
    d = decide(better, GUARDIAN, store)
    assert isinstance(d, dedupe.SameStory)
    assert (d.item.score, d.item.matched, d.item.why) == (12, better.matches, better.why)
    assert d.item.history[-1].changes["score"] == ("4", "12")


@pytest.mark.parametrize("status", ["approved", "rejected"])
def test_merge_never_changes_a_reviewed_item(store: Store, status: str) -> None:
    first = decide(candidate(), BBC, store)
    assert isinstance(first, dedupe.New)
    reviewed = replace(
        first.item,
        status=status,  # type: ignore[arg-type]
        reviewed_by="editor",
        reviewed_at=NOW,
        title="Edited title",
        original={"title": TITLE},
    )
    with store.transaction():
        store.put_item(reviewed)
    d = decide(candidate(source="guardian", score=30), GUARDIAN, store)
    assert isinstance(d, dedupe.SameStory)
    assert (d.item.status, d.item.reviewed_by, d.item.reviewed_at) == (status, "editor", NOW)
    assert (d.item.title, d.item.original) == ("Edited title", {"title": TITLE})
    assert d.item.sources == ("bbc", "guardian")
    assert decide(candidate(), BBC, store) == dedupe.Seen(first.item.id)
    assert stored(store, first.item.id).status == status


# ------------------------------------------------------------------------------ same title

SAME_TITLE: list[tuple[str, str, str, timedelta, str]] = [
    # (id, first title, second title, second seen after, expected)
    ("identical", TITLE, TITLE, timedelta(hours=5), "same"),
    (
        "case-punctuation",
        TITLE,
        "MET POLICE to expand live-facial-recognition vans!",
        timedelta(1),
        "same",
    ),
    ("site-suffix", TITLE, TITLE + " - The Guardian", timedelta(days=2), "same"),
    ("day-13", TITLE, TITLE, timedelta(days=13, hours=23), "same"),
    ("after-14-days", TITLE, TITLE, timedelta(days=14, minutes=1), "new"),
    (
        "different",
        TITLE,
        "Met Police to scale back live facial recognition vans",
        timedelta(1),
        "new",
    ),
    ("short-title", "CCTV update", "CCTV update", timedelta(hours=1), "new"),
]


@pytest.mark.parametrize(
    ("first_title", "second_title", "after", "expected"),
    [pytest.param(*c[1:], id=c[0]) for c in SAME_TITLE],
)
def test_same_title_from_another_url(
    store: Store, first_title: str, second_title: str, after: timedelta, expected: str
) -> None:
    first = decide(candidate("https://www.bbc.co.uk/news/uk-1", title=first_title), BBC, store)
    assert isinstance(first, dedupe.New)
    other = candidate(
        "https://www.theguardian.com/uk/lfr?utm_medium=rss", source="guardian", title=second_title
    )
    d = decide(other, GUARDIAN, store, NOW + after)
    if expected == "new":
        assert isinstance(d, dedupe.New)
        assert d.item.id != first.item.id
        return
    assert isinstance(d, dedupe.SameStory)
    assert d.by == "title"
    assert d.item.id == first.item.id
    assert d.item.sources == ("bbc", "guardian")
    assert d.item.urls == ("https://www.theguardian.com/uk/lfr",)
    assert d.item.title == first_title
    assert d.item.history[-1].changes["urls"] == (None, "https://www.theguardian.com/uk/lfr")
    assert store.get_item(other.entry.item_id) is None
    assert stored(store, first.item.id) == d.item


def test_same_title_same_source_new_url_is_recorded_once(store: Store) -> None:
    first = decide(candidate("https://www.bbc.co.uk/news/uk-1"), BBC, store)
    assert isinstance(first, dedupe.New)
    moved = candidate("https://www.bbc.co.uk/news/uk-1-amended")
    d = decide(moved, BBC, store, NOW + timedelta(hours=1))
    assert isinstance(d, dedupe.SameStory)
    assert d.item.sources == ("bbc",)
    assert d.item.urls == ("https://www.bbc.co.uk/news/uk-1-amended",)
    assert set(d.item.history[-1].changes) == {"urls"}
    assert decide(moved, BBC, store, NOW + timedelta(hours=2)) == dedupe.Seen(first.item.id)


def test_three_sources_one_story(store: Store) -> None:
    journal = candidate("https://journal.example.org/a", source="journal")
    first = decide(candidate(), BBC, store)
    assert isinstance(first, dedupe.New)
    decide(candidate("https://www.theguardian.com/uk/lfr", source="guardian"), GUARDIAN, store)
    d = decide(journal, JOURNAL, store)
    assert isinstance(d, dedupe.SameStory)
    assert d.item.id == first.item.id
    assert d.item.sources == ("bbc", "guardian", "journal")
    assert d.item.urls == ("https://www.theguardian.com/uk/lfr", "https://journal.example.org/a")
    assert [e.action for e in d.item.history] == ["created", "merged", "merged"]


def test_candidates_of_one_poll_see_each_other(store: Store) -> None:
    """The pipeline decides and writes a whole poll in one transaction."""
    with store.transaction():
        decisions = []
        for c in (candidate(), candidate(), candidate("https://www.bbc.co.uk/news/uk-2")):
            d = dedupe.decide(c, source=BBC, store=store, now=NOW)
            if isinstance(d, dedupe.New | dedupe.SameStory):
                store.put_item(d.item)
            decisions.append(d)
    assert [type(d).__name__ for d in decisions] == ["New", "Seen", "SameStory"]


def test_a_story_merged_by_title_stays_merged_after_the_title_window(store: Store) -> None:
    """The other URL is remembered for good: weeks later, a feed still carrying it finds the
    reviewed item (Seen), never a new pending one."""
    first = candidate("https://www.bbc.co.uk/news/uk-1", source="bbc")
    second = candidate(
        "https://www.theguardian.com/uk/lfr", source="guardian", title=TITLE + " - The Guardian"
    )
    assert isinstance(decide(first, BBC, store), dedupe.New)
    merged = decide(second, GUARDIAN, store, NOW + timedelta(days=1))
    assert isinstance(merged, dedupe.SameStory) and merged.by == "title"
    assert merged.alias == second.entry.item_id
    with store.transaction():  # the alias was recorded
        pass
    assert store.alias_of(second.entry.item_id) == first.entry.item_id
    with store.transaction():
        item = store.get_item(first.entry.item_id)
        assert item is not None
        store.put_item(replace(item, status="rejected"))
    later = decide(second, GUARDIAN, store, NOW + timedelta(days=30))
    assert isinstance(later, dedupe.Seen) and later.item_id == first.entry.item_id
    assert [i.status for i in store.items()] == ["rejected"]


# ------------------------------------------------------------------------------ boundaries


@pytest.mark.parametrize(
    ("after", "expected"),
    [
        (dedupe.SAME_STORY_WINDOW, "same"),  # exactly 14 days: still the same story
        (timedelta(days=14, microseconds=1), "new"),
        (timedelta(days=13, hours=23, minutes=59), "same"),
    ],
    ids=["exactly-14-days", "14-days-and-a-moment", "just-under-14-days"],
)
def test_same_story_window_is_exactly_14_days(
    store: Store, after: timedelta, expected: str
) -> None:
    first = decide(candidate("https://www.bbc.co.uk/news/uk-1"), BBC, store)
    other = candidate("https://www.theguardian.com/uk/lfr", source="guardian")
    d = decide(other, GUARDIAN, store, NOW + after)
    if expected == "same":
        assert isinstance(d, dedupe.SameStory) and d.item.id == first.item.id
    else:
        assert isinstance(d, dedupe.New) and d.item.id == other.entry.item_id


@pytest.mark.parametrize(
    ("title", "expected"),
    [
        ("Police expand CCTV network", "same"),  # 4 words: names a story
        ("Police expand CCTV", "new"),  # 3 words: too little to tell stories apart
        ("Police expand CCTV - BBC News", "new"),  # the publisher's suffix does not count
    ],
)
def test_titles_need_four_words_to_merge_two_urls(store: Store, title: str, expected: str) -> None:
    first = decide(candidate("https://www.bbc.co.uk/news/uk-1", title=title), BBC, store)
    other = candidate("https://www.theguardian.com/uk/lfr", source="guardian", title=title)
    d = decide(other, GUARDIAN, store, NOW + timedelta(hours=1))
    if expected == "same":
        assert isinstance(d, dedupe.SameStory) and d.by == "title"
        assert d.item.id == first.item.id
    else:
        assert isinstance(d, dedupe.New)


# ------------------------------------------------------------------------------ fragments


def test_anchors_of_one_page_are_distinct_items_even_with_one_title(store: Store) -> None:
    """A daily "Good morning" post on each day's page, or two posts of one page that open
    alike: another anchor of a page the item is at is another entry, not the same story."""
    title = "Good morning students and teachers"
    a = candidate("http://scripting.com/2017/06/26.html#a080605", title=title)
    b = candidate("http://scripting.com/2017/06/26.html#a030658", title=title)
    first, second = decide(a, BBC, store), decide(b, BBC, store)
    assert isinstance(first, dedupe.New) and isinstance(second, dedupe.New)
    assert first.item.id != second.item.id
    assert decide(a, BBC, store) == dedupe.Seen(first.item.id)
    assert decide(b, BBC, store) == dedupe.Seen(second.item.id)
    assert len(store.items()) == 2


def test_an_item_stored_before_fragments_counted_is_found_again(store: Store) -> None:
    """Before 0.2 an item's id came from its URL without the fragment.  The same link must
    find that (perhaps reviewed) item, never a new pending one; another anchor of the same
    page is a new item."""
    url = "http://scripting.com/2017/06/26.html#a080605"
    page = "http://scripting.com/2017/06/26.html"
    legacy = replace(
        dedupe.new_item(candidate(url), category="news", now=NOW),
        id=normalize.item_id(page),
        canonical_url=page,
        status="approved",
    )
    with store.transaction():
        store.put_item(legacy)
    later = NOW + timedelta(days=40)  # long past the same-title window
    assert decide(candidate(url), BBC, store, later) == dedupe.Seen(legacy.id)
    again = decide(candidate(url, source="guardian"), GUARDIAN, store, later)
    assert isinstance(again, dedupe.SameStory) and again.item.id == legacy.id
    assert again.item.urls == () and again.item.status == "approved"
    other = candidate(page + "#a030658", title="Another post on the same day's page")
    d = decide(other, BBC, store, later)
    assert isinstance(d, dedupe.New) and d.item.id == other.entry.item_id != legacy.id


def test_scripting_news_corpus_keeps_every_post() -> None:
    """The real scriptingNews feed (one page a day, one anchor a post) through parse,
    normalize, match (keep_all) and dedupe: 50 entries, one item per distinct link.

    Two pairs of its entries share both guid and link (the generator's anchors collided):
    the feed itself says each pair is one entry, so 48 items, every one of them kept.
    """
    path = need_corpus() / "feeds" / "NetNewsWire__RSParser__scriptingNews.rss"
    source = config.Source(
        id="scripting",
        name="Scripting News",
        url="http://scripting.com/rss.xml",
        rules=config.SourceRules(keep_all=True),
    )
    fetched = Fetched(
        source_id=source.id,
        url=source.url,
        status=200,
        headers={"content-type": "application/rss+xml"},
        content=path.read_bytes(),
    )
    now = datetime(2017, 6, 27, tzinfo=UTC)
    processed = pipeline.process(fetched, source, config.Rules(), now)
    assert processed.entries == len(processed.candidates) == 50
    links = re.findall(rb"<item>.*?<link>([^<]+)</link>", fetched.content, re.DOTALL)
    assert len(links) == 50 and len(set(links)) == 48
    with tempfile.TemporaryDirectory() as tmp:
        store = TinyDBStore(Path(tmp) / "store")
        with store.transaction():
            for c in processed.candidates:
                pipeline.record(dedupe.decide(c, source=source, store=store, now=now), store)
        items = store.items()
    assert sorted(i.url for i in items) == sorted({link.decode() for link in links})
    assert all(i.sources == ("scripting",) and i.urls == () for i in items)


def test_every_merge_is_recorded_with_what_changed_and_why(store: Store) -> None:
    """The item's history is the audit trail: each merge says how it was recognised, from
    which source and URL, and the before and after of every field it changed."""
    first = decide(candidate("https://www.bbc.co.uk/news/uk-1"), BBC, store)
    assert isinstance(first, dedupe.New)
    assert [(e.action, e.note) for e in first.item.history] == [("created", "from bbc")]

    by_url = decide(
        candidate("https://www.bbc.co.uk/news/uk-1", source="guardian"), GUARDIAN, store
    )
    assert isinstance(by_url, dedupe.SameStory) and by_url.alias is None
    assert (
        by_url.item.history[-1].note == "same link from guardian: https://www.bbc.co.uk/news/uk-1"
    )

    url2, url3 = "https://journal.example.org/a", "https://other.example.org/b"
    better = replace(
        candidate(url2, source="journal", score=9.5),
        matches=(Match("facial recognition", "summary", 2, 3.0),),
        why="summary: facial recognition",
    )
    by_title = decide(better, JOURNAL, store)
    assert isinstance(by_title, dedupe.SameStory) and by_title.by == "title"
    event = by_title.item.history[-1]
    assert event.note == f"same title from journal: {url2}"
    assert event.changes == {
        "sources": ("bbc, guardian", "bbc, guardian, journal"),
        "urls": (None, url2),
        "score": ("8", "9.5"),
    }
    assert (by_title.item.matched, by_title.item.why) == (better.matches, better.why)

    other = config.Source(id="other", name="Other", url="https://example.org/o.rss")
    again = decide(candidate(url3, source="other"), other, store)
    assert isinstance(again, dedupe.SameStory)
    assert again.item.history[-1].changes["urls"] == (url2, f"{url2} {url3}")
    assert again.item.history[-1].changes["sources"] == (
        "bbc, guardian, journal",
        "bbc, guardian, journal, other",
    )
