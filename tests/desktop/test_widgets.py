"""Qt pieces on their own: badge drawing, single instance, toast fallback, the screenshot."""

import subprocess
import sys

from PySide6.QtGui import QColor
from PySide6.QtWidgets import QSystemTrayIcon

from desktop.toasts import Toast
from desktop.ui import icons
from desktop.ui.single_instance import SingleInstance
from desktop.ui.toaster import Toaster
from tests.desktop.conftest import REPO, age_in_cache, start


def _reddish(color: QColor) -> bool:
    return color.alpha() > 200 and color.red() > 180 and color.green() < 90


def test_badge_is_drawn_crisp_at_every_tray_size(qapp):
    """Rule: the unread badge is drawn per pixel size (16-32 px), in light and dark themes, and
    absent when nothing is unread."""
    for dark in (False, True):
        for size in (16, 20, 22, 24, 32):
            badged = icons.tray_image("normal", 3, dark, size)
            plain = icons.tray_image("normal", 0, dark, size)
            side = round(size * 0.6)  # the badge's box, top right
            box = [(px, py) for px in range(size - side, size) for py in range(side)]
            red = sum(_reddish(badged.pixelColor(*p)) for p in box)
            # Mostly solid badge red, with a white digit inside; nothing red without unread.
            assert red > len(box) * 0.4, (size, dark)
            assert any(
                badged.pixelColor(*p).lightness() > 220 and badged.pixelColor(*p).alpha() > 200
                for p in box
            ), (size, dark)
            assert not any(_reddish(plain.pixelColor(*p)) for p in box), (size, dark)
    light = icons.tray_image("normal", 0, False, 32)
    dark = icons.tray_image("normal", 0, True, 32)
    assert light != dark
    assert icons.badge_text(9) == "9" and icons.badge_text(10) == "9+"


_SECOND_LAUNCH = """
from PySide6.QtCore import QCoreApplication
from desktop.ui.single_instance import SingleInstance
app = QCoreApplication([])
print(SingleInstance().notify_running())
"""


def test_second_launch_raises_the_first_ones_window(qtbot):
    """Rule: one instance per user; a second launch asks the first to come forward."""
    first = SingleInstance()
    assert first.listen()
    try:
        # The second launch is a process of its own, as it is for users: its socket blocks
        # (briefly) for the connection while this thread's event loop accepts it.
        with qtbot.waitSignal(first.raise_requested, timeout=10_000):
            second = subprocess.Popen(
                [sys.executable, "-c", _SECOND_LAUNCH],
                cwd=REPO,
                stdout=subprocess.PIPE,
                text=True,
            )
        answered, _ = second.communicate(timeout=30)
    finally:
        first.close()
    assert answered.strip() == "True"


def test_toast_falls_back_to_the_tray_balloon(qtbot, monkeypatch):
    """Rule: where plyer has no working backend, the toast goes to QSystemTrayIcon.showMessage."""
    tray = QSystemTrayIcon()
    shown = []
    monkeypatch.setattr(QSystemTrayIcon, "supportsMessages", staticmethod(lambda: True))
    monkeypatch.setattr(tray, "showMessage", lambda *args: shown.append(args[:2]))

    def no_backend(toast):
        raise NotImplementedError("No usable implementation found!")

    toaster = Toaster(tray, no_backend)
    # Recorded through a plain connection: a waitSignal blocker outliving the toaster (a local
    # of this test) crashes PySide6 6.12 at teardown.
    how = []
    toaster.shown.connect(lambda toast, by: how.append(by))
    toaster.show(Toast("Title", "Summary"))
    qtbot.waitUntil(lambda: bool(how))
    assert how == ["tray"] and shown == [("Title", "Summary")]


def test_screenshot_of_the_notification_center(qtbot, live_server, make_app):
    """Rule: a test run renders the notification center offscreen, to
    test-artifacts/notification-center.png (the README's copy lives in resources/screenshots)."""
    user_id, token = live_server.create_user()
    samples = [
        ("info", "Weekly report is ready", "Q4 numbers for the support team", "/reports/q4"),
        ("success", "Deploy finished: api v2.14", "All 12 instances healthy", None),
        ("warning", "Disk 85 % full on db-2", "Cleanup scheduled for 02:00", None),
        ("critical", "Payment gateway errors", "Error rate 7 % in 5 min", "/incidents/1"),
        ("info", "New comment on your request", "“Looks good, merging today”", None),
    ]
    ids = [
        live_server.send(
            user_id,
            severity=sev,
            title=title,
            summary=summary,
            body="in-app only",
            **({"target_url": url} if url else {}),
        )["results"][0]["id"]
        for sev, title, summary, url in samples
    ]
    with live_server.client(token) as client:
        client.post(f"/v1/notifications/{ids[0]}/read").raise_for_status()
    app = make_app(live_server.url, token)
    start(qtbot, app)
    qtbot.waitUntil(lambda: len(app.center.rows()) == 5)
    for older in ids[:2]:  # two from yesterday, to show the day headings
        age_in_cache(app.controller.cached(older), days=1)
    app.center.refresh()
    app.center.resize(480, 620)
    out = REPO / "test-artifacts" / "notification-center.png"
    out.parent.mkdir(parents=True, exist_ok=True)
    image = app.center.grab()
    assert image.save(str(out))
    assert out.stat().st_size > 10_000
