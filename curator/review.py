"""Editor decisions: approve, reject, edit, reopen, undo, add by hand, promote a near miss.

The CLI and the web app both go through here, so every decision is recorded the same way: an
:class:`~curator.types.Event` in the item's history saying who, when and what changed.  Edits
keep the feed's original value in ``Item.original`` so nothing the source said is lost.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime

from curator import config, dedupe, identifiers, normalize
from curator.exceptions import ItemChanged, ItemError, UnknownItem
from curator.store import Store
from curator.stories import StoryIndex
from curator.types import CATEGORIES, Category, Event, Item, NearMiss, Status, StoryMember

log = logging.getLogger("curator.review")

_DECISIONS = ("approved", "rejected", "edited", "reopened")
SITE_MAX = 200  # characters of a hand-added link's site name


def _clean_note(note: str) -> str:
    """An editor's note without control, bidi or invisible characters, line breaks kept
    (the digest shows the note to readers; see :func:`curator.normalize.strip_invisible`)."""
    return normalize.strip_invisible(note).strip()


def last_undoable(history: Sequence[Event]) -> Event | None:
    """The decision or edit an undo would revert now, or None when there is none."""
    at = _last_undoable(history)
    return None if at is None else history[at]


@dataclass(frozen=True)
class Decided:
    """What :meth:`Review.decide` did: every item asked for, and those it changed."""

    items: tuple[Item, ...]
    changed: tuple[Item, ...]


def _last_undoable(history: Sequence[Event]) -> int | None:
    """Index of the newest decision not already undone; undos stack like an editor's."""
    skip = 0
    for i in range(len(history) - 1, -1, -1):
        action = history[i].action
        if action == "undone":
            skip += 1
        elif action in _DECISIONS:
            if skip == 0:
                return i
            skip -= 1
    return None


