"""digests.py: never twice, never lost — with a real Store on disk and a real SMTP server."""

from __future__ import annotations

import asyncio
import hashlib
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import yaml

from curator import digests
from curator.config import Config, loads
from curator.exceptions import DigestError, MailError
from curator.mailer import Mailer
from curator.store import Store, TinyDBStore
from curator.types import Category, Item, Match, SourceState, Status
from tests.smtpserver import SmtpServer, smtp_server

WEDNESDAY = datetime(2025, 3, 5, 12, 0, tzinfo=UTC)
MONDAY_SLOT = datetime(2025, 3, 10, 8, 0, tzinfo=UTC)  # Monday 08:00 Europe/London (GMT)
READERS = ["a@example.org", "Bé Reader <b@example.org>"]


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def make_config(server: SmtpServer | None, tmp_path: Path, **digest: object) -> Config:
    data = {
        "sources": [
            {"id": "bbc", "name": "BBC News", "url": "https://example.org/bbc.xml"},
            {"id": "quiet", "name": "Quiet Blog", "url": "https://example.org/quiet.xml"},
        ],
        "rules": {"include": {"cctv": 3, "anpr": 2, "body-worn camera*": 2}},
        "digest": {
            "sender": "CCTV links <links@example.org>",
            "recipients": READERS,
            "smtp": {"host": "127.0.0.1", "port": server.port if server else 25},
            **digest,
        },
    }
    return loads(yaml.safe_dump(data, allow_unicode=True), str(tmp_path / "feeds.yaml"))


def make_item(
    n: int,
    *,
    status: Status = "approved",
    category: Category = "news",
    reviewed_at: datetime = WEDNESDAY,
    terms: tuple[str, ...] = ("cctv",),
) -> Item:
    item_id = hashlib.sha256(f"item{n}".encode()).hexdigest()[:16]
    return Item(
        id=item_id,
        url=f"https://example.com/{n}",
        canonical_url=f"https://example.com/{n}",
        title=f"Story {n} about CCTV",
        summary="<p>Summary.</p>",
        summary_text="Summary.",
        category=category,
        published=reviewed_at - timedelta(days=1),
        first_seen=reviewed_at - timedelta(hours=5),
        score=5.0,
        matched=tuple(Match(t, "title", 1, 3.0) for t in terms),
        why="title: cctv",
        sources=("bbc",),
        status=status,
        reviewed_by=None if status == "pending" else "ed",
        reviewed_at=None if status == "pending" else reviewed_at,
    )


def put(store: Store, *items: Item) -> None:
    with store.transaction():
        for item in items:
            store.put_item(item)


@pytest.fixture
def server() -> Iterator[SmtpServer]:
    with smtp_server() as s:
        yield s


@pytest.fixture
def store(store_location: str, store_at: Callable[..., Store]) -> Store:
    """A fresh store of each backend (tests/backends.py)."""
    return store_at(store_location)


@pytest.fixture
def reopen(store_location: str, store_at: Callable[..., Store]) -> Callable[[], Store]:
    """Another handle on the test's store, as another process (or instance) would open."""
    return lambda: store_at(store_location)


def send(config: Config, store: Store, clock: Clock, **kwargs: object) -> digests.SendResult:
    return digests.send_due(
        config,
        store,
        Mailer(config.digest.smtp),
        clock=clock,
        **kwargs,  # type: ignore[arg-type]
    )


# --------------------------------------------------------------------------- schedule


def test_slots_follow_the_local_time_zone() -> None:
    settings = loads("digest: {day: monday, time: '08:00', timezone: Europe/London}").digest
    assert digests.last_slot(settings, WEDNESDAY) == datetime(2025, 3, 3, 8, tzinfo=UTC)
    assert digests.last_slot(settings, MONDAY_SLOT) == MONDAY_SLOT
    assert digests.next_slot(settings, WEDNESDAY) == MONDAY_SLOT
    summer = datetime(2025, 7, 9, tzinfo=UTC)
    assert digests.last_slot(settings, summer) == datetime(2025, 7, 7, 7, tzinfo=UTC)  # BST
    # across the clock change at the end of March the slot stays at 08:00 local
    assert digests.next_slot(settings, datetime(2025, 3, 28, tzinfo=UTC)) == datetime(
        2025, 3, 31, 7, tzinfo=UTC
    )


