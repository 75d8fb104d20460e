"""A lighter start: the tray loads what drawing its icon and syncing need, and the rest only when
first used (the start-up benchmark measures what that buys: bench/desktop_bench.py)."""

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from desktop.platform import credentials
from desktop.settings import Settings
from desktop.signin import remember_server
from desktop.sync._cache import Cache
from tests.support.tray_desktop import TrayDesktop
from tests.support.waiting import wait_until

pytestmark = [
    pytest.mark.desktop_session,
    pytest.mark.skipif(not sys.platform.startswith("linux"), reason="an X11 tray host"),
]

#: What a started, synced tray leaves out until it is used, and why it may come later.
UNTIL_USED = {
    "desktop.ui.center": "the notification center, built when first opened",
    "desktop.ui.settings_dialog": "the settings dialog, when first opened",
    "desktop.ui.sign_in": "the sign-in window, needed only without a sign-in",
    "keyring": "the token is in the user-only file here, where it is read first",
    "sqlite_utils": "the cache's schema steps, run when the cache is made or upgraded",
    "plyer": "the first toast (no notification here, so no toast)",
    "jeepney": "the first toast on Linux (the D-Bus notifications connection)",
    "PySide6.QtDBus": "the toaster's check for a notification daemon",
    "segno": "the QR code of `traybell login`",
    "zoneinfo": "quiet hours, read when a toast is due and some are set",
    "asyncio": "the server's half (no client command reads the server's configuration)",
    "server": "the server's half",
}
#: The Qt modules a started tray may hold: the three any tray icon needs, QtNetwork for the
#: single-instance channel, QtSvg for drawing the icon from its SVG.
QT_AT_START = {"PySide6.QtCore", "PySide6.QtGui", "PySide6.QtWidgets", "PySide6.QtNetwork"}
QT_AT_START |= {"PySide6.QtSvg"}

# Runs `traybell tray` as the console script does; SIGUSR1 writes the loaded modules out.
TRAY = """
import json, signal, sys
def dump(*_):
    with open(sys.argv[1], "w") as out:
        json.dump(sorted(sys.modules), out)
signal.signal(signal.SIGUSR1, dump)
from traybell.cli import main
sys.exit(main(["tray"]))
"""


@pytest.fixture
def tray_desktop():
    missing = TrayDesktop.missing_tools(notification_daemon=False)
    if missing:
        why = f"no tray host possible, missing {', '.join(missing)} (.ci/apt-desktop.txt)"
        if os.environ.get("CI"):
            pytest.fail(why)  # .ci/run installs them: a skip there would hide the rule
        pytest.skip(why)
    with TrayDesktop(notification_daemon=False) as desktop:
        yield desktop


def test_a_started_tray_loads_nothing_heavy_until_it_is_used(
    tray_desktop, live_server, private_home: Path, tmp_path: Path
):
    """Rule: `traybell tray`, signed in, with a cache from an earlier start, its icon docked in
    a real tray host and its first sync done, has loaded none of the modules that wait for
    their first use, and of Qt only what a tray needs."""
    _, token = live_server.create_user()
    remember_server(Settings.load(), live_server.url)
    credentials.store_token(live_server.url, token)  # no keyring in the tests: the file
    cache = private_home / "desktop-cache.sqlite3"
    Cache(cache).close()  # made by an earlier start, as on every start but the first
    dump = tmp_path / "modules.json"
    repo = Path(__file__).resolve().parents[2]
    env = tray_desktop.env | {"XDG_CONFIG_HOME": str(tmp_path / "config")}
    with subprocess.Popen(
        [sys.executable, "-c", TRAY, str(dump)],
        cwd=repo,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    ) as tray:
        try:
            tray_desktop.wait_docked()
            wait_until(lambda: _synced(cache), what="the tray's first sync")
            tray.send_signal(signal.SIGUSR1)
            modules = set(wait_until(lambda: _read(dump), what="the module list"))
        finally:
            tray.terminate()
            _, errors = tray.communicate(timeout=60)
    assert tray.returncode in (0, -signal.SIGTERM), errors
    loaded = {name: why for name, why in UNTIL_USED.items() if name in modules}
    assert not loaded, f"loaded before their first use: {loaded}"
    qt = {name for name in modules if name.startswith("PySide6.Qt")}
    assert qt <= QT_AT_START, f"Qt modules a tray does not need at start: {qt - QT_AT_START}"
    assert "httpx" in modules, "the check ran before the first sync"


def _synced(cache_path: Path) -> bool:
    if not cache_path.exists():
        return False
    cache = Cache(cache_path)
    try:
        return cache.get_meta("last_sync_at") is not None
    finally:
        cache.close()


def _read(path: Path) -> list[str] | None:
    try:
        return json.loads(path.read_text())
    except (FileNotFoundError, ValueError):
        return None  # not written yet, or half written


def test_a_token_in_the_file_is_read_without_loading_keyring(private_home: Path):
    """Rule: where the sign-in went to the user-only file, reading it back loads no keyring
    (a fresh process: keyring's backend discovery is what a start would pay)."""
    credentials.store_token("http://127.0.0.1:1", "file-token")
    code = (
        "import sys\n"
        "from desktop.platform import credentials\n"
        "print(credentials.load_token('http://127.0.0.1:1'), 'keyring' in sys.modules)\n"
    )
    read = subprocess.run(
        [sys.executable, "-c", code], env=os.environ, capture_output=True, text=True, check=True
    )
    assert read.stdout.split() == ["file-token", "False"]


def test_a_token_the_keyring_takes_leaves_no_copy_in_the_file(private_home: Path):
    """Rule: a server's token lives in one place: stored in a keyring, the copy an earlier
    sign-in left in the file is gone (the file is read first, so it would win)."""
    import keyring
    from keyring.backend import KeyringBackend

    class MemoryKeyring(KeyringBackend):
        """A working keyring in memory: this machine has no OS keyring to test against."""

        priority = 1

        def __init__(self) -> None:
            super().__init__()
            self.secrets: dict[tuple[str, str], str] = {}

        def get_password(self, service: str, username: str) -> str | None:
            return self.secrets.get((service, username))

        def set_password(self, service: str, username: str, password: str) -> None:
            self.secrets[(service, username)] = password

        def delete_password(self, service: str, username: str) -> None:
            self.secrets.pop((service, username), None)

    credentials.store_token("http://127.0.0.1:1", "old-file-token")
    previous = keyring.get_keyring()
    keyring.set_keyring(MemoryKeyring())
    try:
        assert credentials.store_token("http://127.0.0.1:1", "new-token").uses_keyring
        assert credentials.load_token("http://127.0.0.1:1") == "new-token"
        assert "old-file-token" not in (private_home / "token").read_text()
    finally:
        keyring.set_keyring(previous)
