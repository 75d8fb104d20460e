"""Fixtures for the tray client's tests: a private home, the whole app, a delaying proxy, and
a real desktop session (Xvfb, a private D-Bus session bus, dunst) for the toast path."""

import contextlib
import os
import shutil
import socket
import subprocess
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from PySide6.QtCore import QObject, Slot
from PySide6.QtGui import QDesktopServices

from desktop.settings import Settings
from desktop.toasts import Toast
from tests.support.tray_desktop import BUS_CONFIG

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def private_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Every test gets its own TRAYBELL_HOME, config and data dirs, and never the real keyring, nor
    the machine's system-wide preset file or TRAYBELL_SERVER."""
    home = tmp_path / "home"
    monkeypatch.setenv("TRAYBELL_HOME", str(home))
    monkeypatch.setenv("TRAYBELL_PRESET_FILE", str(tmp_path / "system" / "desktop.json"))
    monkeypatch.delenv("TRAYBELL_SERVER", raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    monkeypatch.setenv("PYTHON_KEYRING_BACKEND", "keyring.backends.fail.Keyring")
    monkeypatch.setenv("QT_QPA_PLATFORM", "offscreen")
    return home


@pytest.fixture
def make_app(qtbot):
    """Builds the whole tray client against a server; toasts are recorded in `app.toasts`
    (unless `notify` shows them).
    Garbage is collected on the GUI thread only, as in the real app (desktop/ui/collector.py)."""
    from desktop.ui.app import TrayApp
    from desktop.ui.collector import GuiThreadCollector

    apps = []
    collector = GuiThreadCollector()
    collector.start()

    def make(
        server: str,
        token: str | None,
        notify=None,
        realtime: bool = False,
        clock=None,
        **settings_fields,
    ) -> TrayApp:
        # Without the event stream unless a test asks for it: a test of what a sync does must
        # not race a stream that brings the same change first (tests/desktop/test_events.py
        # covers the stream).
        settings = Settings.load()
        settings.server_url = server
        settings.realtime = realtime
        for name, value in settings_fields.items():
            setattr(settings, name, value)
        settings.save()
        toasts: list[Toast] = []
        app = TrayApp(
            settings, server=server, token=token, notify=notify or toasts.append, clock=clock
        )
        app.toasts = toasts
        qtbot.addWidget(app.center)
        apps.append(app)
        return app

    yield make
    for app in apps:
        app.shutdown()
    collector.stop()


@pytest.fixture
def gui_thread_gc(qapp) -> Iterator[None]:
    """For a test that makes Qt objects itself: garbage is collected on the GUI thread only, as
    in the real app (desktop/ui/collector.py), also at the test's end; a collection that a
    server thread happened to start would destroy them there and crash Qt later."""
    from desktop.ui.collector import GuiThreadCollector

    collector = GuiThreadCollector()
    collector.start()
    yield
    collector.stop()


class Browser(QObject):
    """Stands in for the web browser: Qt hands it the http(s) URLs the app opens."""

    def __init__(self) -> None:
        super().__init__()
        self.opened: list[str] = []

    @Slot("QUrl")
    def open(self, url) -> None:
        self.opened.append(url.toString())


@pytest.fixture
def browser_opens(qapp) -> Iterator[Browser]:
    """What the app opens in the browser, through Qt's own URL handler hook: no browser is
    started, and the app's code path (QDesktopServices.openUrl) is the real one."""
    browser = Browser()
    for scheme in ("http", "https"):
        QDesktopServices.setUrlHandler(scheme, browser, "open")
    yield browser
    for scheme in ("http", "https"):
        QDesktopServices.unsetUrlHandler(scheme)


def age_in_cache(notification: dict, days: int) -> datetime:
    """Make a cached notification look `days` older, as if it had arrived then; returns its
    new time. (The server stamps its own times, so only the cache can be aged.)"""
    when = datetime.fromisoformat(notification["created_at"]) - timedelta(days=days)
    from desktop.files import cache_path
    from desktop.sync._cache import Cache

    cache = Cache(cache_path())
    try:
        cache.put({**notification, "created_at": when.isoformat()})
    finally:
        cache.close()
    return when


def sync(qtbot, app, timeout: int = 20_000):
    """Ask for a sync and wait until its result was taken in; returns the SyncResult."""
    with qtbot.waitSignal(app.controller.synced, timeout=timeout) as blocker:
        app.controller.sync_now()
    return blocker.args[0]


def start(qtbot, app, timeout: int = 20_000):
    """Start the app (which catches up at once) and wait for that first sync."""
    with qtbot.waitSignal(app.controller.synced, timeout=timeout) as blocker:
        app.start(watch_network=False)
    return blocker.args[0]


class DelayingProxy:
    """A TCP proxy on 127.0.0.1 that can hold the server's answers until released."""

    def __init__(self, upstream_port: int) -> None:
        self._upstream = ("127.0.0.1", upstream_port)
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self._listener.getsockname()[1]}"
        self._hold = threading.Event()
        self._release = threading.Event()
        #: Set once an answer is being held back.
        self.holding = threading.Event()
        self._sockets: list[socket.socket] = []
        self._closed = False
        threading.Thread(target=self._accept, daemon=True).start()

    def hold(self) -> None:
        self._release.clear()
        self.holding.clear()
        self._hold.set()

    def release(self) -> None:
        self._hold.clear()
        self._release.set()

    def close(self) -> None:
        self._closed = True
        self.release()
        for sock in [self._listener, *self._sockets]:
            sock.close()

    def _accept(self) -> None:
        while not self._closed:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            upstream = socket.create_connection(self._upstream)
            self._sockets += [client, upstream]
            threading.Thread(target=self._pump, args=(client, upstream, False), daemon=True).start()
            threading.Thread(target=self._pump, args=(upstream, client, True), daemon=True).start()

    def _pump(self, source: socket.socket, target: socket.socket, answers: bool) -> None:
        try:
            while data := source.recv(65536):
                if answers and self._hold.is_set():
                    self.holding.set()
                    self._release.wait()
                target.sendall(data)
        except OSError:
            pass  # either side closed: the pump's job is over
        finally:
            for sock in (source, target):
                with contextlib.suppress(OSError):  # already shut by the other pump
                    sock.shutdown(socket.SHUT_RDWR)


