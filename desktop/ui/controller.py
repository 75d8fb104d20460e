"""The tray's brain: what the state is, the account in use, local marks, sign-out and pause.

It owns the engine and the one background runner for it; widgets read through it (never the
engine itself) and call the methods here. When to sync is the scheduler's (scheduler.py), the
event stream and its burst toasts are the live part's (live.py). The GUI thread never waits for
the network: every call that may reach the server runs on the runner, and only cache reads and
local marks happen here.
"""

import logging
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from PySide6.QtCore import QObject, QTimer, QTimeZone, Signal

from desktop.clock import Clock
from desktop.platform import credentials
from desktop.settings import Settings
from desktop.sync import Refused, SyncEngine, SyncResult
from desktop.toasts import plan_toasts
from desktop.ui.browser import open_web_link
from desktop.ui.live import STREAM_END_SECONDS, LiveStream
from desktop.ui.scheduler import PollScheduler
from desktop.ui.status import Status
from desktop.ui.tasks import TaskRunner
from desktop.ui.toaster import Toaster
from shared.i18n import gettext as _
from shared.snooze import snooze_until

log = logging.getLogger("traybell.desktop.controller")


class TrayController(QObject):
    status_changed = Signal(object)  # Status
    cache_changed = Signal()
    #: Another account (or none: signed out, shut down) is now in use; emitted before the
    #: cache_changed that shows it, so that nothing of the last account stays on screen.
    account_changed = Signal()
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

    def __init__(
        self,
        engine: SyncEngine | None,
        settings: Settings,
        toaster: Toaster | None = None,
        *,
        clock: Clock | None = None,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self._engine = engine
        self.settings = settings
        self.toaster = toaster
        self.clock = clock or Clock()
        self._runner = TaskRunner(1, self)
        self.scheduler = PollScheduler(settings, self.clock, self)
        self.scheduler.due.connect(self.sync_now)
        self.scheduler.ticked.connect(self._end_pause_if_over)
        self.live = LiveStream(self)
        self.live.received.connect(self._on_streamed)
        self.live.burst_over.connect(self._toast)
        self._online: bool | None = None
        self._signed_out = engine is None
        # From the cache, so a restarted client can say when it last heard from the server.
        self._last_sync = engine.last_sync_at() if engine else None
        self._offline_since: datetime | None = None
        self._syncing = False
        self._sync_again = False

    # -- lifecycle -------------------------------------------------------------------------

    def start(self, watch_network: bool = True) -> None:
        """Catch up at once (not only on the first timer tick), then keep polling."""
        self.scheduler.start(watch_network)
        # From the event loop: the tray icon is drawn first, and the sync's imports (httpx and
        # its TLS stack) do not compete with it. Tied to self: dropped if it is gone by then.
        QTimer.singleShot(0, self, self.sync_now)
        QTimer.singleShot(0, self, self._adopt_timezone)

    def shutdown(self) -> None:
        self.scheduler.stop()
        self.live.shutdown()
        self._runner.wait()
        if self.toaster is not None:
            self.toaster.wait()
        # Widgets may still get a queued refresh: without an engine they show nothing.
        engine, self._engine = self._engine, None
        if engine is not None:
            self.account_changed.emit()
            engine.close()

    def set_engine(self, engine: SyncEngine | None) -> None:
        """Switch to another server or token; the old engine closes after its running task."""
        stream_thread = self.live.stop()
        old, self._engine = self._engine, engine
        if old is not None:
            self._runner.submit(lambda: _close(old, stream_thread))
        self._online, self._signed_out = None, engine is None
        self._last_sync = engine.last_sync_at() if engine else None
        self.scheduler.forget_failures()
        self.account_changed.emit()
        self.cache_changed.emit()
        self._emit_status()
        self.sync_now()
        self._adopt_timezone()

    def _adopt_timezone(self) -> None:
        """At sign-in (and at a start already signed in): a user without a time zone gets this
        computer's, so that a send "at 09:00 in each one's own time" reaches them at their
        09:00. Never over one they chose."""
        zone = local_zone()
        self._on_runner(
            lambda engine: engine.adopt_timezone(zone),
            lambda _: None,
            lambda exc: log.info("time zone not set on the server: %s", exc),
        )

    def sign_out(self) -> None:
        """Revoke this client's token on the server when it is reachable, forget it, and empty
        the cache, so the next person at this computer sees nothing of this one."""
        self._end_sign_in(refused=False)

    def _end_sign_in(self, refused: bool) -> None:
        engine = self._engine
        if engine is None:
            return
        # At once on screen: no engine, so every widget shows nothing and nothing polls.
        self._engine = None
        self.scheduler.cancel()
        stream_thread = self.live.stop()
        self._online, self._signed_out, self._last_sync = None, True, None
        self._sync_again = False
        self.account_changed.emit()
        self.cache_changed.emit()
        self._emit_status()

        def sign_out() -> bool:
            # On the runner: the keyring and the server may both take a moment, and a sync
            # of this engine still running finishes first.
            try:
                return engine.sign_out()
            finally:
                credentials.forget_token(engine.server_url)
                _close(engine, stream_thread)

        def reason(revoked: bool) -> str:
            return "refused" if refused else "signed_out" if revoked else "not_revoked"

        self._runner.submit(
            sign_out,
            on_done=lambda revoked: self.signed_out.emit(reason(revoked)),
            on_error=lambda exc: self.signed_out.emit(reason(False)),
        )

    # -- what widgets read -----------------------------------------------------------------

    def status(self) -> Status:
        engine = self._engine
        return Status(
            online=self._online,
            signed_out=self._signed_out,
            unread=engine.unread_count() if engine else 0,
            pending=engine.pending_changes() if engine else 0,
            last_sync=self._last_sync,
            offline_since=self._offline_since,
            paused_until=self.paused_until(),
        )

    def signed_in(self) -> bool:
        """Whether an account is in use (its sync may still be refused)."""
        return self._engine is not None

    def server_url(self) -> str | None:
        """The server of the account in use, or None when signed out."""
        return self._engine.server_url if self._engine else None

    def notifications(self, **query: Any) -> list[dict[str, Any]]:
        """The cache's notifications (the engine's `notifications` filters); none when signed
        out."""
        return self._engine.notifications(**query) if self._engine else []

    def topics(self) -> list[str]:
        """The topics of the cached notifications; none when signed out."""
        return self._engine.topics() if self._engine else []

    def cached(self, notification_id: str) -> dict[str, Any] | None:
        return self._engine.cached(notification_id) if self._engine else None

    def now(self) -> datetime:
        return self.clock.now()

    @property
    def runner(self) -> TaskRunner:
        """The one serial runner for this engine's network calls (sync, outbox, preferences)."""
        return self._runner

    def scheduled_poll_ms(self) -> int | None:
        """The delay the next sync was scheduled with, or None when none is scheduled."""
        return self.scheduler.scheduled_ms()

    # -- server-side preferences -----------------------------------------------------------

    def fetch_preferences(
        self, on_done: Callable[[dict[str, Any]], None], on_error: Callable[[BaseException], None]
    ) -> bool:
        """Fetch the preferences on the runner; False (and nothing runs) when signed out."""
        return self._on_runner(lambda engine: engine.fetch_preferences(), on_done, on_error)

    def update_preferences(
        self, changes: dict[str, Any], on_error: Callable[[BaseException], None]
    ) -> bool:
        """Send changed preferences on the runner; False (and nothing runs) when signed out."""
        return self._on_runner(
            lambda engine: engine.update_preferences(changes), lambda _: None, on_error
        )

    def fetch_topic_center(
        self,
        on_done: Callable[[list[dict[str, Any]]], None],
        on_error: Callable[[BaseException], None],
    ) -> bool:
        """Fetch the settings' topics on the runner; False (and nothing runs) when signed out."""
        return self._on_runner(lambda engine: engine.topic_center(), on_done, on_error)

    def follow_topic(
        self,
        topic: str,
        follow: bool,
        on_done: Callable[[Any], None],
        on_error: Callable[[BaseException], None],
    ) -> bool:
        """Join or leave an open topic on the runner; False when signed out."""
        return self._on_runner(lambda engine: engine.follow_topic(topic, follow), on_done, on_error)

    def _on_runner(
        self,
        call: Callable[[SyncEngine], Any],
        on_done: Callable[[Any], None],
        on_error: Callable[[BaseException], None],
    ) -> bool:
        engine = self._engine
        if engine is None:
            return False
        self._runner.submit(lambda: call(engine), on_done=on_done, on_error=on_error)
        return True

    # -- syncing ---------------------------------------------------------------------------

    def sync_now(self) -> None:
        engine = self._engine
        if engine is None:
            return
        if self._syncing:
            self._sync_again = True  # one more right after, so nothing requested is lost
            return
        self._syncing = True
        self.scheduler.cancel()
        self._runner.submit(
            engine.sync,
            on_done=lambda result: self._on_synced(engine, result),
            on_error=lambda exc: self._on_synced(engine, SyncResult(online=False, error=repr(exc))),
        )

    def _on_synced(self, engine: SyncEngine, result: SyncResult) -> None:
        self._syncing = False
        if engine is not self._engine:  # the account changed while this sync ran
            self.sync_now()
            return
        self._take_connectivity(result)
        if result.online:
            self._last_sync = self.clock.now()
            self._toast(result.new)
            if self.settings.realtime:
                self.live.start(engine)
        else:
            self.live.stop()  # polling with back-off finds the server again
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
            self.scheduler.schedule(self._online)

    def _take_connectivity(self, result: SyncResult) -> None:
        self.scheduler.took(result.online)
        if result.online:
            self._online, self._signed_out, self._offline_since = True, False, None
            return
        if self._online is not False:
            self._offline_since = self.clock.now()
        self._online, self._signed_out = False, result.signed_out

    def _toast(self, new: list[dict[str, Any]]) -> None:
        if self.toaster is None or not self.settings.toasts or self._engine is None:
            return
        prefs = self._engine.cached_preferences() or {}
        for toast in plan_toasts(
            new,
            now=self.clock.now(),
            public_url=self._engine.server_url,
            paused=self.paused_until() is not None,
            quiet_hours=prefs.get("quiet_hours"),
        ):
            self.toaster.show(toast)

    def _on_streamed(self, engine: SyncEngine, result: SyncResult) -> None:
        if engine is not self._engine:
            return
        if result.signed_out:
            self.sync_now()  # the sync confirms the refusal and ends the sign-in, as always
            return
        if not result.online:
            return  # polling, not the stream, says whether the server is there
        if result.new:
            self.live.add_to_burst(result.new)
        self.cache_changed.emit()
        self._emit_status()
        self.streamed.emit(result)

    # -- local changes ---------------------------------------------------------------------

    def mark_read(self, notification_id: str) -> None:
        if self._engine is not None:
            self._engine.queue_read(notification_id)
            self._after_local_change()

    def mark_all_read(self) -> None:
        if self._engine is not None:
            self._engine.queue_read_all()
            self._after_local_change()

    def mark_unread(self, notification_id: str) -> None:
        if self._engine is not None:
            self._engine.queue_unread(notification_id)
            self._after_local_change()

    def archive(self, notification_id: str) -> None:
        if self._engine is not None:
            self._engine.queue_archive(notification_id)
            self._after_local_change()

    def snooze(
        self, notification_id: str, choice: str, on_error: Callable[[BaseException], None]
    ) -> bool:
        """Snooze on the runner ("hour" or "tomorrow": 09:00 tomorrow in this computer's time
        zone), then sync so the cache has it; False (and nothing runs) when signed out."""
        now = self.now().astimezone()
        until = snooze_until(choice, now, now.tzinfo or UTC)
        return self._on_runner(
            lambda engine: engine.snooze(notification_id, until),
            lambda _: self.sync_now(),
            on_error,
        )

    def open_notification(self, notification: dict[str, Any]) -> None:
        """Open the link in the browser (http(s) only); a path is taken relative to the
        server."""
        target = notification.get("target_url")
        if self._engine is not None and target:
            if target.startswith("/"):
                target = self._engine.server_url + target
            open_web_link(target)
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
        engine = self._engine
        if engine is None:
            on_missing(_("Sign in to open notifications."))
            return
        cached = engine.cached(notification_id)
        if cached is not None:
            on_found(cached)
            return

        def missing(exc: BaseException) -> None:
            gone = isinstance(exc, Refused) and exc.status == 404
            on_missing(
                _("This notification does not exist, or is not yours.")
                if gone
                else _("The server could not be reached to open this notification.")
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
        engine = self._engine
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
        if engine is self._engine:
            was_offline = self._online is False
            self._take_connectivity(result)
            self._emit_status()
            if result.online and was_offline:
                self.sync_now()  # the server is back: take its state now, not at the next poll
        self.flushed.emit(result)
        if engine is self._engine and result.signed_out:
            self._end_sign_in(refused=True)

    # -- pause -----------------------------------------------------------------------------

    def paused_until(self) -> datetime | None:
        if self.settings.paused(self.clock.now()):
            return datetime.fromisoformat(self.settings.paused_until or "")
        return None

    def pause(self, hours: float = 1.0) -> None:
        until = self.clock.now() + timedelta(hours=hours)
        self.settings.paused_until = until.isoformat(timespec="seconds")
        self.settings.save()
        self._emit_status()

    def resume(self) -> None:
        self.settings.paused_until = None
        self.settings.save()
        self._emit_status()

    def _end_pause_if_over(self) -> None:
        if self.paused_until() is None and self.settings.paused_until:
            self.resume()  # the pause ran out while we were away

    def _emit_status(self) -> None:
        self.status_changed.emit(self.status())


def _close(engine: SyncEngine, stream_thread: threading.Thread | None) -> None:
    """Close an engine no longer in use, on the runner: its event stream's thread (stopped, so
    ending) first, so that nothing uses the engine once it is closed."""
    if stream_thread is not None:
        stream_thread.join(STREAM_END_SECONDS)
    engine.close()


def local_zone() -> str:
    """The IANA name of this computer's time zone (UTC when the system names none)."""
    return bytes(QTimeZone.systemTimeZoneId().data()).decode() or "UTC"
