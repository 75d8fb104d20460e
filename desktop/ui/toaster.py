"""Native toasts through plyer, with Qt's tray balloon where plyer has no working backend."""

import logging
import sys
import warnings
from collections.abc import Callable

from PySide6.QtCore import QObject, Signal
from PySide6.QtWidgets import QSystemTrayIcon

from desktop.assets import asset_path
from desktop.toasts import Toast
from desktop.ui.tasks import TaskRunner

log = logging.getLogger("traybell.desktop.toasts")


class NoToastBackend(RuntimeError):
    """The OS toast path cannot show anything here."""


def plyer_notify(toast: Toast) -> None:
    """Show one toast through plyer; raises when nothing would reach the screen."""
    with warnings.catch_warnings():
        # plyer warns on Linux that dbus-python is missing and then uses notify-send, which
        # works as well; the warning would only alarm users reading the log.
        warnings.simplefilter("ignore", UserWarning)
        from plyer import notification

        notify = notification.notify
    if sys.platform.startswith("linux") and not _linux_daemon_running():
        # notify-send exits quietly with an error when no daemon owns the name, and plyer
        # ignores that: ask the bus first so the fallback gets its chance.
        raise NoToastBackend("no notification daemon on the session bus")
    icon = asset_path("icons", "app.ico" if sys.platform == "win32" else "app.png")
    notify(
        title=toast.title,
        message=toast.message,
        app_name="Traybell",
        app_icon=str(icon),
        timeout=10,
    )


def _linux_daemon_running() -> bool:
    from PySide6.QtDBus import QDBusConnection

    bus = QDBusConnection.sessionBus()
    if not bus.isConnected():
        return False
    reply = bus.interface().isServiceRegistered("org.freedesktop.Notifications")
    return bool(reply.value()) if reply.isValid() else False


class Toaster(QObject):
    """Shows toasts off the GUI thread (plyer may spawn a process) and falls back in it."""

    #: (toast, how) after a toast went out; `how` is "native" or "tray".
    shown = Signal(object, str)

    def __init__(
        self,
        tray: QSystemTrayIcon | None,
        notify: Callable[[Toast], None] = plyer_notify,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self._tray = tray
        self._notify = notify
        self._runner = TaskRunner(1, self)

    def show(self, toast: Toast) -> None:
        self._runner.submit(
            lambda: self._notify(toast),
            on_done=lambda _: self.shown.emit(toast, "native"),
            on_error=lambda exc: self._fallback(toast, exc),
        )

    def _fallback(self, toast: Toast, exc: BaseException) -> None:
        log.info("native toast unavailable (%s), using the tray balloon", exc)
        if self._tray is None or not QSystemTrayIcon.supportsMessages():
            log.warning("no way to show a toast on this system: %s", toast.title)
            return
        icon = (
            QSystemTrayIcon.MessageIcon.Warning
            if toast.severity in ("warning", "critical")
            else QSystemTrayIcon.MessageIcon.Information
        )
        self._tray.showMessage(toast.title, toast.message, icon, 10_000)
        self.shown.emit(toast, "tray")

    def busy(self) -> bool:
        return self._runner.busy()

    def wait(self) -> None:
        self._runner.wait()
