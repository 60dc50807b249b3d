"""Several ``curator serve`` instances on one PostgreSQL database, as behind a load balancer.

Real processes on real ports against a real server (tests/postgres.py): exactly one runs the
scheduler and another takes over when it is killed; a session made on one instance is good on
the others (the session key is in the database); approvals made at once on different
instances all persist; a source is polled once however many schedulers fire for it.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from curator import auth
from curator.store.postgres import PostgresStore
from tests.feedserver import FeedServer
from tests.test_serve import Log, free_port
from tests.webkit import EDITOR, FAST_HASHER, PASSWORD, csrf_of, make_item, put

pytestmark = pytest.mark.slow

LEADS = r"this instance runs the scheduler"
SERVING = r"serving on http://"
SETUP = r"/setup\?token="


class Instance:
    def __init__(self, config: Path, url: str) -> None:
        self.port = free_port()
        env = {k: v for k, v in os.environ.items() if k != "CURATOR_SECRET_KEY"}
        env["CURATOR_DATABASE_URL"] = url
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "curator", "--config", str(config), "serve", "--port",
             str(self.port), "--watch-interval", "0"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )  # fmt: skip
        self.log = Log(self.proc)
        self.log.wait(SERVING)
        self.base = f"http://127.0.0.1:{self.port}"

    def said(self, pattern: str) -> str:
        """The first line matching *pattern*, printed already or waited for."""
        for line in self.log.seen:
            if re.search(pattern, line):
                return line
        return self.log.wait(pattern)

    def leads(self) -> bool:
        return any(re.search(LEADS, line) for line in self.log.seen)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()


@pytest.fixture
def config(tmp_path: Path, feed_server: FeedServer) -> Path:
    url = feed_server.route(
        "/f.xml",
        b'<?xml version="1.0"?><rss version="2.0"><channel><title>T</title>'
        b"<item><title>Council approves CCTV upgrade</title><link>https://n.example/1</link>"
        b"<description>CCTV cameras</description></item></channel></rss>",
    )
    path = tmp_path / "feeds.yaml"
    path.write_text(
        "fetch: {jitter: 0}\n"
        f"sources:\n  - {{id: local, name: Local, url: '{url}', interval: 1d}}\n"
        "rules: {min_score: 3, include: {cctv: 3}}\n"
        "digest: {enabled: false}\nstore: {backups: 0}\n"
    )
    return path


@pytest.fixture
def instances(config: Path, database_url: str) -> Iterator[list[Instance]]:
    """Three instances; the first has polled the one source before the others start (so
    which one polls is not left to a race: their first poll is then a day away)."""
    started: list[Instance] = []
    try:
        started.append(Instance(config, database_url))
        started[0].said(r"polled source=local entries=1 matched=1 new=1")
        for _ in range(2):
            started.append(Instance(config, database_url))
        yield started
    finally:
        for instance in started:
            instance.stop()


def wait_for_leader(instances: list[Instance]) -> Instance:
    """The instance that says it runs the scheduler (each says so, or stands by, at once)."""
    done = threading.Event()
    found: list[Instance] = []

    def watch(instance: Instance) -> None:
        try:
            instance.log.wait(LEADS, timeout=60)
        except AssertionError:
            return
        found.append(instance)
        done.set()

    threads = [threading.Thread(target=watch, args=(i,), daemon=True) for i in instances]
    for t in threads:
        t.start()
    assert done.wait(60), "no instance took the scheduler"
    return found[0]


def test_one_instance_runs_the_scheduler_and_another_takes_over_when_it_dies(
    instances: list[Instance], database_url: str
) -> None:
    # Each instance says at once whether it took the scheduler or stands by.
    said = [i.said(rf"{LEADS}|standing by") for i in instances]
    leaders = [i for i, line in zip(instances, said, strict=True) if re.search(LEADS, line)]
    assert len(leaders) == 1
    leader = leaders[0]
    others = [i for i in instances if i is not leader]
    # No editor yet: one setup link for the installation, printed by the scheduler's holder
    # (each instance's own would replace the one before), and it works on any instance.
    token = leader.said(SETUP).split("token=")[1].strip()
    assert not any(re.search(SETUP, line) for i in others for line in i.log.seen)
    form = httpx.get(f"{others[0].base}/setup", params={"token": token}, timeout=30)
    assert form.status_code == 200 and 'name="password"' in form.text
    store = PostgresStore(database_url)
    try:
        os.kill(leader.proc.pid, signal.SIGKILL)
        leader.proc.wait()
        successor = wait_for_leader(others)
        assert successor in others
        assert sum(o.leads() for o in others) == 1
        # The successor prints a new link: the dead holder's no longer works.
        fresh = successor.said(SETUP).split("token=")[1].strip()
        bystander = next(o for o in others if o is not successor)
        gone = httpx.get(f"{bystander.base}/setup", params={"token": token}, timeout=30)
        assert gone.status_code != 200 or 'name="password"' not in gone.text
        works = httpx.get(f"{bystander.base}/setup", params={"token": fresh}, timeout=30)
        assert works.status_code == 200 and 'name="password"' in works.text
        assert [i.title for i in store.items()] == ["Council approves CCTV upgrade"]
        assert not any("polled" in line for i in instances[1:] for line in i.log.seen)
    finally:
        store.close()


def sign_in(base: str) -> tuple[httpx.Client, str]:
    browser = httpx.Client(base_url=base, timeout=30)
    login = browser.get("/login")
    data = {"csrf": csrf_of(login.text), "name": EDITOR, "password": PASSWORD, "next": "/"}
    assert browser.post("/login", data=data).status_code == 303
    return browser, csrf_of(browser.get("/account").text)


def test_a_session_from_one_instance_works_on_the_others_and_concurrent_approvals_persist(
    instances: list[Instance], database_url: str
) -> None:
    store = PostgresStore(database_url)
    try:
        auth.add_user(store, EDITOR, PASSWORD, hasher=FAST_HASHER)
        items = [make_item(n) for n in range(1, 31)]
        put(store, *items)
        browser, csrf = sign_in(instances[0].base)
        cookies = dict(browser.cookies)
        barrier = threading.Barrier(len(instances))
        failures: list[str] = []

        def approve(instance: Instance, mine: list[str]) -> None:
            # The session cookie and CSRF token made by instance 0, used on every instance.
            with httpx.Client(base_url=instance.base, cookies=cookies, timeout=30) as client:
                barrier.wait()
                for item_id in mine:
                    r = client.post(f"/items/{item_id}/approve", data={"csrf": csrf})
                    if r.status_code not in (200, 303):
                        failures.append(f"{instance.base} {item_id}: {r.status_code}")

        shares = [[i.id for i in items[k :: len(instances)]] for k in range(len(instances))]
        threads = [
            threading.Thread(target=approve, args=(instance, share))
            for instance, share in zip(instances, shares, strict=True)
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert failures == []
        assert store.counts()["approved"] == len(items)
        for item in store.items("approved"):
            assert item.reviewed_by == EDITOR and item.history[-1].action == "approved"
        assert store.counts()["pending"] == 1  # only the item the first instance polled
    finally:
        store.close()
