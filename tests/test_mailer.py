"""mailer.py against a real SMTP server (aiosmtpd on 127.0.0.1): TLS, AUTH, refusals, errors."""

from __future__ import annotations

import socket
from email.message import EmailMessage

import pytest
import trustme

from curator.config import Smtp
from curator.exceptions import MailError
from curator.mailer import Mailer
from tests.smtpserver import smtp_server


def _message(to: str = "reader@example.org") -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = "links@example.org"
    msg["To"] = to
    msg["Subject"] = "Ünïcode subject"
    msg.set_content("hello\n")
    return msg


def _mailer(port: int, **kwargs: object) -> Mailer:
    settings = {
        "host": "127.0.0.1",
        "port": port,
        **{k: v for k, v in kwargs.items() if k in ("security", "username", "timeout")},
    }
    return Mailer(
        Smtp.model_validate(settings),
        password=kwargs.get("password"),  # type: ignore[arg-type]
        ssl_context=kwargs.get("ssl_context"),  # type: ignore[arg-type]
    )


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_delivers_to_every_recipient_in_one_transaction() -> None:
    with smtp_server() as server:
        result = _mailer(server.port).send(
            _message(), sender="links@example.org", recipients=["a@example.org", "b@example.org"]
        )
    assert [(d.recipient, d.accepted, d.status) for d in result] == [
        ("a@example.org", True, "sent"),
        ("b@example.org", True, "sent"),
    ]
    [received] = server.messages
    assert received.mail_from == "links@example.org"
    assert received.rcpt_tos == ["a@example.org", "b@example.org"]
    assert received.message["Subject"] == "Ünïcode subject"
    assert b"=?utf-8?" in received.data  # the subject went out RFC 2047-encoded


def test_a_refused_recipient_is_reported_and_the_rest_delivered() -> None:
    with smtp_server() as server:
        server.refuse["gone@example.org"] = "550 5.1.1 <gone@example.org>: no such user"
        with _mailer(server.port).session() as session:
            first = session.send(
                _message(), sender="links@example.org", recipients=["gone@example.org"]
            )
            second = session.send(  # the session survives a refusal
                _message(), sender="links@example.org", recipients=["ok@example.org"]
            )
    [refused] = first
    assert not refused.accepted
    assert refused.code == 550 and refused.permanent
    assert refused.status == "refused: 550 5.1.1 <gone@example.org>: no such user"
    assert second[0].accepted
    assert server.delivered_to() == ["ok@example.org"]


def test_a_temporary_refusal_is_not_permanent() -> None:
    with smtp_server() as server:
        server.refuse["full@example.org"] = "452 4.2.2 mailbox full"
        [d] = _mailer(server.port).send(
            _message(), sender="links@example.org", recipients=["full@example.org"]
        )
    assert (d.accepted, d.code, d.permanent) == (False, 452, False)


def test_connection_refused_names_host_port_and_settings() -> None:
    port = _closed_port()
    with pytest.raises(MailError) as e:
        _mailer(port).send(_message(), sender="links@example.org", recipients=["a@example.org"])
    text = str(e.value)
    assert f"127.0.0.1:{port}" in text
    assert "connection refused" in text
    assert "digest.smtp.host" in text and "digest.smtp.port" in text


def test_starttls_with_a_trusted_certificate_and_login(ca: trustme.CA) -> None:
    with smtp_server(tls=ca, login="editor", password="s3cret") as server:
        [d] = _mailer(
            server.port,
            security="starttls",
            username="editor",
            password="s3cret",
            ssl_context=server.client_context,
        ).send(_message(), sender="links@example.org", recipients=["a@example.org"])
    assert d.accepted
    assert server.auth_attempts == [("PLAIN", True)]
    assert len(server.messages) == 1


def test_starttls_with_an_untrusted_certificate_is_a_clear_error(ca: trustme.CA) -> None:
    with smtp_server(tls=ca) as server, pytest.raises(MailError) as e:
        # the system trust store does not know the throwaway CA
        _mailer(server.port, security="starttls").send(
            _message(), sender="links@example.org", recipients=["a@example.org"]
        )
    text = str(e.value)
    assert f"TLS with the SMTP server 127.0.0.1:{server.port} failed" in text
    assert "certificate is not trusted" in text
    assert server.messages == []


def test_starttls_asked_of_a_server_without_it() -> None:
    with smtp_server() as server, pytest.raises(MailError) as e:
        _mailer(server.port, security="starttls").send(
            _message(), sender="links@example.org", recipients=["a@example.org"]
        )
    assert "does not offer STARTTLS" in str(e.value)
    assert "digest.smtp.security" in str(e.value)


def test_implicit_tls(ca: trustme.CA) -> None:
    with smtp_server(tls=ca, implicit=True) as server:
        [d] = _mailer(server.port, security="ssl", ssl_context=server.client_context).send(
            _message(), sender="links@example.org", recipients=["a@example.org"]
        )
    assert d.accepted


def test_implicit_tls_to_a_plain_port_suggests_starttls() -> None:
    with smtp_server() as server, pytest.raises(MailError) as e:
        _mailer(server.port, security="ssl").send(
            _message(), sender="links@example.org", recipients=["a@example.org"]
        )
    assert f"TLS with the SMTP server 127.0.0.1:{server.port} failed" in str(e.value)
    assert "starttls" in str(e.value)


def test_wrong_password_is_a_clear_error(ca: trustme.CA) -> None:
    with (
        smtp_server(tls=ca, login="editor", password="s3cret") as server,
        pytest.raises(MailError) as e,
    ):
        _mailer(
            server.port,
            security="starttls",
            username="editor",
            password="wrong",
            ssl_context=server.client_context,
        ).send(_message(), sender="links@example.org", recipients=["a@example.org"])
    text = str(e.value)
    assert f"127.0.0.1:{server.port} refused the login as 'editor'" in text
    assert "535" in text
    assert "CURATOR_SMTP_PASSWORD" in text
    assert server.messages == []


_PLAIN_AUTH = pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")


@_PLAIN_AUTH
def test_wrong_password_without_tls() -> None:
    # aiosmtpd offers AUTH on a plain connection only with auth_require_tls=False
    with smtp_server(login="editor", password="s3cret") as server, pytest.raises(MailError) as e:
        _mailer(server.port, username="editor", password="nope").send(
            _message(), sender="links@example.org", recipients=["a@example.org"]
        )
    assert "refused the login as 'editor'" in str(e.value)


@_PLAIN_AUTH
def test_username_without_password_says_which_variable() -> None:
    with smtp_server(login="editor", password="s3cret") as server, pytest.raises(MailError) as e:
        _mailer(server.port, username="editor").send(
            _message(), sender="links@example.org", recipients=["a@example.org"]
        )
    assert "CURATOR_SMTP_PASSWORD is not set" in str(e.value)


def test_auth_offered_only_after_tls(ca: trustme.CA) -> None:
    with (
        smtp_server(tls=ca, login="editor", password="s3cret") as server,
        pytest.raises(MailError) as e,
    ):
        _mailer(server.port, username="editor", password="s3cret").send(
            _message(), sender="links@example.org", recipients=["a@example.org"]
        )
    assert "does not offer AUTH on an unencrypted connection" in str(e.value)
    assert "starttls" in str(e.value)
