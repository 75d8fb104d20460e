"""Kept SMTP connections: a few sessions per worker, each reused across messages.

Each send has a session to itself for its whole transaction, so the commands of two messages
never interleave on one connection; at most `size` sessions are open at once, and the most
recently used one is taken first, so a quiet worker settles on one connection and the others
idle out. A session says QUIT after `max_messages` messages (the next one opens a new session),
after `idle_seconds` unused (servers should not see hung sessions), and when the pool closes.

A kept session may have gone while it waited: the server dropped it, timed it out, or answers
421. Such a failure says nothing about the message, so the message is sent once more on a new
session. A new session's failure is the server's answer about this message, and is raised as
it is, as is every refusal on a kept session (4xx, 5xx) and a timeout (a hung server would
only make the message wait twice as long).
"""

import asyncio
import contextlib
import logging
from collections.abc import Callable, Sequence
from email.message import EmailMessage

import aiosmtplib

log = logging.getLogger("traybell.worker.email")

#: QUIT is a courtesy: a server that does not answer it within this long is simply left.
QUIT_TIMEOUT_SECONDS = 5.0
#: A server's answer that it is closing the connection (RFC 5321 4.2.3).
CLOSING = 421


class _Session:
    def __init__(self, client: aiosmtplib.SMTP):
        self.client = client
        self.messages = 0
        self.idle_timer: asyncio.TimerHandle | None = None


def _gone(exc: Exception) -> bool:
    """Whether `exc` says that the connection went away rather than that the message was
    refused."""
    if isinstance(exc, aiosmtplib.SMTPResponseException):
        return exc.code == CLOSING
    if isinstance(exc, aiosmtplib.SMTPRecipientsRefused):
        return all(refusal.code == CLOSING for refusal in exc.recipients)
    # aiosmtplib's own "disconnected" is a ConnectionError; timeouts are not.
    return isinstance(exc, ConnectionError)


class SmtpPool:
    def __init__(
        self,
        new_client: Callable[[], aiosmtplib.SMTP],
        *,
        size: int,
        max_messages: int,
        idle_seconds: float,
    ):
        self._new_client = new_client
        self.max_messages = max_messages
        self.idle_seconds = idle_seconds
        self._slots = asyncio.Semaphore(size)
        #: Open sessions nobody uses, the most recently used last.
        self._idle: list[_Session] = []
        self._quitting: set[asyncio.Task[None]] = set()
        self._closed = False

    async def send(self, email: EmailMessage, sender: str, recipients: Sequence[str]) -> None:
        """Send `email` on a kept session, or on a new one when there is none or the kept one
        turns out to be gone. Raises what aiosmtplib raises for the session that answered."""
        async with self._slots:
            session = self._take_idle()
            if session is not None:
                try:
                    await self._send_on(session, email, sender, recipients)
                    return
                except Exception as exc:
                    if not _gone(exc):
                        raise
                    log.info(
                        "the kept SMTP connection is gone (%s: %s); sending on a new one",
                        type(exc).__name__,
                        exc,
                    )
            await self._send_on(await self._open(), email, sender, recipients)

    async def close(self) -> None:
        """QUIT every open session; a session still sending says QUIT when it is done."""
        self._closed = True
        idle, self._idle = self._idle, []
        for session in idle:
            self._stop_timer(session)
        await asyncio.gather(*(self._quit(session) for session in idle), *self._quitting)

    async def _open(self) -> _Session:
        client = self._new_client()
        await client.connect()
        return _Session(client)

    async def _send_on(
        self, session: _Session, email: EmailMessage, sender: str, recipients: Sequence[str]
    ) -> None:
        try:
            await session.client.send_message(email, sender=sender, recipients=recipients)
        except BaseException as exc:
            # After a refusal aiosmtplib has reset the envelope (RSET) and the session goes on;
            # after anything else (a timeout, a send cancelled midway) its state is unknown.
            refused = (aiosmtplib.SMTPResponseException, aiosmtplib.SMTPRecipientsRefused)
            if isinstance(exc, refused) and session.client.is_connected:
                self._keep(session)
            else:
                session.client.close()
            raise
        session.messages += 1
        if session.messages >= self.max_messages or self._closed:
            await self._quit(session)
        else:
            self._keep(session)

    def _take_idle(self) -> _Session | None:
        while self._idle:
            session = self._idle.pop()
            self._stop_timer(session)
            if session.client.is_connected:
                return session
            # Closed by the server while it waited, and noticed already: nothing to retry.
            session.client.close()
        return None

    def _keep(self, session: _Session) -> None:
        if self._closed:
            session.client.close()
            return
        loop = asyncio.get_running_loop()
        session.idle_timer = loop.call_later(self.idle_seconds, self._expire, session)
        self._idle.append(session)

    def _expire(self, session: _Session) -> None:
        self._idle.remove(session)
        task = asyncio.create_task(self._quit(session), name="SMTP idle close")
        self._quitting.add(task)
        task.add_done_callback(self._quitting.discard)

    @staticmethod
    def _stop_timer(session: _Session) -> None:
        if session.idle_timer is not None:
            session.idle_timer.cancel()
            session.idle_timer = None

    @staticmethod
    async def _quit(session: _Session) -> None:
        with contextlib.suppress(aiosmtplib.SMTPException, OSError, TimeoutError):
            await session.client.quit(timeout=QUIT_TIMEOUT_SECONDS)
        session.client.close()
