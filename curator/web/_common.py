"""What every editor page shares: the app's state, the signed-in editor, rendering, flashes."""

from __future__ import annotations

import functools
import hashlib
import html
import secrets
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast
from urllib.parse import quote, urlsplit

import jinja2
from argon2 import PasswordHasher
from markupsafe import Markup
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.templating import Jinja2Templates

from curator import __version__, normalize
from curator.auth import SignInThrottle, is_admin, session_fingerprint, session_generation
from curator.citation import citation_line, research_fields
from curator.config import Config
from curator.review import last_undoable
from curator.types import CATEGORIES, PUBLISHER_CLASSES, STATUSES, Item, User
from curator.web._security import csrf_token

if TYPE_CHECKING:
    from curator.config import Config
    from curator.core import Curator

HERE = Path(__file__).parent
TEMPLATES = HERE / "templates"
STATIC = HERE / "static"

Endpoint = Callable[[Request], Awaitable[Response]]


@dataclass
class WebState:
    """Everything the routes share, hung on ``app.state.web``."""

    curator: Curator
    templates: Jinja2Templates
    throttle: SignInThrottle
    hasher: PasswordHasher | None = None
    rules: dict[str, Any] = field(default_factory=dict)  # source id -> CompiledRules
    link_secret: str = ""  # signs the digest's unsubscribe links (curator.subscribers)
    # Editor -> a session generation ended here while the store could not record it (a full
    # disk): sign-out still ends the session, until this process stops.
    ended: dict[str, int] = field(default_factory=dict)
    # Bulk decisions an editor may still undo: token -> the (item id, version) pairs each
    # left. In memory (a flash in the session cookie could not hold a page of ids), newest
    # last, at most UNDO_BATCHES; a restart forgets them.
    undo_batches: OrderedDict[str, tuple[tuple[str, int], ...]] = field(default_factory=OrderedDict)

    def keep_undo(self, pairs: Sequence[tuple[str, int]]) -> str:
        """Remember a bulk decision for its undo; the token that names it."""
        token = secrets.token_urlsafe(12)
        self.undo_batches[token] = tuple(pairs)
        while len(self.undo_batches) > UNDO_BATCHES:
            self.undo_batches.popitem(last=False)
        return token


UNDO_BATCHES = 200


def state(request: Request) -> WebState:
    return cast(WebState, request.app.state.web)


# --------------------------------------------------------------------------- session


def current_user(request: Request) -> User | None:
    """The signed-in editor, or None.  Signing out (anywhere), a changed password or a
    removed account ends a session: the cookie is signed but not stored, so it carries the
    password's fingerprint and the editor's session generation, and both must still hold."""
    session = request.session
    name = session.get("user")
    if not isinstance(name, str):
        return None
    store = state(request).curator.store
    user = store.get_user(name)
    if (
        user is None
        or session.get("fp") != session_fingerprint(user)
        or session.get("gen", 0) != live_generation(request, name)
    ):
        for key in ("user", "fp", "gen"):
            session.pop(key, None)
        return None
    return user


def sign_in(request: Request, user: User) -> None:
    """Start a fresh session: new CSRF token, so nothing from before sign-in carries over."""
    request.session.clear()
    request.session["user"] = user.name
    request.session["fp"] = session_fingerprint(user)
    request.session["gen"] = live_generation(request, user.name)
    csrf_token(request.session)


def live_generation(request: Request, name: str) -> int:
    """The editor's session generation: the store's, or a later one that a sign-out could
    only keep in memory (``WebState.ended``)."""
    st = state(request)
    return max(session_generation(st.curator.store, name), st.ended.get(name, 0))


def editor_only(endpoint: Endpoint) -> Endpoint:
    """Wrap an editor page: no session, no page (sign-in first, then back here)."""

    @functools.wraps(endpoint)
    async def wrapper(request: Request) -> Response:
        user = current_user(request)
        if user is None:
            if wants_json(request):
                return JSONResponse({"error": "sign in first"}, status_code=401)
            target = request.url.path
            if request.url.query:
                target += "?" + request.url.query
            if request.method not in ("GET", "HEAD"):
                target = "/"
            suffix = "" if target == "/" else "?next=" + quote(target, safe="/")
            return RedirectResponse("/login" + suffix, status_code=303)
        request.state.user = user
        return await endpoint(request)

    wrapper.editor_only = True  # type: ignore[attr-defined]
    return wrapper


def user_name(request: Request) -> str:
    return cast(User, request.state.user).name


def wants_json(request: Request) -> bool:
    return "application/json" in request.headers.get("accept", "")


def safe_next(value: object, default: str = "/") -> str:
    """A local path to go back to; anything that could leave the site becomes ``default``."""
    if not isinstance(value, str) or not value.startswith("/") or value.startswith("//"):
        return default
    if "\\" in value or any(ord(c) < 32 for c in value):
        return default
    parts = urlsplit(value)
    if parts.scheme or parts.netloc:
        return default
    return value


def form_str(form: FormData, key: str) -> str:
    value = form.get(key)
    return value if isinstance(value, str) else ""


