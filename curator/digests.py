"""Send each digest once: never twice, never lost.

The weekly digest (and the editors' note beside it) goes through three steps:

1. **Record**, in one store transaction: re-check that a digest is due (another process may
   just have sent it), take every approved item not yet in a digest, write a
   :class:`~curator.types.DigestRecord` (period, item ids, Message-ID, every recipient
   ``pending``), mark the items with its id and move ``last_digest_end``.  An item therefore
   lands in exactly one digest, and a crash after this point loses nothing: the record says
   what is still owed.
2. **Send**, one message per recipient over one SMTP connection, writing each recipient's
   status (``sent`` / ``refused: <reply>``) in its own small transaction as soon as the server
   answers, so a crash re-sends to at most the one recipient in flight.
3. **Retry**: every later run re-sends open records (``pending``/``partial``, younger than
   ``digest.retry_days``) to the recipients not yet ``sent``, re-rendered from the record with
   the same Message-ID and Date.

Only one process sends at a time, on every instance: senders hold ``store.lock("digest-send")``
(a file lock in the store directory, or a PostgreSQL advisory lock: either is released when
its holder dies) and a second one returns ``busy`` at once, rather than
holding the store's own lock through slow SMTP and blocking every editor.

"Due" means a scheduled slot (``digest.day``/``time``/``timezone``) has passed since the last
digest's end, so a digest missed while the service was down is sent once when it comes back
(however many slots it missed), and running the job again changes nothing.  The first run on a
new store only notes the time (there is no previous digest to follow); the first digest goes
at the next slot, or now with ``force`` (``curator digest send``).

A digest's period starts where the previous digest's ended; the first covers the 7 days
before it (more, when it carries older approvals), never the time since that first run.  A
send by hand with nothing new, when this week's digest has gone, sends and records nothing:
the editors' note goes with each digest and with each scheduled week, not with every click.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, time, timedelta
from typing import TYPE_CHECKING, Literal
from zoneinfo import ZoneInfo

from curator import digest, match, subscribers
from curator.config import Config
from curator.config import Digest as DigestSettings
from curator.exceptions import CuratorError, DigestError, MailError
from curator.mailer import Delivery, Mailer
from curator.secret_key import session_secret
from curator.store import Store
from curator.types import DigestRecord, Event, Item

if TYPE_CHECKING:
    from curator.core import Curator

log = logging.getLogger("curator.digests")

LAST_END = "last_digest_end"  # store meta: ISO end of the last readers' digest period
SEND_LOCK = "digest-send"  # store.lock: one sender at a time, on every instance
FIRST_PERIOD = timedelta(days=7)
_DAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")

Clock = Callable[[], datetime]
Outcome = Literal["sent", "partial", "skipped", "not_due", "busy", "dry_run", "test"]


@dataclass(frozen=True)
class SendResult:
    """What one run did (or, with ``dry_run``, would do).

    ``records`` are the digests created or retried in this run as they now stand in the
    store (with ``dry_run``: as they would be created, unsaved); ``deliveries`` every answer
    the SMTP server gave; ``message`` one human line per record, for the CLI and the log.
    """

    outcome: Outcome
    records: tuple[DigestRecord, ...] = ()
    deliveries: tuple[Delivery, ...] = ()
    message: str = ""


# --------------------------------------------------------------------------- schedule


def last_slot(settings: DigestSettings, now: datetime) -> datetime:
    """The latest scheduled send time at or before ``now`` (UTC), in ``digest.timezone``."""
    tz = ZoneInfo(settings.timezone)
    hour, minute = (int(x) for x in settings.time.split(":"))
    local = now.astimezone(tz)
    day = local.date() - timedelta(days=(local.weekday() - _DAYS.index(settings.day)) % 7)
    slot = datetime.combine(day, time(hour, minute), tzinfo=tz).astimezone(UTC)
    if slot > now:
        slot = datetime.combine(day - timedelta(days=7), time(hour, minute), tzinfo=tz)
        slot = slot.astimezone(UTC)
    return slot


def next_slot(settings: DigestSettings, now: datetime) -> datetime:
    """The first scheduled send time after ``now`` (UTC); 7 local days after the last one."""
    tz = ZoneInfo(settings.timezone)
    last = last_slot(settings, now).astimezone(tz)
    return datetime.combine(last.date() + timedelta(days=7), last.time(), tzinfo=tz).astimezone(UTC)


def last_end(store: Store) -> datetime | None:
    """The end of the last readers' digest period (or of the baseline a first run noted)."""
    value = store.get_meta(LAST_END)
    if isinstance(value, str):
        try:
            return datetime.fromisoformat(value).astimezone(UTC)
        except ValueError:
            log.warning("ignoring an unreadable meta %s=%r", LAST_END, value)
    ends = [r.period_end for r in store.digests() if r.kind == "readers"]
    return max(ends) if ends else None


