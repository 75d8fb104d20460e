"""The tray's sign-in window and Sign out, under pytest-qt against a real server."""

import json
import os
from pathlib import Path

import pytest

from desktop.platform import credentials
from desktop.settings import Settings
from tests.desktop.conftest import REPO, start, sync
from tests.support.live import LiveServer
from tests.support.login import decide, person, revoke_on_the_web

ARTIFACTS = REPO / "test-artifacts"


@pytest.fixture
def live_server(database_url: str):
    """Its device sign-in addresses lead back to it, as a real deployment's do."""
    server = LiveServer(database_url, links_home=True)
    yield server
    server.stop()


def server_unread(live_server: LiveServer, token: str) -> int:
    with live_server.client(token) as client:
        return client.get("/v1/notifications/unread-count").json()["unread"]


def save_shot(widget, name: str) -> Path:
    out = ARTIFACTS / name
    out.parent.mkdir(parents=True, exist_ok=True)
    assert widget.grab().save(str(out))
    return out


def test_browser_sign_in_waits_then_closes_and_the_badge_shows_the_servers_count(
    qtbot, live_server, make_app, browser_opens, private_home
):
    """Rule: with no sign-in the tray opens its sign-in window; "Sign in with your browser"
    shows the code and what will happen in the browser, opens the approval page and waits off
    the GUI thread (the test approves
    from that thread meanwhile) and off the sync's thread; once approved, the window closes,
    the token is stored for the server, and the badge shows the server's unread count."""
    user = person(live_server)
    for title in ("Welcome aboard", "Your laptop is ready"):
        live_server.send(user, title=title)
    app = make_app(live_server.url, None)
    app.start(watch_network=False)
    window = app.sign_in_window
    assert window is not None and window.isVisible()
    assert app.tray.status.icon_state == "signedout"

    window.browser_button.click()
    qtbot.waitUntil(window.waiting_for_approval)
    code = window.code.text()
    assert browser_opens.opened == [f"{live_server.url}/device?code={code}"]
    assert "sign in there if it asks" in window.instructions.text()  # says what will happen
    assert not app.controller.runner.busy()  # the sync's one thread stays free
    window.resize(460, window.sizeHint().height())
    save_shot(window, "sign-in-waiting.png")

    with qtbot.waitSignal(app.controller.synced, timeout=30_000) as synced:
        decide(live_server, user, code)
    assert synced.args[0].online
    assert not window.isVisible()
    token = credentials.load_token(live_server.url)
    assert token and server_unread(live_server, token) == 2
    assert app.tray.status.icon_state == "normal" and app.tray.status.unread == 2
    assert Settings.load().server_url == live_server.url
    app.open_center()
    qtbot.waitUntil(lambda: len(app.center.rows()) == 2)
    app.center.resize(480, 360)
    save_shot(app.center, "signed-in-center.png")


def test_a_pasted_token_signs_in_and_a_revoke_on_the_web_signs_out_on_the_next_sync(
    qtbot, live_server, make_app
):
    """Rule: "Use a token instead" signs in with a pasted token once the server accepts it;
    when that token is revoked on the web settings page, the next sync puts the tray in its
    signed-out state: the sign-in window is back, saying why, and the token and the cached
    notifications are gone from this computer."""
    user = person(live_server)
    with live_server.client(live_server.admin_token) as admin:
        issued = admin.post(f"/v1/admin/users/{user}/tokens").json()
    live_server.send(user, title="Private to the last person")
    app = make_app(live_server.url, None)
    app.start(watch_network=False)
    window = app.sign_in_window
    window.token_toggle.click()
    window.token.setText("tb_not-a-real-token")
    window.token_button.click()
    qtbot.waitUntil(lambda: not window.error.isHidden())
    assert "does not accept" in window.error.text() and not app.controller.signed_in()

    window.token.setText(issued["token"])
    with qtbot.waitSignal(app.controller.synced):
        window.token_button.click()
    assert not window.isVisible() and app.tray.status.unread == 1

    revoke_on_the_web(live_server, user, issued["token_id"])
    with qtbot.waitSignal(app.controller.signed_out) as signed_out:
        result = sync(qtbot, app)
    assert result.signed_out and signed_out.args == ["refused"]
    assert window.isVisible() and "no longer accepts" in window.note.text()
    assert app.tray.status.icon_state == "signedout" and app.tray.status.unread == 0
    assert app.center.rows() == []
    assert credentials.load_token(live_server.url) is None
    app.tray.rebuild_menu()
    assert app.tray.action("Sign in…") is not None


def test_sign_out_revokes_the_trays_own_token_forgets_it_and_empties_the_cache(
    qtbot, live_server, make_app
):
    """Rule: Sign out in the menu revokes the tray's own token on the server (its id learnt
    from GET /v1/me), forgets it here and empties the cache, so the next person at this
    computer sees nothing of the last; then the sign-in window opens."""
    user, token = live_server.create_user()
    live_server.send(user, title="Salary review moved")
    credentials.store_token(live_server.url, token)
    app = make_app(live_server.url, None)
    start(qtbot, app)
    qtbot.waitUntil(lambda: len(app.center.rows()) == 1)
    app.tray.rebuild_menu()
    with qtbot.waitSignal(app.controller.signed_out) as signed_out:
        app.tray.action("Sign out").trigger()
    assert signed_out.args == ["signed_out"]
    with live_server.client(token) as revoked:
        assert revoked.get("/v1/me").status_code == 401
    assert credentials.load_token(live_server.url) is None
    assert app.center.rows() == [] and app.tray.status.unread == 0
    assert app.sign_in_window is not None and app.sign_in_window.isVisible()
    # A later start finds nothing of it either: the cache file is empty.
    again = make_app(live_server.url, token)
    assert again.controller.notifications() == []


def test_closing_the_window_ends_the_wait_at_once(qtbot, live_server, make_app, browser_opens):
    """Rule: nothing polls behind a window nobody sees: closing it while it waits ends the
    wait, and its thread is free again without waiting out a poll interval."""
    app = make_app(live_server.url, None)
    app.start(watch_network=False)
    window = app.sign_in_window
    window.browser_button.click()
    qtbot.waitUntil(window.waiting_for_approval)
    window.close()
    qtbot.waitUntil(lambda: not window.busy())
    assert not window.isVisible() and not window.waiting_for_approval()


def test_the_server_is_prefilled_from_the_preset_and_read_only_when_locked(qtbot, live_server):
    """Rule: the sign-in window's server address comes from the tray's settings, else
    TRAYBELL_SERVER, else IT's preset file; one IT locked cannot be edited there."""
    from desktop.ui.sign_in import SignInWindow

    preset = Path(os.environ["TRAYBELL_PRESET_FILE"])
    preset.parent.mkdir(parents=True, exist_ok=True)
    preset.write_text(json.dumps({"server": live_server.url, "locked": ["server"]}))
    window = SignInWindow(Settings.load())
    qtbot.addWidget(window)
    assert window.server.text() == live_server.url and window.server.isReadOnly()
