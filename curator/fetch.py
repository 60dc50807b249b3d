"""HTTP for every source kind: one shared client, politeness, and hard caps on hostile servers.

:class:`Fetcher` turns a source (and what the store remembers of it) into a
:class:`~curator.types.Fetched` or a :class:`~curator.exceptions.FetchError` whose one-line
message names the URL and what went wrong.  No httpx exception leaves this module.

Politeness: an honest User-Agent with the operator's contact, conditional GET from the
stored validators, a global and a per-host concurrency limit.  Both limits are asyncio
semaphores because more tasks than pool connections would otherwise queue on httpx's pool
timeout and fail (see design.md).  The per-host key is ``host:port``, the unit browsers
limit connections by.  Each host also has connections of its own (:class:`_HostPools`), reused
for its next feeds and closed once it has none waiting.

Caps: connect/read timeouts from httpx, plus one deadline for the whole exchange (redirects
and the streamed body) so a server dripping a byte a second cannot hold a slot forever; a
body cap counted on decoded bytes.  gzip and deflate are inflated here rather than by httpx,
in pieces of at most 64 KiB per layer: httpx inflates each network read whole, and one 64 KiB
read of a gzip bomb becomes ~64 MB (of a ``gzip, gzip`` bomb, gigabytes), which would overshoot
a 10 MB cap before we could count it.  A chain of codings (``gzip, gzip``, or several
Content-Encoding headers) is undone layer by layer under the same cap; a coding we never asked
for (br, zstd) or more than :data:`MAX_CODINGS` layers is refused.

Redirects are followed here too (at most ``max_redirects``), so that every hop waits for its
own host's slot, a non-http(s) target gets a clear message, and the permanent part of a chain
(301/308) can be reported for the source's configuration.

Server-side request forgery: :meth:`Fetcher.fetch_url` fetches what an editor pasted into a
web form, so before every hop (the first request and each redirect) it resolves the host once,
refuses it unless every address is a public one (IPv6 forms that embed an IPv4 address are
judged by that address too), and connects to the checked addresses only, never resolving the
name again: a DNS server that answers a public address to the check and 127.0.0.1 to the
connection (DNS rebinding) gains nothing.  The pinning is a network backend under httpcore's
pool (:class:`_PinnedBackend`), so the Host header and TLS (SNI, certificate) still use the
name.  ``fetch.allow_private_urls`` turns all of this off.  Configured sources are the
operator's choice and are not checked.
"""

from __future__ import annotations

import asyncio
import email.utils
import ipaddress
import logging
import math
import socket
import ssl
import typing
import unicodedata
import urllib.request
import zlib
from collections.abc import AsyncGenerator, Awaitable, Callable, Iterator, Mapping, Sequence
from contextvars import ContextVar
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from http import HTTPStatus

import httpcore
import httpx

from curator import __version__
from curator.config import FetchSettings, Source
from curator.exceptions import BodyTooLarge, FetchError, SourceGone
from curator.types import Fetched, SourceState

log = logging.getLogger("curator.fetch")

FEED_ACCEPT = (
    "application/atom+xml, application/rss+xml, application/feed+json, "
    "application/rdf+xml;q=0.9, application/xml;q=0.9, text/xml;q=0.9, "
    "application/json;q=0.8, */*;q=0.5"
)
HTML_ACCEPT = "text/html, application/xhtml+xml;q=0.9, */*;q=0.5"
JSON_ACCEPT = "application/json, */*;q=0.5"
ATOM_ACCEPT = "application/atom+xml, application/xml;q=0.9, */*;q=0.5"
_ACCEPT_BY_KIND = {
    "feed": FEED_ACCEPT,
    "page": HTML_ACCEPT,
    "crossref": JSON_ACCEPT,
    "arxiv": ATOM_ACCEPT,
}

_REDIRECTS = frozenset({301, 302, 303, 307, 308})
_PERMANENT = frozenset({301, 308})
_PIECE = 64 * 1024  # most bytes one inflate step may produce


def build_user_agent(settings: FetchSettings) -> str:
    """The configured User-Agent with the version filled in and the contact appended.

    ``"Curator/0.1.0 (+https://…)"`` with contact ``x@y`` becomes
    ``"Curator/0.1.0 (+https://…; contact: x@y)"``.  Only ``{version}`` is substituted (a plain
    replace, so other braces in the setting are harmless); line breaks are folded away and
    accents dropped ("Zoë" → "Zoe") because httpx sends header text as ASCII.
    """
    ua = settings.user_agent.replace("{version}", __version__)
    if settings.contact and settings.contact.strip():
        contact = settings.contact.strip()
        ua = f"{ua[:-1]}; contact: {contact})" if ua.endswith(")") else f"{ua} (contact: {contact})"
    ascii_ua = unicodedata.normalize("NFKD", ua).encode("ascii", "ignore").decode()
    return " ".join(ascii_ua.split())


