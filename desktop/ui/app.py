"""Puts the tray client together and runs it."""

import logging
import signal
import sys
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QEvent, QObject, QTimer
from PySide6.QtWidgets import QApplication, QSystemTrayIcon

from desktop.clock import Clock
from desktop.files import cache_path
from desktop.logs import setup_logging
from desktop.platform import autostart, credentials, url_scheme
from desktop.platform.identity import set_windows_app_id
from desktop.settings import Settings
from desktop.sync import SyncEngine
from desktop.toasts import Toast
from desktop.ui import icons
from desktop.ui.collector import GuiThreadCollector
from desktop.ui.controller import TrayController
from desktop.ui.language import apply_language
from desktop.ui.single_instance import SingleInstance
from desktop.ui.toaster import Notify, Toaster
from desktop.ui.tray import TrayIcon
from shared.i18n import gettext as _

if TYPE_CHECKING:
    from desktop.sync import SignedIn
    from desktop.ui.center import NotificationCenter
    from desktop.ui.notification_view import NotificationView
    from desktop.ui.settings_dialog import SettingsDialog
    from desktop.ui.sign_in import SignInWindow

log = logging.getLogger("traybell.desktop.app")


def make_engine(settings: Settings, server: str, token: str | None) -> SyncEngine | None:
    if not token:
        return None
    return SyncEngine(server, token, cache_path(), ca_bundle=settings.ca_bundle)


