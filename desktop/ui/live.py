"""Instant updates: one /v1/events stream while online, and the toasts of what it brings.

The stream blocks in a read for as long as it is open, so it runs on a thread of its own (not
on the controller's runner); each page it takes in comes back to the GUI thread as `received`.
New notifications wait `BURST_MS` for more before they are toasted, so a burst of sends still
gives one summary toast, as one sync would.
"""

import threading
from typing import Any

from PySide6.QtCore import QObject, QTimer, Signal

from desktop.sync import EventStream, SyncEngine

BURST_MS = 1000
#: How long an ending stream's thread is waited for: its connection is shut down under it, so
#: it ends at once; the bound only keeps a stuck one from holding up quitting.
STREAM_END_SECONDS = 5


class LiveStream(QObject):
    #: On the GUI thread: (engine, SyncResult) of one page the stream took in.
    received = Signal(object, object)
    #: The new notifications of a burst, once it is over: a list of notification dicts.
    burst_over = Signal(object)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._stream: EventStream | None = None
        self._thread: threading.Thread | None = None
        self._burst: list[dict[str, Any]] = []
        self._burst_timer = QTimer(
            self, singleShot=True, interval=BURST_MS, timeout=self._end_burst
        )

    def start(self, engine: SyncEngine) -> None:
        """Follow `engine`'s events, unless a stream is open already."""
        if self._stream is not None:
            return
        # Emitted on the stream's thread; Qt queues it to this object's (the GUI) thread.
        self._stream = engine.event_stream(lambda result: self.received.emit(engine, result))
        self._thread = threading.Thread(
            target=self._stream.run, name="traybell-events", daemon=True
        )
        self._thread.start()

    def stop(self) -> threading.Thread | None:
        """Without waiting: the thread ends on its own once its connection is shut down, and
        is returned, so that its engine is closed only after it (`join` it off the GUI
        thread). A burst not toasted yet is dropped with it."""
        stream, self._stream = self._stream, None
        thread = self._thread if stream is not None else None
        if stream is not None:
            stream.stop()
        self._burst_timer.stop()
        self._burst = []
        return thread

    def shutdown(self) -> None:
        thread = self._thread
        self.stop()
        if thread is not None:
            thread.join(STREAM_END_SECONDS)

    def is_open(self) -> bool:
        return self._stream is not None

    def add_to_burst(self, new: list[dict[str, Any]]) -> None:
        self._burst.extend(new)
        if not self._burst_timer.isActive():
            self._burst_timer.start()

    def _end_burst(self) -> None:
        new, self._burst = self._burst, []
        self.burst_over.emit(new)
