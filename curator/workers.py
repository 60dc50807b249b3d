"""Worker processes for the CPU work on untrusted documents (parse, normalize, match).

Why processes, and why pebble rather than ``concurrent.futures.ProcessPoolExecutor``: a
pathological document (deep nesting, a huge broken feed) must neither stall ``serve``'s event
loop nor run for ever.  pebble kills the one worker whose task passed its time limit and
starts another; the executor can neither cancel a running task nor survive a worker's death
(every other task of the run fails with ``BrokenProcessPool``).

Three details, each learnt from a failure:

- Workers come from a *fork server* that has already imported the pipeline: each starts in
  milliseconds, and none is forked from a process that runs threads (the store commits in
  one), which can leave a child holding a lock nobody will release.
- Python 3.11's fork server is started with ``python -c``, which puts the working directory
  first on ``sys.path`` (the ``sys_path`` it is handed is ignored): run from a folder holding
  a ``curator/`` directory, the workers imported that instead of the installed package.  The
  fork server is therefore started with ``PYTHONSAFEPATH=1``.
- Workers must end with the process that started them, whatever ends it (SIGKILL, an OOM
  kill, a cron ``timeout``): each watches its starter through a pidfd and exits when the
  starter is gone.  The fork server ends by itself when its starter's pipe closes, and the
  resource tracker when the last of them has.
"""

from __future__ import annotations

import contextlib
import logging
import os
import select
import threading
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    import pebble

log = logging.getLogger("curator.workers")

T = TypeVar("T")


class WorkerTimeout(Exception):
    """The task passed its time limit; its worker was killed."""


class WorkerCrashed(Exception):
    """The worker died while running the task (a crash in a C extension, an OOM kill)."""


def _exit_with(starter: int) -> None:
    """In a worker: exit as soon as the process that started the pool has ended."""
    try:
        fd = os.pidfd_open(starter)
    except (ProcessLookupError, OSError):
        os._exit(1)  # already gone

    def watch() -> None:
        select.select([fd], [], [])
        os._exit(1)

    threading.Thread(target=watch, name="curator-parent-watch", daemon=True).start()


@contextlib.contextmanager
def _safe_path() -> Iterator[None]:
    """Start the fork server (once per process) without the working directory on sys.path."""
    before = os.environ.get("PYTHONSAFEPATH")
    os.environ["PYTHONSAFEPATH"] = "1"
    try:
        yield
    finally:
        if before is None:
            del os.environ["PYTHONSAFEPATH"]
        else:
            os.environ["PYTHONSAFEPATH"] = before


class Workers:
    """A pool of worker processes with a time limit per task.

    Started on first use (an unchanged poll parses nothing and pays nothing), or ahead of a
    large run with :meth:`start`.  Safe to share between the event loop's tasks.
    """

    def __init__(self, count: int | None = None, *, preload: tuple[str, ...] = ()) -> None:
        self.count = max(1, count or os.cpu_count() or 1)
        self._preload = ("curator.pipeline", "curator.parse", *preload)
        self._pool: pebble.ProcessPool | None = None
        self._lock = threading.Lock()

    def start(self) -> None:
        # Imported here: a command that never starts the pool (an unchanged poll, a listing)
        # does not pay for pebble and multiprocessing.
        import multiprocessing
        from multiprocessing import forkserver

        import pebble

        with self._lock:
            if self._pool is not None:
                return
            ctx = multiprocessing.get_context("forkserver")
            ctx.set_forkserver_preload(list(self._preload))
            with _safe_path():
                forkserver.ensure_running()
            self._pool = pebble.ProcessPool(
                max_workers=self.count,
                context=ctx,
                initializer=_exit_with,
                initargs=(os.getpid(),),
            )

    async def run(self, timeout: float, fn: Callable[..., T], *args: Any) -> T:
        """``fn(*args)`` in a worker; :class:`WorkerTimeout` after ``timeout`` seconds."""
        import asyncio  # here: `curator items` imports this module (via ranking), not asyncio

        import pebble

        self.start()
        assert self._pool is not None
        future = self._pool.schedule(fn, args=args, timeout=timeout)
        try:
            return await asyncio.wrap_future(future)
        except TimeoutError as e:
            raise WorkerTimeout(f"took longer than {timeout:g} s") from e
        except pebble.ProcessExpired as e:
            raise WorkerCrashed(f"the worker process died ({e})") from e

    def close(self) -> None:
        """Stop the workers (tasks still running are abandoned) and wait for them to end."""
        with self._lock:
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.stop()  # type: ignore[no-untyped-call]
            pool.join()

    def __enter__(self) -> Workers:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
