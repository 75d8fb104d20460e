"""The tray client as a whole, offscreen with pytest-qt, against the real server on loopback."""

import time

from PySide6.QtCore import QTimer

from desktop.clock import Clock
from desktop.files import cache_path
from desktop.sync import SyncEngine
from tests.desktop.conftest import REPO, start, sync


def server_unread(live_server, token: str) -> int:
    with live_server.client(token) as client:
        return client.get("/v1/notifications/unread-count").json()["unread"]


def test_badge_and_center_show_the_servers_unread_count(qtbot, live_server, make_app):
    """Rule: after a sync, the tray badge and the center show the server's unread count."""
    user_id, token = live_server.create_user()
    for i in range(3):
        live_server.send(user_id, title=f"Build {i} finished", summary=f"run {i}")
    app = make_app(live_server.url, token)
    start(qtbot, app)
    assert app.tray.status.unread == 3 == server_unread(live_server, token)
    assert app.tray.status.icon_state == "normal"
    assert app.tray.tray.toolTip().startswith("Traybell: 3 unread")
    assert app.center.unread_label.text() == "3 unread"
    qtbot.waitUntil(lambda: len(app.center.rows()) == 3)  # the center refreshes queued
    assert [row.title.text() for row in app.center.rows()] == [
        "Build 2 finished",
        "Build 1 finished",
        "Build 0 finished",
    ]
    assert app.center.status_label.text().startswith("Online")


def test_mark_read_in_the_center_reaches_the_server(qtbot, live_server, make_app):
    """Rule: Mark read in the center changes the cache at once and reaches the server."""
    user_id, token = live_server.create_user()
    live_server.send(user_id, title="Read me")
    live_server.send(user_id, title="Leave me")
    app = make_app(live_server.url, token)
    start(qtbot, app)
    qtbot.waitUntil(lambda: len(app.center.rows()) == 2)
    row = next(r for r in app.center.rows() if r.title.text() == "Read me")
    with qtbot.waitSignal(app.controller.flushed) as flushed:
        row.mark_read_button.click()
    assert flushed.args[0].online
    assert app.tray.status.unread == 1
    assert server_unread(live_server, token) == 1
    qtbot.waitUntil(lambda: app.center.unread_label.text() == "1 unread")


def test_read_on_another_client_clears_the_badge_on_the_next_poll(qtbot, live_server, make_app):
    """Rule: a read mark made on another device clears the badge here on the next poll, and the
    poll is scheduled by the app itself."""
    user_id, token = live_server.create_user()
    nid = live_server.send(user_id, title="Seen on the phone")["results"][0]["id"]
    app = make_app(live_server.url, token, poll_seconds=10)
    start(qtbot, app)
    assert app.tray.status.unread == 1
    assert app.controller.scheduled_poll_ms() == 10_000
    with live_server.client(token) as phone:
        phone.post(f"/v1/notifications/{nid}/read").raise_for_status()
    with qtbot.waitSignal(app.controller.synced, timeout=30_000):
        pass  # the app's own poll timer fires this sync
    assert app.tray.status.unread == 0
    assert app.tray.tray.toolTip().startswith("Traybell: No unread")


def test_offline_center_shows_the_cache_and_the_outbox_survives_a_restart(
    qtbot, live_server, make_app
):
    """Rule: with the server stopped the center shows the cache and says offline; a mark read
    waits in the outbox and reaches the server once it is back, also across a client restart."""
    user_id, token = live_server.create_user()
    live_server.send(user_id, title="Cached one")
    live_server.send(user_id, title="Cached two")
    app = make_app(live_server.url, token)
    start(qtbot, app)
    live_server.stop()
    result = sync(qtbot, app)
    assert not result.online
    assert app.tray.status.icon_state == "offline"
    assert app.center.status_label.text().startswith("Offline since")
    qtbot.waitUntil(lambda: len(app.center.rows()) == 2)
    assert {r.title.text() for r in app.center.rows()} == {"Cached one", "Cached two"}
    row = next(r for r in app.center.rows() if r.title.text() == "Cached one")
    with qtbot.waitSignal(app.controller.flushed) as flushed:
        row.mark_read_button.click()
    assert not flushed.args[0].online
    assert app.controller.status().pending == 1
    assert app.tray.status.unread == 1
    assert "1 change waiting" in app.center.status_label.text()

    app.controller.shutdown()  # the client quits while offline ...
    live_server.start()
    again = make_app(live_server.url, token)  # ... and starts again with the same cache
    assert again.controller.status().pending == 1
    result = start(qtbot, again)
    assert result.online
    assert again.controller.status().pending == 0
    assert server_unread(live_server, token) == 1
    assert again.tray.status.unread == 1


