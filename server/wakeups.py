"""Wake-ups for the real-time streams of every server process.

The service announces, after each commit, whose notifications changed (`announce`). Each
server process gathers those announcements and sends one NOTIFY per burst, in a short
transaction of its own on a connection of its own: a NOTIFY inside the changing transaction
would take PostgreSQL's global notify lock at every commit and make all sends commit one at a
time (see db/functions/wake_workers.sql). The same connection LISTENs and hands every wake-up,
its own process's included, to the stream hub (server/streams.py).

A wake-up is only a hint: the hub reads by cursor and rechecks every few seconds, so a lost
NOTIFY (or one sent while this connection was down) delays a change but never loses it.
"""

import asyncio
import contextlib
import enum
import json
import logging
from collections.abc import Callable, Collection
from typing import Literal

import asyncpg

from server.db import UNAVAILABLE_ERRORS, connect, queries

log = logging.getLogger(__name__)

CHANNEL = "traybell_changes"
#: NOTIFY carries at most 8,000 bytes; a burst naming more users than fit wakes every stream.
MAX_PAYLOAD_BYTES = 7900
_EVERYONE_PAYLOAD = "*"
#: How long announcements gather before the NOTIFY that carries them all: under load, one
#: NOTIFY and one read for the streams per this interval, however many commits it saw.
GATHER_SECONDS = 0.02
RECONNECT_SECONDS = 1.0


class _Everyone(enum.Enum):
    ALL_USERS = "all users"


#: `announce(ALL_USERS)`: a change whose users are too many to name (a send to everyone).
ALL_USERS = _Everyone.ALL_USERS
Users = Collection[str] | Literal[_Everyone.ALL_USERS]


class Wakeups:
    """One process's announcer and listener, on one connection kept open (and reopened after a
    database outage) from `start()` to `stop()`."""

    def __init__(self, database_url: str, on_wake: Callable[[Users], None]):
        self.database_url = database_url
        self.on_wake = on_wake
        self._pending: set[str] = set()
        self._pending_everyone = False
        self._stir = asyncio.Event()  # an announcement is pending, or the connection was lost
        self._task: asyncio.Task[None] | None = None

    def announce(self, users: Users) -> None:
        """After a commit: these users' notifications changed. Returns at once."""
        if users is ALL_USERS:
            self._pending_everyone = True
        elif users:
            self._pending.update(users)
        else:
            return
        self._stir.set()

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="traybell-wakeups")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _run(self) -> None:
        while True:
            conn = None
            try:
                conn = await connect(self.database_url)
                conn.add_termination_listener(lambda _: self._stir.set())
                await conn.add_listener(CHANNEL, self._notified)
                # Whatever was announced while nobody listened is found by reading.
                self.on_wake(ALL_USERS)
                await self._announce_until_lost(conn)
            except UNAVAILABLE_ERRORS as exc:
                log.warning("wake-up connection lost (%s); streams recheck until it is back", exc)
            finally:
                if conn is not None and not conn.is_closed():
                    conn.terminate()
            await asyncio.sleep(RECONNECT_SECONDS)

    async def _announce_until_lost(self, conn: asyncpg.Connection) -> None:
        while True:
            await self._stir.wait()
            if conn.is_closed():
                raise ConnectionError("the wake-up connection closed")
            await asyncio.sleep(GATHER_SECONDS)
            self._stir.clear()
            users, everyone = self._pending, self._pending_everyone
            if not users and not everyone:
                continue
            self._pending, self._pending_everyone = set(), False
            try:
                await queries.announce_changes(conn, payload=announcement_payload(users, everyone))
            except BaseException:
                # sent again on the next connection (the readers would find it anyway)
                self._pending |= users
                self._pending_everyone |= everyone
                raise

    def _notified(self, conn: object, pid: int, channel: str, payload: str) -> None:
        self.on_wake(_users_of(payload))


def announcement_payload(users: set[str], everyone: bool = False) -> str:
    """The NOTIFY payload that wakes the streams of `users` (or of everyone)."""
    if not everyone:
        text = json.dumps(sorted(users), separators=(",", ":"))
        if len(text.encode()) <= MAX_PAYLOAD_BYTES:
            return text
    return _EVERYONE_PAYLOAD


def _users_of(payload: str) -> Users:
    try:
        users = json.loads(payload)
    except ValueError:
        return ALL_USERS
    return users if isinstance(users, list) else ALL_USERS
