"""``curator rules test`` and ``curator rules apply``: the rules workbench on the command line
(:mod:`curator.workbench`)."""

from __future__ import annotations

import argparse
import json
import sys
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from curator.exceptions import ConfigError

if TYPE_CHECKING:
    from curator import workbench
    from curator.core import Curator


def _since(text: str) -> float:
    from curator import config

    try:
        return config.parse_duration(text)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def _n(count: int, word: str, plural: str | None = None) -> str:
    return f"{count:,} {word if count == 1 else plural or word + 's'}"


def _print_change(change: workbench.Change, sign: str) -> None:
    seen = change.entry
    before = f"was {seen.score:g}, {seen.outcome.replace('_', ' ')}"
    print(f"  {sign} {seen.title}")
    when = f"published {seen.published:%Y-%m-%d}"
    print(f"      {seen.source_id} · {when} · score {change.score:g} ({before})")
    label = "kept by" if change.kept else "dropped by"
    print(f"      {label}: {'; '.join(change.deciding()) or 'no terms'}")
    print(f"      {seen.url}")


def cmd_rules_test(cur: Curator, args: argparse.Namespace) -> int:
    from curator import workbench

    if args.rules is None:
        cfg = cur.config
    else:
        try:
            cfg = workbench.load_rules_file(Path(args.rules))
        except ConfigError as e:
            for problem in e.problems:
                print(f"error: {problem}", file=sys.stderr)
            print(
                f"{len(e.problems)} problem(s) in {args.rules}: fix them and try again",
                file=sys.stderr,
            )
            return 2
    since = cur.clock() - timedelta(seconds=args.since)
    entries = cur.store.seen(since)
    damaged = [d for d in cur.store.damage() if d.name.startswith("seen")]
    for d in damaged:  # their entries are not tried: say so, not "none kept yet"
        print(f"error: store: {d}", file=sys.stderr)
    if damaged:
        print(
            "the entries in those files are left out; `curator store repair` restores what "
            "a backup holds",
            file=sys.stderr,
        )
    result = workbench.trial(cfg, entries)
    if args.json:
        json.dump(workbench.trial_json(result), sys.stdout, indent=2, ensure_ascii=False)
        sys.stdout.write("\n")
        return 0
    rules = args.rules or cfg.path
    tried = _n(len(entries), "entry", "entries")
    print(f"The rules of {rules} on {tried} seen since {since:%Y-%m-%d}:")
    keep = cur.config.store.keep_seen
    if args.since > keep:
        print(f"  (entries are kept {keep / 86400:g} days, store.keep_seen: none older exist)")
    if not entries and not damaged:
        print(
            "  no entries are kept yet: polls keep them (store.keep_seen) from now on",
        )
    print(f"\nNewly kept ({len(result.newly_kept)}): the polls left these out")
    for change in result.newly_kept:
        _print_change(change, "+")
    print(f"\nNewly dropped ({len(result.newly_dropped)}): the polls kept these")
    for change in result.newly_dropped:
        _print_change(change, "-")
    print(f"\nUnchanged: {_n(result.unchanged, 'entry', 'entries')}")
    return 0


def cmd_rules_apply(cur: Curator, args: argparse.Namespace) -> int:
    from curator import workbench

    since = cur.clock() - timedelta(seconds=args.since)
    done = workbench.apply(cur.config, cur.store, now=cur.clock(), since=since, stories=cur.stories)
    if done.added or done.merged:
        cur.changed()
    if args.json:
        out: dict[str, Any] = {
            "added": [{"id": i.id, "title": i.title, "url": i.url} for i in done.added],
            "merged": [{"id": i.id, "title": i.title, "url": i.url} for i in done.merged],
            "left": [{"id": s.id, "title": s.title, "why": why} for s, why in done.left],
        }
        json.dump(out, sys.stdout, indent=2, ensure_ascii=False)
        sys.stdout.write("\n")
        return 0
    print(f"added {_n(len(done.added), 'candidate')} to the queue")
    for item in done.added:
        print(f"  + {item.id}  {item.title}")
    for item in done.merged:
        print(f"  = {item.id}  {item.title} (the same story, already pending: source added)")
    for seen, why in done.left:
        print(f"  · {seen.title} (left: {why})")
    return 0


def register(sub: Any) -> None:
    """``curator rules test|apply``."""
    s = sub.add_parser("rules", help="try the keyword rules on the entries of the last days")
    rs = s.add_subparsers(dest="rules_command", metavar="ACTION")
    rs.required = True
    t = rs.add_parser(
        "test",
        help="which kept entries other rules would newly keep or drop (changes nothing)",
    )
    t.add_argument(
        "--rules", metavar="FILE", help="a feeds.yaml-format file to try (default: --config)"
    )
    t.add_argument(
        "--since", type=_since, default=30 * 86400.0, metavar="30d", help="entries seen since"
    )
    t.add_argument("--json", action="store_true")
    t.set_defaults(func=cmd_rules_test)
    a = rs.add_parser(
        "apply", help="add the kept entries the current rules now catch as candidates"
    )
    a.add_argument(
        "--since", type=_since, default=30 * 86400.0, metavar="30d", help="entries seen since"
    )
    a.add_argument("--json", action="store_true")
    a.set_defaults(func=cmd_rules_apply)
