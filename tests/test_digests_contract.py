"""digests.py's promises that tests/test_digests.py left unchecked (found by mutation testing).

Each test guards something a reader, an editor or the rest of the code relies on: when the
digest is due and what the "not due" answer says, what a dry run and a send report, the ledger's
``sent_at`` and record ids, the unsubscribe link, and which items the editors' note counts as
part of a week.  Same real parts as tests/test_digests.py: a Store on disk, aiosmtpd over TCP.
"""

from __future__ import annotations

import asyncio
import logging
import re
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from curator import digests, subscribers
from curator.config import loads
from curator.exceptions import MailError
from curator.secret_key import session_secret
from curator.store import Store, TinyDBStore
from curator.types import Event, Item
from tests.smtpserver import SmtpServer
from tests.test_digests import (
    MONDAY_SLOT,
    WEDNESDAY,
    Clock,
    make_config,
    make_item,
    put,
    send,
    server,
    store,
)

__all__ = ["server", "store"]  # pytest fixtures, shared with tests/test_digests.py

RID = "2025-03-10T080000Z"  # the id of a digest recorded at MONDAY_SLOT


# --------------------------------------------------------------------------- schedule


def test_a_run_on_the_slot_day_before_its_time_waits_for_it(
    server: SmtpServer, store: Store, tmp_path: Path
) -> None:
    """On the slot's own weekday but before its time, the last slot is a week earlier (the
    slot's hour *and* minute, local time): the digest is not sent early, the answer says when
    it will go, and it goes at the minute."""
    settings = loads("digest: {day: monday, time: '08:30', timezone: Europe/London}").digest
    early = datetime(2025, 3, 10, 7, 0, tzinfo=UTC)  # Monday 07:00 London (GMT)
    assert digests.last_slot(settings, early) == datetime(2025, 3, 3, 8, 30, tzinfo=UTC)
    assert digests.next_slot(settings, early) == datetime(2025, 3, 10, 8, 30, tzinfo=UTC)

    config = make_config(server, tmp_path, time="08:30")
    clock = Clock(WEDNESDAY)
    send(config, store, clock)  # baseline
    put(store, make_item(1))
    clock.now = datetime(2025, 3, 10, 8, 29, tzinfo=UTC)
    waiting = send(config, store, clock)
    assert waiting.outcome == "not_due"
    assert waiting.message == "not due: the next digest goes at 2025-03-10 08:30 UTC"
    assert server.messages == []
    clock.now = datetime(2025, 3, 10, 8, 30, tzinfo=UTC)
    assert send(config, store, clock).outcome == "sent"


# --------------------------------------------------------------------------- what runs report


def test_a_dry_run_names_each_message_it_would_send(
    server: SmtpServer, store: Store, tmp_path: Path
) -> None:
    """``digest send --dry-run`` tells the readers' digest (with its item count) from the
    editors' note, so the editor knows who would get what."""
    config = make_config(server, tmp_path, editors=["ed@example.org"])
    put(store, make_item(1), make_item(2))
    result = send(config, store, Clock(MONDAY_SLOT), force=True, dry_run=True)
    readers, editors = result.records
    assert result.message.splitlines() == [
        f"would send digest {RID} with 2 items to 2: {readers.subject}",
        f"would send editors note {RID}-editors to 1: {editors.subject}",
    ]
    assert server.messages == [] and digests.list_digests(store) == []


def test_a_send_reports_each_message_and_its_recipients(
    server: SmtpServer, store: Store, tmp_path: Path
) -> None:
    """One line per message sent; the editors' note carries no items, so its line counts
    none (no misleading "0 items")."""
    config = make_config(server, tmp_path, editors=["ed@example.org"])
    put(store, make_item(1))
    result = send(config, store, Clock(MONDAY_SLOT), force=True)
    assert result.message.splitlines() == [
        f"digest {RID}, 1 items: sent, sent to 2 of 2",
        f"editors' note {RID}-editors: sent, sent to 1 of 1",
    ]