class TrayApp(QObject):
    """The whole client: controller, tray icon, notification center, toasts, settings and
    the sign-in window."""

    def __init__(
        self,
        settings: Settings,
        *,
        server: str | None = None,
        token: str | None = None,
        notify: Notify | None = None,
        clock: Clock | None = None,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self.settings = settings
        server = (server or settings.effective("server_url")).rstrip("/")
        #: The token in use: the --token flag's or the stored sign-in's.
        self._token = token or credentials.load_token(server)
        self.controller = TrayController(
            make_engine(settings, server, self._token), settings, clock=clock, parent=self
        )
        self.controller.signed_out.connect(self._on_signed_out)
        # Built (and imported) when first opened: a tray app that starts hidden may never show
        # it, and its widgets cost about 4 MiB (9 once shown).
        self._center: NotificationCenter | None = None
        self.tray = TrayIcon(
            self.controller,
            open_center=self.open_center,
            open_settings=self.open_settings,
            open_sign_in=self.open_sign_in,
            quit_app=self.quit,
            parent=self,
        )
        self.controller.toaster = Toaster(self.tray.tray, notify, parent=self)
        self.controller.toaster.clicked.connect(self.open_toast)
        self.controller.toaster.snooze_requested.connect(self.snooze_toast)
        self._view: NotificationView | None = None
        self.settings_dialog: SettingsDialog | None = None
        self.sign_in_window: SignInWindow | None = None
        self._stopping = False

    def snooze_toast(self, toast: Toast, choice: str) -> None:
        """A toast's snooze button: snoozed on the server, off the GUI thread."""
        if toast.notification_id is not None:
            self.controller.snooze(
                toast.notification_id,
                choice,
                lambda exc: log.warning("snooze from a toast failed: %s", exc),
            )

    @property
    def center(self) -> "NotificationCenter":
        if self._center is None:
            from desktop.ui.center import NotificationCenter

            self._center = NotificationCenter(self.controller)
            self._center.open_requested.connect(self.show_notification)
        return self._center

    def open_center(self) -> None:
        self.center.bring_forward()

    @property
    def view(self) -> "NotificationView":
        """The full view of one notification: one window, reused."""
        if self._view is None:
            # Imported when first opened, like the other windows a run may never show.
            from desktop.ui.notification_view import NotificationView

            self._view = NotificationView(self.controller)
        return self._view

    def show_notification(self, notification: dict[str, Any]) -> None:
        self.view.show_notification(notification)

    def open_notification(self, notification_id: str) -> None:
        """Open one notification's full view: from the cache, else fetched from the server."""
        self.controller.find(
            notification_id,
            self.show_notification,
            self.view.show_message,
            lambda: self.view.show_message(_("Fetching this notification from the server…")),
        )

    def open_link(self, link: str) -> None:
        """Open a `traybell://n/<id>` link."""
        notification_id = url_scheme.notification_id_of(link)
        if notification_id is None:
            self.view.show_message(_("Traybell cannot open this link: %(link)s", link=link[:200]))
        else:
            self.open_notification(notification_id)

    def open_toast(self, toast: Toast) -> None:
        """A click on a toast: its notification, or the center for a summary toast."""
        if toast.notification_id is None:
            self.open_center()
        else:
            self.open_notification(toast.notification_id)

    def start(self, watch_network: bool = True) -> None:
        if QSystemTrayIcon.isSystemTrayAvailable():
            self.tray.show()  # start hidden: the tray icon is the app
        else:
            log.warning("no system tray here: showing the window instead")
            self.open_center()
        # IT's preset (or the user's own choice) takes effect without opening the settings.
        autostart.apply(self.settings.effective("start_at_login"))
        try:
            url_scheme.register()
        except OSError as exc:  # a read-only home must not stop the tray
            log.warning("could not register the traybell:// links: %s", exc)
        self.controller.start(watch_network=watch_network)
        if not self.controller.signed_in():
            self.open_sign_in()

    def open_settings(self) -> None:
        if self.settings_dialog is None:
            # Imported when first opened: most runs never show it.
            from desktop.ui.settings_dialog import SettingsDialog

            self.settings_dialog = SettingsDialog(self.settings, self.controller)
            self.settings_dialog.applied.connect(self._apply_settings)
            self.settings_dialog.finished.connect(self._forget_dialog)
        self.settings_dialog.show()
        self.settings_dialog.raise_()
        self.settings_dialog.activateWindow()

    def _forget_dialog(self) -> None:
        if self.settings_dialog is not None:
            self.settings_dialog.deleteLater()
            self.settings_dialog = None

    def _apply_settings(self, server: str) -> None:
        # A fresh engine picks up every change at once (server, CA bundle); it reuses the
        # cache file, which it keeps when the account is the same. Another server has its
        # own sign-in, or none yet.
        same_server = self.controller.server_url() == server
        self._use(server, self._token if same_server else credentials.load_token(server))

    def open_sign_in(self, reason: str = "first") -> None:
        """The sign-in window; `reason` is one of the controller's sign-out reasons."""
        if self.sign_in_window is None:
            # Imported when first needed: a signed-in tray never shows it.
            from desktop.ui.sign_in import SignInWindow

            self.sign_in_window = SignInWindow(self.settings)
            self.sign_in_window.signed_in.connect(self._signed_in)
        self.sign_in_window.show_for(reason)

    def _signed_in(self, signed_in: "SignedIn") -> None:
        self._use(signed_in.server_url, signed_in.token)

    def _on_signed_out(self, reason: str) -> None:
        # Not when signed in again meanwhile, nor for a sign-out that ended after shutdown.
        if not self.controller.signed_in() and not self._stopping:
            self._token = None
            self.open_sign_in(reason)

    def _use(self, server: str, token: str | None) -> None:
        self._token = token
        self.controller.set_engine(make_engine(self.settings, server, token))
        if token is None:
            self.open_sign_in()

    def shutdown(self) -> None:
        """Stop the background work: a sign-in's wait, then the sync."""
        self._stopping = True
        if self.sign_in_window is not None:
            self.sign_in_window.shutdown()
        self.controller.shutdown()

    def quit(self) -> None:
        self.tray.tray.hide()
        self.shutdown()
        QApplication.quit()


class LinkEvents(QObject):
    """macOS hands a `traybell://` link to the app as a FileOpen event (at launch too), never
    as an argument."""

    def __init__(self, tray_app: TrayApp) -> None:
        super().__init__(tray_app)
        self._tray_app = tray_app

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if event.type() == QEvent.Type.FileOpen:
            url = event.url().toString()  # type: ignore[attr-defined]
            if url.startswith(f"{url_scheme.SCHEME}:"):
                self._tray_app.open_link(url)
                return True
        return super().eventFilter(watched, event)


def main(server: str | None, token: str | None, link: str | None = None) -> int:
    """Run the tray; `link` (a `traybell://n/<id>` the OS started it with) opens at once, or
    in the tray already running."""
    setup_logging()
    set_windows_app_id()
    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setApplicationName("Traybell")
    app.setWindowIcon(icons.app_icon())
    # A tray app lives on when its window closes; only Quit ends it.
    app.setQuitOnLastWindowClosed(False)
    instance = SingleInstance()
    if instance.notify_running(link):
        print(
            "Traybell is already running; it opens the link."
            if link
            else "Traybell is already running; its window was brought forward."
        )
        return 0
    if not instance.listen():
        log.warning("could not claim the single-instance name; a second launch will not be seen")
    collector = GuiThreadCollector(app)
    collector.start()
    settings = Settings.load()
    apply_language(settings, app)
    tray_app = TrayApp(settings, server=server, token=token)
    instance.raise_requested.connect(tray_app.open_center)
    instance.open_requested.connect(tray_app.open_link)
    app.installEventFilter(LinkEvents(tray_app))
    # Ctrl-C and SIGTERM (a session ending, `traybell demo` stopping) quit cleanly: the outbox
    # is in SQLite already, but a sync in flight should finish its transaction.
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: tray_app.quit())
    # Python runs signal handlers only between bytecodes; an idle Qt loop never gets there
    # without a periodic wake-up.
    wake = QTimer(interval=500, timeout=lambda: None)
    wake.start()
    tray_app.start()
    if link:
        tray_app.open_link(link)
    return app.exec()
