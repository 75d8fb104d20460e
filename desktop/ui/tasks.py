"""The one way this client runs work off the GUI thread.

Every network call goes through a `TaskRunner`: a QRunnable on the runner's own QThreadPool,
whose result or exception comes back to the GUI thread as a queued signal. The sync runner has
one thread, so syncs, outbox flushes and preference calls never overlap.
"""

import logging
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QObject, QRunnable, QThreadPool, Signal

log = logging.getLogger("traybell.desktop.tasks")


class _Emitter(QObject):
    """Lives in the GUI thread, so its signals reach slots there whoever emits them."""

    done = Signal(object)
    failed = Signal(object)


class _Task(QRunnable):
    def __init__(self, fn: Callable[[], Any], emitter: _Emitter) -> None:
        super().__init__()
        self._fn = fn
        self._emitter = emitter

    def run(self) -> None:
        try:
            result = self._fn()
        except Exception as exc:  # handed to the caller's on_error, never lost in a thread
            log.debug("background task failed", exc_info=True)
            self._emitter.failed.emit(exc)
        else:
            self._emitter.done.emit(result)


class TaskRunner(QObject):
    """Runs callables on a private thread pool and reports back on the GUI thread."""

    def __init__(self, threads: int = 1, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._pool = QThreadPool(self)
        self._pool.setMaxThreadCount(threads)
        self._running: set[_Emitter] = set()

    def submit(
        self,
        fn: Callable[[], Any],
        on_done: Callable[[Any], None] | None = None,
        on_error: Callable[[BaseException], None] | None = None,
    ) -> None:
        # Created here, on the GUI thread, where the callbacks then run; owned by the runner, so
        # Qt (not Python's collector, in whatever thread) deletes it, once it has reported.
        emitter = _Emitter(self)
        # Held until the task reports: otherwise Python could collect the emitter mid-task.
        self._running.add(emitter)

        def finish(callback: Callable[[Any], None] | None, value: Any) -> None:
            self._running.discard(emitter)
            emitter.deleteLater()
            if callback is not None:
                callback(value)
            elif isinstance(value, BaseException):
                log.error("background task failed: %r", value)

        emitter.done.connect(lambda value: finish(on_done, value))
        emitter.failed.connect(lambda exc: finish(on_error, exc))
        self._pool.start(_Task(fn, emitter))

    def busy(self) -> bool:
        return bool(self._running)

    def wait(self, msecs: int = 30_000) -> bool:
        """Block until the pool is idle: for shutdown only, never while the app is live."""
        return self._pool.waitForDone(msecs)
