"""`curator serve` as a real process: first-run link, health, one per store, port in use,
clean exit on SIGTERM."""

from __future__ import annotations

import ctypes
import json
import logging
import os
import queue
import re
import resource
import select
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from curator import auth
from curator.store import TinyDBStore
from tests.feedserver import FeedServer
from tests.webkit import EDITOR, FAST_HASHER, PASSWORD, csrf_of, make_item, put

pytestmark = pytest.mark.slow


def seed_item(tmp_path: Path) -> str:
    """One pending item written through the store by this (other) process."""
    item = make_item(1)
    put(TinyDBStore(tmp_path / "store"), item)
    return item.id


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start(
    tmp_path: Path,
    port: int,
    *,
    max_file_size: int | None = None,
    obey_permissions: bool = False,
    env: dict[str, str] | None = None,
    args: tuple[str, ...] = (),
    host: str | None = None,
) -> subprocess.Popen[str]:
    """``curator serve`` on the test's store; ``max_file_size`` (RLIMIT_FSIZE) makes every
    file write past that size fail with EFBIG, as a full disk would, for root too;
    ``obey_permissions`` takes away root's power to write where file modes forbid it."""
    cfg = tmp_path / "feeds.yaml"
    if not cfg.exists():
        cfg.write_text(
            "sources:\n  - {id: a, name: A, url: 'http://127.0.0.1:9/feed', interval: 1d}\n"
            "digest: {enabled: false}\n"
        )
    env = {
        **os.environ,
        "CURATOR_SECRET_KEY": "test-secret-key-for-serve-tests-only-0123456789",
        **(env or {}),
    }

    def limits() -> None:
        if max_file_size is not None:
            _limit_files(max_file_size)
        if obey_permissions:
            _drop_dac_override()

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
            *(["--host", host] if host else []),
            *args,
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        preexec_fn=limits if max_file_size is not None or obey_permissions else None,
    )


def _limit_files(size: int) -> None:
    _soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    resource.setrlimit(resource.RLIMIT_FSIZE, (size, hard))


def _drop_dac_override() -> None:
    """Take CAP_DAC_OVERRIDE and CAP_DAC_READ_SEARCH out of the bounding set, so that the
    program exec'd next, even as root, cannot write where the file modes say no (a user
    without the capabilities is refused by the modes anyway)."""
    libc = ctypes.CDLL(None, use_errno=True)
    pr_capbset_drop, cap_dac_override, cap_dac_read_search = 24, 1, 2
    if os.geteuid() == 0:
        for cap in (cap_dac_override, cap_dac_read_search):
            if libc.prctl(pr_capbset_drop, cap, 0, 0, 0) != 0:
                os._exit(99)  # the test cannot make its case here: fail loudly


def wait_for_line(proc: subprocess.Popen[str], pattern: str) -> str:
    """Read stderr until a line matches (the process ends the wait if it dies)."""
    assert proc.stderr is not None
    for line in proc.stderr:
        if re.search(pattern, line):
            return line
    raise AssertionError(f"process ended (code {proc.wait()}) before printing {pattern!r}")


class Log:
    """A process's stderr, read line by line in a thread, so that a wait for a line that never
    comes fails after ``timeout`` with what was printed, instead of hanging the run."""

    def __init__(self, proc: subprocess.Popen[str]) -> None:
        self.proc = proc
        self.seen: list[str] = []
        self._lines: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self._lines.put(line)
        self._lines.put(None)

    def wait(self, pattern: str, timeout: float = 60) -> str:
        while True:
            try:
                line = self._lines.get(timeout=timeout)
            except queue.Empty:
                raise AssertionError(
                    f"no line matching {pattern!r} in {timeout:g} s:\n{''.join(self.seen)}"
                ) from None
            if line is None:
                raise AssertionError(
                    f"process ended (code {self.proc.wait()}) before printing {pattern!r}:\n"
                    + "".join(self.seen)
                )
            self.seen.append(line)
            if re.search(pattern, line):
                return line

    def rest(self) -> str:
        """Everything printed until the process ended (call after it was told to stop)."""
        try:
            self.proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise
        while (line := self._lines.get(timeout=60)) is not None:
            self.seen.append(line)
        return "".join(self.seen)


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


