"""The real toast path on Linux: the tray on Xvfb, a private D-Bus session, dunst."""

import os
import subprocess
import sys
from pathlib import Path

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
    tray, _ = _start_tray(desktop_session, live_server.url, token, tmp_path)
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


def _start_tray(
    desktop_session, server_url: str, token: str, tmp_path: Path
) -> tuple[subprocess.Popen[str], dict[str, str]]:
    """`traybell tray` in the session, with a home, data and config of its own."""
    env = desktop_session.env | {
        "QT_QPA_PLATFORM": "xcb",
        "TRAYBELL_HOME": str(tmp_path / "tray-home"),
        "XDG_DATA_HOME": str(tmp_path / "data"),
        "XDG_CONFIG_HOME": str(tmp_path / "config"),
        "PYTHON_KEYRING_BACKEND": "keyring.backends.fail.Keyring",
    }
    tray = subprocess.Popen(
        [sys.executable, "-m", "desktop", "tray", "--server", server_url, "--token", token],
        cwd=REPO,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    return tray, env


def _windows(env: dict[str, str]) -> str:
    """The names of the X windows on the session's screen."""
    tree = subprocess.run(
        ["xwininfo", "-root", "-tree"], env=env, capture_output=True, text=True, check=False
    )
    return tree.stdout


def test_clicking_a_toast_opens_its_full_view(desktop_session, live_server, qtbot, tmp_path):
    """Rule: a click on a toast (the daemon's ActionInvoked "default", here through dunst's own
    `dunstctl action`) opens that notification's full view in the tray, which marks it read;
    the toast's text is escaped for a daemon that reads markup."""
    user_id, token = live_server.create_user()
    live_server.send(
        user_id, title="Backup of db-1 failed", summary="disk <full> & stuck", body="BODY"
    )
    tray, env = _start_tray(desktop_session, live_server.url, token, tmp_path)

    def unread() -> int:
        with live_server.client(token) as client:
            return client.get("/v1/notifications/unread-count").json()["unread"]

    try:
        qtbot.waitUntil(
            lambda: (
                "Backup of db-1 failed" in desktop_session.notify_calls() or tray.poll() is not None
            ),
            timeout=60_000,
        )
        assert tray.poll() is None, tray.stdout.read()
        assert "Backup of db-1 failed – Traybell" not in _windows(env)
        assert unread() == 1
        # dunst shows it and, asked to, invokes its default action: ActionInvoked on D-Bus,
        # as a click on it would.
        qtbot.waitUntil(
            lambda: (
                subprocess.run(
                    ["dunstctl", "count", "displayed"], env=env, capture_output=True, text=True
                ).stdout.strip()
                == "1"
            ),
            timeout=15_000,
        )
        subprocess.run(["dunstctl", "action", "0"], env=env, check=True)
        qtbot.waitUntil(lambda: "Backup of db-1 failed – Traybell" in _windows(env), timeout=20_000)
        qtbot.waitUntil(lambda: unread() == 0, timeout=20_000)
        assert "member=ActionInvoked" in desktop_session.notify_calls()
        # dunst reads toast text as markup (body-markup): the summary is escaped to stay text.
        assert 'string "disk &lt;full&gt; &amp; stuck"' in desktop_session.notify_calls()
    finally:
        tray.terminate()
        tray.wait(15)


def test_a_toasts_snooze_button_snoozes_it_on_the_server(
    desktop_session, live_server, qtbot, tmp_path
):
    """Rule: on Linux a toast of one notification carries "Snooze 1 hour" and "Snooze until
    tomorrow 09:00" as D-Bus actions beside the click; the daemon's ActionInvoked for one of
    them (sent here on the session bus as the daemon sends it) snoozes that notification on
    the server."""
    import re

    from jeepney import DBusAddress, HeaderFields, new_signal
    from jeepney.io.blocking import open_dbus_connection

    user_id, token = live_server.create_user()
    nid = live_server.send(user_id, title="Sign the consent form")["results"][0]["id"]
    tray, env = _start_tray(desktop_session, live_server.url, token, tmp_path)

    def snoozed_until() -> str | None:
        with live_server.client(token) as client:
            return client.get(f"/v1/notifications/{nid}").json()["snoozed_until"]

    try:
        qtbot.waitUntil(
            lambda: (
                "Sign the consent form" in desktop_session.notify_calls() or tray.poll() is not None
            ),
            timeout=60_000,
        )
        assert tray.poll() is None, tray.stdout.read()
        calls = desktop_session.notify_calls()
        assert 'string "snooze:hour"' in calls and 'string "Snooze 1 hour"' in calls
        assert 'string "snooze:tomorrow"' in calls
        # As the daemon does: a signal addressed to the connection that showed the toast. The
        # monitor logs the calls, not the daemon's replies, so the toast's id is not known
        # here: the signal goes out for the first ids the daemon gives; the tray acts only on
        # the id of a toast it showed. It learns that id from the daemon's reply, which may
        # reach it after the call is logged, so the signal is sent again until it has acted.
        [tray_bus_name] = re.findall(r"sender=(\S+) -> [^\n]*member=Notify", calls)[-1:]
        daemon = DBusAddress(
            "/org/freedesktop/Notifications", interface="org.freedesktop.Notifications"
        )
        bus = open_dbus_connection(env["DBUS_SESSION_BUS_ADDRESS"])

        def snooze_clicked() -> bool:
            for toast_id in range(1, 21):
                signal = new_signal(daemon, "ActionInvoked", "us", (toast_id, "snooze:hour"))
                signal.header.fields[HeaderFields.destination] = tray_bus_name
                bus.send(signal)
            return snoozed_until() is not None

        try:
            qtbot.waitUntil(snooze_clicked, timeout=20_000)
        finally:
            bus.close()
    finally:
        tray.terminate()
        tray.wait(15)