def parse_retry_after(value: str | None, *, now: datetime | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` value: delay-seconds or an HTTP-date.

    ``now`` should be the response's own ``Date`` when it has one, so a skewed local clock
    does not distort the wait.  None when absent or unreadable; never negative.
    """
    if value is None or not value.strip():
        return None
    text = value.strip()
    try:
        seconds = float(text)
    except ValueError:
        pass
    else:
        return seconds if math.isfinite(seconds) and seconds >= 0 else None
    try:
        when = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    base = now or datetime.now(UTC)
    return max(0.0, (when - base).total_seconds())


@dataclass
class _Progress:
    """Where an exchange got to, so a timeout or broken connection can say which phase."""

    url: str  # the URL asked for
    current: str  # the URL being fetched now (differs after a redirect)
    stage: str = "connecting"
    received: int = 0
    answered: tuple[int, str | None] | None = None  # status and Location, once headers came

    def where(self) -> str:
        if self.current == self.url:
            return self.url
        return f"{self.url} (redirected to {self.current})"

    def doing(self) -> str:
        if self.stage == "body":
            return f"reading the body ({self.received} bytes so far)"
        if self.stage == "headers":
            return "waiting for the response headers"
        if self.stage == "sending":
            return "sending the request"
        return "connecting"

    async def trace(self, event: str, info: Mapping[str, object]) -> None:
        """httpcore's progress events (the ``trace`` request extension) tell the phases apart."""
        if event.endswith("send_request_headers.started"):
            self.stage = "sending"
        elif event.endswith("receive_response_headers.started"):
            self.stage = "headers"
        elif event.endswith("receive_response_headers.complete"):
            value = info.get("return_value")
            if isinstance(value, tuple) and len(value) >= 4 and isinstance(value[1], int):
                location = next((v for k, v in value[3] if k.lower() == b"location"), None)
                self.answered = (
                    value[1],
                    location.decode("latin-1") if isinstance(location, bytes) else None,
                )


@dataclass(frozen=True)
class _Hop:
    """A redirect answer: where to go next."""

    status: int
    location: str


#: Idle connections kept open for reuse (see ``_bind``).
KEEPALIVE = 8

#: Looks up a host: (host, port) → its addresses, in the order to try them.
Resolver = Callable[[str, int], Awaitable[Sequence[str]]]


async def system_resolver(host: str, port: int) -> list[str]:
    """The operating system's answer (getaddrinfo, as httpx would ask), duplicates dropped."""
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


async def private_address(url: str, resolver: Resolver = system_resolver) -> str | None:
    """The non-public address ``url``'s host resolves to, if any (None when every address is
    public, or when the host cannot be looked up now: a poll will say so).

    For sources added in the web app: an administrator's account must not be a way to make
    the service fetch the cloud metadata address or the loopback interface.  Sources written
    into feeds.yaml by hand are the operator's choice, as before."""
    target = httpx.URL(url)
    host = target.raw_host.decode("ascii", "replace")
    port = target.port or (443 if target.scheme == "https" else 80)
    try:
        async with asyncio.timeout(10):
            addresses = await resolver(host, port)
    except (OSError, UnicodeError, TimeoutError):
        return None
    return next((a for a in addresses if not _is_public(a)), None)


#: The checked addresses of the hop being fetched, by host name, for :class:`_PinnedBackend`.
#: A context variable: httpcore opens the connection in the task that sends the request.
_PINNED: ContextVar[Mapping[str, Sequence[str]] | None] = ContextVar("_PINNED", default=None)


class _PinnedBackend(httpcore.AsyncNetworkBackend):
    """Connects to the addresses the hop's host was checked to have (:data:`_PINNED`), never
    to what the name resolves to now; a host nobody checked is refused."""

    def __init__(self, inner: httpcore.AsyncNetworkBackend) -> None:
        self._inner = inner

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: typing.Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        addresses = (_PINNED.get() or {}).get(host)
        if not addresses:
            raise httpcore.ConnectError(f"{host} was not checked before connecting; refused")
        failure: httpcore.ConnectError | httpcore.ConnectTimeout | None = None
        for address in addresses:
            try:
                return await self._inner.connect_tcp(
                    address,
                    port,
                    timeout=timeout,
                    local_address=local_address,
                    socket_options=socket_options,
                )
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as e:
                failure = e
        assert failure is not None
        raise failure

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,
        socket_options: typing.Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        raise httpcore.ConnectError("a pasted link never goes to a Unix socket")

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


class _PinnedTransport(httpx.AsyncHTTPTransport):
    """httpx's own transport over a pool whose connections go through :class:`_PinnedBackend`.

    httpx offers no way to hand its pool a network backend, so the pool it built is replaced
    by an equal one that has ours (``tests/test_fetch.py`` checks the pinning end to end).
    Environment proxies do not apply (httpx uses none for a client given a transport): a
    proxy would resolve the name itself.
    """

    def __init__(self, limits: httpx.Limits, network: httpcore.AsyncNetworkBackend) -> None:
        super().__init__(limits=limits)
        self._pool = httpcore.AsyncConnectionPool(
            ssl_context=httpx.create_ssl_context(),
            max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry,
            network_backend=_PinnedBackend(network),
        )


def _host_key(url: httpx.URL) -> str:
    """``host:port``, the unit of politeness (the per-host limit)."""
    return f"{url.host}:{url.port or (443 if url.scheme == 'https' else 80)}"


def _pool_key(url: httpx.URL) -> str:
    """``scheme://host:port``, the unit of connection pools (an http pool never makes TLS
    connections, so it needs no certificates loaded)."""
    return f"{url.scheme}://{_host_key(url)}"


class _HostPools(httpx.AsyncBaseTransport):
    """A small connection pool per host (``scheme://host:port``) instead of one for all.

    httpcore's pool looks at each of its connections for every request it assigns, so one
    pool for a poll's hundred connections costs more per request the more hosts are polled at
    once; a pool per host holds at most ``per_host`` connections.  And a host's connections
    serve its next feeds: a site with several feeds is asked over one or two connections
    rather than a new one per feed (on the feed farm, five feeds a host, that halves the CPU
    an unchanged poll costs: bench/bench_poll.py).

    Idle connections must not pile up over the thousands of hosts of a large poll: the
    :class:`Fetcher` calls :meth:`done` after each exchange, saying whether more requests to
    that host are waiting.  A host with none left has its pool closed at once; of the others,
    at most ``idle_hosts`` (``fetch.concurrency``) keep idle connections, the longest idle
    closed first.  Not used when the environment names a proxy: httpx's own client then
    routes through it.
    """

    def __init__(self, limits: httpx.Limits, idle_hosts: int) -> None:
        # One TLS context for every https pool, made with the first (loading the system's
        # certificates costs 50-100 ms, for nothing in a poll of http feeds).  http pools make
        # no TLS connection; they are handed a context that trusts no certificate, so that
        # one would fail closed, never open, were it ever used.
        self._tls: ssl.SSLContext | None = None
        self._no_tls = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        self._limits = limits
        self._idle_hosts = idle_hosts
        self._pools: dict[str, httpx.AsyncHTTPTransport] = {}
        self._busy: dict[str, int] = {}  # exchanges under way, by host
        self._idle: dict[str, None] = {}  # hosts kept open with nothing under way, oldest first

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        key = _pool_key(request.url)
        pool = self._pools.get(key)
        if pool is None:
            if request.url.scheme == "https":
                if self._tls is None:
                    self._tls = httpx.create_ssl_context()
                context = self._tls
            else:
                context = self._no_tls
            pool = self._pools[key] = httpx.AsyncHTTPTransport(verify=context, limits=self._limits)
        return await pool.handle_async_request(request)

    def busy(self, key: str) -> None:
        """An exchange with ``key`` begins: its pool stays open until :meth:`done`."""
        self._busy[key] = self._busy.get(key, 0) + 1
        self._idle.pop(key, None)

    async def done(self, key: str, *, more: bool) -> None:
        """An exchange with ``key`` ended (its response closed); ``more``: other requests to
        the host are waiting."""
        left = self._busy.get(key, 1) - 1
        if left > 0:
            self._busy[key] = left
            return
        self._busy.pop(key, None)
        if not more:
            await self._close(key)
            return
        self._idle[key] = None
        while len(self._idle) > self._idle_hosts:
            await self._close(next(iter(self._idle)))

    async def _close(self, key: str) -> None:
        self._idle.pop(key, None)
        pool = self._pools.pop(key, None)
        if pool is not None:
            await pool.aclose()

    async def aclose(self) -> None:
        pools, self._pools, self._busy, self._idle = list(self._pools.values()), {}, {}, {}
        for pool in pools:
            await pool.aclose()


class Fetcher:
    """Fetches sources over one shared :class:`httpx.AsyncClient`, politely and within caps.

    The client and the semaphores belong to the event loop they were first used in; used from
    another loop (e.g. a second ``asyncio.run``) the Fetcher starts afresh there.  Its own
    clients are closed by :meth:`aclose` or, failing that, when ``asyncio.run`` shuts its loop
    down; the Fetcher stays usable afterwards.  A ``client`` passed in is used as is (our
    timeouts, headers and redirect handling are applied per request) and never closed here;
    pasted links fetched through it are checked but not pinned (it has its own transport).

    Pasted links go through a second client of our own whose connections are pinned to the
    checked addresses (see the module docstring), so that a connection a configured source
    opened is never reused for them.  ``resolver`` answers the one lookup per hop (the system
    resolver by default) and ``network`` is the httpcore backend pinned connections are made
    with (anyio's by default); tests pass stand-ins where the internet would be needed.
    """

    def __init__(
        self,
        settings: FetchSettings,
        *,
        client: httpx.AsyncClient | None = None,
        resolver: Resolver = system_resolver,
        network: httpcore.AsyncNetworkBackend | None = None,
    ) -> None:
        self.settings = settings
        self._resolver = resolver
        self._network = network or httpcore.AnyIOBackend()
        self.user_agent = build_user_agent(settings)
        self._timeout = httpx.Timeout(
            settings.timeout,
            connect=settings.connect_timeout,
            read=settings.read_timeout,
            pool=settings.timeout,
        )
        self._given = client
        self._client: httpx.AsyncClient | None = client
        self._pinned: httpx.AsyncClient | None = client
        self._guards: list[AsyncGenerator[None, None]] = []
        self._loop: asyncio.AbstractEventLoop | None = None
        self._global: asyncio.Semaphore | None = None
        self._hosts: dict[str, asyncio.Semaphore] = {}
        self._host_pools: _HostPools | None = None  # the transport of our own client
        self._wanting: dict[str, int] = {}  # requests waiting for or in a host's slot

    async def fetch(self, source: Source, state: SourceState | None = None) -> Fetched:
        """GET ``source.url``, conditionally when ``state`` holds validators.

        Raises SourceGone on 410, BodyTooLarge past the cap, FetchError for anything else
        that is not a 2xx or a 304 (``status`` and ``retry_after`` set when known).
        """
        headers: dict[str, str | bytes] = {"Accept": _ACCEPT_BY_KIND.get(source.kind, FEED_ACCEPT)}
        if state is not None:
            for name, value in (
                ("If-None-Match", state.etag),
                ("If-Modified-Since", state.last_modified),
            ):
                raw = _validator(value)
                if raw is not None:
                    headers[name] = raw
        return await self._get(source.id, source.url, headers, state)

    async def fetch_url(
        self, url: str, *, source_id: str = "manual", accept: str = HTML_ACCEPT
    ) -> Fetched:
        """A plain GET of an http(s) URL (an article page an editor pasted), same caps.

        Every hop must go to a public address: a host that is or resolves to a loopback,
        private, link-local (cloud metadata) or otherwise non-global address is refused with
        a FetchError, redirects included, unless ``settings.allow_private_urls``.
        """
        public_only = not self.settings.allow_private_urls
        return await self._get(source_id, url, {"Accept": accept}, None, public_only=public_only)

    async def aclose(self) -> None:
        """Close the clients this Fetcher made (one passed in stays open); usable afterwards."""
        guards, loop = self._guards, self._loop
        self._reset()
        if loop is asyncio.get_running_loop():
            for guard in guards:
                await guard.aclose()

    # ------------------------------------------------------------------ internals

    def _reset(self) -> None:
        self._client, self._pinned, self._guards = self._given, self._given, []
        self._loop, self._global, self._hosts = None, None, {}
        self._host_pools, self._wanting = None, {}

    async def _bind(self, *, pinned: bool = False) -> tuple[httpx.AsyncClient, asyncio.Semaphore]:
        """The client (the pinned one for pasted links) and global semaphore of the running
        loop, made on first use there."""
        loop = asyncio.get_running_loop()
        if self._loop is not loop:
            if self._loop is not None:
                log.debug("event loop changed; starting afresh in the new one")
            self._reset()
            self._loop = loop
            self._global = asyncio.Semaphore(self.settings.concurrency)
        if self._client is None and not urllib.request.getproxies():
            per_host = self.settings.per_host
            pools = _HostPools(
                httpx.Limits(
                    max_connections=per_host,
                    max_keepalive_connections=per_host,
                    keepalive_expiry=5.0,
                ),
                idle_hosts=self.settings.concurrency,
            )
            self._client = await self._open(transport=pools)
            self._host_pools = pools
        elif self._client is None:
            # A proxy from the environment: httpx's own pool, which routes through it.
            limit = self.settings.concurrency
            # Few idle connections: feeds sit on many hosts and are polled once per run, so
            # keep-alive saves little, while httpcore checks every pooled connection on every
            # request (profiled: 70 % of a 500-feed poll with 100 kept alive).
            limits = httpx.Limits(
                max_connections=limit,
                max_keepalive_connections=min(limit, KEEPALIVE),
                keepalive_expiry=5.0,
            )
            self._client = await self._open(limits=limits)
        if pinned and self._pinned is None:
            limits = httpx.Limits(max_connections=self.settings.per_host * 4, keepalive_expiry=5.0)
            transport = _PinnedTransport(limits, self._network)
            self._pinned = await self._open(transport=transport)
        client = self._pinned if pinned else self._client
        assert client is not None and self._global is not None
        return client, self._global

    async def _open(self, **options: typing.Any) -> httpx.AsyncClient:
        client = httpx.AsyncClient(
            timeout=self._timeout,
            follow_redirects=False,
            max_redirects=self.settings.max_redirects,
            headers={"User-Agent": self.user_agent},
            **options,
        )
        guard = self._close_with_loop(client)
        await anext(guard)
        self._guards.append(guard)
        return client

    async def _close_with_loop(self, client: httpx.AsyncClient) -> AsyncGenerator[None, None]:
        """Closes ``client`` when its loop shuts down, for callers that end a loop without
        :meth:`aclose`: ``asyncio.run`` finalises every open async generator (this one too)
        while the loop still runs, so pooled connections are closed, not leaked."""
        try:
            yield
        finally:
            if client in (self._client, self._pinned):
                self._reset()
            await client.aclose()

    def _host_slot(self, key: str) -> asyncio.Semaphore:
        sem = self._hosts.get(key)
        if sem is None:
            sem = self._hosts[key] = asyncio.Semaphore(self.settings.per_host)
        return sem

    async def _get(
        self,
        source_id: str,
        url: str,
        headers: dict[str, str | bytes],
        state: SourceState | None,
        *,
        public_only: bool = False,
    ) -> Fetched:
        try:
            fetched = await self._follow(source_id, url, headers, state, public_only)
        except FetchError as e:
            log.debug("fetch failed source=%s status=%s %s", source_id, e.status, e)
            raise
        log.debug(
            "fetched source=%s status=%d bytes=%d elapsed=%.2fs %s",
            source_id,
            fetched.status,
            len(fetched.content),
            fetched.elapsed,
            fetched.url,
        )
        return fetched

    async def _follow(
        self,
        source_id: str,
        url: str,
        headers: dict[str, str | bytes],
        state: SourceState | None,
        public_only: bool,
    ) -> Fetched:
        client, global_slot = await self._bind(pinned=public_only)
        progress = _Progress(url=url, current=url)
        loop = asyncio.get_running_loop()
        started: float | None = None
        chain: list[str] = [url]
        permanent: str | None = None
        permanent_run = True
        # As bytes: httpx would encode text as ASCII, and a validator may be Latin-1.
        request_headers = {
            k.encode("ascii"): v if isinstance(v, bytes) else v.encode("ascii")
            for k, v in {
                "User-Agent": self.user_agent,
                "Accept-Encoding": "gzip, deflate",
                **headers,
            }.items()
        }
        for _ in range(self.settings.max_redirects + 1):
            target = _http_url(source_id, progress)
            key = _pool_key(target)
            pools = None if public_only else self._host_pools
            self._wanting[key] = self._wanting.get(key, 0) + 1
            try:
                # Host slot first, then the global one: a task queued behind a busy host must
                # not sit on a global slot that another host could use.
                async with self._host_slot(_host_key(target)), global_slot:
                    if started is None:
                        started = loop.time()
                    deadline = started + self.settings.timeout
                    pin = None
                    if public_only:
                        checked = await self._require_public(source_id, target, progress, deadline)
                        pin = _PINNED.set({target.raw_host.decode("ascii"): checked})
                    if pools is not None:
                        pools.busy(key)
                    try:
                        result = await self._exchange(
                            client, source_id, target, request_headers, state, progress, deadline
                        )
                    finally:
                        if pin is not None:
                            _PINNED.reset(pin)
                        if pools is not None:
                            await pools.done(key, more=self._wanting.get(key, 0) > 1)
            finally:
                left = self._wanting.get(key, 1) - 1
                if left > 0:
                    self._wanting[key] = left
                else:
                    self._wanting.pop(key, None)
            if isinstance(result, Fetched):
                return _finish(result, loop.time() - started, permanent)
            if len(chain) > self.settings.max_redirects:
                raise FetchError(
                    source_id,
                    f"{progress.where()}: more than {self.settings.max_redirects} redirects "
                    f"({_chain([*chain, result.location])})",
                    status=result.status,
                )
            if permanent_run and result.status in _PERMANENT:
                permanent = result.location
            else:
                permanent_run = False
            chain.append(result.location)
            progress.current = result.location
        raise AssertionError("unreachable: the loop returns or raises")  # pragma: no cover

    async def _require_public(
        self, source_id: str, target: httpx.URL, progress: _Progress, deadline: float
    ) -> tuple[str, ...]:
        """The addresses the hop's host resolves to, looked up once; refused unless every one
        is public.  The connection is then made to these (see :class:`_PinnedBackend`).

        The system resolver reads "localhost", "2130706433" and "[::1]" as the addresses they
        are.
        """
        host = target.raw_host.decode("ascii", "replace")
        port = target.port or (443 if target.scheme == "https" else 80)
        try:
            async with asyncio.timeout_at(deadline):
                addresses = tuple(await self._resolver(host, port))
        except TimeoutError:
            raise FetchError(
                source_id,
                f"{progress.where()}: total timeout: not done after "
                f"{_secs(self.settings.timeout)} while looking up {host}",
            ) from None
        except (OSError, UnicodeError) as e:
            reason = e.strerror if isinstance(e, OSError) and e.strerror else _line(e)
            raise FetchError(
                source_id, f"{progress.where()}: DNS lookup failed for {host} ({reason})"
            ) from None
        if not addresses or not all(_is_public(a) for a in addresses):
            log.info("refused a non-public address source=%s url=%s", source_id, target)
            raise FetchError(
                source_id,
                f"{progress.where()}: that address is not a public web address (to allow "
                "intranet pages, set fetch.allow_private_urls: true in the configuration)",
            )
        return addresses

    async def _exchange(
        self,
        client: httpx.AsyncClient,
        source_id: str,
        target: httpx.URL,
        headers: Mapping[bytes, bytes],
        state: SourceState | None,
        progress: _Progress,
        deadline: float,
    ) -> Fetched | _Hop:
        """One request/response under the overall deadline; every failure as a FetchError."""
        scope = asyncio.timeout_at(deadline)
        progress.stage, progress.received, progress.answered = "connecting", 0, None
        sent = False
        try:
            async with scope:
                request = client.build_request(
                    "GET",
                    target,
                    headers=headers,
                    timeout=self._timeout,
                    extensions={"trace": progress.trace},
                )
                response = await client.send(request, stream=True, follow_redirects=False)
                sent = True
                try:
                    progress.stage = "headers"
                    return await self._answer(source_id, response, state, progress)
                finally:
                    await response.aclose()
        except TimeoutError:
            if not scope.expired():
                raise
            raise FetchError(
                source_id,
                f"{progress.where()}: total timeout: not done after "
                f"{_secs(self.settings.timeout)} while {progress.doing()}",
            ) from None
        except (httpx.HTTPError, httpx.InvalidURL, httpx.StreamError, OSError) as e:
            if not sent and progress.answered and progress.answered[0] in _REDIRECTS:
                # httpx prepares the next request even when not following, and fails on a
                # Location it cannot turn into a URL (javascript:…) before we see the response.
                status, location = progress.answered
                raise FetchError(
                    source_id,
                    f"{progress.where()}: HTTP {status} redirect to {location!r}, "
                    "which is not a usable http(s) URL",
                    status=status,
                ) from e
            raise FetchError(
                source_id, f"{progress.where()}: {self._describe(e, target, progress)}"
            ) from e

    async def _answer(
        self,
        source_id: str,
        response: httpx.Response,
        state: SourceState | None,
        progress: _Progress,
    ) -> Fetched | _Hop:
        status = response.status_code
        where = progress.where()
        if status in _REDIRECTS and response.headers.get("location"):
            location = response.headers["location"].strip()
            try:
                nxt = response.request.url.join(location)
            except httpx.InvalidURL:
                raise FetchError(
                    source_id,
                    f"{where}: HTTP {status} redirect to an invalid URL {location!r}",
                    status=status,
                ) from None
            if nxt.scheme not in ("http", "https") or not nxt.host:
                raise FetchError(
                    source_id,
                    f"{where}: HTTP {status} redirect to {location!r}, "
                    "which is not a usable http(s) URL",
                    status=status,
                )
            return _Hop(status, str(nxt))
        if status == 304:
            # A 304 has no body by definition (h11 reads none, whatever follows); reaching its
            # end lets the connection serve the host's next feed instead of being closed.
            async for _ in response.aiter_raw():
                pass
            return Fetched(
                source_id=source_id,
                url=str(response.request.url),
                status=304,
                headers=dict(response.headers.items()),
                content=b"",
                etag=response.headers.get("etag") or (state.etag if state else None),
                last_modified=response.headers.get("last-modified")
                or (state.last_modified if state else None),
            )
        if 200 <= status < 300:
            progress.stage = "body"
            content, decoded = await self._read_body(source_id, response, progress)
            headers = dict(response.headers.items())
            if decoded:  # the content is no longer what these described
                headers.pop("content-encoding", None)
                headers.pop("content-length", None)
            return Fetched(
                source_id=source_id,
                url=str(response.request.url),
                status=status,
                headers=headers,
                content=content,
                etag=response.headers.get("etag"),
                last_modified=response.headers.get("last-modified"),
            )
        reason = response.reason_phrase or _reason(status)
        retry_after = parse_retry_after(
            response.headers.get("retry-after"), now=_date(response.headers.get("date"))
        )
        if status == 410:
            raise SourceGone(
                source_id,
                f"{where}: HTTP 410 {reason}: the publisher removed it; "
                "not polled again until its configuration changes",
                status=status,
            )
        if status in _REDIRECTS:
            what = f"HTTP {status} {reason} without a Location header to follow"
        elif 300 <= status < 400:
            what = f"HTTP {status} {reason}, not a redirect that can be followed"
        elif status in (429, 503):
            wait = (
                f"retry after {_secs(retry_after)}" if retry_after is not None else "no Retry-After"
            )
            what = f"HTTP {status} {reason} ({wait})"
        else:
            what = f"HTTP {status} {reason}"
        raise FetchError(source_id, f"{where}: {what}", status=status, retry_after=retry_after)

    async def _read_body(
        self, source_id: str, response: httpx.Response, progress: _Progress
    ) -> tuple[bytes, bool]:
        """The decoded body, abandoned as soon as it passes the cap; True if it was decoded.

        Every content coding is undone here, layer by layer in bounded pieces (never by httpx,
        which inflates each network read whole: a 3.5 KB ``gzip, gzip`` answer once grew to
        4 GB that way), so the cap is checked before more than a piece per layer exists.
        """
        cap = self.settings.max_body
        codings = _codings(source_id, response, progress.where())
        if not codings:
            declared = response.headers.get("content-length", "")
            if declared.isdigit() and int(declared) > cap:
                raise BodyTooLarge(
                    source_id,
                    f"{progress.where()}: the body is {int(declared)} bytes, over the "
                    f"{_size(cap)} cap; not downloaded",
                    status=response.status_code,
                )
        decoder = _Decoder(codings)
        chunks: list[bytes] = []
        total = 0

        def take(pieces: Iterator[bytes]) -> None:
            nonlocal total
            for piece in pieces:
                total += len(piece)
                if total > cap:
                    raise BodyTooLarge(
                        source_id,
                        f"{progress.where()}: the body passed the {_size(cap)} cap"
                        f"{' once decompressed' if codings else ''}; abandoned",
                        status=response.status_code,
                    )
                chunks.append(piece)
                progress.received = total

        try:
            async for raw in response.aiter_raw():
                take(decoder.feed(raw))
            take(decoder.flush())
        except _Corrupt as e:
            raise FetchError(
                source_id,
                f"{progress.where()}: the body is not valid {e.coding} ({e.reason})",
                status=response.status_code,
            ) from None
        return b"".join(chunks), bool(codings)

    def _describe(self, exc: BaseException, target: httpx.URL, progress: _Progress) -> str:
        """One line on what failed, in the terms of the phase it failed in."""
        s = self.settings
        host = f"{target.host}:{target.port or (443 if target.scheme == 'https' else 80)}"
        if isinstance(exc, httpx.ConnectTimeout):
            return f"connect timeout: no connection to {host} within {_secs(s.connect_timeout)}"
        if isinstance(exc, httpx.ReadTimeout):
            waited = _secs(s.read_timeout)
            return f"read timeout: nothing received for {waited} while {progress.doing()}"
        if isinstance(exc, httpx.WriteTimeout):
            return f"write timeout: could not send the request within {_secs(s.timeout)}"
        if isinstance(exc, httpx.PoolTimeout):
            return f"pool timeout: no free connection within {_secs(s.timeout)}"
        if isinstance(exc, httpx.UnsupportedProtocol | httpx.InvalidURL):
            return f"not a usable http(s) URL ({_line(exc)})"
        root = _root(exc)
        if isinstance(root, socket.gaierror):
            return f"DNS lookup failed for {target.host} ({root.strerror or _line(root)})"
        if isinstance(root, ConnectionRefusedError):
            return f"connection refused by {host}"
        if isinstance(root, ssl.SSLCertVerificationError):
            return f"TLS certificate not accepted ({root.verify_message or _line(root)})"
        if isinstance(root, ssl.SSLError):
            return f"TLS failed ({root.reason or _line(root)})"
        if isinstance(exc, httpx.ConnectError):
            return f"cannot connect to {host} ({_line(root)})"
        if isinstance(exc, httpx.RemoteProtocolError):
            return f"the server broke off while {progress.doing()} ({_line(exc)})"
        if isinstance(exc, httpx.NetworkError | OSError):
            return f"network error while {progress.doing()} ({_line(root)})"
        return f"HTTP client error while {progress.doing()} ({type(exc).__name__}: {_line(exc)})"


#: Most content codings one body may carry: a second layer is legal but rare, and every
#: further one only multiplies what a few bytes on the wire can inflate to.
MAX_CODINGS = 2
_DECODABLE = {"gzip": "gzip", "x-gzip": "gzip", "deflate": "deflate"}


def _codings(source_id: str, response: httpx.Response, where: str) -> list[str]:
    """The content codings of ``response`` in the order they were applied, from every
    Content-Encoding header (``identity`` dropped); a FetchError for a coding we cannot undo
    in bounded pieces, or for more than MAX_CODINGS layers."""
    codings = [
        token.strip().lower()
        for value in response.headers.get_list("content-encoding")
        for token in value.split(",")
        if token.strip() and token.strip().lower() != "identity"
    ]
    unknown = next((c for c in codings if c not in _DECODABLE), None)
    if unknown is not None:
        raise FetchError(
            source_id,
            f"{where}: the body is encoded as {unknown!r}, which Curator does not decode "
            "(it asks for gzip or deflate only); not downloaded",
            status=response.status_code,
        )
    if len(codings) > MAX_CODINGS:
        raise FetchError(
            source_id,
            f"{where}: the body is compressed {len(codings)} times over "
            f"({', '.join(codings)}); more than {MAX_CODINGS} layers is refused as a "
            "compression bomb; not downloaded",
            status=response.status_code,
        )
    return [_DECODABLE[c] for c in codings]


class _Corrupt(Exception):
    """A layer's bytes are not valid in its coding (turned into a FetchError by the caller)."""

    def __init__(self, coding: str, reason: str) -> None:
        super().__init__(coding, reason)
        self.coding = coding
        self.reason = reason


class _Decoder:
    """Undoes a chain of content codings (outermost first), piece by piece: each piece of one
    layer's output is fed through the next layers before the layer makes another, so memory
    holds at most one piece per layer however much the body inflates to.  With no codings,
    bytes pass through as they came."""

    def __init__(self, codings: list[str]) -> None:
        self._layers = [_Inflater(c) for c in reversed(codings)]

    def feed(self, data: bytes) -> Iterator[bytes]:
        return self._through(0, iter((data,)))

    def flush(self) -> Iterator[bytes]:
        for i, layer in enumerate(self._layers):
            yield from self._through(i + 1, layer.flush())

    def _through(self, i: int, pieces: Iterator[bytes]) -> Iterator[bytes]:
        if i == len(self._layers):
            yield from pieces
            return
        for piece in pieces:
            yield from self._through(i + 1, self._layers[i].feed(piece))


class _Inflater:
    """gzip/deflate that yields at most ``_PIECE`` bytes per step, so the cap holds against a
    gzip bomb.  Concatenated gzip members are read in turn; bytes after the end are ignored,
    as httpx and browsers do.  Invalid data raises :class:`_Corrupt`."""

    def __init__(self, coding: str) -> None:
        self.coding = coding
        self._gzip = coding != "deflate"
        self._d = self._new(raw=False)
        self._started = False
        self._done = False
        self._members = 0  # gzip members begun after the first

    def _new(self, *, raw: bool) -> zlib._Decompress:
        if raw:
            return zlib.decompressobj(-zlib.MAX_WBITS)
        return zlib.decompressobj(zlib.MAX_WBITS | 16 if self._gzip else zlib.MAX_WBITS)

    def _step(self, data: bytes) -> bytes:
        if self._started or self._gzip:
            self._started = True
            return self._d.decompress(data, _PIECE)
        self._started = True
        try:
            return self._d.decompress(data, _PIECE)
        except zlib.error:
            # "deflate" is meant to be zlib-wrapped, but some servers send raw deflate.
            self._d = self._new(raw=True)
            return self._d.decompress(data, _PIECE)

    def feed(self, data: bytes) -> Iterator[bytes]:
        while not self._done:
            if self._d.eof:
                data = self._d.unused_data + data
                if not data:
                    return  # the next read may start another member
                if not self._gzip:
                    self._done = True  # bytes after the end of a deflate stream
                    return
                self._d = self._new(raw=False)
                self._members += 1
            try:
                out = self._step(data)
            except zlib.error as e:
                if self._members:  # junk after a complete member: ignore it
                    self._done = True
                    return
                raise _Corrupt(self.coding, str(e)) from None
            if out:
                yield out
            if self._d.eof:
                data = b""
                continue
            data = self._d.unconsumed_tail
            if not data and len(out) < _PIECE:
                return

    def flush(self) -> Iterator[bytes]:
        if self._done:
            return
        try:
            out = self._d.flush()
        except zlib.error as e:
            raise _Corrupt(self.coding, str(e)) from None
        if out:
            yield out


def _validator(value: str | None) -> bytes | None:
    """A stored validator as header bytes, or None when it cannot be sent back as received.

    httpx decodes header values as Latin-1 and encodes ours as ASCII, so an ETag with a byte
    above 127 would fail the next request; we send such a value back byte for byte instead.
    """
    if not value:
        return None
    try:
        raw = value.encode("latin-1")
    except UnicodeEncodeError:
        return None
    if any((b < 0x20 and b != 0x09) or b == 0x7F for b in raw):
        return None
    return raw


def _http_url(source_id: str, progress: _Progress) -> httpx.URL:
    try:
        url = httpx.URL(progress.current)
    except (httpx.InvalidURL, TypeError, ValueError) as e:
        raise FetchError(source_id, f"{progress.where()}: not a usable URL ({_line(e)})") from None
    if url.scheme not in ("http", "https") or not url.host:
        raise FetchError(source_id, f"{progress.where()}: not an http(s) URL")
    return url


_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")  # RFC 6052: the IPv4 address is the last 32 bits
#: Never a public web server's address, though Python 3.11 calls them global: local-use NAT64
#: (RFC 8215), IPv4-compatible (deprecated, RFC 4291), IPv4-translated (RFC 2765) and
#: site-local (deprecated, RFC 3879) addresses.
_NEVER_PUBLIC = (
    ipaddress.IPv6Network("64:ff9b:1::/48"),
    ipaddress.IPv6Network("::/96"),
    ipaddress.IPv6Network("::ffff:0:0:0/96"),
    ipaddress.IPv6Network("fec0::/10"),
)


def _is_public(address: str) -> bool:
    """Whether an address from the resolver is one anybody on the internet could reach.

    An IPv6 address that carries an IPv4 one (IPv4-mapped, NAT64, 6to4) is judged by that
    IPv4 address alone: ``64:ff9b::7f00:1`` reaches 127.0.0.1 through a NAT64 gateway.  (Not
    by its prefix as well: Python before 3.11.4 counts all of 6to4's ``2002::/16`` private,
    which refused every 6to4 host on Debian's Python and no other.)
    """
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])  # drop an IPv6 zone ("%eth0")
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address):
        if any(ip in net for net in _NEVER_PUBLIC):
            return False
        embedded = ip.ipv4_mapped or ip.sixtofour
        if ip in _NAT64:
            embedded = ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
        if embedded is not None:
            return _is_public(str(embedded))
    return ip.is_global and not ip.is_multicast


def _finish(fetched: Fetched, elapsed: float, permanent: str | None) -> Fetched:
    return replace(fetched, elapsed=elapsed, permanent_redirect=permanent)


def _chain(urls: list[str]) -> str:
    """A redirect chain short enough for one log line: the cycle when it loops."""
    for i, u in enumerate(urls):
        if u in urls[:i]:
            return "a loop: " + " -> ".join(urls[urls.index(u) : i + 1])
    return f"{urls[0]} -> ... -> {urls[-1]}"


def _root(exc: BaseException) -> BaseException:
    """The innermost cause: httpx wraps httpcore, which wraps the OSError that says why."""
    seen: set[int] = set()
    while id(exc) not in seen:
        seen.add(id(exc))
        nxt = exc.__cause__ or exc.__context__
        if nxt is None:
            break
        exc = nxt
    return exc


def _date(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def _reason(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return ""


def _line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return text or type(exc).__name__


def _secs(seconds: float) -> str:
    return f"{seconds:g} s"


def _size(n: int) -> str:
    for unit, factor in (("GB", 1024**3), ("MB", 1024**2), ("KB", 1024)):
        if n >= factor:
            return f"{n / factor:g} {unit}"
    return f"{n} bytes"
