"""The editor's work: the queue and the other lists, one item's history, the decisions on it,
editing, and adding a link by hand.

Decisions go through :class:`curator.review.Review`, like the CLI's.  A plain form post answers
with a redirect back to the list (and a flash offering undo); the page's script asks for JSON
(``Accept: application/json``) and updates the list in place.  A bulk decision's undo is kept
in memory under a token (``WebState.keep_undo``) and undoes all it changed or nothing.  The
lists come as cards or as compact lines, the choice kept in the ``curator_view`` cookie.
"""

from __future__ import annotations

import contextlib
import heapq
import logging
import math
import threading
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from curator import learn, normalize, publisher
from curator.config import Config
from curator.exceptions import CuratorError, ItemChanged, ItemError, UnknownItem
from curator.parse.page import page_metadata
from curator.review import SITE_MAX, Review
from curator.types import CATEGORIES, PUBLISHER_CLASSES, STATUSES, Item, Status
from curator.web._common import (
    editor_only,
    escape_text_paragraphs,
    flash,
    form_str,
    render,
    safe_next,
    state,
    user_name,
    wants_json,
)
from curator.web._numbers import strict_int

log = logging.getLogger("curator.web")

MAX_TITLE = 500
MAX_SUMMARY = 5000
MAX_NOTE = 2000
MAX_URL = 2048
MAX_BULK = 1000

# --------------------------------------------------------------------------- lists


def _sort_key(status: str) -> Callable[[Item], Any]:
    # The queue ("pending") is ordered by learn.rank_key: rule score blended with the model.
    if status in ("approved", "rejected"):  # latest decision first
        return lambda i: (-(i.reviewed_at or i.updated_at or i.first_seen).timestamp(), i.id)
    return lambda i: (-i.published.timestamp(), i.id)


def _matches(
    item: Item,
    source: str,
    category: str,
    words: Sequence[str],
    by_publisher: Callable[[Item], bool] | None = None,
) -> bool:
    if source and source not in item.sources:
        return False
    if category and item.category != category:
        return False
    if by_publisher is not None and not by_publisher(item):
        return False
    if words:
        hay = f"{item.title}\n{item.summary_text}\n{item.url}\n{item.note or ''}".casefold()
        return all(w in hay for w in words)
    return True


def _publisher_filter(config: Config, klass: str, place: str) -> Callable[[Item], bool] | None:
    """The queue's class / jurisdiction filter (None: no filter).  ``unclassified`` selects
    items whose publisher has no class (added by hand, or a source without ``class``)."""
    if not klass and not place:
        return None
    table = publisher.Classes.of_config(config).lookup()

    def keep(item: Item) -> bool:
        who = publisher.of(item, table)
        if klass == "unclassified" and who.publisher_class is not None:
            return False
        if klass and klass != "unclassified" and who.publisher_class != klass:
            return False
        return not (place and who.jurisdiction != place)

    return keep


MAX_PAGE = 1_000_000

VIEW_COOKIE = "curator_view"
VIEWS = ("cards", "compact")


def _chosen_view(request: Request) -> tuple[str, bool]:
    """The list layout, and whether it was just chosen: ``?view=`` (a link that works without
    JavaScript) wins and is remembered in a cookie; else the cookie; else cards."""
    asked = request.query_params.get("view", "")
    if asked in VIEWS:
        return asked, True
    kept = request.cookies.get(VIEW_COOKIE, "")
    return (kept if kept in VIEWS else "cards"), False


def _failing_sources(request: Request) -> tuple[int, int]:
    """How many enabled sources are failing (or gone), of all configured (as the Sources page
    counts them: "22 of 30 sources are failing"): an empty queue may only mean that nothing
    could be read."""
    curator = state(request).curator
    states = curator.store.states()
    enabled = [s for s in curator.config.sources if s.enabled]
    failing = 0
    for source in enabled:
        st = states.get(source.id)
        if st is not None and (st.gone or st.consecutive_errors):
            failing += 1
    return failing, len(curator.config.sources)


