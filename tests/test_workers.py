"""Worker processes: a time limit per task, a crash costs one task, and no process outlives
the one that started the pool, whatever ends it.  Real processes throughout.

The tasks are stdlib functions (``time.sleep`` as a document that never finishes,
``os._exit`` as a crash): the workers import only the installed package and the stdlib.
"""

from __future__ import annotations

import asyncio
import os
import select
import signal
import subprocess
import sys
import textwrap
import threading
import time
import uuid
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any, TypeVar

import pytest

from curator.workers import WorkerCrashed, Workers, WorkerTimeout

T = TypeVar("T")


def run(coro_factory: Callable[[], Coroutine[Any, Any, T]]) -> T:
    return asyncio.run(coro_factory())


def test_a_task_past_its_limit_is_stopped_and_the_pool_goes_on() -> None:
    with Workers(1) as workers:

        async def go() -> tuple[int, int]:
            before = await workers.run(30, os.getpid)
            with pytest.raises(WorkerTimeout, match=r"longer than 0\.5 s"):
                await workers.run(0.5, time.sleep, 3600)
            after = await workers.run(30, os.getpid)
            return before, after

        before, after = run(go)
    assert before != after  # the stuck worker was killed and replaced


def test_a_crashed_worker_fails_only_its_task() -> None:
    with Workers(2) as workers:

        async def go() -> list[object]:
            return await asyncio.gather(  # type: ignore[return-value]
                workers.run(30, os._exit, 3),
                workers.run(30, sum, [1, 2, 3]),
                return_exceptions=True,
            )

        crashed, fine = run(go)
    assert isinstance(crashed, WorkerCrashed)
    assert fine == 6


def _marked(mark: str) -> list[int]:
    """Pids of the live processes whose environment carries ``mark``."""
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if mark.encode() in (entry / "environ").read_bytes():
                pids.append(int(entry.name))
        except OSError:
            continue
    return pids


def _ended(pids: list[int], within: float) -> list[int]:
    """Wait (on pidfds, not by polling) for each process to end; those still running."""
    alive = []
    deadline = time.monotonic() + within
    for pid in pids:
        try:
            fd = os.pidfd_open(pid)
        except ProcessLookupError:
            continue
        try:
            ready, _, _ = select.select([fd], [], [], max(0.0, deadline - time.monotonic()))
            if not ready:
                alive.append(pid)
        finally:
            os.close(fd)
    return alive


CHILD = textwrap.dedent(
    """
    import asyncio, os, pathlib, sys
    from curator.workers import Workers

    workers = Workers(2)

    async def go():
        await asyncio.gather(*(workers.run(30, os.getpid) for _ in range(4)))
        # A worker busy reading a document that never ends (a FIFO the test holds open).
        busy = asyncio.ensure_future(workers.run(3600, pathlib.Path(sys.argv[1]).read_text))
        print("ready", flush=True)
        await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)
        busy.cancel()

    asyncio.run(go())
    """
)


@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM])
def test_workers_end_with_the_process_that_started_them(
    sig: signal.Signals, tmp_path: Path
) -> None:
    """Killed mid-task (a cron ``timeout``, a systemd stop, an OOM kill), the process leaves
    no fork server, worker or resource tracker behind."""
    fifo = tmp_path / "document"
    os.mkfifo(fifo)
    mark = f"CURATOR_TEST_MARK={uuid.uuid4().hex}"
    name, value = mark.split("=")
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(fifo)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, name: value},
    )
    writer: list[int] = []
    try:
        assert child.stdout is not None
        assert child.stdout.readline().strip() == "ready"
        # Opening the FIFO for writing returns once a worker has opened it to read: from
        # then on that worker is busy, as it would be parsing a long document.
        opener = threading.Thread(target=lambda: writer.append(os.open(fifo, os.O_WRONLY)))
        opener.start()
        opener.join(timeout=30)
        assert writer, "no worker started reading the document"
        family = [pid for pid in _marked(mark) if pid != child.pid]
        # the fork server, two workers (and the resource tracker)
        assert len(family) >= 3, family
        child.send_signal(sig)
        child.wait(timeout=30)
        assert _ended(family, within=30) == []
    finally:
        child.kill()
        child.wait()
        for fd in writer:
            os.close(fd)