def is_due(config: Config, store: Store, now: datetime) -> bool:
    """True when a scheduled slot has passed since the last digest (false before the first)."""
    end = last_end(store)
    return end is not None and end < last_slot(config.digest, now)


# --------------------------------------------------------------------------- reading


def recipients(config: Config) -> list[str]:
    """The readers feeds.yaml names (the seed; :func:`curator.subscribers.readers` is who
    the digest goes to)."""
    return subscribers.seeds(config)


def editors(config: Config) -> list[str]:
    """Who gets the editors' note (``digest.editors``), each once."""
    out: dict[str, str] = {}
    for i, value in enumerate(config.digest.editors):
        addr = digest.check_address(value, f"digest.editors[{i}]")
        out.setdefault(addr.casefold(), value.strip())
    return list(out.values())


def undigested(store: Store) -> list[Item]:
    """Approved items that no digest carries yet: what the next digest will send.

    Not bounded by the period: an approval whose clock read fell just before the last
    digest's end, but whose transaction committed after it, still goes out (in the next one).
    """
    # In id order: the embedded store then reads each of its files once.
    found = (store.get_item(item_id) for item_id in sorted(store.undigested()))
    return [i for i in found if i is not None and i.status == "approved" and i.digest_id is None]


def list_digests(store: Store, kind: str | None = None) -> list[DigestRecord]:
    """Past digests, newest first (``kind``: ``readers`` or ``editors``; both by default)."""
    return [r for r in store.digests() if kind is None or r.kind == kind]


def record_items(store: Store, record: DigestRecord) -> list[Item]:
    """The items a digest carried, in its order (items since deleted are left out)."""
    return [i for i in (store.get_item(x) for x in record.item_ids) if i is not None]


#: How long a source must have been failing before the editors' weekly note lists it.
FAILING_FOR = timedelta(days=1)


def editors_note(
    config: Config,
    store: Store,
    *,
    start: datetime,
    end: datetime,
    digest_items: int | None = None,
    digest_recipients: int = 0,
) -> digest.EditorsNote:
    """Gather what editors should act on for the period ``[start, end)``.

    "Rule terms that matched no stored item" lists the ``rules.include`` terms (positive
    weights) found in no item of the period (first seen, merged into by a feed, or reviewed
    in it): neither among the terms recorded when it matched nor anywhere in
    its title and summary, as the feed gave them or as edited, a term inside a longer one
    included (``cctv`` in "CCTV network").  An entry that matched a term but not enough to be
    kept is not stored, so it cannot count.
    """
    silent_before = end - timedelta(days=config.digest.silent_days)
    states = store.states()
    failing: list[digest.SourceHealth] = []
    silent: list[digest.SourceHealth] = []
    for source in config.sources:
        state = states.get(source.id)
        if not source.enabled or state is None:
            continue
        health = digest.SourceHealth(
            source_id=source.id,
            name=source.name,
            last_error=state.last_error,
            last_success=state.last_success,
            last_new=state.last_new,
            consecutive_errors=state.consecutive_errors,
            gone=state.gone,
        )
        failing_since = state.last_success or state.last_fetch
        if state.gone or (
            state.consecutive_errors > 0
            and (failing_since is None or failing_since < end - FAILING_FOR)
        ):
            # A source that failed an hour ago and will likely recover is noise in a weekly
            # note; one that has not worked for a day is worth an editor's look.
            failing.append(health)
        elif state.last_new is None or state.last_new < silent_before:
            silent.append(health)

    # One pass, a part at a time (the embedded store keeps decided items on disk): only the
    # queue and the period's items are held.
    pending: list[Item] = []
    came_in: list[Item] = []
    by_editor: dict[str, tuple[int, int]] = {}
    approved = rejected = 0
    for item in store.iter_items():
        if item.status == "pending":
            pending.append(item)
        if _came_in(item, start, end):
            came_in.append(item)
        if item.reviewed_at is None or not start <= item.reviewed_at < end:
            continue
        a, r = by_editor.get(item.reviewed_by or "(unknown)", (0, 0))
        if item.status == "approved":
            approved += 1
            a += 1
        elif item.status == "rejected":
            rejected += 1
            r += 1
        by_editor[item.reviewed_by or "(unknown)"] = (a, r)
    wanted = [term for term, weight in config.rules.include.items() if weight > 0]
    found = match.terms_found(wanted, _matched_texts(came_in))
    unmatched = tuple(term for term in wanted if term not in found)
    return digest.EditorsNote(
        period_start=start,
        period_end=end,
        queue_size=len(pending),
        oldest_pending=min((i.first_seen for i in pending), default=None),
        approved=approved,
        rejected=rejected,
        by_editor={k: v for k, v in by_editor.items() if v != (0, 0)},
        failing=tuple(failing),
        silent=tuple(silent),
        unmatched_terms=unmatched,
        digest_items=digest_items,
        digest_recipients=digest_recipients,
    )


