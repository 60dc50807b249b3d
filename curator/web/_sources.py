"""The sources page: a table of the sources' health as the store recorded it, a page per
source with the details, "poll now", and the problems of a feeds.yaml that ``serve`` could not
reload."""

from __future__ import annotations

import functools
import logging
from collections import Counter
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from curator import __version__, health
from curator.config import Source
from curator.exceptions import CuratorError, StoreError
from curator.types import SourceState
from curator.web._common import (
    current_user,
    editor_only,
    error_page,
    flash,
    fmt_datetime,
    render,
    state,
)

log = logging.getLogger("curator.web")


@dataclass(frozen=True)
class SourceHealth:
    """One row of the sources page: the configuration beside what polling it has shown."""

    source: Source
    state: SourceState | None
    health: str  # ok | failing | gone | never | disabled
    label: str
    interval: float


def _health(source: Source, st: SourceState | None, default_interval: float) -> SourceHealth:
    interval = source.interval or default_interval
    if not source.enabled:
        health, label = "disabled", "Disabled in feeds.yaml"
    elif st is not None and st.gone:
        health, label = "gone", "Gone (410): not polled until its configuration changes"
    elif st is None or st.last_fetch is None:
        health, label = "never", "Not polled yet"
    elif st.consecutive_errors:
        n = st.consecutive_errors
        health, label = "failing", f"Failing: {n} error{'s' if n != 1 else ''} in a row"
    elif st.warning:
        health, label = "ok", "Working, with a warning"
    else:
        health, label = "ok", "Working"
    return SourceHealth(source, st, health, label, interval)


def _every(seconds: float) -> str:
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds >= size and seconds % size == 0:
            n = int(seconds // size)
            return f"every {n} {unit}{'s' if n != 1 else ''}" if n != 1 else f"every {unit}"
    return f"every {int(seconds)} seconds"


def _next_poll(row: SourceHealth, now: datetime) -> str:
    """When the scheduler polls the source next, in words for the table."""
    st = row.state
    if row.health == "disabled":
        return "not polled (disabled)"
    if row.health == "gone":
        return "not polled (gone)"
    if st is None or st.next_due is None or st.next_due <= now:
        return "due now"
    return fmt_datetime(st.next_due)


def _rows(request: Request) -> list[SourceHealth]:
    curator = state(request).curator
    states = curator.store.states()
    default = curator.config.fetch.default_interval
    return [_health(s, states.get(s.id), default) for s in curator.config.sources]


def _summary(rows: list[SourceHealth]) -> list[tuple[str, int]]:
    """ "N ok · N failing · N disabled", and the others only when there are some."""
    counts = Counter("failing" if r.health == "gone" else r.health for r in rows)
    parts = [("ok", counts["ok"]), ("failing", counts["failing"])]
    if counts["never"]:
        parts.append(("not polled yet", counts["never"]))
    parts.append(("disabled", counts["disabled"]))
    return parts


@editor_only
async def sources_page(request: Request) -> Response:
    curator = state(request).curator
    rows = _rows(request)
    order = {"gone": 0, "failing": 1, "never": 2, "ok": 3, "disabled": 4}
    rows.sort(key=lambda r: (order[r.health], r.source.name.casefold()))
    return render(
        request,
        "sources.html",
        {
            "rows": rows,
            "summary": _summary(rows),
            "next_poll": functools.partial(_next_poll, now=curator.clock()),
            "config_status": curator.config_status,
            "config_name": Path(curator.config.path).name,
            "title": "Sources",
        },
    )


@editor_only
async def source_page(request: Request) -> Response:
    curator = state(request).curator
    source_id = request.path_params["source_id"]
    row = next((r for r in _rows(request) if r.source.id == source_id), None)
    if row is None:
        return error_page(request, 404, "No such source", f"No source has the id {source_id!r}.")
    return render(
        request,
        "source.html",
        {
            "r": row,
            "every": _every,
            "next_poll": _next_poll(row, curator.clock()),
            "title": row.source.name,
            "config_version": _file_version(curator.config.path),
        },
    )


def _file_version(path: str) -> str:
    """The version of feeds.yaml the enable/disable buttons are made from (config_edit)."""
    from curator import config_edit

    try:
        return config_edit.version(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError):
        return ""


@editor_only
async def poll_now(request: Request) -> Response:
    curator = state(request).curator
    source_id = request.path_params["source_id"]
    source = curator.config.source(source_id)
    if source is None:
        return error_page(request, 404, "No such source", f"No source has the id {source_id!r}.")
    form = await request.form()
    back = (
        f"/sources/{source_id}" if form.get("back") == "source" else f"/sources#source-{source_id}"
    )
    try:
        report = await curator.poll([source_id])
    except CuratorError as e:
        flash(request, f"{source.name}: the poll failed: {e}", "error")
        return RedirectResponse(back, status_code=303)
    if not report.sources:
        flash(request, f"{source.name}: nothing was polled.", "error")
    for r in report.sources:
        if r.outcome in ("error", "gone"):
            flash(request, f"{source.name}: {r.outcome}: {r.error or 'no detail'}", "error")
        elif r.outcome == "not_modified":
            flash(request, f"{source.name}: not changed since the last poll.", "done")
        else:
            flash(
                request,
                f"{source.name}: {r.entries} entries, {r.matched} matched, {r.new} new.",
                "done",
            )
    return RedirectResponse(back, status_code=303)


async def healthz(request: Request) -> Response:
    """For monitors and load balancers: a bare ``{"status": "ok"|"degraded"|"failing"}``
    (HTTP 200, 200, 503; see curator.health).  A signed-in editor also gets the details:
    damaged files with their paths, jobs that failed on the store, item counts, the last
    backup.  Nothing about the installation is shown without a session."""
    curator = state(request).curator
    try:
        editor = current_user(request) is not None
    except StoreError:  # the accounts file itself is damaged: no one is signed in
        editor = False
    report = health.assess(curator.store, curator.health, counts=editor)
    body: dict[str, Any] = {"status": report.status}
    if editor:
        body.update(version=__version__, **report.details)
    return JSONResponse(body, status_code=report.http_status, headers={"Cache-Control": "no-store"})


routes = [
    Route("/sources", sources_page, methods=["GET"], name="sources"),
    Route("/sources/{source_id}", source_page, methods=["GET"], name="source"),
    Route("/sources/{source_id}/poll", poll_now, methods=["POST"], name="poll"),
    Route("/healthz", healthz, methods=["GET"], name="healthz"),
]
