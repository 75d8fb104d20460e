"""The tray's brain: when to sync, what the state is, which toasts to show.

It owns the engine and the one background runner for it; widgets only read the cache and call
the methods here. The GUI thread never waits for the network: every call that may reach the
server runs on the runner, and only cache reads and local marks happen here.
"""

import logging
import threading
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QObject, QTimer, QUrl, Signal
from PySide6.QtGui import QDesktopServices

from desktop.platform import credentials
from desktop.settings import Settings
from desktop.sync import EventStream, Refused, SyncEngine, SyncResult
from desktop.toasts import plan_toasts
from desktop.ui.status import Status
from desktop.ui.tasks import TaskRunner
from desktop.ui.toaster import Toaster

if TYPE_CHECKING:
    from PySide6.QtNetwork import QNetworkInformation

log = logging.getLogger("traybell.desktop.controller")

HEARTBEAT_SECONDS = 15
#: A gap this much bigger than a heartbeat means the machine slept (or the clock was set).
WAKE_JUMP_SECONDS = 30
BACKOFF_FIRST_SECONDS = 5
BACKOFF_MAX_SECONDS = 300
#: New notifications that come by the event stream wait this long for more before they are
#: toasted, so a burst of sends still gives one summary toast, as one sync would.
BURST_MS = 1000


