"""Wakes the idle worker: on NOTIFY when a job is queued, when a send finishes or a stop is
asked, and otherwise after the safety poll.

Error policy: LISTEN is a wake-up only, never the truth (each cycle reads the queue itself). A
LISTEN connection that is lost or cannot be opened is logged and tried again at most once a
poll, while the safety poll carries on; nothing here raises.
"""

import asyncio
import contextlib
import logging
import time

import asyncpg

from server.db import UNAVAILABLE_ERRORS

log = logging.getLogger("traybell.worker")

#: What the queue's trigger notifies when a job is queued or becomes due again.
CHANNEL = "traybell_deliveries"


class Waker:
    def __init__(self, database_url: str, poll_seconds: float):
        self.database_url = database_url
        self.poll_seconds = poll_seconds
        self._event = asyncio.Event()
        self._listener: asyncpg.Connection | None = None
        self._listener_tried = 0.0

    def wake(self) -> None:
        self._event.set()

    def reset(self) -> None:
        """Forget earlier wake-ups: the cycle about to start reads what they announced."""
        self._event.clear()

    async def sleep(self) -> None:
        """Wait for a wake-up since the last reset, at most one safety poll."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._event.wait(), self.poll_seconds)

    async def listen(self) -> None:
        """Make sure a LISTEN connection is open, or tried within the last poll interval."""
        if self._listener is not None and not self._listener.is_closed():
            return
        if time.monotonic() - self._listener_tried < self.poll_seconds:
            return
        self._listener_tried = time.monotonic()
        was_lost = self._listener is not None
        self._listener = None
        conn: asyncpg.Connection | None = None
        try:
            conn = await asyncpg.connect(self.database_url, timeout=10)
            await conn.add_listener(CHANNEL, self._notified)
            conn.add_termination_listener(self._lost)
        except Exception as exc:
            if conn is not None:
                conn.terminate()
            if isinstance(exc, UNAVAILABLE_ERRORS):
                log.debug("LISTEN connection failed: %s", exc)
            else:
                log.exception("LISTEN refused; polling every %.0f s", self.poll_seconds)
            return
        self._listener = conn
        if was_lost:
            log.info("LISTEN connection back")

    def _notified(self, *_: object) -> None:
        self.wake()

    def _lost(self, _: asyncpg.Connection) -> None:
        log.warning(
            "LISTEN connection lost; polling every %.0f s until it is back", self.poll_seconds
        )
        self.wake()

    async def close(self) -> None:
        if self._listener is not None and not self._listener.is_closed():
            # Closing it ourselves is not a loss worth a warning.
            self._listener.remove_termination_listener(self._lost)
            with contextlib.suppress(Exception):
                await self._listener.close(timeout=5)
