"""curator.fetch against a real local HTTP server (tests/feedserver.py): no mocks, no sleeps.

Timeouts are provoked by a server that waits longer than a short client timeout; the server's
waits end at teardown, so nothing here waits for them.
"""

from __future__ import annotations

import asyncio
import gzip
import logging
import ssl
import tracemalloc
import zlib
from collections.abc import Awaitable, Callable, Iterable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import httpcore
import httpx
import pytest
import trustme

from curator import __version__
from curator.config import FetchSettings, Source, SourceKind
from curator.exceptions import BodyTooLarge, FetchError, SourceGone
from curator.fetch import (
    FEED_ACCEPT,
    HTML_ACCEPT,
    Fetcher,
    Resolver,
    _is_public,
    _PinnedBackend,
    build_user_agent,
    parse_retry_after,
)
from curator.types import Fetched, SourceState
from tests.feedserver import CORPUS, FeedServer, blackhole, nested_bomb_bytes, refused_url

T = TypeVar("T")
RSS = "feeds/FeedKit__RSS.xml"
MB = 1024 * 1024


@pytest.fixture
def server() -> Iterator[FeedServer]:
    with FeedServer() as s:
        yield s
    assert not s.errors


def settings(**changes: Any) -> FetchSettings:
    base: dict[str, Any] = {
        "contact": "editors@example.org",
        "timeout": 10,
        "connect_timeout": 5,
        "read_timeout": 5,
        "max_body": MB,
        "allow_private_urls": True,  # the test server is on 127.0.0.1
    }
    return FetchSettings(**{**base, **changes})


def source(url: str, kind: SourceKind = "feed") -> Source:
    return Source(id="src-1", name="Test source", url=url, kind=kind)


def run(fs: FetchSettings, job: Callable[[Fetcher], Awaitable[T]]) -> T:
    """Run ``job`` in a fresh event loop with a Fetcher that is closed afterwards."""

    async def main() -> T:
        fetcher = Fetcher(fs)
        try:
            return await job(fetcher)
        finally:
            await fetcher.aclose()

    return asyncio.run(main())


def fetch(url: str, state: SourceState | None = None, **changes: Any) -> Fetched:
    return run(settings(**changes), lambda f: f.fetch(source(url), state))


def fetch_error(url: str, **changes: Any) -> FetchError:
    with pytest.raises(FetchError) as info:
        fetch(url, **changes)
    return info.value


# ---------------------------------------------------------------------- success, politeness


def test_200_returns_body_and_records_validators(server: FeedServer) -> None:
    url = server.corpus_url(RSS)
    got = fetch(url)
    assert got.status == 200
    assert got.content == (CORPUS / RSS).read_bytes()
    assert got.url == url
    assert got.etag and got.etag.startswith('"')
    assert got.last_modified and got.last_modified.endswith("GMT")
    assert got.headers["content-type"] == "application/xml"
    assert got.permanent_redirect is None
    assert not got.not_modified


def test_honest_user_agent_with_contact_and_feed_accept(server: FeedServer) -> None:
    fetch(server.corpus_url(RSS))
    (req,) = server.requests
    ua = req.header("user-agent") or ""
    assert f"Curator/{__version__}" in ua
    assert "contact: editors@example.org" in ua
    assert req.header("accept") == FEED_ACCEPT
    assert "gzip" in (req.header("accept-encoding") or "")


@pytest.mark.parametrize(
    ("configured", "contact", "expected"),
    [
        ("Bot/{version} (+https://x.org)", None, f"Bot/{__version__} (+https://x.org)"),
        (
            "Bot/{version} (+https://x.org)",
            "a@b.org",
            f"Bot/{__version__} (+https://x.org; contact: a@b.org)",
        ),
        ("Bot {x}", "a@b.org", "Bot {x} (contact: a@b.org)"),
        ("Bot\r\n  1.0", None, "Bot 1.0"),
        (
            "Bot (+https://x.org)",
            "Zoë Ñ <z@x.org>",
            "Bot (+https://x.org; contact: Zoe N <z@x.org>)",
        ),
    ],
)
def test_user_agent_forms(configured: str, contact: str | None, expected: str) -> None:
    fs = FetchSettings.model_validate({"user_agent": configured, "contact": contact})
    assert build_user_agent(fs) == expected


