"""Review decisions against a real store: undo stacks, and a stale view changes nothing."""

from __future__ import annotations

from pathlib import Path

import pytest

from curator.exceptions import ItemChanged, ItemError
from curator.review import Review
from curator.store import Store, TinyDBStore
from tests.webkit import Clock, make_item, put


def review_of(tmp_path: Path) -> tuple[Review, Store, str]:
    store = TinyDBStore(tmp_path / "store")
    item = make_item(1)
    put(store, item)
    return Review(store, Clock()), store, item.id


def test_undos_stack_like_an_editors(tmp_path: Path) -> None:
    review, _, item_id = review_of(tmp_path)
    review.edit(item_id, by="ed", title="Edited")
    review.approve([item_id], by="ed")
    assert review.undo(item_id, by="ed").status == "pending"  # the approval
    undone = review.undo(item_id, by="ed")  # then the edit
    assert undone.title == "CCTV story number 1" and undone.status == "pending"
    with pytest.raises(ItemError, match="nothing to undo"):
        review.undo(item_id, by="ed")


def test_a_stale_view_can_neither_edit_nor_undo(tmp_path: Path) -> None:
    review, store, item_id = review_of(tmp_path)
    seen = len(review.edit(item_id, by="ed", title="Mine").history)
    review.edit(item_id, by="other", title="Theirs")  # made after the editor looked
    with pytest.raises(ItemChanged) as e:
        review.edit(item_id, by="ed", category="research", expect=seen)
    assert e.value.current.title == "Theirs"
    with pytest.raises(ItemChanged):
        review.undo(item_id, by="ed", expect=seen)
    item = store.get_item(item_id)
    assert item is not None and item.title == "Theirs" and item.category == "news"
    current = len(item.history)
    assert review.undo(item_id, by="ed", expect=current).title == "Mine"


def test_a_batch_says_what_it_changed_and_undoes_all_or_nothing(tmp_path: Path) -> None:
    store = TinyDBStore(tmp_path / "store")
    items = [make_item(n) for n in range(1, 5)]
    items[3] = make_item(4, status="rejected")
    put(store, *items)
    review = Review(store, Clock())
    ids = [i.id for i in items]
    decided = review.decide([*ids, ids[0]], "rejected", by="ed")  # one named twice
    assert [i.id for i in decided.items] == ids
    assert [i.id for i in decided.changed] == ids[:3]  # the fourth was rejected already
    assert len(decided.changed[0].history) == 1  # decided once
    expect = {i.id: len(i.history) for i in decided.changed}
    review.approve([ids[0]], by="other")  # one changes again after the batch
    with pytest.raises(ItemChanged):
        review.undo_all(ids[:3], by="ed", expect=expect)
    assert [store.get_item(i).status for i in ids] == ["approved"] + ["rejected"] * 3  # type: ignore[union-attr]
    expect[ids[0]] += 1
    undone = review.undo_all(ids[:3], by="ed", expect=expect)
    assert [i.status for i in undone] == ["rejected", "pending", "pending"]  # each its last
    assert store.get_item(ids[3]).status == "rejected"  # type: ignore[union-attr]


HOSTILE = "\u202e\x1b[31m\ufeff\u2066\ufffe\u200b"  # override, ESC, BOM, isolate, nonchar, ZWSP
INVISIBLE_ONLY = "\u202e\x1b\ufeff\u2069 \u200b"


def test_edits_are_cleaned_of_invisible_characters_but_keep_their_text(tmp_path: Path) -> None:
    """An edit is text: ``<effects>`` and ``&`` stay as typed; control, bidi and invisible
    characters go, so no output (digest, feeds, widget) shows them."""
    review, store, item_id = review_of(tmp_path)
    edited = review.edit(
        item_id,
        by="ed",
        title=f"CCTV & lighting {HOSTILE}<effects> on crime",
        summary=f"<p>Cameras {HOSTILE}in the town</p>",
        note=f"For the digest:{HOSTILE}\nsecond line",
    )
    assert edited.title == "CCTV & lighting [31m<effects> on crime"
    assert edited.summary == "<p>Cameras [31min the town</p>"
    assert edited.summary_text == "Cameras [31min the town"
    assert edited.note == "For the digest:[31m\nsecond line"
    assert store.get_item(item_id) == edited
    with pytest.raises(ItemError, match="cannot be empty"):
        review.edit(item_id, by="ed", title=INVISIBLE_ONLY)


def test_decision_notes_are_cleaned(tmp_path: Path) -> None:
    review, _, item_id = review_of(tmp_path)
    [approved] = review.approve([item_id], by="ed", note=f"good{HOSTILE} one")
    assert approved.note == "good[31m one"
    assert approved.history[-1].note == "good[31m one"


def test_hand_added_items_are_cleaned(tmp_path: Path) -> None:
    review, _, _ = review_of(tmp_path)
    item = review.add_manual(
        url=f"https://police.example.uk/{HOSTILE}cctv?utm_source=x",
        title=f"  Report: {HOSTILE}a < b\tfor 👩\u200d💻 teams ",
        summary=f"<p>{HOSTILE}Summary</p>",
        category="research",
        published=None,
        by="ed",
        note=f"{HOSTILE}added",
        site=f" {HOSTILE}Local\nPaper ",
    )
    assert item.site == "[31mLocal Paper"
    assert item.url == "https://police.example.uk/[31mcctv"
    assert item.title == "Report: [31ma < b for 👩\u200d💻 teams"
    assert (item.summary, item.summary_text) == ("<p>[31mSummary</p>", "[31mSummary")
    assert item.note == "[31madded"
    with pytest.raises(ItemError, match="a title is needed"):
        review.add_manual(
            url="https://police.example.uk/other",
            title=INVISIBLE_ONLY,
            summary="",
            category="news",
            published=None,
            by="ed",
        )


def test_a_decision_repeated_changes_nothing_but_a_new_note(tmp_path: Path) -> None:
    review, store, item_id = review_of(tmp_path)
    decided = review.decide([item_id], "approved", by="ed", note="good")
    [first] = decided.items
    assert decided.changed == (first,) and first.status == "approved"
    decided = review.decide([item_id], "approved", by="other", note="good")
    [again] = decided.items
    assert decided.changed == () and again == first == store.get_item(item_id)
    decided = review.decide([item_id], "approved", by="other", note="better")
    [noted] = decided.items
    assert decided.changed == (noted,) and noted.note == "better" and noted.reviewed_by == "ed"
    assert noted.history[-1].changes == {"note": ("good", "better")}  # no status "change"
    assert review.undo(item_id, by="ed").note == "good"
