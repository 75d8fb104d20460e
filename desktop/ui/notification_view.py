"""The full view of one notification: everything the center's row leaves out.

The body is the server's plain text: it is escaped and only its http(s) URLs become links, so
nothing the server sends is ever rendered as HTML, and a click opens the system browser.
"""

import html
import re
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtGui import QKeyEvent
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QPushButton,
    QTextBrowser,
    QVBoxLayout,
    QWidget,
)

from desktop.ui import icons
from desktop.ui.browser import open_web_link
from desktop.ui.center import SEVERITY_COLORS, severity_label
from desktop.ui.controller import TrayController
from shared.i18n import gettext as _
from shared.models import audience_label
from shared.snooze import snooze_labels
from shared.timefmt import exact_time, relative_time

#: An http(s) URL up to the next space or quote; closing punctuation right after it is the
#: sentence's, not the URL's.
_URL = re.compile(r"https?://[^\s<>\"']+")
_TRAILING = ".,;:!?)]}"


def linkify(text: str) -> str:
    """Plain text as HTML: everything escaped, each http(s) URL a link to itself."""
    parts: list[str] = []
    end = 0
    for match in _URL.finditer(text):
        url = match.group().rstrip(_TRAILING)
        parts.append(html.escape(text[end : match.start()]))
        parts.append(f'<a href="{html.escape(url)}">{html.escape(url)}</a>')
        end = match.start() + len(url)
    parts.append(html.escape(text[end:]))
    return "".join(parts)