def test_conditional_get_with_etag_gives_304(server: FeedServer) -> None:
    url = server.corpus_url(RSS)
    first = fetch(url)
    state = SourceState("src-1", etag=first.etag, last_modified=first.last_modified)
    again = fetch(url, state)
    assert again.status == 304 and again.not_modified
    assert again.content == b""
    assert again.etag == first.etag and again.last_modified == first.last_modified
    conditional = server.requests[-1]
    assert conditional.header("if-none-match") == first.etag
    assert conditional.header("if-modified-since") == first.last_modified


def test_conditional_get_with_last_modified_only_gives_304(server: FeedServer) -> None:
    url = server.corpus_url(RSS, etag=None)
    first = fetch(url)
    assert first.etag is None and first.last_modified
    again = fetch(url, SourceState("src-1", last_modified=first.last_modified))
    assert again.status == 304
    assert server.requests[-1].header("if-none-match") is None


def test_changed_etag_gives_a_full_answer_and_the_new_validator(server: FeedServer) -> None:
    url = server.route("/feed.xml", b"<rss>new</rss>", etag='"v2"')
    got = fetch(url, SourceState("src-1", etag='"v1"'))
    assert got.status == 200 and got.content == b"<rss>new</rss>" and got.etag == '"v2"'


def test_page_source_asks_for_html(server: FeedServer) -> None:
    url = server.corpus_url("html/NetNewsWire__RSCore__inessential.html")
    assert run(settings(), lambda f: f.fetch(source(url, "page"))).status == 200
    assert server.requests[0].header("accept") == HTML_ACCEPT


def test_latin1_validator_is_sent_back_byte_for_byte(server: FeedServer) -> None:
    url = server.route("/feed.xml", b"<rss/>", etag='W/"caf\xe9"')
    first = fetch(url)
    assert first.etag == 'W/"caf\xe9"'
    assert fetch(url, SourceState("src-1", etag=first.etag)).status == 304


def test_unsendable_validator_is_left_out(server: FeedServer) -> None:
    url = server.route("/feed.xml", b"<rss/>", etag='"v1"')
    got = fetch(url, SourceState("src-1", etag='"v1"\r\nX-Evil: 1', last_modified="żółw"))
    assert got.status == 200
    assert server.requests[0].header("if-none-match") is None
    assert server.requests[0].header("if-modified-since") is None


def test_fetch_url_asks_for_html(server: FeedServer) -> None:
    url = server.corpus_url("html/NetNewsWire__RSCore__inessential.html")
    got = run(settings(), lambda f: f.fetch_url(url))
    assert got.status == 200 and got.source_id == "manual"
    assert got.headers["content-type"] == "text/html"
    assert server.requests[0].header("accept") == HTML_ACCEPT


# ---------------------------------------------------------------------- redirects


@pytest.mark.parametrize(
    ("statuses", "permanent_hops"),
    [
        ((301,), 1),
        ((308, 301), 2),
        ((301, 302), 1),  # moved for good, then a temporary hop: keep the permanent target
        ((302, 301), 0),  # the configured URL itself is only temporarily elsewhere
        ((302, 307, 303), 0),
    ],
)
def test_redirects_followed_and_permanent_part_recorded(
    server: FeedServer, statuses: tuple[int, ...], permanent_hops: int
) -> None:
    final = server.corpus_url(RSS)
    start = server.redirect_chain("/old", final, statuses)
    got = fetch(start)
    assert got.status == 200 and got.url == final
    assert got.content == (CORPUS / RSS).read_bytes()
    hops = [server.url(r.path) for r in server.requests]
    assert len(hops) == len(statuses) + 1
    expected = None if permanent_hops == 0 else [*hops, final][permanent_hops]
    assert got.permanent_redirect == expected


def test_relative_location_resolved(server: FeedServer) -> None:
    server.route("/new/feed.xml", b"<rss/>")
    got = fetch(server.redirect("/old/feed.xml", "../new/feed.xml", 308))
    assert got.url == server.url("/new/feed.xml")
    assert got.permanent_redirect == got.url


def test_conditional_headers_survive_a_redirect(server: FeedServer) -> None:
    final = server.corpus_url(RSS)
    etag = fetch(final).etag
    got = fetch(server.redirect("/old", final, 301), SourceState("src-1", etag=etag))
    assert got.status == 304 and got.url == final and got.permanent_redirect == final


