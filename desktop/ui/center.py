"""The notification center: the cache, newest first and grouped by day, usable offline.

Search and the severity filter read the cache too, so they work offline as well. A row opens
the notification's full view on a click or Enter; the arrow keys move between rows.
"""

from datetime import datetime
from typing import Any

from PySide6.QtCore import QItemSelectionModel, Qt, QTimer, Signal
from PySide6.QtGui import QKeyEvent, QKeySequence, QMouseEvent, QShortcut
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFrame,
    QHBoxLayout,
    QLabel,
    QLineEdit,
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
from shared.i18n import gettext as _
from shared.i18n import ngettext
from shared.models import audience_label
from shared.timefmt import day_label, exact_time, relative_time

SEVERITY_COLORS = {
    "info": "#3b82f6",
    "success": "#16a34a",
    "warning": "#d97706",
    "critical": "#dc2626",
}
#: The center shows this many; older ones stay in the cache and on the server.
SHOWN = 200
#: Typing pauses this long before the search runs, so each key does not rebuild the list.
SEARCH_DELAY_MS = 200


def severity_label(severity: str) -> str:
    """A severity's name as the filter, the marker and the full view show it."""
    labels = {
        "info": _("Info"),
        "success": _("Success"),
        "warning": _("Warning"),
        "critical": _("Critical"),
    }
    return labels.get(severity, severity)


class NotificationRow(QWidget):
    """One notification: severity marker, title, summary, age, and its actions; a click on
    it (not on a button) asks for its full view."""

    clicked = Signal(object)  # the notification dict

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
        marker.setToolTip(severity_label(notification["severity"]))

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
        # The server's text is text: a QLabel would render anything that looks like HTML.
        self.title.setTextFormat(Qt.TextFormat.PlainText)
        self.summary.setTextFormat(Qt.TextFormat.PlainText)
        self.summary.setStyleSheet("color: palette(placeholder-text);")
        self.age = QLabel(relative_time(notification["created_at"], now))
        self.age.setTextFormat(Qt.TextFormat.PlainText)
        if label := audience_label(notification.get("audience")):
            self.age.setText(_("to %(name)s", name=label) + f" · {self.age.text()}")
        self.age.setStyleSheet("color: palette(placeholder-text);")
        self.setToolTip(exact_time(notification["created_at"]))

        self.mark_read_button = QPushButton(_("Mark read"))
        self.mark_read_button.setVisible(unread)
        self.mark_read_button.clicked.connect(lambda: controller.mark_read(notification["id"]))
        self.archive_button = QPushButton(_("Archive"))
        self.archive_button.clicked.connect(lambda: controller.archive(notification["id"]))
        self.open_button = QPushButton(_("Open link"))
        self.open_button.setVisible(bool(notification["target_url"]))
        self.open_button.clicked.connect(lambda: controller.open_notification(notification))

        top = QHBoxLayout()
        top.addWidget(self.title, 1)
        top.addWidget(self.age, 0, Qt.AlignmentFlag.AlignTop)
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

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:
        if event.button() == Qt.MouseButton.LeftButton and self.rect().contains(
            event.position().toPoint()
        ):
            self.clicked.emit(self.notification)
        super().mouseReleaseEvent(event)


class NotificationList(QListWidget):
    """The rows and their day headings; Enter opens the current row."""

    activated_row = Signal(object)  # the notification dict

    def keyPressEvent(self, event: QKeyEvent) -> None:
        if event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter):
            row = self.itemWidget(self.currentItem()) if self.currentItem() else None
            if isinstance(row, NotificationRow):
                self.activated_row.emit(row.notification)
                return
        super().keyPressEvent(event)


