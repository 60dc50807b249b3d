"""Connections per host (curator.fetch._HostPools), against real local servers.

A host's feeds are fetched over its own connections, reused from one feed to the next while
more of its feeds wait; a host with nothing left to fetch keeps no idle connection, and at
most ``fetch.concurrency`` hosts keep idle ones.  Which connection served a request is told
by the client port the server saw.
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import trustme

from curator.config import FetchSettings, Source
from curator.exceptions import FetchError
from curator.fetch import Fetcher
from curator.types import Fetched, SourceState
from tests.feedserver import FeedServer

RSS = b"<?xml version='1.0'?><rss version='2.0'><channel><title>T</title></channel></rss>"


@pytest.fixture
def servers() -> Iterator[tuple[FeedServer, FeedServer]]:
    with FeedServer() as a, FeedServer() as b:
        yield a, b
    assert not a.errors and not b.errors


def settings(**changes: Any) -> FetchSettings:
    base: dict[str, Any] = {"timeout": 10, "allow_private_urls": True}
    return FetchSettings(**{**base, **changes})


def sources(*urls: str) -> list[Source]:
    return [Source(id=f"s{i}", name=f"S{i}", url=u) for i, u in enumerate(urls)]


def poll(
    fs: FetchSettings, feeds: list[Source], states: dict[str, SourceState] | None = None
) -> tuple[list[Fetched], int]:
    """Fetch every source at once, as a poll does; the results and how many hosts still had a
    connection pool open once all were done (before the Fetcher was closed)."""

    async def main() -> tuple[list[Fetched], int]:
        fetcher = Fetcher(fs)
        try:
            got = await asyncio.gather(*(fetcher.fetch(s, (states or {}).get(s.id)) for s in feeds))
            pools = fetcher._host_pools
            assert pools is not None
            return list(got), len(pools._pools)
        finally:
            await fetcher.aclose()

    return asyncio.run(main())


def ports(server: FeedServer, since: int = 0) -> list[int]:
    """The client port of each request from the ``since``-th on: one per connection."""
    return [r.client[1] for r in server.requests[since:]]


def test_a_hosts_feeds_share_its_connection_and_none_is_left_open(
    servers: tuple[FeedServer, FeedServer],
) -> None:
    a, _ = servers
    feeds = sources(*(a.route(f"/f{i}", RSS, etag=f'"{i}"') for i in range(4)))
    fetched, open_hosts = poll(settings(per_host=1), feeds)
    assert [f.status for f in fetched] == [200] * 4
    assert len(set(ports(a))) == 1  # one connection for the four feeds
    assert open_hosts == 0  # nothing more to fetch there: closed at once

    # An unchanged poll (every feed answering 304) reuses the connection the same way.
    before = len(a.requests)
    states = {f.source_id: SourceState(f.source_id, etag=f.etag) for f in fetched}
    fetched, open_hosts = poll(settings(per_host=1), feeds, states)
    assert [f.status for f in fetched] == [304] * 4
    assert len(set(ports(a, before))) == 1
    assert open_hosts == 0


def test_at_most_concurrency_hosts_keep_idle_connections(
    servers: tuple[FeedServer, FeedServer],
) -> None:
    a, b = servers
    # One request at a time, in this order: A, B, A, B.  After B's first feed two hosts would
    # hold idle connections, one more than fetch.concurrency allows: A's, the longest idle, is
    # closed, so A's second feed needs a new connection; B's is still open for its second.
    urls = [a.route("/1", RSS), b.route("/1", RSS), a.route("/2", RSS), b.route("/2", RSS)]
    fetched, open_hosts = poll(settings(concurrency=1, per_host=1), sources(*urls))
    assert [f.status for f in fetched] == [200] * 4
    assert len(set(ports(a))) == 2
    assert len(set(ports(b))) == 1
    assert open_hosts == 0

    seen_a, seen_b = len(a.requests), len(b.requests)
    # Room for both: each host's second feed waits for its first and reuses its connection.
    fetched, _ = poll(settings(concurrency=2, per_host=1), sources(*urls))
    assert len(set(ports(a, seen_a))) == 1 and len(set(ports(b, seen_b))) == 1


def test_a_proxy_from_the_environment_keeps_httpx_own_pool(
    servers: tuple[FeedServer, FeedServer], monkeypatch: pytest.MonkeyPatch
) -> None:
    """httpx routes through HTTP_PROXY only with its own pool: our pools would bypass it."""
    a, _ = servers
    monkeypatch.setenv("HTTP_PROXY", a.base_url)  # the local server stands for the proxy
    monkeypatch.setenv("NO_PROXY", "")

    async def main() -> tuple[FetchError, object]:
        fetcher = Fetcher(settings())
        try:
            with pytest.raises(FetchError) as caught:  # the "proxy" knows no such page
                await fetcher.fetch(Source(id="s", name="S", url="http://feeds.invalid/feed"))
            return caught.value, fetcher._host_pools
        finally:
            await fetcher.aclose()

    error, pools = asyncio.run(main())
    assert pools is None
    assert error.status == 404
    assert [r.path for r in a.requests] == ["http://feeds.invalid/feed"]  # asked as a proxy


@pytest.fixture
def tls_server() -> Iterator[tuple[FeedServer, trustme.CA]]:
    ca = trustme.CA()
    server_side = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(server_side)
    with FeedServer(tls=server_side) as s:
        yield s, ca


def test_https_sources_are_verified_against_the_trusted_certificates(
    tls_server: tuple[FeedServer, trustme.CA],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    """The TLS context of https pools is made with the first of them, from the certificates
    the environment trusts; an http pool's context is never used for https."""
    server, ca = tls_server
    feeds = sources(server.route("/a", RSS), server.route("/b", RSS))

    # Not trusted (certifi's authorities): refused, whatever the http pools hold.
    plain = FeedServer()
    with plain:
        mixed = [*sources(plain.route("/c", RSS)), *feeds]
        with pytest.raises(FetchError, match="TLS certificate not accepted"):
            poll(settings(), mixed)

    ca.cert_pem.write_to_path(str(tmp_path / "ca.pem"))
    monkeypatch.setenv("SSL_CERT_FILE", str(tmp_path / "ca.pem"))
    fetched, open_hosts = poll(settings(per_host=1), feeds)
    assert [(f.status, f.content) for f in fetched] == [(200, RSS), (200, RSS)]
    assert len(set(ports(server))) == 1  # one TLS connection for both feeds
    assert open_hosts == 0