def test_five_redirects_are_fine_six_are_too_many(server: FeedServer) -> None:
    final = server.corpus_url(RSS)
    assert fetch(server.redirect_chain("/five", final, (302,) * 5)).status == 200
    e = fetch_error(server.redirect_chain("/six", final, (302,) * 6))
    assert "more than 5 redirects" in str(e)
    assert server.url("/six") in str(e)
    assert len(server.requests_to("/six")) == 1
    assert len(server.requests_to("/six/5")) == 1  # the sixth redirect was seen, not followed
    assert not server.requests_to(final)[1:]  # only the five-hop run reached the feed


def test_redirect_loop(server: FeedServer) -> None:
    e = fetch_error(server.redirect_loop("/loop"))
    assert "redirect" in str(e) and "loop" in str(e)
    assert len(server.requests) == 6


def test_redirects_can_be_turned_off(server: FeedServer) -> None:
    e = fetch_error(server.redirect("/old", server.corpus_url(RSS), 301), max_redirects=0)
    assert "more than 0 redirects" in str(e) and e.status == 301


@pytest.mark.parametrize(
    "location", ["ftp://example.org/feed.xml", "javascript:alert(1)", "http://[::1/feed"]
)
def test_redirect_to_non_http_target(server: FeedServer, location: str) -> None:
    e = fetch_error(server.redirect("/old", location, 302))
    assert "not a usable http(s) URL" in str(e) and location in str(e) and e.status == 302


def test_redirect_without_location(server: FeedServer) -> None:
    e = fetch_error(server.route("/odd", b"", status=302))
    assert e.status == 302 and "Location" in str(e)


# ---------------------------------------------------------------------- error statuses


@pytest.mark.parametrize("status", [400, 403, 404, 500, 502])
def test_error_status_is_a_fetch_error(server: FeedServer, status: int) -> None:
    url = server.status("/feed.xml", status)
    e = fetch_error(url)
    assert type(e) is FetchError
    assert e.status == status and e.retry_after is None and e.source_id == "src-1"
    assert str(e).startswith(f"{url}: HTTP {status} ")
    assert "\n" not in str(e)


def test_410_is_source_gone(server: FeedServer) -> None:
    url = server.status("/feed.xml", 410)
    with pytest.raises(SourceGone) as info:
        fetch(url)
    assert info.value.status == 410 and url in str(info.value)


def test_error_after_redirect_names_both_urls(server: FeedServer) -> None:
    missing = server.status("/missing", 404)
    start = server.redirect("/start", missing, 302)
    e = fetch_error(start)
    assert e.status == 404 and start in str(e) and missing in str(e)


@pytest.mark.parametrize("status", [429, 503])
def test_retry_after_seconds(server: FeedServer, status: int) -> None:
    e = fetch_error(server.status("/feed.xml", status, retry_after=120))
    assert e.status == status and e.retry_after == 120.0
    assert "retry after 120 s" in str(e)


def test_retry_after_http_date_is_relative_to_the_response_date(server: FeedServer) -> None:
    url = server.status(
        "/feed.xml",
        429,
        retry_after="Wed, 21 Oct 2015 07:30:00 GMT",
        headers={"Date": "Wed, 21 Oct 2015 07:28:00 GMT"},
    )
    assert fetch_error(url).retry_after == 120.0


def test_unreadable_retry_after_is_ignored(server: FeedServer) -> None:
    e = fetch_error(server.status("/feed.xml", 503, retry_after="soon"))
    assert e.status == 503 and e.retry_after is None and "no Retry-After" in str(e)


def test_parse_retry_after() -> None:
    from datetime import UTC, datetime

    now = datetime(2015, 10, 21, 7, 28, tzinfo=UTC)
    assert parse_retry_after("0") == 0.0
    assert parse_retry_after(" 3600 ") == 3600.0
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:30 GMT", now=now) == 30.0
    assert parse_retry_after("Wed, 21 Oct 2015 07:00:00 GMT", now=now) == 0.0  # past: now
    for bad in (None, "", "-5", "nan", "tomorrow"):
        assert parse_retry_after(bad) is None


# ---------------------------------------------------------------------- network failures


def test_read_timeout_waiting_for_headers(server: FeedServer) -> None:
    e = fetch_error(server.route("/slow", b"<rss/>", delay=60), read_timeout=0.2)
    assert e.status is None
    assert "read timeout" in str(e) and "waiting for the response headers" in str(e)


