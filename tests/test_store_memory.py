"""What ``serve`` keeps of each item in memory: lean decoded Items that behave exactly like
ones made by ``Item(...)``, and decoded values shared between items, within bounds."""

from __future__ import annotations

import copy
import json
import pickle
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

import pytest

from curator.store import TinyDBStore, codecs, from_json, to_json
from curator.types import Item
from tests.test_store import FULL_ITEM, make_item, put


def decoded(item: Item) -> Item:
    """*item* as the store reads it back: written as JSON text, parsed, decoded."""
    return from_json(Item, json.loads(json.dumps(to_json(item))))


@pytest.mark.parametrize("made", [FULL_ITEM, make_item(1), make_item(2, status="rejected")])
def test_a_decoded_item_behaves_as_one_made_by_its_class(made: Item) -> None:
    item = decoded(made)
    assert item == made and repr(item) == repr(made) and asdict(item) == asdict(made)
    assert pickle.loads(pickle.dumps(item)) == made and copy.deepcopy(item) == made
    assert replace(item, note="changed") == replace(made, note="changed")
    # Written back, it is the same document, byte for byte and in the same key order.
    assert json.dumps(to_json(item)) == json.dumps(to_json(made))


def test_a_decoded_item_keeps_only_what_differs_from_the_defaults() -> None:
    item = decoded(make_item(1))  # pending, no note, no digest, no research metadata...
    kept = set(vars(item))
    assert {"id", "title", "summary", "matched", "history"} <= kept
    assert not kept & {"status", "note", "digest_id", "doi", "urls", "story", "tags"}
    assert (item.status, item.note, item.urls) == ("pending", None, ())
    approved = decoded(make_item(1, status="approved"))
    assert vars(approved)["status"] == "approved"


def test_equal_values_within_an_item_are_kept_once() -> None:
    made = make_item(1)
    item = decoded(replace(made, canonical_url=made.url, published=made.first_seen))
    assert item.canonical_url is item.url
    assert item.published is item.first_seen


def test_a_document_from_before_newer_fields_loads_with_their_defaults() -> None:
    doc = to_json(make_item(1))
    for newer in ("doi", "story", "publisher_class", "original", "updated_at"):
        del doc[newer]
    item, other = from_json(Item, doc), from_json(Item, doc)
    assert item == make_item(1)
    assert item.original == {} and item.original is not other.original  # never shared


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda d: d.pop("title"), "Item without 'title'"),
        (lambda d: d.update(score="high"), "score: expected a number"),
        (lambda d: d.update(status="maybe"), "status: expected one of"),
    ],
)
def test_a_bad_document_is_refused_with_what_is_wrong(change: Any, message: str) -> None:
    doc = to_json(make_item(1))
    change(doc)
    with pytest.raises(ValueError, match=message):
        from_json(Item, doc)


def test_rule_matches_and_short_tuples_are_shared_between_items() -> None:
    a, b = decoded(make_item(1)), decoded(make_item(2))
    assert a.matched == b.matched and a.matched is b.matched
    assert a.sources is b.sources
    long_authors = ("A. " + "Very-Long-Name " * 4, "B. Writer")
    c, d = (decoded(make_item(n, authors=long_authors)) for n in (3, 4))
    assert c.authors == d.authors and c.authors is not d.authors  # long strings: not kept


def test_sharing_stops_at_its_bound(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(codecs, "_SHARED_MAX", 0)
    tags = ("bound-test-tag",)
    a, b = (decoded(make_item(n, tags=tags)) for n in (1, 2))
    assert a.tags == b.tags == tags and a.tags is not b.tags


def test_items_through_the_store_are_lean_and_unchanged(tmp_path: Path) -> None:
    items = [make_item(n, status="approved" if n % 2 else "pending") for n in range(10, 30)]
    put(TinyDBStore(tmp_path / "store"), *items, FULL_ITEM)
    fresh = TinyDBStore(tmp_path / "store")
    assert sorted(fresh.items(), key=lambda i: i.id) == sorted(
        [*items, FULL_ITEM], key=lambda i: i.id
    )
    assert all(
        len(vars(i)) < len(vars(made))
        for i, made in zip(
            sorted(fresh.items("pending"), key=lambda i: i.id),
            sorted((i for i in items if i.status == "pending"), key=lambda i: i.id),
            strict=True,
        )
    )
    with fresh.transaction():  # an approval of a decoded item writes it back whole
        fresh.put_item(replace(fresh.get_item(items[0].id) or FULL_ITEM, status="approved"))
    again = TinyDBStore(tmp_path / "store").get_item(items[0].id)
    assert again == replace(items[0], status="approved")


def test_counting_items_decodes_none(tmp_path: Path) -> None:
    """``count_items`` (run by serve's warm-up) counts the documents a shard holds without
    decoding them: one whose item no longer decodes still counts as held."""
    store = TinyDBStore(tmp_path / "store")
    put(store, make_item(1))
    shard = tmp_path / "store" / "items" / f"{make_item(1).id[:2]}.json"
    data = json.loads(shard.read_text())
    data["items"][make_item(1).id]["score"] = "high"
    shard.write_text(json.dumps(data))
    (tmp_path / "store" / "shards.json").unlink()
    fresh = TinyDBStore(tmp_path / "store")
    fresh.count_items()
    counts = json.loads((tmp_path / "store" / "shards.json").read_text())["shards"]
    assert counts == {shard.stem: {"items": 1}}
    assert fresh.items() == [] and [d.items for d in fresh.damage(deep=True)] == [1]


def test_damage_leaves_unread_shards_to_a_listing_under_way(tmp_path: Path) -> None:
    """serve's warm-up lists every item in a thread of its own right after start; /healthz
    meanwhile must not read the whole store a second time: the listing finds a damaged
    shard within seconds, and damage() reports it from then on."""
    item = next(i for i in map(make_item, range(1, 50)) if not i.id.startswith("00"))
    put(TinyDBStore(tmp_path / "store"), item)
    (tmp_path / "store" / "items" / f"{item.id[:2]}.json").write_bytes(b'{"items": {')
    fresh = TinyDBStore(tmp_path / "store")
    listing = fresh._views()  # what items() runs, here stopped after its first shard
    next(listing)
    assert fresh.damage() == []
    assert [d.name for d in fresh.damage(deep=True)] == [f"items/{item.id[:2]}.json"]
    assert list(listing) and [d.items for d in fresh.damage()] == [1]
    assert [d.items for d in TinyDBStore(tmp_path / "store").damage()] == [1]  # no listing
