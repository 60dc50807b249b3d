"""``curator migrate``: bring a PostgreSQL database to this version's schema.

Runs before the store is opened (an unmigrated database cannot be), so :func:`curator.cli.main`
calls :func:`run_early` ahead of building the Curator.  ``curator serve`` migrates too, so a
new instance started against an older database brings it up to date itself; migrating twice
is a no-op, and several instances migrating at once take turns (an advisory lock).
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

__all__ = ["migrate_database", "register", "run_early"]


def register(sub: Any) -> None:
    s = sub.add_parser(
        "migrate",
        help="create or update the PostgreSQL schema (CURATOR_DATABASE_URL or --store URL)",
        description="Apply the schema migrations a PostgreSQL database lacks, in order. "
        "The embedded store (a directory) needs none.",
    )
    s.set_defaults(func=_after, early=migrate_database)


def migrate_database(args: argparse.Namespace) -> int:
    """The whole of ``curator migrate``: exit status 0 when the schema is current."""
    from curator.store import is_database_url  # the store when a command runs, not on import

    location = str(args.store)
    if not is_database_url(location):
        print(f"{location} is a store directory: it needs no migration")
        return 0
    from curator.store.postgres import migrate, redact

    applied = migrate(location)
    for step in applied:
        print(f"applied migration {step}", file=sys.stderr)
    print(f"{redact(location)}: schema up to date ({len(applied)} migration(s) applied)")
    return 0


def run_early(args: argparse.Namespace) -> int | None:
    """What must happen before the store opens: ``migrate`` itself, and the migration that
    ``serve`` runs at start; None to go on to the command."""
    from curator.store import is_database_url

    early = getattr(args, "early", None)
    if early is not None:
        return int(early(args))
    if args.command == "serve" and is_database_url(str(args.store)):
        from curator.store.postgres import migrate

        migrate(str(args.store))
    return None


def _after(cur: object, args: argparse.Namespace) -> int:
    raise AssertionError("migrate runs before the store opens (run_early)")