def test_serve_reads_every_item_in_the_background_and_counts_the_shards(tmp_path: Path) -> None:
    """Start-up does not wait for every item to be read (seconds at 100,000 items): a
    background warm-up reads them, then records each shard's count for a store from before
    ``shards.json`` (so a shard damaged later says what it held)."""
    store = TinyDBStore(tmp_path / "store")
    items = [make_item(n) for n in range(1, 6)]
    put(store, *items)
    (tmp_path / "store" / "shards.json").unlink()
    proc = start(tmp_path, free_port())
    log = Log(proc)
    try:
        log.wait(r"serving on")
        log.wait(r"read every item items=5 seconds=")
        counts = json.loads((tmp_path / "store" / "shards.json").read_text())["shards"]
        expected: dict[str, int] = {}
        for item in items:
            expected[item.id[:2]] = expected.get(item.id[:2], 0) + 1
        assert counts == {shard: {"items": n} for shard, n in expected.items()}
    finally:
        proc.send_signal(signal.SIGTERM)
    assert "Traceback" not in log.rest() and proc.returncode == 0


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
    # publish.base_url, not in feeds.yaml, follows --port: the feeds point at this server.
    links = httpx.get(f"http://127.0.0.1:{port}/links.json", timeout=10).json()
    assert links["home_page_url"] == f"http://127.0.0.1:{port}/embed"
    assert links["feed_url"] == f"http://127.0.0.1:{port}/links.json"

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
    approved = TinyDBStore(tmp_path / "store").get_item(item_id)
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
    assert "another service" in err and "--port" in err and "--host" not in err


def test_a_host_that_is_not_this_machines_is_blamed_not_the_port(tmp_path: Path) -> None:
    port = free_port()
    proc = start(tmp_path, port, host="10.99.99.99")  # an address no interface here has
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 1 and "Traceback" not in err
    assert f"cannot listen on 10.99.99.99:{port}" in err
    assert "10.99.99.99 is not an address of this machine" in err and "--host" in err
    assert "--port" not in err and "another service" not in err


def test_a_full_disk_at_start_is_one_clear_line(tmp_path: Path) -> None:
    TinyDBStore(tmp_path / "store")  # the directories exist; no file can grow past 0 bytes
    proc = start(tmp_path, free_port(), max_file_size=0)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 1
    assert "Traceback" not in err
    assert "cannot write" in err and "disk full" in err
    assert len([line for line in err.splitlines() if line.startswith("error:")]) == 1


