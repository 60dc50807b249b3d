"""Administrators add, edit, disable and enable sources from the web app (issue 12).

Every change goes through :mod:`curator.config_edit`: the entry is changed in the round-trip
document (the file's comments, order and quoting kept), the whole file is validated exactly as
``curator check`` validates it, and only then written.  The form carries the version (SHA-256)
of the text it was made from, so a file changed meanwhile (by hand, by another editor, by an
OPML import) is refused rather than overwritten.  ``serve`` notices the new file by its hash and
reloads it (:mod:`curator.reload`) within ``--watch-interval`` seconds; the pages therefore read
the *file* for the form, and say when the running configuration has not caught up yet.

Only the keys the form shows are touched: a source's ``rules:`` and any comment on it stay.
The id is fixed once made (items and polling state are kept under it).
"""

from __future__ import annotations

import functools
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from filelock import Timeout
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from curator import auth, config, config_edit, opml
from curator.exceptions import ConfigError, CuratorError
from curator.fetch import private_address
from curator.types import CATEGORIES, DEFAULT_JURISDICTION, PUBLISHER_CLASSES
from curator.web._common import (
    Endpoint,
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

KINDS = ("feed", "page", "crossref", "arxiv")
#: The form's fields, in the order they are written to a new entry.
FIELDS = (
    "id",
    "name",
    "url",
    "kind",
    "category",
    "class",
    "jurisdiction",
    "interval",
    "homepage",
    "selector",
)
#: Fields that are left out of the entry when empty (the rest are required or defaulted).
OPTIONAL = ("class", "interval", "homepage", "selector")


def admin_only(endpoint: Endpoint) -> Endpoint:
    """Sign-in first, then 403 for an editor who is not an administrator."""

    @functools.wraps(endpoint)
    async def check(request: Request) -> Response:
        if not auth.is_admin(state(request).curator.store, request.state.user):
            return error_page(
                request, 403, "Not allowed", "Only an administrator can change the sources."
            )
        return await endpoint(request)

    return editor_only(check)


@dataclass
class _Form:
    """What the form shows: the values, the file version, and problems by field."""

    values: dict[str, str]
    version: str
    enabled: bool = True
    errors: dict[str, list[str]] = field(default_factory=dict)
    general: list[str] = field(default_factory=list)


def _path(request: Request) -> Path:
    return Path(state(request).curator.config.path)


def _read_file(path: Path) -> tuple[str, config.Config]:
    text = path.read_text(encoding="utf-8")
    return text, config.loads(text, str(path))


def _values_of(source: config.Source) -> dict[str, str]:
    interval = "" if source.interval is None else _duration(source.interval)
    return {
        "id": source.id,
        "name": source.name,
        "url": source.url,
        "kind": source.kind,
        "category": source.category,
        "class": source.publisher_class or "",
        "jurisdiction": source.jurisdiction,
        "interval": interval,
        "homepage": source.homepage or "",
        "selector": source.selector or "",
    }


def _duration(seconds: float) -> str:
    for unit, size in (("w", 604800), ("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{int(seconds // size)}{unit}"
    return f"{seconds:g}s"


def _page(request: Request, form: _Form, *, new: bool, status_code: int = 200) -> Response:
    return render(
        request,
        "source_edit.html",
        {
            "title": "Add a source" if new else f"Edit {form.values.get('name') or 'source'}",
            "form": form,
            "new": new,
            "kinds": KINDS,
            "publisher_classes": PUBLISHER_CLASSES,
            "categories": CATEGORIES,
            "config_name": _path(request).name,
        },
        status_code=status_code,
    )


def _problems(error: ConfigError, form: _Form, index: int | None) -> None:
    """Each problem next to its field when it names one of this source's keys, else above
    the form (a problem elsewhere in the file: the whole file must stay valid)."""
    for p in error.problems:
        key = p.key or ""
        field_name = None
        if index is not None and key.startswith(f"sources[{index}]"):
            tail = key.split(".", 1)[1] if "." in key else ""
            field_name = tail.split(".")[0] if tail else None
        elif key.endswith(".id") and "duplicate source id" in p.message:
            field_name = "id"
        if field_name in FIELDS:
            form.errors.setdefault(field_name, []).append(p.message)
        else:
            form.general.append(str(p))


def _entry(values: dict[str, str], *, enabled: bool) -> dict[str, Any]:
    entry: dict[str, Any] = {}
    for name in FIELDS:
        value = values.get(name, "").strip()
        if name in OPTIONAL and not value:
            continue
        entry[name] = value
    entry["enabled"] = enabled
    return entry


def _apply(target: Any, values: dict[str, Any], only: set[str] | None = None) -> None:
    """Set the form's keys on a round-trip mapping; empty optional keys are removed.  With
    ``only``, the other keys are left exactly as written (``360m`` stays ``360m``)."""
    from ruamel.yaml.scalarstring import DoubleQuotedScalarString

    for name in FIELDS:
        if name == "id" or (only is not None and name not in only):
            continue
        if name not in values:
            if name in OPTIONAL and name in target:
                del target[name]
            continue
        value = values[name]
        if name in ("url", "homepage") and isinstance(value, str):
            value = DoubleQuotedScalarString(value)
        target[name] = value
    if only is None or "enabled" in only:
        target["enabled"] = values["enabled"]


def _index_of(doc: Any, source_id: str) -> int:
    sources = doc.get("sources") if isinstance(doc, dict) else None
    for i, entry in enumerate(sources or []):
        if isinstance(entry, dict) and entry.get("id") == source_id:
            return i
    raise KeyError(source_id)


def _read_form(form: Any) -> dict[str, str]:
    values = {name: form_str(form, name).strip() for name in FIELDS}
    values["jurisdiction"] = values["jurisdiction"].upper() or DEFAULT_JURISDICTION
    return values


# --------------------------------------------------------------------------- add


@admin_only
async def new_source(request: Request) -> Response:
    path = _path(request)
    if request.method in ("GET", "HEAD"):
        text = await run_in_threadpool(path.read_text, encoding="utf-8")
        values = {name: "" for name in FIELDS}
        values.update(kind="feed", category="news", jurisdiction=DEFAULT_JURISDICTION)
        return _page(request, _Form(values, config_edit.version(text)), new=True)
    form = await request.form()
    values = _read_form(form)
    enabled = form_str(form, "enabled") == "yes"
    state_form = _Form(values, form_str(form, "expected_version"), enabled)
    if not values["id"]:
        state_form.errors["id"] = ["give the source an id (lower-case letters, digits, - or _)"]
        return _page(request, state_form, new=True, status_code=400)
    entry = _entry(values, enabled=enabled)
    same = _same_feed(state(request).curator.config, values["url"], values["id"])
    if same is not None:
        state_form.errors.setdefault("url", []).append(
            f"that is the same feed as source {same} (compared as `sources import` does: "
            "scheme, www., case, default port, trailing slash, fragment and query order set "
            "aside)"
        )
        return _page(request, state_form, new=True, status_code=400)
    if await _refuse_private(request, state_form):
        return _page(request, state_form, new=True, status_code=400)

    def change(doc: Any) -> None:
        from ruamel.yaml.comments import CommentedMap, CommentedSeq

        sources = doc.get("sources")
        if sources is None:
            sources = doc["sources"] = CommentedSeq()
        item = CommentedMap()
        item["id"] = entry["id"]
        _apply(item, entry)
        config_edit.append_entries(sources, [item])

    try:
        edited = await run_in_threadpool(
            config_edit.edit, path, change, expected_version=state_form.version
        )
    except ConfigError as e:
        _problems(e, state_form, _count_sources(path))
        return _page(request, state_form, new=True, status_code=400)
    except (CuratorError, Timeout) as e:  # ConfigChanged, or another save holds the lock
        state_form.general.append(str(e))
        return _page(request, state_form, new=True, status_code=409)
    log.info("source added source=%s by=%s", values["id"], user_name(request))
    flash(request, await _saved(request, f"Added {values['name'] or values['id']}", edited), "done")
    return RedirectResponse(f"/sources#source-{values['id']}", status_code=303)


def _same_feed(cfg: config.Config, url: str, own_id: str) -> str | None:
    """The id of another configured source that polls the same feed as ``url``, if any: two
    would fetch it twice and their items would merge under whichever came first."""
    if not url.startswith(("http://", "https://")):
        return None
    try:
        key = opml.url_key(url)
    except ValueError:  # a port that is not a number: the configuration's check names it
        return None
    return next((s.id for s in cfg.sources if s.id != own_id and opml.url_key(s.url) == key), None)


async def _refuse_private(request: Request, form: _Form) -> bool:
    """True (and the reason on the url field) when the form's URL leads to a non-public
    address and ``fetch.allow_private_urls`` is off: see :func:`curator.fetch.private_address`."""
    cfg = state(request).curator.config
    url = form.values.get("url", "")
    if cfg.fetch.allow_private_urls or not url.startswith(("http://", "https://")):
        return False
    try:
        address = await private_address(url)
    except (ValueError, httpx.InvalidURL):
        return False  # not a URL at all: the configuration's own check names it
    if address is None:
        return False
    form.errors.setdefault("url", []).append(
        f"that host is at {address}, not a public web address: sources added here may only "
        "be fetched from the internet (set fetch.allow_private_urls: true in feeds.yaml to "
        "allow intranet feeds)"
    )
    return True


def _count_sources(path: Path) -> int | None:
    """The index a source appended to the file would have (for placing problems)."""
    try:
        doc = config_edit.load_document(path.read_text(encoding="utf-8"), str(path))
    except (ConfigError, OSError):
        return None
    sources = doc.get("sources") if isinstance(doc, dict) else None
    return len(sources) if sources is not None else 0


async def _saved(request: Request, what: str, edited: config_edit.Edited) -> str:
    name = _path(request).name
    if not edited.changed:
        return f"{what}: {name} already said so; nothing changed."
    if await config_saved(request):
        return f"{what}: saved to {name} (comments kept), and in use now."
    return (
        f"{what}: saved to {name} (comments kept). The running service takes it up when it "
        "next reads the file (within seconds, or at SIGHUP with --watch-interval 0)."
    )


# --------------------------------------------------------------------------- edit


@admin_only
async def edit_source(request: Request) -> Response:
    path = _path(request)
    source_id = request.path_params["source_id"]
    if request.method in ("GET", "HEAD"):
        try:
            text, cfg = await run_in_threadpool(_read_file, path)
        except (ConfigError, OSError) as e:
            return error_page(request, 409, "feeds.yaml cannot be read", str(e))
        source = cfg.source(source_id)
        if source is None:
            return _no_such(request, source_id)
        shown = _Form(_values_of(source), config_edit.version(text), source.enabled)
        return _page(request, shown, new=False)
    form = await request.form()
    values = _read_form(form)
    values["id"] = source_id  # fixed: items and polling state are kept under it
    enabled = form_str(form, "enabled") == "yes"
    state_form = _Form(values, form_str(form, "expected_version"), enabled)
    entry = _entry(values, enabled=enabled)
    try:
        _text, current_cfg = await run_in_threadpool(_read_file, path)
    except (ConfigError, OSError) as e:
        state_form.general.append(str(e))
        return _page(request, state_form, new=False, status_code=409)
    current = current_cfg.source(source_id)
    if current is None:
        return _no_such(request, source_id)
    before = _values_of(current)
    changed = {name for name in FIELDS if values.get(name, "") != before[name]}
    if enabled != current.enabled:
        changed.add("enabled")
    same = _same_feed(current_cfg, values["url"], source_id) if "url" in changed else None
    if same is not None:
        state_form.errors.setdefault("url", []).append(
            f"that is the same feed as source {same}: one source per feed"
        )
        return _page(request, state_form, new=False, status_code=400)
    if "url" in changed and await _refuse_private(request, state_form):
        return _page(request, state_form, new=False, status_code=400)
    found: dict[str, int] = {}

    def change(doc: Any) -> None:
        index = _index_of(doc, source_id)
        found["index"] = index
        _apply(doc["sources"][index], entry, changed)

    try:
        edited = await run_in_threadpool(
            config_edit.edit, path, change, expected_version=state_form.version
        )
    except KeyError:
        return _no_such(request, source_id)
    except ConfigError as e:
        _problems(e, state_form, found.get("index"))
        return _page(request, state_form, new=False, status_code=400)
    except (CuratorError, Timeout) as e:
        state_form.general.append(str(e))
        return _page(request, state_form, new=False, status_code=409)
    log.info("source edited source=%s by=%s", source_id, user_name(request))
    flash(request, await _saved(request, f"Saved {values['name'] or source_id}", edited), "done")
    return RedirectResponse(f"/sources/{source_id}", status_code=303)


def _no_such(request: Request, source_id: str) -> Response:
    return error_page(
        request, 404, "No such source", f"{_path(request).name} has no source {source_id!r}."
    )


def _toggle(enabled: bool) -> Endpoint:
    @admin_only
    async def toggle(request: Request) -> Response:
        path = _path(request)
        source_id = request.path_params["source_id"]
        form = await request.form()
        expected = form_str(form, "expected_version") or None

        def change(doc: Any) -> None:
            doc["sources"][_index_of(doc, source_id)]["enabled"] = enabled

        word = "Enabled" if enabled else "Disabled"
        try:
            edited = await run_in_threadpool(
                config_edit.edit, path, change, expected_version=expected
            )
        except KeyError:
            return _no_such(request, source_id)
        except (CuratorError, Timeout) as e:  # ConfigError, ConfigChanged, lock held
            flash(request, f"{source_id}: not {word.lower()}: {e}", "error")
            return RedirectResponse(f"/sources/{source_id}", status_code=303)
        log.info("source %s source=%s by=%s", word.lower(), source_id, user_name(request))
        flash(request, await _saved(request, f"{word} {source_id}", edited), "done")
        return RedirectResponse(f"/sources/{source_id}", status_code=303)

    return toggle


routes = [
    Route("/sources/new", new_source, methods=["GET", "POST"], name="source_new"),
    Route("/sources/{source_id}/edit", edit_source, methods=["GET", "POST"], name="source_edit"),
    Route("/sources/{source_id}/enable", _toggle(True), methods=["POST"], name="source_enable"),
    Route("/sources/{source_id}/disable", _toggle(False), methods=["POST"], name="source_disable"),
]
