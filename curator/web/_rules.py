"""The rules page: the keyword rules in force, read for a person, and an editor for the
``rules:`` section of feeds.yaml with a dry run before anything is saved.

Any editor may read the rules and try a change: the changed text runs over the entries the
polls kept (``store.keep_seen``) through the same engine as ``curator rules test``
(:mod:`curator.workbench`), and the page lists what it would newly keep and newly drop.  Only
an administrator may then save it (:mod:`curator.rules_edit`: validated first, only the
``rules:`` lines replaced, refused when feeds.yaml changed since the page was made).
``curator serve`` notices the new file and reloads it (:mod:`curator.reload`).
"""

from __future__ import annotations

import logging
from datetime import timedelta
from pathlib import Path
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from curator import auth, config, rules_edit, workbench
from curator.config_edit import ConfigChanged
from curator.exceptions import ConfigError, Problem
from curator.web._common import (
    config_saved,
    editor_only,
    error_page,
    flash,
    form_str,
    render,
    state,
    user_name,
)

log = logging.getLogger("curator.web")

#: Entries listed per side of a dry run; the counts are always whole.
SHOWN = 200


def _path(request: Request) -> Path:
    return Path(state(request).curator.config.path)


def _overrides(cfg: config.Config) -> list[tuple[config.Source, list[str]]]:
    """Each source whose rules differ from the global ones, with its changes in words."""
    out = []
    for source in cfg.sources:
        r = source.rules
        changes = []
        if r.keep_all:
            changes.append("keeps every entry")
        if r.min_score is not None:
            changes.append(f"needs a score of {r.min_score:g}")
        if r.require is not None:
            changes.append("requires " + (", ".join(r.require) or "no group"))
        if r.include:
            changes.append(
                "adds " + ", ".join(f"{term} ({weight:+g})" for term, weight in r.include.items())
            )
        if r.exclude:
            changes.append("excludes " + ", ".join(r.exclude))
        if changes:
            out.append((source, changes))
    return out


async def _page(request: Request, **options: Any) -> Response:
    """The Rules page; the kept entries are counted off the event loop (a month of them is
    a lot of JSON to read the first time)."""
    curator = state(request).curator
    keep = curator.config.store.keep_seen
    since = curator.clock() - timedelta(seconds=keep)
    kept = await run_in_threadpool(curator.store.seen_count, since) if keep else 0
    return _render(request, kept, **options)


def _render(
    request: Request,
    kept_count: int,
    *,
    body: str | None = None,
    version: str | None = None,
    trial: workbench.Trial | None = None,
    problems: list[Problem] | None = None,
    error: str | None = None,
    status_code: int = 200,
) -> Response:
    st = state(request)
    curator = st.curator
    cfg = curator.config
    try:
        current = rules_edit.read(_path(request))
    except ConfigError as e:
        current = None
        problems = [*(problems or []), *e.problems]
    keep = cfg.store.keep_seen
    rules = cfg.rules
    include = sorted(rules.include.items(), key=lambda kv: (-kv[1], kv[0]))
    return render(
        request,
        "rules.html",
        {
            "title": "Rules",
            "rules": rules,
            "scoring": [(t, w) for t, w in include if w > 0],
            "scoring_down": [(t, w) for t, w in include if w <= 0],
            "overrides": _overrides(cfg),
            "config_name": _path(request).name,
            "kept_count": kept_count,
            "keep_days": keep / 86400,
            "body": body if body is not None else (current.body if current else ""),
            "file_version": (
                version if version is not None else (current.version if current else "")
            ),
            "trial": trial,
            "shown": SHOWN,
            "problems": problems or [],
            "error": error,
            "can_save": auth.is_admin(curator.store, request.state.user),
        },
        status_code=status_code,
    )


@editor_only
async def rules_page(request: Request) -> Response:
    return await _page(request)


def _trial(request: Request, body: str) -> tuple[workbench.Trial | None, list[Problem]]:
    """The dry run of *body* over the kept entries, or the problems that stop it."""
    curator = state(request).curator
    path = _path(request)
    try:
        current = rules_edit.read(path)
        _, cfg = rules_edit.preview(current, body, str(path))
    except ConfigError as e:
        return None, list(e.problems)
    since = curator.clock() - timedelta(seconds=curator.config.store.keep_seen)
    return workbench.trial(cfg, curator.store.seen(since)), []


@editor_only
async def try_rules(request: Request) -> Response:
    form = await request.form()
    body, version = form_str(form, "rules"), form_str(form, "version")
    trial, problems = await run_in_threadpool(_trial, request, body)
    if problems:
        return await _page(request, body=body, version=version, problems=problems, status_code=400)
    return await _page(request, body=body, version=version, trial=trial)


@editor_only
async def save_rules(request: Request) -> Response:
    curator = state(request).curator
    if not auth.is_admin(curator.store, request.state.user):
        return error_page(request, 403, "Not allowed", "Only an administrator can save the rules.")
    form = await request.form()
    body, version = form_str(form, "rules"), form_str(form, "version")
    path = _path(request)
    try:
        edited = await run_in_threadpool(rules_edit.save, path, body, expected_version=version)
    except ConfigChanged as e:
        return await _page(request, body=body, version=version, error=str(e), status_code=409)
    except ConfigError as e:
        problems = list(e.problems)
        return await _page(request, body=body, version=version, problems=problems, status_code=400)
    log.info("rules saved path=%s changed=%s by=%s", path, edited.changed, user_name(request))
    if edited.changed and await config_saved(request):
        flash(request, f"Saved the rules to {path.name}; polls use them from now on.", "done")
    elif edited.changed:
        flash(
            request,
            f"Saved the rules to {path.name}. curator serve reloads the file within seconds "
            "and polls use the new rules from then on; this page shows them once it has.",
            "done",
        )
    else:
        flash(request, f"Nothing to save: the rules are as {path.name} has them.", "info")
    return RedirectResponse("/rules", status_code=303)


@editor_only
async def apply_rules(request: Request) -> Response:
    curator = state(request).curator
    since = curator.clock() - timedelta(seconds=curator.config.store.keep_seen)

    def run() -> workbench.Applied:
        done = workbench.apply(
            curator.config, curator.store, now=curator.clock(), since=since, stories=curator.stories
        )
        if done.added or done.merged:
            curator.changed()
        return done

    done = await run_in_threadpool(run)
    log.info("rules applied added=%d by=%s", len(done.added), user_name(request))
    n = len(done.added)
    flash(
        request,
        f"Added {n} entr{'y' if n == 1 else 'ies'} the current rules now catch to the queue.",
        "done",
    )
    return RedirectResponse("/rules", status_code=303)


routes = [
    Route("/rules", rules_page, methods=["GET"], name="rules"),
    Route("/rules/try", try_rules, methods=["POST"], name="rules_try"),
    Route("/rules/save", save_rules, methods=["POST"], name="rules_save"),
    Route("/rules/apply", apply_rules, methods=["POST"], name="rules_apply"),
]