# --------------------------------------------------------------------------- sending


def test_first_run_notes_the_time_then_sends_at_the_slot(
    server: SmtpServer, store: Store, tmp_path: Path
) -> None:
    config = make_config(server, tmp_path)
    clock = Clock(WEDNESDAY)
    put(store, make_item(1), make_item(2, category="research"), make_item(3, status="pending"))
    first = send(config, store, clock)
    assert first.outcome == "not_due"
    assert "first digest goes at 2025-03-10 08:00" in first.message
    assert server.messages == []

    clock.now = MONDAY_SLOT
    result = send(config, store, clock)
    assert result.outcome == "sent"
    [record] = result.records
    # the first digest covers the week before it, not the time since the first run
    assert record.status == "sent" and record.period_start == MONDAY_SLOT - timedelta(days=7)
    assert record.period_end == MONDAY_SLOT
    assert record.subject.endswith("3 Mar to 10 Mar 2025")
    assert record.recipients == {r: "sent" for r in READERS}
    assert sorted(record.item_ids) == sorted([make_item(1).id, make_item(2).id])

    # one message per recipient, each addressed to that recipient, one Message-ID for all
    assert [m.rcpt_tos for m in server.messages] == [["a@example.org"], ["b@example.org"]]
    msgs = [m.message for m in server.messages]
    assert [str(m["To"]) for m in msgs] == READERS
    assert {m["Message-ID"] for m in msgs} == {record.message_id}
    msg = msgs[0]
    assert msg.get_content_type() == "multipart/alternative"
    assert [p.get_content_type() for p in msg.iter_parts()] == ["text/plain", "text/html"]
    text = msg.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    assert "NEWS (1)" in text and "RESEARCH (1)" in text and "Story 3" not in text
    assert msg["List-Id"] and msg["List-Unsubscribe"] and msg["Date"]
    assert server.messages[0].mail_from == "links@example.org"

    for item_id in record.item_ids:
        item = store.get_item(item_id)
        assert item is not None and item.digest_id == record.id
        assert item.history[-1].action == "digested"
    assert store.get_item(make_item(3).id).digest_id is None  # type: ignore[union-attr]
    assert store.get_meta(digests.LAST_END) == MONDAY_SLOT.isoformat()


def test_never_twice_even_from_a_new_process(
    server: SmtpServer, store: Store, tmp_path: Path, reopen: Callable[[], Store]
) -> None:
    config = make_config(server, tmp_path)
    clock = Clock(MONDAY_SLOT)
    put(store, make_item(1))
    assert send(config, store, clock, force=True).outcome == "sent"
    assert len(server.messages) == 2

    # a restart: new Store object on the same directory, the job runs again, and again later
    again = reopen()
    for later in (MONDAY_SLOT, MONDAY_SLOT + timedelta(hours=1), MONDAY_SLOT + timedelta(days=3)):
        clock.now = later
        assert send(config, again, clock).outcome == "not_due"
    assert len(server.messages) == 2

    # next week's digest carries only what was approved since
    put(again, make_item(2, reviewed_at=MONDAY_SLOT + timedelta(days=2)))
    clock.now = MONDAY_SLOT + timedelta(days=7)
    result = send(config, reopen(), clock)
    assert result.outcome == "sent"
    assert result.records[0].item_ids == (make_item(2).id,)
    assert result.records[0].period_start == MONDAY_SLOT
    assert len(server.messages) == 4
    assert [r.id for r in digests.list_digests(again)] == [
        "2025-03-17T080000Z",
        "2025-03-10T080000Z",
    ]


def test_an_approval_that_lands_late_goes_in_the_next_digest(
    server: SmtpServer, store: Store, tmp_path: Path
) -> None:
    config = make_config(server, tmp_path)
    clock = Clock(MONDAY_SLOT)
    put(store, make_item(1))
    send(config, store, clock, force=True)
    # approved (clock read) before the digest was recorded, committed after it
    put(store, make_item(2, reviewed_at=MONDAY_SLOT - timedelta(seconds=1)))
    clock.now = MONDAY_SLOT + timedelta(days=7)
    result = send(config, store, clock)
    assert result.records[0].item_ids == (make_item(2).id,)