def test_read_timeout_in_the_body(server: FeedServer) -> None:
    e = fetch_error(server.route("/stall", b"<rss/>", stall=60), read_timeout=0.2)
    assert "read timeout" in str(e) and "reading the body" in str(e)


def test_total_timeout_on_a_dripping_body(server: FeedServer) -> None:
    url = server.route("/drip", b"x" * 10_000, chunk_size=1, drip=0.02)
    e = fetch_error(url, timeout=0.3, read_timeout=5)
    assert "total timeout" in str(e) and "reading the body" in str(e)


def test_connect_timeout() -> None:
    with blackhole() as url:
        e = fetch_error(url, connect_timeout=0.2)
    assert "connect timeout" in str(e) and url in str(e)


def test_connection_refused() -> None:
    url = refused_url()
    e = fetch_error(url)
    assert str(e).startswith(url) and "connection refused" in str(e)


def test_dns_failure() -> None:
    e = fetch_error("http://no-such-host.invalid/feed.xml", connect_timeout=2)
    assert str(e).startswith("http://no-such-host.invalid/feed.xml: ")
    assert "DNS lookup failed" in str(e) or "connect timeout" in str(e)


@pytest.mark.parametrize("url", ["ftp://example.org/feed", "http://[::1/feed", "not a url"])
def test_unusable_url(url: str) -> None:
    with pytest.raises(FetchError) as info:
        run(settings(), lambda f: f.fetch_url(url))
    assert "URL" in str(info.value)


def test_server_closing_mid_body(server: FeedServer) -> None:
    def truncated() -> Iterator[bytes]:
        yield b"<rss>"

    url = server.route("/cut", truncated, length=1000)
    e = fetch_error(url)
    assert "reading the body" in str(e) and e.status is None


def test_each_failure_is_logged_once_with_the_source(
    server: FeedServer, caplog: pytest.LogCaptureFixture
) -> None:
    # At debug level: the pipeline records a failing source and logs it (design.md, "a
    # failing source is data"); this line is for tracing the HTTP side.
    url = server.status("/feed.xml", 500)
    with caplog.at_level(logging.DEBUG, logger="curator.fetch"):
        fetch_error(url)
    (record,) = [r for r in caplog.records if r.name == "curator.fetch"]
    assert record.levelno == logging.DEBUG
    assert "source=src-1" in record.getMessage() and url in record.getMessage()


# ---------------------------------------------------------------------- bodies


def test_gzip_body_decoded(server: FeedServer) -> None:
    url = server.corpus_url(RSS, gzip=True)
    got = fetch(url)
    assert got.content == (CORPUS / RSS).read_bytes()
    assert "content-encoding" not in got.headers and "content-length" not in got.headers
    assert server.requests[0].header("accept-encoding") == "gzip, deflate"


def test_precompressed_corpus_file_decoded() -> None:
    name = "feeds/node-feedparser__compressed.xml"
    with FeedServer() as s:
        got = fetch(s.corpus_url(name, content_encoding="gzip"))
    assert got.content == gzip.decompress((CORPUS / name).read_bytes())


@pytest.mark.parametrize("wbits", [zlib.MAX_WBITS, -zlib.MAX_WBITS], ids=["zlib", "raw"])
def test_deflate_body_decoded(server: FeedServer, wbits: int) -> None:
    body = b"<rss>" + b"deflated " * 5000 + b"</rss>"
    z = zlib.compressobj(6, zlib.DEFLATED, wbits)
    url = server.route("/d", z.compress(body) + z.flush(), content_encoding="deflate")
    assert fetch(url).content == body


def test_concatenated_gzip_members(server: FeedServer) -> None:
    data = gzip.compress(b"<rss>one ") + gzip.compress(b"two</rss>")
    assert fetch(server.route("/m", data, content_encoding="gzip")).content == b"<rss>one two</rss>"


def test_corrupt_gzip_is_a_fetch_error(server: FeedServer) -> None:
    e = fetch_error(server.route("/bad", b"this is not gzip", content_encoding="gzip"))
    assert "not valid gzip" in str(e)


def test_body_at_the_cap_is_kept(server: FeedServer) -> None:
    assert len(fetch(server.huge("/exact", MB)).content) == MB
    assert len(fetch(server.huge("/exact.gz", MB, gzip=True)).content) == MB


def test_declared_oversize_body_is_not_downloaded(server: FeedServer) -> None:
    with pytest.raises(BodyTooLarge) as info:
        fetch(server.huge("/huge", 10**12, declare_length=True))
    assert "over the 1 MB cap" in str(info.value) and info.value.status == 200


