"""Native toasts that report clicks where the OS lets them, with Qt's tray balloon where no
native backend works.

Linux: org.freedesktop.Notifications over D-Bus (jeepney), with a "default" action, so the
daemon reports a click as ActionInvoked, and the snoozes as actions of their own (buttons).
Windows and macOS: plyer, which has no click
callback; the tray balloon's own click (messageClicked) is reported everywhere it is used.
"""

import html
import logging
import queue
import sys
import threading
import warnings
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QObject, Signal
from PySide6.QtWidgets import QSystemTrayIcon

from desktop.assets import asset_path
from desktop.toasts import Toast
from desktop.ui.tasks import TaskRunner
from shared.i18n import gettext as _
from shared.snooze import SNOOZE_LABELS, snooze_labels

log = logging.getLogger("traybell.desktop.toasts")

#: A toast's snooze buttons are the D-Bus actions "snooze:hour" and "snooze:tomorrow".
SNOOZE_ACTION_PREFIX = "snooze:"

#: How long a toast stays up where the daemon lets the app ask (milliseconds).
TOAST_TIMEOUT_MS = 10_000

#: Shows one toast and returns the OS's id of it where clicks on it are reported, else None;
#: raises when nothing would reach the screen. Runs off the GUI thread.
Notify = Callable[[Toast], Any]


class NoToastBackend(RuntimeError):
    """The OS toast path cannot show anything here."""


def _icon_path() -> str:
    return str(asset_path("icons", "app.ico" if sys.platform == "win32" else "app.png"))


def plyer_notify(toast: Toast) -> None:
    """Show one toast through plyer; raises when nothing would reach the screen."""
    with warnings.catch_warnings():
        # plyer warns on Linux that dbus-python is missing and then uses notify-send, which
        # works as well; the warning would only alarm users reading the log.
        warnings.simplefilter("ignore", UserWarning)
        from plyer import notification

        notify = notification.notify
    notify(
        title=toast.title,
        message=toast.message,
        app_name="Traybell",
        app_icon=_icon_path(),
        timeout=TOAST_TIMEOUT_MS // 1000,
    )


class DBusToasts(QObject):
    """org.freedesktop.Notifications, the freedesktop toast service, over one D-Bus connection
    kept open: a daemon sends ActionInvoked only to the connection that showed the toast."""

    #: The daemon's id of a toast whose default action (a click on it) was invoked.
    clicked = Signal(int)
    #: The daemon's id of a toast and the key of its other action (SNOOZE_ACTIONS) invoked.
    action = Signal(int, str)
    #: The daemon's id of a toast that is gone (expired, dismissed or clicked).
    closed = Signal(int)

    _PATH = "/org/freedesktop/Notifications"
    _NAME = "org.freedesktop.Notifications"

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        # Imported here: only Linux uses it, and only once a toast is due.
        from jeepney import DBusAddress, MatchRule
        from jeepney.io.threading import DBusRouter, open_dbus_connection

        self._address = DBusAddress(self._PATH, bus_name=self._NAME, interface=self._NAME)
        # Raises KeyError without a session bus address, OSError when it cannot be reached.
        self._connection = open_dbus_connection("SESSION")
        self._router = DBusRouter(self._connection)
        self._signals: queue.Queue[Any] = queue.Queue()
        rule = MatchRule(type="signal", interface=self._NAME)
        self._router.filter(rule, queue=self._signals)
        self._markup: bool | None = None
        threading.Thread(target=self._forward_signals, name="toast-signals", daemon=True).start()

    def notify(self, toast: Toast) -> int:
        """Show `toast` (blocking: call it off the GUI thread); returns the daemon's id."""
        message = toast.message
        if self._supports_markup():
            # Such a daemon reads the text as markup: "<" or "&" in a summary must stay text.
            message = html.escape(message, quote=False)
        # Critical urgency: the spec lets such a toast stay until dismissed, as alerts should.
        urgency = 2 if toast.severity == "critical" else 1
        # A click opens it; a toast of one notification also offers the snoozes as buttons.
        actions = ["default", _("Open")]
        if toast.notification_id is not None:
            for choice, label in snooze_labels().items():
                actions += [SNOOZE_ACTION_PREFIX + choice, label]
        reply = self._call(
            "Notify",
            "susssasa{sv}i",
            (
                "Traybell",
                0,
                _icon_path(),
                toast.title,
                message,
                actions,
                {"urgency": ("y", urgency)},
                TOAST_TIMEOUT_MS,
            ),
        )
        return int(reply[0])

    def close(self) -> None:
        self._signals.put(None)
        self._router.close()  # stops its receiving thread; the connection stays open
        self._connection.close()

    def _supports_markup(self) -> bool:
        if self._markup is None:
            self._markup = "body-markup" in self._call("GetCapabilities", "", ())[0]
        return self._markup

    def _call(self, method: str, signature: str, body: tuple[Any, ...]) -> tuple[Any, ...]:
        from jeepney import new_method_call
        from jeepney.wrappers import DBusErrorResponse, unwrap_msg

        reply = self._router.send_and_get_reply(
            new_method_call(self._address, method, signature, body), timeout=10
        )
        try:
            return tuple(unwrap_msg(reply))
        except DBusErrorResponse as exc:
            raise NoToastBackend(f"{method}: {exc}") from exc

    def _forward_signals(self) -> None:
        from jeepney import HeaderFields

        # Emitted from this thread, queued to the GUI thread where the receivers live.
        while (message := self._signals.get()) is not None:
            member = message.header.fields.get(HeaderFields.member)
            if member == "ActionInvoked" and message.body[1] == "default":
                self.clicked.emit(int(message.body[0]))
            elif member == "ActionInvoked":
                self.action.emit(int(message.body[0]), str(message.body[1]))
            elif member == "NotificationClosed":
                self.closed.emit(int(message.body[0]))


