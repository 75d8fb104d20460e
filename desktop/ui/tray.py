"""The tray icon: badge, tooltip and a menu that always matches the current state."""

from collections.abc import Callable

from PySide6.QtCore import QObject
from PySide6.QtGui import QAction, QGuiApplication
from PySide6.QtWidgets import QMenu, QSystemTrayIcon

from desktop.ui import icons
from desktop.ui.controller import TrayController
from desktop.ui.status import Status
from shared.i18n import gettext as _


class TrayIcon(QObject):
    def __init__(
        self,
        controller: TrayController,
        *,
        open_center: Callable[[], None],
        open_settings: Callable[[], None],
        open_sign_in: Callable[[], None],
        quit_app: Callable[[], None],
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self._controller = controller
        self._open_center = open_center
        self._open_settings = open_settings
        self._open_sign_in = open_sign_in
        self._quit = quit_app
        self.tray = QSystemTrayIcon(self)
        self.menu = QMenu()
        # Rebuilt each time it opens, so labels ("Resume", the count) are never stale.
        self.menu.aboutToShow.connect(self.rebuild_menu)
        self.tray.setContextMenu(self.menu)
        self.tray.activated.connect(self._on_activated)
        self._shown: tuple[str, int, bool] | None = None
        self.status: Status = controller.status()
        controller.status_changed.connect(self.refresh)
        QGuiApplication.styleHints().colorSchemeChanged.connect(lambda _: self.refresh())
        self.rebuild_menu()
        self.refresh(self.status)

    def show(self) -> None:
        self.tray.show()

    def refresh(self, status: Status | None = None) -> None:
        self.status = status or self._controller.status()
        badge = self.status.unread if self.status.icon_state == "normal" else 0
        key = (self.status.icon_state, icons.badge_text(badge), icons.is_dark_theme())
        if key != self._shown:  # redrawing nine pixmaps on every poll would waste CPU
            self._shown = key
            self.tray.setIcon(icons.tray_icon(self.status.icon_state, badge, key[2]))
        self.tray.setToolTip(self.status.tooltip())

    def rebuild_menu(self) -> None:
        status = self._controller.status()
        self.menu.clear()
        self._add(_("Open Traybell"), self._open_center)
        mark_all = self._add(_("Mark all read"), self._controller.mark_all_read)
        mark_all.setEnabled(status.unread > 0)
        if status.paused_until is not None:
            until = status.paused_until.strftime("%H:%M")
            self._add(
                _("Resume notifications (paused until %(time)s)", time=until),
                self._controller.resume,
            )
        else:
            self._add(_("Pause notifications for 1 hour"), self._controller.pause)
        self.menu.addSeparator()
        self._add(_("Settings…"), self._open_settings)
        if status.signed_out:
            self._add(_("Sign in…"), self._open_sign_in)
        else:
            self._add(_("Sign out"), self._controller.sign_out)
        self._add(_("Quit"), self._quit)

    def action(self, text_start: str) -> QAction:
        """The menu entry whose label starts with `text_start` (for tests and accessibility)."""
        return next(a for a in self.menu.actions() if a.text().startswith(text_start))

    def _add(self, text: str, slot: Callable[[], None]) -> QAction:
        action = self.menu.addAction(text)
        action.triggered.connect(lambda _checked=False: slot())
        return action

    def _on_activated(self, reason: QSystemTrayIcon.ActivationReason) -> None:
        if reason in (
            QSystemTrayIcon.ActivationReason.Trigger,
            QSystemTrayIcon.ActivationReason.DoubleClick,
        ):
            self._open_center()