def _list_view(default_status: str) -> Callable[[Request], Any]:
    @editor_only
    async def view(request: Request) -> Response:
        st = state(request)
        params = request.query_params
        status = params.get("status") or default_status
        if status not in (*STATUSES, "all"):
            status = default_status
        source = params.get("source", "")
        category = params.get("category", "")
        if category not in CATEGORIES:
            category = ""
        # Publisher class and jurisdiction (curator.publisher): an unknown value is ignored,
        # as an unknown category is: the form offers only known ones.
        klass = params.get("class", "")
        if klass not in PUBLISHER_CLASSES and klass != "unclassified":
            klass = ""
        place = params.get("jurisdiction", "").strip().upper()[:12]
        by_publisher = _publisher_filter(st.curator.config, klass, place)
        q = params.get("q", "").strip()[:200]
        words = q.casefold().split()
        raw_page = params.get("page", "")
        page = strict_int(raw_page, name="page", low=1, high=MAX_PAGE) if raw_page else 1
        size = st.curator.config.web.page_size

        store = st.curator.store
        # Decisions pile up (a million on a big database): unfiltered, the Approved,
        # Rejected and All items lists ask the store for their count and one page in
        # _sort_key's order (Store.items_page) instead of reading every item of the status.
        filtered = bool(source or category or words or by_publisher)
        paged = status in ("approved", "rejected", "all") and not filtered
        wanted = None if status == "all" else status
        if paged:
            items = []
        elif filtered and status != "pending":
            # Decided items are not all kept decoded (the embedded store's index): read them
            # a part at a time, leaving out early those whose text lacks a word or the source.
            needles = [*words, source, category]
            items = [
                i
                for i in store.iter_items(wanted, needles)  # type: ignore[arg-type]
                if _matches(i, source, category, words, by_publisher)
            ]
        else:
            items = store.items(wanted)  # type: ignore[arg-type]
        ranked: dict[str, learn.Ranked] = {}
        if status == "pending":
            # The queue's order blends the rule score and the learned probability (scored
            # off the event loop: a new model scores every pending item once).
            curator = st.curator
            rows = await run_in_threadpool(curator.ranking.rank, items, curator.config.rank.blend)
            ranked = {r.item.id: r for r in rows}
            # rank_items sorts by exactly learn.rank_key's key (a total order: ids differ),
            # so the queue is in page order already: no sort of thousands again per page.
            items = [r.item for r in rows]
        if filtered and status == "pending":
            items = [i for i in items if _matches(i, source, category, words, by_publisher)]
        if paged:
            counts = store.counts()
            total = sum(counts.values()) if status == "all" else counts[status]
        else:
            total = len(items)
        pages = max(1, math.ceil(total / size))
        page = min(page, pages)
        start = (page - 1) * size
        if paged:
            shown = store.items_page(wanted, start, size)  # type: ignore[arg-type]
        elif status == "pending":
            shown = items[start : start + size]
        elif start + size < total / 4:  # a page near the front: no need to sort everything
            shown = heapq.nsmallest(start + size, items, key=_sort_key(status))[start:]
        else:
            shown = sorted(items, key=_sort_key(status))[start : start + size]

        filters = {
            "status": status,
            "source": source,
            "category": category,
            "class": klass,
            "jurisdiction": place,
            "q": q,
        }
        scorer = st.curator.ranking.scorer() if ranked else None
        explained: dict[str, learn.Explanation] = {}
        if scorer is not None:
            explained = await run_in_threadpool(lambda: {i.id: scorer.explain(i) for i in shown})

        def page_url(n: int) -> str:
            query = {
                k: v
                for k, v in filters.items()
                if v and not (k == "status" and v == default_status)
            }
            if n > 1:
                query["page"] = str(n)
            return request.url.path + ("?" + urlencode(query) if query else "")

        here = page_url(page)
        view, chosen = _chosen_view(request)
        failing = (0, 0)
        narrowed = bool(source or category or words or klass or place)
        if status == "pending" and total == 0 and not narrowed:
            failing = _failing_sources(request)
        titles = {
            "pending": "Queue",
            "approved": "Approved",
            "rejected": "Rejected",
            "all": "All items",
        }
        response = render(
            request,
            "list.html",
            {
                "title": titles[status],
                "items": shown,
                "total": total,
                "page": page,
                "pages": pages,
                "prev_url": page_url(page - 1) if page > 1 else None,
                "next_url": page_url(page + 1) if page < pages else None,
                "here": here,
                "filters": filters,
                "filtered": bool(source or category or q or klass or place),
                "jurisdictions": sorted({s.jurisdiction for s in st.curator.config.sources}),
                "sources": st.curator.config.sources,
                "list_status": status,
                "view": view,
                "view_urls": {v: _with_query(here, view=v) for v in VIEWS},
                "failing": failing,
                "ranked": ranked,
                "explained": explained,
                "scorer": scorer,
                "blend": st.curator.config.rank.blend,
            },
        )
        if chosen:
            response.set_cookie(
                VIEW_COOKIE, view, max_age=365 * 86400, httponly=True, samesite="lax"
            )
        return response

    return view