def test_a_missed_digest_is_sent_once_on_catch_up(
    server: SmtpServer, store: Store, tmp_path: Path, reopen: Callable[[], Store]
) -> None:
    config = make_config(server, tmp_path)
    clock = Clock(WEDNESDAY)
    send(config, store, clock)  # baseline
    put(store, make_item(1), make_item(2, reviewed_at=WEDNESDAY + timedelta(days=9)))
    clock.now = MONDAY_SLOT + timedelta(days=14, hours=3)  # down for three Mondays
    result = send(config, reopen(), clock)
    assert result.outcome == "sent"
    assert len(result.records[0].item_ids) == 2
    assert send(config, reopen(), clock).outcome == "not_due"
    assert len(server.messages) == 2


def test_empty_week_skip(server: SmtpServer, store: Store, tmp_path: Path) -> None:
    config = make_config(server, tmp_path, empty_week="skip")
    clock = Clock(MONDAY_SLOT)
    result = send(config, store, clock, force=True)
    assert result.outcome == "skipped"
    [record] = result.records
    assert record.status == "skipped" and record.recipients == {}
    assert server.messages == []
    assert store.get_digest(record.id) == record
    assert send(config, store, clock).outcome == "not_due"  # the period moved on


def test_empty_week_send(server: SmtpServer, store: Store, tmp_path: Path) -> None:
    config = make_config(server, tmp_path, empty_week="send")
    result = send(config, store, Clock(MONDAY_SLOT), force=True)
    assert result.outcome == "sent"
    assert len(server.messages) == 2
    body = server.messages[0].message.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    assert "approved nothing new" in body


def test_a_refused_recipient_is_retried_alone(
    server: SmtpServer, store: Store, tmp_path: Path, reopen: Callable[[], Store]
) -> None:
    config = make_config(server, tmp_path)
    clock = Clock(MONDAY_SLOT)
    put(store, make_item(1))
    server.refuse["b@example.org"] = "550 5.1.1 mailbox unavailable"
    result = send(config, store, clock, force=True)
    assert result.outcome == "partial"
    [record] = result.records
    assert record.status == "partial"
    assert record.recipients == {
        "a@example.org": "sent",
        "Bé Reader <b@example.org>": "refused: 550 5.1.1 mailbox unavailable",
    }
    assert "refused: Bé Reader <b@example.org> (550 5.1.1 mailbox unavailable)" in result.message
    assert server.delivered_to() == ["a@example.org"]
    first_id = server.messages[0].message["Message-ID"]

    # the mailbox comes back; the next run (a restart, not a new slot) retries b alone
    del server.refuse["b@example.org"]
    clock.now = MONDAY_SLOT + timedelta(hours=1)
    retry = send(config, reopen(), clock)
    assert retry.outcome == "sent"
    assert server.delivered_to() == ["a@example.org", "b@example.org"]
    assert server.messages[1].message["Message-ID"] == first_id  # the same message
    stored = store.get_digest(record.id)
    assert stored is not None and stored.status == "sent"
    assert set(stored.recipients.values()) == {"sent"}
    assert send(config, store, clock).outcome == "not_due"
    assert len(server.messages) == 2


def test_retries_stop_after_retry_days(server: SmtpServer, store: Store, tmp_path: Path) -> None:
    config = make_config(server, tmp_path, retry_days=2)
    clock = Clock(MONDAY_SLOT)
    put(store, make_item(1))
    server.refuse["a@example.org"] = "450 4.2.1 try later"
    assert send(config, store, clock, force=True).outcome == "partial"
    del server.refuse["a@example.org"]
    clock.now = MONDAY_SLOT + timedelta(days=3)
    assert send(config, store, clock).outcome == "not_due"
    assert server.delivered_to() == ["b@example.org"]


def test_every_recipient_refused_is_a_mail_error_and_stays_owed(
    server: SmtpServer, store: Store, tmp_path: Path
) -> None:
    config = make_config(server, tmp_path)
    clock = Clock(MONDAY_SLOT)
    put(store, make_item(1))
    server.refuse.update({"a@example.org": "550 no", "b@example.org": "550 no"})
    with pytest.raises(MailError, match="refused every recipient"):
        send(config, store, clock, force=True)
    [record] = digests.list_digests(store)
    assert record.status == "pending"
    assert set(record.recipients.values()) == {"refused: 550 no"}
    server.refuse.clear()
    assert send(config, store, clock).outcome == "sent"
    assert sorted(server.delivered_to()) == ["a@example.org", "b@example.org"]


