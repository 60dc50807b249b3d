"""What a command loads: each command imports what it uses, so that start-up stays short.

`curator --help` loads no third-party package, the read-only commands (`items`, `sources`,
`check`) none of the poll's, the web app's or the model's, and an unchanged `curator fetch`
(every source answering 304) never starts the worker pool nor loads the document readers.
Each case runs in a fresh interpreter, since this test process has imported everything.
(bench/bench_cli.py measures the time; these tests assert the structure that keeps it.)
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from curator.store import TinyDBStore
from tests.feedserver import FeedServer

FEED = b"""<?xml version="1.0" encoding="utf-8"?>
<rss version="2.0"><channel><title>Test</title><link>https://example.org/</link>
<item><title>Council approves upgrade of town centre CCTV network</title>
<link>https://news.example.org/cctv-upgrade</link>
<description>Police and the council will share the new CCTV cameras.</description>
<pubDate>Mon, 02 Nov 2026 08:00:00 GMT</pubDate></item>
</channel></rss>"""

#: Packages and modules no read-only command needs: the poll's (HTTP, the readers, the worker
#: pool), the web app's, the OPML and feeds.yaml editors', the learned model's.
HEAVY = (
    "numpy",
    "sklearn",
    "scipy",
    "datasketch",
    "starlette",
    "jinja2",
    "uvicorn",
    "apscheduler",
    "httpx",
    "httpcore",
    "feedparser",
    "bs4",
    "lxml",
    "ruamel",
    "pebble",
    "multiprocessing",
    "curator.pipeline",
    "curator.parse",
    "curator.fetch",
    "curator.web",
)

#: Nor do they need the store's inter-process lock (they never write), nor the event loop
#: (about 30 ms to import).
NOT_READ_ONLY = ("filelock", "asyncio", "curator.polls")

#: Runs the command line given in argv in this fresh interpreter, then prints its exit code
#: and which of the modules named in the last argument it loaded, as JSON.
PROBE = """
import contextlib, io, json, sys
argv, names = sys.argv[1:-1], json.loads(sys.argv[-1])
out = io.StringIO()
code = 0
with contextlib.redirect_stdout(out):
    try:
        from curator.cli import main
        code = main(argv)
    except SystemExit as e:  # --help
        code = e.code
loaded = sorted(n for n in names if n in sys.modules)
print(json.dumps({"code": code, "loaded": loaded, "out": out.getvalue()}))
"""


def probe(
    env: dict[str, str], *argv: str, names: tuple[str, ...] = HEAVY
) -> tuple[int, list[str], str]:
    done = subprocess.run(
        [sys.executable, "-c", PROBE, *argv, json.dumps(names)],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout.strip().splitlines()[-1])
    return result["code"], result["loaded"], result["out"]


@pytest.fixture
def env(tmp_path: Path, feed_server: FeedServer) -> dict[str, str]:
    """A configuration with one local feed (answering 304 to its ETag), in the environment a
    command runs with."""
    url = feed_server.route("/feed.xml", FEED, etag='"1"')
    cfg = tmp_path / "feeds.yaml"
    cfg.write_text(
        "fetch:\n  jitter: 0\nsources:\n"
        f"  - id: local\n    name: Local news\n    url: {url}\n"
        "rules:\n  min_score: 3\n  include: {cctv: 3}\n"
    )
    return {
        **os.environ,
        "CURATOR_CONFIG": str(cfg),
        "CURATOR_STORE": str(tmp_path / "store"),
        "PYTHONSAFEPATH": "1",
    }


def test_importing_the_command_line_loads_no_third_party_package() -> None:
    names = (*HEAVY, "pydantic", "yaml", "tinydb", "nh3", "curator.core", "curator.config")
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            "import curator.cli, json, sys; "
            f"print(json.dumps(sorted(n for n in {names!r} if n in sys.modules)))",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    assert json.loads(done.stdout) == []


def test_help_loads_no_third_party_package(env: dict[str, str]) -> None:
    code, loaded, out = probe(env, "--help", names=(*HEAVY, "pydantic", "yaml", "tinydb"))
    assert code == 0
    assert "items" in out and "fetch" in out  # the whole command list
    assert loaded == []


@pytest.mark.parametrize(
    "argv", [("items",), ("items", "--json"), ("sources",), ("sources", "--json"), ("check",)]
)
def test_read_only_commands_load_nothing_of_the_poll_web_app_or_model(
    env: dict[str, str], argv: tuple[str, ...]
) -> None:
    subprocess.run(
        [sys.executable, "-m", "curator", "fetch"], env=env, capture_output=True, check=True
    )
    code, loaded, out = probe(env, *argv, names=(*HEAVY, *NOT_READ_ONLY))
    assert code == 0
    assert loaded == []
    if argv == ("items", "--json"):
        assert [i["title"] for i in json.loads(out)] == [
            "Council approves upgrade of town centre CCTV network"
        ]
    if argv == ("sources",):
        assert out.startswith("local") and " ok " in out


def test_an_unchanged_fetch_starts_no_worker_pool_and_loads_no_reader(
    env: dict[str, str],
) -> None:
    code, loaded, out = probe(env, "fetch", names=("pebble", "curator.parse", "feedparser"))
    assert "1 new" in out
    # The feed was read by the pool's workers: the command's own process started the pool
    # but loaded no reader.
    assert (code, loaded) == (0, ["pebble"])
    code, loaded, out = probe(env, "fetch", names=HEAVY)
    assert code == 0
    assert "not_modified" in out  # the feed answered 304
    assert "pebble" not in loaded and "multiprocessing" not in loaded  # no pool started
    assert "curator.parse" not in loaded and "feedparser" not in loaded and "bs4" not in loaded
    store = TinyDBStore(Path(env["CURATOR_STORE"]))
    assert [i.title for i in store.items()] == [
        "Council approves upgrade of town centre CCTV network"
    ]


def test_the_command_freezes_what_start_up_made_and_a_caller_of_main_does_not(
    env: dict[str, str],
) -> None:
    """Run as the program, `curator` moves the objects its imports made out of the cycle
    collector's way (gc.freeze: about 25 ms of `curator items`); tests and embeddings, which
    pass argv and go on running, keep the collector as they have it."""
    frozen = []
    for call in ("sys.argv = ['curator', 'items']; main()", "main(['items'])"):
        done = subprocess.run(
            [
                sys.executable,
                "-c",
                f"import gc, sys; from curator.cli import main; {call}; "
                "print(gc.get_freeze_count(), file=sys.stderr)",
            ],
            capture_output=True,
            text=True,
            env=env,
            timeout=120,
            check=True,
        )
        frozen.append(int(done.stderr.strip().splitlines()[-1]))
    assert frozen[0] > 10_000 and frozen[1] == 0