@pytest.fixture
def delaying_proxy(live_server) -> Iterator[DelayingProxy]:
    proxy = DelayingProxy(live_server.port)
    yield proxy
    proxy.close()


# -- a real desktop session for the toast path ---------------------------------------------

DUNSTRC = """[global]
    monitor = 0
    follow = none
    notification_limit = 0
    # As the dunstrc that distributions ship: the daemon reads toast text as markup.
    markup = full
[keep_on_screen]
    override_dbus_timeout = 0
"""

SESSION_TOOLS = ("Xvfb", "dbus-daemon", "dbus-monitor", "dbus-send", "dunst", "notify-send")


@dataclass
class DesktopSession:
    env: dict[str, str]
    notify_log: Path

    def notify_calls(self) -> str:
        return self.notify_log.read_text(errors="replace")


def _bus_has_notifications(env: dict[str, str]) -> bool:
    reply = subprocess.run(
        [
            "dbus-send",
            "--session",
            "--print-reply",
            "--dest=org.freedesktop.DBus",
            "/org/freedesktop/DBus",
            "org.freedesktop.DBus.NameHasOwner",
            "string:org.freedesktop.Notifications",
        ],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    return "boolean true" in reply.stdout


@pytest.fixture
def desktop_session(tmp_path: Path, qtbot) -> Iterator[DesktopSession]:
    """Xvfb (local socket only), a private session bus without service activation, dunst,
    and dbus-monitor logging every org.freedesktop.Notifications call."""
    missing = [tool for tool in SESSION_TOOLS if shutil.which(tool) is None]
    if missing:
        why = (
            f"no desktop session possible, missing {', '.join(missing)} "
            "(install the packages in .ci/apt-desktop.txt)"
        )
        if os.environ.get("CI"):
            pytest.fail(why)  # .ci/run installs them: a skip there would hide the toast rules
        pytest.skip(why)
    root = tmp_path / "session"
    runtime = root / "runtime"
    runtime.mkdir(parents=True, mode=0o700)
    (root / "bus.conf").write_text(BUS_CONFIG.format(dir=root))
    (root / "dunstrc").write_text(DUNSTRC)
    processes: list[subprocess.Popen] = []
    logs = open(root / "session.log", "w")  # noqa: SIM115  closed at teardown
    try:
        read_end, write_end = os.pipe()
        processes.append(
            subprocess.Popen(
                [
                    "Xvfb",
                    "-displayfd",
                    str(write_end),
                    "-screen",
                    "0",
                    "1280x800x24",
                    "-nolisten",
                    "tcp",
                    "-noreset",
                ],
                pass_fds=(write_end,),
                stdout=logs,
                stderr=logs,
                stdin=subprocess.DEVNULL,
            )
        )
        os.close(write_end)
        with os.fdopen(read_end) as display_pipe:
            display = display_pipe.readline().strip()  # Xvfb writes it once it is ready
        assert display, f"Xvfb did not start: {(root / 'session.log').read_text()}"
        bus = subprocess.Popen(
            [
                "dbus-daemon",
                f"--config-file={root / 'bus.conf'}",
                "--nofork",
                "--nopidfile",
                "--print-address=1",
            ],
            stdout=subprocess.PIPE,
            stderr=logs,
            stdin=subprocess.DEVNULL,
            text=True,
        )
        processes.append(bus)
        address = bus.stdout.readline().strip()
        assert address, "dbus-daemon did not start"
        env = {
            **os.environ,
            "DISPLAY": f":{display}",
            "DBUS_SESSION_BUS_ADDRESS": address,
            "XDG_RUNTIME_DIR": str(runtime),
            "XDG_SESSION_TYPE": "x11",
        }
        env.pop("WAYLAND_DISPLAY", None)
        notify_log = root / "notify.log"
        with open(notify_log, "w") as monitor_out:  # the child keeps its own copy
            processes.append(
                subprocess.Popen(
                    ["dbus-monitor", "--session", "interface='org.freedesktop.Notifications'"],
                    stdout=monitor_out,
                    stderr=logs,
                    env=env,
                )
            )
        processes.append(
            subprocess.Popen(
                ["dunst", "-config", str(root / "dunstrc")],
                stdout=logs,
                stderr=logs,
                env=env,
            )
        )
        qtbot.waitUntil(lambda: _bus_has_notifications(env), timeout=15_000)
        qtbot.waitUntil(lambda: notify_log.stat().st_size > 0, timeout=15_000)
        yield DesktopSession(env=env, notify_log=notify_log)
    finally:
        for process in reversed(processes):
            process.terminate()
        for process in reversed(processes):
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()
        logs.close()
