"""Which of several ``curator serve`` instances on one database runs the scheduler.

Exactly one at a time: the instance holding the store lock ``scheduler``
(:meth:`curator.store.api.Store.lock`, a PostgreSQL advisory lock) sends digests, retrains the
ranking and runs the other once-only jobs; every instance serves the web app and the public
pages and polls (each poll claims its source first, so the polling is spread over them and
no source is polled twice in one interval), and the others try to take the lock every
:data:`RETRY` seconds.  The database frees a lock when its holder's connection ends (a stopped
or killed process at once; a vanished machine within the keepalive time, about 10 s), so a
standby takes over within ``RETRY`` seconds of that.

Should two schedulers ever run at once (a database restart drops the leader's lock connection
unnoticed), nothing is done twice: each poll claims its source first
(:meth:`~curator.store.api.Store.claim`) and the digest sender holds its own lock and ledger.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from curator.store import Store

__all__ = ["LOCK", "RETRY", "Leadership"]

log = logging.getLogger("curator.leader")

LOCK = "scheduler"
#: Seconds between a standby's attempts to take the lock.
RETRY = 2.0


class Leadership:
    """A thread that takes the scheduler lock when it can and holds it until :meth:`stop`;
    ``on_gain`` is called (from that thread) once it holds it."""

    def __init__(self, store: Store, on_gain: Callable[[], None], *, retry: float = RETRY) -> None:
        self._store = store
        self._on_gain = on_gain
        self._retry = retry
        self._stop = threading.Event()
        self.leading = threading.Event()
        self._thread = threading.Thread(target=self._run, name="curator-leader", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        """Give the lock up (a standby takes over) and end the thread."""
        self._stop.set()
        self._thread.join(timeout=10)

    def _run(self) -> None:
        announced = False
        while not self._stop.is_set():
            try:
                with self._store.lock(LOCK, wait=0) as held:
                    if held:
                        log.info("this instance runs the scheduler store=%s", self._store.location)
                        self.leading.set()
                        self._on_gain()
                        self._stop.wait()
                        return
            except Exception as e:  # the database is away: keep serving, try again
                log.warning("scheduler lock not taken: %s", e)
            if not announced:
                log.info("standing by: another instance runs the scheduler")
                announced = True
            self._stop.wait(self._retry)