def client_address(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def flash(
    request: Request,
    text: str,
    kind: str = "info",
    undo: str | None = None,
    undo_batch: str | None = None,
) -> None:
    """A message for the next page, with an optional item id to offer an undo for, or a
    bulk decision's token (:meth:`WebState.keep_undo`) to offer an undo of it all."""
    messages = list(request.session.get("flash", []))[-4:]
    message: dict[str, Any] = {"text": text, "kind": kind, "undo": undo}
    if undo_batch:
        message["undo_batch"] = undo_batch
    messages.append(message)
    request.session["flash"] = messages


def render(
    request: Request,
    name: str,
    context: dict[str, Any] | None = None,
    status_code: int = 200,
    headers: dict[str, str] | None = None,
) -> Response:
    st = state(request)
    user = getattr(request.state, "user", None)
    ctx: dict[str, Any] = {
        "user": user,
        "csrf": csrf_token(request.session),
        "flashes": request.session.pop("flash", []),
        "counts": st.curator.store.counts() if user else {},
        "damage": st.curator.store.damage() if user else [],  # the banner in base.html
        "version": __version__,
        "categories": CATEGORIES,
        "statuses": STATUSES,
        "path": request.url.path,
        "is_admin": user is not None and is_admin(st.curator.store, user),
        "publisher_classes": PUBLISHER_CLASSES,
    }
    ctx.update(context or {})
    return st.templates.TemplateResponse(
        request, name, ctx, status_code=status_code, headers=headers
    )


def error_page(request: Request, status_code: int, title: str, message: str) -> Response:
    if wants_json(request):
        return JSONResponse({"error": message}, status_code=status_code)
    if getattr(request.state, "user", None) is None:
        user = current_user(request)
        if user is not None:
            request.state.user = user
    return render(
        request, "error.html", {"title": title, "message": message}, status_code=status_code
    )


# --------------------------------------------------------------------------- templates


def _static_versions() -> dict[str, str]:
    """A content hash per static file, so a changed app.css is fetched anew."""
    out: dict[str, str] = {}
    for path in STATIC.glob("*"):
        if path.is_file():
            out[path.name] = hashlib.sha256(path.read_bytes()).hexdigest()[:10]
    return out


def fmt_datetime(value: datetime | None, style: str = "full") -> str:
    if value is None:
        return "never"
    if style == "date":
        return value.strftime("%-d %b %Y")
    return value.strftime("%-d %b %Y %H:%M UTC")


def safe_url(url: str) -> str:
    """Only http(s) links reach an href; anything else (``javascript:``…) becomes ``#``."""
    return url if urlsplit(url).scheme in ("http", "https") else "#"


def clip(text: str, limit: int) -> str:
    """At most ``limit`` characters, cut at a word, with an ellipsis when cut."""
    if len(text) <= limit:
        return text
    cut = text[:limit].rsplit(None, 1)[0] if " " in text[:limit] else text[:limit]
    return cut.rstrip(" ,.;:") + "…"


def summary_html(item: Item) -> Markup:
    """The stored summary, sanitised again on the way out: the store is trusted, not blindly."""
    return Markup(normalize.sanitize_html(item.summary))


def deciding_terms(item: Item) -> str:
    """The item's matched terms, each once, in the order the match engine gave them: the
    compact list's short form of the "why" line."""
    return ", ".join(dict.fromkeys(m.term for m in item.matched))


def host(url: str) -> str:
    netloc = urlsplit(url).hostname or url
    return netloc.removeprefix("www.")


def make_templates(curator: Curator, highlighter: Callable[[str, Item], Markup]) -> Jinja2Templates:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    versions = _static_versions()
    names: dict[str, str] = {}
    names_of: list[Config] = []  # the configuration ``names`` was made from (serve reloads it)

    def static_url(name: str) -> str:
        return f"/static/{name}?v={versions.get(name, __version__)}"

    def source_name(source_id: str) -> str:
        if not names_of or names_of[0] is not curator.config:
            names.clear()
            names.update({s.id: s.name for s in curator.config.sources})
            names.setdefault("manual", "added by hand")
            names_of[:] = [curator.config]
        return names.get(source_id, source_id)

    env.globals.update(
        static_url=static_url,
        source_name=source_name,
        fmt=fmt_datetime,
        host=host,
        highlight=highlighter,
        safe_url=safe_url,
        clip=clip,
        summary_html=summary_html,
        undoable=last_undoable,
        terms=deciding_terms,
        citation_line=citation_line,
        research_fields=research_fields,
        percent=percent,
    )
    return Jinja2Templates(env=env)


def percent(value: float | None) -> str:
    """A probability for people: "83 %" ("<1 %" rather than a misleading "0 %")."""
    if value is None:
        return "–"
    if 0 < value < 0.005:
        return "<1 %"
    return f"{value * 100:.0f} %"


def escape_text_paragraphs(text: str) -> str:
    """Plain text an editor typed -> the HTML the store keeps (paragraphs on blank lines)."""
    paragraphs = [" ".join(p.split()) for p in text.replace("\r\n", "\n").split("\n\n")]
    return "".join(f"<p>{html.escape(p)}</p>" for p in paragraphs if p)


async def config_saved(request: Request) -> bool:
    """After the web app saved feeds.yaml: have the running service read it now (``serve``
    sets :attr:`Curator.reload_config`).  True when the running configuration is the saved
    file's; False when it could not be read, or nothing reloads it here (then the file watch
    or SIGHUP will)."""
    reload = state(request).curator.reload_config
    return bool(reload is not None and await reload("saved in the web app"))
