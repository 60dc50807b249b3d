"""curator.reload: re-reading feeds.yaml in a running service, on a real file and a real
Curator; the scheduler side is in test_schedule.py, the real process in test_serve.py."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import pytest

from curator import config
from curator.config import Config
from curator.core import Curator, make_curator
from curator.reload import ConfigWatcher, restart_needed, source_changes
from curator.store import TinyDBStore

GOOD = (
    "rules: {include: {cctv: 3}}\n"
    "sources:\n"
    "  - {id: a, name: A, url: 'https://a.example/feed'}\n"
    "  - {id: b, name: B, url: 'https://b.example/feed'}\n"
)


class Recorder:
    """The ``on_change`` of serve, recorded: the configurations that were replaced."""

    def __init__(self) -> None:
        self.replaced: list[Config] = []

    def __call__(self, old: Config) -> None:
        self.replaced.append(old)


def settle(watcher: ConfigWatcher) -> None:
    """Two checks: a change is taken once the file reads the same twice in a row."""
    asyncio.run(watcher.check())
    asyncio.run(watcher.check())


@pytest.fixture
def running(tmp_path: Path) -> tuple[Curator, Path]:
    path = tmp_path / "feeds.yaml"
    path.write_text(GOOD)
    return make_curator(config.load(path), store=TinyDBStore(tmp_path / "store")), path


def test_an_unchanged_or_touched_file_is_not_reloaded(
    running: tuple[Curator, Path], caplog: pytest.LogCaptureFixture
) -> None:
    cur, path = running
    changes = Recorder()
    watcher = ConfigWatcher(cur, on_change=changes)
    before = cur.config
    with caplog.at_level(logging.INFO, logger="curator.reload"):
        asyncio.run(watcher.check())
        path.write_text(GOOD)  # saved again, same text
        asyncio.run(watcher.check())
    assert changes.replaced == [] and cur.config is before
    assert caplog.records == []  # not even read again


def test_a_changed_file_replaces_the_configuration(
    running: tuple[Curator, Path], caplog: pytest.LogCaptureFixture
) -> None:
    cur, path = running
    changes = Recorder()
    watcher = ConfigWatcher(cur, on_change=changes)
    before = cur.config
    path.write_text(
        GOOD.replace("  - {id: a, name: A, url: 'https://a.example/feed'}\n", "")
        .replace("name: B,", "name: B, interval: 2h,")
        .replace("sources:\n", "sources:\n  - {id: c, name: C, url: 'https://c.example/feed'}\n")
    )
    with caplog.at_level(logging.INFO, logger="curator.reload"):
        asyncio.run(watcher.check())
        assert changes.replaced == []  # seen once: the save may not be finished
        asyncio.run(watcher.check())
    assert changes.replaced == [before]
    assert [s.id for s in cur.config.sources] == ["c", "b"]
    assert cur.config_status is not None and cur.config_status.problems == ()
    [line] = [r.getMessage() for r in caplog.records]
    assert "why=the file changed" in line and "added=c removed=a changed=b" in line


def test_a_bad_file_keeps_the_running_configuration_and_names_each_problem(
    running: tuple[Curator, Path], caplog: pytest.LogCaptureFixture
) -> None:
    cur, path = running
    changes = Recorder()
    watcher = ConfigWatcher(cur, on_change=changes)
    before = cur.config
    path.write_text(
        GOOD.replace("name: A,", "name: A, interval: soon,").replace("name: B,", "nmae: B,")
    )
    with caplog.at_level(logging.INFO, logger="curator.reload"):
        assert asyncio.run(watcher.reload("SIGHUP")) is False
    assert cur.config is before and changes.replaced == []
    status = cur.config_status
    assert status is not None
    keys = [(p.file, p.line, p.key) for p in status.problems]
    assert keys == [
        (str(path), 3, "sources[0] (id a).interval"),
        (str(path), 4, "sources[1] (id b).name"),
        (str(path), 4, "sources[1] (id b).nmae"),
    ]
    lines = [r.getMessage() for r in caplog.records]
    assert lines[:3] == [f"configuration not reloaded: {p}" for p in status.problems]
    assert "problems=3: the running configuration stays" in lines[3] and len(lines) == 4

    # The same bad file is not reported again on every check; a fixed one is taken.
    caplog.clear()
    asyncio.run(watcher.check())
    assert caplog.records == []
    path.write_text(GOOD.replace("name: B,", "name: Bee,"))
    settle(watcher)
    assert cur.config.sources[1].name == "Bee"
    assert cur.config_status is not None and cur.config_status.problems == ()


def test_a_file_caught_half_written_is_never_applied(
    running: tuple[Curator, Path], caplog: pytest.LogCaptureFixture
) -> None:
    """An editor that writes in place can be read mid-save; the first half of a feeds.yaml
    is often valid (fewer sources), and applying it would stop polling the rest."""
    cur, path = running
    changes = Recorder()
    watcher = ConfigWatcher(cur, on_change=changes)
    before = cur.config
    full = GOOD.replace("name: B,", "name: Bee,")
    half = full[: full.index("  - {id: b")]
    assert [s.id for s in config.loads(half).sources] == ["a"]  # valid on its own
    with caplog.at_level(logging.INFO, logger="curator.reload"):
        path.write_text(half)
        asyncio.run(watcher.check())  # seen once, mid-save
        path.write_text(full)
        asyncio.run(watcher.check())  # changed again: still being written
        assert changes.replaced == [] and cur.config is before
        asyncio.run(watcher.check())  # the same twice: settled
    assert changes.replaced == [before]
    assert [s.name for s in cur.config.sources] == ["A", "Bee"]
    assert len(caplog.records) == 1


@pytest.mark.parametrize(
    ("text", "line", "message"),
    [
        (GOOD.encode() + b"# caf\xe9\n", 5, "not UTF-8 text"),
        (GOOD.encode() + b"sources: [\n", 6, "not valid YAML"),
        (GOOD.replace("cctv", "'!!'").encode(), None, "has no letter or digit"),
    ],
    ids=["not-utf8", "not-yaml", "match-check"],
)
def test_what_curator_check_refuses_a_reload_refuses(
    running: tuple[Curator, Path], text: bytes, line: int | None, message: str
) -> None:
    cur, path = running
    watcher = ConfigWatcher(cur, on_change=Recorder())
    path.write_bytes(text)
    assert asyncio.run(watcher.reload("SIGHUP")) is False
    assert cur.config_status is not None
    [problem] = cur.config_status.problems
    assert problem.line == line and message in problem.message, problem


def test_a_deleted_file_keeps_the_configuration_until_it_is_back(
    running: tuple[Curator, Path],
) -> None:
    cur, path = running
    changes = Recorder()
    watcher = ConfigWatcher(cur, on_change=changes)
    before = cur.config
    path.unlink()
    settle(watcher)
    assert cur.config is before and cur.config_status is not None
    assert [p.message for p in cur.config_status.problems] == ["no such file"]
    path.write_text(GOOD)
    settle(watcher)
    assert cur.config_status is not None and cur.config_status.problems == ()
    assert changes.replaced == []  # the same configuration as before: nothing to change


def test_settings_read_at_start_are_named_when_they_change(running: tuple[Curator, Path]) -> None:
    cur, path = running
    watcher = ConfigWatcher(cur, on_change=Recorder())
    path.write_text(GOOD + "fetch: {timeout: 10s, max_entries: 50}\nweb: {page_size: 20}\n")
    assert asyncio.run(watcher.reload("SIGHUP")) is True
    assert cur.config.fetch.max_entries == 50  # read at each poll: in use at once
    assert cur.config_status is not None
    assert cur.config_status.restart_needed == ("fetch.timeout",)


def test_source_changes_and_restart_needed_compare_values() -> None:
    old = config.loads(GOOD)
    new = config.loads(
        GOOD.replace("name: A,", "name: A, enabled: false,") + "web: {max_body: 1MB}"
    )
    changes = source_changes(old, new)
    assert (changes.added, changes.removed, changes.changed) == ((), (), ("a",))
    assert str(source_changes(old, old)) == "sources unchanged"
    assert restart_needed(old, new) == ("web.max_body",)


def test_a_reloaded_file_is_served_as_the_started_one_was(running: tuple[Curator, Path]) -> None:
    """`serve --port 8000` makes a base_url left at its default follow the port; a reload
    must not put it back to the default (the feeds' self links would point elsewhere)."""
    cur, path = running
    cur.config = config.served_at(cur.config, "127.0.0.1", 8000)
    watcher = ConfigWatcher(
        cur,
        on_change=Recorder(),
        adjust=lambda new: config.served_at(new, "127.0.0.1", 8000),
    )
    path.write_text(GOOD.replace("name: B,", "name: B, interval: 2h,"))
    assert asyncio.run(watcher.reload("SIGHUP"))
    assert cur.config.publish.base_url == "http://127.0.0.1:8000"
    assert cur.config.sources[1].interval == 7200
    path.write_text(GOOD.replace("rules:", "publish: {base_url: 'https://links.example'}\nrules:"))
    assert asyncio.run(watcher.reload("SIGHUP"))
    assert cur.config.publish.base_url == "https://links.example"  # set in the file: kept