class Review:
    """Every change an editor can make to an item, each one store transaction."""

    def __init__(
        self,
        store: Store,
        clock: Callable[[], datetime],
        on_change: Callable[[], None] = lambda: None,
        stories: StoryIndex | None = None,
    ) -> None:
        self._store = store
        self._clock = clock
        self._on_change = on_change
        self._stories = stories

    def _get(self, item_id: str, expect: int | None = None) -> Item:
        """The item, checked against ``expect``: the length of the history the editor saw.

        Every change appends to the history, so its length is the item's version."""
        item = self._store.get_item(item_id)
        if item is None:
            raise UnknownItem(item_id)
        if expect is not None and expect != len(item.history):
            raise ItemChanged(item_id, item)
        return item

    def decide(
        self, ids: Sequence[str], status: Status, *, by: str | None, note: str | None = None
    ) -> Decided:
        """Approve or reject every id, all or nothing (an unknown id raises UnknownItem before
        anything is written), saying which items this changed: what an undo of the batch
        reverts.  An item already in ``status`` is left as it is, with no history added,
        unless a new note comes with the decision (then the note is recorded)."""
        now = self._clock()
        note = _clean_note(note) if note is not None else None
        done: list[Item] = []
        written: list[Item] = []
        with self._store.transaction():
            # All or nothing: check every id first; an id named twice is decided once.
            items = [self._get(i) for i in dict.fromkeys(ids)]
            for item in items:
                same = item.status == status
                if same and (note is None or note == (item.note or "")):
                    done.append(item)
                    continue
                changes: dict[str, tuple[str | None, str | None]] = {}
                if not same:
                    changes["status"] = (item.status, status)
                if note is not None:
                    changes["note"] = (item.note, note)
                new = replace(
                    item,
                    status=status,
                    reviewed_by=item.reviewed_by if same else by,
                    reviewed_at=item.reviewed_at if same else now,
                    note=note if note is not None else item.note,
                    history=(*item.history, Event(now, status, by, changes, note)),
                    updated_at=now,
                )
                self._store.put_item(new)
                written.append(new)
                done.append(new)
        for changed in written:  # after the commit: a failed write logs no decision
            log.info("%s item=%s by=%s", status, changed.id, by or "-")
        self._on_change()
        return Decided(tuple(done), tuple(written))

    def approve(self, ids: Sequence[str], *, by: str | None, note: str | None = None) -> list[Item]:
        return list(self.decide(ids, "approved", by=by, note=note).items)

    def reject(self, ids: Sequence[str], *, by: str | None, note: str | None = None) -> list[Item]:
        return list(self.decide(ids, "rejected", by=by, note=note).items)

    def edit(
        self,
        item_id: str,
        *,
        by: str | None,
        title: str | None = None,
        summary: str | None = None,
        category: str | None = None,
        note: str | None = None,
        expect: int | None = None,
    ) -> Item:
        """Change what readers will see. The feed's values are kept in ``original``.

        With ``expect`` (see :meth:`_get`), a form filled in from an older state of the item
        cannot overwrite a change made since."""
        now = self._clock()
        with self._store.transaction():
            item = self._get(item_id, expect)
            changes: dict[str, tuple[str | None, str | None]] = {}
            fields: dict[str, object] = {}
            original = dict(item.original)
            if title is not None:
                title = normalize.text_line(title)
                if not title:
                    raise ItemError(item_id, "the title cannot be empty")
                if title != item.title:
                    original.setdefault("title", item.title)
                    changes["title"] = (item.title, title)
                    fields["title"] = title
                    fields["title_key"] = normalize.title_key(title)
            if summary is not None:
                clean = normalize.sanitize_html(summary)
                if clean != item.summary:
                    original.setdefault("summary", item.summary)
                    changes["summary"] = (item.summary, clean)
                    fields["summary"] = clean
                    fields["summary_text"] = normalize.html_to_text(clean)
            if category is not None:
                if category not in CATEGORIES:
                    raise ItemError(
                        item_id,
                        f"unknown category {category!r}; use one of {', '.join(CATEGORIES)}",
                    )
                if category != item.category:
                    original.setdefault("category", item.category)
                    changes["category"] = (item.category, category)
                    fields["category"] = category
            if note is not None:
                note = _clean_note(note)
            if note is not None and note != (item.note or ""):
                changes["note"] = (item.note, note or None)
                fields["note"] = note or None
            if not changes:
                return item
            new = replace(
                item,
                **fields,  # type: ignore[arg-type]
                original=original,
                history=(*item.history, Event(now, "edited", by, changes)),
                updated_at=now,
            )
            self._store.put_item(new)
        log.info("edited item=%s by=%s fields=%s", item_id, by or "-", ",".join(changes))
        self._on_change()
        return new

    def reopen(self, item_id: str, *, by: str | None) -> Item:
        """Back to pending, whatever it was; a digest that already carried it keeps it."""
        now = self._clock()
        with self._store.transaction():
            item = self._get(item_id)
            if item.status == "pending":
                return item
            new = replace(
                item,
                status="pending",
                reviewed_by=None,
                reviewed_at=None,
                history=(
                    *item.history,
                    Event(now, "reopened", by, {"status": (item.status, "pending")}),
                ),
                updated_at=now,
            )
            self._store.put_item(new)
        log.info("reopened item=%s by=%s", item_id, by or "-")
        self._on_change()
        return new

    def undo(self, item_id: str, *, by: str | None, expect: int | None = None) -> Item:
        """Revert the item's last decision or edit, recording the undo itself.

        With ``expect`` (see :meth:`_get`), a page loaded before a later change (another
        undo, someone else's edit) cannot undo that change unseen."""
        return self.undo_all([item_id], by=by, expect={item_id: expect})[0]

    def undo_all(
        self,
        ids: Sequence[str],
        *,
        by: str | None,
        expect: Mapping[str, int | None] | None = None,
    ) -> list[Item]:
        """:meth:`undo` for each id in one transaction, all or nothing: the undo of a bulk
        decision, where an item changed since (``expect`` per id) or with nothing to undo
        leaves every item as it was."""
        now = self._clock()
        expect = expect or {}
        done: list[tuple[Item, str]] = []
        with self._store.transaction():
            for item_id in dict.fromkeys(ids):  # once each, in the order given
                item = self._get(item_id, expect.get(item_id))
                done.append(self._undo_one(item, by, now))
            for new, _ in done:
                self._store.put_item(new)
        for new, action in done:
            log.info("undid %s item=%s by=%s", action, new.id, by or "-")
        self._on_change()
        return [new for new, _ in done]

    def _undo_one(self, item: Item, by: str | None, now: datetime) -> tuple[Item, str]:
        """The item with its last decision or edit reverted, and that decision's name."""
        at = _last_undoable(item.history)
        if at is None:
            raise ItemError(item.id, "nothing to undo: the item has not been reviewed or edited")
        last = item.history[at]
        fields: dict[str, object] = {}
        for name, (old, _new) in last.changes.items():
            if name == "status":
                fields["status"] = old or "pending"
            elif name in ("title", "summary", "note", "category"):
                fields[name] = old
                if name == "title" and old:
                    fields["title_key"] = normalize.title_key(old)
                if name == "summary":
                    fields["summary_text"] = normalize.html_to_text(old or "")
        status = fields.get("status", item.status)
        if status == "pending":
            fields["reviewed_by"] = None
            fields["reviewed_at"] = None
        elif "status" in fields:
            # Back to an earlier decision: credit whoever made it.
            prior = next((e for e in reversed(item.history[:at]) if e.action == status), None)
            fields["reviewed_by"] = prior.by if prior else None
            fields["reviewed_at"] = prior.at if prior else now
        reverted = {k: (v[1], v[0]) for k, v in last.changes.items()}
        new = replace(
            item,
            **fields,  # type: ignore[arg-type]
            history=(*item.history, Event(now, "undone", by, reverted, f"undid {last.action}")),
            updated_at=now,
        )
        return new, last.action

    def split(
        self, item_id: str, member: str, *, by: str | None, expect: int | None = None
    ) -> tuple[Item, Item]:
        """ "Not the same story": take *member* (its id or link) out of item *item_id*'s story
        and make it an item of its own again, pending, as the feed gave it.

        Grouping by similar words is a guess, so it is never final: the story loses the
        member's link (and its source, unless another member came from it), both items
        record the split in their history, and the member's link then finds its own item
        whenever its feed repeats it, so a later poll does not join them again.  With
        ``expect`` (see :meth:`_get`), a page loaded before a later change cannot split
        unseen.  Returns (the story, the item split off)."""
        now = self._clock()
        with self._store.transaction():
            item = self._get(item_id, expect)
            found = _story_member(item, member)
            if found is None:
                known = ", ".join(m.url for m in item.story) or "none"
                asked = member if len(member) <= 200 else member[:200] + "…"  # shown, flashed
                raise ItemError(
                    item_id,
                    f"{asked!r} is not one of this story's other tellings (they are: {known})",
                )
            if self._store.get_item(found.id) is not None:
                raise ItemError(item_id, f"{found.url} is already item {found.id}")
            rest = tuple(m for m in item.story if m.id != found.id)
            sources = item.sources
            if not any(m.source == found.source for m in rest):
                sources = tuple(s for s in sources if s != found.source) or item.sources
            urls = tuple(u for u in item.urls if u != found.url)
            changes: dict[str, tuple[str | None, str | None]] = {
                "urls": (" ".join(item.urls) or None, " ".join(urls) or None)
            }
            if sources != item.sources:
                changes["sources"] = (", ".join(item.sources), ", ".join(sources))
            note = f"not the same story: {found.url} is item {found.id} again"
            story = replace(
                item,
                story=rest,
                sources=sources,
                urls=urls,
                history=(*item.history, Event(now, "split", by, changes, note)),
                updated_at=now,
            )
            own = _member_item(found, split_from=item, by=by, now=now)
            self._store.put_item(story)
            self._store.put_item(own)
        log.info("split item=%s member=%s by=%s", item_id, own.id, by or "-")
        self._on_change()
        return story, own

    def add_manual(
        self,
        *,
        url: str,
        title: str,
        summary: str,
        category: str,
        published: datetime | None,
        by: str | None,
        note: str | None = None,
        approve: bool = True,
        site: str | None = None,
    ) -> Item:
        """An item the editor found: stored like any other, approved at once by default.
        ``site`` is the page's name for its site (``og:site_name``), shown as its source."""
        now = self._clock()
        url = normalize.clean_url(url)  # tracking parameters off, redirectors unwrapped
        canonical = normalize.canonical_url(url)
        item_id = normalize.item_id(canonical)
        if not canonical.startswith(("http://", "https://")):
            raise ItemError(item_id, f"{url!r} is not an http(s) link")
        if category not in CATEGORIES:
            raise ItemError(
                "", f"unknown category {category!r}; use one of {', '.join(CATEGORIES)}"
            )
        title = normalize.text_line(title)
        if not title:
            raise ItemError(item_id, "a title is needed")
        note = _clean_note(note) if note is not None else None
        cat: Category = category
        clean = normalize.sanitize_html(summary, base_url=url)
        site = normalize.text_line(site, SITE_MAX) or None
        with self._store.transaction():
            existing = self._store.get_item(item_id)
            if existing is not None:
                raise ItemError(
                    item_id,
                    f"that link is already item {item_id} ({existing.status}): {existing.title}",
                )
            status: Status = "approved" if approve else "pending"
            history = [Event(now, "added", by, {}, note)]
            if approve:
                history.append(Event(now, "approved", by, {"status": ("pending", "approved")}))
            item = Item(
                id=item_id,
                url=url,
                canonical_url=canonical,
                title=title,
                summary=clean,
                summary_text=normalize.html_to_text(clean),
                category=cat,
                published=published or now,
                first_seen=now,
                score=0.0,
                matched=(),
                why="added by hand" + (f" by {by}" if by else ""),
                sources=("manual",),
                title_key=normalize.title_key(title),
                status=status,
                reviewed_by=by if approve else None,
                reviewed_at=now if approve else None,
                note=note,
                history=tuple(history),
                updated_at=now,
                site=site,
                # A pasted doi.org or arXiv link names its work (issue 12): indexed, so the
                # preprint or the article arriving from a feed joins this item.
                doi=identifiers.doi_from_url(url),
                arxiv_id=identifiers.arxiv_from_url(url),
            )
            self._store.put_item(item)
        log.info("added item=%s by=%s url=%s", item_id, by or "-", url)
        self._on_change()
        return item

    def promote(
        self,
        item_id: str,
        *,
        by: str | None,
        source_of: Callable[[str], config.Source | None] = lambda _: None,
    ) -> Item:
        """Make the near miss *item_id* a pending item through the normal dedupe path (the
        same story already stored gains its source and link instead) and forget the near
        miss.  *source_of* finds its source's configuration; a source since removed from
        feeds.yaml still promotes, with the category it had.  UnknownItem when there is no
        such near miss (promoted already, or pruned)."""
        now = self._clock()
        with self._store.transaction():
            near = self._store.get_near_miss(item_id)
            if near is None:
                raise UnknownItem(item_id)
            decision = dedupe.decide(
                near.candidate,
                source=_source_for(near, source_of),
                store=self._store,
                now=now,
                stories=self._stories,
            )
            if isinstance(decision, dedupe.Seen):
                item = self._get(decision.item_id)
            else:
                item = decision.item
                if isinstance(decision, dedupe.New):
                    event = Event(now, "promoted", by, {}, f"a near miss: {near.reason}")
                    item = replace(item, history=(*item.history, event))
                self._store.put_item(item)
                if isinstance(decision, dedupe.SameStory) and decision.alias:
                    self._store.put_alias(decision.alias, item.id)
            self._store.delete_near_miss(item_id)
        log.info("promoted near-miss=%s item=%s by=%s", item_id, item.id, by or "-")
        self._on_change()
        return item


