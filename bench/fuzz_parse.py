"""Fuzz parse + normalize with atheris (libFuzzer), seeded from the shared corpus.

    python bench/fuzz_parse.py [--seconds 300 | --runs N] [--workdir DIR] [--timeout 20]
                               [--max-len 16384]

Each input is one fetched document: its first byte picks the source kind and the declared
content type, the rest is the body.  It goes through :func:`curator.parse.parse`, every entry
through :func:`curator.normalize.normalize`, and, for pages, :func:`page_metadata` too, as a
poll and "Add a link" would.  A ParseError is the expected answer to bad input; any other
exception is a crash.  Crashes are saved under ``WORKDIR/crashes/`` (one file per distinct
exception type and place) and the run goes on; a document that takes longer than
``--timeout`` seconds is a hang, which libFuzzer saves as ``timeout-*`` and stops on.  The run
ends by itself after ``--seconds`` or ``--runs`` and prints what it found.  Every crash found
belongs in ``tests/test_parse_fuzz_regressions.py`` once fixed.

Needs ``pip install -e '.[bench]'`` (atheris).  Not a test: it prints figures.
"""

from __future__ import annotations

import argparse
import hashlib
import sys
import tempfile
import traceback
from datetime import UTC, datetime
from pathlib import Path

import atheris

HERE = Path(__file__).resolve().parent
CORPUS = HERE.parent.parent / "shared" / "corpus"

with atheris.instrument_imports():
    from curator import normalize
    from curator.config import Source
    from curator.exceptions import ParseError
    from curator.parse import page_metadata, parse
    from curator.types import Fetched

#: What the first byte of an input selects: (source kind, Content-Type sent with the body).
KINDS: tuple[tuple[str, str], ...] = (
    ("feed", "application/rss+xml"),
    ("feed", "application/atom+xml"),
    ("feed", "application/feed+json"),
    ("feed", "text/xml; charset=iso-8859-1"),
    ("feed", ""),
    ("page", "text/html; charset=utf-8"),
    ("page", "text/html"),
    ("arxiv", "application/atom+xml"),
    ("crossref", "application/json"),
)
NOW = datetime(2026, 1, 1, tzinfo=UTC)
URL = "https://fuzz.example/feed"


def one_document(data: bytes) -> None:
    """Parse and normalize one input as a poll would; only ParseError may come out."""
    if not data:
        return
    kind, content_type = KINDS[data[0] % len(KINDS)]
    body = data[1:]
    headers = {"content-type": content_type} if content_type else {}
    fetched = Fetched(source_id="fuzz", url=URL, status=200, headers=headers, content=body)
    source = Source(id="fuzz", name="Fuzz", url=URL, kind=kind)  # type: ignore[arg-type]
    try:
        parsed = parse(fetched, source)
    except ParseError:
        return
    for raw in parsed.entries:
        normalize.normalize(raw, source_id="fuzz", feed_url=URL, now=NOW)
    if kind == "page":
        try:
            page_metadata(body, url=URL, headers=headers)
        except ParseError:
            return


class Recorder:
    """Saves each distinct crash once and lets the fuzzer go on."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.seen: set[str] = set()

    def __call__(self, data: bytes) -> None:
        try:
            one_document(data)
        except Exception as e:
            frame = traceback.extract_tb(e.__traceback__)[-1]
            signature = f"{type(e).__name__} at {Path(frame.filename).name}:{frame.lineno}"
            if signature not in self.seen:
                self.seen.add(signature)
                name = hashlib.sha1(data).hexdigest()[:12]
                (self.folder / f"crash-{name}.bin").write_bytes(data)
                (self.folder / f"crash-{name}.txt").write_text(
                    signature + "\n\n" + "".join(traceback.format_exception(e))
                )
                print(f"\nCRASH {signature} -> crash-{name}.bin", file=sys.stderr, flush=True)


def seed(folder: Path, max_len: int) -> int:
    """Corpus files as inputs: a kind byte (feed or page, as the file is) and the bytes."""
    count = 0
    for sub, first in (("feeds", 0), ("html", 5)):
        for path in sorted((CORPUS / sub).iterdir()):
            data = path.read_bytes()[:max_len]
            kind = 2 if path.suffix == ".json" else first
            (folder / f"{sub}-{path.name}").write_bytes(bytes([kind]) + data)
            count += 1
            if "arxiv" in path.name:
                (folder / f"arxiv-{path.name}").write_bytes(bytes([7]) + data)
                count += 1
    return count


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seconds", type=int, default=300, help="stop after this long")
    ap.add_argument("--runs", type=int, default=0, help="stop after this many inputs instead")
    ap.add_argument("--workdir", type=Path, default=None, help="keeps the grown corpus")
    ap.add_argument("--timeout", type=int, default=20, help="seconds before an input is a hang")
    ap.add_argument("--max-len", type=int, default=16 * 1024, help="longest input tried")
    args = ap.parse_args()
    work = args.workdir or Path(tempfile.mkdtemp(prefix="fuzz-parse-"))
    corpus, crashes = work / "corpus", work / "crashes"
    corpus.mkdir(parents=True, exist_ok=True)
    crashes.mkdir(exist_ok=True)
    seeds = seed(corpus, args.max_len)
    recorder = Recorder(crashes)
    options = [
        f"-timeout={args.timeout}",
        f"-max_len={args.max_len}",
        f"-artifact_prefix={crashes}/",
        "-rss_limit_mb=4096",
        "-print_final_stats=1",
        f"-runs={args.runs}" if args.runs else f"-max_total_time={args.seconds}",
    ]
    print(f"fuzzing parse + normalize: {seeds} seeds, work folder {work}", flush=True)
    # libFuzzer ends the process itself (stat::number_of_executed_units is the count of
    # inputs run); each crash was printed as found and is in ``crashes/``.
    atheris.Setup([sys.argv[0], *options, str(corpus)], recorder)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