def _came_in(item: Item, start: datetime, end: datetime) -> bool:
    """True when *item* was part of the week ``[start, end)``: a feed brought it (new, or
    merged into it), or an editor reviewed it."""
    if start <= item.first_seen < end:
        return True
    if item.reviewed_at is not None and start <= item.reviewed_at < end:
        return True
    return any(e.action == "merged" and start <= e.at < end for e in item.history)


def _matched_texts(items: Iterable[Item]) -> Iterator[str]:
    """What the rules were matched against, per item: the terms recorded then (one per
    line, so that no two join into a phrase), and the title and summary as the feed gave
    them and as edited."""
    for item in items:
        yield "\n".join(m.term for m in item.matched)
        yield item.title
        yield item.summary_text
        for name in ("title", "summary"):
            if name in item.original:
                yield item.original[name]


# --------------------------------------------------------------------------- rendering


def previous_end(store: Store) -> datetime | None:
    """The end of the last readers' digest recorded (sent or skipped), if any.

    Not :func:`last_end`: that may be the baseline the first run on a store noted (the first
    ``serve`` start), which schedules the first digest but starts no period.
    """
    ends = [r.period_end for r in store.digests() if r.kind == "readers"]
    return max(ends) if ends else None


def _period_start(store: Store, items: Sequence[Item], end: datetime) -> datetime:
    """Where a digest ending at ``end`` starts: at the end of the previous digest, so that
    periods follow one another; the first digest covers the week before ``end`` (7 days), or
    longer when it carries approvals older than that, so its title and the editors' counts
    cover everything it reports."""
    previous = previous_end(store)
    if previous is not None and previous < end:
        return previous
    times = [i.reviewed_at for i in items if i.reviewed_at is not None]
    return min([end - FIRST_PERIOD, *times])


def preview_digest(config: Config, store: Store, now: datetime) -> digest.Digest:
    """The readers' digest as it would go out at ``now`` (nothing is recorded)."""
    items = undigested(store)
    return digest.render(
        items,
        config,
        start=_period_start(store, items, now),
        end=now,
        created_at=now,
        message_id=digest.make_message_id("preview", config.digest.list_id),
    )


def preview_message(
    config: Config, store: Store, now: datetime, fmt: digest.Format = "html"
) -> str | bytes:
    """``curator digest preview``: the HTML part, the text part, or the whole ``.eml`` (bytes)
    addressed to the first reader (or the sender, with no readers yet)."""
    rendered = preview_digest(config, store, now)
    if fmt != "eml":
        return rendered.render(fmt)
    readers = subscribers.readers(config, store)
    return rendered.render("eml", to=readers[0] if readers else config.digest.sender)


def render_record(
    config: Config, store: Store, record: DigestRecord, *, one_click: bool = False
) -> digest.Digest:
    """A recorded digest rendered again (what a retry sends; the web archive shows it).

    Same Message-ID, Date and subject as first sent; an item edited since shows its edit.
    ``one_click``: leave room for each reader's unsubscribe link (what is sent).
    """
    if record.kind == "editors":
        readers = store.get_digest(record.id.removesuffix("-editors"))
        items = None if readers is None or readers.status == "skipped" else len(readers.item_ids)
        note = editors_note(
            config,
            store,
            start=record.period_start,
            end=record.period_end,
            digest_items=items,
            digest_recipients=len(readers.recipients) if readers is not None else 0,
        )
        rendered = digest.render_editors_note(
            note, config, created_at=record.created_at, message_id=record.message_id
        )
    else:
        rendered = digest.render(
            record_items(store, record),
            config,
            start=record.period_start,
            end=record.period_end,
            created_at=record.created_at,
            message_id=record.message_id,
            one_click=one_click,
        )
    return replace(rendered, subject=record.subject)