def test_a_store_that_cannot_be_written_is_refused_at_start(tmp_path: Path) -> None:
    """Issue 10: a read-only store started, served pages, and failed every poll later."""
    store = tmp_path / "store"
    TinyDBStore(store)
    for name in (".lock", ".serve.lock"):  # present and writable: only the folders say no
        (store / name).write_text("")
    for folder in (store / "items", store):
        folder.chmod(0o555)
    try:
        proc = start(tmp_path, free_port(), obey_permissions=True)
        _, err = proc.communicate(timeout=60)
    finally:
        for folder in (store, store / "items"):
            folder.chmod(0o755)
    assert proc.returncode == 1, err
    assert "Traceback" not in err and "serving on" not in err
    errors = [line for line in err.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, err
    assert "the store is not writable" in errors[0] and str(store) in errors[0]
    assert "Permission denied" in errors[0] and "write access" in errors[0]
    assert not list(store.glob(".writable.*")), "the probe is left behind"


def test_on_a_full_disk_sign_out_still_ends_the_session_and_nothing_is_logged_as_done(
    served: tuple[subprocess.Popen[str], int], tmp_path: Path
) -> None:
    proc, port = served
    base = f"http://127.0.0.1:{port}"
    wait_for_line(proc, r"serving on")
    store = TinyDBStore(tmp_path / "store")
    auth.add_user(store, EDITOR, PASSWORD, hasher=FAST_HASHER)
    item_id = seed_item(tmp_path)
    with httpx.Client(base_url=base, timeout=10) as browser:
        login = browser.get("/login")
        data = {"csrf": csrf_of(login.text), "name": EDITOR, "password": PASSWORD, "next": "/"}
        assert browser.post("/login", data=data).status_code == 303
        copy = httpx.Client(base_url=base, timeout=10, cookies=dict(browser.cookies))
        assert copy.get("/account").status_code == 200
        csrf = csrf_of(browser.get("/account").text)

        _soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
        resource.prlimit(proc.pid, resource.RLIMIT_FSIZE, (0, hard))  # the disk is full now

        approve = browser.post(f"/items/{item_id}/approve", data={"csrf": csrf})
        assert approve.status_code == 503 and "cannot be written" in approve.text
        logout = browser.post("/logout", data={"csrf": csrf})
        assert logout.status_code == 303 and logout.headers["location"] == "/login"
        assert browser.get("/account").status_code == 303
        assert copy.get("/account").status_code == 303  # the copy of the cookie is dead too
        copy.close()
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 0
    assert "Traceback" not in err
    assert "approved item=" not in err
    assert f"signed out name={EDITOR} in memory only" in err
    assert store.get_item(item_id).status == "pending"  # type: ignore[union-attr]


def test_a_streamed_body_over_the_limit_is_cut_off_by_the_real_server(
    served: tuple[subprocess.Popen[str], int],
) -> None:
    """Chunked, no Content-Length, the CSRF token in a header: the server answers 413 while
    the client is still sending, long before the 64 MB it would send."""
    proc, port = served
    wait_for_line(proc, r"serving on")
    page = httpx.get(f"http://127.0.0.1:{port}/login", timeout=10)
    cookie = "; ".join(f"{k}={v}" for k, v in page.cookies.items())
    head = (
        "POST /login HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: chunked\r\n"
        "Content-Type: application/x-www-form-urlencoded\r\n"
        f"X-CSRF-Token: {csrf_of(page.text)}\r\nCookie: {cookie}\r\n\r\n"
    )
    chunk = b"a" * 65536
    sent = 0
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        sock.sendall(head.encode())
        answer = b""
        try:
            while sent < 64 << 20:
                sock.sendall(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                sent += len(chunk)
                if select.select([sock], [], [], 0)[0]:
                    break
        except (BrokenPipeError, ConnectionResetError):
            pass
        answer = sock.recv(65536)
    assert answer.startswith(b"HTTP/1.1 413"), answer[:200]
    assert sent < 16 << 20


def test_a_document_that_takes_minutes_to_read_does_not_hold_up_the_web_app(
    tmp_path: Path, feed_server: FeedServer
) -> None:
    """Issue 9, item 4: `serve` read documents on its event loop, so one slow document stalled
    every page (a 9 MB broken feed held /links.json for 16.7 s).  This feed's 200 KB author
    sends feedparser's e-mail pattern into minutes of backtracking; while a worker chews on
    it, the public list and the health check answer at once."""
    author = "a" * 200_000
    body = (
        '<?xml version="1.0"?><rss version="2.0"><channel><title>Slow</title>'
        "<link>https://slow.example/</link><item><title>Police CCTV upgrade</title>"
        f"<link>https://slow.example/1</link><author>{author}</author></item></channel></rss>"
    ).encode()
    sent = threading.Event()

    def chunks() -> Iterator[bytes]:
        yield body
        sent.set()  # the whole document is on its way: reading it is all that is left

    url = feed_server.route("/slow", chunks, content_type="application/rss+xml")
    (tmp_path / "feeds.yaml").write_text(
        "fetch: {jitter: 0, parse_timeout: 1h}\n"
        f"sources:\n  - {{id: slow, name: Slow, url: '{url}', interval: 1d}}\n"
        "digest: {enabled: false}\n"
    )
    port = free_port()
    proc = start(tmp_path, port)
    lines: list[str] = []
    listening = threading.Event()

    def read() -> None:
        assert proc.stderr is not None
        for line in proc.stderr:
            lines.append(line)
            if "serving on" in line:
                listening.set()

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        assert listening.wait(timeout=120), "".join(lines)
        assert sent.wait(timeout=120), "the source was never polled"
        for path in ("/links.json", "/healthz"):
            # Inline, this waited for the whole read: minutes, far past this timeout.
            r = httpx.get(f"http://127.0.0.1:{port}{path}", timeout=60)
            assert r.status_code == 200
        assert not any("source=slow" in line for line in lines)  # still being read
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:  # a loop stuck in a read cannot hear SIGTERM
            proc.kill()
            proc.wait()
        reader.join(timeout=60)


# --------------------------------------------------------------------------- reloading


def sources_yaml(*sources: tuple[str, str], extra: str = "") -> str:
    lines = [f"  - {{id: {i}, name: {i.upper()}, url: '{u}', interval: 1d}}" for i, u in sources]
    return (
        "fetch: {jitter: 0}\nsources:\n" + "\n".join(lines) + "\ndigest: {enabled: false}\n" + extra
    )


def signed_in(base: str, tmp_path: Path) -> httpx.Client:
    auth.add_user(TinyDBStore(tmp_path / "store"), EDITOR, PASSWORD, hasher=FAST_HASHER)
    browser = httpx.Client(base_url=base, timeout=10)
    login = browser.get("/login")
    data = {"csrf": csrf_of(login.text), "name": EDITOR, "password": PASSWORD, "next": "/"}
    assert browser.post("/login", data=data).status_code == 303
    return browser


def test_sighup_reloads_feeds_yaml_and_a_bad_file_keeps_the_running_one(
    tmp_path: Path, feed_server: FeedServer
) -> None:
    """Issue 10: an administrator changes feeds.yaml without a restart.  SIGHUP re-reads it:
    an added source is polled at once; a file with mistakes is refused, each mistake logged
    on its own line with file, line and key, shown on the Sources page, and the running
    configuration goes on."""
    dead = "http://127.0.0.1:9/feed"
    feed = feed_server.route(
        "/b.xml",
        b'<?xml version="1.0"?><rss version="2.0"><channel><title>B</title>'
        b"<link>https://b.example/</link></channel></rss>",
        content_type="application/rss+xml",
    )
    cfg = tmp_path / "feeds.yaml"
    cfg.write_text(sources_yaml(("a", dead)))
    port = free_port()
    proc = start(tmp_path, port, args=("--watch-interval", "0"))
    log = Log(proc)
    try:
        log.wait(r"serving on")
        cfg.write_text(sources_yaml(("a", dead), ("b", feed)))
        proc.send_signal(signal.SIGHUP)
        line = log.wait(r"configuration reloaded")
        assert "why=SIGHUP" in line and "added=b" in line and "sources=2" in line
        log.wait(r"polled source=b ")  # its job was added, due at once

        cfg.write_text(sources_yaml(("a", dead), ("b", feed), extra="digest: {dai: monday}\n"))
        proc.send_signal(signal.SIGHUP)
        first = log.wait(r"configuration not reloaded")
        summary = log.wait(r"configuration not reloaded path=")
        assert f"{cfg}:6: digest: this key appears twice" in first, first
        assert "problems=" in summary and "the running configuration stays" in summary

        browser = signed_in(f"http://127.0.0.1:{port}", tmp_path)
        page = browser.get("/sources").text
        browser.close()
        assert "feeds.yaml was not reloaded" in page
        assert f"{cfg}:6" in page and "this key appears twice" in page
        assert ">B<" in page  # the running configuration, with both sources

        cfg.write_text(sources_yaml(("b", feed)))
        proc.send_signal(signal.SIGHUP)
        line = log.wait(r"configuration reloaded")
        assert "removed=a" in line
    finally:
        proc.send_signal(signal.SIGTERM)
        err = log.rest()
    assert proc.returncode == 0
    assert "Traceback" not in err


def test_a_changed_feeds_yaml_is_read_again_without_a_signal(tmp_path: Path) -> None:
    """Issue 10: saving the file is enough; a broken save is reported once, and the fixed one
    is taken."""
    dead = "http://127.0.0.1:9/feed"
    cfg = tmp_path / "feeds.yaml"
    cfg.write_text(sources_yaml(("a", dead)))
    proc = start(tmp_path, free_port(), args=("--watch-interval", "0.1"))
    log = Log(proc)
    try:
        log.wait(r"serving on")
        cfg.write_text(sources_yaml(("a", dead), ("c", "http://127.0.0.1:9/c")))
        line = log.wait(r"configuration (not )?reloaded")
        assert "why=the file changed" in line and "added=c" in line, line

        cfg.write_text(sources_yaml(("a", dead)).replace("interval: 1d", "interval: soon"))
        line = log.wait(r"configuration (not )?reloaded")
        assert "not reloaded" in line and f"{cfg}:3: sources[0] (id a).interval" in line, line
        assert "expected a duration" in line
        log.wait(r"not reloaded path=.* problems=1: the running configuration stays")

        cfg.write_text(sources_yaml(("a", dead)))
        line = log.wait(r"configuration (not )?reloaded")
        assert "not reloaded" not in line and "removed=c" in line, line
    finally:
        proc.send_signal(signal.SIGTERM)
        err = log.rest()
    assert proc.returncode == 0
    assert "Traceback" not in err


def test_a_job_cancelled_at_stop_is_not_logged_as_a_failure(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A job still running when `serve` gives up waiting is cancelled; APScheduler logged that
    with a traceback (seen in CI as a config-watch job cancelled mid-read)."""
    import asyncio
    from datetime import UTC, datetime

    from apscheduler.schedulers.asyncio import AsyncIOScheduler

    import curator.serve  # noqa: F401  (installs the filter)

    async def go() -> None:
        started = asyncio.Event()

        async def forever() -> None:
            started.set()
            await asyncio.Event().wait()

        scheduler = AsyncIOScheduler()
        scheduler.add_job(forever, "date", run_date=datetime.now(UTC), id="forever")
        scheduler.start()
        await started.wait()
        scheduler.shutdown(wait=False)
        tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    with caplog.at_level(logging.ERROR):
        asyncio.run(go())
    assert [r for r in caplog.records if r.exc_info] == []
