"""Same story, one item: "Not the same story" splits a telling that similar words grouped
into another outlet's story back out as an item of its own (:meth:`Review.split`)."""

from __future__ import annotations

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from curator.exceptions import ItemError, UnknownItem
from curator.web._common import (
    editor_only,
    flash,
    form_str,
    safe_next,
    state,
    user_name,
    wants_json,
)
from curator.web._numbers import strict_int


@editor_only
async def split(request: Request) -> Response:
    form = await request.form()
    item_id = request.path_params["item_id"]
    member = form_str(form, "member")
    seen = form_str(form, f"expect-{item_id}")
    expect = strict_int(seen, name="the page's item version") if seen else None
    back = safe_next(form_str(form, "next"), f"/items/{item_id}")
    try:
        story, own = await run_in_threadpool(
            state(request).curator.review.split,
            item_id,
            member,
            by=user_name(request),
            expect=expect,
        )
    except UnknownItem:
        raise  # the 404 page
    except ItemError as e:  # not a member of that story, or the item changed since
        if wants_json(request):
            return JSONResponse({"error": str(e), "id": item_id}, status_code=409)
        flash(request, str(e), "error")
        return RedirectResponse(back, status_code=303)
    message = f"Split: “{own.title}” is its own item again, in the queue."
    if wants_json(request):
        return JSONResponse({"id": story.id, "split": own.id, "message": message})
    flash(request, message, "done")
    return RedirectResponse(back, status_code=303)


routes = [
    Route("/items/{item_id}/split", split, methods=["POST"], name="split"),
]
