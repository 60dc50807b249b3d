""" "Look up metadata" on a research item's page (issue 12): the landing page and Crossref,
now, for that one item (what ``curator research enrich --item ID`` does), then back to the
page with what was found."""

from __future__ import annotations

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from curator.exceptions import CuratorError, UnknownItem
from curator.web._common import editor_only, flash, state


@editor_only
async def look_up(request: Request) -> Response:
    curator = state(request).curator
    item_id = request.path_params["item_id"]
    if curator.store.get_item(item_id) is None:
        raise UnknownItem(item_id)
    try:
        # The network waits on the event loop; reading pages and writing the store happen in
        # threads (curator.enrich), so the other editors' pages are served meanwhile.
        report = await curator.enrich_research([item_id])
    except CuratorError as e:
        flash(request, f"Metadata not looked up: {e}", "error")
        return RedirectResponse(f"/items/{item_id}", status_code=303)
    if report.enriched:
        await run_in_threadpool(curator.changed)
        flash(request, "Metadata found: see the citation line and the history.", "done")
    elif report.failed:
        flash(request, "The look-up failed (the log says why); it is retried later.", "error")
    else:
        flash(request, "Nothing new was found for this item.", "info")
    return RedirectResponse(f"/items/{item_id}", status_code=303)


routes = [
    Route("/items/{item_id}/research", look_up, methods=["POST"], name="research_look_up"),
]
