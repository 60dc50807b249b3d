"""``curator serve``: the scheduler and the web app in one asyncio event loop.

One process per store directory (the store's server lock), or any number on one PostgreSQL
database, one of which runs the scheduler (:mod:`curator.leader`): several schedulers would
poll and send the digest several times over.  SIGINT/SIGTERM make uvicorn stop accepting
requests; store writes are synchronous blocks, so by the time the loop handles the signal no
transaction is half done.
SIGHUP, and a change to the configuration file seen by the ``config-watch`` job, re-read it
(:mod:`curator.reload`).
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import gc
import logging
import signal
import socket
import sys
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime

import uvicorn
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.interval import IntervalTrigger

from curator import schedule
from curator.config import served_at
from curator.core import Curator
from curator.exceptions import PortInUse, StoreError
from curator.leader import Leadership
from curator.reload import ConfigWatcher
from curator.store import TinyDBStore

log = logging.getLogger("curator.serve")


class _Server(uvicorn.Server):
    """uvicorn re-raises SIGINT/SIGTERM after a graceful shutdown (so the process dies by the
    signal); a service manager wants exit status 0 after a clean stop, so we only ask uvicorn
    to exit and then return normally."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        loop = asyncio.get_running_loop()
        signals = (signal.SIGINT, signal.SIGTERM)
        for sig in signals:
            loop.add_signal_handler(sig, self._stop, sig)
        try:
            yield
        finally:
            for sig in signals:
                loop.remove_signal_handler(sig)

    def _stop(self, sig: signal.Signals) -> None:
        log.info("received %s: stopping", sig.name)
        if self.should_exit:
            self.force_exit = True
        self.should_exit = True


class _CancelledAtStop(logging.Filter):
    """A scheduled job cancelled because ``serve`` is stopping is not a failure: APScheduler
    would log it with a traceback; ``serve`` logs one line for all of them instead."""

    def filter(self, record: logging.LogRecord) -> bool:
        error = record.exc_info[1] if record.exc_info else None
        return not isinstance(error, asyncio.CancelledError)


logging.getLogger("apscheduler.executors.default").addFilter(_CancelledAtStop())