@pytest.mark.parametrize("compressed", [False, True], ids=["plain", "gzip"])
def test_streamed_oversize_body_is_abandoned(server: FeedServer, compressed: bool) -> None:
    with pytest.raises(BodyTooLarge) as info:
        fetch(server.huge("/huge", 10**12, gzip=compressed))
    assert "passed the 1 MB cap" in str(info.value)


def test_gzip_bomb_abandoned_without_inflating_past_the_cap(server: FeedServer) -> None:
    # 64 KiB on the wire, 64 MiB inflated, in 64 KiB writes: inflating each network read whole
    # (httpx's aiter_bytes) peaks near 150 MB here for a 1 MB cap.
    url = server.gzip_bomb("/bomb")
    warm = server.route("/small", b"<rss/>")

    async def measured(f: Fetcher) -> tuple[BaseException | None, int]:
        await f.fetch_url(warm)  # client, SSL context and pool exist before measuring
        tracemalloc.start()
        try:
            await f.fetch_url(url)
        except BodyTooLarge as e:
            return e, tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
        return None, 0

    error, peak = run(settings(), measured)
    assert isinstance(error, BodyTooLarge) and "once decompressed" in str(error)
    assert peak < 3 * MB, f"peak {peak / MB:.1f} MB while capping at 1 MB"


def _peak_while(url: str, warm: str) -> tuple[BaseException | None, int]:
    """The error a fetch of ``url`` ends in and the peak of memory traced during it."""

    async def measured(f: Fetcher) -> tuple[BaseException | None, int]:
        await f.fetch(source(warm))  # client, SSL context and pool exist before measuring
        tracemalloc.start()
        try:
            await f.fetch(source(url))
        except FetchError as e:
            return e, tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
        return None, 0

    return run(settings(), measured)


@pytest.mark.parametrize(
    ("codings", "split"),
    [
        (("gzip", "gzip"), False),
        (("gzip", "gzip"), True),
        (("x-gzip", "deflate"), False),
        (("gzip", "gzip"), None),  # with identity in the chain
    ],
    ids=["gzip,gzip", "two-headers", "gzip,deflate", "with-identity"],
)
def test_nested_bomb_inflated_within_the_cap(
    server: FeedServer, codings: tuple[str, ...], split: bool | None
) -> None:
    # ~10 KB on the wire, 4 GiB inflated: httpx's aiter_bytes peaked at 142 MB for a 256 MiB
    # version of this and at 4.1 GB for the full one; each layer is now inflated piecewise.
    if split is None:
        body = nested_bomb_bytes(codings)
        url = server.route("/bomb", body, content_encoding="identity, gzip, identity, gzip")
    else:
        url = server.nested_bomb("/bomb", codings, split_headers=split)
    error, peak = _peak_while(url, server.route("/small", b"<rss/>"))
    assert isinstance(error, BodyTooLarge), error
    assert error.source_id == "src-1"
    assert "passed the 1 MB cap once decompressed" in str(error) and url in str(error)
    assert peak < 3 * MB, f"peak {peak / MB:.1f} MB while capping at 1 MB"


def test_nested_codings_decoded(server: FeedServer) -> None:
    body = b"<rss>" + b"twice over " * 5000 + b"</rss>"
    z = zlib.compressobj(6, zlib.DEFLATED, zlib.MAX_WBITS)
    both = z.compress(gzip.compress(body)) + z.flush()
    one_header = server.route("/a", both, content_encoding="gzip, deflate")
    two_headers = server.route("/b", both, content_encoding=("gzip", "deflate"))
    assert fetch(one_header).content == body
    got = fetch(two_headers)
    assert got.content == body and "content-encoding" not in got.headers


def test_nested_codings_decoded_across_tiny_reads(server: FeedServer) -> None:
    # One byte per write: every layer's state must carry over between network reads.
    body = b"<rss>" + bytes(range(256)) * 8 + b"</rss>"
    both = gzip.compress(gzip.compress(body) + gzip.compress(b"<!-- member 2 -->"))
    url = server.route("/tiny", both, content_encoding="gzip, gzip", chunk_size=1)
    assert fetch(url).content == body + b"<!-- member 2 -->"


