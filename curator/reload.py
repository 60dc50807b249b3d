"""Re-read ``feeds.yaml`` while ``curator serve`` runs: on SIGHUP, and when the file changes.

A file that loads and passes the same checks as at start (``config.load``, then
``match.check``) replaces the running configuration and the scheduler's jobs follow it
(:func:`curator.schedule.update_jobs`).  A file that does not keeps the running configuration:
each problem is logged on its own line (file, line, key) and kept in ``curator.config_status``
for the Sources page, so a typo saved by an editor never stops the service or its polls.

The file is watched by polling (a scheduler job every few seconds) for a change of the SHA-256
of its bytes: a ``touch`` or an editor's save of the same text does nothing, a save within the
file system's timestamp resolution is still seen, and no file-system notification library is
needed.  The hash is of the bytes that were validated, so a save that lands while the file is
read is seen at the next check.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

from curator import match
from curator.config import Config, ConfigStatus, loads
from curator.core import Curator
from curator.exceptions import ConfigError, Problem

log = logging.getLogger("curator.reload")

#: Settings read once when ``serve`` starts (the HTTP client, the web app's middleware): a
#: change to them is reported as waiting for a restart.
FETCHER_KEYS = (
    "user_agent",
    "contact",
    "timeout",
    "connect_timeout",
    "read_timeout",
    "max_body",
    "max_redirects",
    "concurrency",
    "per_host",
    "allow_private_urls",
)
WEB_KEYS = (
    "session_days",
    "secure_cookies",
    "signin_attempts",
    "signin_attempts_per_address",
    "signin_attempts_per_account",
    "signin_window",
    "max_body",
)


@dataclass(frozen=True)
class SourceChanges:
    """Source ids added, removed and changed between two configurations."""

    added: tuple[str, ...]
    removed: tuple[str, ...]
    changed: tuple[str, ...]

    def __str__(self) -> str:
        parts = [
            f"{name}={','.join(ids)}"
            for name, ids in (
                ("added", self.added),
                ("removed", self.removed),
                ("changed", self.changed),
            )
            if ids
        ]
        return " ".join(parts) or "sources unchanged"


def source_changes(old: Config, new: Config) -> SourceChanges:
    before = {s.id: s for s in old.sources}
    after = {s.id: s for s in new.sources}
    return SourceChanges(
        added=tuple(sid for sid in after if sid not in before),
        removed=tuple(sid for sid in before if sid not in after),
        changed=tuple(sid for sid in after if sid in before and before[sid] != after[sid]),
    )


def restart_needed(running: Config, new: Config) -> tuple[str, ...]:
    """The keys that differ between ``running`` and ``new`` but only take effect at start."""
    keys = [
        f"fetch.{k}" for k in FETCHER_KEYS if getattr(running.fetch, k) != getattr(new.fetch, k)
    ]
    keys += [f"web.{k}" for k in WEB_KEYS if getattr(running.web, k) != getattr(new.web, k)]
    # The story index is built with these when the Curator is (curator/core.py).
    keys += [
        f"stories.{k}"
        for k in type(new.stories).model_fields
        if getattr(running.stories, k) != getattr(new.stories, k)
    ]
    return tuple(keys)


class ConfigWatcher:
    """Reloads one Curator's configuration file and applies it (see the module docstring).

    ``on_change(old)`` is called after ``curator.config`` was replaced (``serve`` passes the
    scheduler update); ``adjust`` turns each newly read configuration into the one that runs
    (``serve`` passes :func:`curator.config.served_at`).  The file as it is when the watcher
    is made is taken to be the one the running configuration came from.
    """

    def __init__(
        self,
        curator: Curator,
        *,
        on_change: Callable[[Config], None],
        adjust: Callable[[Config], Config] = lambda config: config,
    ) -> None:
        self.curator = curator
        self.adjust = adjust
        self.path = Path(curator.config.path)
        self.on_change = on_change
        self._lock = asyncio.Lock()
        now = curator.clock()
        self._seen_digest = self._digest_of_file()
        self._settling: object = _UNSET  # a new hash (None: no file) seen once, to see again
        # What the running configuration came from: the restart-only settings are compared
        # with it, not with the last reload (which already logged them).
        self._started = curator.config
        curator.config_status = ConfigStatus(str(self.path), now, now)

    def _digest_of_file(self) -> str | None:
        try:
            return _hash(self.path.read_bytes())
        except OSError:
            return None

    async def check(self) -> None:
        """Reload when the file's bytes changed since they were last read and then stayed
        the same for one more check (the scheduler's job).

        A hash, not the mtime: a save within the file system's timestamp resolution that
        keeps the size is still seen.  The wait for a second look is because an editor that
        writes the file in place (truncate, then write) can be read half-way, and the first
        half of a feeds.yaml is often a valid configuration with fewer sources: taken at
        once, it would stop polling the rest until the next save.
        """
        digest = await asyncio.to_thread(self._digest_of_file)
        if digest == self._seen_digest:
            self._settling = _UNSET
            return
        if digest != self._settling:
            self._settling = digest  # changed since the last look: let the save finish
            return
        self._settling = _UNSET
        await self.reload(
            "the file changed" if digest is not None else "the file is gone", settled=digest
        )

    async def reload(self, why: str, *, settled: str | None = None) -> bool:
        """Read the file now; True when it replaced the running configuration.

        ``settled``: the hash :meth:`check` saw twice; bytes that differ from it are still
        being written, and are left for the next check."""
        async with self._lock:
            name = str(self.path)
            try:
                data = await asyncio.to_thread(self.path.read_bytes)
            except FileNotFoundError:
                self._seen_digest = None
                return self._refuse(why, [Problem(name, None, "", "no such file")])
            except OSError as e:
                self._seen_digest = None
                problem = Problem(name, None, "", f"cannot read it: {e.strerror or e}")
                return self._refuse(why, [problem])
            digest = _hash(data)
            if settled is not None and digest != settled:
                self._settling = digest
                return False
            self._seen_digest = digest
            try:
                new = await asyncio.to_thread(_validate, data, name)
            except ConfigError as e:
                return self._refuse(why, e.problems)
            except Exception as e:  # a bug in a check: the service goes on as it was
                log.exception("configuration not reloaded path=%s why=%s", name, why)
                problem = Problem(name, None, "", f"could not be checked ({type(e).__name__}: {e})")
                return self._refuse(why, [problem], logged=True)
            self._apply(new, why)
            return True

    def _refuse(self, why: str, problems: list[Problem], *, logged: bool = False) -> bool:
        now = self.curator.clock()
        for problem in problems if not logged else []:
            log.error("configuration not reloaded: %s", problem)
        log.error(
            "configuration not reloaded path=%s why=%s problems=%d: the running configuration "
            "stays",
            self.path,
            why,
            len(problems),
        )
        status = self.curator.config_status
        if status is not None:
            self.curator.config_status = replace(status, checked_at=now, problems=tuple(problems))
        return False

    def _apply(self, new: Config, why: str) -> None:
        new = self.adjust(new)
        now = self.curator.clock()
        old = self.curator.config
        waiting = restart_needed(self._started, new)
        self.curator.config_status = ConfigStatus(str(self.path), now, now, (), waiting)
        if new == old:
            log.info("configuration reloaded path=%s why=%s: nothing changed", self.path, why)
            return
        self.curator.config = new
        try:
            self.on_change(old)
        except Exception:  # a bug: the new configuration runs, the job table may lag behind
            log.exception("jobs not updated after reloading path=%s", self.path)
        log.info(
            "configuration reloaded path=%s why=%s sources=%d %s",
            self.path,
            why,
            len(new.sources),
            source_changes(old, new),
        )
        if waiting:
            log.warning(
                "configuration reloaded, but these take effect when serve restarts: %s",
                ", ".join(waiting),
            )


_UNSET = object()


def _hash(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _validate(data: bytes, name: str) -> Config:
    """The checks ``curator`` makes at start (cli.main), on the bytes that were read."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        line = data.count(b"\n", 0, e.start) + 1
        raise ConfigError([Problem(name, line, "", f"not UTF-8 text: {e.reason}")]) from None
    config = loads(text, name)
    problems = match.check(config)
    if problems:
        raise ConfigError(problems)
    return config
