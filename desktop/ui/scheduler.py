"""When the tray syncs: the poll interval, back-off while the server is away, and a sync at
once when the machine wakes from sleep or the network comes back.

It decides only when; `due` tells the controller, which runs the sync.
"""

import logging
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, QTimer, Signal

from desktop.clock import Clock
from desktop.settings import POLL_SECONDS_MIN, Settings

if TYPE_CHECKING:
    from PySide6.QtNetwork import QNetworkInformation

log = logging.getLogger("traybell.desktop.scheduler")

HEARTBEAT_SECONDS = 15
#: A gap this much bigger than a heartbeat means the machine slept (or the clock was set).
WAKE_JUMP_SECONDS = 30
BACKOFF_FIRST_SECONDS = 5
BACKOFF_MAX_SECONDS = 300


class PollScheduler(QObject):
    #: A sync is due: the poll interval passed, the machine woke up, or the network came back.
    due = Signal()
    #: Every heartbeat, so that what runs out by the clock (a pause) is noticed.
    ticked = Signal()

    def __init__(self, settings: Settings, clock: Clock, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._settings = settings
        self._clock = clock
        self._failures = 0
        self._poll = QTimer(self, singleShot=True, timeout=self.due.emit)
        self._heartbeat = QTimer(
            self, interval=HEARTBEAT_SECONDS * 1000, timeout=self.check_heartbeat
        )
        self._beat = (clock.wall(), clock.monotonic())

    def start(self, watch_network: bool = True) -> None:
        self._beat = (self._clock.wall(), self._clock.monotonic())
        self._heartbeat.start()
        if watch_network:
            self._watch_reachability()

    def stop(self) -> None:
        self._poll.stop()
        self._heartbeat.stop()

    def cancel(self) -> None:
        """No sync until the next `schedule` (one runs now, or none may run)."""
        self._poll.stop()

    def schedule(self, online: bool | None) -> None:
        """The next sync after this one's outcome: the poll interval while online, a growing
        delay while the server stays away."""
        self._poll.start(self.next_delay(online) * 1000)

    def took(self, online: bool) -> None:
        """Count a call's outcome: back-off grows with each failure in a row."""
        self._failures = 0 if online else self._failures + 1

    def forget_failures(self) -> None:
        """A new account or a network that came back starts without back-off."""
        self._failures = 0

    def next_delay(self, online: bool | None) -> int:
        poll = max(POLL_SECONDS_MIN, int(self._settings.effective("poll_seconds")))
        if online:
            return poll
        # Back off while the server stays away, but never poll less often than normally.
        backoff = BACKOFF_FIRST_SECONDS * 2 ** max(0, self._failures - 1)
        return min(backoff, max(BACKOFF_MAX_SECONDS, poll))

    def scheduled_ms(self) -> int | None:
        """The delay the next sync was scheduled with, or None when none is scheduled."""
        return self._poll.interval() if self._poll.isActive() else None

    def check_heartbeat(self) -> None:
        wall, mono = self._clock.wall(), self._clock.monotonic()
        last_wall, last_mono = self._beat
        self._beat = (wall, mono)
        # Suspended machines stop the monotonic clock (Linux, macOS) or deliver the tick late
        # (Windows): either way the wall clock moved much more than it should have.
        late = (wall - last_wall) - HEARTBEAT_SECONDS > WAKE_JUMP_SECONDS
        drift = abs((wall - last_wall) - (mono - last_mono)) > WAKE_JUMP_SECONDS
        if late or drift:
            log.info("woke up (clock jumped %.0f s): syncing now", wall - last_wall)
            self.due.emit()
        self.ticked.emit()

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
            self.due.emit()
