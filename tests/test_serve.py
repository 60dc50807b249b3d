"""`curator serve` as a real process: first-run link, health, one per store, port in use,
clean exit on SIGTERM."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from curator.store import Store
from tests.webkit import make_item, put

pytestmark = pytest.mark.slow


def seed_item(tmp_path: Path) -> str:
    """One pending item written through the store by this (other) process."""
    item = make_item(1)
    put(Store(tmp_path / "store"), item)
    return item.id


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start(tmp_path: Path, port: int) -> subprocess.Popen[str]:
    cfg = tmp_path / "feeds.yaml"
    if not cfg.exists():
        cfg.write_text(
            "sources:\n  - {id: a, name: A, url: 'http://127.0.0.1:9/feed', interval: 1d}\n"
            "digest: {enabled: false}\n"
        )
    env = {**os.environ, "CURATOR_SECRET_KEY": "test-secret-key-for-serve-tests-only-0123456789"}
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "curator",
            "--config",
            str(cfg),
            "--store",
            str(tmp_path / "store"),
            "serve",
            "--port",
            str(port),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )


def wait_for_line(proc: subprocess.Popen[str], pattern: str) -> str:
    """Read stderr until a line matches (the process ends the wait if it dies)."""
    assert proc.stderr is not None
    for line in proc.stderr:
        if re.search(pattern, line):
            return line
    raise AssertionError(f"process ended (code {proc.wait()}) before printing {pattern!r}")


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[str], int]]:
    port = free_port()
    proc = start(tmp_path, port)
    try:
        yield proc, port
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait()


def test_serve_runs_refuses_a_second_and_stops_on_sigterm(
    served: tuple[subprocess.Popen[str], int], tmp_path: Path
) -> None:
    proc, port = served
    link = wait_for_line(proc, r"/setup\?token=")
    assert f"http://127.0.0.1:{port}/setup?token=" in link
    wait_for_line(proc, r"serving on")
    health = httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=10)
    assert health.status_code == 200
    assert httpx.get(
        f"http://127.0.0.1:{port}/", timeout=10, follow_redirects=False
    ).status_code in (302, 303, 307)

    second = start(tmp_path, free_port())
    _, err = second.communicate(timeout=60)
    assert second.returncode == 1
    assert "already running" in err and "Traceback" not in err

    # The CLI works beside the running service, and the service sees its effect at once.
    item_id = seed_item(tmp_path)
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "curator",
            "--config",
            str(tmp_path / "feeds.yaml"),
            "--store",
            str(tmp_path / "store"),
            "approve",
            item_id,
            "--by",
            "cli",
        ],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    # (/healthz gives its item counts to signed-in editors only now.)
    approved = Store(tmp_path / "store").get_item(item_id)
    assert approved is not None and approved.status == "approved"
    assert httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=10).json() == {"status": "ok"}

    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=60) == 0


def test_port_in_use_is_a_clear_error(tmp_path: Path) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen(1)
        port = s.getsockname()[1]
        proc = start(tmp_path, port)
        _, err = proc.communicate(timeout=60)
    assert proc.returncode == 1
    assert f"cannot listen on 127.0.0.1:{port}" in err and "Traceback" not in err