def test_a_server_that_is_down_loses_nothing(
    store: Store, tmp_path: Path, reopen: Callable[[], Store]
) -> None:
    with smtp_server() as probe:
        port = probe.port  # free once the probe stops
    config = make_config(None, tmp_path, smtp={"host": "127.0.0.1", "port": port})
    clock = Clock(MONDAY_SLOT)
    put(store, make_item(1))
    with pytest.raises(MailError, match=f"127.0.0.1:{port}: connection refused"):
        send(config, store, clock, force=True)
    [record] = digests.list_digests(store)
    assert record.status == "pending" and set(record.recipients.values()) == {"pending"}
    assert store.get_item(make_item(1).id).digest_id == record.id  # type: ignore[union-attr]

    with smtp_server() as server:
        config = make_config(server, tmp_path)
        clock.now += timedelta(hours=2)
        assert send(config, reopen(), clock).outcome == "sent"
        assert send(config, reopen(), clock).outcome == "not_due"
    assert sorted(server.delivered_to()) == ["a@example.org", "b@example.org"]
    assert digests.list_digests(store)[0].id == record.id


def test_a_second_sender_backs_off(
    server: SmtpServer, store: Store, tmp_path: Path, reopen: Callable[[], Store]
) -> None:
    config = make_config(server, tmp_path)
    put(store, make_item(1))
    other = reopen()  # what another process holds while it sends
    with other.lock(digests.SEND_LOCK, wait=0) as held:
        assert held
        result = send(config, store, Clock(MONDAY_SLOT), force=True)
    assert result.outcome == "busy"
    assert server.messages == [] and digests.list_digests(store) == []