def bind(host: str, port: int) -> socket.socket:
    """Bind first, so that a port in use is one clear message before anything starts."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)  # TCP_NODELAY later
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as e:
        sock.close()
        raise PortInUse(
            f"cannot listen on {host}:{port}: {e.strerror or e}. {_why(e, host)}"
        ) from None
    sock.listen(128)
    sock.set_inheritable(True)
    return sock


def _why(error: OSError, host: str) -> str:
    """What to change when bind() failed: the host when it is not this machine's, the port
    when it is taken or privileged."""
    choose_host = (
        "Choose one of this machine's addresses with --host (127.0.0.1: this machine only; "
        "0.0.0.0: every interface)."
    )
    if isinstance(error, socket.gaierror):
        return f"{host} is not a host name or address found here. {choose_host}"
    if error.errno == errno.EADDRNOTAVAIL:
        return f"{host} is not an address of this machine. {choose_host}"
    if error.errno == errno.EACCES:
        return "Ports below 1024 need privileges. Choose another with --port."
    if error.errno == errno.EADDRINUSE:
        return "Is another service using it? Choose another with --port."
    return "Check --host and --port."


def announce_setup(curator: Curator, base_url: str) -> None:
    """On a first run with no editor, print (once) the link that creates the first editor."""
    from curator import auth

    try:
        token = auth.setup_link_token(curator.store, now=curator.clock())
    except StoreError as e:  # a damaged users/meta file: serve the rest (store repair fixes it)
        log.error("cannot check for a first editor: %s", e)
        return
    if token:
        print(
            "\nNo editor account yet. Open this one-time link to create the first editor:\n"
            f"  {base_url.rstrip('/')}/setup?token={token}\n"
            "(or run `curator user add NAME`)\n",
            file=sys.stderr,
            flush=True,
        )


def warm_up(curator: Curator, then: Callable[[], None]) -> None:
    """Read every item once, in the background while the server already answers (seconds
    at 100,000 items: waiting for it made start-up take as long), so that the embedded
    store has its index of every shard (each item's status and dates, the pending items
    decoded: not the decided ones, whose 1.3 KB each made ``serve`` twice its size), then
    record the shards' item counts (a store from before ``shards.json`` gets them, so a
    shard damaged later can be reported with what it held).  The first editor's queue page
    then finds the pending items decoded; a request that comes first reads what it needs
    itself.

    Then keeps that long-lived cache out of the garbage collector's full sweeps, whose
    pauses would otherwise land on requests, and calls *then*, whatever happened (``serve``
    starts the learned ranking's job then: its look at every decision, made at the same
    time, left its passing examples scattered between the cached items, which kept about
    70 MB of memory that could not be given back).  A daemon thread: stopping ``serve``
    does not wait for it, and what it writes (the counts) is one atomic commit like any other.
    """
    try:
        start = time.perf_counter()
        try:
            count = sum(curator.store.counts().values())
            curator.store.items("pending")  # the queue's: decoded, and cached by either backend
        except StoreError as e:  # a database that is down: requests read what they need
            log.warning("items not read ahead: %s", e)
            return
        try:
            curator.store.count_items()
        except StoreError as e:  # busy or unwritable: counts wait for the next new item
            log.warning("item counts not updated: %s", e)
        gc.collect()
        gc.freeze()
        log.info("read every item items=%d seconds=%.1f", count, time.perf_counter() - start)
    finally:
        then()


async def run(
    curator: Curator,
    *,
    host: str,
    port: int,
    proxy_headers: bool = False,
    forwarded_allow_ips: str | None = None,
    watch_interval: float = 5.0,
) -> None:
    """Serve until SIGINT/SIGTERM.  ``watch_interval``: seconds between checks of the
    configuration file for changes (0: only SIGHUP re-reads it)."""
    from curator.web import create_app

    # A store this process cannot write is refused at once, not found out by the first poll.
    curator.store.check_writable()
    with curator.store.server_lock():
        sock = bind(host, port)
        app = create_app(curator)
        shown = host if ":" not in host else f"[{host}]"
        base_url = f"http://{shown}:{sock.getsockname()[1]}"
        # A store directory has one server (the lock above): it runs every job.  On a
        # database every instance serves and polls (each poll claims its source first), and
        # the one holding the scheduler lock (curator.leader) adds the digest, backup and
        # ranking jobs.
        alone = isinstance(curator.store, TinyDBStore)
        scheduler = AsyncIOScheduler(timezone="UTC")
        schedule.add_poll_jobs(scheduler, curator)
        leading = asyncio.Event()
        if alone:
            schedule.add_jobs(scheduler, curator)
            leading.set()
            announce_setup(curator, base_url)
        server = _Server(
            uvicorn.Config(
                app,
                proxy_headers=proxy_headers,
                forwarded_allow_ips=forwarded_allow_ips,
                log_level="warning",
                access_log=False,
                lifespan="on",
            )
        )
        watcher = ConfigWatcher(
            curator,
            on_change=lambda old: schedule.update_jobs(
                scheduler, curator, old, leading=leading.is_set()
            ),
            # A reloaded file is read as the started one was: base_url follows --host/--port.
            adjust=lambda new: served_at(new, host, port),
        )
        curator.reload_config = watcher.reload
        if watch_interval:
            scheduler.add_job(
                watcher.check,
                IntervalTrigger(seconds=watch_interval),
                id="config-watch",
                name="configuration file watch",
                coalesce=True,
                max_instances=1,
                misfire_grace_time=None,  # late is fine: no "missed" warning after a busy spell
            )
        loop = asyncio.get_running_loop()
        reloads: set[asyncio.Task[bool]] = set()

        def hangup() -> None:
            log.info("received SIGHUP: reading %s again", curator.config.path)
            task = loop.create_task(watcher.reload("SIGHUP"))
            reloads.add(task)
            task.add_done_callback(reloads.discard)

        loop.add_signal_handler(signal.SIGHUP, hangup)
        if alone:
            # The store directory's items are read (and kept decoded) in the background, and
            # the ranking job's first run waits for that (see warm_up).  A database keeps no
            # decoded items: nothing to read ahead.
            scheduler.pause_job("rank")

            def rank_now() -> None:
                if scheduler.running:  # not when serve stopped before the warm-up ended
                    scheduler.modify_job("rank", next_run_time=datetime.now(UTC))

            def warmed() -> None:
                with contextlib.suppress(RuntimeError):  # the loop is closed: serve stopped
                    loop.call_soon_threadsafe(rank_now)

            warming = threading.Thread(target=warm_up, args=(curator, warmed), daemon=True)
            warming.start()
        scheduler.start()

        def lead() -> None:
            schedule.add_jobs(scheduler, curator)
            leading.set()
            # One link for the whole installation: each instance's own would replace the
            # one printed before it (the store keeps one token), so only the instance running
            # the scheduler prints it, and a successor prints a new one.
            announce_setup(curator, base_url)

        leadership = None
        if not alone:
            leadership = Leadership(curator.store, lambda: _call_in(loop, lead))
            leadership.start()
        log.info(
            "serving on http://%s:%d with %d scheduled jobs",
            shown,
            sock.getsockname()[1],
            len(scheduler.get_jobs()),
        )
        try:
            await server.serve(sockets=[sock])
        finally:
            loop.remove_signal_handler(signal.SIGHUP)
            scheduler.shutdown(wait=False)
            curator.scheduled_polls.stop()  # the polls gathering now never start
            if leadership is not None:
                await asyncio.to_thread(leadership.stop)
            pending = [
                t for t in asyncio.all_tasks() if t is not asyncio.current_task() and not t.done()
            ]
            if pending:
                # Let polls in flight finish (their store writes are already atomic), briefly.
                _done, late = await asyncio.wait(pending, timeout=10)
                if late:
                    log.warning(
                        "stopping: %d task(s) still running after 10 s were cancelled", len(late)
                    )
                for task in late:
                    task.cancel()
                await asyncio.gather(*late, return_exceptions=True)
            await curator.aclose()
            sock.close()
            log.info("stopped")


def _call_in(loop: asyncio.AbstractEventLoop, fn: Callable[[], None]) -> None:
    """Run *fn* in *loop*'s thread (the scheduler's jobs are added where it runs)."""
    loop.call_soon_threadsafe(fn)