def test_revoked_token_shows_the_signed_out_state(qtbot, live_server, make_app):
    """Rule: a token the server refuses (401) shows a signed-out state, not an error or a crash,
    and the client stops polling with it."""
    _, token = live_server.create_user()
    app = make_app(live_server.url, token)
    start(qtbot, app)
    live_server.revoke(token)
    result = sync(qtbot, app)
    assert result.signed_out
    assert app.tray.status.icon_state == "signedout"
    assert app.center.status_label.text().startswith("Signed out")
    assert app.controller.scheduled_poll_ms() is None


def test_ten_new_after_an_offline_spell_give_one_summary_toast(qtbot, live_server, make_app):
    """Rule: a catch-up of more than 3 new notifications gives one summary toast, not one each;
    a single new one gives a toast of its title and summary only."""
    user_id, token = live_server.create_user()
    app = make_app(live_server.url, token)
    start(qtbot, app)
    live_server.stop()
    assert not sync(qtbot, app).online
    live_server.start()
    for i in range(10):
        live_server.send(user_id, title=f"Alert {i}", summary="disk", body="secret body")
    result = sync(qtbot, app)
    assert result.online and len(result.new) == 10
    qtbot.waitUntil(lambda: not app.controller.toaster.busy())
    assert [(t.title, t.message) for t in app.toasts] == [
        ("10 new notifications", "Open Traybell to read them")
    ]

    live_server.send(user_id, title="One more", summary="just one", body="secret body")
    sync(qtbot, app)
    qtbot.waitUntil(lambda: not app.controller.toaster.busy())
    assert [(t.title, t.message) for t in app.toasts[1:]] == [("One more", "just one")]


def test_no_toasts_while_paused(qtbot, live_server, make_app):
    """Rule: no toast while notifications are paused from the tray menu; the menu offers to
    resume instead (it is rebuilt each time it opens)."""
    user_id, token = live_server.create_user()
    app = make_app(live_server.url, token)
    start(qtbot, app)
    app.tray.menu.aboutToShow.emit()
    app.tray.action("Pause notifications for 1 hour").trigger()
    app.tray.menu.aboutToShow.emit()
    assert app.tray.action("Resume notifications").isEnabled()
    assert app.tray.status.icon_state == "paused"
    live_server.send(user_id, title="Quiet please")
    assert len(sync(qtbot, app).new) == 1
    qtbot.waitUntil(lambda: not app.controller.toaster.busy())
    assert app.toasts == []


def test_gui_thread_keeps_turning_while_the_server_holds_its_answer(
    qtbot, live_server, delaying_proxy, make_app
):
    """Rule: the network never runs on the GUI thread: while the server's answer is held back,
    the event loop keeps turning and the window keeps painting."""
    user_id, token = live_server.create_user()
    live_server.send(user_id, title="Slow one")
    delaying_proxy.hold()
    app = make_app(delaying_proxy.url, token)
    ticks: list[int] = []
    timer = QTimer(interval=100, timeout=lambda: ticks.append(1))
    timer.start()
    app.start(watch_network=False)
    qtbot.waitUntil(delaying_proxy.holding.is_set, timeout=10_000)
    # Twenty 100 ms ticks while the answer is held: about two seconds of a live event loop.
    qtbot.waitUntil(lambda: len(ticks) >= 20, timeout=20_000)
    assert not app.center.grab().isNull()
    assert app.controller.status().online is None, "the sync must still be waiting"
    with qtbot.waitSignal(app.controller.synced, timeout=20_000) as synced:
        delaying_proxy.release()
    timer.stop()
    assert synced.args[0].online and app.tray.status.unread == 1


