"""The real-time stream (GET /v1/events): each event's page goes into the cache by the same
path as a sync's, so what is new, the badge and the toasts follow the same rules.

`EventStream.run()` blocks its thread: it reconnects with back-off and resumes at the cache's
cursor (sent as Last-Event-ID, so nothing is missed and nothing comes twice), and returns after
`stop()` or when the server refuses the token. Polling stays the truth: a stream that is down
only means changes wait for the next sync.
"""

import json
import logging
import random
import socket
import threading
from collections.abc import Callable, Iterable, Iterator
from contextlib import suppress
from typing import TYPE_CHECKING

from desktop.sync._api import ApiClient, ApiError, Offline, Refused, SignedOut, _httpx
from shared.models import EventPage

if TYPE_CHECKING:
    import httpx

    from desktop.sync._engine import SyncEngine, SyncResult

log = logging.getLogger("traybell.desktop.events")

BACKOFF_FIRST_SECONDS = 1.0
BACKOFF_MAX_SECONDS = 60.0


def sse_events(lines: Iterable[str]) -> Iterator[tuple[str, EventPage]]:
    """(id, page) of each `sync` event; comments (keepalives) and other events are skipped."""
    fields: dict[str, str] = {}
    for line in lines:
        if line.startswith(":"):
            continue
        if line:
            name, _, value = line.partition(":")
            fields[name] = value.removeprefix(" ")
            continue
        if fields.get("event") == "sync" and "id" in fields and "data" in fields:
            yield fields["id"], json.loads(fields["data"])
        fields = {}


class EventStream:
    def __init__(
        self,
        engine: "SyncEngine",
        api: ApiClient,
        on_result: Callable[["SyncResult"], None],
        *,
        backoff_first: float = BACKOFF_FIRST_SECONDS,
    ) -> None:
        """`on_result` gets the SyncResult of each event (on this stream's thread), and a
        signed-out one when the server refuses the token."""
        self._engine = engine
        self._api = api
        self._on_result = on_result
        self._backoff_first = backoff_first
        self._stopped = threading.Event()
        self._lock = threading.Lock()
        self._response: httpx.Response | None = None
        self.connections = 0  # successful connections so far (tests read it)

    def run(self) -> None:
        failures = 0
        try:
            while not self._stopped.is_set():
                try:
                    self._follow()
                    failures = 0  # the server ended it (say, it restarted): come back soon
                except SignedOut:
                    if not self._stopped.is_set():  # stopped: its sign-in is over already
                        self._on_result(self._engine.signed_out_result())
                    return
                except ApiError as exc:
                    failures += 1
                    log.info("event stream: %s", exc)
                    if isinstance(exc, Refused) and exc.cursor_unknown:
                        # The server's database was restored or rebuilt: a sync rebuilds the
                        # cache, and the next connection starts from its new cursor.
                        self._on_result(self._engine.sync())
                except Exception:  # a broken event must not end real-time for good
                    failures += 1
                    log.exception("event stream failed")
                if self._stopped.wait(self._delay(failures)):
                    return
        finally:
            self._api.close()

    def stop(self) -> None:
        """Ends `run()` soon, from any thread: the open connection is shut down under it."""
        with self._lock:
            self._stopped.set()
            if self._response is not None:
                _shut_down(self._response)

    def _follow(self) -> None:
        httpx = _httpx()
        after = self._engine.sync_cursor()
        headers = {"Last-Event-ID": after} if after else {}
        with self._api.stream("/v1/events", headers) as response:
            with self._lock:
                if self._stopped.is_set():
                    return
                self._response = response
            self.connections += 1
            try:
                for event_id, page in sse_events(response.iter_lines()):
                    if self._stopped.is_set():
                        return
                    self._on_result(self._engine.apply_events_page(page, after))
                    after = event_id
            except httpx.HTTPError as exc:
                if not self._stopped.is_set():
                    raise Offline(f"GET /v1/events: {type(exc).__name__}: {exc}") from exc
            finally:
                with self._lock:
                    self._response = None

    def _delay(self, failures: int) -> float:
        # Jittered, so thousands of trays dropped by one restart do not return as one.
        delay: float = min(BACKOFF_MAX_SECONDS, self._backoff_first * 2 ** max(0, failures - 1))
        return delay * random.uniform(0.5, 1.0)


def _shut_down(response: "httpx.Response") -> None:
    """Shut the connection's socket down: that wakes a read blocked in another thread, which
    closing it would not (on Linux)."""
    stream = response.extensions.get("network_stream")
    sock = stream.get_extra_info("socket") if stream is not None else None
    if isinstance(sock, socket.socket):
        with suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)