def _with_query(url: str, **extra: str) -> str:
    parts = urlsplit(url)
    query = dict(parse_qsl(parts.query))
    query.update(extra)
    return parts.path + "?" + urlencode(query)


# --------------------------------------------------------------------------- one item


def _get_item(request: Request) -> Item:
    item_id = request.path_params["item_id"]
    item = state(request).curator.store.get_item(item_id)
    if item is None:
        raise UnknownItem(item_id)
    return item


@editor_only
async def item_page(request: Request) -> Response:
    item = _get_item(request)
    return render(request, "item.html", {"item": item, "title": item.title})


_PAST = {
    "approve": "Approved",
    "reject": "Rejected",
    "undo": "Undid the last change to",
    "reopen": "Back in the queue:",
}


def _action(action: str) -> Callable[[Request], Any]:
    @editor_only
    async def act(request: Request) -> Response:
        form = await request.form()
        item_id = request.path_params["item_id"]
        review = state(request).curator.review
        by = user_name(request)
        try:
            # A store transaction may wait for another process's (a CLI fetch) for up to the
            # lock timeout: in a worker thread, so the scheduler and other requests go on.
            if action == "approve":
                item = (await run_in_threadpool(review.approve, [item_id], by=by))[0]
            elif action == "reject":
                item = (await run_in_threadpool(review.reject, [item_id], by=by))[0]
            elif action == "undo":
                seen = form_str(form, f"expect-{item_id}")
                expect = strict_int(seen, name="the page's item version") if seen else None
                item = await run_in_threadpool(review.undo, item_id, by=by, expect=expect)
            else:
                item = await run_in_threadpool(review.reopen, item_id, by=by)
        except UnknownItem:
            raise
        except ItemError as e:
            if wants_json(request):
                return JSONResponse({"error": str(e), "id": item_id}, status_code=409)
            flash(request, str(e), "error")
            return RedirectResponse(safe_next(form_str(form, "next")), status_code=303)
        message = f"{_PAST[action]} “{item.title}”."
        undo = item.id if action in ("approve", "reject") else None
        if wants_json(request):
            return JSONResponse(
                {
                    "id": item.id,
                    "status": item.status,
                    "title": item.title,
                    "message": message,
                    "undo": undo is not None,
                    "version": len(item.history),
                    "pending": state(request).curator.store.counts()["pending"],
                }
            )
        flash(request, message, "done", undo=undo)
        return RedirectResponse(safe_next(form_str(form, "next")), status_code=303)

    act.__name__ = f"item_{action}"
    return act


@editor_only
async def bulk(request: Request) -> Response:
    form = await request.form()
    nxt = safe_next(form_str(form, "next"))
    ids = [i for i in form.getlist("ids") if isinstance(i, str)][:MAX_BULK]
    action = form_str(form, "action")
    review = state(request).curator.review
    if action not in ("approve", "reject"):
        flash(request, "Choose approve or reject for the selected items.", "error")
        return RedirectResponse(nxt, status_code=303)
    if not ids:
        flash(request, "Select one or more items first.", "error")
        return RedirectResponse(nxt, status_code=303)
    by = user_name(request)
    status: Status = "approved" if action == "approve" else "rejected"
    decided = await run_in_threadpool(review.decide, ids, status, by=by)
    n = len(decided.items)
    word = "Approved" if action == "approve" else "Rejected"
    message = f"{word} {n} item{'s' if n != 1 else ''}."
    # The undo reverts what this decision changed, each item as it was left (its history
    # length): an item changed again meanwhile makes the whole undo refuse.
    pairs = [(i.id, len(i.history)) for i in decided.changed]
    batch = state(request).keep_undo(pairs) if pairs else None
    if wants_json(request):
        return JSONResponse(
            {
                "ids": [i.id for i in decided.items],
                "status": status,
                "message": message,
                "undo_batch": batch,
                "pending": state(request).curator.store.counts()["pending"],
            }
        )
    flash(request, message, "done", undo_batch=batch)
    return RedirectResponse(nxt, status_code=303)


