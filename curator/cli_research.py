"""``curator research …``: research metadata on demand (issue 12).

``curator research enrich [--item ID]... [--json]`` looks up, now, the landing page and
Crossref record of research items that lack authors, venue, DOI, date or open-access status
(or of the items named, whatever they have), within ``research.per_run`` look-ups, and says
what it did.  The look-ups are cached in the store, so running it again costs nothing
until a failed look-up is due again (``research.retry_failed``).
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import TYPE_CHECKING, Any

from curator.exceptions import UnknownItem

if TYPE_CHECKING:
    from curator.core import Curator


def register(sub: Any) -> None:
    """Add ``research`` and its actions to the CLI's subparsers."""
    s = sub.add_parser("research", help="research items' metadata (authors, venue, DOI …)")
    actions = s.add_subparsers(dest="research_command", metavar="ACTION")
    actions.required = True
    e = actions.add_parser(
        "enrich", help="look up landing pages and Crossref for research items lacking metadata"
    )
    e.add_argument(
        "--item",
        action="append",
        metavar="ID",
        help="only this item, whatever it already has (repeatable)",
    )
    e.add_argument("--json", action="store_true", help="print the report as JSON")
    s.set_defaults(func=cmd_research)


def cmd_research(cur: Curator, args: argparse.Namespace) -> int:
    ids = args.item or None
    for item_id in ids or ():
        if cur.store.get_item(item_id) is None:
            raise UnknownItem(item_id)

    async def run() -> Any:
        try:
            return await cur.enrich_research(ids)
        finally:
            await cur.aclose()

    import asyncio  # only this command's: read-only commands do not load it

    report = asyncio.run(run())
    if report.enriched:
        cur.changed()
    if args.json:
        json.dump(report.as_dict(), sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        d = report.as_dict()
        print(
            f"{d['items']} research items looked at: {d['enriched']} enriched; "
            f"{d['fetched']} look-ups made ({d['failed']} failed), {d['cached']} from the cache"
            + (
                f"; {d['deferred']} left for the next run (research.per_run)"
                if d["deferred"]
                else ""
            )
        )
    return 0
