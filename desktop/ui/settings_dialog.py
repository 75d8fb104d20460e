"""Settings: this client's own, and the server-side preferences. Signing in is the sign-in
window's (desktop/ui/sign_in.py); this dialog only says where the token is kept."""

from typing import Any

from PySide6.QtCore import Qt, QTime, Signal
from PySide6.QtWidgets import (
    QAbstractSpinBox,
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QSpinBox,
    QTimeEdit,
    QVBoxLayout,
    QWidget,
)

from desktop.platform import autostart, credentials
from desktop.settings import POLL_SECONDS_MAX, POLL_SECONDS_MIN, Settings
from desktop.ui.controller import TrayController, local_zone
from shared.i18n import LANGUAGES
from shared.i18n import gettext as _
from shared.topics import TOPIC_CHANNELS

#: Each language in its own words: whoever cannot read the current one still finds theirs.
LANGUAGE_NAMES = {"en": "English", "hi": "हिन्दी"}


class SettingsDialog(QDialog):
    #: The server URL, after the user saved.
    applied = Signal(str)

    def __init__(
        self,
        settings: Settings,
        controller: TrayController,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle(_("Traybell settings"))
        self._settings = settings
        self._controller = controller
        self._prefs_loaded: dict[str, Any] | None = None

        self.server = QLineEdit(settings.effective("server_url"))
        self.token_store = QLabel(
            _("The sign-in is kept in %(place)s.", place=credentials.token_store().description)
        )
        self.token_store.setWordWrap(True)
        self.poll = QSpinBox(
            minimum=POLL_SECONDS_MIN,
            maximum=POLL_SECONDS_MAX,
            suffix=_(" s"),
            value=settings.effective("poll_seconds"),
        )
        self.toasts = QCheckBox(_("Show desktop notifications"), checked=settings.toasts)
        self.realtime = QCheckBox(
            _("Instant updates (keeps one connection to the server open)"),
            checked=settings.realtime,
        )
        self.ca_bundle = QLineEdit(settings.ca_bundle or "")
        self.ca_bundle.setPlaceholderText(_("the system's certificates only"))
        browse = QPushButton(_("Browse…"))
        browse.clicked.connect(self._pick_ca_bundle)
        ca_row = QHBoxLayout()
        ca_row.addWidget(self.ca_bundle, 1)
        ca_row.addWidget(browse)
        wanted_at_login = settings.effective("start_at_login")
        self.start_at_login = QCheckBox(
            _("Start Traybell when I log in"),
            checked=autostart.is_enabled() if wanted_at_login is None else wanted_at_login,
        )
        self.language = QComboBox()
        self.language.addItem(_("System language"), None)
        for code in LANGUAGES:
            self.language.addItem(LANGUAGE_NAMES[code], code)
        self.language.setCurrentIndex(self.language.findData(settings.language))
        self.language_note = QLabel(_("A new language applies when Traybell starts again."))
        self.language_note.setWordWrap(True)
        self.language_note.setEnabled(False)  # greyed: a footnote
        # The presettable settings and what they showed, so that saving records only what the
        # user changed: a value left alone keeps following IT's preset.
        self._presettable = {
            "server_url": (
                _("the server"),
                self.server,
                lambda: self.server.text().strip().rstrip("/"),
            ),
            "poll_seconds": (_("the check interval"), self.poll, self.poll.value),
            "start_at_login": (
                _("start at login"),
                self.start_at_login,
                self.start_at_login.isChecked,
            ),
        }
        self._shown = {name: read() for name, (_label, _widget, read) in self._presettable.items()}
        locked = [
            (label, widget)
            for name, (label, widget, _read) in self._presettable.items()
            if settings.locked(name)
        ]
        for _label, widget in locked:
            _show_locked(widget)

        local = QFormLayout()
        local.addRow(_("Server"), self.server)
        local.addRow("", self.token_store)
        local.addRow(_("Check every"), self.poll)
        local.addRow("", self.toasts)
        local.addRow("", self.realtime)
        local.addRow(_("CA bundle"), ca_row)
        local.addRow("", self.start_at_login)
        local.addRow(_("Language"), self.language)
        local.addRow("", self.language_note)
        if locked:
            names = ", ".join(label for label, _widget in locked)
            self.managed = QLabel(
                _("Set by your organisation, so not changeable here: %(names)s.", names=names)
            )
            self.managed.setWordWrap(True)
            local.addRow("", self.managed)

        # Server-side preferences: filled in once the server answered.
        self.remote = QGroupBox(_("On the server"))
        self.remote.setEnabled(False)
        self.email = QCheckBox(_("Email me warnings and critical alerts"))
        self.digest = QSpinBox(minimum=0, maximum=86_400, suffix=_(" s"))
        self.quiet = QCheckBox(_("Quiet hours"))
        self.quiet_start = QTimeEdit(displayFormat="HH:mm")
        self.quiet_end = QTimeEdit(displayFormat="HH:mm")
        self.quiet_zone = QLineEdit()
        self.quiet_zone.setPlaceholderText(_("your time zone"))
        # Scheduled sends in "each one's own time" and quiet hours without a zone use it.
        self.timezone = QLineEdit()
        self.timezone.setPlaceholderText(local_zone())
        remote = QFormLayout(self.remote)
        remote.addRow("", self.email)
        remote.addRow(_("Group into digests for"), self.digest)
        remote.addRow("", self.quiet)
        remote.addRow(_("From"), self.quiet_start)
        remote.addRow(_("To"), self.quiet_end)
        remote.addRow(_("Quiet hours' time zone"), self.quiet_zone)
        remote.addRow(_("Your time zone"), self.timezone)
        self.remote_state = QLabel(_("Loading from the server…"))

        # The preference center: one row per topic, filled in once the server answered.
        self.topics_box = QGroupBox(_("Topics"))
        self.topics_box.setEnabled(False)
        self.topics_state = QLabel(_("Loading from the server…"))
        self.topics_state.setWordWrap(True)
        self.topics_grid = QGridLayout()
        self.topics_grid.setVerticalSpacing(10)
        topics_layout = QVBoxLayout(self.topics_box)
        topics_layout.addWidget(self.topics_state)
        topics_layout.addLayout(self.topics_grid)
        self._topics_loaded: list[dict[str, Any]] | None = None
        # The topics may arrive after the dialog closed (and its widgets are gone).
        self._closed = False
        self.finished.connect(self._close_topics)
        #: topic -> channel -> its switch
        self.topic_switches: dict[str, dict[str, QComboBox]] = {}
        #: topic -> its Join or Leave button
        self.topic_buttons: dict[str, QPushButton] = {}

        buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Save | QDialogButtonBox.StandardButton.Cancel
        )
        # Qt ships no Hindi for its standard buttons (desktop/ui/language.py): named here.
        buttons.button(QDialogButtonBox.StandardButton.Save).setText(_("Save"))
        buttons.button(QDialogButtonBox.StandardButton.Cancel).setText(_("Cancel"))
        buttons.accepted.connect(self.save)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addLayout(local)
        layout.addWidget(self.remote)
        layout.addWidget(self.remote_state)
        layout.addWidget(self.topics_box)
        layout.addWidget(buttons)
        self._load_remote()
        self._load_topics()

    def _pick_ca_bundle(self) -> None:
        path, _filter = QFileDialog.getOpenFileName(
            self, _("CA bundle"), "", _("Certificates (*.pem *.crt)")
        )
        if path:
            self.ca_bundle.setText(path)

    def _load_remote(self) -> None:
        if not self._controller.fetch_preferences(self._show_remote, self._not_answered):
            self.remote_state.setText(_("Sign in to change the server-side preferences."))

    def _load_topics(self) -> None:
        if not self._controller.fetch_topic_center(self._show_topics, self._topics_failed):
            self.topics_state.setText(_("Sign in to choose how each topic reaches you."))

    def _close_topics(self) -> None:
        self._closed = True

    def _topics_failed(self, exc: BaseException) -> None:
        if self._closed:
            return
        self.topics_state.setText(_("The server did not answer: %(error)s", error=exc))
        self.topics_state.show()

    def _show_topics(self, topics: list[dict[str, Any]]) -> None:
        """One row per topic: its name and state, a switch per channel ("As set above" is
        the channel's own setting), and Join or Leave where the user may."""
        if self._closed:
            return
        self._topics_loaded = topics
        for widget in [*self._topic_widgets()]:
            self.topics_grid.removeWidget(widget)
            widget.deleteLater()
        self.topic_switches, self.topic_buttons = {}, {}
        self.topics_state.setText(
            _(
                "For notifications about a topic: On sends it on that channel at every severity, "
                "Off sends none, As set above follows the settings above."
            )
            if topics
            else _("No topics yet: an admin declares them, and topics you receive appear here.")
        )
        headings = (_("Topic"), _("In the tray"), _("Email"), _("Push"))
        for column, title in enumerate(headings, start=0):
            header = QLabel(f"<b>{title}</b>")
            header.setProperty("topic_widget", True)
            self.topics_grid.addWidget(header, 0, column)
        for row, topic in enumerate(topics, start=1):
            name = QLabel(f"{topic['topic']} ({_topic_state(topic)})")
            name.setTextFormat(Qt.TextFormat.PlainText)
            name.setToolTip(topic["description"] or "")
            name.setProperty("topic_widget", True)
            self.topics_grid.addWidget(name, row, 0)
            switches = {}
            for column, channel in enumerate(TOPIC_CHANNELS, start=1):
                switch = QComboBox()
                for label, value in ((_("As set above"), None), (_("On"), True), (_("Off"), False)):
                    switch.addItem(label, value)
                switch.setCurrentIndex(switch.findData(topic["overrides"][channel]))
                switch.setProperty("topic_widget", True)
                self.topics_grid.addWidget(switch, row, column)
                switches[channel] = switch
            self.topic_switches[topic["topic"]] = switches
            if topic["join"] or topic["leave"]:
                follow = bool(topic["join"])
                button = QPushButton(_("Join") if follow else _("Leave"))
                button.setProperty("topic_widget", True)
                button.clicked.connect(
                    lambda _=False, t=topic["topic"], f=follow: self._follow(t, f)
                )
                self.topics_grid.addWidget(button, row, 4)
                self.topic_buttons[topic["topic"]] = button
        self.topics_box.setEnabled(True)
        self.adjustSize()  # the rows arrived after the dialog was laid out

    def _topic_widgets(self) -> list[QWidget]:
        found = []
        for index in range(self.topics_grid.count()):
            widget = self.topics_grid.itemAt(index).widget()
            if widget is not None and widget.property("topic_widget"):
                found.append(widget)
        return found

    def _follow(self, topic: str, follow: bool) -> None:
        """Join or leave now (not on Save), then show the topics as the server has them."""
        self.topics_box.setEnabled(False)
        self._controller.follow_topic(
            topic, follow, lambda _: self._load_topics(), self._topics_failed
        )

    def topic_changes(self) -> dict[str, dict[str, bool | None]]:
        """The switches the user changed, as the `topics` of a preferences patch."""
        changes: dict[str, dict[str, bool | None]] = {}
        for topic in self._topics_loaded or []:
            for channel, switch in self.topic_switches.get(topic["topic"], {}).items():
                if switch.currentData() != topic["overrides"][channel]:
                    changes.setdefault(topic["topic"], {})[channel] = switch.currentData()
        return changes

    def _not_answered(self, exc: BaseException) -> None:
        self.remote_state.setText(_("The server did not answer: %(error)s", error=exc))

    def _show_remote(self, prefs: dict[str, Any]) -> None:
        self._prefs_loaded = prefs
        self.email.setChecked(bool(prefs.get("email_enabled")))
        self.digest.setValue(int(prefs.get("digest_seconds") or 0))
        quiet = prefs.get("quiet_hours")
        self.quiet.setChecked(bool(quiet))
        quiet = quiet or {"start": "22:00", "end": "07:00", "timezone": None}
        self.quiet_start.setTime(QTime.fromString(quiet["start"], "HH:mm"))
        self.quiet_end.setTime(QTime.fromString(quiet["end"], "HH:mm"))
        self.quiet_zone.setText(quiet.get("timezone") or "")
        self.timezone.setText(prefs.get("timezone") or "")
        self.remote.setEnabled(True)
        self.remote_state.setText("")

    def remote_changes(self) -> dict[str, Any]:
        changes: dict[str, Any] = {}
        if topics := self.topic_changes():
            changes["topics"] = topics
        if self._prefs_loaded is None:
            return changes
        wanted = {
            "email_enabled": self.email.isChecked(),
            "digest_seconds": self.digest.value(),
            "quiet_hours": {
                "start": self.quiet_start.time().toString("HH:mm"),
                "end": self.quiet_end.time().toString("HH:mm"),
                "timezone": self.quiet_zone.text().strip() or None,
            }
            if self.quiet.isChecked()
            else None,
            "timezone": self.timezone.text().strip() or None,
        }
        return changes | {k: v for k, v in wanted.items() if self._prefs_loaded.get(k) != v}

    def save(self) -> None:
        for name, (_label, _widget, read) in self._presettable.items():
            value = read()
            # An emptied server field means "back to what IT or TRAYBELL_SERVER give".
            if name == "server_url" and not value:
                self._settings.choose(name, None)
            elif value != self._shown[name]:
                self._settings.choose(name, value)
        self._settings.toasts = self.toasts.isChecked()
        self._settings.realtime = self.realtime.isChecked()
        self._settings.ca_bundle = self.ca_bundle.text().strip() or None
        self._settings.language = self.language.currentData()
        self._settings.save()
        autostart.apply(self._settings.effective("start_at_login"))
        server = self._settings.effective("server_url")
        changes = self.remote_changes()
        if changes:
            self._controller.update_preferences(changes, self._not_answered)
        self.applied.emit(server)
        self.accept()


def _topic_state(topic: dict[str, Any]) -> str:
    if topic["via_team"]:
        return _("through your team")
    if topic["subscribed"]:
        return _("following")
    return _("open to join") if topic["join"] else _("received")


def _show_locked(widget: QWidget) -> None:
    """Shown but not editable: IT set it in the system-wide file."""
    if isinstance(widget, QLineEdit | QAbstractSpinBox):
        widget.setReadOnly(True)
    else:
        widget.setEnabled(False)
    widget.setToolTip(_("Set by your organisation"))