# --------------------------------------------------------------------------- planning


@dataclass(frozen=True)
class _Plan:
    records: tuple[DigestRecord, ...] = ()
    items: tuple[Item, ...] = ()
    baseline: bool = False  # first run on this store: note the time, send nothing
    reason: str = ""


def _record_id(store: Store, end: datetime) -> str:
    base = f"{end.astimezone(UTC):%Y-%m-%dT%H%M%SZ}"
    rid, n = base, 1
    while store.get_digest(rid) is not None or store.get_digest(f"{rid}-editors") is not None:
        n += 1
        rid = f"{base}-{n}"
    return rid


def _plan(config: Config, store: Store, now: datetime, *, force: bool) -> _Plan:
    settings = config.digest
    previous = last_end(store)
    if not force:
        if not settings.enabled:
            return _Plan(reason="digest.enabled is false")
        if previous is None:
            return _Plan(
                baseline=True,
                reason="first run on this store: the first digest goes at "
                f"{next_slot(settings, now):%Y-%m-%d %H:%M} UTC",
            )
        if previous >= last_slot(settings, now):
            return _Plan(
                reason=f"not due: the next digest goes at "
                f"{next_slot(settings, now):%Y-%m-%d %H:%M} UTC"
            )
    items = sorted(undigested(store), key=lambda i: i.id)
    if force and not items and previous is not None and previous >= last_slot(settings, now):
        # `digest send` by hand with nothing new, and the week's digest already out: mailing
        # the readers a "nothing new" note, or the editors their note, again is noise.
        sent = previous_end(store)
        since = (
            f"the last digest ({sent:%Y-%m-%d %H:%M} UTC)"
            if sent is not None
            else f"digests were first scheduled ({previous:%Y-%m-%d %H:%M} UTC)"
        )
        return _Plan(reason=f"nothing new was approved since {since}: nothing to send")
    start = _period_start(store, items, now)
    rid = _record_id(store, now)
    skip = not items and settings.empty_week == "skip"
    readers = [] if skip else subscribers.readers(config, store)
    if not skip and not readers:
        raise DigestError(
            "the digest has no recipients: add subscribers in the web app (Subscribers), or "
            "set digest.recipients or digest.recipients_file"
        )
    rendered = digest.render(
        items,
        config,
        start=start,
        end=now,
        created_at=now,
        message_id=digest.make_message_id(rid, settings.list_id),
    )
    records = [
        DigestRecord(
            id=rid,
            period_start=start,
            period_end=now,
            item_ids=rendered.item_ids,
            message_id=rendered.message_id,
            created_at=now,
            subject=rendered.subject,
            recipients=dict.fromkeys(readers, "pending"),
            status="skipped" if skip else "pending",
            kind="readers",
        )
    ]
    note_to = editors(config)
    if note_to:
        note = digest.render_editors_note(
            editors_note(
                config,
                store,
                start=start,
                end=now,
                digest_items=None if skip else len(items),
                digest_recipients=len(readers),
            ),
            config,
            created_at=now,
            message_id=digest.make_message_id(f"{rid}-editors", settings.list_id),
        )
        records.append(
            DigestRecord(
                id=f"{rid}-editors",
                period_start=start,
                period_end=now,
                item_ids=(),
                message_id=note.message_id,
                created_at=now,
                subject=note.subject,
                recipients=dict.fromkeys(note_to, "pending"),
                kind="editors",
            )
        )
    return _Plan(records=tuple(records), items=tuple(items))


def _commit(store: Store, plan: _Plan, now: datetime) -> None:
    """Write a plan (inside the caller's transaction): records, item marks, the new end."""
    for record in plan.records:
        store.put_digest(record)
    readers = next((r for r in plan.records if r.kind == "readers"), None)
    if readers is not None:
        for item in plan.items:
            store.put_item(
                replace(
                    item,
                    digest_id=readers.id,
                    history=(
                        *item.history,
                        Event(now, "digested", None, {"digest_id": (None, readers.id)}),
                    ),
                )
            )
        log.info(
            "digest recorded digest=%s status=%s items=%d recipients=%d",
            readers.id,
            readers.status,
            len(readers.item_ids),
            len(readers.recipients),
        )
    if plan.records or plan.baseline:
        store.put_meta(LAST_END, now.astimezone(UTC).isoformat())


