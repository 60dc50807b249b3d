"""Mutation testing of the security- and data-critical modules: how many small, wrong changes
to each module would its own tests notice?

    python bench/mutation.py                       # all six modules, one after the other
    python bench/mutation.py normalize dedupe      # some of them
    python bench/mutation.py --jobs 2 dedupe       # mutants run two at a time

Uses mutmut (``pip install -e '.[bench]'``).  Each module runs in its own copy of the project
under ``bench/out/mutation/<module>/`` with only the test files that are about it (the table
below), so a mutant is judged by the tests that should catch it, and nothing in the checkout is
touched.  Prints, per module, the mutants killed out of those tried and the score; the
survivors, one per line, are in ``bench/out/mutation/<module>/survivors.txt`` (show one with
``cd bench/out/mutation/<module> && mutmut show NAME``).  A score is a figure, not a test: the
script exits 0 however low it is, 1 only when mutmut itself could not run.

CPU: about 1.5 s per mutant with the slower test files; ``dedupe`` has ~225 mutants and takes
about a minute and a half, ``normalize`` ~900 and about ten.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "bench" / "out" / "mutation"
CORPUS = Path(os.environ.get("CURATOR_CORPUS", ROOT.parent / "shared" / "corpus")).resolve()

#: module → the test files that are about it (the ones whose job it is to notice a mutant).
MODULES: dict[str, tuple[str, tuple[str, ...]]] = {
    "security": (
        "curator/web/_security.py",
        ("tests/test_web.py", "tests/test_web_hostile.py", "tests/test_publish_web.py"),
    ),
    "auth": ("curator/auth.py", ("tests/test_web.py", "tests/test_web_hostile.py")),
    "normalize": (
        "curator/normalize.py",
        ("tests/test_normalize.py", "tests/test_review.py", "tests/test_properties.py"),
    ),
    "dedupe": ("curator/dedupe.py", ("tests/test_dedupe.py",)),
    "store": (
        "curator/store.py",
        ("tests/test_store.py", "tests/test_store_damage.py", "tests/test_backup.py"),
    ),
    "digests": ("curator/digests.py", ("tests/test_digests.py",)),
}
COPIED = ("curator", "tests", "pyproject.toml", "feeds.yaml")

#: Tests that cannot run inside mutmut's process: they set a file-size limit of 0 on the
#: process for a moment (a full disk), and mutmut writes its log to a file meanwhile.
IN_PROCESS_UNSAFE = tuple(
    f"--deselect=tests/test_web_hostile.py::{name}"
    for name in (
        "test_sign_out_ends_the_session_when_the_store_cannot_be_written",
        "test_a_refused_approval_is_a_503_and_is_not_logged",
    )
)


@dataclass(frozen=True)
class Score:
    module: str
    killed: int
    total: int
    timeout: int
    seconds: float

    @property
    def percent(self) -> float:
        return 100.0 * (self.killed + self.timeout) / self.total if self.total else 0.0


def _prepare(name: str, path: str, tests: tuple[str, ...]) -> Path:
    """A fresh copy of the project for one module, with mutmut's settings for it."""
    work = OUT / name
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    for item in COPIED:
        source = ROOT / item
        if source.is_dir():
            shutil.copytree(source, work / item, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(source, work / item)
    (work / "setup.cfg").write_text(
        "[mutmut]\n"
        "source_paths=curator\n"
        f"only_mutate={path}\n"
        "pytest_add_cli_args_test_selection=\n"
        + "".join(f"    {t}\n" for t in tests)
        # no -x: mutmut runs each mutant's tests itself and stops at the first failure
        + "pytest_add_cli_args=\n"
        + "".join(f"    {arg}\n" for arg in ("-p", "no:cacheprovider", "-q", *IN_PROCESS_UNSAFE)),
        encoding="utf-8",
    )
    return work


def _mutmut(work: Path, *args: str, log: Path | None = None) -> int:
    mutmut = Path(sys.executable).with_name("mutmut")
    env = {**os.environ, "CURATOR_CORPUS": str(CORPUS), "PYTHONDONTWRITEBYTECODE": "1"}
    with (log or Path(os.devnull)).open("a", encoding="utf-8") as out:
        done = subprocess.run(
            [str(mutmut), *args],
            cwd=work,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            check=False,
        )
    return done.returncode


def run(name: str, jobs: int) -> Score | None:
    path, tests = MODULES[name]
    work = _prepare(name, path, tests)
    log = work / "mutmut.log"
    started = time.monotonic()
    if _mutmut(work, "run", "--max-children", str(jobs), log=log) != 0:
        print(f"{name}: mutmut failed, see {log.relative_to(ROOT)}", file=sys.stderr)
        return None
    seconds = time.monotonic() - started
    _mutmut(work, "export-cicd-stats", log=log)
    stats = json.loads((work / "mutants" / "mutmut-cicd-stats.json").read_text())
    survivors = subprocess.run(
        [str(Path(sys.executable).with_name("mutmut")), "results"],
        cwd=work,
        capture_output=True,
        text=True,
        check=False,
    ).stdout
    (work / "survivors.txt").write_text(survivors, encoding="utf-8")
    return Score(name, stats["killed"], stats["total"], stats["timeout"], seconds)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("modules", nargs="*", choices=list(MODULES), metavar="MODULE")
    parser.add_argument("--jobs", type=int, default=1, help="mutants at once (default 1)")
    args = parser.parse_args(argv)
    if shutil.which("mutmut", path=str(Path(sys.executable).parent)) is None:
        print("mutmut is not installed: pip install -e '.[bench]'", file=sys.stderr)
        return 1
    scores: list[Score] = []
    failed = False
    for name in args.modules or list(MODULES):
        score = run(name, args.jobs)
        if score is None:
            failed = True
            continue
        scores.append(score)
        print(
            f"{MODULES[name][0]:28} killed {score.killed + score.timeout:4} of {score.total:4}"
            f"  score {score.percent:5.1f}%  ({score.seconds:.0f} s)",
            flush=True,
        )
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