class NotificationView(QWidget):
    """One window, reused for whichever notification is opened next."""

    def __init__(self, controller: TrayController, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._controller = controller
        self.notification: dict[str, Any] | None = None
        self.setWindowTitle("Traybell")
        self.setWindowIcon(icons.app_icon())
        self.resize(520, 460)

        self.severity = QLabel()
        self.source = QLabel()
        self.source.setTextFormat(Qt.TextFormat.PlainText)
        self.source.setStyleSheet("color: palette(placeholder-text);")
        self.time = QLabel()
        self.time.setStyleSheet("color: palette(placeholder-text);")
        self.title = QLabel()
        self.title.setWordWrap(True)
        self.title.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        font = self.title.font()
        font.setBold(True)
        font.setPointSizeF(font.pointSizeF() * 1.3)
        self.title.setFont(font)
        self.summary = QLabel()
        self.summary.setWordWrap(True)
        self.summary.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.body = QTextBrowser()
        # Links are ours to open (http(s) only, in the browser), never followed in here.
        self.body.setOpenLinks(False)
        self.body.anchorClicked.connect(open_web_link)
        self.message = QLabel()  # why a notification could not be opened
        self.message.setWordWrap(True)
        self.message.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.message.setStyleSheet("color: palette(placeholder-text);")

        self.open_button = QPushButton(_("Open link"))
        self.open_button.clicked.connect(self._open_link)
        self.read_button = QPushButton()
        self.read_button.clicked.connect(self._toggle_read)
        self.archive_button = QPushButton(_("Archive"))
        self.archive_button.clicked.connect(self._archive)
        self.snooze_buttons: dict[str, QPushButton] = {}
        for choice, label in snooze_labels().items():
            button = QPushButton(label)
            button.clicked.connect(lambda _=False, choice=choice: self._snooze(choice))
            self.snooze_buttons[choice] = button
        self.notice = QLabel()  # what became of a snooze
        self.notice.setTextFormat(Qt.TextFormat.PlainText)
        self.notice.setStyleSheet("color: palette(placeholder-text);")

        # The server's text is text: a QLabel would render anything that looks like HTML.
        for label in (self.source, self.title, self.summary, self.message):
            label.setTextFormat(Qt.TextFormat.PlainText)

        meta = QHBoxLayout()
        meta.addWidget(self.severity)
        meta.addWidget(self.source, 1)
        meta.addWidget(self.time)
        buttons = QHBoxLayout()
        buttons.addWidget(self.open_button)
        buttons.addStretch(1)
        for button in self.snooze_buttons.values():
            buttons.addWidget(button)
        buttons.addWidget(self.read_button)
        buttons.addWidget(self.archive_button)
        layout = QVBoxLayout(self)
        layout.addLayout(meta)
        layout.addWidget(self.title)
        layout.addWidget(self.summary)
        layout.addWidget(self.body, 1)
        layout.addWidget(self.message, 1)
        layout.addWidget(self.notice)
        layout.addLayout(buttons)

        controller.account_changed.connect(self._forget)
        controller.cache_changed.connect(self._follow_cache)

    def show_notification(self, notification: dict[str, Any]) -> None:
        """Show it, bring the window forward, and mark it read: opening it is reading it."""
        self.notification = dict(notification)
        self.notice.setText("")
        if notification.get("read_at") is None and not notification.get("archived_at"):
            # The cache changes at once, and _follow_cache takes the read notification in.
            self._controller.mark_read(notification["id"])
        self._draw()
        self._bring_forward()

    def show_message(self, text: str) -> None:
        """Say why nothing can be shown (an unknown id, the server away)."""
        self.notification = None
        self.message.setText(text)
        self._draw()
        self._bring_forward()

    def _draw(self) -> None:
        notification = self.notification
        shown = notification is not None
        for widget in (self.severity, self.source, self.time, self.title, self.summary):
            widget.setVisible(shown)
        self.body.setVisible(shown)
        self.message.setVisible(not shown)
        for button in (self.open_button, self.read_button, self.archive_button):
            button.setVisible(shown)
        if notification is None:
            for button in self.snooze_buttons.values():
                button.setVisible(False)
            self.setWindowTitle("Traybell")
            return
        self.setWindowTitle(f"{notification['title']} – Traybell")
        severity = notification["severity"]
        color = SEVERITY_COLORS.get(severity, SEVERITY_COLORS["info"])
        self.severity.setText(severity_label(severity))
        self.severity.setStyleSheet(
            f"background: {color}; color: white; border-radius: 3px; padding: 1px 6px;"
        )
        source = notification.get("event_name") or ""
        if label := audience_label(notification.get("audience")):
            source = _("to %(name)s", name=label) + f" · {source}"
        self.source.setText(source)
        self.source.setToolTip(_("Who it was sent to, and the event that sent it"))
        created = notification["created_at"]
        now = self._controller.now()
        self.time.setText(f"{exact_time(created)} · {relative_time(created, now)}")
        self.title.setText(notification["title"])
        self.summary.setText(notification.get("summary") or "")
        self.summary.setVisible(bool(notification.get("summary")))
        body = notification.get("body") or ""
        no_body = html.escape(_("No further text."))
        self.body.setHtml(
            f'<div style="white-space: pre-wrap;">{linkify(body)}</div>'
            if body
            else f'<p style="color: gray;">{no_body}</p>'
        )
        archived = bool(notification.get("archived_at"))
        self.open_button.setVisible(bool(notification.get("target_url")))
        self.read_button.setText(
            _("Mark read") if notification.get("read_at") is None else _("Mark unread")
        )
        self.read_button.setEnabled(not archived)
        self.archive_button.setEnabled(not archived)
        snoozed = notification.get("snoozed_until")
        for button in self.snooze_buttons.values():
            button.setVisible(not archived and not snoozed)
        if snoozed:
            self.notice.setText(_("Snoozed until %(time)s", time=exact_time(snoozed)))
        self.notice.setVisible(bool(self.notice.text()))
        self.archive_button.setToolTip(_("Archived") if archived else "")

    def keyPressEvent(self, event: QKeyEvent) -> None:
        if event.key() == Qt.Key.Key_Escape:
            self.close()
        else:
            super().keyPressEvent(event)

    def _forget(self) -> None:
        # Signed out, or another account: nothing of the last one may stay on screen.
        if self.notification is not None:
            self.notification = None
            self.close()

    def _follow_cache(self) -> None:
        if self.notification is None or self.notification.get("archived_at"):
            return
        # A read mark or archive made elsewhere (the center, another device) shows here too.
        cached = self._controller.cached(self.notification["id"])
        if cached is not None and cached != self.notification:
            self.notification = cached
            self._draw()

    def _open_link(self) -> None:
        if self.notification is not None:
            self._controller.open_notification(self.notification)

    def _toggle_read(self) -> None:
        notification = self.notification
        if notification is None:
            return
        if notification.get("read_at") is None:
            self._controller.mark_read(notification["id"])
        else:
            self._controller.mark_unread(notification["id"])

    def _snooze(self, choice: str) -> None:
        notification = self.notification
        if notification is None:
            return

        def refused(exc: BaseException) -> None:
            self.notice.setText(_("Not snoozed: the server could not be reached. Try again."))
            self.notice.setVisible(True)

        self.notice.setText(_("Snoozing…"))
        self.notice.setVisible(True)
        self._controller.snooze(notification["id"], choice, refused)

    def _archive(self) -> None:
        if self.notification is not None:
            self._controller.archive(self.notification["id"])
            self.close()

    def _bring_forward(self) -> None:
        self.show()
        self.setWindowState(self.windowState() & ~Qt.WindowState.WindowMinimized)
        self.raise_()
        self.activateWindow()