def _story_member(item: Item, member: str) -> StoryMember | None:
    """The member of *item*'s story named by its id, its link or its canonical link."""
    wanted = member.strip()
    canonical = normalize.canonical_url(wanted) if "://" in wanted else None
    for m in item.story:
        if wanted in (m.id, m.url) or canonical == m.canonical_url:
            return m
    return None


def _member_item(member: StoryMember, *, split_from: Item, by: str | None, now: datetime) -> Item:
    """A pending item of *member*'s own, its history saying where it was and who split it."""
    return Item(
        id=member.id,
        url=member.url,
        canonical_url=member.canonical_url,
        title=member.title,
        summary=member.summary,
        summary_text=member.summary_text,
        category=member.category,
        published=member.published,
        first_seen=member.first_seen,
        score=member.score,
        matched=member.matched,
        why=member.why,
        sources=(member.source,),
        title_key=normalize.title_key(member.title),
        authors=member.authors,
        tags=member.tags,
        history=(
            Event(member.first_seen, "created", note=f"from {member.source}"),
            Event(
                now,
                "split",
                by,
                {},
                f"not the same story as item {split_from.id}: {split_from.title}",
            ),
        ),
        updated_at=now,
    )


def _source_for(near: NearMiss, source_of: Callable[[str], config.Source | None]) -> config.Source:
    source_id = near.candidate.entry.source_id
    found = source_of(source_id)
    if found is not None:
        return found
    return config.Source.model_validate(
        {
            "id": source_id,
            "name": source_id,
            "url": near.candidate.entry.url,
            "category": near.category,
        }
    )
