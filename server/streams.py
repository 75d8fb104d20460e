"""The open real-time streams of one server process (GET /v1/events), and the reads that feed
them.

A stream is registered before anything is read for it (so a change committed meanwhile cannot
fall between its backlog and its live part) and only the hub ever reads for it, by its own
cursor: each event's id is the cursor after it, so a client that reconnects with its last id
misses nothing and sees nothing twice.

Reads are set-based, for every stream at once: a wake-up (server/wakeups.py) names users; one
statement finds those whose sync version moved past what their streams hold, one more per
500 streams reads all of their changes, and the pages are handed out from memory. A send to
every user with 1,000 streams open is a handful of statements, not one per stream. Every
`events_recheck_seconds` the same reads run for all streams (a lost wake-up waits that long
at most), and the streams whose token was revoked or whose user was disabled end. The hub also
gives every idle stream its keepalive, on one timer for all (a timer per stream would cost
each idle stream a task).

Nobody holds more than a few streams (each is a connection and a descriptor): opening one past
MAX_STREAMS_PER_TOKEN for its API token, or past MAX_STREAMS_PER_USER for its user (web pages'
streams included), ends the oldest of those in this process (its client reconnects if it is
still there). Another user's streams are never touched.
"""

import asyncio
import contextlib
import itertools
import json
import logging
import time
from collections.abc import Iterator, Sequence
from operator import itemgetter
from typing import TypeVar

import asyncpg

from server import metrics
from server.config import Settings
from server.cursors import SyncCursor
from server.db import UNAVAILABLE_ERRORS, fetch_all, queries
from server.identity import Caller
from server.wakeups import ALL_USERS, Users
from server.wire import sync_page
from shared.models import EventPage

log = logging.getLogger(__name__)

#: Changes per event at most, as a /v1/sync page by default.
PAGE_LIMIT = 500
#: Streams per page-reading statement, and users or tokens per checking one.
STREAMS_PER_READ = 500
IDS_PER_CHECK = 5000
KEEPALIVE = ": keepalive\n\n"
#: Open streams per token and per user in one server process, at most.
MAX_STREAMS_PER_TOKEN = 5
MAX_STREAMS_PER_USER = 20

T = TypeVar("T")


class Stream:
    """One client's stream: where it is, and the events read for it that it has yet to send.

    Lean on purpose (a list, one future while it waits, no asyncio.Event and no deque: each
    of those holds a 64-slot block), for a server holds thousands of idle ones."""

    __slots__ = (
        "_events",
        "_hub",
        "_waiter",
        "known_version",
        "position",
        "session_hash",
        "token_id",
        "user_id",
    )

    def __init__(
        self, hub: "Hub", caller: Caller, position: SyncCursor, session_hash: bytes | None = None
    ):
        self._hub = hub
        self.user_id = caller.user_id
        self.token_id = caller.token_id
        # A web page's stream is authenticated by its session (the hash, as stored) instead.
        self.session_hash = session_hash
        self.position = position  # the cursor after the last event read for it
        # Every change of the user up to this version is at or before `position`.
        self.known_version = position.version
        self._events: list[str] | None = []  # None once the stream has ended
        self._waiter: asyncio.Future[None] | None = None

    @property
    def ended(self) -> bool:
        return self._events is None

    @property
    def holds_events(self) -> bool:
        return bool(self._events)

    def push(self, event: str) -> None:
        if self._events is not None:
            self._events.append(event)
            self._wake()

    def end(self) -> None:
        """No more events; what it held is dropped (the client resumes from its last id)."""
        self._events = None
        self._wake()

    def _wake(self) -> None:
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)

    async def next_event(self) -> str | None:
        """The next event (or keepalive) to send, or None once the stream has ended."""
        if self._events is not None and not self._events:
            self._waiter = asyncio.get_running_loop().create_future()
            try:
                await self._waiter
            finally:
                self._waiter = None
        if not self._events:
            return None
        event = self._events.pop(0)
        if not self._events:
            self._hub.drained(self)
        return event


def event_text(page: EventPage) -> str:
    """A page as one SSE event; its id is the page's cursor (JSON holds no raw line breaks).
    Only the event's fields go out: a sync page's `has_more` means nothing on a stream."""
    event: EventPage = {
        "changes": page["changes"],
        "cursor": page["cursor"],
        "unread": page["unread"],
    }
    data = json.dumps(event, separators=(",", ":"))
    return f"event: sync\nid: {page['cursor']}\ndata: {data}\n\n"


