"""Mutation testing of the security- and data-critical modules: how many small, wrong changes
to each module would its own tests notice?

    python bench/mutation.py                       # all six modules, one after the other
    python bench/mutation.py normalize dedupe      # some of them
    python bench/mutation.py --jobs 2 dedupe       # mutants run two at a time
    python bench/mutation.py --sample 200 store    # a seeded random 200 of store's mutants

Uses mutmut (``pip install -e '.[bench]'``).  Each module runs in its own copy of the project
under ``bench/out/mutation/<module>/`` with only the test files that are about it (the table
below), so a mutant is judged by the tests that should catch it, and nothing in the checkout is
touched.  Prints, per module, the mutants killed out of those tried and the score; the
survivors, one per line, are in ``bench/out/mutation/<module>/survivors.txt`` (show one with
``cd bench/out/mutation/<module> && mutmut show NAME``).  A score is a figure, not a test: the
script exits 0 however low it is, 1 only when mutmut itself could not run.

CPU: about 1.5 s per mutant with the slower test files; ``dedupe`` has ~225 mutants and takes
about a minute and a half, ``normalize`` ~900 and about ten.  ``auth``, ``store`` and
``digests`` have 1,000 to 3,000 mutants each whose tests start servers and sign in, several
hours each on two cores: ``--sample N`` tries a random N of them (seeded, so the same N every
time for the same code) and prints the score with its 95 % Wilson interval, the usual way to
estimate a mutation score when trying every mutant costs too much.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
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
        (
            "tests/test_web.py",
            "tests/test_web_hostile.py",
            "tests/test_publish_web.py",
            "tests/test_security_layers.py",
        ),
    ),
    "auth": (
        "curator/auth.py",
        (
            "tests/test_auth.py",
            "tests/test_web.py",
            "tests/test_web_hostile.py",
            "tests/test_web_admin.py",
        ),
    ),
    "normalize": (
        "curator/normalize.py",
        ("tests/test_normalize.py", "tests/test_review.py", "tests/test_properties.py"),
    ),
    "dedupe": ("curator/dedupe.py", ("tests/test_dedupe.py",)),
    "store": (
        "curator/store.py",
        (
            "tests/test_store.py",
            "tests/test_store_damage.py",
            "tests/test_backup.py",
            "tests/test_store_contract.py",
            # the tables added with issues 11 and 12: kept entries, the model, research ids
            "tests/test_workbench.py",
            "tests/test_learn.py",
            "tests/test_research.py",
        ),
    ),
    "digests": (
        "curator/digests.py",
        ("tests/test_digests.py", "tests/test_digests_contract.py"),
    ),
}
COPIED = ("curator", "tests", "bench", "pyproject.toml", "feeds.yaml")  # bench: tests import it

#: Tests that cannot run inside mutmut's process: they set a file-size limit of 0 on the
#: process for a moment (a full disk), and mutmut writes its log to a file meanwhile.
IN_PROCESS_UNSAFE = tuple(
    f"--deselect=tests/test_web_hostile.py::{name}"
    for name in (
        "test_sign_out_ends_the_session_when_the_store_cannot_be_written",
        "test_a_refused_approval_is_a_503_and_is_not_logged",
    )
)


#: mutmut's exit codes that mean the tests noticed the mutant (killed, or it ran out of time).
NOTICED = frozenset({1, 3, 24, -24, 36, 152, 255})
NO_SUCH_MUTANT = "__curator_no_such_mutant__"


@dataclass(frozen=True)
class Score:
    module: str
    killed: int
    total: int
    timeout: int
    seconds: float
    population: int = 0  # all the module's mutants, when ``total`` is a sample of them

    @property
    def percent(self) -> float:
        return 100.0 * (self.killed + self.timeout) / self.total if self.total else 0.0

    def interval(self) -> tuple[float, float]:
        """The 95 % Wilson score interval of the share noticed, in percent."""
        n = self.total
        if not n:
            return (0.0, 0.0)
        z = 1.96
        p = (self.killed + self.timeout) / n
        centre = (p + z * z / (2 * n)) / (1 + z * z / n)
        half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
        return (100.0 * max(0.0, centre - half), 100.0 * min(1.0, centre + half))


def _prepare(name: str, path: str, tests: tuple[str, ...]) -> Path:
    """A fresh copy of the project for one module, with mutmut's settings for it."""
    work = OUT / name
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    for item in COPIED:
        source = ROOT / item
        if source.is_dir():
            shutil.copytree(
                source, work / item, ignore=shutil.ignore_patterns("__pycache__", "out")
            )
        else:
            shutil.copy2(source, work / item)
    (work / "setup.cfg").write_text(
        "[mutmut]\n"
        "source_paths=curator\n"
        f"only_mutate={path}\n"
        "also_copy=\n    bench\n"  # tests import bench/ (the ranking bench's label reader)
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


def _exit_codes(work: Path, path: str) -> dict[str, int | None]:
    meta = work / "mutants" / f"{path}.meta"
    codes: dict[str, int | None] = json.loads(meta.read_text(encoding="utf-8"))["exit_code_by_key"]
    return codes


def run_sample(name: str, jobs: int, size: int, seed: int) -> Score | None:
    """Generate every mutant, then run a seeded random ``size`` of them."""
    path, tests = MODULES[name]
    work = _prepare(name, path, tests)
    log = work / "mutmut.log"
    started = time.monotonic()
    # mutmut generates all mutants and times the tests before it filters by name; a name that
    # matches nothing stops it right there (by an assertion: its exit code says nothing).
    _mutmut(work, "run", "--max-children", str(jobs), NO_SUCH_MUTANT, log=log)
    try:
        everyone = sorted(_exit_codes(work, path))
    except (OSError, KeyError, ValueError):
        print(f"{name}: mutmut made no mutants, see {log.relative_to(ROOT)}", file=sys.stderr)
        return None
    chosen = random.Random(seed).sample(everyone, min(size, len(everyone)))
    if _mutmut(work, "run", "--max-children", str(jobs), *chosen, log=log) != 0:
        print(f"{name}: mutmut failed, see {log.relative_to(ROOT)}", file=sys.stderr)
        return None
    seconds = time.monotonic() - started
    codes = _exit_codes(work, path)
    noticed = [m for m in chosen if codes.get(m) in NOTICED]
    survivors = [m for m in chosen if codes.get(m) not in NOTICED]
    (work / "survivors.txt").write_text(
        "".join(f"{m}: {codes.get(m)}\n" for m in survivors), encoding="utf-8"
    )
    return Score(name, len(noticed), len(chosen), 0, seconds, population=len(everyone))


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
    parser.add_argument(
        "--sample", type=int, default=0, metavar="N", help="try a random N of each module's mutants"
    )
    parser.add_argument("--seed", type=int, default=9, help="the sample's seed (default 9)")
    args = parser.parse_args(argv)
    if shutil.which("mutmut", path=str(Path(sys.executable).parent)) is None:
        print("mutmut is not installed: pip install -e '.[bench]'", file=sys.stderr)
        return 1
    scores: list[Score] = []
    failed = False
    for name in args.modules or list(MODULES):
        if args.sample > 0:
            score = run_sample(name, args.jobs, args.sample, args.seed)
        else:
            score = run(name, args.jobs)
        if score is None:
            failed = True
            continue
        scores.append(score)
        low, high = score.interval()
        sampled = f" (a sample of {score.population})" if score.population else ""
        print(
            f"{MODULES[name][0]:28} killed {score.killed + score.timeout:4} of {score.total:4}"
            f"{sampled}  score {score.percent:5.1f}%  95% {low:.0f}-{high:.0f}%"
            f"  ({score.seconds:.0f} s)",
            flush=True,
        )
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
