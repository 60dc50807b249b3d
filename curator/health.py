"""What ``/healthz`` reports: whether scheduled work is landing and the store's files load.

A poll that fails because of the store (a damaged file, a full disk) is not a source's
failure: nothing records it on the source, since the store is what cannot be written.  The
scheduler therefore notes each scheduled job's outcome here, in memory, and
:func:`assess` combines that with the store's own list of damaged files:

* ``ok``: the store loads and the scheduled work since start has been stored;
* ``degraded``: the public pages are served, but something needs an editor: a damaged file
  (its items are left out), scheduled polls, digests or backups that failed on the store
  (``details.polls`` says how many of the latest polls were not stored: all of them means no
  new item is coming in).  HTTP 200;
* ``failing``: the store cannot be read at all, so the public pages cannot be answered
  either.  HTTP 503.

Only ``failing`` is a 503 on purpose: a load balancer that takes the only instance out of
service for a problem that merely stops new items coming in would take the website's list
off the air, which is what a damaged file must not do.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

from curator.exceptions import StoreCorrupt, StoreError
from curator.store import Store

Status = Literal["ok", "degraded", "failing"]


@dataclass(frozen=True)
class Failure:
    """A scheduled job that failed on the store."""

    job: str  # "poll:<source id>", "digest", "backup", "rank"
    at: datetime
    error: str
    file: Path | None  # the damaged file, when that was the cause


class Health:
    """The latest outcome of each scheduled job, shared by the scheduler and the web app."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._failures: dict[str, Failure] = {}
        self._done: dict[str, datetime] = {}

    def failed(self, job: str, at: datetime, error: StoreError) -> Failure:
        path = error.path if isinstance(error, StoreCorrupt) else None
        failure = Failure(job, at, str(error), path)
        with self._lock:
            self._failures[job] = failure
        return failure

    def succeeded(self, job: str, at: datetime) -> None:
        with self._lock:
            self._failures.pop(job, None)
            self._done[job] = at

    def failures(self) -> list[Failure]:
        with self._lock:
            return sorted(self._failures.values(), key=lambda f: f.job)

    def last_done(self, job: str) -> datetime | None:
        with self._lock:
            return self._done.get(job)

    def polls(self) -> tuple[int, int]:
        """(polls whose latest run failed on the store, polls whose latest run was stored)."""
        with self._lock:
            failed = sum(1 for j in self._failures if j.startswith("poll:"))
            stored = sum(1 for j in self._done if j.startswith("poll:") and j not in self._failures)
        return failed, stored


@dataclass(frozen=True)
class Report:
    status: Status
    details: dict[str, Any]

    @property
    def http_status(self) -> int:
        return 503 if self.status == "failing" else 200


def assess(store: Store, health: Health, *, counts: bool = True) -> Report:
    """The service's health now; ``details`` (paths, errors) is for signed-in editors only.
    ``counts``: whether to count the items by status (the details only show them, and on a
    store not yet read that decodes every item: seconds at 100,000)."""
    details: dict[str, Any] = {"store": store.location}
    try:
        # An unmounted disk, a removed directory or a database that is down must read as
        # failing, not as an empty store.
        store.ping()
    except StoreError as e:
        details["error"] = str(e)
        return Report("failing", details)
    try:
        damage = store.damage()
        if counts:
            details["items"] = store.counts()
    except StoreError as e:  # the lock, the journal, the directory itself
        details["error"] = str(e)
        return Report("failing", details)
    failures = health.failures()
    details["damaged"] = [
        {"file": str(d.path), "held": d.held, "items": d.items, "reason": d.reason} for d in damage
    ]
    details["failures"] = [
        {
            "job": f.job,
            "at": f.at.isoformat(),
            "file": None if f.file is None else str(f.file),
            "error": f.error,
        }
        for f in failures
    ]
    try:  # sources whose own polls fail (network, feed): the editors' concern, not health's
        states = store.states()
        details["sources_failing"] = sorted(
            s.source_id for s in states.values() if s.consecutive_errors
        )
    except StoreError as e:
        details["sources_failing"] = None
        details["sources_error"] = str(e)
    backup_at = health.last_done("backup")
    details["last_backup"] = None if backup_at is None else backup_at.isoformat()
    failed, stored = health.polls()
    details["polls"] = {"not_stored": failed, "stored": stored}
    if damage or failures:
        return Report("degraded", details)
    return Report("ok", details)