def test_more_than_two_codings_refused(server: FeedServer) -> None:
    url = server.nested_bomb("/bomb3", ("gzip", "gzip", "gzip"))
    e = fetch_error(url)
    assert not isinstance(e, BodyTooLarge) and e.source_id == "src-1"
    assert "compressed 3 times over (gzip, gzip, gzip)" in str(e) and "more than 2" in str(e)


@pytest.mark.parametrize("coding", ["br", "zstd", "compress", "gzip, br"])
def test_coding_we_did_not_ask_for_is_refused(server: FeedServer, coding: str) -> None:
    e = fetch_error(server.route("/odd", b"\x00" * 64, content_encoding=coding))
    assert f"encoded as {coding.split(', ')[-1]!r}, which Curator does not decode" in str(e)


def test_corrupt_inner_layer_is_a_fetch_error(server: FeedServer) -> None:
    url = server.route("/bad2", gzip.compress(b"not gzip inside"), content_encoding="gzip, gzip")
    assert "not valid gzip" in str(fetch_error(url))


# ---------------------------------------------------------------------- concurrency


def test_per_host_limit(server: FeedServer) -> None:
    # The first two requests are held until both are in flight: proves two may run at once;
    # the server counts whether a third ever joined them.
    url = server.route("/feed.xml", b"<rss/>", hold_until=2, delay=0.05)

    async def many(f: Fetcher) -> list[Fetched]:
        return await asyncio.gather(*(f.fetch(source(f"{url}?n={i}")) for i in range(8)))

    results = run(settings(per_host=2, concurrency=10), many)
    assert [r.status for r in results] == [200] * 8
    assert server.max_concurrent(server.host) == 2


def test_global_limit(server: FeedServer) -> None:
    url = server.route("/feed.xml", b"<rss/>", delay=0.05)

    async def many(f: Fetcher) -> list[Fetched]:
        return await asyncio.gather(*(f.fetch(source(f"{url}?n={i}")) for i in range(6)))

    run(settings(per_host=4, concurrency=1), many)
    assert len(server.requests) == 6
    assert server.max_concurrent() == 1


# ---------------------------------------------------------------------- lifecycle


def test_one_fetcher_across_event_loops(server: FeedServer) -> None:
    fetcher = Fetcher(settings())
    src = source(server.corpus_url(RSS))

    async def once(close: bool) -> int:
        got = await fetcher.fetch(src)
        if close:
            await fetcher.aclose()
        return got.status

    assert asyncio.run(once(close=True)) == 200
    assert asyncio.run(once(close=True)) == 200  # usable again after aclose
    assert asyncio.run(once(close=False)) == 200  # the loop's shutdown closes the client
    assert asyncio.run(once(close=True)) == 200


def test_given_client_is_used_and_left_open(server: FeedServer) -> None:
    url = server.corpus_url(RSS)

    async def main() -> tuple[int, bool]:
        async with httpx.AsyncClient(follow_redirects=True) as client:
            fetcher = Fetcher(settings(read_timeout=0.2), client=client)
            got = await fetcher.fetch(source(server.redirect("/old", url, 301)))
            with pytest.raises(FetchError, match="read timeout"):
                await fetcher.fetch(source(server.route("/slow", b"", delay=60)))
            await fetcher.aclose()
            return got.status, client.is_closed

    assert asyncio.run(main()) == (200, False)
    assert "contact: editors@example.org" in (server.requests[0].header("user-agent") or "")


# ---------------------------------------------------------------------- pasted URLs (SSRF)

PUBLIC_IP = "93.184.215.14"  # a global address, written as a literal: no DNS needed


def _mock_fetcher(
    handler: Callable[[httpx.Request], httpx.Response], **changes: Any
) -> tuple[Fetcher, httpx.AsyncClient]:
    client = httpx.AsyncClient(transport=httpx.MockTransport(handler))
    return Fetcher(settings(**changes), client=client), client


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:{port}/article",
        "http://localhost:{port}/article",
        "http://10.0.0.1/article",
        "http://192.168.1.1/article",
        "http://169.254.169.254/latest/meta-data/",
        "http://[::1]:{port}/article",
        "http://[::ffff:127.0.0.1]:{port}/article",
        "http://2130706433:{port}/article",  # 127.0.0.1 as one number
        "http://0.0.0.0:{port}/article",
        "http://[64:ff9b::7f00:1]:{port}/article",  # NAT64 around 127.0.0.1
        "http://[::127.0.0.1]:{port}/article",  # IPv4-compatible
        "http://[::ffff:0:7f00:1]:{port}/article",  # IPv4-translated
        "http://[fec0::1]:{port}/article",  # site-local
    ],
)
def test_pasted_url_to_a_private_address_is_refused(server: FeedServer, url: str) -> None:
    server.route("/article", b"<title>secret</title>", content_type="text/html")
    url = url.format(port=server.port)
    with pytest.raises(FetchError) as info:
        run(settings(allow_private_urls=False), lambda f: f.fetch_url(url))
    assert "not a public web address" in str(info.value)
    assert "127.0.0.1" not in str(info.value).replace(url, "")  # no resolved address shown
    assert not server.requests_to("/article")


