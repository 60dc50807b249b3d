"""Send mail over SMTP (``smtplib``): the only module that talks to a mail server.

A :class:`Mailer` opens one connection per run (:meth:`Mailer.session`) and reports each
recipient's fate as a :class:`Delivery`, so the caller can record who got the message as it
goes and a retry can send only to the rest.  What stops the whole run — the server cannot be
reached, TLS or authentication fails, the sender is refused, the connection drops — raises
:class:`~curator.exceptions.MailError` with a message that names ``host:port`` and the setting
to check.  The password is handed in by the caller (``CURATOR_SMTP_PASSWORD``, read in
:mod:`curator.core`); nothing here reads the environment.
"""

from __future__ import annotations

import email.policy
import logging
import smtplib
import socket
import ssl
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from email.message import EmailMessage

from curator.config import Smtp
from curator.exceptions import MailError

log = logging.getLogger("curator.mailer")


@dataclass(frozen=True)
class Delivery:
    """What the server said about one recipient of one message."""

    recipient: str
    accepted: bool
    code: int | None = None  # the SMTP reply code of a refusal
    reason: str = ""

    @property
    def status(self) -> str:
        """The value kept in ``DigestRecord.recipients``: ``sent`` or ``refused: <reply>``."""
        if self.accepted:
            return "sent"
        return (
            f"refused: {self.code} {self.reason}".rstrip()
            if self.code
            else f"refused: {self.reason}"
        )

    @property
    def permanent(self) -> bool:
        """A 5xx refusal: the server will not take this address however often we retry."""
        return not self.accepted and self.code is not None and 500 <= self.code < 600


def _reply(message: bytes | str) -> str:
    text = message.decode("utf-8", "replace") if isinstance(message, bytes) else message
    return " ".join(text.split())


class MailSession:
    """One open, authenticated SMTP connection; get it from :meth:`Mailer.session`."""

    def __init__(self, smtp: smtplib.SMTP, where: str) -> None:
        self._smtp = smtp
        self._where = where

    def send(
        self, message: EmailMessage | bytes, *, sender: str, recipients: Sequence[str]
    ) -> list[Delivery]:
        """Send ``message`` in one SMTP transaction to ``recipients`` (bare addresses).

        A recipient the server refuses (at RCPT, or the whole transaction at DATA) comes back
        as a refused :class:`Delivery`; the session stays usable.  Raises MailError when the
        sender is refused or the connection is lost, since nothing more can go out then.
        """
        data = (
            message.as_bytes(policy=email.policy.SMTP)
            if isinstance(message, EmailMessage)
            else message
        )
        try:
            refused = self._smtp.sendmail(sender, list(recipients), data)
        except smtplib.SMTPRecipientsRefused as e:
            refused = e.recipients
        except smtplib.SMTPDataError as e:
            reason = _reply(e.smtp_error)
            return [Delivery(r, False, e.smtp_code, reason) for r in recipients]
        except smtplib.SMTPSenderRefused as e:
            raise MailError(
                f"the SMTP server {self._where} refused the sender {sender!r}: "
                f"{e.smtp_code} {_reply(e.smtp_error)}; check digest.sender"
            ) from e
        except smtplib.SMTPNotSupportedError as e:
            raise MailError(
                f"the SMTP server {self._where} cannot take this message ({e}); "
                "an address may need SMTPUTF8, which it does not offer: use ASCII addresses"
            ) from e
        except (smtplib.SMTPServerDisconnected, smtplib.SMTPResponseException, OSError) as e:
            raise MailError(
                f"lost the connection to the SMTP server {self._where} while sending: {e}"
            ) from e
        out = []
        for r in recipients:
            if r in refused:
                code, reply = refused[r]
                out.append(Delivery(r, False, code, _reply(reply)))
            else:
                out.append(Delivery(r, True))
        for d in out:
            log.info("delivery recipient=%s status=%s", d.recipient, d.status)
        return out


