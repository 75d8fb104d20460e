"""Email over SMTP (aiosmtplib): `smtp://host:port` or `smtps://user:password@host:port`.

The transport keeps its connections open between messages (channels/smtp_pool.py) and the
worker closes them when it stops. Which emails reach it at all: server/db/functions/
delivery_rules.sql; here only whether the address can be sent to (step 9 there).
"""

import logging
from email import policy
from email.errors import MessageError
from email.headerregistry import BaseHeader, HeaderRegistry
from email.message import EmailMessage
from email.utils import formatdate
from urllib.parse import unquote, urlsplit

import aiosmtplib

from server.channels.message import Envelope, PermanentError, RenderError, TransientError
from server.channels.smtp_pool import SmtpPool

log = logging.getLogger("traybell.worker.email")

DEFAULT_PORTS = {"smtp": 25, "smtps": 465}
SEND_TIMEOUT_SECONDS = 60
#: Connections one worker keeps to the SMTP server: enough that a relay a few milliseconds
#: away keeps up with the worker, few enough for providers that cap concurrent sessions.
CONNECTIONS = 4
#: Then QUIT and a new connection: servers cap, or slow down, long sessions.
MESSAGES_PER_CONNECTION = 100
#: A connection unused this long is closed, well inside the minutes servers wait on a client.
IDLE_SECONDS = 10.0


class _HeaderClasses(HeaderRegistry):
    """The standard header classes, each made once: the stock registry makes a new class for
    every header it parses, about a quarter of the time it takes to build an email."""

    def __init__(self) -> None:
        super().__init__()
        self._classes: dict[str, type[BaseHeader]] = {}

    def __getitem__(self, name: str) -> type[BaseHeader]:
        name = name.lower()
        if name not in self._classes:
            self._classes[name] = super().__getitem__(name)
        return self._classes[name]


#: email.policy.default, with the header classes made once.
POLICY = policy.default.clone(header_factory=_HeaderClasses())


def message_id(delivery_id: str, sender: str) -> str:
    """The same on every attempt of a job, so a resend after a crash is recognisable downstream."""
    domain = sender.rpartition("@")[2] or "localhost"
    return f"<delivery.{delivery_id}@{domain}>"


def _valid_address(address: str) -> bool:
    local, at, domain = address.partition("@")
    # A line break would let the address write headers of its own.
    return bool(local and at and domain) and not any(c in address for c in "\r\n<>,")


class EmailTransport:
    def __init__(
        self,
        smtp_url: str,
        sender: str,
        *,
        connections: int = CONNECTIONS,
        messages_per_connection: int = MESSAGES_PER_CONNECTION,
        idle_seconds: float = IDLE_SECONDS,
    ):
        url = urlsplit(smtp_url)
        if url.scheme not in DEFAULT_PORTS or not url.hostname:
            raise ValueError("TRAYBELL_SMTP_URL must look like smtp://host:port or smtps://...")
        self.hostname = url.hostname
        self.port = url.port or DEFAULT_PORTS[url.scheme]
        self.use_tls = url.scheme == "smtps"
        self.username = unquote(url.username) if url.username else None
        self.password = unquote(url.password) if url.password else None
        self.sender = sender
        self.connections = SmtpPool(
            self._client,
            size=connections,
            max_messages=messages_per_connection,
            idle_seconds=idle_seconds,
        )

    def _client(self) -> aiosmtplib.SMTP:
        return aiosmtplib.SMTP(
            hostname=self.hostname,
            port=self.port,
            username=self.username,
            password=self.password,
            use_tls=self.use_tls,
            timeout=SEND_TIMEOUT_SECONDS,
        )

    def describe(self) -> str:
        """Where mail goes, without the credentials."""
        return f"{'smtps' if self.use_tls else 'smtp'}://{self.hostname}:{self.port}"

    def build(self, envelope: Envelope) -> EmailMessage:
        """The email of `envelope`; `RenderError` when its headers or parts cannot be built."""
        try:
            return self._build(envelope)
        except (ValueError, TypeError, MessageError) as exc:
            raise RenderError(f"the email cannot be built: {exc}") from exc

    def _build(self, envelope: Envelope) -> EmailMessage:
        message = envelope.message
        email = EmailMessage(policy=POLICY)
        email["From"] = self.sender
        email["To"] = envelope.recipients[0]
        email["Subject"] = message.subject
        email["Date"] = formatdate(localtime=False, usegmt=True)
        email["Message-ID"] = message_id(envelope.delivery_id, self.sender)
        # Tells mail servers and vacation responders that no one is waiting for an answer.
        email["Auto-Submitted"] = "auto-generated"
        if message.unsubscribe_url:
            # One click in the mail client turns these emails off (RFC 8058).
            email["List-Unsubscribe"] = f"<{message.unsubscribe_url}>"
            email["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
        email.set_content(message.text)
        email.add_alternative(message.html, subtype="html")
        return email

    def is_own_address(self, address: str) -> bool:
        """Mail to the sender itself would come back in (a bounce, an auto-reply): a loop."""
        return address.strip().casefold() == self.sender.strip().casefold()

    async def send(self, envelope: Envelope) -> None:
        if len(envelope.recipients) != 1 or not _valid_address(envelope.recipients[0]):
            raise PermanentError("the user's email address is not a usable address")
        if self.is_own_address(envelope.recipients[0]):
            log.warning(
                "delivery %s: not sent, the recipient is the sender's own address %s "
                "(a mail loop guard)",
                envelope.delivery_id,
                self.sender,
            )
            raise PermanentError("the recipient is the sender's own address (mail loop guard)")
        email = self.build(envelope)
        try:
            await self.connections.send(email, self.sender, envelope.recipients)
        except aiosmtplib.SMTPRecipientsRefused as exc:
            refusal = exc.recipients[0]
            raise _by_code(
                refusal.code, f"recipient refused: {refusal.code} {refusal.message}"
            ) from None
        except aiosmtplib.SMTPResponseException as exc:
            raise _by_code(exc.code, f"SMTP {exc.code} {exc.message}") from None
        except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
            raise TransientError(f"SMTP {type(exc).__name__}: {exc}") from None

    async def close(self) -> None:
        """Say QUIT on the connections kept open (at the worker's stop)."""
        await self.connections.close()


def _by_code(code: int, text: str) -> Exception:
    return PermanentError(text) if 500 <= code < 600 else TransientError(text)
