"""The ``curator`` command: parse arguments, call the library, print, map errors to exit codes.

Exit codes: 0 done (a fetch run that completed is 0 even when some sources failed); 1 the
request could not be carried out (unknown item, store or mail trouble); 2 the command line or
the configuration is wrong.  A :class:`~curator.exceptions.CuratorError` is printed as one clear
message, never a traceback.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import getpass
import json
import logging
import math
import os
import sys
from collections.abc import Iterator, Sequence
from dataclasses import asdict
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

# Only what every command needs is imported here: a command's handler imports the rest (the
# pipeline, httpx, the store's backends...), so `curator --help` or `curator items` does not
# pay for a poll's modules (tests/test_cli_imports.py guards it).
from curator import (
    __version__,
    cli_db,
    cli_model,
    cli_research,
    cli_rules,
    cli_sources,
    cli_store_copy,
    cli_stories,
    stories,
)
from curator.exceptions import (
    ConfigError,
    CuratorError,
    ItemError,
    StoreError,
    UnknownItem,
    UnknownSource,
)
from curator.types import Item, NearMiss, PollReport, SourceReport, SourceState, Status

if TYPE_CHECKING:
    from curator import config, learn
    from curator.core import Curator
    from curator.learn import Ranked
    from curator.store import Repaired, TinyDBStore

log = logging.getLogger("curator.cli")


def _editor_name(args: argparse.Namespace) -> str:
    return str(args.by or os.environ.get("CURATOR_EDITOR") or getpass.getuser())


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def item_json(
    item: Item, *, learned: float | None = None, rank: float | None = None
) -> dict[str, Any]:
    """The public JSON shape of an item (``curator items --json``); ``learned`` is the
    learned probability (None before a model exists), ``rank`` the queue's blended order
    value (0-1, higher first; see :func:`curator.learn.rank_items`)."""
    return {
        "id": item.id,
        "url": item.url,
        "title": item.title,
        "summary": item.summary_text,
        "summary_html": item.summary,
        "sources": list(item.sources),
        "urls": list(item.urls),
        "category": item.category,
        "published": _iso(item.published),
        "first_seen": _iso(item.first_seen),
        "score": item.score,
        "matched": [asdict(m) for m in item.matched],
        "why": item.why,
        "status": item.status,
        "reviewed_by": item.reviewed_by,
        "reviewed_at": _iso(item.reviewed_at),
        "note": item.note,
        "original": dict(item.original),
        "digest_id": item.digest_id,
        # Research metadata (issue 12): null where unknown.
        "authors": list(item.authors),
        "doi": item.doi,
        "arxiv_id": item.arxiv_id,
        "venue": item.venue,
        "publication_date": item.publication_date,
        "open_access": item.open_access,
        "also_in": stories.also_in(item),
        "learned": learned,
        "rank": rank,
    }


def state_json(source: config.Source, state: SourceState | None) -> dict[str, Any]:
    s = state or SourceState(source.id)
    return {
        "id": source.id,
        "name": source.name,
        "url": source.url,
        "kind": source.kind,
        "category": source.category,
        "class": source.publisher_class,
        "jurisdiction": source.jurisdiction,
        "enabled": source.enabled,
        "health": _health(source, state),
        "last_fetch": _iso(s.last_fetch),
        "last_success": _iso(s.last_success),
        "last_new": _iso(s.last_new),
        "last_status": s.last_status,
        "consecutive_errors": s.consecutive_errors,
        "last_error": s.last_error,
        "warning": s.warning,
        "next_due": _iso(s.next_due),
        "entries_last": s.entries_last,
        "matched_last": s.matched_last,
        "items_total": s.items_total,
        "gone": s.gone,
        "permanent_redirect": s.permanent_redirect,
    }


def _health(source: config.Source, state: SourceState | None) -> str:
    if not source.enabled:
        return "disabled"
    if state is None or state.last_fetch is None:
        return "never polled"
    if state.gone and state.config_hash == source.config_hash():
        return "gone"
    if state.consecutive_errors:
        return f"failing ({state.consecutive_errors})"
    if state.permanent_redirect:
        return "moved"
    if state.warning:
        return "ok (warning)"
    return "ok"


class _Progress:
    """A one-line progress display on a terminal; silent otherwise (logs carry the events)."""

    def __init__(self, total: int, stream: TextIO) -> None:
        self.total = total
        self.done = 0
        self.stream = stream
        self.live = stream.isatty()

    def __call__(self, report: SourceReport) -> None:
        self.done += 1
        if self.live:
            self.stream.write(
                f"\r\033[K[{self.done}/{self.total}] {report.source_id}: {report.outcome}"
            )
            self.stream.flush()

    def close(self) -> None:
        if self.live and self.done:
            self.stream.write("\r\033[K")
            self.stream.flush()


def _n(count: int, word: str, plural: str | None = None) -> str:
    return f"{count} {word}" if count == 1 else f"{count} {plural or word + 's'}"


def _print_poll(report: PollReport, out: TextIO) -> None:
    width = max((len(r.source_id) for r in report.sources), default=10) + 2
    for r in sorted(report.sources, key=lambda r: r.source_id):
        if r.outcome == "ok":
            detail = (
                f"{r.entries} entries, {r.matched} matched, {r.new} new, {r.duplicates} duplicates"
            )
            if r.dropped:
                detail += f", {r.dropped} without a usable link"
            if r.warning:
                detail += f" (warning: {r.warning})"
        elif r.outcome in ("not_modified", "unchanged"):
            detail = "not modified" if r.outcome == "not_modified" else "unchanged"
        else:
            detail = r.error or r.outcome
        out.write(f"{r.source_id:<{width}}{r.outcome:<13} {detail}\n")
    out.write(
        f"\n{_n(len(report.sources), 'source')}: {report.fetched} fetched, "
        f"{report.not_modified} not modified, {_n(report.total('entries'), 'entry', 'entries')}, "
        f"{report.total('matched')} matched, {report.total('new')} new, "
        f"{_n(report.total('duplicates'), 'duplicate')}, {_n(report.errors, 'error')}\n"
    )


def _report_json(report: PollReport) -> dict[str, Any]:
    return {
        "sources": [asdict(r) for r in report.sources],
        "totals": {
            "sources": len(report.sources),
            "fetched": report.fetched,
            "not_modified": report.not_modified,
            "entries": report.total("entries"),
            "matched": report.total("matched"),
            "new": report.total("new"),
            "duplicates": report.total("duplicates"),
            "errors": report.errors,
        },
    }


# --------------------------------------------------------------------------- commands


def cmd_check(cur: Curator, args: argparse.Namespace) -> int:
    cfg = cur.config
    enabled = sum(1 for s in cfg.sources if s.enabled)
    if not enabled:
        print(f"warning: {cfg.path} has no enabled source: nothing will be polled", file=sys.stderr)
    if not (cfg.fetch.contact or "").strip():
        print(
            f"warning: {cfg.path}: fetch.contact is not set: the User-Agent gives publishers "
            "no way to reach you; set it to an e-mail address or web page",
            file=sys.stderr,
        )
    cli_sources.warn_unclassified(cfg)
    print(
        f"{cfg.path}: OK — {len(cfg.sources)} sources ({enabled} enabled), "
        f"{len(cfg.rules.include)} include terms, {len(cfg.rules.exclude)} exclude terms"
    )
    return 1 if _report_damage(cur) else 0


@contextlib.contextmanager
def _workers(cur: Curator) -> Iterator[None]:
    """Worker processes that read documents with a time limit, off the event loop."""
    if cur.workers is not None:
        yield
        return
    from curator.workers import Workers

    cur.workers = Workers(max(1, min(os.cpu_count() or 1, 4)))
    try:
        yield
    finally:
        cur.workers.close()
        cur.workers = None


def cmd_fetch(cur: Curator, args: argparse.Namespace) -> int:
    ids = args.source or None
    total = len(ids) if ids else sum(1 for s in cur.config.sources if s.enabled)
    pipeline_log = logging.getLogger("curator.pipeline")
    level = pipeline_log.level
    if not args.verbose:
        # The report below has a line per source, failures included: don't say it twice.
        pipeline_log.setLevel(logging.ERROR)
    try:
        return _fetch(cur, args, ids, total)
    finally:
        pipeline_log.setLevel(level)  # main() may run again in this process (tests, embedding)


def _fetch(cur: Curator, args: argparse.Namespace, ids: list[str] | None, total: int) -> int:
    import asyncio  # here, not at the top: a read-only command would pay ~30 ms for it

    progress = _Progress(total, sys.stderr)

    async def run() -> PollReport:
        try:
            return await cur.poll(ids, progress=progress)
        finally:
            await cur.aclose()

    # The workers start when the first document needs reading, not before: an unchanged poll
    # (every source answering 304 or the same body) never pays for the fork server.
    with _workers(cur):
        try:
            report = asyncio.run(run())
        finally:
            progress.close()
    if args.json:
        json.dump(_report_json(report), sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        _print_poll(report, sys.stdout)
    return 0


def _when(iso: str | None, default: str) -> str:
    return f"{iso[:16].replace('T', ' ')} UTC" if iso else default


def cmd_sources(cur: Curator, args: argparse.Namespace) -> int:
    _report_damage(cur)
    states = cur.store.states()
    rows = [state_json(s, states.get(s.id)) for s in cur.config.sources]
    if args.json:
        json.dump(rows, sys.stdout, indent=2)
        sys.stdout.write("\n")
        return 0
    width = max((len(r["id"]) for r in rows), default=10) + 2
    for r in rows:
        last = _when(r["last_success"], "never")
        nxt = "-" if not r["enabled"] else _when(r["next_due"], "now")
        print(
            f"{r['id']:<{width}}{r['health']:<14} last ok {last:<20}  next {nxt:<20}  "
            f"items {r['items_total']}"
        )
        if r["last_error"]:
            print(f"{'':<{width}}error: {r['last_error']}")
        if r["permanent_redirect"]:
            print(f"{'':<{width}}moved permanently to {r['permanent_redirect']}: update its url")
        if r["warning"]:
            print(f"{'':<{width}}warning: {r['warning']}")
    return 0


def near_miss_json(near: NearMiss) -> dict[str, Any]:
    """The JSON shape of a near miss (``curator items --status near-miss --json``)."""
    entry = near.candidate.entry
    return {
        "id": near.id,
        "url": entry.url,
        "title": entry.title,
        "summary": entry.summary_text,
        "source": entry.source_id,
        "category": near.category,
        "published": _iso(entry.published),
        "seen_at": _iso(near.seen_at),
        "score": near.candidate.score,
        "missing": list(near.missing),
        "reason": near.reason,
        "why": near.candidate.why,
    }


def _near_misses(cur: Curator, args: argparse.Namespace) -> int:
    found = cur.store.near_misses()[: args.limit]
    if args.json:
        json.dump([near_miss_json(n) for n in found], sys.stdout, indent=2, ensure_ascii=False)
        sys.stdout.write("\n")
        return 0
    if not found:
        print("no near misses")
    for n in found:
        print(f"{n.id}  {n.seen_at:%Y-%m-%d}  {n.candidate.entry.title[:70]}  ({n.reason})")
    return 0


def cmd_items(cur: Curator, args: argparse.Namespace) -> int:
    if args.status == "near-miss":
        return _near_misses(cur, args)
    status = None if args.status == "all" else args.status
    ranked = _listed(cur, status, args.sort, args.limit)
    if args.json:
        rows = [
            {
                **item_json(r.item, learned=r.learned, rank=r.rank),
                **cli_sources.publisher_json(r.item, cur.config),
            }
            for r in ranked
        ]
        json.dump(rows, sys.stdout, indent=2, ensure_ascii=False)
        sys.stdout.write("\n")
        return 0
    if not ranked:
        print(f"no {args.status} items")
    for r in ranked:
        i = r.item
        learned = "   -" if r.learned is None else f"{r.learned:4.2f}"
        print(
            f"{i.id}  {i.status:<8} {i.score:>5.1f} {learned}  {i.published:%Y-%m-%d}  "
            f"{i.category:<8} {i.title[:90]}"
        )
    return 0


def _listed(cur: Curator, status: Status | None, sort: str, limit: int) -> list[Ranked]:
    """The items ``curator items`` prints, in order: every item with *status* ranked (rule
    score blended with the learned probability), newest first unless *sort* is "rank",
    the first *limit*."""
    from curator import learn

    scorer = cur.ranking.scorer()
    blend = cur.config.rank.blend
    if sort == "newest" or scorer is None:
        found = _listed_by_heads(cur, status, sort, limit, scorer, blend)
        if found is not None:
            return found
    ranked = learn.rank_items(cur.store.items(status), scorer, blend=blend)
    if sort == "newest":
        ranked.sort(key=lambda r: (r.item.published, r.item.first_seen), reverse=True)
    return ranked[:limit]


def _listed_by_heads(
    cur: Curator,
    status: Status | None,
    sort: str,
    limit: int,
    scorer: learn.Scorer | None,
    blend: float,
) -> list[Ranked] | None:
    """What :func:`_listed` returns, decoding only the items it can print: their order
    needs only each item's head (:meth:`Store.item_heads`), plus the learned probability of
    the printed ones, since every item's rank depends on its own probability and on the
    rule scores of all.  Decoding 50 items instead of 2,500 is most of ``curator items``'s
    time.  None (list the ordinary way) when an item changed between the two reads.

    Newest first, the items tied with the last printed one on (published, first_seen) are
    decoded as well: the rank orders them.  By rank (only without a model: otherwise every
    item's probability is needed), the heads give the order itself.
    """
    from curator import learn
    from curator.store import ItemHead

    heads = cur.store.item_heads(status)
    scores = [h.score for h in heads]
    if sort == "newest":
        heads.sort(key=lambda h: (h.published, h.first_seen), reverse=True)
        end = min(limit, len(heads))
        while end < len(heads) and (heads[end].published, heads[end].first_seen) == (
            heads[limit - 1].published,
            heads[limit - 1].first_seen,
        ):
            end += 1
        heads = heads[:end]
    else:
        # Without a model the rank is the score's percentile, rounded as rank_items does.
        percentile = learn.percentiles(scores)
        heads.sort(key=lambda h: (-round(percentile[h.score], 4), -h.published.timestamp(), h.id))
        heads = heads[:limit]
    items = []
    for head in heads:
        try:
            item = cur.store.get_item(head.id)
        except StoreError:
            return None  # damaged meanwhile: the ordinary listing leaves its shard out
        if item is None or ItemHead.of(item) != head:
            return None  # written meanwhile by another process
        items.append(item)
    ranked = learn.rank_items(items, scorer, blend=blend, among=scores)
    if sort == "newest":
        ranked.sort(key=lambda r: (r.item.published, r.item.first_seen), reverse=True)
    return ranked[:limit]


def _decide(cur: Curator, args: argparse.Namespace, status: Status) -> int:
    """approve / reject: one line per item, saying which were already decided so."""
    try:
        done = cur.review.decide(args.ids, status, by=_editor_name(args), note=args.note)
    except UnknownItem as e:
        if len(args.ids) > 1:  # all or nothing: say that the known ones were not decided
            n = len(args.ids)
            raise ItemError(
                e.item_id, f"{e}; nothing changed: none of the {n} items was {status}"
            ) from None
        raise
    changed_ids = {item.id for item in done.changed}
    for item in done.items:
        if item.id in changed_ids:
            print(f"{status} {item.id}  {item.title[:90]}")
        else:
            print(f"already {status} {item.id}  {item.title[:90]} (unchanged)")
    return 0


def cmd_approve(cur: Curator, args: argparse.Namespace) -> int:
    return _decide(cur, args, "approved")


def cmd_reject(cur: Curator, args: argparse.Namespace) -> int:
    return _decide(cur, args, "rejected")


def cmd_edit(cur: Curator, args: argparse.Namespace) -> int:
    if args.title is None and args.summary is None and args.category is None and args.note is None:
        raise _Usage("edit needs at least one of --title, --summary, --category, --note")
    item = cur.review.edit(
        args.id,
        by=_editor_name(args),
        title=args.title,
        summary=args.summary,
        category=args.category,
        note=args.note,
    )
    print(f"edited {item.id}  {item.title[:90]}")
    return 0


def cmd_reopen(cur: Curator, args: argparse.Namespace) -> int:
    item = cur.review.reopen(args.id, by=_editor_name(args))
    print(f"reopened {item.id} (pending)  {item.title[:90]}")
    return 0


def cmd_undo(cur: Curator, args: argparse.Namespace) -> int:
    item = cur.review.undo(args.id, by=_editor_name(args))
    print(f"undone: {item.id} is {item.status}  {item.title[:90]}")
    return 0


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r}: expected a whole number of 1 or more")
    return value


def _port(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = -1
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"{text!r}: expected a port number from 0 to 65535")
    return value


class _Usage(Exception):
    """A command-line mistake found after argparse: exit 2 with the message."""


# --------------------------------------------------------------------------- parser


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="curator",
        description="Find, review and publish news and research on CCTV in policing.",
    )
    p.add_argument("--version", action="version", version=f"curator {__version__}")
    p.add_argument(
        "--config",
        default=os.environ.get("CURATOR_CONFIG", "feeds.yaml"),
        help="configuration file (env CURATOR_CONFIG; default ./feeds.yaml)",
    )
    p.add_argument(
        "--store",
        default=os.environ.get("CURATOR_DATABASE_URL", "").strip()
        or os.environ.get("CURATOR_STORE", "store"),
        help="data directory or postgresql:// URL (env CURATOR_DATABASE_URL, then "
        "CURATOR_STORE; default ./store)",
    )
    p.add_argument(
        "-v", "--verbose", action="store_true", help="log every event, not only problems"
    )
    sub = p.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True

    s = sub.add_parser("check", help="validate the configuration file")
    s.set_defaults(func=cmd_check)

    s = sub.add_parser("fetch", help="poll sources now, ignoring their intervals")
    s.add_argument("--source", action="append", metavar="ID", help="only this source (repeatable)")
    s.add_argument("--json", action="store_true", help="print the report as JSON")
    s.set_defaults(func=cmd_fetch)

    cli_sources.register(sub, cmd_sources)  # `sources`, and its import/export actions

    s = sub.add_parser("items", help="list items, newest first (or --sort rank)")
    s.add_argument(
        "--status",
        choices=["pending", "approved", "rejected", "all", "near-miss"],
        default="pending",
        help="near-miss: entries left out only for lacking a required group (latest first)",
    )
    s.add_argument("--limit", type=_positive, default=50, metavar="N")
    s.add_argument(
        "--sort",
        choices=["newest", "rank"],
        default="newest",
        help="newest first (default), or the queue's order: rule score blended with the "
        "learned probability",
    )
    s.add_argument("--json", action="store_true")
    s.set_defaults(func=cmd_items)

    for name, func, verb in (("approve", cmd_approve, "approve"), ("reject", cmd_reject, "reject")):
        s = sub.add_parser(name, help=f"{verb} items by id")
        s.add_argument("ids", nargs="+", metavar="ID")
        s.add_argument(
            "--by", metavar="NAME", help="editor name (default $CURATOR_EDITOR or login)"
        )
        s.add_argument("--note", metavar="TEXT")
        s.set_defaults(func=func)

    s = sub.add_parser("edit", help="change an item's title, summary, category or note")
    s.add_argument("id", metavar="ID")
    s.add_argument("--title", metavar="T")
    s.add_argument("--summary", metavar="S")
    s.add_argument("--category", metavar="C", choices=["news", "research", "guidance"])
    s.add_argument("--note", metavar="TEXT")
    s.add_argument("--by", metavar="NAME")
    s.set_defaults(func=cmd_edit)

    s = sub.add_parser("reopen", help="put an item back to pending")
    s.add_argument("id", metavar="ID")
    s.add_argument("--by", metavar="NAME")
    s.set_defaults(func=cmd_reopen)

    s = sub.add_parser("undo", help="revert an item's last decision or edit")
    s.add_argument("id", metavar="ID")
    s.add_argument("--by", metavar="NAME")
    s.set_defaults(func=cmd_undo)

    _add_service_commands(sub)
    _add_store_commands(sub)
    cli_db.register(sub)
    cli_research.register(sub)
    cli_stories.register(sub)
    cli_model.register(sub)
    cli_rules.register(sub)
    return p


def _setup_logging(verbose: bool, command: str) -> None:
    level = logging.INFO if verbose or command == "serve" else logging.WARNING
    logging.basicConfig(
        level=level,
        format="%(asctime)s %(levelname)s %(name)s %(message)s",
        stream=sys.stderr,
    )
    for noisy in ("httpx", "httpcore", "apscheduler"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def _config_problems(error: ConfigError, path: str) -> int:
    for problem in error.problems:
        print(f"error: {problem}", file=sys.stderr)
    print(f"{len(error.problems)} problem(s) in {path}; nothing was changed.", file=sys.stderr)
    return 2


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if getattr(args, "standalone", None):  # needs neither feeds.yaml nor --store
        _setup_logging(args.verbose, args.command)
        return int(args.standalone(args))
    _setup_logging(args.verbose, args.command)
    from curator import config, match
    from curator.core import make_curator

    if argv is None:
        # This process is the command (tests and embeddings pass argv): what the imports
        # made (modules, classes, pydantic's validators) lives as long as it does, so the
        # cycle collector need not walk it again and again: about 25 ms of `curator items`.
        # Only cyclic garbage made so far is kept; everything else is freed as ever.
        gc.freeze()
    try:
        cfg = config.load(args.config)
        problems = match.check(cfg)  # terms that could never match: found before anything runs
        if problems:
            raise ConfigError(problems)
    except ConfigError as e:
        return _config_problems(e, args.config)
    try:
        early = cli_db.run_early(args)
        if early is not None:
            return early
        cur = make_curator(cfg, store=args.store)
        code = int(args.func(cur, args))
        sys.stdout.flush()  # a reader that went away is found here, inside the handlers below
        return code
    except _Usage as e:
        print(f"curator {args.command}: error: {e}", file=sys.stderr)
        return 2
    except ConfigError as e:
        return _config_problems(e, args.config)
    except UnknownSource as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except CuratorError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # The reader went away (`curator items --json | head`): as any Unix filter, stop
        # quietly.  stdout is pointed at /dev/null so the interpreter's final flush cannot
        # fail again on the way out.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 141  # 128 + SIGPIPE, what the shell reports for a filter stopped this way


# --------------------------------------------------------------------------- service commands


def cmd_serve(cur: Curator, args: argparse.Namespace) -> int:
    import asyncio

    from curator import config, serve

    cur.config = config.served_at(cur.config, args.host, args.port)
    with _workers(cur), contextlib.suppress(KeyboardInterrupt):
        asyncio.run(
            serve.run(
                cur,
                host=args.host,
                port=args.port,
                proxy_headers=args.proxy_headers,
                forwarded_allow_ips=args.forwarded_allow_ips,
                watch_interval=args.watch_interval,
            )
        )
    return 0


def _read_password(args: argparse.Namespace, name: str) -> str:
    if args.password_stdin:
        line = sys.stdin.readline()
        return line.rstrip("\r\n")
    if not sys.stdin.isatty():
        raise _Usage("no terminal to ask for a password on: use --password-stdin")
    first = getpass.getpass(f"Password for {name}: ")
    second = getpass.getpass("Again: ")
    if first != second:
        raise _Usage("the two passwords differ; nothing was changed")
    return first


def cmd_user(cur: Curator, args: argparse.Namespace) -> int:
    from curator import auth

    if args.user_command == "list":
        users = cur.store.users()
        if not users:
            print("no editors yet: add one with `curator user add NAME`")
        admins = {u.name for u in auth.admins(cur.store)}
        for u in sorted(users, key=lambda u: u.name):
            role = "  administrator" if u.name in admins else ""
            print(f"{u.name:<24} since {u.created_at:%Y-%m-%d}{role}")
    elif args.user_command == "add":
        user = auth.add_user(
            cur.store, args.name, _read_password(args, args.name), admin=args.admin
        )
        print(f"added {'administrator' if user.admin else 'editor'} {user.name}")
    elif args.user_command == "passwd":
        auth.change_password(cur.store, args.name, _read_password(args, args.name))
        print(f"changed the password of {args.name}")
    elif args.user_command == "remove":
        auth.remove_user(cur.store, args.name)
        print(f"removed editor {args.name}")
    elif args.user_command == "unlock":
        return cmd_user_unlock(cur, args)
    return 0


def cmd_user_unlock(cur: Curator, args: argparse.Namespace) -> int:
    """Clear the failed sign-ins against an editor; a running `serve` sees it at once."""
    from curator import auth

    user = auth.unlock(cur.store, args.name)
    print(f"unlocked editor {user.name}: failed sign-ins against the account are forgotten")
    return 0


def _watch_interval(value: str) -> float:
    try:
        seconds = float(value)
    except ValueError:
        seconds = math.nan
    if not (seconds == 0 or 0.05 <= seconds <= 86400):
        raise argparse.ArgumentTypeError(
            f"expected 0 (off) or a number of seconds from 0.05 to 86400, not {value!r}"
        )
    return seconds


def _add_service_commands(sub: Any) -> None:
    s = sub.add_parser("serve", help="run the scheduler and the web app")
    s.add_argument("--host", default="127.0.0.1")
    s.add_argument("--port", type=_port, default=8080)
    s.add_argument(
        "--proxy-headers",
        action="store_true",
        help="trust X-Forwarded-Proto/For from --forwarded-allow-ips (behind nginx)",
    )
    s.add_argument(
        "--forwarded-allow-ips",
        default=os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1"),
        metavar="IPS",
        help="comma-separated proxy addresses to trust (default 127.0.0.1)",
    )
    s.add_argument(
        "--watch-interval",
        type=_watch_interval,
        default=5.0,
        metavar="SECONDS",
        help="how often to look for changes to the configuration file (default 5; 0: only "
        "on SIGHUP)",
    )
    s.set_defaults(func=cmd_serve)

    s = sub.add_parser("user", help="manage editor accounts")
    us = s.add_subparsers(dest="user_command", metavar="ACTION")
    us.required = True
    for action, text in (("add", "create an editor"), ("passwd", "change a password")):
        u = us.add_parser(action, help=text)
        u.add_argument("name", metavar="NAME")
        u.add_argument(
            "--password-stdin", action="store_true", help="read the password from standard input"
        )
        if action == "add":
            u.add_argument(
                "--admin",
                action="store_true",
                help="an administrator: manages editors and subscribers in the web app",
            )
    us.add_parser("list", help="list editors")
    u = us.add_parser("remove", help="delete an editor")
    u.add_argument("name", metavar="NAME")
    u = us.add_parser("unlock", help="forget the failed sign-ins against an editor")
    u.add_argument("name", metavar="NAME")
    s.set_defaults(func=cmd_user)

    _add_output_commands(sub)


def cmd_digest(cur: Curator, args: argparse.Namespace) -> int:
    from curator import digests

    if args.digest_command == "preview":
        fmt = "html"
        if args.out:
            suffix = Path(args.out).suffix.lower().lstrip(".")
            fmt = {"html": "html", "htm": "html", "txt": "txt", "text": "txt", "eml": "eml"}.get(
                suffix, ""
            )
            if not fmt:
                raise _Usage(f"--out {args.out}: the name must end in .html, .txt or .eml")
        elif args.format:
            fmt = args.format
        body = digests.preview(cur, fmt)  # type: ignore[arg-type]
        data = body if isinstance(body, bytes) else body.encode("utf-8")
        if args.out:
            try:
                Path(args.out).write_bytes(data)
            except OSError as e:
                raise _Usage(f"cannot write {args.out}: {e.strerror or e}") from None
            print(f"wrote {args.out}", file=sys.stderr)
        else:
            sys.stdout.buffer.write(data)
            sys.stdout.flush()
        return 0
    if args.digest_command == "send":
        result = digests.send(cur, dry_run=args.dry_run, to=args.to)
        print(result.message)
        return 0
    records = digests.list_digests(cur.store)
    if not records:
        print("no digests yet")
    for r in records:
        sent = sum(1 for v in r.recipients.values() if v == "sent")
        print(
            f"{r.id}  {r.kind:<7} {r.status:<8} {r.period_start:%Y-%m-%d} to "
            f"{r.period_end:%Y-%m-%d}  {len(r.item_ids)} items  {sent}/{len(r.recipients)} sent"
        )
        failed = {a: v for a, v in r.recipients.items() if v not in ("sent", "pending")}
        for address, status in failed.items():
            print(f"    {address}: {status}")
        if args.items:
            for item in digests.record_items(cur.store, r):
                print(f"    {item.id}  {item.category:<8} {item.title[:80]}")
    return 0


def cmd_publish(cur: Curator, args: argparse.Namespace) -> int:
    from curator import publish

    out = args.out or publish.export_dir(cur.config)
    if out is None:
        raise _Usage("say where: --out DIR (or set publish.out_dir in the configuration)")
    written = publish.export(cur.config, cur.store, out, cur.clock())
    names = ", ".join(p.name for p in written) or "nothing (already up to date)"
    print(f"{out}: wrote {names}")
    return 0


def _add_output_commands(sub: Any) -> None:
    s = sub.add_parser("digest", help="preview, send and list the weekly digest")
    ds = s.add_subparsers(dest="digest_command", metavar="ACTION")
    ds.required = True
    d = ds.add_parser("preview", help="render the next digest without sending it")
    d.add_argument("--out", metavar="FILE", help="write to FILE (.html, .txt or .eml)")
    d.add_argument("--format", choices=["html", "txt", "eml"], help="format on stdout")
    d = ds.add_parser("send", help="send the digest now (only items not yet sent)")
    d.add_argument("--dry-run", action="store_true", help="show what would be sent; change nothing")
    d.add_argument("--to", metavar="ADDRESS", help="send a test copy to ADDRESS only")
    d = ds.add_parser("list", help="past digests and their delivery status")
    d.add_argument("--items", action="store_true", help="list each digest's items too")
    s.set_defaults(func=cmd_digest)

    s = sub.add_parser("publish", help="write links.json/.rss/.atom/.html for a static site")
    s.add_argument("--out", metavar="DIR", help="directory (default publish.out_dir)")
    s.set_defaults(func=cmd_publish)


# --------------------------------------------------------------------------- store commands


def _report_damage(cur: Curator) -> bool:
    """Name every damaged store file on stderr (``check``, ``sources``); whether there was any."""
    damage = cur.store.damage()
    for d in damage:
        print(f"error: store: {d}", file=sys.stderr)
    if damage:
        print(
            f"{_n(len(damage), 'damaged store file')}: the rest of the store works; "
            "run `curator store repair` to move them aside and restore what a backup holds",
            file=sys.stderr,
        )
    return bool(damage)


def _files(cur: Curator, what: str) -> TinyDBStore:
    """The file store, for the commands that work on its files; a clear error on PostgreSQL."""
    from curator.store import TinyDBStore

    if not isinstance(cur.store, TinyDBStore):
        raise _Usage(
            f"{what} works on the embedded store's files; {cur.store.location} is a PostgreSQL "
            "database: use its own tools (pg_dump, pg_restore, amcheck), or "
            "`curator store copy` to move the data to a store directory"
        )
    return cur.store


def cmd_store(cur: Curator, args: argparse.Namespace) -> int:
    if args.store_command == "verify":
        return _verify(_files(cur, "`curator store verify`"))
    return _repair(
        cur, _files(cur, "`curator store repair`"), Path(args.from_) if args.from_ else None
    )


def _verify(store: TinyDBStore) -> int:
    damage = store.damage(deep=True)
    files = store.data_files()
    if not damage:
        counts = store.counts()
        print(
            f"{store.path}: OK — {_n(len(files), 'file')}, {_n(sum(counts.values()), 'item')} "
            f"({counts['pending']} pending, {counts['approved']} approved, "
            f"{counts['rejected']} rejected)"
        )
        return 0
    for d in damage:
        print(f"damaged: {d}")
    print(
        f"\n{_n(len(damage), 'damaged file')} in {store.path}; the rest of the store works. "
        "Run `curator store repair` to move them aside and restore what the backups hold."
    )
    return 1


def _repair(cur: Curator, store: TinyDBStore, chosen: Path | None) -> int:
    from curator import backup

    if chosen is not None and not chosen.is_file():
        raise _Usage(f"--from {chosen}: no such file")
    archives = backup.archives_for_repair(store, chosen)
    repaired = store.repair(archives)
    if not repaired:
        print(f"{store.path}: nothing to repair — every file loads")
        return 0
    lost_any = False
    for r in repaired:
        lost_any |= _print_repaired(r, archives.used.get(r.name))
    for path, why in archives.unusable.items():
        print(f"warning: backup {path} was not usable: {why}", file=sys.stderr)
    wanted = [r for r in repaired if r.name not in _DERIVED and r.name != "journal.json"]
    if wanted and not archives.used:
        print(
            f"no backup held these files (looked in {backup.default_dir(store)}); "
            "they start afresh with what could be read back",
            file=sys.stderr,
        )
    if lost_any:
        print("Items lost for good may come back as pending while their feeds still carry them.")
    return 0


_DERIVED = ("titles.json", "shards.json", "research_ids.json")  # rebuilt from the items


def _print_repaired(r: Repaired, source: Path | None) -> bool:
    """What repair did with one file; whether items were lost."""
    print(f"{r.name}: does not load ({r.reason})")
    print(f"    moved aside to {r.moved_to}")
    if r.name in _DERIVED:
        print("    rebuilt from the items")
        return False
    if r.name == "journal.json":
        print("    its commit could not be finished: files not yet renamed keep their old content")
        return False
    if r.name.startswith("items/"):
        held = "an unknown number of" if r.held is None else str(r.held)
        restored = f"restored {r.restored} of {held} items"
    else:
        restored = f"restored {_n(r.restored, 'record')}"
    detail = [f"{r.salvaged} read back from the damaged file"]
    if source is not None:
        detail.append(f"{r.from_backup} from {source}")
    print(f"    {restored} ({', '.join(detail)})")
    lost = r.lost
    if not lost:
        if r.held is None and r.name.startswith("items/"):
            print("    the number of items it held was not recorded: some may be lost")
        return False
    print(f"    LOST: {_n(lost, 'item')}")
    for item_id in r.lost_ids:
        print(f"      {item_id}")
    if lost > len(r.lost_ids):
        print(f"      ({lost - len(r.lost_ids)} more whose ids nothing else records)")
    return True


def cmd_backup(cur: Curator, args: argparse.Namespace) -> int:
    from curator import backup

    store = _files(cur, "`curator backup`")
    now = cur.clock()
    out = Path(args.out) if args.out else backup.default_dir(store) / backup.archive_name(now)
    if out.is_dir():
        out = out / backup.archive_name(now)
    info = backup.backup(store, out, now=now)
    print(
        f"wrote {info.path}: {_n(info.files, 'file')}, {_n(info.items, 'item')}, "
        f"{info.size / 1024:.0f} KB"
    )
    for name in info.left_out:
        print(
            f"error: left out {store.path / name}: it does not load (run `curator store repair`)",
            file=sys.stderr,
        )
    return 1 if info.left_out else 0


def cmd_restore(cur: Curator, args: argparse.Namespace) -> int:
    from curator import backup

    store = _files(cur, "`curator restore`")
    info = backup.restore(store, Path(args.file))
    print(
        f"restored {store.path} from {info.archive} (taken {info.created_at}): "
        f"{_n(info.files, 'file')}, {_n(info.items, 'item')}"
    )
    return 0


def _add_store_commands(sub: Any) -> None:
    s = sub.add_parser("store", help="check and repair the store's files")
    ss = s.add_subparsers(dest="store_command", metavar="ACTION")
    ss.required = True
    ss.add_parser("verify", help="read every file; name any that does not load (exit 1)")
    r = ss.add_parser("repair", help="move damaged files aside and restore what can be restored")
    r.add_argument(
        "--from",
        dest="from_",
        metavar="FILE",
        help="the backup to restore from (default: the newest in <store>/backups holding it)",
    )
    cli_store_copy.register(ss)
    s.set_defaults(func=cmd_store)

    s = sub.add_parser("backup", help="write the whole store into one .tar.gz archive")
    s.add_argument(
        "--out", metavar="FILE", help="the archive (default <store>/backups/curator-backup-*)"
    )
    s.set_defaults(func=cmd_backup)

    s = sub.add_parser("restore", help="fill an empty store from a backup archive")
    s.add_argument("file", metavar="FILE")
    s.set_defaults(func=cmd_restore)
