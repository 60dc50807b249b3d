"""``curator store copy --from SRC --to DST [--replace]``: move a whole store, and prove it.

SRC and DST are each a store directory or a ``postgresql://`` URL (a password is better kept
in ``PGPASSWORD`` or ``~/.pgpass`` than on the command line).  The copy runs in one
transaction of the target (:func:`curator.store.copy.copy`), then both sides are read again
and compared; the table printed says, per table, the entries on each side and the checksum.
Exit 0 when every table matches, 1 when one does not (named) or the copy was refused, 2 for
the same store on both sides, a --from that is not a store directory, or a --to directory that
holds other files.

It needs neither feeds.yaml nor ``--store``: ``main`` runs it before loading either (the
``standalone`` default), so moving a store never opens, or creates, ``./store``.
"""

from __future__ import annotations

import argparse
import re
import shutil
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from curator.exceptions import CuratorError

if TYPE_CHECKING:  # the store is imported when the command runs: `curator --help` stays quick
    from curator.store import Store
    from curator.store.copy import Report

__all__ = ["cmd_copy", "register"]


def register(sub: Any) -> None:
    """Add ``copy`` to the ``store`` command's subparsers *sub*."""
    c = sub.add_parser(
        "copy",
        help="copy a whole store into another (directory or postgresql:// URL) and verify it",
    )
    c.add_argument(
        "--from",
        dest="copy_from",
        required=True,
        metavar="SRC",
        help="the store to copy: a directory or a postgresql:// URL",
    )
    c.add_argument(
        "--to",
        dest="copy_to",
        required=True,
        metavar="DST",
        help="where to copy it: a directory or a postgresql:// URL (must be empty)",
    )
    c.add_argument(
        "--replace",
        action="store_true",
        help="empty the target first, in the same transaction (everything it holds is lost)",
    )
    c.set_defaults(standalone=cmd_copy, func=lambda cur, args: cmd_copy(args))


def _shown(location: str) -> str:
    """*location* fit to print: a URL's password replaced by ``***``."""
    return re.sub(r"^(postgres(?:ql)?://[^:/@]*:)[^@]*@", r"\1***@", location)


def _is_url(location: str) -> bool:
    from curator.store import is_database_url

    return is_database_url(location)


def _not_a_store(src: str, dst: str) -> str | None:
    """What is wrong with the directories given, if anything: opening a store directory makes
    it, so a mistyped --from would otherwise copy an empty store, and a --to naming a folder
    of other files would fill it with store files."""
    if not _is_url(src) and not (Path(src) / "items").is_dir():
        return f"--from {src}: not a Curator store directory (it has no items/ folder)"
    target = Path(dst)
    if _is_url(dst) or not target.exists() or (target / "items").is_dir():
        return None
    if not target.is_dir() or any(target.iterdir()):
        return f"--to {dst}: neither a Curator store directory nor an empty directory"
    return None


def _open(location: str) -> Store:
    from curator.store import open_store

    try:
        return open_store(location)
    except ImportError as e:  # psycopg missing: a clear line, not a traceback
        raise CuratorError(
            f"{_shown(location)}: PostgreSQL support is not available ({e}); install "
            "Curator with its PostgreSQL dependencies"
        ) from None


def cmd_copy(args: argparse.Namespace) -> int:
    """Run the copy; print progress on stderr, the verification table on stdout."""
    from curator.store.copy import copy, same_store

    mistake = _not_a_store(args.copy_from, args.copy_to)
    if mistake:
        print(f"curator store copy: error: {mistake}", file=sys.stderr)
        return 2
    # Opening a store directory makes it: one made for a copy that fails is removed again.
    made = None if _is_url(args.copy_to) else Path(args.copy_to)
    if made is not None and made.exists():
        made = None
    try:
        src = _open(args.copy_from)
        dst = _open(args.copy_to)
        if same_store(src, dst):
            print(
                f"curator store copy: error: {src.location} is both --from and --to",
                file=sys.stderr,
            )
            return 2
        print(f"copying {src.location} to {dst.location}", file=sys.stderr)
        report = copy(src, dst, replace=args.replace, progress=_progress)
    except CuratorError as e:
        _remove(made)
        print(f"error: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        _remove(made)
        print(
            "interrupted: the directory made for the copy is removed"
            if made is not None
            else "interrupted: a copy that had not finished is rolled back; run it again "
            "(with --replace if it had finished)",
            file=sys.stderr,
        )
        return 130
    _print_report(report)
    if report.ok:
        return 0
    print(
        f"error: the copy differs from the source in: {', '.join(report.mismatched)}. "
        "Is something writing to the target (a `curator serve` on it)? Stop it and copy "
        "again with --replace; otherwise keep using the source and report this as a bug",
        file=sys.stderr,
    )
    return 1


def _remove(made: Path | None) -> None:
    """Remove the store directory this command made, after a copy that did not happen."""
    if made is not None:
        shutil.rmtree(made, ignore_errors=True)


def _progress(table: str, count: int) -> None:
    print(f"  {table:<15} {count:>9}", file=sys.stderr, flush=True)


def _print_report(report: Report) -> None:
    print(f"{'table':<15} {'source':>9} {'target':>9}  sha-256 (first 16 hex digits)")
    for t in report.tables:
        sha = t.source_sha256[:16]
        if t.ok:
            mark = "ok"
        else:
            sha += f" != {t.target_sha256[:16]}"
            mark = "DIFFERS"
        print(f"{t.table:<15} {t.source_count:>9} {t.target_count:>9}  {sha}  {mark}")
    total = sum(t.source_count for t in report.tables)
    verdict = "verified" if report.ok else "NOT verified"
    tables = len(report.tables)
    print(f"{report.source} -> {report.target}: {total} entries in {tables} tables, {verdict}")
