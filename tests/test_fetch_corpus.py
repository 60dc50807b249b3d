"""Every corpus feed served to ONE ``curator fetch`` process, as a user would run it.

Issue 8, item 1: with 8 or more sources the parse ran in a process pool, a ParseError could
not come back from it, and one HTML error page broke every other source of the run with a
traceback and exit 1.  Run from a folder holding a ``curator/`` directory, the workers
imported that instead of the installed package.  This runs the installed console script,
with worker processes, from such a folder, and pins each document's outcome.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from curator.store import TinyDBStore
from tests.feedserver import FeedServer, need_corpus

#: The corpus files Curator cannot read, and why.  Every one is marked ``illformed`` in
#: MANIFEST.tsv but ScriptingNews.json, which is RSS transcribed into JSON (no JSON Feed).
#: Other illformed files are still read, as feedparser reads them; every other file reads.
UNREADABLE = {
    "NetNewsWire__RSParser__ScriptingNews.json": "JSON without a JSON Feed version",
    "NetNewsWire__RSParser__allthis-partial.json": "invalid JSON",
    "feed-rs__rss2__rss_2.0_invalid_1.xml": "no element found",
    "gofeed__empty_feed.xml": "empty body",
    "gofeed__invalid.json": "invalid JSON",
    "kurtmckee-feedparser__encoding__bozo_invalid-bytes-with-bom.xml": "unclosed token",
    "kurtmckee-feedparser__illformed__aaa_illformed.xml": "unclosed token",
    "kurtmckee-feedparser__illformed__rss_empty_document.xml": "no element found",
    "kurtmckee-feedparser__illformed__undeclared_namespace.xml": "unbound prefix",
    "miniflux__xml__iso88591_utf8_mismatch.xml": "no RSS, Atom or JSON Feed document",
    "rss-parser__unrecognized.rss": "not a feed",
}


def _kinds(corpus: Path) -> dict[str, str]:
    rows = (corpus / "MANIFEST.tsv").read_text(encoding="utf-8").splitlines()[1:]
    return {r.split("\t")[0].removeprefix("feeds/"): r.split("\t")[5] for r in rows}


@pytest.mark.slow
def test_the_whole_corpus_through_one_fetch_process(
    feed_server: FeedServer, tmp_path: Path
) -> None:
    corpus = need_corpus()
    files = sorted(p.name for p in (corpus / "feeds").iterdir())
    kinds = _kinds(corpus)
    assert {kinds[f] for f in UNREADABLE} <= {"illformed", "json"}

    work = tmp_path / "work"
    (work / "curator").mkdir(parents=True)
    (work / "curator" / "__init__.py").write_text(
        'raise SystemExit("the curator/ folder in the working directory was imported")\n'
    )
    config = work / "feeds.yaml"
    config.write_text(
        "fetch:\n  jitter: 0\nsources:\n"
        + "".join(
            f"  - id: c{i}\n    name: {name}\n    url: {feed_server.corpus_url('feeds/' + name)}\n"
            "    rules: {keep_all: true}\n"
            for i, name in enumerate(files)
        ),
        encoding="utf-8",
    )
    console = Path(sys.executable).with_name("curator")
    env = {**os.environ, "CURATOR_STORE": str(tmp_path / "store")}
    env.pop("PYTHONPATH", None)
    done = subprocess.run(
        [str(console), "--config", str(config), "fetch"],
        cwd=work,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert "Traceback" not in done.stderr, done.stderr[-3000:]
    assert "was imported" not in done.stderr
    assert done.returncode == 0, done.stderr[-3000:]
    assert f"{len(UNREADABLE)} errors" in done.stdout  # exactly these, counted

    store = TinyDBStore(tmp_path / "store")
    failed = {}
    for i, name in enumerate(files):
        state = store.get_state(f"c{i}")
        assert state is not None and state.last_fetch is not None, name
        if state.last_error:
            failed[name] = state.last_error
    assert set(failed) == set(UNREADABLE)
    for name, why in UNREADABLE.items():
        assert why in failed[name], (name, failed[name])
        assert "Traceback" not in failed[name]
    assert len(store.items()) > 2000