@editor_only
async def undo_batch(request: Request) -> Response:
    """Undo a bulk decision: every item it changed, each checked against the version the
    decision left it at, in one transaction (all or nothing)."""
    form = await request.form()
    nxt = safe_next(form_str(form, "next"))
    st = state(request)
    token = form_str(form, "batch")
    pairs = st.undo_batches.get(token)
    if pairs is None:
        flash(
            request,
            "That undo is no longer available (Curator keeps the latest bulk decisions until "
            "it restarts). Undo the items one by one from the Approved or Rejected list.",
            "error",
        )
        return RedirectResponse(nxt, status_code=303)
    ids = [i for i, _ in pairs]
    expect: dict[str, int | None] = dict(pairs)
    try:
        done = await run_in_threadpool(
            st.curator.review.undo_all, ids, by=user_name(request), expect=expect
        )
    except UnknownItem as e:
        flash(request, f"Nothing was undone: no item has the id {e.item_id!r}.", "error")
        return RedirectResponse(nxt, status_code=303)
    except ItemChanged as e:
        flash(
            request,
            f"Nothing was undone: “{e.current.title}” has changed since. "
            "Undo the items one by one from their pages.",
            "error",
        )
        return RedirectResponse(nxt, status_code=303)
    except ItemError as e:
        flash(request, f"Nothing was undone: {e}", "error")
        return RedirectResponse(nxt, status_code=303)
    st.undo_batches.pop(token, None)
    n = len(done)
    flash(request, f"Undid the last change to {n} item{'s' if n != 1 else ''}.", "done")
    return RedirectResponse(nxt, status_code=303)


# --------------------------------------------------------------------------- edit


def _same_text(a: str, b: str) -> bool:
    return " ".join(a.split()) == " ".join(b.split())


CONFLICT = (
    "This item was changed by someone else since you opened it: check the values and save again."
)


def revision(item: Item) -> str:
    """What a form remembers of the item it was opened on: its version, the length of its
    history (every change appends to it), as Review.edit and Review.undo check it."""
    return str(len(item.history))


def _form_values(item: Item) -> dict[str, str]:
    return {
        "title": item.title,
        "summary": item.summary_text,
        "category": item.category,
        "note": item.note or "",
    }


def _render_edit(
    request: Request,
    item: Item,
    values: dict[str, str],
    nxt: str,
    error: str | None = None,
    status_code: int = 200,
) -> Response:
    context = {
        "item": item,
        "values": values,
        "error": error,
        "next": nxt,
        "updated_at": revision(item),
    }
    return render(request, "edit.html", context, status_code=status_code)


