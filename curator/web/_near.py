"""The near misses: entries the rules left out only for lacking a term from a required group,
kept 30 days with their reason, and "Promote" to make one a pending item."""

from __future__ import annotations

import math
from datetime import timedelta

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from curator.exceptions import UnknownItem
from curator.store import NEAR_MISS_DAYS
from curator.web._common import editor_only, flash, render, state, user_name
from curator.web._numbers import strict_int

MAX_PAGE = 1_000_000


@editor_only
async def near_misses_page(request: Request) -> Response:
    curator = state(request).curator
    # Pruned when a poll is stored; a server that has not polled for a while still shows
    # nothing older than the promise.
    since = curator.clock() - timedelta(days=NEAR_MISS_DAYS)
    rows = [n for n in curator.store.near_misses() if n.seen_at >= since]
    raw_page = request.query_params.get("page", "")
    page = strict_int(raw_page, name="page", low=1, high=MAX_PAGE) if raw_page else 1
    size = curator.config.web.page_size
    pages = max(1, math.ceil(len(rows) / size))
    page = min(page, pages)
    return render(
        request,
        "near_misses.html",
        {
            "rows": rows[(page - 1) * size : page * size],
            "total": len(rows),
            "page": page,
            "pages": pages,
            "prev_url": f"/near-misses?page={page - 1}" if page > 1 else None,
            "next_url": f"/near-misses?page={page + 1}" if page < pages else None,
            "days": NEAR_MISS_DAYS,
            "title": "Near misses",
        },
    )


@editor_only
async def promote(request: Request) -> Response:
    curator = state(request).curator
    item_id = request.path_params["item_id"]
    try:
        item = await run_in_threadpool(
            curator.review.promote,
            item_id,
            by=user_name(request),
            source_of=curator.config.source,
        )
    except UnknownItem:
        flash(request, "That near miss is no longer here (promoted already, or too old).", "error")
        return RedirectResponse("/near-misses", status_code=303)
    where = "to the queue" if item.status == "pending" else f"(already {item.status})"
    flash(request, f"Promoted {where}: “{item.title}”.", "done")
    return RedirectResponse("/near-misses", status_code=303)


routes = [
    Route("/near-misses", near_misses_page, methods=["GET"], name="near_misses"),
    Route("/near-misses/{item_id}/promote", promote, methods=["POST"], name="promote"),
]
