"""Opening a notification: the center's rows, the full view, and traybell:// links, against the
real server on loopback with a real Qt event loop."""

import subprocess
import sys
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from PySide6.QtCore import Qt, QUrl
from PySide6.QtTest import QTest

from desktop.platform import url_scheme
from desktop.ui.notification_view import linkify
from desktop.ui.single_instance import SingleInstance
from shared.timefmt import day_label, exact_time
from tests.desktop.conftest import REPO, age_in_cache, start

ARTIFACTS = REPO / "test-artifacts"


def server_unread(live_server, token: str) -> int:
    with live_server.client(token) as client:
        return client.get("/v1/notifications/unread-count").json()["unread"]


def test_linkify_escapes_everything_and_links_only_http_urls():
    """Rule: a body is plain text: markup from the server is shown as text, and only http(s)
    URLs become links (closing punctuation stays outside)."""
    body = (
        "See <b>https://ci.example/run/7?a=1&b=2</b>, or (http://x.example/a). "
        '<a href="javascript:x">y</a> ftp://no'
    )
    out = linkify(body)
    assert "<b>" not in out and "&lt;b&gt;" in out
    assert '<a href="https://ci.example/run/7?a=1&amp;b=2">' in out
    assert '<a href="http://x.example/a">http://x.example/a</a>).' in out
    assert 'href="javascript' not in out and "ftp://no" in out and out.count("<a ") == 2


def test_day_label_and_exact_time():
    """Rule: the center groups by local day as "Today", "Yesterday", then dates."""
    now = datetime(2026, 12, 2, 12, 0, tzinfo=UTC).astimezone()
    assert day_label(now, now) == "Today"
    assert day_label(now - timedelta(days=1), now) == "Yesterday"
    assert day_label(now - timedelta(days=2), now) == "Monday 30 November"
    assert day_label(now - timedelta(days=400), now).endswith("2025")
    assert exact_time(now).startswith("Wed 2 Dec 2026, ")


def test_traybell_links_name_one_notification():
    """Rule: only traybell://n/<uuid> opens anything; any other link is refused as such."""
    nid = str(uuid.uuid4())
    assert url_scheme.notification_id_of(f"traybell://n/{nid}") == nid
    assert url_scheme.notification_id_of(f"TRAYBELL://n/{nid}/") == nid
    for link in (f"https://n/{nid}", "traybell://n/../../admin", f"traybell://x/{nid}", ""):
        assert url_scheme.notification_id_of(link) is None


def test_the_scheme_is_registered_for_the_user_at_start(qtbot, live_server, make_app, tmp_path):
    """Rule: at start the tray registers itself for traybell:// (Linux: a .desktop entry with
    the scheme's MimeType whose Exec passes the link on)."""
    _, token = live_server.create_user()
    app = make_app(live_server.url, token)
    start(qtbot, app)
    entry = (tmp_path / "data" / "applications" / url_scheme.DESKTOP_FILE).read_text()
    assert "MimeType=x-scheme-handler/traybell;" in entry
    assert entry.splitlines()[4].endswith(" -m desktop tray %u")


def test_the_full_view_shows_the_body_with_links_and_marks_read(
    qtbot, live_server, make_app, browser_opens
):
    """Rule: a click on a row opens its full view: title, summary, body (its links open in the
    browser), severity, the event as source, the time, all as plain text; opening it marks it
    read, on the server too; Mark unread undoes that; Open link resolves against the server."""
    user_id, token = live_server.create_user()
    live_server.send(
        user_id,
        event_name="ci.build_failed",
        severity="critical",
        title="Build 812 failed",
        summary="3 tests failed on main",
        body="Failed: test_login\nLog: https://ci.example/builds/812 (kept 7 days)",
        target_url="/builds/812",
    )
    app = make_app(live_server.url, token)
    start(qtbot, app)
    qtbot.waitUntil(lambda: len(app.center.rows()) == 1)
    app.open_center()
    row = app.center.rows()[0]
    assert row.title.textFormat() == row.summary.textFormat() == Qt.TextFormat.PlainText
    with qtbot.waitSignal(app.controller.flushed):
        QTest.mouseClick(row.title, Qt.MouseButton.LeftButton)
    view = app.view
    assert view.isVisible()
    assert view.title.text() == "Build 812 failed"
    assert view.summary.text() == "3 tests failed on main"
    assert "Failed: test_login" in view.body.toPlainText()
    assert view.severity.text() == "Critical" and view.source.text() == "ci.build_failed"
    assert " · just now" in view.time.text()
    assert server_unread(live_server, token) == 0
    assert view.read_button.text() == "Mark unread"
    view.resize(520, 420)
    ARTIFACTS.mkdir(exist_ok=True)
    assert view.grab().save(str(ARTIFACTS / "notification-view.png"))

    labels = (view.title, view.summary, view.source)
    assert all(label.textFormat() == Qt.TextFormat.PlainText for label in labels)
    view.body.anchorClicked.emit(QUrl("https://ci.example/builds/812"))
    view.body.anchorClicked.emit(QUrl("file:///etc/passwd"))  # never opened
    view.open_button.click()
    assert browser_opens.opened == [
        "https://ci.example/builds/812",
        f"{live_server.url}/builds/812",
    ]
    with qtbot.waitSignal(app.controller.flushed):
        view.read_button.click()
    assert server_unread(live_server, token) == 1
    assert view.read_button.text() == "Mark read"