@editor_only
async def edit(request: Request) -> Response:
    item = _get_item(request)
    if request.method in ("GET", "HEAD"):  # HEAD is a GET without a body, never a form post
        nxt = safe_next(request.query_params.get("next"))
        return _render_edit(request, item, _form_values(item), nxt)

    form = await request.form()
    nxt = safe_next(form_str(form, "next"))
    values = {k: form_str(form, k) for k in ("title", "summary", "category", "note")}
    then = form_str(form, "then")
    seen = form_str(form, "updated_at")
    # A form without its version is stale (-1 matches no history length).
    expect = strict_int(seen, name="the form's item version") if seen else -1
    error = _check_fields(values["title"], values["summary"], values["category"], values["note"])
    if error is not None:
        return _render_edit(request, item, values, nxt, error, status_code=400)
    curator = state(request).curator
    store = curator.store
    # The same decisions as curator.review's, with the export deferred until the one
    # transaction below has committed (it would otherwise export uncommitted state).
    review = Review(store, curator.clock)
    by = user_name(request)

    def save() -> Item:
        """Compare and write in one transaction: the form's fields overwrite only the item
        they were filled in from (an edit from the CLI or another tab meanwhile wins), and
        "save and approve" stands or falls whole."""
        with _logged_after_commit(), store.transaction():
            current = store.get_item(item.id)
            if current is None:
                raise UnknownItem(item.id)
            title = values["title"] if not _same_text(values["title"], current.title) else None
            summary = (
                escape_text_paragraphs(values["summary"])
                if not _same_text(values["summary"], current.summary_text)
                else None
            )
            category = values["category"] if values["category"] != current.category else None
            note = values["note"].strip()
            note_arg = note if note != (current.note or "") else None
            new = review.edit(
                current.id,
                by=by,
                title=title,
                summary=summary,
                category=category,
                note=note_arg,
                expect=expect,
            )
            if then == "approve":
                new = review.approve([new.id], by=by)[0]
        if new != current:
            curator.changed()
        return new

    try:
        item = await run_in_threadpool(save)
    except UnknownItem:
        raise
    except ItemChanged as c:
        log.info("edit conflict item=%s by=%s", item.id, by)
        return _render_edit(request, c.current, _form_values(c.current), nxt, CONFLICT, 409)
    except ItemError as e:
        return _render_edit(request, item, values, nxt, str(e), status_code=400)
    if then == "approve":
        flash(request, f"Saved and approved “{item.title}”.", "done", undo=item.id)
    else:
        flash(request, f"Saved “{item.title}”.", "done", undo=item.id)
    return RedirectResponse(nxt, status_code=303)


class _HeldRecords(logging.Filter):
    """Holds back this thread's records; lets other threads' through."""

    def __init__(self) -> None:
        super().__init__()
        self.thread = threading.get_ident()
        self.records: list[logging.LogRecord] = []

    def filter(self, record: logging.LogRecord) -> bool:
        if record.thread == self.thread:
            self.records.append(record)
            return False
        return True


@contextlib.contextmanager
def _logged_after_commit(name: str = "curator.review") -> Iterator[None]:
    """Review's log lines ("edited", "approved") for a transaction that wraps several of its
    calls, written once that transaction has committed and dropped if it fails: a log must not
    say "approved" for a write the disk refused."""
    logger = logging.getLogger(name)
    held = _HeldRecords()
    logger.addFilter(held)
    try:
        yield
    finally:
        logger.removeFilter(held)
    for record in held.records:
        logger.handle(record)


def _check_fields(title: str, summary: str, category: str, note: str) -> str | None:
    if not title.strip():
        return "A title is needed."
    if len(title) > MAX_TITLE:
        return f"The title is too long: at most {MAX_TITLE} characters."
    if len(summary) > MAX_SUMMARY:
        return f"The summary is too long: at most {MAX_SUMMARY} characters."
    if len(note) > MAX_NOTE:
        return f"The note is too long: at most {MAX_NOTE} characters."
    if category not in CATEGORIES:
        return "Choose a category."
    return None


# --------------------------------------------------------------------------- add by hand


def _check_url(url: str) -> str | None:
    parts = urlsplit(url)
    if len(url) > MAX_URL or parts.scheme not in ("http", "https") or not parts.hostname:
        return "Paste a full web address starting with http:// or https://."
    return None


def _existing(request: Request, url: str) -> Item | None:
    item_id = normalize.item_id(normalize.canonical_url(url))
    return state(request).curator.store.get_item(item_id)


@editor_only
async def add_form(request: Request) -> Response:
    return render(request, "add.html", {"step": "url", "url": "", "error": None, "existing": None})