def test_redirect_from_a_public_host_to_a_private_one_is_refused(server: FeedServer) -> None:
    server.route("/admin", b"secret", content_type="text/html")
    private = server.url("/admin")
    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(str(request.url))
        return httpx.Response(302, headers={"Location": private})

    async def main() -> Fetched:
        fetcher, client = _mock_fetcher(handler, allow_private_urls=False)
        async with client:
            return await fetcher.fetch_url(f"http://{PUBLIC_IP}/story")

    with pytest.raises(FetchError) as info:
        asyncio.run(main())
    assert "not a public web address" in str(info.value)
    assert f"redirected to {private}" in str(info.value)
    assert seen == [f"http://{PUBLIC_IP}/story"]  # the private hop was never asked for
    assert not server.requests_to("/admin")


def test_pasted_url_to_a_public_address_is_fetched() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        body = httpx.ByteStream(b"<title>ok</title>")  # streamed, as a network body is
        return httpx.Response(200, stream=body, headers={"Content-Type": "text/html"})

    async def main() -> Fetched:
        fetcher, client = _mock_fetcher(handler, allow_private_urls=False)
        async with client:
            return await fetcher.fetch_url(f"http://{PUBLIC_IP}/story")

    assert asyncio.run(main()).content == b"<title>ok</title>"


def test_configured_sources_and_the_opt_in_may_use_private_addresses(server: FeedServer) -> None:
    url = server.corpus_url(RSS)
    assert fetch(url, allow_private_urls=False).status == 200  # the operator's own choice
    assert run(settings(allow_private_urls=True), lambda f: f.fetch_url(url)).status == 200


@pytest.mark.parametrize(
    ("address", "public"),
    [
        ("93.184.215.14", True),
        ("2606:4700::1111", True),
        ("127.0.0.1", False),
        ("10.1.2.3", False),
        ("172.16.0.1", False),
        ("192.168.0.1", False),
        ("100.64.0.1", False),  # carrier-grade NAT
        ("169.254.169.254", False),  # cloud metadata
        ("0.0.0.0", False),
        ("224.0.0.1", False),  # multicast
        ("::1", False),
        ("fe80::1%eth0", False),
        ("fc00::1", False),
        ("::ffff:10.0.0.1", False),
        ("2002:7f00:1::", False),  # 6to4 around 127.0.0.1
        ("2002:5db8:d70e::", True),  # 6to4 around a public address
        ("64:ff9b::7f00:1", False),  # NAT64 (RFC 6052) around 127.0.0.1
        ("64:ff9b::a9fe:a9fe", False),  # ... around 169.254.169.254
        ("64:ff9b::5db8:d70e", True),  # ... around a public address
        ("64:ff9b:1::5db8:d70e", False),  # local-use NAT64 (RFC 8215)
        ("::127.0.0.1", False),  # IPv4-compatible (deprecated)
        ("::93.184.215.14", False),
        ("::ffff:0:7f00:1", False),  # IPv4-translated
        ("fec0::1", False),  # site-local (deprecated)
        ("2001:0:4136:e378:8000:63bf:3fff:fdd2", False),  # Teredo
        ("not an address", False),
    ],
)
def test_which_addresses_are_public(address: str, public: bool) -> None:
    assert _is_public(address) is public


class StandInInternet(httpcore.AsyncNetworkBackend):
    """The internet as far as these tests need it: PUBLIC_IP is the local feed server, every
    other address is unreachable.  Records every address dialled."""

    def __init__(self) -> None:
        self.dialled: list[str] = []
        self._real = httpcore.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        self.dialled.append(host)
        if host != PUBLIC_IP:
            raise httpcore.ConnectError(f"stand-in: no route to {host}")
        return await self._real.connect_tcp("127.0.0.1", port, timeout=timeout)

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        raise httpcore.ConnectError("no Unix sockets here")

    async def sleep(self, seconds: float) -> None:
        await self._real.sleep(seconds)