def test_archive_in_the_view_closes_it_and_one_window_is_reused(qtbot, live_server, make_app):
    """Rule: the view is one window, reused for the next notification; Archive archives on
    the server and closes it."""
    user_id, token = live_server.create_user()
    live_server.send(user_id, title="First")
    live_server.send(user_id, title="Second")
    app = make_app(live_server.url, token)
    start(qtbot, app)
    first, second = (n["id"] for n in app.controller.notifications())
    app.open_notification(first)
    view = app.view
    app.open_notification(second)
    assert app.view is view and view.title.text() == "First"
    with qtbot.waitSignal(app.controller.flushed):
        view.archive_button.click()
    assert not view.isVisible()
    with live_server.client(token) as client:
        assert client.get(f"/v1/notifications/{second}").json()["archived_at"] is not None


def test_center_searches_filters_and_groups_by_day(qtbot, live_server, make_app):
    """Rule: the center groups rows under day headings, searches title, summary and body,
    filters by severity, and says why it is empty (nothing yet, nothing matching, nothing
    unread)."""
    user_id, token = live_server.create_user()
    app = make_app(live_server.url, token)
    start(qtbot, app)
    assert "No notifications yet" in app.center.empty_label.text()
    live_server.send(user_id, title="Disk full", severity="critical")
    live_server.send(user_id, title="Report", body="disk usage attached")
    live_server.send(user_id, title="Lunch", severity="success")
    start(qtbot, app)
    qtbot.waitUntil(lambda: len(app.center.rows()) == 3)
    by_title = {n["title"]: n for n in app.controller.notifications()}
    # Expected from the rows' own times ("Today", "Yesterday", a date), so no run at
    # midnight can fail it; the wording itself is test_day_label_and_exact_time's.
    today = day_label(by_title["Lunch"]["created_at"])
    assert app.center.headings() == [today]
    yesterday = day_label(age_in_cache(by_title["Report"], days=1))
    three_days_ago = day_label(age_in_cache(by_title["Disk full"], days=3))
    app.center.refresh()
    assert app.center.headings() == [today, yesterday, three_days_ago]
    assert [r.title.text() for r in app.center.rows()] == ["Lunch", "Report", "Disk full"]

    app.center.search.setText("DISK")
    qtbot.waitUntil(lambda: len(app.center.rows()) == 2)
    assert [r.title.text() for r in app.center.rows()] == ["Report", "Disk full"]
    app.center.severity.setCurrentIndex(app.center.severity.findData("critical"))
    assert [r.title.text() for r in app.center.rows()] == ["Disk full"]
    app.center.search.setText("no such thing")
    qtbot.waitUntil(lambda: not app.center.rows())
    assert "Nothing matches this search or filter" in app.center.empty_label.text()
    assert app.center.empty_label.isVisibleTo(app.center)
    app.center.search.clear()
    app.center.severity.setCurrentIndex(0)
    app.controller.mark_all_read()
    app.center.unread_only.setChecked(True)
    qtbot.waitUntil(lambda: not app.center.rows())
    assert "Nothing unread" in app.center.empty_label.text()


def test_center_keyboard_arrows_move_enter_opens_escape_closes(qtbot, live_server, make_app):
    """Rule: in the center the arrow keys move between rows (over the day headings), Enter
    opens the current one, Esc closes the view and then the center."""
    user_id, token = live_server.create_user()
    for title in ("Older", "Newer"):
        live_server.send(user_id, title=title)
    app = make_app(live_server.url, token)
    start(qtbot, app)
    qtbot.waitUntil(lambda: len(app.center.rows()) == 2)
    app.open_center()
    center = app.center
    assert center.list.itemWidget(center.list.currentItem()).title.text() == "Newer"
    QTest.keyClick(center.list, Qt.Key.Key_Down)
    assert center.list.itemWidget(center.list.currentItem()).title.text() == "Older"
    QTest.keyClick(center.list, Qt.Key.Key_Up)
    QTest.keyClick(center.list, Qt.Key.Key_Up)  # the heading is skipped: stays on "Newer"
    assert center.list.itemWidget(center.list.currentItem()).title.text() == "Newer"
    QTest.keyClick(center.list, Qt.Key.Key_Return)
    assert app.view.isVisible() and app.view.title.text() == "Newer"
    QTest.keyClick(app.view.body, Qt.Key.Key_Escape)
    assert not app.view.isVisible()
    QTest.keyClick(center.list, Qt.Key.Key_Escape)
    assert not center.isVisible()