def test_wake_from_sleep_syncs_at_once(qtbot, live_server, make_app):
    """Rule: after a jump of the wall clock between timer ticks (the machine slept), sync at once
    instead of waiting for the next poll."""
    user_id, token = live_server.create_user()
    slept = [0.0]
    clock = Clock(wall=lambda: time.time() + slept[0])
    app = make_app(live_server.url, token, poll_seconds=3600, clock=clock)
    start(qtbot, app)
    live_server.send(user_id, title="Sent while asleep")
    slept[0] = 3 * 3600  # three hours passed; monotonic did not move
    with qtbot.waitSignal(app.controller.synced) as synced:
        app.controller.scheduler.check_heartbeat()
    assert [n["title"] for n in synced.args[0].new] == ["Sent while asleep"]


def test_back_off_while_the_server_stays_away(qtbot, live_server, make_app):
    """Rule: while the server stays away, the retry delay grows (back-off) up to a cap."""
    _, token = live_server.create_user()
    app = make_app(live_server.url, token, poll_seconds=60)
    start(qtbot, app)
    assert app.controller.scheduled_poll_ms() == 60_000
    live_server.stop()
    delays = []
    for _ in range(4):
        sync(qtbot, app)
        delays.append(app.controller.scheduled_poll_ms())
    assert delays == [5_000, 10_000, 20_000, 40_000]
    live_server.start()
    sync(qtbot, app)
    assert app.controller.scheduled_poll_ms() == 60_000


def test_the_cache_is_the_one_under_traybell_home(live_server, private_home):
    """Rule: the tray's cache lives under TRAYBELL_HOME, shared with `tray --once`."""
    _, token = live_server.create_user()
    SyncEngine(live_server.url, token, cache_path()).close()
    assert cache_path().parent == private_home and cache_path().exists()


def test_open_link_resolves_against_the_server_and_marks_read(
    qtbot, live_server, make_app, browser_opens
):
    """Rule: Open link opens target_url in the browser (a path taken relative to the server)
    and marks the notification read."""
    user_id, token = live_server.create_user()
    live_server.send(user_id, title="Incident", target_url="/incidents/7")
    app = make_app(live_server.url, token)
    start(qtbot, app)
    qtbot.waitUntil(lambda: len(app.center.rows()) == 1)
    with qtbot.waitSignal(app.controller.flushed):
        app.center.rows()[0].open_button.click()
    assert browser_opens.opened == [f"{live_server.url}/incidents/7"]
    assert server_unread(live_server, token) == 0


def test_settings_dialog_names_the_token_store_and_edits_server_preferences(
    qtbot, live_server, make_app, private_home
):
    """Rule: the settings dialog says where the token is kept (here the user-only file, as the
    tests have no keyring) but has no token field (signing in is the sign-in window's), keeps
    the sign-in when saved, and changes the server-side preferences through the API."""
    from PySide6.QtWidgets import QLineEdit

    _, token = live_server.create_user()
    app = make_app(live_server.url, token)
    start(qtbot, app)
    app.open_settings()
    dialog = app.settings_dialog
    assert "a file only you can read" in dialog.token_store.text()
    fields = dialog.findChildren(QLineEdit)
    assert fields and all(f.echoMode() == QLineEdit.EchoMode.Normal for f in fields)
    qtbot.waitUntil(dialog.remote.isEnabled)  # preferences arrived from the server
    dialog.quiet.setChecked(True)
    dialog.quiet_zone.setText("Europe/Berlin")
    dialog.poll.setValue(120)
    with qtbot.waitSignal(app.controller.synced) as synced:  # a fresh engine syncs at once
        dialog.save()
    assert synced.args[0].online

    def server_quiet_hours():
        with live_server.client(token) as client:
            return client.get("/v1/preferences").json()["quiet_hours"]

    qtbot.waitUntil(lambda: server_quiet_hours() is not None)
    assert server_quiet_hours()["timezone"] == "Europe/Berlin"
    assert app.settings.poll_seconds == 120
    assert token not in (private_home / "desktop-settings.json").read_text()