@editor_only
async def add_fetch(request: Request) -> Response:
    """Fetch the pasted page and prefill the form from its metadata."""
    form = await request.form()
    url = form_str(form, "url").strip()
    error = _check_url(url)
    if error is not None:
        return render(
            request, "add.html", {"step": "url", "url": url, "error": error, "existing": None}, 400
        )
    existing = _existing(request, url)
    if existing is not None:
        return render(
            request,
            "add.html",
            {"step": "url", "url": url, "error": None, "existing": existing},
            status_code=409,
        )
    st = state(request)
    values = {
        "url": url,
        "title": "",
        "summary": "",
        "category": "news",
        "published": "",
        "note": "",
        "site": "",
    }
    warning = None
    try:
        fetched = await st.curator.fetcher.fetch_url(url)
        meta = page_metadata(fetched.content, url=fetched.url, headers=fetched.headers)
    except CuratorError as e:
        log.info("add by hand: fetch failed url=%s error=%s", url, e)
        warning = f"Could not read that page ({e}). Fill in the details by hand."
    else:
        values.update(
            url=meta.url or fetched.url or url,
            title=meta.title or "",
            summary=meta.summary or "",
            published=_date_value(meta.published),
            site=normalize.text_line(meta.site_name, SITE_MAX),
        )
        if values["url"] != url and _existing(request, values["url"]) is not None:
            existing = _existing(request, values["url"])
            return render(
                request,
                "add.html",
                {"step": "url", "url": url, "error": None, "existing": existing},
                status_code=409,
            )
    return render(
        request,
        "add.html",
        {"step": "details", "values": values, "error": None, "warning": warning},
    )


def _date_value(published: datetime | None) -> str:
    """A page's date for the form's ``datetime-local`` field, in UTC, to the minute."""
    if published is None:
        return ""
    return published.astimezone(UTC).strftime("%Y-%m-%dT%H:%M")


def _parse_date(value: str) -> datetime | None:
    """``YYYY-MM-DD``, with ``THH:MM`` (and ``:SS``) or not, in UTC; None when empty."""
    value = value.strip()
    if not value:
        return None
    for pattern in ("%Y-%m-%d", "%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M"):
        try:
            return datetime.strptime(value, pattern).replace(tzinfo=UTC)
        except ValueError:
            continue
    raise ValueError(f"not a date: {value!r}")


@editor_only
async def add_save(request: Request) -> Response:
    form = await request.form()
    values = {
        k: form_str(form, k)
        for k in ("url", "title", "summary", "category", "published", "note", "site")
    }
    approve = form_str(form, "then") != "queue"
    error = _check_url(values["url"].strip()) or _check_fields(
        values["title"], values["summary"], values["category"], values["note"]
    )
    published = None
    if error is None:
        try:
            published = _parse_date(values["published"])
        except ValueError:
            error = (
                "Give the date as YYYY-MM-DD (a time in UTC, THH:MM, may follow), "
                "or leave it empty."
            )
    if error is None:
        try:
            item = await run_in_threadpool(
                state(request).curator.review.add_manual,
                url=values["url"].strip(),
                title=values["title"],
                summary=escape_text_paragraphs(values["summary"]),
                category=values["category"],
                published=published,
                by=user_name(request),
                note=values["note"].strip() or None,
                approve=approve,
                site=values["site"],
            )
        except ItemError as e:
            error = str(e)
    if error is not None:
        return render(
            request,
            "add.html",
            {"step": "details", "values": values, "error": error, "warning": None},
            status_code=400,
        )
    word = "Added and approved" if approve else "Added to the queue"
    flash(request, f"{word}: “{item.title}”.", "done", undo=item.id if approve else None)
    return RedirectResponse("/approved" if approve else "/", status_code=303)


routes = [
    Route("/", _list_view("pending"), methods=["GET"], name="queue"),
    Route("/approved", _list_view("approved"), methods=["GET"], name="approved"),
    Route("/rejected", _list_view("rejected"), methods=["GET"], name="rejected"),
    Route("/items", _list_view("all"), methods=["GET"], name="items"),
    Route("/items/bulk", bulk, methods=["POST"], name="bulk"),
    Route("/items/undo", undo_batch, methods=["POST"], name="undo_batch"),
    Route("/items/{item_id}", item_page, methods=["GET"], name="item"),
    Route("/items/{item_id}/edit", edit, methods=["GET", "POST"], name="edit"),
    *(
        Route(f"/items/{{item_id}}/{a}", _action(a), methods=["POST"], name=a)
        for a in ("approve", "reject", "undo", "reopen")
    ),
    Route("/add", add_form, methods=["GET"], name="add"),
    Route("/add/fetch", add_fetch, methods=["POST"], name="add_fetch"),
    Route("/add/save", add_save, methods=["POST"], name="add_save"),
]