def test_exact_time_on_hover(qtbot, live_server, make_app):
    """Rule: a row's tooltip gives the exact time, as its age is relative."""
    user_id, token = live_server.create_user()
    sent = live_server.send(user_id, title="When?")["results"][0]
    app = make_app(live_server.url, token)
    start(qtbot, app)
    qtbot.waitUntil(lambda: len(app.center.rows()) == 1)
    created = app.controller.cached(sent["id"])["created_at"]
    assert app.center.rows()[0].toolTip() == exact_time(created)


_SECOND_LAUNCH = [sys.executable, "-m", "desktop", "tray"]


def test_a_link_handed_to_a_second_launch_opens_the_view_in_the_first(
    qtbot, live_server, make_app, private_home
):
    """Rule: `traybell tray traybell://n/<id>` in a second launch hands the link to the tray
    already running, which opens the view (fetching one not cached yet, saying so for an
    unknown id), and the second launch exits at once."""
    user_id, token = live_server.create_user()
    app = make_app(live_server.url, token)
    start(qtbot, app)
    nid = live_server.send(user_id, title="Sent after the last poll", body="the full text")[
        "results"
    ][0]["id"]
    first = SingleInstance()
    assert first.listen()
    first.open_requested.connect(app.open_link)  # as desktop.ui.app.main wires it
    try:
        with qtbot.waitSignal(first.open_requested, timeout=20_000):
            second = subprocess.Popen(
                [*_SECOND_LAUNCH, f"traybell://n/{nid}"],
                cwd=REPO,
                stdout=subprocess.PIPE,
                text=True,
            )
        out, _ = second.communicate(timeout=30)
        assert second.returncode == 0 and "already running" in out
        qtbot.waitUntil(lambda: app.view.isVisible() and app.view.notification is not None)
        assert app.view.title.text() == "Sent after the last poll"
        assert "the full text" in app.view.body.toPlainText()
        qtbot.waitUntil(lambda: server_unread(live_server, token) == 0)

        with qtbot.waitSignal(first.open_requested, timeout=20_000):
            subprocess.run([*_SECOND_LAUNCH, f"traybell://n/{uuid.uuid4()}"], cwd=REPO, timeout=30)
        qtbot.waitUntil(lambda: "does not exist" in app.view.message.text())
        assert app.view.notification is None
    finally:
        first.close()


@pytest.fixture
def balloon_only(monkeypatch):
    """Toasts that can only fall back to the tray balloon (no native backend)."""
    from PySide6.QtWidgets import QSystemTrayIcon

    from desktop.ui.toaster import NoToastBackend

    monkeypatch.setattr(QSystemTrayIcon, "supportsMessages", staticmethod(lambda: True))

    def no_native_toasts(toast):
        raise NoToastBackend("none here")

    return no_native_toasts


def test_a_click_on_the_tray_balloon_opens_the_view(qtbot, live_server, make_app, balloon_only):
    """Rule: where the toast falls back to the tray balloon, a click on it (messageClicked)
    opens that notification's view."""
    user_id, token = live_server.create_user()
    app = make_app(live_server.url, token, notify=balloon_only)
    start(qtbot, app)
    live_server.send(user_id, title="Certificate expires in 3 days", body="renew it")
    # By the event stream or by this sync, whichever brings it first: one toast either way.
    with qtbot.waitSignal(app.controller.toaster.shown) as shown:
        app.controller.sync_now()
    assert shown.args[1] == "tray"
    app.tray.tray.messageClicked.emit()  # what Qt emits for a click on the balloon
    assert app.view.isVisible() and app.view.title.text() == "Certificate expires in 3 days"


def test_a_click_on_a_summary_balloon_opens_the_center(qtbot, live_server, make_app, balloon_only):
    """Rule: a click on the summary toast of a catch-up ("5 new notifications") opens the
    center, not one of the five."""
    user_id, token = live_server.create_user()
    for i in range(5):
        live_server.send(user_id, title=f"Burst {i}")
    app = make_app(live_server.url, token, notify=balloon_only)
    with qtbot.waitSignal(app.controller.toaster.shown, timeout=20_000) as shown:
        start(qtbot, app)  # the launch's catch-up finds all five at once
    assert shown.args[0].title == "5 new notifications"
    app.center.close()  # offscreen there is no tray, so the center opened at start
    app.tray.tray.messageClicked.emit()
    assert app.center.isVisible()
    assert not app.view.isVisible()


