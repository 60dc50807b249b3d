"""The digest archive and the preview of the next digest, rendered by ``curator.digests``.

The text part is shown inside the editor's page.  The HTML part is the e-mail's own document,
with its own inline styles, so it is served on its own URL under a sandboxing
Content-Security-Policy (no script, no plugin, no form, nothing loaded but images) rather than
pasted into a page whose policy forbids inline styles.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Route

from curator import digests, subscribers
from curator.config import Config
from curator.digest import Digest
from curator.exceptions import DigestError
from curator.store import Store
from curator.types import DigestRecord
from curator.web._common import editor_only, error_page, render, state

MAIL_CSP = (
    "sandbox; default-src 'none'; style-src 'unsafe-inline'; img-src https: data:; "
    "frame-ancestors 'none'"
)


def _recipient_counts(record: DigestRecord) -> dict[str, int]:
    counts = {"sent": 0, "pending": 0, "refused": 0}
    for status in record.recipients.values():
        key = "refused" if status.startswith("refused") else status
        counts[key] = counts.get(key, 0) + 1
    return counts


@editor_only
async def archive(request: Request) -> Response:
    curator = state(request).curator
    records = digests.list_digests(curator.store)
    waiting = len(curator.store.undigested())
    return render(
        request,
        "digests.html",
        {
            "title": "Digests",
            "records": records,
            "recipient_counts": _recipient_counts,
            "waiting": waiting,
            "no_recipients": _no_recipients(curator.config, curator.store),
        },
    )


def _no_recipients(config: Config, store: Store) -> str | None:
    """Why the next digest would reach nobody, or None when it has readers (or is off)."""
    if not config.digest.enabled:
        return None
    try:
        found = subscribers.readers(config, store)
    except DigestError as e:  # an unreadable recipients_file, an address that is not one
        return f"The digest cannot be sent: {e}"
    if found:
        return None
    return (
        "The digest has no recipients: nobody will receive it. Add subscribers on the Admin "
        "page, or addresses to digest.recipients or digest.recipients_file in feeds.yaml."
    )


def _record(request: Request) -> DigestRecord | None:
    return state(request).curator.store.get_digest(request.path_params["digest_id"])


def _no_record(request: Request) -> Response:
    return error_page(request, 404, "No such digest", "No digest has that id.")


@editor_only
async def record_page(request: Request) -> Response:
    record = _record(request)
    if record is None:
        return _no_record(request)
    curator = state(request).curator
    rendered = digests.render_record(curator.config, curator.store, record)
    return _digest_page(request, rendered, record=record)


@editor_only
async def record_html(request: Request) -> Response:
    record = _record(request)
    if record is None:
        return _no_record(request)
    curator = state(request).curator
    return _mail_html(digests.render_record(curator.config, curator.store, record))


def _preview(request: Request) -> Digest:
    curator = state(request).curator
    return digests.preview_digest(curator.config, curator.store, curator.clock())


@editor_only
async def preview_page(request: Request) -> Response:
    return _digest_page(request, _preview(request), record=None)


@editor_only
async def preview_html(request: Request) -> Response:
    return _mail_html(_preview(request))


def _digest_page(request: Request, rendered: Digest, *, record: DigestRecord | None) -> Response:
    return render(
        request,
        "digest.html",
        {
            "title": rendered.subject,
            "digest": rendered,
            "record": record,
            "recipient_counts": _recipient_counts,
            "html_url": (
                f"/digests/{record.id}/html" if record is not None else "/digests/preview/html"
            ),
        },
    )


def _mail_html(rendered: Digest) -> Response:
    body = rendered.html if rendered.html is not None else None
    if body is None:
        return HTMLResponse(
            "<!doctype html><title>No HTML part</title><p>This message is text only.</p>",
            headers={"Content-Security-Policy": MAIL_CSP},
        )
    return HTMLResponse(body, headers={"Content-Security-Policy": MAIL_CSP})


routes = [
    Route("/digests", archive, methods=["GET"], name="digests"),
    Route("/digests/preview", preview_page, methods=["GET"], name="digest_preview"),
    Route("/digests/preview/html", preview_html, methods=["GET"], name="digest_preview_html"),
    Route("/digests/{digest_id}", record_page, methods=["GET"], name="digest"),
    Route("/digests/{digest_id}/html", record_html, methods=["GET"], name="digest_html"),
]
