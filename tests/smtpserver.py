"""A real SMTP server for tests: aiosmtpd on 127.0.0.1, a free port, in its own thread.

``with smtp_server(...) as server:`` yields a :class:`SmtpServer` whose ``messages`` list
holds every accepted message (envelope + parsed MIME).  ``refuse`` maps an address to the
reply its RCPT gets (``"550 5.1.1 no such user"``), and can be changed between sends to play a
mailbox that comes back.  ``login``/``password`` turn on AUTH; ``tls`` (a trustme CA) turns on
STARTTLS (``implicit=True``: TLS from the first byte, as on port 465).

aiosmtpd's Controller cannot bind port 0 by itself (it connects to ``self.port`` to check the
server is up), so ``_Controller`` reads the port the OS chose before that check.
"""

from __future__ import annotations

import asyncio
import email
import email.policy
import ssl
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email.message import EmailMessage
from typing import Any

import trustme
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword


@dataclass
class Received:
    mail_from: str
    rcpt_tos: list[str]
    data: bytes

    @property
    def message(self) -> EmailMessage:
        msg = email.message_from_bytes(self.data, policy=email.policy.default)
        assert isinstance(msg, EmailMessage)
        return msg


@dataclass
class SmtpServer:
    host: str
    port: int
    messages: list[Received] = field(default_factory=list)
    refuse: dict[str, str] = field(default_factory=dict)
    auth_attempts: list[tuple[str, bool]] = field(default_factory=list)
    client_context: ssl.SSLContext | None = None  # trusts the server's certificate

    def delivered_to(self) -> list[str]:
        return [r for m in self.messages for r in m.rcpt_tos]


class _Handler:
    def __init__(self, server: SmtpServer) -> None:
        self.server = server

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, rcpt_options: Any
    ) -> str:
        reply = self.server.refuse.get(address)
        if reply:
            return reply
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.server.messages.append(
            Received(envelope.mail_from, list(envelope.rcpt_tos), bytes(envelope.original_content))
        )
        return "250 Message accepted for delivery"


class _Controller(Controller):
    def _trigger_server(self) -> None:
        assert isinstance(self.server, asyncio.Server)
        self.port = self.server.sockets[0].getsockname()[1]
        super()._trigger_server()  # type: ignore[no-untyped-call]


@contextmanager
def smtp_server(
    *,
    login: str | None = None,
    password: str | None = None,
    tls: trustme.CA | None = None,
    implicit: bool = False,
    starttls: bool = True,
) -> Iterator[SmtpServer]:
    box = SmtpServer("127.0.0.1", 0)
    kwargs: dict[str, Any] = {}
    server_context: ssl.SSLContext | None = None
    if tls is not None:
        cert = tls.issue_cert("127.0.0.1", "localhost")
        server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        cert.configure_cert(server_context)
        client = ssl.create_default_context()
        tls.configure_trust(client)
        box.client_context = client
        if implicit:
            kwargs["ssl_context"] = server_context
        elif starttls:
            kwargs["tls_context"] = server_context
    if login is not None:

        def authenticate(
            server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any
        ) -> AuthResult:
            ok = (
                isinstance(auth_data, LoginPassword)
                and auth_data.login.decode() == login
                and auth_data.password.decode() == password
            )
            box.auth_attempts.append((mechanism, ok))
            return AuthResult(success=ok, handled=False)

        kwargs.update(
            authenticator=authenticate,
            auth_required=True,
            auth_require_tls=tls is not None,
        )
    controller = _Controller(_Handler(box), hostname="127.0.0.1", port=0, **kwargs)
    controller.start()
    box.port = controller.port
    try:
        yield box
    finally:
        controller.stop()