class NotificationCenter(QWidget):
    #: A row asks for its full view; carries the notification dict.
    open_requested = Signal(object)

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
        self.unread_only = QCheckBox(_("Unread only"))
        self.unread_only.toggled.connect(self.refresh)
        self.mark_all_button = QPushButton(_("Mark all read"))
        self.mark_all_button.clicked.connect(controller.mark_all_read)
        self.search = QLineEdit()
        self.search.setPlaceholderText(_("Search titles, summaries and text"))
        self.search.setClearButtonEnabled(True)
        self._search_delay = QTimer(self, singleShot=True, interval=SEARCH_DELAY_MS)
        self._search_delay.timeout.connect(self.refresh)
        self.search.textChanged.connect(self._search_delay.start)
        self.severity = QComboBox()
        self.severity.addItem(_("All severities"), None)
        for name in SEVERITY_COLORS:
            self.severity.addItem(severity_label(name), name)
        self.severity.currentIndexChanged.connect(self.refresh)
        self.topic = QComboBox()
        self.topic.addItem(_("All topics"), None)
        self.topic.setToolTip(_("Show one topic"))
        self.topic.currentIndexChanged.connect(self.refresh)
        self.list = NotificationList()
        self.list.setVerticalScrollMode(QListWidget.ScrollMode.ScrollPerPixel)
        self.list.setSelectionMode(QListWidget.SelectionMode.SingleSelection)
        self.list.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.list.setSpacing(2)
        self.list.activated_row.connect(self.open_requested)
        self.empty_label = QLabel()
        self.empty_label.setWordWrap(True)
        self.empty_label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.empty_label.setStyleSheet("color: palette(placeholder-text);")

        header = QHBoxLayout()
        header.addWidget(self.unread_label, 1)
        header.addWidget(self.unread_only)
        header.addWidget(self.mark_all_button)
        filters = QHBoxLayout()
        filters.addWidget(self.search, 1)
        filters.addWidget(self.severity)
        filters.addWidget(self.topic)
        layout = QVBoxLayout(self)
        layout.addLayout(header)
        layout.addWidget(self.status_label)
        layout.addLayout(filters)
        layout.addWidget(self.list, 1)
        layout.addWidget(self.empty_label, 1)

        QShortcut(QKeySequence.StandardKey.Find, self, self.search.setFocus)
        # Queued: a row's button may have caused the change, and refresh() deletes that row.
        controller.cache_changed.connect(self.refresh, Qt.ConnectionType.QueuedConnection)
        controller.status_changed.connect(self.show_status)
        self.refresh()

    def show_status(self, status: Status) -> None:
        self.unread_label.setText(
            ngettext("%(num)s unread", "%(num)s unread", status.unread)
            if status.unread
            else _("All caught up")
        )
        self.mark_all_button.setEnabled(status.unread > 0)
        self.status_label.setText(status.headline())
        self.status_label.setStyleSheet(
            "color: #b45309;" if status.online is False or status.signed_out else ""
        )

    def refresh(self) -> None:
        self._search_delay.stop()
        rows = self._controller.notifications(
            unread_only=self.unread_only.isChecked(),
            limit=SHOWN,
            query=self.search.text(),
            severity=self.severity.currentData(),
            topic=self.topic.currentData(),
        )
        self._offer_topics(self._controller.topics())
        current = self._current_id()
        now = self._controller.now()
        self.list.clear()
        day = None
        # Snoozed ones apart, first, under their own heading; the rest by day.
        snoozed = [n for n in rows if n.get("snoozed_until")]
        rows = snoozed + [n for n in rows if not n.get("snoozed_until")]
        for notification in rows:
            heading = (
                # Read until their time, then back as new.
                _("Snoozed")
                if notification.get("snoozed_until")
                else day_label(notification["created_at"], now)
            )
            if heading != day:
                day = heading
                self._add_heading(heading)
            row = NotificationRow(notification, self._controller, now)
            row.clicked.connect(self.open_requested)
            item = QListWidgetItem(self.list)
            item.setSizeHint(row.sizeHint())
            self.list.setItemWidget(item, row)
            if notification["id"] == current:
                self.list.setCurrentItem(item)
        self.list.setVisible(bool(rows))
        self.empty_label.setVisible(not rows)
        self.empty_label.setText(self._empty_text(self._controller.signed_in()))
        self.show_status(self._controller.status())

    def _offer_topics(self, topics: list[str]) -> None:
        """The topic filter offers the cached topics, and keeps the chosen one."""
        offered = [self.topic.itemData(i) for i in range(1, self.topic.count())]
        if offered == topics:
            return
        chosen = self.topic.currentData()
        self.topic.blockSignals(True)
        self.topic.clear()
        self.topic.addItem(_("All topics"), None)
        for topic in sorted({*topics, *([chosen] if chosen else [])}):
            self.topic.addItem(topic, topic)
        self.topic.setCurrentIndex(max(0, self.topic.findData(chosen)) if chosen else 0)
        self.topic.blockSignals(False)
        self.topic.setVisible(self.topic.count() > 1)

    def _add_heading(self, text: str) -> None:
        item = QListWidgetItem(text, self.list)
        # Not selectable: the arrow keys step over headings from row to row. Such an item is
        # drawn greyed out, unless given the text colour.
        item.setFlags(Qt.ItemFlag.NoItemFlags)
        item.setForeground(self.list.palette().text())
        font = item.font()
        font.setBold(True)
        item.setFont(font)

    def _empty_text(self, signed_in: bool) -> str:
        if not signed_in:
            return _("Sign in to see your notifications.")
        searching = bool(
            self.search.text().strip() or self.severity.currentData() or self.topic.currentData()
        )
        if searching:
            return _("Nothing matches this search or filter.\nClear it to see every notification.")
        if self.unread_only.isChecked():
            return _(
                "Nothing unread: you are all caught up.\nUntick “Unread only” to see the rest."
            )
        return _(
            "No notifications yet.\nWhat your company's systems send you appears here, "
            "and as a toast when it arrives."
        )

    def _current_id(self) -> str | None:
        item = self.list.currentItem()
        row = self.list.itemWidget(item) if item is not None else None
        return row.notification["id"] if isinstance(row, NotificationRow) else None

    def keyPressEvent(self, event: QKeyEvent) -> None:
        # Esc reaches here when no child took it: a search being typed is cleared first,
        # otherwise the window closes.
        if event.key() != Qt.Key.Key_Escape:
            super().keyPressEvent(event)
        elif self.search.hasFocus() and self.search.text():
            self.search.clear()
        else:
            self.close()

    def rows(self) -> list[NotificationRow]:
        widgets = (self.list.itemWidget(self.list.item(i)) for i in range(self.list.count()))
        return [w for w in widgets if isinstance(w, NotificationRow)]

    def headings(self) -> list[str]:
        """The day headings shown, in order."""
        items = (self.list.item(i) for i in range(self.list.count()))
        return [item.text() for item in items if self.list.itemWidget(item) is None]

    def bring_forward(self) -> None:
        self.show()
        self.setWindowState(self.windowState() & ~Qt.WindowState.WindowMinimized)
        self.raise_()
        self.activateWindow()
        self.list.setFocus()
        if self.list.currentItem() is None and self.rows():
            # The first row (after its day heading), current but not highlighted until the
            # arrow keys move.
            self.list.setCurrentRow(1, QItemSelectionModel.SelectionFlag.NoUpdate)
