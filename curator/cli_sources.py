"""``curator sources``: each source's health (no action), and OPML in and out.

::

    curator sources [--json]
    curator sources import FILE.opml [--category C] [--class C] [--jurisdiction J]
                                     [--dry-run] [--json]
    curator sources export [--out FILE]

``import`` adds the file's feeds to ``feeds.yaml`` through :mod:`curator.config_edit`
(comments and order kept, validated as ``curator check`` would before anything is written);
``serve`` picks the new sources up by itself.  See :mod:`curator.opml` for what is read and
how duplicates are told.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from curator.exceptions import CuratorError, OpmlError
from curator.types import CATEGORIES, PUBLISHER_CLASSES, Item

if TYPE_CHECKING:
    # The handlers import what they use (`import` and `export`: ruamel.yaml, lxml), so that
    # `curator --help` or `curator sources` loads neither.
    from curator import opml
    from curator.config import Config
    from curator.core import Curator

    Command = Callable[[Curator, argparse.Namespace], int]


def _read(path: str) -> bytes:
    try:
        return Path(path).read_bytes()
    except FileNotFoundError:
        raise OpmlError(path, None, "no such file") from None
    except IsADirectoryError:
        raise OpmlError(path, None, "is a folder; give the OPML file itself") from None
    except OSError as e:
        raise OpmlError(path, None, f"cannot read it: {e.strerror or e}") from None


def _jurisdiction(text: str) -> str:
    from curator.config import JURISDICTION_CODE

    code = text.strip().upper()
    if not JURISDICTION_CODE.match(code):
        raise argparse.ArgumentTypeError(
            f"{text!r}: expected a short code such as UK, US, EU or GB-SCT"
        )
    return code


def cmd_import(cur: Curator, args: argparse.Namespace) -> int:
    from filelock import Timeout

    from curator import config_edit, opml

    document = opml.parse(_read(args.file), args.file)
    path = Path(cur.config.path)
    result = opml.plan(
        document,
        cur.config.sources,
        category=args.category,
        publisher_class=args.publisher_class,
        jurisdiction=args.jurisdiction,
    )
    entries = [a.entry for a in result.added]
    note = (
        f"Imported from {Path(args.file).name} on {cur.clock():%Y-%m-%d} (curator sources import)"
    )

    def change(doc: Any) -> None:
        opml.add_to_document(doc, entries, note)

    written = False
    if entries:
        if args.dry_run:
            config_edit.preview(path, change)  # validated as a real import would be
        else:
            try:
                config_edit.edit(path, change)
            except Timeout:
                raise CuratorError(
                    f"{path} is being saved by someone else (its lock is held); try again"
                ) from None
            written = True
    if args.json:
        json.dump(_plan_json(result, written, str(path)), sys.stdout, indent=2, ensure_ascii=False)
        sys.stdout.write("\n")
        return 0
    _print_plan(result, written, args.dry_run, path, args.file)
    return 0


def _plan_json(result: opml.ImportPlan, written: bool, path: str) -> dict[str, Any]:
    return {
        "added": [
            {**a.entry, "line": a.feed.line, "folders": list(a.feed.folders)} for a in result.added
        ],
        "skipped": [
            {
                "title": s.feed.title,
                "url": s.feed.xml_url,
                "line": s.feed.line,
                "reason": s.reason,
                "existing": s.existing,
            }
            for s in result.skipped
        ],
        "ignored": [{"title": i.title, "line": i.line, "reason": i.reason} for i in result.ignored],
        "folders": {f: result.folder_use.get(f, "ignored") for f in result.folders},
        "written": written,
        "config": path,
    }


def _print_plan(
    result: opml.ImportPlan, written: bool, dry_run: bool, path: Path, name: str
) -> None:
    width = max((len(a.source_id) for a in result.added), default=8) + 2
    for a in result.added:
        e = a.entry
        detail = f"category {e['category']}, class {e.get('class', 'unset')}"
        print(f"add     {a.source_id:<{width}}{e['name']}  <{e['url']}>  ({detail})")
    for s in result.skipped:
        print(f"skip    {name}:{s.feed.line}: {s.feed.title} <{s.feed.xml_url}>: {s.reason}")
    for i in result.ignored:
        print(f"ignore  {name}:{i.line}: {i.title or '(untitled)'}: {i.reason}")
    for folder in result.folders:
        use = result.folder_use.get(folder)
        print(
            f"folder  {folder!r}: "
            + (f"sets {use}" if use else "a reader's folder; not used (see --category, --class)")
        )
    added = len(result.added)
    summary = f"{added} to add, {len(result.skipped)} skipped, {len(result.ignored)} ignored"
    if dry_run:
        print(f"{summary}; dry run: {path} was not changed")
    elif written:
        print(f"{summary}; {path} updated (comments and order kept)")
    else:
        print(f"{summary}; nothing new, {path} unchanged")
    unclassified = [a.source_id for a in result.added if "class" not in a.entry]
    if unclassified and not dry_run:
        print(
            f"note: {len(unclassified)} new source(s) have no class: set `class:` in "
            f"{path.name} or on the Sources page ({', '.join(PUBLISHER_CLASSES)})",
            file=sys.stderr,
        )


def cmd_export(cur: Curator, args: argparse.Namespace) -> int:
    from curator import config_edit, opml

    result = opml.export(cur.config, cur.clock())
    if args.out:
        try:
            config_edit.write_text(Path(args.out), result.data.decode("utf-8"))
        except OSError as e:
            raise OpmlError(args.out, None, f"cannot write it: {e.strerror or e}") from None
        print(f"wrote {args.out}: {len(result.written)} feeds", file=sys.stderr)
    else:
        sys.stdout.buffer.write(result.data)
        sys.stdout.flush()
    for source_id, why in result.left_out:
        print(f"left out {source_id}: {why}", file=sys.stderr)
    return 0


def warn_unclassified(cfg: Config) -> None:
    """``curator check``: name the sources without ``class`` (they are "unclassified": no
    class filter selects their items)."""
    missing = [s.id for s in cfg.sources if s.publisher_class is None]
    if missing:
        shown = ", ".join(missing[:10]) + (
            f" and {len(missing) - 10} more" if len(missing) > 10 else ""
        )
        print(
            f"warning: {cfg.path}: {len(missing)} source(s) have no `class` ({shown}): set it "
            f"to one of {', '.join(PUBLISHER_CLASSES)} so the publisher filters can select them",
            file=sys.stderr,
        )


def publisher_json(item: Item, cfg: Config) -> dict[str, str | None]:
    """``class`` and ``jurisdiction`` of an item for ``curator items --json`` (its first
    source's as configured now, else the values it was made with: curator.publisher)."""
    from curator import publisher

    who = publisher.of(item, publisher.Classes.of_config(cfg).lookup())
    return {"class": who.publisher_class, "jurisdiction": who.jurisdiction}


def register(sub: Any, health: Command) -> None:
    """``sources`` with its optional actions; ``health`` is the no-action command."""
    s = sub.add_parser(
        "sources",
        help="each source's health; import or export OPML",
        description="Without an action: each source's health. With one: OPML in or out.",
    )
    s.add_argument("--json", action="store_true", help="the health table as JSON")
    s.set_defaults(func=health)
    actions = s.add_subparsers(dest="sources_command", metavar="ACTION")
    i = actions.add_parser("import", help="add the feeds of an OPML file to feeds.yaml")
    i.add_argument("file", metavar="FILE.opml")
    i.add_argument("--category", choices=list(CATEGORIES), help="for every new source")
    i.add_argument(
        "--class",
        dest="publisher_class",
        choices=list(PUBLISHER_CLASSES),
        help="publisher class for every new source",
    )
    i.add_argument(
        "--jurisdiction", type=_jurisdiction, metavar="J", help="for every new source (default UK)"
    )
    i.add_argument("--dry-run", action="store_true", help="show what would be added; write nothing")
    i.add_argument("--json", action="store_true", help="print the report as JSON")
    i.set_defaults(func=cmd_import)
    e = actions.add_parser("export", help="write the sources as OPML 2.0 for a feed reader")
    e.add_argument("--out", metavar="FILE", help="write to FILE (default: standard output)")
    e.set_defaults(func=cmd_export)
