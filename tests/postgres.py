"""A real PostgreSQL server for the tests, and one fresh database per test.

``.ci/run`` starts a throw-away cluster (``.ci/postgres.sh``) and exports
``CURATOR_TEST_DATABASE_URL``, a URL to its ``postgres`` database as a user that may create
databases.  Without it (a developer's machine) the first test that needs PostgreSQL starts a
cluster of its own the same way, in a temporary directory, when Debian's server is installed
(``/usr/lib/postgresql/*/bin``), and stops it at the end of the session; without a server the
PostgreSQL half of the store tests is skipped, or fails in CI (tests/system.py).

Each test gets a database of its own, made from a migrated template (``CREATE DATABASE …
TEMPLATE``, a file copy: milliseconds), so tests never see each other's rows.
"""

from __future__ import annotations

import contextlib
import glob
import os
import secrets
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import psycopg

from curator.store.postgres import migrate
from tests.system import require

URL_ENV = "CURATOR_TEST_DATABASE_URL"


def _bin() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    return Path(found[-1]).parent if found else None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Cluster:
    """A cluster in a temporary directory, run as the unprivileged ``postgres`` user when we
    are root (the server refuses to run as root)."""

    def __init__(self, bindir: Path) -> None:
        self.bindir = bindir
        self.dir = Path(tempfile.mkdtemp(prefix="curator-pg-"))
        self.port = _free_port()
        self.user = None
        if os.geteuid() == 0:
            self.user = "postgres"
            shutil.chown(self.dir, user="postgres")
        data = self.dir / "data"
        self._run(
            str(bindir / "initdb"), "-D", str(data), "-A", "trust", "-U", "postgres",
            "--no-sync", "-E", "UTF8", "--locale", "C",
        )  # fmt: skip
        options = f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1 -c fsync=off"
        options += " -c full_page_writes=off -c synchronous_commit=off -c max_connections=200"
        self._run(
            str(bindir / "pg_ctl"), "-D", str(data), "-l", str(self.dir / "log"),
            "-o", options, "-w", "start",
        )  # fmt: skip
        self.url = f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def _run(self, *argv: str) -> None:
        if self.user is not None:
            argv = ("runuser", "-u", self.user, "--", *argv)
        subprocess.run(argv, check=True, capture_output=True, cwd=self.dir)

    def stop(self) -> None:
        with contextlib.suppress(subprocess.CalledProcessError):
            self._run(
                str(self.bindir / "pg_ctl"), "-D", str(self.dir / "data"), "-m", "immediate",
                "stop",
            )  # fmt: skip
        shutil.rmtree(self.dir, ignore_errors=True)


class Databases:
    """Fresh databases on one server, each a copy of a migrated template."""

    def __init__(self, admin_url: str) -> None:
        self.admin_url = admin_url
        self.template = f"curator_tpl_{os.getpid()}_{secrets.token_hex(3)}"
        self.made: list[str] = []
        self._admin("CREATE DATABASE " + self.template)
        migrate(self.url_of(self.template))

    def url_of(self, name: str) -> str:
        base, _, _ = self.admin_url.rpartition("/")
        return f"{base}/{name}"

    def _admin(self, sql: str) -> None:
        with psycopg.connect(self.admin_url, autocommit=True) as conn:
            conn.execute(sql.encode())

    def fresh(self, *, migrated: bool = True) -> str:
        """The URL of a new, empty database (with Curator's schema unless told otherwise)."""
        name = f"curator_t_{secrets.token_hex(6)}"
        template = self.template if migrated else "template0"
        self._admin(f"CREATE DATABASE {name} TEMPLATE {template}")
        self.made.append(name)
        return self.url_of(name)

    def drop_all(self) -> None:
        for name in [*self.made, self.template]:
            with contextlib.suppress(psycopg.Error):
                self._admin(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


@contextlib.contextmanager
def server() -> Iterator[Databases | None]:
    """The databases of the session: on ``CURATOR_TEST_DATABASE_URL``, else on a cluster
    started here; None when neither is possible."""
    url = os.environ.get(URL_ENV, "").strip()
    cluster = None
    if not url:
        bindir = _bin()
        if bindir is None:
            yield None
            return
        cluster = Cluster(bindir)
        url = cluster.url
    databases = Databases(url)
    try:
        yield databases
    finally:
        databases.drop_all()
        if cluster is not None:
            cluster.stop()


def need(databases: Databases | None) -> Databases:
    require(
        databases is not None,
        f"no PostgreSQL server: set {URL_ENV} or install Debian's postgresql (see .ci/run)",
    )
    assert databases is not None
    return databases