def _no_backend(toast: Toast) -> None:
    raise NoToastBackend("no D-Bus session bus")


class Toaster(QObject):
    """Shows toasts off the GUI thread (D-Bus or plyer may block) and falls back in it;
    reports a click on one that the OS reports."""

    #: (toast, how) after a toast went out; `how` is "native" or "tray".
    shown = Signal(object, str)
    #: A shown toast was clicked; carries the Toast.
    clicked = Signal(object)
    #: A snooze button of a shown toast was pressed (Linux): the Toast and the choice
    #: (a key of shared.snooze.SNOOZE_LABELS).
    snooze_requested = Signal(object, str)

    def __init__(
        self,
        tray: QSystemTrayIcon | None,
        notify: Notify | None = None,
        parent: QObject | None = None,
    ) -> None:
        """`notify` None: this OS's own toasts, set up when the first one is due."""
        super().__init__(parent)
        self._tray = tray
        self._notify = notify
        self._service: DBusToasts | None = None
        self._runner = TaskRunner(1, self)
        #: The daemon's id -> the toast, for the ones whose clicks it reports.
        self._native: dict[int, Toast] = {}
        #: The tray balloon shows one message at a time: a click is on the last one.
        self._balloon: Toast | None = None
        if tray is not None:
            tray.messageClicked.connect(self._on_balloon_click)

    def show(self, toast: Toast) -> None:
        notify = self._notify or self._native_notify()
        self._runner.submit(
            lambda: notify(toast),
            on_done=lambda toast_id: self._shown_natively(toast, toast_id),
            on_error=lambda exc: self._fallback(toast, exc),
        )

    def _native_notify(self) -> Notify:
        if not sys.platform.startswith("linux"):
            self._notify = plyer_notify
            return plyer_notify
        try:
            # On the GUI thread, which its click signal then reaches: connecting to the local
            # session bus takes a moment only.
            self._service = DBusToasts(self)
        except (KeyError, OSError) as exc:  # no session bus: the tray balloon's turn, each time
            log.info("no D-Bus session for toasts (%s)", exc)
            return _no_backend
        self._service.clicked.connect(self._on_native_click)
        self._service.action.connect(self._on_native_action)
        self._service.closed.connect(self._on_native_closed)
        self._notify = self._service.notify
        return self._notify

    def _shown_natively(self, toast: Toast, toast_id: Any) -> None:
        if isinstance(toast_id, int):
            self._native[toast_id] = toast
        self.shown.emit(toast, "native")

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
        self._balloon = toast
        self._tray.showMessage(toast.title, toast.message, icon, TOAST_TIMEOUT_MS)
        self.shown.emit(toast, "tray")

    def _on_native_click(self, toast_id: int) -> None:
        toast = self._native.get(toast_id)
        if toast is not None:
            self.clicked.emit(toast)

    def _on_native_action(self, toast_id: int, key: str) -> None:
        toast = self._native.get(toast_id)
        choice = key.removeprefix(SNOOZE_ACTION_PREFIX)
        if toast is not None and key.startswith(SNOOZE_ACTION_PREFIX) and choice in SNOOZE_LABELS:
            self.snooze_requested.emit(toast, choice)

    def _on_native_closed(self, toast_id: int) -> None:
        self._native.pop(toast_id, None)  # its clicks are over

    def _on_balloon_click(self) -> None:
        if self._balloon is not None:
            self.clicked.emit(self._balloon)

    def busy(self) -> bool:
        return self._runner.busy()

    def wait(self) -> None:
        self._runner.wait()
        if self._service is not None:
            self._service.close()
            self._service = None
