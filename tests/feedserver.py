"""A real HTTP server on 127.0.0.1 for every test that needs the network: feeds from the shared
corpus and crafted misbehaviour (conditional GET, redirects, error statuses, latency, huge and
gzip bodies), with a log of what clients sent.

Use the ``feed_server`` fixture (``pytest_plugins = ["tests.feedserver"]`` in
``tests/conftest.py``) or ``with FeedServer() as server:`` anywhere else (benchmarks)::

    def test_poll(feed_server: FeedServer) -> None:
        url = feed_server.corpus_url("feeds/FeedKit__RSS.xml")     # ETag + Last-Modified, 304s
        gone = feed_server.status("/gone", 410)
        slow = feed_server.route("/slow", body=b"<rss/>", delay=60)  # longer than any timeout
        ...
        assert feed_server.requests_to("/gone")[0].header("user-agent")

A threaded ``http.server`` rather than an ASGI app: handlers may block (delays, held
requests) without stalling the others, and the client under test runs its own event loop
untouched.  Every wait inside a handler listens to the shutdown signal, so a delay longer than
the client's timeout never holds up teardown; closing also shuts down every open connection
and joins the handler threads.
"""

from __future__ import annotations

import contextlib
import email.utils
import gzip as gzip_module
import hashlib
import os
import socket
import ssl
import sys
import threading
import zlib
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import Any
from urllib.parse import urlsplit

import pytest

CORPUS = Path(
    os.environ.get("CURATOR_CORPUS", Path(__file__).resolve().parents[2] / "shared" / "corpus")
)


def need_corpus() -> Path:
    """The real-feed corpus (``../shared/corpus`` beside the checkout, or ``CURATOR_CORPUS``).

    Where it is missing the test is skipped, except in CI (``CI`` set), where a missing corpus
    must fail loudly rather than let its tests pass by skipping."""
    if not (CORPUS / "feeds").is_dir():
        message = (
            f"the feed corpus is not at {CORPUS}: put the project's shared/ folder beside this "
            "checkout, or point CURATOR_CORPUS at its corpus/ folder"
        )
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return CORPUS


#: A body: bytes, text (sent as UTF-8), a file read at request time, or a factory of chunks
#: (streamed with chunked transfer coding, never held in memory at once).
Body = bytes | str | Path | Callable[[], Iterable[bytes]]

_CONTENT_TYPES = {
    ".xml": "application/xml",
    ".rss": "application/rss+xml",
    ".atom": "application/atom+xml",
    ".rdf": "application/rdf+xml",
    ".json": "application/json",
    ".html": "text/html",
    ".htm": "text/html",
    ".txt": "text/plain",
}
_CHUNK = 64 * 1024
_NO_BODY = {204, 304}


def http_date(when: datetime | float) -> str:
    """An HTTP-date (RFC 9110) for a datetime or a POSIX timestamp."""
    if isinstance(when, int | float):
        when = datetime.fromtimestamp(when, UTC)
    return email.utils.format_datetime(when.astimezone(UTC), usegmt=True)


def etag_for(content: bytes) -> str:
    """A strong ETag derived from the bytes, as a static file server would send."""
    return '"' + hashlib.sha256(content).hexdigest()[:16] + '"'