def _is_open(record: DigestRecord, config: Config, now: datetime) -> bool:
    return (
        record.status in ("pending", "partial")
        and record.created_at >= now - timedelta(days=config.digest.retry_days)
        and any(v != "sent" for v in record.recipients.values())
    )


def _status(recipients: Iterable[str]) -> str:
    values = list(recipients)
    if values and all(v == "sent" for v in values):
        return "sent"
    return "partial" if any(v == "sent" for v in values) else "pending"


# --------------------------------------------------------------------------- sending


def _deliver(
    config: Config, store: Store, mailer: Mailer, record: DigestRecord, clock: Clock
) -> tuple[DigestRecord, list[Delivery]]:
    """Send ``record`` to each recipient not yet ``sent``, recording each answer at once."""
    owed = [r for r, status in record.recipients.items() if status != "sent"]
    readers = record.kind == "readers"
    rendered = render_record(config, store, record, one_click=readers)
    secret = session_secret(store) if readers else ""
    sender = digest.check_address(config.digest.sender, "digest.sender")
    deliveries: list[Delivery] = []
    with mailer.session() as session:
        for to in owed:
            link = subscribers.one_click_url(config, secret, to) if readers else None
            [answer] = session.send(
                rendered.message(to, unsubscribe=link),
                sender=sender,
                recipients=[digest.address_of(to)],
            )
            answer = replace(answer, recipient=to)
            deliveries.append(answer)
            with store.transaction():
                current = store.get_digest(record.id) or record
                marks = {**current.recipients, to: answer.status}
                status = _status(marks.values())
                record = replace(
                    current,
                    recipients=marks,
                    status=status,
                    sent_at=current.sent_at or (clock() if answer.accepted else None),
                )
                store.put_digest(record)
    log.info(
        "digest delivered digest=%s kind=%s status=%s accepted=%d refused=%d",
        record.id,
        record.kind,
        record.status,
        sum(d.accepted for d in deliveries),
        sum(not d.accepted for d in deliveries),
    )
    return record, deliveries


def _describe(record: DigestRecord, deliveries: Sequence[Delivery] = ()) -> str:
    what = "editors' note" if record.kind == "editors" else "digest"
    if record.status == "skipped":
        return f"{what} {record.id}: skipped, nothing was approved (digest.empty_week: skip)"
    sent = sum(v == "sent" for v in record.recipients.values())
    items = "" if record.kind == "editors" else f", {len(record.item_ids)} items"
    line = f"{what} {record.id}{items}: {record.status}, sent to {sent} of {len(record.recipients)}"
    refused = [d for d in deliveries if not d.accepted]
    if refused:
        line += "; refused: " + "; ".join(f"{d.recipient} ({d.status[9:]})" for d in refused)
    return line


def send_due(
    config: Config,
    store: Store,
    mailer: Mailer,
    *,
    clock: Clock,
    force: bool = False,
    dry_run: bool = False,
    to: str | None = None,
) -> SendResult:
    """Record and send whatever is owed: open digests first, then a new one if it is due.

    ``force`` makes a new digest now, whatever the schedule (``curator digest send``);
    ``dry_run`` says what would happen and changes nothing; ``to`` sends the digest as it
    would go out now to that one address only, records nothing and marks no item (a test).
    Raises MailError when the server cannot be used or refuses every recipient of a digest
    (what was sent before is recorded), DigestError for a configuration that cannot work.
    """
    now = clock()
    if to is not None:
        return _send_test(config, store, mailer, now, to)
    if dry_run:
        return _dry_run(config, store, now, force=force)
    with store.lock(SEND_LOCK, wait=0) as held:
        if not held:
            return SendResult("busy", message="another process is sending a digest right now")
        with store.transaction():
            plan = _plan(config, store, now, force=force)
            _commit(store, plan, now)
        created = {r.id for r in plan.records}
        owed = sorted(
            (r for r in store.digests() if _is_open(r, config, now)),
            key=lambda r: (r.created_at, r.kind != "readers", r.id),
        )
        records: dict[str, DigestRecord] = {r.id: r for r in plan.records if r.status == "skipped"}
        deliveries: list[Delivery] = []
        lines: list[str] = []
        failed: list[str] = []
        for record in owed:
            done, answers = _deliver(config, store, mailer, record, clock)
            records[done.id] = done
            deliveries.extend(answers)
            lines.append(_describe(done, answers))
            if answers and not any(a.accepted for a in answers) and done.status == "pending":
                failed.append(lines[-1])
        lines[:0] = [_describe(r) for r in records.values() if r.status == "skipped"]
    if failed:
        raise MailError("the SMTP server refused every recipient of " + "; ".join(failed))
    if any(not d.accepted for d in deliveries):
        outcome: Outcome = "partial"
    elif deliveries:
        outcome = "sent"
    elif any(r.status == "skipped" for r in records.values() if r.id in created):
        outcome = "skipped"
    else:
        outcome = "not_due"
        lines.append(plan.reason or "nothing to send")
    return SendResult(outcome, tuple(records.values()), tuple(deliveries), "\n".join(lines))


