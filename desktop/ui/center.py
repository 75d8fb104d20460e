"""The notification center: the cache, newest first, usable offline."""

from datetime import datetime
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QCheckBox,
    QFrame,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QSizePolicy,
    QVBoxLayout,
    QWidget,
)

from desktop.ui import icons
from desktop.ui.controller import TrayController
from desktop.ui.status import Status
from shared.timefmt import relative_time

SEVERITY_COLORS = {
    "info": "#3b82f6",
    "success": "#16a34a",
    "warning": "#d97706",
    "critical": "#dc2626",
}
#: The center shows this many; older ones stay in the cache and on the server.
SHOWN = 200


class NotificationRow(QWidget):
    """One notification: severity marker, title, summary, age, and its actions."""

    def __init__(
        self, notification: dict[str, Any], controller: TrayController, now: datetime
    ) -> None:
        super().__init__()
        self.notification = notification
        unread = notification["read_at"] is None
        marker = QFrame()
        marker.setFixedWidth(5)
        color = SEVERITY_COLORS.get(notification["severity"], SEVERITY_COLORS["info"])
        marker.setStyleSheet(f"background: {color}; border-radius: 2px;")
        marker.setToolTip(notification["severity"])

        self.title = QLabel(notification["title"])
        # Ignored width: a long title is clipped to the window instead of widening the list;
        # (word wrap would make Qt's row height guesses wrong and leave gaps).
        self.title.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        font = self.title.font()
        font.setBold(unread)
        self.title.setFont(font)
        self.summary = QLabel(notification["summary"] or "")
        self.summary.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.summary.setVisible(bool(notification["summary"]))
        self.summary.setStyleSheet("color: palette(placeholder-text);")
        age = QLabel(relative_time(notification["created_at"], now))
        age.setStyleSheet("color: palette(placeholder-text);")
        # The body is in-app text: shown on hover here, never in a toast.
        self.setToolTip(notification["body"] or "")

        self.mark_read_button = QPushButton("Mark read")
        self.mark_read_button.setVisible(unread)
        self.mark_read_button.clicked.connect(lambda: controller.mark_read(notification["id"]))
        self.archive_button = QPushButton("Archive")
        self.archive_button.clicked.connect(lambda: controller.archive(notification["id"]))
        self.open_button = QPushButton("Open link")
        self.open_button.setVisible(bool(notification["target_url"]))
        self.open_button.clicked.connect(lambda: controller.open_notification(notification))

        top = QHBoxLayout()
        top.addWidget(self.title, 1)
        top.addWidget(age, 0, Qt.AlignmentFlag.AlignTop)
        buttons = QHBoxLayout()
        buttons.addStretch(1)
        for button in (self.open_button, self.mark_read_button, self.archive_button):
            button.setFlat(True)
            buttons.addWidget(button)
        text = QVBoxLayout()
        text.addLayout(top)
        text.addWidget(self.summary)
        text.addLayout(buttons)
        text.setSpacing(2)
        row = QHBoxLayout(self)
        row.setContentsMargins(8, 6, 8, 4)
        row.addWidget(marker)
        row.addLayout(text, 1)


class NotificationCenter(QWidget):
    def __init__(self, controller: TrayController, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._controller = controller
        self.setWindowTitle("Traybell")
        self.setWindowIcon(icons.app_icon())
        self.resize(460, 600)

        self.status_label = QLabel()
        self.status_label.setWordWrap(True)
        self.unread_label = QLabel()
        font = self.unread_label.font()
        font.setBold(True)
        font.setPointSizeF(font.pointSizeF() * 1.2)
        self.unread_label.setFont(font)
        self.unread_only = QCheckBox("Unread only")
        self.unread_only.toggled.connect(self.refresh)
        self.mark_all_button = QPushButton("Mark all read")
        self.mark_all_button.clicked.connect(controller.mark_all_read)
        self.list = QListWidget()
        self.list.setVerticalScrollMode(QListWidget.ScrollMode.ScrollPerPixel)
        self.list.setSelectionMode(QListWidget.SelectionMode.NoSelection)
        self.list.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.list.setSpacing(2)
        self.empty_label = QLabel("Nothing here.")
        self.empty_label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.empty_label.setStyleSheet("color: palette(placeholder-text);")

        header = QHBoxLayout()
        header.addWidget(self.unread_label, 1)
        header.addWidget(self.unread_only)
        header.addWidget(self.mark_all_button)
        layout = QVBoxLayout(self)
        layout.addLayout(header)
        layout.addWidget(self.status_label)
        layout.addWidget(self.list, 1)
        layout.addWidget(self.empty_label, 1)

        # Queued: a row's button may have caused the change, and refresh() deletes that row.
        controller.cache_changed.connect(self.refresh, Qt.ConnectionType.QueuedConnection)
        controller.status_changed.connect(self.show_status)
        self.refresh()

    def show_status(self, status: Status) -> None:
        self.unread_label.setText(f"{status.unread} unread" if status.unread else "All caught up")
        self.mark_all_button.setEnabled(status.unread > 0)
        self.status_label.setText(status.headline())
        self.status_label.setStyleSheet(
            "color: #b45309;" if status.online is False or status.signed_out else ""
        )

    def refresh(self) -> None:
        engine = self._controller.engine
        rows = (
            engine.notifications(unread_only=self.unread_only.isChecked(), limit=SHOWN)
            if engine
            else []
        )
        now = datetime.now().astimezone()
        self.list.clear()
        for notification in rows:
            row = NotificationRow(notification, self._controller, now)
            item = QListWidgetItem(self.list)
            item.setSizeHint(row.sizeHint())
            self.list.setItemWidget(item, row)
        self.list.setVisible(bool(rows))
        self.empty_label.setVisible(not rows)
        self.show_status(self._controller.status())

    def rows(self) -> list[NotificationRow]:
        return [self.list.itemWidget(self.list.item(i)) for i in range(self.list.count())]

    def bring_forward(self) -> None:
        self.show()
        self.setWindowState(self.windowState() & ~Qt.WindowState.WindowMinimized)
        self.raise_()
        self.activateWindow()