def repeated(
    size: int, pattern: bytes = b"x", chunk: int = _CHUNK
) -> Callable[[], Iterator[bytes]]:
    """A chunk factory for ``size`` bytes of ``pattern``, generated as it is sent."""
    block = (pattern * (chunk // len(pattern) + 1))[:chunk]

    def chunks() -> Iterator[bytes]:
        left = size
        while left > 0:
            piece = block if left >= len(block) else block[:left]
            left -= len(piece)
            yield piece

    return chunks


_bombs: dict[int, bytes] = {}
_bombs_lock = threading.Lock()


def gzip_bomb_bytes(size: int = 64 * 1024 * 1024) -> bytes:
    """gzip of ``size`` zero bytes (64 MiB → about 64 KiB), computed once per size.

    Sent in large writes, one network read of it inflates ~1000-fold: the shape that makes a
    naive decoder balloon past a body cap.
    """
    with _bombs_lock:
        if size not in _bombs:
            z = zlib.compressobj(9, zlib.DEFLATED, zlib.MAX_WBITS | 16)
            zeros = bytes(1024 * 1024)
            parts = [
                z.compress(zeros[: min(len(zeros), size - n)]) for n in range(0, size, len(zeros))
            ]
            parts.append(z.flush())
            _bombs[size] = b"".join(parts)
        return _bombs[size]


def nested_bomb_bytes(
    codings: tuple[str, ...] = ("gzip", "gzip"), size: int = 4 * 1024**3
) -> bytes:
    """A body that inflates to ``size`` zero bytes through every coding of ``codings``, listed
    in the order applied (as Content-Encoding lists them): the innermost is gzip, as many
    64 MiB members as it takes; each further coding (gzip or deflate) wraps the whole.

    The default, about 20 KB on the wire, is 4 GiB once both layers are inflated: a decoder
    that inflates one network read whole at any layer balloons by gigabytes.
    """
    if not codings or codings[0] not in ("gzip", "x-gzip"):
        raise ValueError("the innermost coding of a nested bomb is gzip")
    member = gzip_bomb_bytes(64 * 1024 * 1024)
    body = member * max(1, size // (64 * 1024 * 1024))
    for coding in codings[1:]:
        wbits = zlib.MAX_WBITS if coding == "deflate" else zlib.MAX_WBITS | 16
        z = zlib.compressobj(9, zlib.DEFLATED, wbits)
        body = z.compress(body) + z.flush()
    return body


@dataclass
class Route:
    """How one path answers. Every field may be set through :meth:`FeedServer.route`."""

    status: int = 200
    body: Body = b""
    headers: Mapping[str, str] = field(default_factory=dict)  # sent verbatim, after ours
    content_type: str | None = "application/xml"
    etag: str | None = None  # honoured against If-None-Match (304)
    last_modified: str | None = None  # honoured against If-Modified-Since (304)
    delay: float = 0.0  # seconds before the status line (a read timeout while waiting)
    stall: float = 0.0  # seconds after the headers, before the body (a read timeout in the body)
    drip: float = 0.0  # seconds between body chunks (a total timeout with no read timeout)
    chunk_size: int = _CHUNK  # how bytes bodies are cut into writes (and drips)
    gzip: bool = False  # compress the body on the way out, Content-Encoding: gzip
    # Declare an encoding the body already has; a tuple sends one header per element.
    content_encoding: str | tuple[str, ...] | None = None
    length: int | None = None  # Content-Length to declare for a streamed body (else chunked)
    hold_until: int = 0  # hold requests until this many are in flight on the route at once
    hold_timeout: float = 5.0  # ...or until this many seconds passed (a client that serialises)
    responder: Callable[[Request], Route] | None = None  # per-request answer, overrides the rest
    _tripped: bool = field(default=False, repr=False)
    _in_flight: int = field(default=0, repr=False)


@dataclass(frozen=True)
class Request:
    """One request as the server saw it."""

    method: str
    path: str  # with the query string
    headers: Mapping[str, str]  # lower-case names; repeated headers joined with ", "
    host: str  # the Host header, lower case
    concurrent: int  # requests in flight on this host when it arrived, itself included
    client: tuple[str, int]

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())


class FeedServer:
    """A local HTTP server whose answers each test configures; see the module docstring.

    Routes are exact paths (the query string is tried first, then ignored).  Paths under
    ``/corpus/`` serve the shared corpus with ETag and Last-Modified unless a route says
    otherwise.  Anything else is 404.
    """

    def __init__(
        self, host: str = "127.0.0.1", *, corpus: Path = CORPUS, tls: ssl.SSLContext | None = None
    ) -> None:
        """``tls``: a server-side context to speak HTTPS with (e.g. from trustme)."""
        self.corpus = corpus
        self.tls = tls
        self._bind_host = host
        self._routes: dict[str, Route] = {}
        self._requests: list[Request] = []
        self._lock = threading.Condition()
        self._stopping = threading.Event()
        self._in_flight: dict[str, int] = {}
        self._max_in_flight: dict[str, int] = {}
        self._total = 0
        self._max_total = 0
        self._conns: set[socket.socket] = set()
        self._threads: set[threading.Thread] = set()
        self._httpd: _HTTPServer | None = None
        self._thread: threading.Thread | None = None
        self.errors: list[BaseException] = []  # unexpected exceptions in handlers (bugs here)

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> FeedServer:
        httpd = _HTTPServer((self._bind_host, 0), self)
        self._httpd = httpd
        self._thread = threading.Thread(
            target=httpd.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="feedserver",
            daemon=True,
        )
        self._thread.start()
        return self

    def close(self) -> None:
        """Stop accepting, wake every waiting handler, cut open connections, join threads."""
        if self._httpd is None:
            return
        self._stopping.set()
        with self._lock:
            self._lock.notify_all()
        self._httpd.shutdown()
        self._httpd.server_close()
        for _ in range(3):  # a handler accepted just before shutdown may register late
            with self._lock:
                conns = list(self._conns)
                threads = list(self._threads)
            if not threads:
                break
            for conn in conns:
                with contextlib.suppress(OSError):
                    conn.shutdown(socket.SHUT_RDWR)
            for t in threads:
                t.join(timeout=5)
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._httpd = None

    def __enter__(self) -> FeedServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # ------------------------------------------------------------------ addresses

    @property
    def port(self) -> int:
        if self._httpd is None:
            raise RuntimeError("the feed server is not running; call start()")
        return int(self._httpd.server_address[1])

    @property
    def host(self) -> str:
        """``host:port`` as clients put it in the Host header (the key of the per-host log)."""
        return f"{self._bind_host}:{self.port}"

    @property
    def base_url(self) -> str:
        return f"{'https' if self.tls else 'http'}://{self.host}"

    def url(self, path: str) -> str:
        return self.base_url + _path(path)

    def corpus_url(self, name: str, **options: Any) -> str:
        """URL of a corpus file (``"feeds/FeedKit__RSS.xml"``), served with a content-derived
        ETag, its mtime as Last-Modified and a type from its extension; ``options`` are
        :class:`Route` fields that override those (e.g. ``etag=None``, ``gzip=True``)."""
        need_corpus()
        path = "/corpus/" + name.lstrip("/")
        if options:
            route = self._corpus_route(name)
            if route is None:
                raise FileNotFoundError(self.corpus / name)
            self._routes[path] = replace(route, **options)
        elif not (self.corpus / name).is_file():
            raise FileNotFoundError(self.corpus / name)
        return self.url(path)

    # ------------------------------------------------------------------ routes

    def route(self, path: str, body: Body = b"", **options: Any) -> str:
        """Answer ``path`` as described by :class:`Route` fields; returns its URL."""
        self._routes[_path(path)] = Route(body=body, **options)
        return self.url(path)

    def set_route(self, path: str, route: Route) -> str:
        self._routes[_path(path)] = route
        return self.url(path)

    def file(self, path: str, file: str | Path, **options: Any) -> str:
        """Serve a file (read at each request) at ``path``, typed by its extension."""
        p = Path(file)
        options.setdefault("content_type", _content_type(p))
        return self.route(path, body=p, **options)

    def redirect(self, path: str, to: str, status: int = 301, **options: Any) -> str:
        """``path`` answers ``status`` with ``Location: to`` (sent as given: may be relative)."""
        headers = {"Location": to, **options.pop("headers", {})}
        return self.route(path, b"", status=status, headers=headers, content_type=None, **options)

    def redirect_chain(self, path: str, to: str, statuses: Iterable[int] = (301,)) -> str:
        """``path`` → ``path/1`` → … → ``to``, one hop per status, in order."""
        hops = list(statuses)
        paths = [_path(path)] + [f"{_path(path)}/{i}" for i in range(1, len(hops))]
        for i, status in enumerate(hops):
            target = self.url(paths[i + 1]) if i + 1 < len(hops) else to
            self.redirect(paths[i], target, status)
        return self.url(paths[0])

    def redirect_loop(self, path: str, status: int = 302) -> str:
        """``path`` → ``path/loop`` → ``path`` → … forever."""
        self.redirect(path, self.url(_path(path) + "/loop"), status)
        self.redirect(_path(path) + "/loop", self.url(path), status)
        return self.url(path)

    def status(
        self,
        path: str,
        status: int,
        *,
        retry_after: str | int | None = None,
        body: Body | None = None,
        **options: Any,
    ) -> str:
        """``path`` answers ``status`` (with ``Retry-After`` when given)."""
        headers = dict(options.pop("headers", {}))
        if retry_after is not None:
            headers["Retry-After"] = str(retry_after)
        if body is None:
            body = f"{status} {_reason(status)}\n".encode()
        options.setdefault("content_type", "text/plain")
        return self.route(path, body, status=status, headers=headers, **options)

    def huge(
        self,
        path: str,
        size: int,
        *,
        gzip: bool = False,
        declare_length: bool = False,
        **options: Any,
    ) -> str:
        """``size`` bytes generated as they are sent (memory stays flat whatever the size);
        chunked unless ``declare_length``; gzip-compressed on the fly with ``gzip``."""
        if declare_length and not gzip:
            options["length"] = size
        return self.route(path, repeated(size), gzip=gzip, **options)

    def gzip_bomb(self, path: str, size: int = 64 * 1024 * 1024, **options: Any) -> str:
        """A precompressed gzip body that inflates to ``size`` zero bytes, sent in 64 KiB
        writes with its true (compressed) Content-Length."""
        return self.route(path, gzip_bomb_bytes(size), content_encoding="gzip", **options)

    def nested_bomb(
        self,
        path: str,
        codings: tuple[str, ...] = ("gzip", "gzip"),
        *,
        size: int = 4 * 1024**3,
        split_headers: bool = False,
        **options: Any,
    ) -> str:
        """A body compressed once per coding (see :func:`nested_bomb_bytes`), declared in one
        ``Content-Encoding: gzip, gzip`` header, or one header per coding with
        ``split_headers``."""
        declared = codings if split_headers else ", ".join(codings)
        body = nested_bomb_bytes(codings, size)
        return self.route(path, body, content_encoding=declared, **options)

    def reset(self) -> None:
        """Forget routes, the request log and the concurrency counts."""
        with self._lock:
            self._routes.clear()
            self._requests.clear()
            self._max_in_flight.clear()
            self._max_total = 0

    # ------------------------------------------------------------------ what clients did

    @property
    def requests(self) -> list[Request]:
        with self._lock:
            return list(self._requests)

    def requests_to(self, path: str) -> list[Request]:
        """Requests for ``path`` (compared without the query string unless it has one)."""
        p = _path(path)
        return [
            r for r in self.requests if r.path == p or ("?" not in p and r.path.split("?")[0] == p)
        ]

    def max_concurrent(self, host: str | None = None) -> int:
        """Most requests ever in flight at once on ``host`` (``server.host`` form), or in
        total when ``host`` is None."""
        with self._lock:
            if host is None:
                return self._max_total
            return self._max_in_flight.get(host.lower(), 0)

    # ------------------------------------------------------------------ internals

    def _corpus_route(self, name: str) -> Route | None:
        root = self.corpus.resolve()
        p = (root / name).resolve()
        if not p.is_relative_to(root) or not p.is_file():
            return None
        content = p.read_bytes()
        return Route(
            body=content,
            content_type=_content_type(p),
            etag=etag_for(content),
            last_modified=http_date(p.stat().st_mtime),
        )

    def _lookup(self, path: str) -> Route | None:
        route = self._routes.get(path) or self._routes.get(path.split("?")[0])
        if route is None and path.startswith("/corpus/"):
            route = self._corpus_route(path.split("?")[0][len("/corpus/") :])
        return route

    def _arrive(self, handler: BaseHTTPRequestHandler) -> Request:
        host = (handler.headers.get("Host") or "").lower()
        headers: dict[str, str] = {}
        for name, value in handler.headers.items():
            key = name.lower()
            headers[key] = f"{headers[key]}, {value}" if key in headers else value
        with self._lock:
            n = self._in_flight.get(host, 0) + 1
            self._in_flight[host] = n
            self._max_in_flight[host] = max(self._max_in_flight.get(host, 0), n)
            self._total += 1
            self._max_total = max(self._max_total, self._total)
            request = Request(
                method=handler.command,
                path=handler.path,
                headers=headers,
                host=host,
                concurrent=n,
                client=(str(handler.client_address[0]), int(handler.client_address[1])),
            )
            self._requests.append(request)
        return request

    def _leave(self, request: Request) -> None:
        with self._lock:
            self._in_flight[request.host] -= 1
            self._total -= 1

    def _wait(self, seconds: float) -> bool:
        """Sleep unless the server is stopping; True when it is (the handler should give up)."""
        return self._stopping.wait(seconds) if seconds > 0 else self._stopping.is_set()

    def _hold(self, route: Route) -> None:
        """A barrier that trips once ``hold_until`` requests are in flight on the route."""
        with self._lock:
            route._in_flight += 1
            if route._in_flight >= route.hold_until:
                route._tripped = True
                self._lock.notify_all()
            self._lock.wait_for(
                lambda: route._tripped or self._stopping.is_set(), timeout=route.hold_timeout
            )

    def _release(self, route: Route) -> None:
        with self._lock:
            route._in_flight -= 1


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    request_queue_size = 128

    def __init__(self, address: tuple[str, int], owner: FeedServer) -> None:
        self.owner = owner
        super().__init__(address, _Handler)
        if owner.tls is not None:
            # The handshake happens in the handler's thread (see _Handler.setup), so a client
            # that refuses the certificate cannot stall the accepting thread.
            self.socket = owner.tls.wrap_socket(
                self.socket, server_side=True, do_handshake_on_connect=False
            )

    def handle_error(self, request: Any, client_address: Any) -> None:
        exc = sys.exc_info()[1]
        if isinstance(exc, OSError) or exc is None:
            return  # the client went away: what timeouts and body caps are for
        self.owner.errors.append(exc)
        super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _HTTPServer

    def setup(self) -> None:
        if isinstance(self.request, ssl.SSLSocket):
            self.request.do_handshake()
        super().setup()
        owner = self.server.owner
        with owner._lock:
            owner._conns.add(self.connection)
            owner._threads.add(threading.current_thread())

    def finish(self) -> None:
        owner = self.server.owner
        with owner._lock:
            owner._conns.discard(self.connection)
            owner._threads.discard(threading.current_thread())
        with contextlib.suppress(OSError):
            super().finish()

    def log_message(self, format: str, *args: Any) -> None:
        pass  # the request log is the record; stderr noise helps nobody

    def do_GET(self) -> None:
        self._serve(head=False)

    def do_HEAD(self) -> None:
        self._serve(head=True)

    def _serve(self, *, head: bool) -> None:
        owner = self.server.owner
        request = owner._arrive(self)
        try:
            route = owner._lookup(self.path)
            if route is not None and route.responder is not None:
                route = route.responder(request)
            if route is None:
                route = Route(status=404, body=b"404 Not Found\n", content_type="text/plain")
            if owner._wait(route.delay):
                self.close_connection = True
                return
            if route.hold_until:
                owner._hold(route)
                try:
                    self._respond(route, request, head=head)
                finally:
                    owner._release(route)
            else:
                self._respond(route, request, head=head)
        except OSError:
            self.close_connection = True
        finally:
            owner._leave(request)

    def _respond(self, route: Route, request: Request, *, head: bool) -> None:
        owner = self.server.owner
        status = route.status
        if status == 200 and _not_modified(route, request):
            status = 304
        self.send_response_only(status, _reason(status))
        names = {k.lower() for k in route.headers}
        if "date" not in names:
            self.send_header("Date", self.date_time_string())
        if "server" not in names:
            self.send_header("Server", "feedserver")
        if route.etag and "etag" not in names:
            self.send_header("ETag", route.etag)
        if route.last_modified and "last-modified" not in names:
            self.send_header("Last-Modified", route.last_modified)
        if status in _NO_BODY or status < 200:
            for k, v in route.headers.items():
                self.send_header(k, v)
            self.end_headers()
            return
        if route.content_type and "content-type" not in names:
            self.send_header("Content-Type", route.content_type)
        chunks, length = _encoded(route)
        if route.gzip:
            self.send_header("Content-Encoding", "gzip")
        elif isinstance(route.content_encoding, tuple):
            for coding in route.content_encoding:
                self.send_header("Content-Encoding", coding)
        elif route.content_encoding:
            self.send_header("Content-Encoding", route.content_encoding)
        chunked = length is None
        if "content-length" not in names and "transfer-encoding" not in names:
            if chunked:
                self.send_header("Transfer-Encoding", "chunked")
            else:
                self.send_header("Content-Length", str(length))
        for k, v in route.headers.items():
            self.send_header(k, v)
        self.end_headers()
        if head:
            return
        if owner._wait(route.stall):
            self.close_connection = True
            return
        first = True
        sent = 0
        for piece in chunks:
            if not first and owner._wait(route.drip):
                self.close_connection = True
                return
            first = False
            if not piece:
                continue
            if chunked:
                self.wfile.write(b"%x\r\n" % len(piece) + piece + b"\r\n")
            else:
                self.wfile.write(piece)
            sent += len(piece)
            if owner._stopping.is_set():
                self.close_connection = True
                return
        if chunked:
            self.wfile.write(b"0\r\n\r\n")
        elif (
            length is not None and sent < length
        ):  # a body shorter than declared: hang up, as a crashed server would
            self.close_connection = True


def _encoded(route: Route) -> tuple[Iterator[bytes], int | None]:
    """The body as the wire carries it, and its length when known before sending."""
    body = route.body
    if isinstance(body, str):
        body = body.encode()
    if isinstance(body, Path):
        body = body.read_bytes()
    if isinstance(body, bytes):
        if route.gzip:
            body = gzip_module.compress(body, mtime=0)
        return _cut(body, route.chunk_size), len(body)
    chunks = iter(body())
    if route.gzip:
        return _gzip_stream(chunks), None
    return chunks, route.length


def _cut(data: bytes, size: int) -> Iterator[bytes]:
    view = memoryview(data)
    for i in range(0, len(data), max(1, size)):
        yield bytes(view[i : i + size])


def _gzip_stream(chunks: Iterator[bytes]) -> Iterator[bytes]:
    z = zlib.compressobj(6, zlib.DEFLATED, zlib.MAX_WBITS | 16)
    for piece in chunks:
        out = z.compress(piece)
        if out:
            yield out
    yield z.flush()


def _not_modified(route: Route, request: Request) -> bool:
    """RFC 9110 §13.1: If-None-Match decides when present, else If-Modified-Since."""
    inm = request.header("if-none-match")
    if inm is not None:
        if route.etag is None:
            return False
        tags = {t.strip().removeprefix("W/") for t in inm.split(",")}
        return "*" in tags or route.etag.removeprefix("W/") in tags
    ims = request.header("if-modified-since")
    if ims is None or route.last_modified is None:
        return False
    try:
        since = email.utils.parsedate_to_datetime(ims)
        modified = email.utils.parsedate_to_datetime(route.last_modified)
    except (TypeError, ValueError):
        return False
    return modified <= since


def _reason(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Unknown"


def _path(path: str) -> str:
    if "://" in path:
        parts = urlsplit(path)
        path = parts.path + (f"?{parts.query}" if parts.query else "")
    return path if path.startswith("/") else "/" + path


def _content_type(path: Path) -> str:
    return _CONTENT_TYPES.get(path.suffix.lower(), "application/octet-stream")


# ---------------------------------------------------------------------- addresses that fail


def refused_url() -> str:
    """A URL on a local port nothing listens on: connecting is refused at once."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/feed.xml"


@contextlib.contextmanager
def blackhole() -> Iterator[str]:
    """A URL whose TCP connect never completes (a listener whose accept queue is full, so the
    kernel drops further SYNs): a connect timeout without leaving the machine."""
    listener = socket.socket()
    fillers: list[socket.socket] = []
    try:
        listener.bind(("127.0.0.1", 0))
        listener.listen(0)
        port = listener.getsockname()[1]
        for _ in range(4):
            s = socket.socket()
            s.setblocking(False)
            with contextlib.suppress(BlockingIOError):
                s.connect(("127.0.0.1", port))
            fillers.append(s)
        yield f"http://127.0.0.1:{port}/feed.xml"
    finally:
        for s in fillers:
            s.close()
        listener.close()


# ---------------------------------------------------------------------- the fixture


@pytest.fixture
def feed_server() -> Iterator[FeedServer]:
    """A fresh :class:`FeedServer` per test, closed (and checked for handler bugs) after it."""
    server = FeedServer().start()
    try:
        yield server
    finally:
        server.close()
    if server.errors:
        raise AssertionError(f"feed server handler failed: {server.errors[0]!r}")
