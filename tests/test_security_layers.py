"""The web app's protective layers, each around a tiny app that echoes what reached it.

The app-level tests (test_web.py, test_web_hostile.py) show the layers working in Curator; these
pin the layers' own contract, found wanting by mutation testing (``bench/mutation.py
security``): what a refusal looks like, where the limits fall exactly, that a body read for
the CSRF check reaches the endpoint whole, and that what must pass through (OPTIONS, the
exempt path, lifespan events) does.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.datastructures import Headers
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route
from starlette.testclient import TestClient
from starlette.types import ASGIApp

from curator.web._security import (
    CSP,
    SESSION_COOKIE,
    BodyLimitMiddleware,
    CSRFMiddleware,
    SchemeSessionMiddleware,
    SecurityHeadersMiddleware,
    csrf_token,
    same_site,
    tokens_equal,
)

LIMIT = 2048
EXPIRED = (
    "This form has expired or did not come from this site. Go back, reload the page and try again."
)


async def _echo(request: Request) -> Response:
    """Every method reads the body, so a layer that hands on no ``receive`` is seen."""
    body = await request.body()
    return PlainTextResponse(body.decode("latin-1"), headers={"x-method": request.method})


async def _token(request: Request) -> Response:
    return PlainTextResponse(csrf_token(request.session))


async def _own_csp(request: Request) -> Response:
    return PlainTextResponse("framed", headers={"Content-Security-Policy": "sandbox"})


started_lifespan: list[str] = []


@asynccontextmanager
async def _lifespan(app: Starlette) -> AsyncIterator[None]:
    started_lifespan.append("up")
    yield


def _app(**csrf: str) -> ASGIApp:
    """The layers in the order ``curator.web.create_app`` stacks them, inside Starlette's own
    error handling, as there."""
    methods = ["GET", "POST", "PUT", "OPTIONS", "HEAD"]
    return Starlette(
        routes=[
            Route("/echo", _echo, methods=methods),
            Route("/hook/{name}", _echo, methods=methods),
            Route("/token", _token, methods=["GET"]),
            Route("/public.json", _echo, methods=["GET"]),
            Route("/static/app.css", _echo, methods=["GET"]),
            Route("/own-csp", _own_csp, methods=["GET"]),
        ],
        middleware=[
            Middleware(SecurityHeadersMiddleware, public_paths={"/public.json"}),
            Middleware(BodyLimitMiddleware, max_body=LIMIT),
            Middleware(SchemeSessionMiddleware, secret_key="k" * 32, max_age=3600),
            Middleware(CSRFMiddleware, **csrf),
        ],
        lifespan=_lifespan,
    )


@pytest.fixture
def client() -> Iterator[TestClient]:
    with TestClient(_app(exempt=r"/hook/[a-z]+")) as c:
        yield c


def _token_of(client: TestClient) -> str:
    return client.get("/token").text


def _refused(response: Response | object, status: int, text: str) -> None:
    assert response.status_code == status  # type: ignore[attr-defined]
    assert response.headers["content-type"] == "text/html; charset=utf-8"  # type: ignore[attr-defined]
    body = response.content  # type: ignore[attr-defined]
    assert response.headers["content-length"] == str(len(body))  # type: ignore[attr-defined]
    assert body.startswith(b"<!doctype html><html lang=en><meta charset=utf-8><title>Refused")
    assert f"<p>{text}</p>".encode() in body


# ------------------------------------------------------------------------------------ CSRF


def test_lifespan_events_pass_through_every_layer() -> None:
    started_lifespan.clear()
    with TestClient(_app()) as c:
        assert c.get("/echo").status_code == 200
    assert started_lifespan == ["up"]


def test_a_post_without_its_token_is_refused_with_a_page_that_says_what_to_do(
    client: TestClient, caplog: pytest.LogCaptureFixture
) -> None:
    _token_of(client)
    with caplog.at_level(logging.INFO, logger="curator.web"):
        response = client.post("/echo", data={"x": "1"})
    _refused(response, 403, EXPIRED)
    assert "csrf refused path=/echo" in caplog.text


def test_a_form_body_read_for_the_check_reaches_the_endpoint_whole(client: TestClient) -> None:
    token = _token_of(client)
    form = f"csrf={token}&note=" + "n" * 1500

    def chunks() -> Iterator[bytes]:  # several http.request messages, more_body on all but one
        for i in range(0, len(form), 100):
            yield form[i : i + 100].encode()

    response = client.post(
        "/echo",
        content=chunks(),
        headers={"content-type": "application/x-www-form-urlencoded"},
    )
    assert response.status_code == 200
    assert response.text == form


def test_a_form_sent_in_many_messages_is_read_to_its_end_and_replayed_whole() -> None:
    """Straight ASGI: a server hands a body over in as many messages as it likes."""
    form = b"note=" + b"n" * 300 + b"&csrf=tok"
    parts = [form[i : i + 64] for i in range(0, len(form), 64)]
    messages = [
        {"type": "http.request", "body": part, "more_body": i < len(parts) - 1}
        for i, part in enumerate(parts)
    ]
    seen: list[bytes] = []
    sent: list[dict[str, object]] = []

    async def endpoint(scope: object, receive: Any, send: Any) -> None:
        message = await receive()
        seen.append(message["body"])
        assert message["more_body"] is False

    async def receive() -> dict[str, object]:
        return messages.pop(0)

    async def send(message: dict[str, object]) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "method": "POST",
        "path": "/echo",
        "headers": [(b"content-type", b"application/x-www-form-urlencoded")],
        "session": {"csrf": "tok"},
    }
    asyncio.run(CSRFMiddleware(endpoint)(scope, receive, send))
    assert sent == [] and seen == [form]


def test_a_token_in_the_header_leaves_the_body_unread_for_the_endpoint(client: TestClient) -> None:
    token = _token_of(client)
    response = client.put("/echo", content=b'{"a": 1}', headers={"x-csrf-token": token})
    assert (response.status_code, response.text) == (200, '{"a": 1}')


def test_a_token_in_a_body_that_is_not_a_form_does_not_count(client: TestClient) -> None:
    token = _token_of(client)
    response = client.post(
        "/echo", content=f"csrf={token}".encode(), headers={"content-type": "text/plain"}
    )
    _refused(response, 403, EXPIRED)


def test_options_and_head_need_no_token(client: TestClient) -> None:
    assert client.options("/echo").headers["x-method"] == "OPTIONS"
    assert client.head("/echo").status_code == 200


def test_only_a_post_to_the_exempt_path_goes_without_a_token(client: TestClient) -> None:
    assert client.post("/hook/unsubscribe", data={"List-Unsubscribe": "One-Click"}).text == (
        "List-Unsubscribe=One-Click"
    )
    _refused(client.put("/hook/unsubscribe"), 403, EXPIRED)
    _refused(client.post("/hook/unsubscribe/more"), 403, EXPIRED)  # the whole path must match


def test_a_post_from_another_site_is_refused_and_logged_with_its_origin(
    client: TestClient, caplog: pytest.LogCaptureFixture
) -> None:
    token = _token_of(client)
    with caplog.at_level(logging.INFO, logger="curator.web"):
        response = client.post(
            "/echo", data={"csrf": token}, headers={"origin": "https://evil.example"}
        )
    _refused(
        response,
        403,
        "This form was sent from another site. Open Curator's own page and try again.",
    )
    assert "cross-site post refused path=/echo origin='https://evil.example'" in caplog.text


def test_tokens_that_cannot_be_encoded_compare_unequal_without_an_error() -> None:
    assert tokens_equal("abc", "abc")
    assert not tokens_equal("abc", "ab\ud800")
    assert not tokens_equal("ab\udc80", "abc")


@pytest.mark.parametrize(
    ("origin", "allowed"),
    [
        ("http://testserver", True),
        ("http://testserver:80", True),
        ("http://testserver/", False),  # a path: not an origin
        ("http://testserver?x=1", False),  # a query alone
        ("http://testserver#top", False),  # a fragment alone
        ("http://me@testserver", False),
        ("http://testserver:8080", False),
        ("null", False),
    ],
)
def test_an_origin_must_be_exactly_this_site(origin: str, allowed: bool) -> None:
    headers = Headers(raw=[(b"host", b"testserver"), (b"origin", origin.encode())])
    assert same_site({"type": "http", "scheme": "http"}, headers) is allowed


def test_an_origin_without_a_host_to_compare_with_is_refused_not_an_error() -> None:
    headers = Headers(raw=[(b"origin", b"http://testserver")])
    assert same_site({"type": "http", "scheme": "http"}, headers) is False


# ------------------------------------------------------------------------------ body limit


def test_a_body_of_exactly_the_limit_is_accepted_and_one_byte_more_refused(
    client: TestClient,
) -> None:
    token = _token_of(client)
    headers = {"x-csrf-token": token}
    assert client.put("/echo", content=b"a" * LIMIT, headers=headers).status_code == 200
    response = client.put("/echo", content=b"a" * (LIMIT + 1), headers=headers)
    _refused(response, 413, "That request is too large: at most 2 KB is accepted (web.max_body).")


def test_a_streamed_body_is_counted_from_its_first_byte(
    client: TestClient, caplog: pytest.LogCaptureFixture
) -> None:
    token = _token_of(client)
    headers = {"x-csrf-token": token}

    def exactly(n: int) -> Iterator[bytes]:
        for _ in range(n // 256):
            yield b"b" * 256

    assert client.put("/echo", content=exactly(LIMIT), headers=headers).text == "b" * LIMIT
    with caplog.at_level(logging.INFO, logger="curator.web"):
        response = client.put("/echo", content=exactly(LIMIT + 256), headers=headers)
    _refused(response, 413, "That request is too large: at most 2 KB is accepted (web.max_body).")
    assert f"body too large path=/echo limit={LIMIT}" in caplog.text


def test_a_content_length_that_is_not_a_number_is_a_400(client: TestClient) -> None:
    response = client.put("/echo", content=b"x", headers={"content-length": "1e3"})
    _refused(response, 400, "The request's Content-Length is not a number.")


def test_multipart_bodies_are_refused_unread(client: TestClient) -> None:
    token = _token_of(client)
    response = client.post("/echo", files={"f": ("a.txt", b"x")}, headers={"x-csrf-token": token})
    _refused(response, 415, "No form here takes file uploads: send the form as the page does.")


def test_a_body_too_large_after_the_response_started_is_not_answered_twice() -> None:
    async def streams_then_reads(scope: dict, receive: object, send: object) -> None:  # type: ignore[type-arg]
        await send({"type": "http.response.start", "status": 200, "headers": []})  # type: ignore[operator]
        while True:
            message = await receive()  # type: ignore[operator]
            if not message.get("more_body"):
                break
        await send({"type": "http.response.body", "body": b"done"})  # type: ignore[operator]

    def big() -> Iterator[bytes]:
        for _ in range(4):
            yield b"c" * LIMIT

    client = TestClient(BodyLimitMiddleware(streams_then_reads, max_body=LIMIT))
    response = client.put("/", content=big())
    assert response.status_code == 200  # the one start the app sent; no 413 after it
    assert response.content == b""  # cut off at the limit: the app never finished


# -------------------------------------------------------------------------------- headers


def test_editor_pages_public_paths_and_static_files_get_their_own_headers(
    client: TestClient,
) -> None:
    page = client.get("/echo").headers
    assert page["content-security-policy"] == CSP
    assert page["x-frame-options"] == "DENY"
    assert page["referrer-policy"] == "same-origin"
    assert page["cross-origin-opener-policy"] == "same-origin"
    assert page["cache-control"] == "no-store"
    assert page["x-content-type-options"] == "nosniff"

    public = client.get("/public.json").headers
    assert public["referrer-policy"] == "strict-origin-when-cross-origin"
    assert "content-security-policy" not in public and "x-frame-options" not in public
    assert public["x-content-type-options"] == "nosniff"

    static = client.get("/static/app.css").headers
    assert static["content-security-policy"] == CSP and "cache-control" not in static

    assert client.get("/own-csp").headers["content-security-policy"] == "sandbox"


def test_the_session_cookie_is_secure_over_https_or_when_told_to_be() -> None:
    def cookie(app: ASGIApp, base: str) -> str:
        with TestClient(app, base_url=base) as c:
            return c.get("/token").headers["set-cookie"]

    inner = Starlette(routes=[Route("/token", _token)])
    plain = cookie(SchemeSessionMiddleware(inner, secret_key="k" * 32, max_age=60), "http://t")
    assert plain.startswith(f"{SESSION_COOKIE}=") and "secure" not in plain.lower()
    assert "samesite=lax" in plain.lower() and "max-age=60" in plain.lower()
    tls = cookie(SchemeSessionMiddleware(inner, secret_key="k" * 32, max_age=60), "https://t")
    assert "secure" in tls.lower()
    always = SchemeSessionMiddleware(inner, secret_key="k" * 32, max_age=60, always_secure=True)
    assert "secure" in cookie(always, "http://t").lower()
