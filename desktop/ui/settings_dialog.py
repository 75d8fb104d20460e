"""Settings: this client's own, and the server-side preferences. Signing in is the sign-in
window's (desktop/ui/sign_in.py); this dialog only says where the token is kept."""

from typing import Any

from PySide6.QtCore import QTime, QTimeZone, Signal
from PySide6.QtWidgets import (
    QAbstractSpinBox,
    QCheckBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
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
from desktop.ui.controller import TrayController


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
        self.setWindowTitle("Traybell settings")
        self._settings = settings
        self._controller = controller
        self._prefs_loaded: dict[str, Any] | None = None

        self.server = QLineEdit(settings.effective("server_url"))
        self.token_store = QLabel(
            f"The sign-in is kept in {credentials.token_store().description}."
        )
        self.token_store.setWordWrap(True)
        self.poll = QSpinBox(
            minimum=POLL_SECONDS_MIN,
            maximum=POLL_SECONDS_MAX,
            suffix=" s",
            value=settings.effective("poll_seconds"),
        )
        self.toasts = QCheckBox("Show desktop notifications", checked=settings.toasts)
        self.realtime = QCheckBox(
            "Instant updates (keeps one connection to the server open)",
            checked=settings.realtime,
        )
        self.ca_bundle = QLineEdit(settings.ca_bundle or "")
        self.ca_bundle.setPlaceholderText("the system's certificates only")
        browse = QPushButton("Browse…")
        browse.clicked.connect(self._pick_ca_bundle)
        ca_row = QHBoxLayout()
        ca_row.addWidget(self.ca_bundle, 1)
        ca_row.addWidget(browse)
        wanted_at_login = settings.effective("start_at_login")
        self.start_at_login = QCheckBox(
            "Start Traybell when I log in",
            checked=autostart.is_enabled() if wanted_at_login is None else wanted_at_login,
        )
        # The presettable settings and what they showed, so that saving records only what the
        # user changed: a value left alone keeps following IT's preset.
        self._presettable = {
            "server_url": (
                "the server",
                self.server,
                lambda: self.server.text().strip().rstrip("/"),
            ),
            "poll_seconds": ("the check interval", self.poll, self.poll.value),
            "start_at_login": (
                "start at login",
                self.start_at_login,
                self.start_at_login.isChecked,
            ),
        }
        self._shown = {name: read() for name, (_, _, read) in self._presettable.items()}
        locked = [
            (label, widget)
            for name, (label, widget, _) in self._presettable.items()
            if settings.locked(name)
        ]
        for _, widget in locked:
            _show_locked(widget)

        local = QFormLayout()
        local.addRow("Server", self.server)
        local.addRow("", self.token_store)
        local.addRow("Check every", self.poll)
        local.addRow("", self.toasts)
        local.addRow("", self.realtime)
        local.addRow("CA bundle", ca_row)
        local.addRow("", self.start_at_login)
        if locked:
            names = ", ".join(label for label, _ in locked)
            self.managed = QLabel(f"Set by your organisation, so not changeable here: {names}.")
            self.managed.setWordWrap(True)
            local.addRow("", self.managed)

        # Server-side preferences: filled in once the server answered.
        self.remote = QGroupBox("On the server")
        self.remote.setEnabled(False)
        self.email = QCheckBox("Email me warnings and critical alerts")
        self.digest = QSpinBox(minimum=0, maximum=86_400, suffix=" s")
        self.quiet = QCheckBox("Quiet hours")
        self.quiet_start = QTimeEdit(displayFormat="HH:mm")
        self.quiet_end = QTimeEdit(displayFormat="HH:mm")
        self.quiet_zone = QLineEdit()
        remote = QFormLayout(self.remote)
        remote.addRow("", self.email)
        remote.addRow("Group into digests for", self.digest)
        remote.addRow("", self.quiet)
        remote.addRow("From", self.quiet_start)
        remote.addRow("To", self.quiet_end)
        remote.addRow("Timezone", self.quiet_zone)
        self.remote_state = QLabel("Loading from the server…")

        buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Save | QDialogButtonBox.StandardButton.Cancel
        )
        buttons.accepted.connect(self.save)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addLayout(local)
        layout.addWidget(self.remote)
        layout.addWidget(self.remote_state)
        layout.addWidget(buttons)
        self._load_remote()

    def _pick_ca_bundle(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "CA bundle", "", "Certificates (*.pem *.crt)")
        if path:
            self.ca_bundle.setText(path)

    def _load_remote(self) -> None:
        if not self._controller.fetch_preferences(self._show_remote, self._not_answered):
            self.remote_state.setText("Sign in to change the server-side preferences.")

    def _not_answered(self, exc: BaseException) -> None:
        self.remote_state.setText(f"The server did not answer: {exc}")

    def _show_remote(self, prefs: dict[str, Any]) -> None:
        self._prefs_loaded = prefs
        self.email.setChecked(bool(prefs.get("email_enabled")))
        self.digest.setValue(int(prefs.get("digest_seconds") or 0))
        quiet = prefs.get("quiet_hours")
        self.quiet.setChecked(bool(quiet))
        quiet = quiet or {"start": "22:00", "end": "07:00", "timezone": _local_zone()}
        self.quiet_start.setTime(QTime.fromString(quiet["start"], "HH:mm"))
        self.quiet_end.setTime(QTime.fromString(quiet["end"], "HH:mm"))
        self.quiet_zone.setText(quiet["timezone"])
        self.remote.setEnabled(True)
        self.remote_state.setText("")

    def remote_changes(self) -> dict[str, Any]:
        if self._prefs_loaded is None:
            return {}
        wanted = {
            "email_enabled": self.email.isChecked(),
            "digest_seconds": self.digest.value(),
            "quiet_hours": {
                "start": self.quiet_start.time().toString("HH:mm"),
                "end": self.quiet_end.time().toString("HH:mm"),
                "timezone": self.quiet_zone.text().strip(),
            }
            if self.quiet.isChecked()
            else None,
        }
        return {k: v for k, v in wanted.items() if self._prefs_loaded.get(k) != v}

    def save(self) -> None:
        for name, (_, _, read) in self._presettable.items():
            value = read()
            # An emptied server field means "back to what IT or TRAYBELL_SERVER give".
            if name == "server_url" and not value:
                self._settings.choose(name, None)
            elif value != self._shown[name]:
                self._settings.choose(name, value)
        self._settings.toasts = self.toasts.isChecked()
        self._settings.realtime = self.realtime.isChecked()
        self._settings.ca_bundle = self.ca_bundle.text().strip() or None
        self._settings.save()
        autostart.apply(self._settings.effective("start_at_login"))
        server = self._settings.effective("server_url")
        changes = self.remote_changes()
        if changes:
            self._controller.update_preferences(changes, self._not_answered)
        self.applied.emit(server)
        self.accept()


def _show_locked(widget: QWidget) -> None:
    """Shown but not editable: IT set it in the system-wide file."""
    if isinstance(widget, QLineEdit | QAbstractSpinBox):
        widget.setReadOnly(True)
    else:
        widget.setEnabled(False)
    widget.setToolTip("Set by your organisation")


def _local_zone() -> str:
    """The IANA name of this machine's zone, which the server needs for quiet hours."""
    return bytes(QTimeZone.systemTimeZoneId().data()).decode() or "UTC"