class TrayController(QObject):
    status_changed = Signal(object)  # Status
    cache_changed = Signal()
    #: After a sync's result was taken in (status, cache, toasts); carries the SyncResult.
    synced = Signal(object)
    #: After the outbox was sent (or found the server away); carries the SyncResult.
    flushed = Signal(object)
    #: The sign-in ended and its token and cache are gone; carries why: "signed_out" (Sign
    #: out, the server revoked the token), "not_revoked" (Sign out, the server was away) or
    #: "refused" (the server refused the token: revoked elsewhere, or the user disabled).
    signed_out = Signal(str)
    #: After an event stream's page was taken in (cache, status); carries the SyncResult.
    streamed = Signal(object)
    #: From the stream's thread to this one: (engine, SyncResult).
    _stream_result = Signal(object, object)

    def __init__(
        self,
        engine: SyncEngine | None,
        settings: Settings,
        toaster: Toaster | None = None,
        *,
        wall_clock: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = time.monotonic,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self.engine = engine
        self.settings = settings
        self.toaster = toaster
        self._wall, self._mono = wall_clock, monotonic
        self._runner = TaskRunner(1, self)
        self._online: bool | None = None
        self._signed_out = engine is None
        # From the cache, so a restarted client can say when it last heard from the server.
        self._last_sync = engine.last_sync_at() if engine else None
        self._offline_since: datetime | None = None
        self._failures = 0
        self._syncing = False
        self._sync_again = False
        self._poll = QTimer(self, singleShot=True, timeout=self.sync_now)
        self._heartbeat = QTimer(
            self, interval=HEARTBEAT_SECONDS * 1000, timeout=self._on_heartbeat
        )
        self._beat = (self._wall(), self._mono())
        # One /v1/events stream while online, on a thread of its own (it blocks in a read for
        # as long as it is open, so it has no place on the runner).
        self._stream: EventStream | None = None
        self._stream_thread: threading.Thread | None = None
        self._stream_result.connect(self._on_streamed)
        self._burst: list[dict[str, Any]] = []
        self._burst_timer = QTimer(
            self, singleShot=True, interval=BURST_MS, timeout=self._toast_burst
        )

    # -- lifecycle -------------------------------------------------------------------------

    def start(self, watch_network: bool = True) -> None:
        """Catch up at once (not only on the first timer tick), then keep polling."""
        self._beat = (self._wall(), self._mono())
        self._heartbeat.start()
        if watch_network:
            self._watch_reachability()
        # From the event loop: the tray icon is drawn first, and the sync's imports (httpx and
        # its TLS stack) do not compete with it. Tied to self: dropped if it is gone by then.
        QTimer.singleShot(0, self, self.sync_now)

    def shutdown(self) -> None:
        self._poll.stop()
        self._heartbeat.stop()
        thread = self._stream_thread
        self._stop_stream()
        if thread is not None:
            thread.join(5)  # its connection is shut down under it: it ends at once
        self._runner.wait()
        if self.toaster is not None:
            self.toaster.wait()
        # Widgets may still get a queued refresh: without an engine they show nothing.
        engine, self.engine = self.engine, None
        if engine is not None:
            engine.close()

    def set_engine(self, engine: SyncEngine | None) -> None:
        """Switch to another server or token; the old engine closes after its running task."""
        self._stop_stream()
        old, self.engine = self.engine, engine
        if old is not None:
            self._runner.submit(old.close)
        self._online, self._signed_out = None, engine is None
        self._last_sync = engine.last_sync_at() if engine else None
        self._failures = 0
        self.cache_changed.emit()
        self._emit_status()
        self.sync_now()

    def sign_out(self) -> None:
        """Revoke this client's token on the server when it is reachable, forget it, and empty
        the cache, so the next person at this computer sees nothing of this one."""
        self._end_sign_in(refused=False)

    def _end_sign_in(self, refused: bool) -> None:
        engine = self.engine
        if engine is None:
            return
        # At once on screen: no engine, so every widget shows nothing and nothing polls.
        self.engine = None
        self._poll.stop()
        self._stop_stream()
        self._online, self._signed_out, self._last_sync = None, True, None
        self._sync_again = False
        self.cache_changed.emit()
        self._emit_status()

        def sign_out() -> bool:
            # On the runner: the keyring and the server may both take a moment, and a sync
            # of this engine still running finishes first.
            try:
                return engine.sign_out()
            finally:
                credentials.forget_token(engine.server_url)
                engine.close()

        def reason(revoked: bool) -> str:
            return "refused" if refused else "signed_out" if revoked else "not_revoked"

        self._runner.submit(
            sign_out,
            on_done=lambda revoked: self.signed_out.emit(reason(revoked)),
            on_error=lambda exc: self.signed_out.emit(reason(False)),
        )

    def status(self) -> Status:
        engine = self.engine
        paused = self.paused_until()
        return Status(
            online=self._online,
            signed_out=self._signed_out,
            unread=engine.unread_count() if engine else 0,
            pending=engine.pending_changes() if engine else 0,
            last_sync=self._last_sync,
            offline_since=self._offline_since,
            paused_until=paused,
        )

    @property
    def runner(self) -> TaskRunner:
        """The one serial runner for this engine's network calls (sync, outbox, preferences)."""
        return self._runner

    def scheduled_poll_ms(self) -> int | None:
        """The delay the next sync was scheduled with, or None when none is scheduled."""
        return self._poll.interval() if self._poll.isActive() else None

    # -- syncing ---------------------------------------------------------------------------

    def sync_now(self) -> None:
        engine = self.engine
        if engine is None:
            return
        if self._syncing:
            self._sync_again = True  # one more right after, so nothing requested is lost
            return
        self._syncing = True
        self._poll.stop()
        self._runner.submit(
            engine.sync,
            on_done=lambda result: self._on_synced(engine, result),
            on_error=lambda exc: self._on_synced(engine, SyncResult(online=False, error=repr(exc))),
        )

    def _on_synced(self, engine: SyncEngine, result: SyncResult) -> None:
        self._syncing = False
        if engine is not self.engine:  # the account changed while this sync ran
            self.sync_now()
            return
        self._take_connectivity(result)
        if result.online:
            self._last_sync = datetime.now().astimezone()
            self._toast(result.new)
            self._start_stream(engine)
        else:
            self._stop_stream()  # polling with back-off finds the server again
        self.cache_changed.emit()
        self._emit_status()
        self.synced.emit(result)
        if result.signed_out:
            # Only a new sign-in helps; until then this one's token and cache must go.
            self._end_sign_in(refused=True)
        elif self._sync_again:
            self._sync_again = False
            self.sync_now()
        else:
            self._poll.start(self._next_delay() * 1000)

    def _take_connectivity(self, result: SyncResult) -> None:
        if result.online:
            self._online, self._signed_out = True, False
            self._offline_since, self._failures = None, 0
            return
        if self._online is not False:
            self._offline_since = datetime.now().astimezone()
        self._online, self._signed_out = False, result.signed_out
        self._failures += 1

    def _next_delay(self) -> int:
        poll = max(5, int(self.settings.effective("poll_seconds")))
        if self._online:
            return poll
        # Back off while the server stays away, but never poll less often than normally.
        backoff = BACKOFF_FIRST_SECONDS * 2 ** max(0, self._failures - 1)
        return min(backoff, max(BACKOFF_MAX_SECONDS, poll))

    def _toast(self, new: list[dict[str, Any]]) -> None:
        if self.toaster is None or not self.settings.toasts or self.engine is None:
            return
        prefs = self.engine.cached_preferences() or {}
        for toast in plan_toasts(
            new,
            now=datetime.now().astimezone(),
            public_url=self.engine.server_url,
            paused=self.paused_until() is not None,
            quiet_hours=prefs.get("quiet_hours"),
        ):
            self.toaster.show(toast)

    # -- the event stream ------------------------------------------------------------------

    def _start_stream(self, engine: SyncEngine) -> None:
        if self._stream is not None or not self.settings.realtime:
            return
        self._stream = engine.event_stream(lambda result: self._stream_result.emit(engine, result))
        self._stream_thread = threading.Thread(
            target=self._stream.run, name="traybell-events", daemon=True
        )
        self._stream_thread.start()

    def _stop_stream(self) -> None:
        """Without waiting: the thread ends on its own once its connection is shut down."""
        stream, self._stream = self._stream, None
        if stream is not None:
            stream.stop()
        self._burst_timer.stop()
        self._burst = []

    def _on_streamed(self, engine: SyncEngine, result: SyncResult) -> None:
        if engine is not self.engine:
            return
        if result.signed_out:
            self.sync_now()  # the sync confirms the refusal and ends the sign-in, as always
            return
        if not result.online:
            return  # polling, not the stream, says whether the server is there
        if result.new:
            self._burst.extend(result.new)
            if not self._burst_timer.isActive():
                self._burst_timer.start()
        self.cache_changed.emit()
        self._emit_status()
        self.streamed.emit(result)

    def _toast_burst(self) -> None:
        new, self._burst = self._burst, []
        self._toast(new)

    def _on_heartbeat(self) -> None:
        wall, mono = self._wall(), self._mono()
        last_wall, last_mono = self._beat
        self._beat = (wall, mono)
        # Suspended machines stop the monotonic clock (Linux, macOS) or deliver the tick late
        # (Windows): either way the wall clock moved much more than it should have.
        late = (wall - last_wall) - HEARTBEAT_SECONDS > WAKE_JUMP_SECONDS
        drift = abs((wall - last_wall) - (mono - last_mono)) > WAKE_JUMP_SECONDS
        if late or drift:
            log.info("woke up (clock jumped %.0f s): syncing now", wall - last_wall)
            self.sync_now()
        if self.paused_until() is None and self.settings.paused_until:
            self.resume()  # the pause ran out while we were away

    def _watch_reachability(self) -> None:
        # QtNetwork is loaded here, not at import: only this watch needs it.
        from PySide6.QtNetwork import QNetworkInformation

        if not QNetworkInformation.loadDefaultBackend():
            log.info("no network reachability backend; relying on polling and wake checks")
            return
        info = QNetworkInformation.instance()
        info.reachabilityChanged.connect(self._on_reachability)

    def _on_reachability(self, reachability: "QNetworkInformation.Reachability") -> None:
        from PySide6.QtNetwork import QNetworkInformation

        if reachability == QNetworkInformation.Reachability.Online:
            log.info("network is back: syncing now")
            self._failures = 0
            self.sync_now()

    # -- local changes ---------------------------------------------------------------------

    def mark_read(self, notification_id: str) -> None:
        if self.engine is not None:
            self.engine.queue_read(notification_id)
            self._after_local_change()

    def mark_all_read(self) -> None:
        if self.engine is not None:
            self.engine.queue_read_all()
            self._after_local_change()

    def mark_unread(self, notification_id: str) -> None:
        if self.engine is not None:
            self.engine.queue_unread(notification_id)
            self._after_local_change()

    def archive(self, notification_id: str) -> None:
        if self.engine is not None:
            self.engine.queue_archive(notification_id)
            self._after_local_change()

    def open_notification(self, notification: dict[str, Any]) -> None:
        """Open the link in the browser; a path is taken relative to the server."""
        target = notification.get("target_url")
        if self.engine is not None and target:
            if target.startswith("/"):
                target = self.engine.server_url + target
            QDesktopServices.openUrl(QUrl(target))
        if notification.get("read_at") is None:
            self.mark_read(notification["id"])

    def find(
        self,
        notification_id: str,
        on_found: Callable[[dict[str, Any]], None],
        on_missing: Callable[[str], None],
        on_fetching: Callable[[], None] | None = None,
    ) -> None:
        """Hand one notification to `on_found`: from the cache at once, else fetched from the
        server on the runner (`on_fetching` is told first). `on_missing` gets why it could
        not be had."""
        engine = self.engine
        if engine is None:
            on_missing("Sign in to open notifications.")
            return
        cached = engine.cached(notification_id)
        if cached is not None:
            on_found(cached)
            return

        def missing(exc: BaseException) -> None:
            gone = isinstance(exc, Refused) and exc.status == 404
            on_missing(
                "This notification does not exist, or is not yours."
                if gone
                else "The server could not be reached to open this notification."
            )

        def fetched(notification: dict[str, Any]) -> None:
            self.cache_changed.emit()  # it is cached now, unless archived
            on_found(notification)

        if on_fetching is not None:
            on_fetching()
        self._runner.submit(lambda: engine.fetch(notification_id), fetched, missing)

    def _after_local_change(self) -> None:
        self.cache_changed.emit()
        self._emit_status()
        engine = self.engine
        if engine is None:
            return
        self._runner.submit(
            engine.flush_outbox,
            on_done=lambda result: self._on_flushed(engine, result),
            on_error=lambda exc: self._on_flushed(
                engine, SyncResult(online=False, error=repr(exc))
            ),
        )

    def _on_flushed(self, engine: SyncEngine, result: SyncResult) -> None:
        if engine is self.engine:
            was_offline = self._online is False
            self._take_connectivity(result)
            self._emit_status()
            if result.online and was_offline:
                self.sync_now()  # the server is back: take its state now, not at the next poll
        self.flushed.emit(result)
        if engine is self.engine and result.signed_out:
            self._end_sign_in(refused=True)

    # -- pause -----------------------------------------------------------------------------

    def paused_until(self) -> datetime | None:
        now = datetime.now().astimezone()
        if self.settings.paused(now):
            return datetime.fromisoformat(self.settings.paused_until or "")
        return None

    def pause(self, hours: float = 1.0) -> None:
        until = datetime.now().astimezone() + timedelta(hours=hours)
        self.settings.paused_until = until.isoformat(timespec="seconds")
        self.settings.save()
        self._emit_status()

    def resume(self) -> None:
        self.settings.paused_until = None
        self.settings.save()
        self._emit_status()

    def _emit_status(self) -> None:
        self.status_changed.emit(self.status())
