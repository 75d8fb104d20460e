"""The real toast path on Linux: the tray on Xvfb, a private D-Bus session, dunst."""

import os
import subprocess
import sys

import pytest

from tests.desktop.conftest import REPO

pytestmark = [
    pytest.mark.desktop_session,
    pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the D-Bus path is Linux's"),
]


def test_native_toast_carries_title_and_summary_but_never_the_body(
    desktop_session, live_server, qtbot, tmp_path
):
    """Rule (privacy): the OS toast, as the notification daemon receives it over D-Bus
    (org.freedesktop.Notifications.Notify), has the title and the summary and never the body or
    data; the tray catches up and toasts at launch."""
    user_id, token = live_server.create_user()
    live_server.send(
        user_id,
        title="Deploy finished on staging",
        summary="api 2.14 is live",
        body="BODY-MUST-STAY-IN-APP",
        data={"secret": "DATA-MUST-STAY-IN-APP"},
    )
    env = desktop_session.env | {
        "QT_QPA_PLATFORM": "xcb",
        "TRAYBELL_HOME": str(tmp_path / "tray-home"),
        "PYTHON_KEYRING_BACKEND": "keyring.backends.fail.Keyring",
    }
    tray = subprocess.Popen(
        [sys.executable, "-m", "desktop", "tray", "--server", live_server.url, "--token", token],
        cwd=REPO,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        qtbot.waitUntil(
            lambda: (
                "Deploy finished on staging" in desktop_session.notify_calls()
                or tray.poll() is not None
            ),
            timeout=60_000,
        )
        assert tray.poll() is None, tray.stdout.read()
    finally:
        tray.terminate()
        tray.wait(15)
    calls = desktop_session.notify_calls()
    notify = calls[calls.index("member=Notify") :]
    assert 'string "Deploy finished on staging"' in notify
    assert 'string "api 2.14 is live"' in notify
    assert "BODY-MUST-STAY-IN-APP" not in calls and "DATA-MUST-STAY-IN-APP" not in calls
    assert os.path.exists(tmp_path / "tray-home" / "logs" / "desktop.log")
