"""Review decisions against a real store: undo stacks, and a stale view changes nothing."""

from __future__ import annotations

from pathlib import Path

import pytest

from curator.exceptions import ItemChanged, ItemError
from curator.review import Review
from curator.store import Store
from tests.webkit import Clock, make_item, put


def review_of(tmp_path: Path) -> tuple[Review, Store, str]:
    store = Store(tmp_path / "store")
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
