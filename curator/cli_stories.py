"""``curator split ID MEMBER``: "not the same story" from the command line (README, "Same
story, one item")."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from curator.core import Curator


def cmd_split(cur: Curator, args: argparse.Namespace) -> int:
    from curator.cli import _editor_name

    story, own = cur.review.split(args.id, args.member, by=_editor_name(args))
    print(f"split {own.id} (pending)  {own.title[:90]}")
    print(f"from  {story.id} ({story.status})  {story.title[:90]}")
    return 0


def register(sub: Any) -> None:
    """Add ``split`` to the ``curator`` command's subparsers."""
    s = sub.add_parser(
        "split",
        help="take a telling out of an item's story: it becomes an item of its own again",
    )
    s.add_argument("id", metavar="ID", help="the story's item")
    s.add_argument(
        "member",
        metavar="MEMBER",
        help="the telling's item id or link (see `items --json`, also_in)",
    )
    s.add_argument("--by", metavar="NAME", help="editor name (default $CURATOR_EDITOR or login)")
    s.set_defaults(func=cmd_split)