def test_recording_and_delivering_are_logged_with_their_counts(
    server: SmtpServer, store: Store, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The log is how an operator learns, after the fact, that a digest was recorded and how
    many recipients the server accepted and refused: one line per event, with its id."""
    caplog.set_level(logging.INFO, logger="curator.digests")
    config = make_config(server, tmp_path)
    put(store, make_item(1))
    server.refuse["b@example.org"] = "550 5.1.1 mailbox unavailable"
    assert send(config, store, Clock(MONDAY_SLOT), force=True).outcome == "partial"
    lines = [r.getMessage() for r in caplog.records if r.name == "curator.digests"]
    assert f"digest recorded digest={RID} status=pending items=1 recipients=2" in lines
    assert (
        f"digest delivered digest={RID} kind=readers status=partial accepted=1 refused=1" in lines
    )


def test_the_eml_preview_with_no_readers_is_addressed_to_the_sender(
    store: Store, tmp_path: Path
) -> None:
    """Before anyone subscribes, ``digest preview --format eml`` still gives a whole message
    (addressed to the sender), not an error."""
    config = make_config(None, tmp_path, recipients=[])
    put(store, make_item(1))
    eml = digests.preview_message(config, store, MONDAY_SLOT, "eml")
    assert isinstance(eml, bytes)
    assert b"To: CCTV links <links@example.org>" in eml


def test_the_curator_level_preview_honours_the_format(store: Store, tmp_path: Path) -> None:
    """``curator digest preview --format txt|eml`` gets that format, not the HTML part."""
    from curator.core import make_curator

    config = make_config(None, tmp_path)
    curator = make_curator(config, store=store, clock=Clock(MONDAY_SLOT), smtp_password="")
    try:
        put(store, make_item(1))
        text = digests.preview(curator, "txt")
        eml = digests.preview(curator, "eml")
        html = digests.preview(curator, "html")
    finally:
        asyncio.run(curator.aclose())
    assert isinstance(text, str) and "Story 1 about CCTV" in text and "<table" not in text
    assert isinstance(eml, bytes) and b"To: a@example.org" in eml
    assert isinstance(html, str) and "<table" in html


# --------------------------------------------------------------------------- the ledger


def test_sent_at_is_when_the_first_recipient_accepted_it(
    server: SmtpServer, store: Store, tmp_path: Path
) -> None:
    """The archive shows when a digest went out: the first accepted delivery's time, kept
    through retries; a digest nobody accepted yet has none."""
    config = make_config(server, tmp_path)
    clock = Clock(MONDAY_SLOT)
    put(store, make_item(1))
    server.refuse["b@example.org"] = "450 4.2.1 try later"
    send(config, store, clock, force=True)
    assert store.get_digest(RID).sent_at == MONDAY_SLOT  # type: ignore[union-attr]
    del server.refuse["b@example.org"]
    clock.now = MONDAY_SLOT + timedelta(hours=1)
    assert send(config, store, clock).outcome == "sent"
    stored = store.get_digest(RID)
    assert stored is not None and stored.status == "sent" and stored.sent_at == MONDAY_SLOT

    nobody = TinyDBStore(tmp_path / "other")
    server.refuse.update({"a@example.org": "550 no", "b@example.org": "550 no"})
    put(nobody, make_item(2))
    with pytest.raises(MailError, match="refused every recipient"):
        send(config, nobody, Clock(MONDAY_SLOT), force=True)
    [record] = digests.list_digests(nobody)
    assert record.sent_at is None


def test_digests_recorded_in_the_same_second_each_get_their_own_record(
    server: SmtpServer, store: Store, tmp_path: Path
) -> None:
    """Three sends by hand within one second (each with something new): three records, none
    overwriting another, each item in exactly one digest."""
    config = make_config(server, tmp_path)
    clock = Clock(MONDAY_SLOT)
    ids = []
    for n in (1, 2, 3):
        put(store, make_item(n))
        [record] = send(config, store, clock, force=True).records
        assert record.item_ids == (make_item(n).id,)
        ids.append(record.id)
    assert len(set(ids)) == 3 and ids[0] == RID
    assert sorted(r.id for r in digests.list_digests(store)) == sorted(ids)
    assert len(server.messages) == 6


def test_the_unsubscribe_link_is_signed_with_the_stores_secret(
    server: SmtpServer, store: Store, tmp_path: Path
) -> None:
    """Each reader's one-click link carries a token the web app (which checks it with the
    store's secret) accepts for that reader, and only that reader."""
    config = make_config(server, tmp_path)
    put(store, make_item(1))
    send(config, store, Clock(MONDAY_SLOT), force=True)
    secret = session_secret(store)
    for received, reader in zip(server.messages, ("a@example.org", "b@example.org"), strict=True):
        header = str(received.message["List-Unsubscribe"])
        found = re.search(r"/unsubscribe/([^>\s,]+)>", header)
        assert found is not None, header
        assert subscribers.token_address(secret, found.group(1)) == reader


# --------------------------------------------------------------------------- the editors' note


def test_reviews_without_a_name_are_counted_together(store: Store, tmp_path: Path) -> None:
    """Reviews with no editor name recorded (older stores) add up under "(unknown)"."""
    config = make_config(None, tmp_path)
    put(
        store,
        replace(make_item(1), reviewed_by=None),
        replace(make_item(2), reviewed_by=None),
        replace(make_item(3, status="rejected"), reviewed_by=None),
        make_item(4),
    )
    note = digests.editors_note(config, store, start=WEDNESDAY - timedelta(days=1), end=MONDAY_SLOT)
    assert note.by_editor == {"(unknown)": (2, 1), "ed": (1, 0)}
    assert (note.approved, note.rejected) == (3, 1)


def _anpr_item(n: int, **changes: Any) -> Item:
    """A pending item whose only mention of ``anpr`` is its recorded match."""
    return replace(make_item(n, status="pending", terms=("anpr",)), **changes)


def test_an_item_first_seen_at_the_end_belongs_to_the_next_week(
    store: Store, tmp_path: Path
) -> None:
    """Weeks are ``[start, end)``: an item first seen exactly at a digest's end counts in the
    next week's note, not in both."""
    config = make_config(None, tmp_path)
    end = MONDAY_SLOT
    put(store, _anpr_item(1, first_seen=end))
    this_week = digests.editors_note(config, store, start=end - timedelta(days=7), end=end)
    next_week = digests.editors_note(config, store, start=end, end=end + timedelta(days=7))
    assert "anpr" in this_week.unmatched_terms
    assert "anpr" not in next_week.unmatched_terms


def test_only_a_feed_merging_into_an_old_item_brings_it_into_the_week(
    store: Store, tmp_path: Path
) -> None:
    """An old item edited this week was not brought in by a feed, so its terms do not count as
    matched this week; one a feed merged into this week does."""
    config = make_config(None, tmp_path)
    start, end = MONDAY_SLOT - timedelta(days=7), MONDAY_SLOT
    old = _anpr_item(1, first_seen=start - timedelta(days=30))
    edited = replace(old, history=(Event(start + timedelta(days=1), "edited", "ed"),))
    put(store, edited)
    assert "anpr" in digests.editors_note(config, store, start=start, end=end).unmatched_terms
    merged = replace(old, history=(Event(start + timedelta(days=1), "merged"),))
    put(store, merged)
    assert "anpr" not in digests.editors_note(config, store, start=start, end=end).unmatched_terms


def test_a_term_in_the_feeds_summary_before_an_edit_counts_as_matched(
    store: Store, tmp_path: Path
) -> None:
    """The note must not tell editors a rule term matched nothing when it was in the summary
    as the feed gave it, before an editor rewrote the summary."""
    config = make_config(None, tmp_path)
    item = replace(
        make_item(1, terms=()),
        title="Edited title",
        summary_text="Edited summary.",
        original={"summary": "New ANPR vans on the ring road"},
    )
    put(store, item)
    note = digests.editors_note(
        config, store, start=MONDAY_SLOT - timedelta(days=7), end=MONDAY_SLOT
    )
    assert "anpr" not in note.unmatched_terms
    assert "cctv" in note.unmatched_terms  # the control: nothing mentions it
