"""The rules workbench: try a change to the keyword rules on the entries of the last month
before making it, and add what the rules in force now catch among them.

Polls keep every entry they see for ``store.keep_seen`` (:meth:`curator.store.Store.seen`),
with what the rules then in force concluded.  :func:`trial` runs other rules (a whole
feeds.yaml: each source's own rules apply, as in a poll) over those entries and compares:
an entry the poll did not keep that the rules would keep is *newly kept*; one the poll kept
that they would not is *newly dropped*; the rest are unchanged.  Nothing is written.

:func:`apply` runs the current rules and stores the newly kept entries as candidates through
the same dedupe and store path as a poll.  An item an editor has reviewed is never touched:
an entry that is already an item, or that dedupe would merge into a reviewed one, is left.
The kept entries then carry the new verdict, so the next trial compares with these rules.
"""

from __future__ import annotations

import html
import logging
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import Any

from curator import config, config_edit, dedupe, match, pipeline
from curator.store import Store
from curator.stories import StoryIndex
from curator.types import Candidate, Entry, Item, Match, SeenEntry, SeenOutcome

__all__ = [
    "Applied",
    "Change",
    "Trial",
    "apply",
    "change_json",
    "entry_of",
    "load_rules_file",
    "trial",
    "trial_json",
    "verdict",
]

log = logging.getLogger("curator.workbench")


@dataclass(frozen=True)
class Change:
    """A kept entry and what the tried rules conclude about it."""

    entry: SeenEntry
    outcome: SeenOutcome
    score: float
    matches: tuple[Match, ...]
    why: str
    excluded: tuple[str, ...]  # exclusion terms found in it
    missing: tuple[str, ...]  # required groups with no term in it

    @property
    def kept(self) -> bool:
        return self.outcome == "kept"

    @property
    def matched(self) -> tuple[str, ...]:
        """The terms found, each once, as the rules write them."""
        return tuple(dict.fromkeys(m.term for m in self.matches))

    def deciding(self) -> tuple[str, ...]:
        """The terms that decide the verdict, for a person: what kept it (the terms that
        scored and those that met a required group), or what dropped it (exclusions found,
        required groups lacking, a low score)."""
        if self.kept:
            return tuple(dict.fromkeys(m.term for m in self.matches if m.weight >= 0))
        reasons = [f"excluded: {term}" for term in self.excluded]
        reasons += [f"no term from group {group!r}" for group in self.missing]
        if not reasons:
            reasons.append(f"score {self.score:g}")
        return tuple(reasons)


@dataclass(frozen=True)
class Trial:
    """What tried rules change among the kept entries (latest seen first in each list)."""

    newly_kept: tuple[Change, ...]
    newly_dropped: tuple[Change, ...]
    unchanged: int
    changes: tuple[Change, ...] = ()  # every entry's new verdict, for :func:`apply`


@dataclass(frozen=True)
class Applied:
    """What :func:`apply` did."""

    added: tuple[Item, ...]  # new pending items
    merged: tuple[Item, ...]  # pending items that gained the entry's source or link
    left: tuple[tuple[SeenEntry, str], ...]  # newly kept entries not added, and why
    trial: Trial


def load_rules_file(path: Path) -> config.Config:
    """A whole feeds.yaml-format file to try, validated as ``curator check`` does; a
    :class:`ConfigError` names the file and line of each problem."""
    return config_edit.validate(config_edit.read_text(path), str(path))


def entry_of(seen: SeenEntry) -> Entry:
    """The entry the rules read, back from its kept form (its summary as escaped text)."""
    paragraphs = [p for p in seen.summary.split("\n\n") if p]
    return Entry(
        source_id=seen.source_id,
        title=seen.title,
        url=seen.url,
        canonical_url=seen.canonical_url,
        item_id=seen.id,
        summary_html="".join(f"<p>{html.escape(p)}</p>" for p in paragraphs),
        summary_text=seen.summary,
        published=seen.published,
    )


def _rules_for(
    cfg: config.Config, cache: dict[str, match.CompiledRules], source_id: str
) -> match.CompiledRules:
    compiled = cache.get(source_id)
    if compiled is None:
        source = cfg.source(source_id)
        compiled = match.compile_rules(cfg.rules, source.rules if source else None)
        cache[source_id] = compiled
    return compiled


