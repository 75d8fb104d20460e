"""What the tray trusts and what it leaves readable: only http(s) links open in the browser,
and its cache and logs are the user's alone. No server needed: these run on the Windows and
macOS runners too (.github/workflows/desktop.yml)."""

import logging
import os
import stat
from pathlib import Path

import httpx
import pytest
from PySide6.QtCore import QObject, Slot
from PySide6.QtGui import QDesktopServices

from desktop.files import cache_path
from desktop.logs import setup_logging
from desktop.settings import Settings
from desktop.sync import DeviceSignIn, SignInError, SyncEngine
from desktop.sync._cache import Cache
from desktop.ui.controller import TrayController

#: Schemes a hostile server might put in a link; each would start something on this computer.
NOT_WEB = ("file", "smb", "javascript", "ms-settings", "x-app")


class Opened(QObject):
    """Stands in for every program a URL could be handed to, web or not."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []

    @Slot("QUrl")
    def open(self, url) -> None:
        self.urls.append(url.toString())


@pytest.fixture
def anything_opened(qapp):
    opened = Opened()
    schemes = ("http", "https", *NOT_WEB)
    for scheme in schemes:
        QDesktopServices.setUrlHandler(scheme, opened, "open")
    yield opened
    for scheme in schemes:
        QDesktopServices.unsetUrlHandler(scheme)


def _offline_engine(tmp_path: Path) -> SyncEngine:
    def nothing(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("no server in this test", request=request)

    return SyncEngine(
        "http://127.0.0.1:9", "t", tmp_path / "c.sqlite3", transport=httpx.MockTransport(nothing)
    )


def test_only_http_links_of_a_notification_open_in_the_browser(
    gui_thread_gc, tmp_path, anything_opened
):
    """Rule (trust): a notification's target_url opens in the browser only when it is http(s)
    (a path is the server's page); file:, smb:, javascript: or an app's scheme from the server
    are never handed to the OS."""
    controller = TrayController(_offline_engine(tmp_path), Settings())
    targets = [f"{scheme}://127.0.0.1/x" for scheme in NOT_WEB] + [
        "javascript:alert(1)",
        "https://127.0.0.1/incident/7",
        "/builds/1042",
    ]
    for target in targets:
        controller.open_notification({"id": "n", "target_url": target, "read_at": "then"})
    assert anything_opened.urls == [
        "https://127.0.0.1/incident/7",
        "http://127.0.0.1:9/builds/1042",
    ]
    controller.shutdown()


@pytest.mark.parametrize(
    "approval_page", ["file:///etc/passwd", "smb://127.0.0.1/share", "javascript:alert(1)"]
)
def test_a_device_code_whose_approval_page_is_not_web_is_refused(approval_page):
    """Rule (trust): device sign-in refuses an approval page that is not an http(s) URL, so
    neither the tray (which opens it and shows it as a link) nor `traybell login` (which
    prints it and draws its QR code) passes it on."""

    def server(request: httpx.Request) -> httpx.Response:
        return httpx.Response(
            200,
            json={
                "device_code": "d",
                "user_code": "ABCD-EFGH",
                "verification_uri": "http://127.0.0.1:9/device",
                "verification_uri_complete": approval_page,
                "expires_in": 600,
                "interval": 5,
            },
        )

    flow = DeviceSignIn("http://127.0.0.1:9", "test", transport=httpx.MockTransport(server))
    try:
        with pytest.raises(SignInError, match="not a web page"):
            flow.start()
    finally:
        flow.close()


@pytest.fixture
def open_umask():
    """The common default umask, under which files are made readable by every user."""
    previous = os.umask(0o022)
    yield
    os.umask(previous)


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.mark.skipif(os.name != "posix", reason="file modes are POSIX's; Windows uses ACLs")
def test_cache_logs_and_their_folder_are_the_users_alone(private_home, open_umask):
    """Rule (trust): the cache (bodies and data), its WAL files, the logs (also after a
    rollover) and the folders they are in are 0600 / 0700 whatever the umask; a cache and
    logs made readable by an earlier version are narrowed."""
    private_home.mkdir(mode=0o755, parents=True)
    (private_home / "logs").mkdir(mode=0o755)
    (private_home / "logs" / "desktop.log.1").write_text("an old rotated log\n")
    cache = Cache(cache_path())
    cache.put(
        {
            "id": "00000000-0000-0000-0000-000000000001",
            "user_id": "u",
            "event_name": "x",
            "title": "private",
            "summary": None,
            "body": "secret body",
            "target_url": None,
            "severity": "info",
            "data": {},
            "batch_key": None,
            "read_at": None,
            "archived_at": None,
            "created_at": "2026-01-01T00:00:00+00:00",
        }
    )
    wal = cache_path().with_name(cache_path().name + "-wal")
    assert wal.exists()
    cache.close()
    log_file = setup_logging()
    logger = logging.getLogger("traybell.desktop.test")
    logger.info("signed in")
    handler = next(
        h for h in logging.getLogger("traybell.desktop").handlers if h.baseFilename == str(log_file)
    )
    handler.doRollover()
    logger.info("after the rollover")
    try:
        assert _mode(private_home) == 0o700
        assert _mode(private_home / "logs") == 0o700
        for path in (cache_path(), log_file, log_file.with_name("desktop.log.1")):
            assert _mode(path) == 0o600, path
        assert _mode(log_file.with_name("desktop.log.2")) == 0o600

        # A cache left readable by an earlier version is narrowed when next opened.
        cache_path().chmod(0o644)
        Cache(cache_path()).close()
        assert _mode(cache_path()) == 0o600
    finally:
        logging.getLogger("traybell.desktop").removeHandler(handler)
        handler.close()
