"""The sign-in window: at first start and whenever the tray is signed out.

"Sign in with your browser" is device sign-in: the window shows the code, opens the approval
page, and waits. The wait may take minutes, so it runs on this window's own TaskRunner (one
thread of its own) rather than on the controller's: that one is the sync's single thread,
which a wait would block for as long as the person takes. The poll loop itself is the
Qt-free `DeviceSignIn.wait`, the same one `traybell login` runs; closing the window sets its
Event, which ends the wait at once.
"""

import html
import logging
import threading

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QFont
from PySide6.QtWidgets import (
    QDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLayout,
    QLineEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from desktop.platform import credentials
from desktop.settings import Settings
from desktop.signin import default_client_name, remember_server
from desktop.sync import (
    DeviceSignIn,
    SignedIn,
    SignInCancelled,
    SignInError,
    check_token,
)
from desktop.ui.browser import open_web_link
from desktop.ui.tasks import TaskRunner
from shared.i18n import gettext as _
from shared.models import DeviceAuthorization

log = logging.getLogger("traybell.desktop.sign_in")


def sign_out_note(reason: str) -> str:
    """What the window says about why it is shown, by the controller's sign-out reasons."""
    notes = {
        "signed_out": _(
            "You are signed out. Nothing of the last sign-in is left on this computer."
        ),
        "not_revoked": _(
            "Signed out on this computer. The server could not be reached, so this device still"
            " appears in your web settings: revoke it there."
        ),
        "refused": _("The server no longer accepts this computer's sign-in. Please sign in again."),
    }
    return notes.get(reason, "")


class SignInWindow(QDialog):
    #: After a sign-in succeeded; its token is stored already, its server saved as the tray's.
    signed_in = Signal(object)  # SignedIn

    def __init__(self, settings: Settings, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle(_("Sign in to Traybell"))
        self._settings = settings
        self._runner = TaskRunner(1, self)
        #: The attempt under way, set when cancelled; None when idle.
        self._attempt: threading.Event | None = None

        heading = QLabel(_("Sign in to Traybell"))
        font = heading.font()
        font.setPointSizeF(font.pointSizeF() * 1.4)
        font.setBold(True)
        heading.setFont(font)
        self.note = QLabel()
        self.note.setWordWrap(True)
        heading.setMinimumWidth(440)  # sets the window's width; wrapped text fits into it
        self.server = QLineEdit(settings.effective("server_url"))
        self.server.setPlaceholderText("https://traybell.example.com")
        if settings.locked("server_url"):
            self.server.setReadOnly(True)
            self.server.setToolTip(_("Set by your organisation"))
        form = QFormLayout()
        form.addRow(_("Server"), self.server)

        self.browser_button = QPushButton(_("Sign in with your browser"))
        self.browser_button.setDefault(True)
        self.browser_button.clicked.connect(self.sign_in_with_browser)

        # Shown while a browser sign-in waits for approval.
        self.waiting = QWidget()
        self.instructions = QLabel()
        self.instructions.setWordWrap(True)
        self.instructions.linkActivated.connect(open_web_link)
        self.code = QLabel()
        self.code.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.code.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        code_font = QFont("monospace")
        code_font.setStyleHint(QFont.StyleHint.Monospace)
        code_font.setPointSizeF(self.font().pointSizeF() * 2.2)
        code_font.setBold(True)
        code_font.setLetterSpacing(QFont.SpacingType.PercentageSpacing, 115)
        self.code.setFont(code_font)
        self.wait_state = QLabel(_("Waiting for you to approve it in the browser…"))
        self.cancel_button = QPushButton(_("Cancel"))
        self.cancel_button.clicked.connect(self.cancel)
        waiting = QVBoxLayout(self.waiting)
        waiting.setContentsMargins(0, 0, 0, 0)
        waiting.addWidget(self.instructions)
        waiting.addWidget(self.code)
        waiting_row = QHBoxLayout()
        waiting_row.addWidget(self.wait_state, 1)
        waiting_row.addWidget(self.cancel_button)
        waiting.addLayout(waiting_row)
        self.waiting.hide()

        # The second way: a token someone gave you.
        self.token_toggle = QPushButton(_("Use a token instead"))
        self.token_toggle.setFlat(True)
        self.token_toggle.clicked.connect(self._show_token_entry)
        self.token_entry = QWidget()
        self.token = QLineEdit()
        self.token.setEchoMode(QLineEdit.EchoMode.Password)
        self.token.setPlaceholderText("tb_…")
        self.token_button = QPushButton(_("Sign in with this token"))
        self.token_button.clicked.connect(self.sign_in_with_token)
        token_row = QHBoxLayout(self.token_entry)
        token_row.setContentsMargins(0, 0, 0, 0)
        token_row.addWidget(self.token, 1)
        token_row.addWidget(self.token_button)
        self.token_entry.hide()

        self.error = QLabel()
        self.error.setWordWrap(True)
        self.error.setStyleSheet("color: #b3261e;")
        self.error.hide()
        self.token_store = QLabel(
            _("The sign-in is kept in %(place)s.", place=credentials.token_store().description)
        )
        self.token_store.setWordWrap(True)
        self.token_store.setEnabled(False)  # greyed: a footnote

        layout = QVBoxLayout(self)
        # The window follows its content: the code panel, the token entry and an error come
        # and go, and a word-wrapped label squeezed into the old size would be cut off.
        layout.setSizeConstraint(QLayout.SizeConstraint.SetFixedSize)
        layout.addWidget(heading)
        layout.addWidget(self.note)
        layout.addLayout(form)
        layout.addWidget(self.browser_button)
        layout.addWidget(self.waiting)
        layout.addWidget(self.error)
        layout.addWidget(self.token_toggle, 0, Qt.AlignmentFlag.AlignLeft)
        layout.addWidget(self.token_entry)
        layout.addStretch(1)
        layout.addWidget(self.token_store)

    # -- what the app calls ----------------------------------------------------------------

    def show_for(self, reason: str) -> None:
        """Show (or bring forward) the window, saying why the tray is signed out."""
        note = sign_out_note(reason)
        if not self.waiting_for_approval():
            self.server.setText(self._settings.effective("server_url"))
        self.note.setText(note)
        self.note.setVisible(bool(note))
        self.show()
        self.raise_()
        self.activateWindow()

    def waiting_for_approval(self) -> bool:
        return not self.waiting.isHidden()

    def busy(self) -> bool:
        """Whether a sign-in task still runs on the window's own thread."""
        return self._runner.busy()

    def shutdown(self) -> None:
        """End a wait at once and let its thread finish: for quitting the app."""
        self.cancel()
        self._runner.wait()

    # -- signing in ------------------------------------------------------------------------

    def sign_in_with_browser(self) -> None:
        server = self._server_url()
        if server is None:
            return
        attempt = self._start()
        flow = DeviceSignIn(server, default_client_name(), ca_bundle=self._settings.ca_bundle)

        def not_started(exc: BaseException) -> None:
            flow.close()
            self._failed(exc, attempt)

        self._runner.submit(
            flow.start, on_done=lambda code: self._wait(flow, code, attempt), on_error=not_started
        )

    def sign_in_with_token(self) -> None:
        server, token = self._server_url(), self.token.text().strip()
        if server is None:
            return
        if not token:
            self._show_error(_("Paste the token first."))
            return
        attempt = self._start()
        ca_bundle = self._settings.ca_bundle

        def check_and_store() -> SignedIn:
            signed_in = check_token(server, token, ca_bundle=ca_bundle)
            if attempt.is_set():
                raise SignInCancelled(_("Sign-in cancelled."))
            credentials.store_token(signed_in.server_url, signed_in.token)
            return signed_in

        self._runner.submit(
            check_and_store,
            on_done=self._succeeded,
            on_error=lambda exc: self._failed(exc, attempt),
        )

    def cancel(self) -> None:
        if self._attempt is not None:
            self._attempt.set()
            self._attempt = None
        self._idle()

    def reject(self) -> None:
        """Closing the window ends the wait: nothing polls behind a window nobody sees."""
        self.cancel()
        super().reject()

    def _wait(
        self, flow: DeviceSignIn, code: DeviceAuthorization, attempt: threading.Event
    ) -> None:
        if attempt is not self._attempt:  # cancelled while the code was being fetched
            flow.close()
            return
        page = html.escape(code.verification_uri)
        link = f'<a href="{html.escape(code.verification_uri_complete)}">{page}</a>'
        self.instructions.setText(
            _(
                "Your browser opens Traybell's sign-in page: sign in there if it asks (with your"
                " company account where the server offers one), then approve this computer. If"
                " no page opens, go to %(link)s<br>and enter this code:",
                link=link,
            )
        )
        self.code.setText(code.user_code)
        self.browser_button.hide()
        self.waiting.show()
        open_web_link(code.verification_uri_complete)

        def wait_and_store() -> SignedIn:
            try:
                signed_in = flow.wait(attempt)
            finally:
                flow.close()
            credentials.store_token(signed_in.server_url, signed_in.token)
            return signed_in

        self._runner.submit(
            wait_and_store,
            on_done=self._succeeded,
            on_error=lambda exc: self._failed(exc, attempt),
        )

    def _succeeded(self, signed_in: SignedIn) -> None:
        # Taken even when cancelled at the last moment: the token is stored already, and the
        # person did approve it. Stored means signed in.
        self.cancel()
        remember_server(self._settings, signed_in.server_url)
        self.token.clear()
        self.accept()
        self.signed_in.emit(signed_in)

    def _failed(self, exc: BaseException, attempt: threading.Event) -> None:
        if attempt is not self._attempt:  # cancelled: the window was reset then
            return
        self.cancel()
        if isinstance(exc, SignInError):
            self._show_error(str(exc))
        else:
            log.error("sign-in failed: %r", exc)
            self._show_error(_("The sign-in failed: %(error)s", error=exc))

    # -- the window's states ---------------------------------------------------------------

    def _server_url(self) -> str | None:
        server = self.server.text().strip().rstrip("/")
        if not server.startswith(("http://", "https://")):
            self._show_error(_("The server address starts with https:// (or http://)."))
            return None
        return server

    def _start(self) -> threading.Event:
        """A new attempt; its Event is set when it is cancelled."""
        self.cancel()
        self._attempt = threading.Event()
        self.error.hide()
        for widget in (self.server, self.browser_button, self.token_button, self.token):
            widget.setEnabled(False)
        return self._attempt

    def _idle(self) -> None:
        for widget in (self.server, self.browser_button, self.token_button, self.token):
            widget.setEnabled(True)
        self.waiting.hide()
        self.browser_button.show()

    def _show_error(self, message: str) -> None:
        self.error.setText(message)
        self.error.show()

    def _show_token_entry(self) -> None:
        self.token_toggle.hide()
        self.token_entry.show()
        self.token.setFocus()