def verdict(seen: SeenEntry, rules: match.CompiledRules) -> Change:
    """What *rules* conclude about *seen*."""
    assessed = match.assess(entry_of(seen), rules)
    return Change(
        entry=seen,
        outcome=pipeline.outcome_of(assessed, rules),
        score=assessed.score,
        matches=assessed.matches,
        why=assessed.why,
        excluded=assessed.excluded,
        missing=assessed.missing,
    )


def trial(cfg: config.Config, entries: Sequence[SeenEntry]) -> Trial:
    """Run *cfg*'s rules (each source's own, as a poll does; the global ones for a source
    *cfg* does not name) over *entries* and compare with what the polls concluded."""
    cache: dict[str, match.CompiledRules] = {}
    newly_kept: list[Change] = []
    newly_dropped: list[Change] = []
    changes: list[Change] = []
    unchanged = 0
    for seen in entries:
        change = verdict(seen, _rules_for(cfg, cache, seen.source_id))
        changes.append(change)
        was_kept = seen.outcome == "kept"
        if change.kept and not was_kept:
            newly_kept.append(change)
        elif was_kept and not change.kept:
            newly_dropped.append(change)
        else:
            unchanged += 1
    return Trial(tuple(newly_kept), tuple(newly_dropped), unchanged, tuple(changes))


def _source(cfg: config.Config, seen: SeenEntry) -> config.Source:
    """The entry's source, or for one since removed from feeds.yaml a stand-in (news)."""
    found = cfg.source(seen.source_id)
    if found is not None:
        return found
    return config.Source(id=seen.source_id, name=seen.source_id, url=seen.url)


def apply(
    cfg: config.Config,
    store: Store,
    *,
    now: datetime,
    since: datetime,
    stories: StoryIndex | None = None,
) -> Applied:
    """Store the entries first seen since *since* that *cfg*'s rules keep and the polls did
    not, as pending candidates (dedupe as in a poll, other outlets' tellings joining their
    story through *stories*), in one transaction; record every entry's new verdict.
    Reviewed items are never changed."""
    added: list[Item] = []
    merged: list[Item] = []
    left: list[tuple[SeenEntry, str]] = []
    # The rules run outside the transaction: a month of entries takes a while to match, and
    # polls wait for the store's lock.  Dedupe decides inside it, on the store as it is then.
    tried = trial(cfg, store.seen(since))
    with store.transaction():
        for change in tried.newly_kept:
            seen = change.entry
            existing = store.get_item(seen.id)
            joined = store.alias_of(seen.id)
            if existing is not None or joined is not None:
                item = existing or store.get_item(joined or "")
                status = item.status if item is not None else "stored"
                left.append((seen, f"already an item ({status})"))
                continue
            candidate = Candidate(entry_of(seen), change.score, change.matches, change.why)
            decision = dedupe.decide(
                candidate, source=_source(cfg, seen), store=store, now=now, stories=stories
            )
            if isinstance(decision, dedupe.Seen):
                left.append((seen, "already an item"))
                continue
            if isinstance(decision, dedupe.SameStory) and decision.item.status != "pending":
                left.append((seen, f"the same story is already {decision.item.status}"))
                continue
            pipeline.record(decision, store)
            (added if isinstance(decision, dedupe.New) else merged).append(decision.item)
        store.update_seen(
            replace(c.entry, outcome=c.outcome, score=c.score, matched=c.matched, why=c.why)
            for c in tried.changes
            if (c.outcome, c.score, c.matched, c.why)
            != (c.entry.outcome, c.entry.score, c.entry.matched, c.entry.why)
        )
    for item in added:
        log.info("rules applied item=%s source=%s", item.id, item.sources[0])
    return Applied(tuple(added), tuple(merged), tuple(left), tried)


def change_json(change: Change) -> dict[str, Any]:
    """One entry of ``curator rules test --json``."""
    seen = change.entry
    return {
        "id": seen.id,
        "title": seen.title,
        "url": seen.url,
        "source": seen.source_id,
        "published": seen.published.isoformat(),
        "seen_at": seen.seen_at.isoformat(),
        "score": change.score,
        "matched": list(change.matched),
        "deciding": list(change.deciding()),
        "why": change.why,
        "before": {"outcome": seen.outcome, "score": seen.score, "matched": list(seen.matched)},
    }


def trial_json(result: Trial) -> dict[str, Any]:
    """``{"newly_kept": [...], "newly_dropped": [...], "unchanged": N}``."""
    return {
        "newly_kept": [change_json(c) for c in result.newly_kept],
        "newly_dropped": [change_json(c) for c in result.newly_dropped],
        "unchanged": result.unchanged,
    }