class Mailer:
    """SMTP settings plus the password: connects on demand, holds no connection between runs.

    ``ssl_context`` defaults to the system's trust store with hostname checking; tests pass
    one that trusts a throwaway CA.
    """

    def __init__(
        self,
        settings: Smtp,
        *,
        password: str | None = None,
        ssl_context: ssl.SSLContext | None = None,
        local_hostname: str | None = None,
    ) -> None:
        self.settings = settings
        self._password = password or None
        self._ssl_context = ssl_context
        self._local_hostname = local_hostname

    @property
    def where(self) -> str:
        return f"{self.settings.host}:{self.settings.port}"

    def _context(self) -> ssl.SSLContext:
        return self._ssl_context or ssl.create_default_context()

    def _connect(self) -> smtplib.SMTP:
        s = self.settings
        where = self.where
        try:
            if s.security == "ssl":
                smtp: smtplib.SMTP = smtplib.SMTP_SSL(
                    s.host,
                    s.port,
                    local_hostname=self._local_hostname,
                    timeout=s.timeout,
                    context=self._context(),
                )
            else:
                smtp = smtplib.SMTP(
                    s.host, s.port, local_hostname=self._local_hostname, timeout=s.timeout
                )
        except ssl.SSLError as e:
            raise MailError(_tls_message(where, e, implicit=True)) from e
        except ConnectionRefusedError as e:
            raise MailError(
                f"cannot connect to the SMTP server {where}: connection refused; check "
                "digest.smtp.host and digest.smtp.port, and that the server is running"
            ) from e
        except socket.gaierror as e:
            raise MailError(
                f"cannot connect to the SMTP server {where}: unknown host ({e.strerror}); "
                "check digest.smtp.host"
            ) from e
        except TimeoutError as e:
            raise MailError(
                f"cannot connect to the SMTP server {where}: no answer within {s.timeout:g} s; "
                "check digest.smtp.host, digest.smtp.port and any firewall between"
            ) from e
        except smtplib.SMTPConnectError as e:
            raise MailError(
                f"the SMTP server {where} turned the connection away: "
                f"{e.smtp_code} {_reply(e.smtp_error)}"
            ) from e
        except (smtplib.SMTPException, OSError) as e:
            raise MailError(f"cannot connect to the SMTP server {where}: {e}") from e
        try:
            self._secure_and_login(smtp)
        except BaseException:
            _close(smtp)
            raise
        return smtp

    def _secure_and_login(self, smtp: smtplib.SMTP) -> None:
        s = self.settings
        where = self.where
        try:
            smtp.ehlo()
            if s.security == "starttls":
                if not smtp.has_extn("starttls"):
                    raise MailError(
                        f"the SMTP server {where} does not offer STARTTLS; check "
                        "digest.smtp.security (ssl for a port such as 465 that speaks TLS from "
                        "the start, none only for a server on this machine or network)"
                    )
                smtp.starttls(context=self._context())
                smtp.ehlo()
            if s.username:
                if self._password is None:
                    raise MailError(
                        f"digest.smtp.username is {s.username!r} but CURATOR_SMTP_PASSWORD is not "
                        f"set; set it in the environment to log in to {where}"
                    )
                if not smtp.has_extn("auth"):
                    raise MailError(
                        f"the SMTP server {where} does not offer AUTH"
                        + (
                            " on an unencrypted connection; set digest.smtp.security to starttls "
                            "or ssl"
                            if s.security == "none"
                            else "; remove digest.smtp.username if it needs no login"
                        )
                    )
                smtp.login(s.username, self._password)
        except MailError:
            raise
        except smtplib.SMTPAuthenticationError as e:
            raise MailError(
                f"the SMTP server {where} refused the login as {s.username!r}: "
                f"{e.smtp_code} {_reply(e.smtp_error)}; check digest.smtp.username and "
                "CURATOR_SMTP_PASSWORD"
            ) from e
        except ssl.SSLError as e:
            raise MailError(_tls_message(where, e, implicit=False)) from e
        except smtplib.SMTPNotSupportedError as e:
            raise MailError(f"the SMTP server {where} does not support what we need: {e}") from e
        except smtplib.SMTPResponseException as e:
            raise MailError(
                f"the SMTP server {where} answered {e.smtp_code} {_reply(e.smtp_error)} "
                f"while we set up the connection (security: {s.security})"
            ) from e
        except (smtplib.SMTPException, OSError) as e:
            raise MailError(
                f"lost the connection to the SMTP server {where} while setting it up "
                f"(security: {s.security}): {e}"
            ) from e

    @contextmanager
    def session(self) -> Iterator[MailSession]:
        """Connect, secure and log in, yield a session, then QUIT however the block ends."""
        smtp = self._connect()
        try:
            yield MailSession(smtp, self.where)
        finally:
            _close(smtp)

    def send(
        self, message: EmailMessage | bytes, *, sender: str, recipients: Sequence[str]
    ) -> list[Delivery]:
        """One message, one connection, one transaction: for a test message or a small note."""
        with self.session() as session:
            return session.send(message, sender=sender, recipients=recipients)


def _close(smtp: smtplib.SMTP) -> None:
    try:
        smtp.quit()
    except (smtplib.SMTPException, OSError):
        smtp.close()


def _tls_message(where: str, error: ssl.SSLError, *, implicit: bool) -> str:
    if isinstance(error, ssl.SSLCertVerificationError):
        return (
            f"TLS with the SMTP server {where} failed: its certificate is not trusted "
            f"({error.verify_message}); check digest.smtp.host is the name on the certificate "
            "and that the certificate is valid"
        )
    hint = (
        "the port may not speak TLS from the start: use security: starttls for a port such as "
        "587 or 25"
        if implicit
        else "check digest.smtp.security and digest.smtp.port (ssl for 465, starttls for 587)"
    )
    return f"TLS with the SMTP server {where} failed ({error.reason or error}); {hint}"