def _chunks(items: Sequence[T], size: int) -> Iterator[Sequence[T]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


class Hub:
    """This process's streams by user, and the one task that reads for all of them."""

    def __init__(self, pool: asyncpg.Pool, settings: Settings):
        self.pool = pool
        self.recheck_seconds = settings.events_recheck_seconds
        self.keepalive_seconds = settings.events_keepalive_seconds
        # each user's streams, oldest first (a dict keeps the order a set would not)
        self._by_user: dict[str, dict[Stream, None]] = {}
        self._due: set[Stream] = set()  # streams that may be behind their user's version
        self._woken: set[str] = set()
        self._woken_everyone = False
        self._stir = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._stopping = False

    # ---------------------------------------------------------------- streams

    def open(
        self, caller: Caller, position: SyncCursor, *, session_hash: bytes | None = None
    ) -> Stream:
        """A stream registered at once; its backlog is read by the hub's next round.
        `session_hash`: a web page's stream, which lives as long as that session."""
        stream = Stream(self, caller, position, session_hash)
        if self._stopping:
            stream.end()
        streams = self._by_user.setdefault(caller.user_id, {})
        # (a web session's streams, one per open tab, have no token: the user's cap holds them)
        same_token = [s for s in streams if caller.token_id and s.token_id == caller.token_id]
        for oldest in same_token[: max(0, len(same_token) - MAX_STREAMS_PER_TOKEN + 1)]:
            self.close(oldest)
        for oldest in list(streams)[: max(0, len(streams) - MAX_STREAMS_PER_USER + 1)]:
            self.close(oldest)
        self._by_user.setdefault(caller.user_id, {})[stream] = None
        self._due.add(stream)
        self._stir.set()
        metrics.EVENT_STREAMS.inc()
        return stream

    def close(self, stream: Stream) -> None:
        stream.end()
        streams = self._by_user.get(stream.user_id)
        if streams is None or stream not in streams:
            return
        del streams[stream]
        if not streams:
            del self._by_user[stream.user_id]
        self._due.discard(stream)
        metrics.EVENT_STREAMS.dec()

    def drained(self, stream: Stream) -> None:
        """The stream sent all it held: read more for it if it is still behind."""
        if stream in self._due:
            self._stir.set()

    def session_streams(self, user_id: str, session_hash: bytes) -> int:
        """How many streams one web session holds open in this process (its pages' tabs)."""
        return sum(1 for s in self._by_user.get(user_id, ()) if s.session_hash == session_hash)

    def end_session(self, session_hash: bytes) -> None:
        """The session was signed out: its pages' streams in this process end at once (other
        processes end theirs at their next recheck)."""
        ending = [s for group in self._by_user.values() for s in group]
        for stream in ending:
            if stream.session_hash == session_hash:
                self.close(stream)

    def end_all(self) -> None:
        """The server is stopping: every stream's response ends (uvicorn waits for them), and
        any opened from now on ends at once."""
        self._stopping = True
        for streams in self._by_user.values():
            for stream in streams:
                stream.end()

    @property
    def open_streams(self) -> int:
        return sum(len(streams) for streams in self._by_user.values())

    # ---------------------------------------------------------------- wake-ups

    def wake(self, users: Users) -> None:
        """These users' notifications changed (a hint: the reads decide what is new)."""
        if users is ALL_USERS:
            self._woken_everyone = True
        else:
            self._woken.update(users)
        self._stir.set()

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="traybell-streams")

    async def stop(self) -> None:
        self.end_all()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _run(self) -> None:
        next_recheck = time.monotonic() + self.recheck_seconds
        next_keepalive = time.monotonic() + self.keepalive_seconds
        while True:
            timeout = min(next_recheck, next_keepalive) - time.monotonic()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stir.wait(), max(0, timeout))
            self._stir.clear()
            if time.monotonic() >= next_keepalive:
                next_keepalive = time.monotonic() + self.keepalive_seconds
                self._keep_alive()
            try:
                if time.monotonic() >= next_recheck:
                    next_recheck = time.monotonic() + self.recheck_seconds
                    await self._end_revoked()
                    self._woken_everyone = True
                await self._catch_up()
            except UNAVAILABLE_ERRORS as exc:
                log.warning("streams could not read (%s); trying again at the next recheck", exc)
            except Exception:
                log.exception("streams could not read; trying again at the next recheck")

    def _keep_alive(self) -> None:
        for streams in self._by_user.values():
            for stream in streams:
                if not stream.holds_events:
                    stream.push(KEEPALIVE)

    # ---------------------------------------------------------------- reading

    async def _catch_up(self) -> None:
        """Mark the streams that may be behind, then read for every one of them that has sent
        what it held (a slow client is read for once it has).

        Named users' streams are read at once (the wake-up says they changed); for everyone
        (a send to all, a recheck, a lost listener) one statement first finds who moved."""
        # Taken before the first await: a wake-up that arrives while this round reads is for
        # the next round (it stirs the loop again), never cleared unseen by this one.
        woken, everyone = self._woken, self._woken_everyone
        self._woken, self._woken_everyone = set(), False
        if everyone:
            await self._find_moved(sorted(self._by_user))
        else:
            for user in woken:
                self._due.update(self._by_user.get(user, ()))
        while readable := [s for s in self._due if not s.holds_events and not s.ended]:
            for chunk in _chunks(readable, STREAMS_PER_READ):
                await self._read_pages(chunk)

    async def _find_moved(self, users: Sequence[str]) -> None:
        for chunk in _chunks(users, IDS_PER_CHECK):
            chunk = [u for u in chunk if u in self._by_user]  # not closed meanwhile
            known = [min(s.known_version for s in self._by_user[u]) for u in chunk]
            metrics.EVENT_STREAM_STATEMENTS.inc()
            rows = await fetch_all(
                queries.stream_users_moved, self.pool, user_ids=list(chunk), versions=known
            )
            for row in rows:
                for stream in self._by_user.get(row["user_id"], ()):
                    if stream.known_version < row["sync_version"]:
                        self._due.add(stream)

    async def _read_pages(self, streams: Sequence[Stream]) -> None:
        metrics.EVENT_STREAM_STATEMENTS.inc()
        rows = await fetch_all(
            queries.stream_pages,
            self.pool,
            keys=list(range(len(streams))),
            user_ids=[s.user_id for s in streams],
            after_versions=[s.position.version for s in streams],
            after_ids=[s.position.id for s in streams],
            limit=PAGE_LIMIT + 1,
        )
        answered = set()
        for key, group in itertools.groupby(rows, key=itemgetter("key")):
            answered.add(key)
            self._hand_out(streams[key], list(group))
        for key in set(range(len(streams))) - answered:  # the user is gone
            self.close(streams[key])

    def _hand_out(self, stream: Stream, rows: list[asyncpg.Record]) -> None:
        page, position = sync_page(rows, stream.position, PAGE_LIMIT)
        if page["changes"]:
            stream.position = position
            stream.push(event_text(page))
        if not page["has_more"]:
            stream.known_version = max(stream.known_version, rows[0]["sync_version"])
            self._due.discard(stream)

    async def _end_revoked(self) -> None:
        """End the streams whose token no longer authenticates (revoked, user disabled), and
        the web pages' whose session ended (signed out, expired, user disabled)."""
        streams = [s for group in self._by_user.values() for s in group]
        token_ids = sorted({s.token_id for s in streams if s.token_id is not None})
        valid: set[str | bytes] = set()
        for chunk in _chunks(token_ids, IDS_PER_CHECK):
            metrics.EVENT_STREAM_STATEMENTS.inc()
            rows = await fetch_all(queries.stream_tokens_valid, self.pool, token_ids=list(chunk))
            valid.update(str(r["token_id"]) for r in rows)
        session_hashes = sorted({s.session_hash for s in streams if s.session_hash is not None})
        for hashes in _chunks(session_hashes, IDS_PER_CHECK):
            metrics.EVENT_STREAM_STATEMENTS.inc()
            rows = await fetch_all(
                queries.stream_sessions_valid, self.pool, session_hashes=list(hashes)
            )
            valid.update(r["session_hash"] for r in rows)
        for stream in streams:
            credential = stream.token_id or stream.session_hash
            if credential is not None and credential not in valid:
                self.close(stream)
