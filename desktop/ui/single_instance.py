"""One tray per user: a second launch asks the first to show its window, or to open a
notification (a `traybell://n/<id>` link the OS started it with), then exits.

The channel carries one line per request: `raise`, or `open <link>`; the first instance reads
the link, so a link is understood in one place whoever sent it.
"""

import getpass
import hashlib

from PySide6.QtCore import QObject, Signal
from PySide6.QtNetwork import QLocalServer, QLocalSocket

from shared.paths import traybell_home

CONNECT_TIMEOUT_MS = 500


def server_name() -> str:
    # Per user and per TRAYBELL_HOME: two accounts, or a test's private home, never collide.
    key = f"{getpass.getuser()}\n{traybell_home()}".encode()
    return "traybell-" + hashlib.sha256(key).hexdigest()[:16]


class SingleInstance(QObject):
    """Listens for later launches; `raise_requested` fires when one knocks, `open_requested`
    (with the link) when it brings one."""

    raise_requested = Signal()
    open_requested = Signal(str)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._server: QLocalServer | None = None

    def notify_running(self, link: str | None = None) -> bool:
        """True if another instance answered; it was asked to come forward, or to open
        `link`."""
        socket = QLocalSocket()
        socket.connectToServer(server_name())
        if not socket.waitForConnected(CONNECT_TIMEOUT_MS):
            return False
        request = f"open {link.strip()}" if link else "raise"
        socket.write(request.encode() + b"\n")
        socket.waitForBytesWritten(CONNECT_TIMEOUT_MS)
        socket.disconnectFromServer()
        return True

    def listen(self) -> bool:
        name = server_name()
        # A crashed first instance leaves its Unix socket file behind; nobody answered, so
        # the name is free to take.
        QLocalServer.removeServer(name)
        self._server = QLocalServer(self)
        self._server.setSocketOptions(QLocalServer.SocketOption.UserAccessOption)
        self._server.newConnection.connect(self._on_connection)
        return self._server.listen(name)

    def close(self) -> None:
        if self._server is not None:
            self._server.close()
            self._server = None

    def _on_connection(self) -> None:
        assert self._server is not None
        while (socket := self._server.nextPendingConnection()) is not None:
            # Bound slots, no lambdas: a lambda holding `self` would tie this object's life to
            # the socket's connections, and Python could then free it in the middle of Qt's
            # event processing.
            socket.readyRead.connect(self._on_ready)
            socket.disconnected.connect(socket.deleteLater)
            if socket.bytesAvailable():
                # The knock can arrive before readyRead was connected; it would not fire again.
                self._read_knock(socket)

    def _on_ready(self) -> None:
        socket = self.sender()
        if isinstance(socket, QLocalSocket):
            self._read_knock(socket)

    def _read_knock(self, socket: QLocalSocket) -> None:
        while socket.canReadLine():
            request = bytes(socket.readLine().data()).decode(errors="replace").strip()
            if request == "raise":
                self.raise_requested.emit()
            elif request.startswith("open "):
                self.open_requested.emit(request.removeprefix("open "))