def test_signing_out_closes_the_view(qtbot, live_server, make_app):
    """Rule (privacy): after Sign out nothing of that account stays on screen: the open view
    closes and forgets its notification."""
    user_id, token = live_server.create_user()
    nid = live_server.send(user_id, title="Salary review", body="private")["results"][0]["id"]
    app = make_app(live_server.url, token)
    start(qtbot, app)
    app.open_notification(nid)
    assert app.view.isVisible()
    with qtbot.waitSignal(app.controller.signed_out):
        app.controller.sign_out()
    assert not app.view.isVisible() and app.view.notification is None


@pytest.mark.skipif(sys.platform != "win32", reason="the registry is Windows'")
def test_the_scheme_is_registered_in_the_users_registry_on_windows():
    """Rule: on Windows the tray registers traybell:// under HKCU\\Software\\Classes, its open
    command passing the link on."""
    import winreg

    root = r"Software\Classes\traybell"
    url_scheme.register()
    try:
        with winreg.OpenKey(winreg.HKEY_CURRENT_USER, root) as key:
            assert winreg.QueryValueEx(key, "URL Protocol")[0] == ""
        with winreg.OpenKey(winreg.HKEY_CURRENT_USER, root + r"\shell\open\command") as key:
            assert winreg.QueryValueEx(key, "")[0].endswith(' tray "%1"')
    finally:
        for sub in (r"\shell\open\command", r"\shell\open", r"\shell", ""):
            winreg.DeleteKey(winreg.HKEY_CURRENT_USER, root + sub)


def test_rows_and_the_full_view_say_which_team_it_was_sent_to(qtbot, live_server, make_app):
    """Rule: a notification sent to a team shows "to <team>" on its row and in its full view;
    one sent to the user alone shows no audience."""
    user_id, token = live_server.create_user()
    with live_server.client(live_server.admin_token) as admin:
        admin.post("/v1/admin/teams", json={"team_id": "payments"}).raise_for_status()
        admin.put(f"/v1/admin/teams/payments/members/{user_id}").raise_for_status()
        admin.post(
            "/v1/notifications",
            json={"to": ["team:payments"], "event_name": "invoice.run", "title": "Invoices"},
        ).raise_for_status()
    live_server.send(user_id, title="Just for you")
    app = make_app(live_server.url, token)
    start(qtbot, app)
    qtbot.waitUntil(lambda: len(app.center.rows()) == 2)
    rows = {row.notification["title"]: row for row in app.center.rows()}
    assert rows["Invoices"].age.text().startswith("to payments · ")
    assert "to " not in rows["Just for you"].age.text()
    app.show_notification(rows["Invoices"].notification)
    assert app.view.source.text() == "to payments · invoice.run"


def test_the_full_view_snoozes_and_the_center_shows_snoozed_apart(qtbot, live_server, make_app):
    """Rule: the full view offers "Snooze 1 hour" and "Snooze until tomorrow 09:00" (through
    the controller, off the GUI thread); the server has it snoozed, the view says until when
    and hides the snoozes, and the center lists it under "Snoozed", apart from the days."""
    user_id, token = live_server.create_user()
    live_server.send(user_id, title="Call the lab back", summary="Results are in")
    live_server.send(user_id, title="Backup finished")
    app = make_app(live_server.url, token)
    start(qtbot, app)
    call = next(n for n in app.controller.notifications() if n["title"] == "Call the lab back")
    app.open_notification(call["id"])
    view = app.view
    assert [b.text() for b in view.snooze_buttons.values()] == [
        "Snooze 1 hour",
        "Snooze until tomorrow 09:00",
    ]
    assert all(b.isVisible() for b in view.snooze_buttons.values())
    view.grab().save(str(ARTIFACTS / "tray-view-snooze.png"))
    view.snooze_buttons["hour"].click()
    qtbot.waitUntil(lambda: view.notice.text().startswith("Snoozed until"), timeout=20_000)
    assert not any(b.isVisible() for b in view.snooze_buttons.values())
    with live_server.client(token) as client:
        snoozed = client.get(f"/v1/notifications/{call['id']}").json()
    assert snoozed["snoozed_until"] is not None and snoozed["read_at"] is not None
    app.center.refresh()
    assert app.center.headings()[0] == "Snoozed"
    assert app.center.rows()[0].title.text() == "Call the lab back"