def fetch_pasted(url: str, resolver: Resolver, network: StandInInternet) -> Fetched:
    async def main() -> Fetched:
        fetcher = Fetcher(settings(allow_private_urls=False), resolver=resolver, network=network)
        try:
            return await fetcher.fetch_url(url)
        finally:
            await fetcher.aclose()

    return asyncio.run(main())


def test_pasted_link_connects_to_the_address_that_was_checked(server: FeedServer) -> None:
    # DNS rebinding: the first answer (checked) is public, any later one is 127.0.0.1.  The
    # fetch must connect to the first; a second lookup would dial 127.0.0.1, which the stand-in
    # refuses, and before pinning httpx looked the name up again itself (and found nothing).
    server.route("/article", b"<title>public</title>", content_type="text/html")
    asked: list[str] = []

    async def rebinding(host: str, port: int) -> list[str]:
        asked.append(host)
        return [PUBLIC_IP] if len(asked) == 1 else ["127.0.0.1"]

    network = StandInInternet()
    got = fetch_pasted(f"http://rebind.test:{server.port}/article", rebinding, network)
    assert got.content == b"<title>public</title>"
    assert asked == ["rebind.test"]  # one lookup
    assert network.dialled == [PUBLIC_IP]  # the checked answer, and nothing else
    assert server.requests_to("/article")[0].host == f"rebind.test:{server.port}"  # Host kept


def test_one_private_answer_among_public_ones_is_refused(server: FeedServer) -> None:
    server.route("/article", b"secret", content_type="text/html")

    async def mixed(host: str, port: int) -> list[str]:
        return [PUBLIC_IP, "127.0.0.1"]

    network = StandInInternet()
    with pytest.raises(FetchError, match="not a public web address"):
        fetch_pasted(f"http://mixed.test:{server.port}/article", mixed, network)
    assert network.dialled == [] and not server.requests


def test_every_redirect_hop_is_resolved_checked_and_pinned(server: FeedServer) -> None:
    server.route("/admin", b"secret", content_type="text/html")
    start = server.redirect("/start", f"http://inner.test:{server.port}/admin", 302)
    start = start.replace("127.0.0.1", "outer.test")
    answers = {"outer.test": [PUBLIC_IP], "inner.test": ["10.0.0.7"]}

    async def resolver(host: str, port: int) -> list[str]:
        return answers[host]

    network = StandInInternet()
    with pytest.raises(FetchError) as info:
        fetch_pasted(start, resolver, network)
    assert "not a public web address" in str(info.value) and "inner.test" in str(info.value)
    assert network.dialled == [PUBLIC_IP]
    assert [r.path for r in server.requests] == ["/start"]


def test_pinned_connections_need_a_checked_address() -> None:
    backend = _PinnedBackend(StandInInternet())
    with pytest.raises(httpcore.ConnectError, match="was not checked"):
        asyncio.run(backend.connect_tcp("unchecked.test", 80))


def test_pinned_https_keeps_the_name_for_sni_and_the_certificate(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # The certificate is valid for rebind.test only: the fetch succeeds only if TLS was done
    # for the name (SNI and verification) while the socket went to the checked address.
    ca = trustme.CA()
    server_side = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("rebind.test").configure_cert(server_side)
    names: list[str | None] = []
    server_side.sni_callback = lambda sock, name, ctx: names.append(name)
    ca.cert_pem.write_to_path(str(tmp_path / "ca.pem"))
    monkeypatch.setenv("SSL_CERT_FILE", str(tmp_path / "ca.pem"))  # what the client trusts

    async def resolver(host: str, port: int) -> list[str]:
        return [PUBLIC_IP]

    network = StandInInternet()
    with FeedServer(tls=server_side) as tls_server:
        tls_server.route("/article", b"<title>over TLS</title>", content_type="text/html")
        url = f"https://rebind.test:{tls_server.port}/article"
        got = fetch_pasted(url, resolver, network)
        assert got.content == b"<title>over TLS</title>" and got.url == url
        assert tls_server.requests[0].host == f"rebind.test:{tls_server.port}"
    assert not tls_server.errors
    assert names == ["rebind.test"] and network.dialled == [PUBLIC_IP]