def _dry_run(config: Config, store: Store, now: datetime, *, force: bool) -> SendResult:
    plan = _plan(config, store, now, force=force)
    owed = [r for r in store.digests() if _is_open(r, config, now)]
    lines = [
        f"would retry {_describe(r)} (to "
        + ", ".join(k for k, v in r.recipients.items() if v != "sent")
        + ")"
        for r in owed
    ]
    for r in plan.records:
        if r.status == "skipped":
            lines.append(f"would record {_describe(r)}")
        else:
            items = "" if r.kind == "editors" else f" with {len(r.item_ids)} items"
            lines.append(
                f"would send {'editors note' if r.kind == 'editors' else 'digest'} {r.id}"
                f"{items} to {len(r.recipients)}: {r.subject}"
            )
    if not lines:
        lines.append(plan.reason or "nothing to send")
    return SendResult("dry_run", (*owed, *plan.records), (), "\n".join(lines))


def _send_test(config: Config, store: Store, mailer: Mailer, now: datetime, to: str) -> SendResult:
    address = digest.check_address(to, "--to")
    rendered = preview_digest(config, store, now)
    sender = digest.check_address(config.digest.sender, "digest.sender")
    [answer] = mailer.send(rendered.message(to), sender=sender, recipients=[address])
    if not answer.accepted:
        raise MailError(f"the SMTP server {mailer.where} refused {to}: {answer.status[9:]}")
    return SendResult(
        "test",
        (),
        (answer,),
        f"sent a test copy ({len(rendered.item_ids)} items) to {to}; nothing was recorded",
    )


# --------------------------------------------------------------------------- for core, CLI, web


def make_mailer(curator: Curator) -> Mailer:
    """The Curator's own mailer when one was wired in, else one for the configured server
    with the password from the environment."""
    if curator.mailer is not None:
        return curator.mailer
    return Mailer(curator.config.digest.smtp, password=curator.smtp_password)


def preview(curator: Curator, fmt: digest.Format = "html") -> str | bytes:
    """``curator digest preview [--out FILE]``: ``html``, ``txt`` (str) or ``eml`` (bytes)."""
    return preview_message(curator.config, curator.store, curator.clock(), fmt)


def send(
    curator: Curator,
    *,
    dry_run: bool = False,
    to: str | None = None,
    force: bool = True,
    mailer: Mailer | None = None,
) -> SendResult:
    """``curator digest send [--dry-run] [--to ADDRESS]``: by hand, so now (``force``)."""
    return send_due(
        curator.config,
        curator.store,
        mailer or make_mailer(curator),
        clock=curator.clock,
        force=force,
        dry_run=dry_run,
        to=to,
    )


async def run_scheduled(curator: Curator, *, mailer: Mailer | None = None) -> SendResult | None:
    """The scheduler's job: send what is due and retry what is owed, off the event loop.

    Safe to run as often as you like (at the slot, at start-up, hourly for retries).  A
    failure is logged, not raised: the scheduler must go on, and the record keeps what is owed.
    """
    try:
        result = await asyncio.to_thread(
            send_due,
            curator.config,
            curator.store,
            mailer or make_mailer(curator),
            clock=curator.clock,
        )
    except CuratorError as e:
        log.error("digest failed error=%s", e)
        return None
    for line in result.message.splitlines():
        log.info("digest outcome=%s %s", result.outcome, line)
    return result