def test_settings_dialog_shows_topics_with_switches_and_joins_open_ones(
    qtbot, live_server, make_app, private_home
):
    """Rule: the tray's settings list the user's topics (followed, through a team, received)
    and the open ones to join, with a switch per channel; Join and Leave act at once, and a
    changed switch is saved as that topic's override on the server. A screenshot goes to
    test-artifacts/tray-settings-topics.png."""
    user_id, token = live_server.create_user()
    with live_server.client(live_server.admin_token) as admin:
        admin.post("/v1/admin/teams", json={"team_id": "payments"}).raise_for_status()
        admin.put(f"/v1/admin/teams/payments/members/{user_id}").raise_for_status()
        admin.put(
            "/v1/admin/topics/billing", json={"description": "Card failures", "open": False}
        ).raise_for_status()
        admin.put("/v1/admin/topics/billing/teams/payments").raise_for_status()
        admin.put(
            "/v1/admin/topics/deploys", json={"description": "Production deploys", "open": True}
        ).raise_for_status()
    live_server.send(user_id, title="Nightly build green", topic="builds")
    app = make_app(live_server.url, token)
    start(qtbot, app)
    qtbot.waitUntil(lambda: len(app.center.rows()) == 1)
    app.open_settings()
    dialog = app.settings_dialog
    qtbot.waitUntil(dialog.topics_box.isEnabled)
    assert sorted(dialog.topic_switches) == ["billing", "builds", "deploys"]
    assert dialog.topic_buttons["deploys"].text() == "Join"
    assert "billing" not in dialog.topic_buttons  # through a team: only an admin ends it
    dialog.topic_buttons["deploys"].click()
    qtbot.waitUntil(
        lambda: (
            dialog.topic_buttons.get("deploys") is not None
            and dialog.topic_buttons["deploys"].text() == "Leave"
        )
    )
    email = dialog.topic_switches["billing"]["email"]
    email.setCurrentIndex(email.findData(True))
    muted = dialog.topic_switches["builds"]["in_app"]
    muted.setCurrentIndex(muted.findData(False))
    out = REPO / "test-artifacts" / "tray-settings-topics.png"
    out.parent.mkdir(parents=True, exist_ok=True)
    assert dialog.grab().save(str(out))
    dialog.save()

    def server_topics():
        with live_server.client(token) as client:
            return client.get("/v1/preferences").json()["topics"]

    qtbot.waitUntil(lambda: server_topics() != {})
    assert server_topics() == {
        "billing": {"in_app": None, "email": True, "push": None},
        "builds": {"in_app": False, "email": None, "push": None},
    }
    with live_server.client(token) as client:
        deploys = [t for t in client.get("/v1/topics").json()["topics"] if t["topic"] == "deploys"]
    assert deploys[0]["subscribed"] is True


def test_the_tray_gives_a_user_without_a_time_zone_this_computers_and_shows_it(
    qtbot, live_server, make_app
):
    """Rule: signed in, the tray sets the user's `timezone` from the system when they have
    none (never over one they chose), and the settings dialog shows it."""
    from desktop.ui.controller import local_zone

    _, token = live_server.create_user()
    _, chosen_token = live_server.create_user(timezone="Asia/Kolkata")

    def server_zone(user_token: str) -> str | None:
        with live_server.client(user_token) as client:
            return client.get("/v1/preferences").json()["timezone"]

    app = make_app(live_server.url, token)
    start(qtbot, app)
    qtbot.waitUntil(lambda: server_zone(token) == local_zone(), timeout=20_000)
    app.open_settings()
    qtbot.waitUntil(app.settings_dialog.remote.isEnabled)
    assert app.settings_dialog.timezone.text() == local_zone()

    other = make_app(live_server.url, chosen_token)
    start(qtbot, other)
    with qtbot.waitSignal(other.controller.synced):
        other.controller.sync_now()
    assert server_zone(chosen_token) == "Asia/Kolkata"