def test_three_senders_at_once_send_one_digest(
    server: SmtpServer, store: Store, tmp_path: Path, reopen: Callable[[], Store]
) -> None:
    config = make_config(server, tmp_path)
    clock = Clock(WEDNESDAY)
    send(config, store, clock)  # baseline
    put(store, make_item(1))
    clock.now = MONDAY_SLOT
    barrier = threading.Barrier(3)
    outcomes: list[str] = []

    def run() -> None:
        own = reopen()  # its own locks, as another process or instance would have
        barrier.wait()
        outcomes.append(send(config, own, clock).outcome)

    threads = [threading.Thread(target=run) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert "sent" in outcomes
    assert sorted(server.delivered_to()) == ["a@example.org", "b@example.org"]
    assert len(digests.list_digests(store)) == 1


def test_dry_run_changes_nothing(server: SmtpServer, store: Store, tmp_path: Path) -> None:
    config = make_config(server, tmp_path)
    put(store, make_item(1), make_item(2))
    version = store.version()
    result = send(config, store, Clock(MONDAY_SLOT), force=True, dry_run=True)
    assert result.outcome == "dry_run"
    assert "with 2 items to 2" in result.message
    assert server.messages == []
    assert digests.list_digests(store) == [] and store.version() == version
    assert store.get_meta(digests.LAST_END) is None


def test_to_sends_a_test_copy_and_records_nothing(
    server: SmtpServer, store: Store, tmp_path: Path
) -> None:
    config = make_config(server, tmp_path)
    put(store, make_item(1))
    result = send(config, store, Clock(MONDAY_SLOT), to="Me <me@example.org>")
    assert result.outcome == "test"
    assert server.delivered_to() == ["me@example.org"]
    assert digests.list_digests(store) == []
    assert store.get_item(make_item(1).id).digest_id is None  # type: ignore[union-attr]


def test_editors_get_their_note(server: SmtpServer, store: Store, tmp_path: Path) -> None:
    config = make_config(server, tmp_path, editors=["ed@example.org"], silent_days=10)
    clock = Clock(WEDNESDAY)
    send(config, store, clock)  # baseline
    put(
        store,
        make_item(1, terms=("cctv", "ANPR"), reviewed_at=WEDNESDAY + timedelta(days=1)),
        make_item(2, status="rejected"),
        make_item(3, status="pending", reviewed_at=WEDNESDAY - timedelta(days=20)),
    )
    with store.transaction():
        store.put_state(
            SourceState(
                "bbc",
                consecutive_errors=3,
                last_error="HTTP 503 from the server",
                last_new=WEDNESDAY,
            )
        )
        store.put_state(SourceState("quiet", last_new=WEDNESDAY - timedelta(days=30)))
    clock.now = MONDAY_SLOT
    result = send(config, store, clock)
    assert [r.kind for r in result.records] == ["readers", "editors"]
    readers, editors = result.records
    assert editors.id == f"{readers.id}-editors" and editors.status == "sent"
    notes = [m for m in server.messages if m.rcpt_tos == ["ed@example.org"]]
    assert len(notes) == 1 and len(server.messages) == 3
    note = notes[0].message
    assert note.get_content_type() == "text/plain"
    body = " ".join(note.get_content().split())
    assert "1 item to 2 recipients" in body
    assert "1 pending, the oldest waiting 25 days" in body
    assert "1 approved, 1 rejected" in body
    assert "BBC News [bbc]: 3 failed polls in a row; never succeeded; last error: HTTP 503" in body
    assert "Quiet Blog [quiet]: last new item 3 Feb 2025" in body
    assert "(1) body-worn camera*" in body  # matched nothing; cctv and anpr did

    # the archive renders a record again, as sent
    again = digests.render_record(config, store, readers)
    assert again.message_id == readers.message_id and again.subject == readers.subject
    assert [i.id for i in digests.record_items(store, readers)] == [make_item(1).id]


def test_editors_note_goes_out_in_a_skipped_week(
    server: SmtpServer, store: Store, tmp_path: Path
) -> None:
    config = make_config(server, tmp_path, editors=["ed@example.org"])
    result = send(config, store, Clock(MONDAY_SLOT), force=True)
    assert [r.status for r in result.records] == ["skipped", "sent"]
    assert server.delivered_to() == ["ed@example.org"]
    body = server.messages[0].message.get_content()
    assert "skipped, nothing was approved" in body


def test_preview_records_nothing(store: Store, tmp_path: Path) -> None:
    config = make_config(None, tmp_path)
    put(store, make_item(1), make_item(2, category="guidance"))
    html = digests.preview_message(config, store, MONDAY_SLOT, "html")
    text = digests.preview_message(config, store, MONDAY_SLOT, "txt")
    eml = digests.preview_message(config, store, MONDAY_SLOT, "eml")
    assert isinstance(html, str) and "<table" in html and "Story 2 about CCTV" in html
    assert isinstance(text, str) and "GUIDANCE (1)" in text
    assert isinstance(eml, bytes) and b"To: a@example.org" in eml
    assert digests.list_digests(store) == []
    assert store.get_meta(digests.LAST_END) is None


def test_recipients_file(tmp_path: Path) -> None:
    (tmp_path / "readers.txt").write_text(
        "# the readers\nc@example.org\n\nA@EXAMPLE.ORG  # already listed\nDee <d@example.org>\n"
    )
    config = make_config(None, tmp_path, recipients_file="readers.txt")
    assert digests.recipients(config) == [*READERS, "c@example.org", "Dee <d@example.org>"]
    (tmp_path / "readers.txt").write_text("ok@example.org\nnot an address\n")
    with pytest.raises(DigestError, match=r"readers\.txt:2: 'not an address'"):
        digests.recipients(config)


def test_no_recipients_is_a_clear_error(store: Store, tmp_path: Path) -> None:
    config = make_config(None, tmp_path, recipients=[])
    put(store, make_item(1))
    with pytest.raises(DigestError, match="no recipients"):
        send(config, store, Clock(MONDAY_SLOT), force=True)
    assert digests.list_digests(store) == []
    assert store.get_item(make_item(1).id).digest_id is None  # type: ignore[union-attr]


def test_disabled_digest_is_never_due(store: Store, tmp_path: Path) -> None:
    config = make_config(None, tmp_path, enabled=False)
    result = send(config, store, Clock(MONDAY_SLOT))
    assert result.outcome == "not_due" and "digest.enabled is false" in result.message


def test_edits_after_sending_show_in_the_archive(
    server: SmtpServer, store: Store, tmp_path: Path
) -> None:
    config = make_config(server, tmp_path)
    put(store, make_item(1))
    [record] = send(config, store, Clock(MONDAY_SLOT), force=True).records
    item = store.get_item(make_item(1).id)
    assert item is not None
    put(store, replace(item, title="Edited after sending"))
    assert "Edited after sending" in digests.render_record(config, store, record).text


def test_the_curator_level_entry_points(server: SmtpServer, store: Store, tmp_path: Path) -> None:
    from curator.core import make_curator

    config = make_config(server, tmp_path)
    clock = Clock(WEDNESDAY)
    curator = make_curator(config, store=store, clock=clock, smtp_password="")
    try:
        put(store, make_item(1))
        preview = digests.preview(curator, "txt")
        assert isinstance(preview, str) and "Story 1 about CCTV" in preview
        assert asyncio.run(digests.run_scheduled(curator)).outcome == "not_due"  # type: ignore[union-attr]
        clock.now = MONDAY_SLOT
        result = asyncio.run(digests.run_scheduled(curator))
        assert result is not None and result.outcome == "sent"
        again = digests.send(curator, dry_run=True)  # by hand, nothing new since
        assert again.message == (
            "nothing new was approved since the last digest (2025-03-10 08:00 UTC): nothing to send"
        )
        assert again.records == ()
        assert len(server.messages) == 2
    finally:
        asyncio.run(curator.aclose())


def test_a_mailer_wired_into_make_curator_is_the_one_used(
    server: SmtpServer, store: Store, tmp_path: Path
) -> None:
    from curator.core import make_curator

    config = make_config(None, tmp_path)  # feeds.yaml's server: port 25, nobody there
    wired = Mailer(config.digest.smtp.model_copy(update={"port": server.port}))
    curator = make_curator(config, store=store, clock=Clock(MONDAY_SLOT), mailer=wired)
    try:
        put(store, make_item(1))
        assert digests.send(curator).outcome == "sent"
        assert sorted(server.delivered_to()) == sorted(
            a.split("<")[-1].rstrip(">") for a in READERS
        )
    finally:
        asyncio.run(curator.aclose())


def test_the_scheduled_job_logs_a_failure_instead_of_raising(
    store: Store, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    from curator.core import make_curator

    config = make_config(None, tmp_path, recipients=[])
    curator = make_curator(config, store=store, clock=Clock(MONDAY_SLOT))
    try:
        digests.send_due(config, store, Mailer(config.digest.smtp), clock=Clock(WEDNESDAY))
        put(store, make_item(1))
        assert asyncio.run(digests.run_scheduled(curator)) is None
    finally:
        asyncio.run(curator.aclose())
    assert "digest failed" in caplog.text and "no recipients" in caplog.text


_PROCESS = """
import sys
from datetime import datetime
from curator import config, digests
from curator.mailer import Mailer
from curator.store import open_store
cfg = config.load(sys.argv[1])
now = datetime.fromisoformat(sys.argv[3])
sys.stdin.readline()  # start together
result = digests.send_due(cfg, open_store(sys.argv[2]), Mailer(cfg.digest.smtp), clock=lambda: now)
print(result.outcome)
"""


@pytest.mark.slow
def test_two_processes_send_one_digest(
    server: SmtpServer, store: Store, store_location: str, tmp_path: Path
) -> None:
    config = make_config(server, tmp_path)
    (tmp_path / "feeds.yaml").write_text(
        yaml.safe_dump(
            {
                "sources": [{"id": "bbc", "name": "BBC", "url": "https://example.org/bbc.xml"}],
                "digest": {
                    "sender": config.digest.sender,
                    "recipients": READERS,
                    "smtp": {"host": "127.0.0.1", "port": server.port},
                },
            },
            allow_unicode=True,
        )
    )
    send(config, store, Clock(WEDNESDAY))  # baseline
    put(store, make_item(1))
    procs = [
        subprocess.Popen(
            [
                sys.executable,
                "-c",
                _PROCESS,
                str(tmp_path / "feeds.yaml"),
                store_location,
                MONDAY_SLOT.isoformat(),
            ],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    for p in procs:  # both have imported everything: release them together
        assert p.stdin is not None
        p.stdin.write("go\n")
        p.stdin.flush()
    outs = [p.communicate(timeout=60)[0].strip() for p in procs]
    assert all(p.returncode == 0 for p in procs)
    assert "sent" in outs and set(outs) <= {"sent", "busy", "not_due"}
    assert sorted(server.delivered_to()) == ["a@example.org", "b@example.org"]
    assert len(digests.list_digests(store)) == 1


def test_editors_note_lists_sources_failing_for_a_day_not_a_blip(
    store: Store, tmp_path: Path
) -> None:
    config = make_config(None, tmp_path)
    end = MONDAY_SLOT
    with store.transaction():
        store.put_state(  # worked two hours ago: a blip
            SourceState(
                "bbc",
                consecutive_errors=1,
                last_error="timeout",
                last_success=end - timedelta(hours=2),
                last_new=end,
            )
        )
        store.put_state(  # has not worked for three days
            SourceState(
                "quiet",
                consecutive_errors=9,
                last_error="HTTP 500",
                last_success=end - timedelta(days=3),
                last_new=end,
            )
        )
    note = digests.editors_note(config, store, start=end - timedelta(days=7), end=end)
    assert [h.source_id for h in note.failing] == ["quiet"]


# --------------------------------------------------------------------------- a real first week

FRIDAY = datetime(2026, 12, 4, 9, 0, tzinfo=UTC)  # the day the first `serve` started


def _week_config(server: SmtpServer, tmp_path: Path) -> Config:
    data = {
        "sources": [{"id": "bbc", "name": "BBC News", "url": "https://example.org/bbc.xml"}],
        "rules": {
            "include": {
                "cctv": 3,
                "camera*": 0.5,
                "anpr": 2,
                "cctv network*": 4,
                "drone*": 1,
                "police release cctv": -4,
            }
        },
        "digest": {
            "sender": "CCTV links <links@example.org>",
            "recipients": READERS,
            "editors": ["ed@example.org"],
            "smtp": {"host": "127.0.0.1", "port": server.port},
        },
    }
    return loads(yaml.safe_dump(data, allow_unicode=True), str(tmp_path / "feeds.yaml"))


def _note_body(server: SmtpServer) -> str:
    [note] = [m.message for m in server.messages if m.rcpt_tos == ["ed@example.org"]]
    return " ".join(note.get_content().split())


def test_the_first_weeks_note_counts_the_week_and_every_matched_term(
    server: SmtpServer, store: Store, tmp_path: Path
) -> None:
    """28 approvals in the days before the first `serve` start, then `digest send`: the
    digest covers a real week, the note counts all 28, and lists only the term that really
    matched nothing (a term that scored inside a longer one, ``cctv`` in "CCTV network",
    or whose recorded match was on the feed's title before an edit, did match)."""
    config = _week_config(server, tmp_path)
    items = [
        replace(
            make_item(n, reviewed_at=FRIDAY - timedelta(days=3, hours=-n)),
            title=f"Story {n}: new CCTV network in town {n}",
            matched=(Match("cctv network*", "title", 1, 4.0),),
        )
        for n in range(1, 28)
    ]
    edited = replace(
        make_item(28, reviewed_at=FRIDAY - timedelta(hours=2), terms=()),
        title="Edited by the editor",
        original={"title": "Cameras on the ring road"},
    )
    rejected = make_item(
        29, status="rejected", reviewed_at=FRIDAY - timedelta(days=1), terms=("anpr",)
    )
    # seen a month ago, rejected this week: part of the week, and so is its term
    rejected = replace(rejected, first_seen=FRIDAY - timedelta(days=30))
    put(store, *items, edited, rejected)
    clock = Clock(FRIDAY)
    assert send(config, store, clock).outcome == "not_due"  # serve's first start: baseline

    clock.now = FRIDAY + timedelta(hours=1)
    result = send(config, store, clock, force=True)  # `curator digest send`
    assert result.outcome == "sent"
    readers, editors = result.records
    assert editors.status == "sent"
    assert readers.period_start == clock.now - timedelta(days=7)
    assert readers.subject.endswith("27 Nov to 4 Dec 2026")
    assert len(readers.item_ids) == 28
    body = _note_body(server)
    assert "This week: 28 approved, 1 rejected." in body
    assert "ed: 28 approved, 1 rejected" in body
    assert "matched no stored item this week (1) drone*" in body  # not cctv, camera*, anpr
    assert len(server.messages) == 3


def test_a_second_send_with_nothing_new_mails_nobody(
    server: SmtpServer, store: Store, tmp_path: Path
) -> None:
    config = _week_config(server, tmp_path)
    clock = Clock(FRIDAY - timedelta(hours=1))
    send(config, store, clock)  # baseline: the first `serve`
    nothing = send(config, store, clock, force=True)
    assert nothing.outcome == "not_due" and nothing.records == () and server.messages == []
    assert nothing.message == (
        "nothing new was approved since digests were first scheduled (2026-12-04 08:00 UTC): "
        "nothing to send"
    )
    put(store, make_item(1, reviewed_at=FRIDAY - timedelta(days=1)))
    clock.now = FRIDAY
    assert send(config, store, clock, force=True).outcome == "sent"
    assert len(server.messages) == 3  # two readers, one editor
    recorded = digests.list_digests(store)

    clock.now = FRIDAY + timedelta(hours=2)
    again = send(config, store, clock, force=True)
    assert again.outcome == "not_due" and again.records == ()
    assert "nothing new was approved since the last digest" in again.message
    assert len(server.messages) == 3
    assert digests.list_digests(store) == recorded

    # something new: a digest since the last one, and the editors' note with it
    put(store, make_item(2, reviewed_at=clock.now))
    clock.now = FRIDAY + timedelta(hours=3)
    result = send(config, store, clock, force=True)
    readers, editors = result.records
    assert readers.period_start == FRIDAY and readers.item_ids == (make_item(2).id,)
    assert editors.status == "sent" and len(server.messages) == 6

    # the scheduled slot of the next week, nothing new: the weekly note still goes
    clock.now = datetime(2026, 12, 7, 8, 0, tzinfo=UTC)  # Monday 08:00 London (GMT)
    weekly = send(config, store, clock)
    assert [(r.kind, r.status) for r in weekly.records] == [
        ("readers", "skipped"),
        ("editors", "sent"),
    ]
    assert weekly.records[0].period_start == FRIDAY + timedelta(hours=3)
    assert server.messages[-1].rcpt_tos == ["ed@example.org"] and len(server.messages) == 7


def test_a_missed_week_is_owed_even_to_a_send_by_hand(
    server: SmtpServer, store: Store, tmp_path: Path
) -> None:
    """Nothing new, but the week's digest never went (the service was down at the slot): a
    send by hand records the skipped week and sends the editors their note."""
    config = _week_config(server, tmp_path)
    clock = Clock(FRIDAY)
    send(config, store, clock)  # baseline
    clock.now = datetime(2026, 12, 9, 12, 0, tzinfo=UTC)  # Wednesday after the Monday slot
    result = send(config, store, clock, force=True)
    assert [(r.kind, r.status) for r in result.records] == [
        ("readers", "skipped"),
        ("editors", "sent"),
    ]
    assert result.records[0].period_start == clock.now - timedelta(days=7)
    assert server.delivered_to() == ["ed@example.org"]


def test_the_period_starts_at_the_previous_digest_not_a_baseline(
    store: Store, tmp_path: Path
) -> None:
    config = make_config(None, tmp_path)
    with store.transaction():
        store.put_meta(digests.LAST_END, (MONDAY_SLOT - timedelta(hours=1)).isoformat())
    preview = digests.preview_digest(config, store, MONDAY_SLOT)
    assert preview.period_start == MONDAY_SLOT - timedelta(days=7)
    old = make_item(1, reviewed_at=MONDAY_SLOT - timedelta(days=20))
    put(store, old)
    preview = digests.preview_digest(config, store, MONDAY_SLOT)
    assert preview.period_start == old.reviewed_at  # older approvals widen the first period
    assert digests.previous_end(store) is None


def test_the_first_digest_previewed_on_a_new_store_covers_a_week(tmp_path: Path) -> None:
    """Not "5 Mar to 5 Mar": with no digest before it, the period is the week before."""
    store = TinyDBStore(tmp_path / "store")
    preview = digests.preview_digest(make_config(None, tmp_path), store, WEDNESDAY)
    assert preview.period_start == WEDNESDAY - timedelta(days=7)
    assert preview.subject.endswith("26 Feb to 5 Mar 2025")
