"""The real-time stream: the engine's events client on its own (no Qt), then in the tray."""

import sqlite3
import threading

import pytest

from desktop.sync import SyncEngine
from desktop.sync._events import sse_events
from tests.desktop.conftest import start, sync
from tests.support.waiting import wait_until


@pytest.fixture
def following(live_server, tmp_path):
    """An engine on its own cache with its event stream running on a thread; yields
    (engine, results, stream, thread)."""
    running = []

    def follow(token: str):
        engine = SyncEngine(live_server.url, token, tmp_path / f"cache{len(running)}.sqlite3")
        results = []
        stream = engine.event_stream(results.append)
        thread = threading.Thread(target=stream.run, daemon=True)
        thread.start()
        running.append((engine, stream, thread))
        return engine, results, stream, thread

    yield follow
    for engine, stream, thread in running:
        stream.stop()
        thread.join(30)
        engine.close()


def test_sse_lines_give_sync_events_and_skip_comments():
    lines = [": keepalive", "", "event: sync", "id: s1", 'data: {"changes": []}', "", ""]
    assert list(sse_events(lines)) == [("s1", {"changes": []})]


def test_events_go_through_the_sync_path_into_the_cache(live_server, following):
    """Rule: each event's page is applied as a sync page is: the cache holds it, the cursor
    moves, and the result names what is new, so toasts and badge follow the usual rules."""
    user_id, token = live_server.create_user()
    live_server.send(user_id, title="backlog")
    engine, results, _, _ = following(token)
    wait_until(lambda: results, what="the backlog event")
    assert [n["title"] for n in results[0].new] == ["backlog"]
    live_server.send(user_id, title="live", severity="critical")
    wait_until(lambda: len(results) >= 2, what="the live event")
    assert [n["title"] for n in results[1].new] == ["live"]
    assert results[1].unread == 2 == engine.unread_count()
    assert [n["title"] for n in engine.notifications()] == ["live", "backlog"]
    # the cache's cursor is where a sync would have left it: nothing more to fetch
    assert engine.sync().new == []


def test_a_reconnect_resumes_at_the_caches_cursor(live_server, following):
    """Rule: after the server ends the stream (a restart), the client comes back with
    Last-Event-ID: what was sent meanwhile arrives once, nothing twice."""
    user_id, token = live_server.create_user()
    live_server.send(user_id, title="first")
    engine, results, stream, _ = following(token)
    wait_until(lambda: results, what="the first event")
    live_server.stop()
    live_server.start()
    live_server.send(user_id, title="while away")
    wait_until(lambda: len(results) >= 2, what="the event after the reconnect")
    assert stream.connections >= 2
    titles = [n["title"] for r in results for n in r.new]
    assert titles == ["first", "while away"]
    assert [n["title"] for n in engine.notifications()] == ["while away", "first"]


def test_a_refused_token_stops_the_stream_signed_out(live_server, following):
    """Rule: a 401 ends the stream for good with a signed-out result (no retrying)."""
    user_id, token = live_server.create_user()
    live_server.send(user_id, title="x")
    _, results, _, thread = following(token)
    wait_until(lambda: results, what="the first event")
    live_server.revoke(token)
    live_server.stop()  # ends the stream at once; the reconnect meets the revoked token
    live_server.start()
    thread.join(60)
    assert not thread.is_alive()
    assert results[-1].signed_out


def test_a_cursor_the_server_cannot_have_issued_rebuilds_the_cache_and_streams_on(
    live_server, following, tmp_path
):
    """Rule: when /v1/events answers 410 resync_required (the server's database was restored
    or rebuilt), the client syncs from the beginning, which announces nothing it knew, and
    the stream goes on from the new cursor."""
    user_id, token = live_server.create_user()
    live_server.send(user_id, title="kept")
    engine = SyncEngine(live_server.url, token, tmp_path / "cache0.sqlite3")  # following's first
    assert engine.sync().online
    engine.close()
    with sqlite3.connect(tmp_path / "cache0.sqlite3") as cache:  # where a restore leaves a tray
        cache.execute("UPDATE meta SET value = ? WHERE key = 'cursor'", ["s7" + "f" * 47])
    engine, results, _, _ = following(token)
    wait_until(lambda: results, what="the sync after the refused cursor")
    assert results[0].online and results[0].new == []
    live_server.send(user_id, title="after the rebuild")
    wait_until(lambda: any(r.new for r in results), what="the event after the rebuild")
    assert [n["title"] for r in results for n in r.new] == ["after the rebuild"]
    assert [n["title"] for n in engine.notifications()] == ["after the rebuild", "kept"]


def test_stop_ends_a_quiet_stream_at_once(live_server, following):
    """Rule: stop() from another thread ends run() while it waits in a read."""
    _, token = live_server.create_user()
    _, _, stream, thread = following(token)
    wait_until(lambda: stream.connections, what="the stream to be open")
    stream.stop()
    thread.join(30)
    assert not thread.is_alive()


def test_a_send_reaches_the_badge_without_waiting_for_a_poll(qtbot, live_server, make_app):
    """Rule: while online the tray keeps a stream open: a send shows on the badge long before
    the next poll (an hour away here), and its toast comes as usual."""
    user_id, token = live_server.create_user()
    app = make_app(live_server.url, token, realtime=True, poll_seconds=3600)
    start(qtbot, app)
    qtbot.waitUntil(app.controller.live.is_open)
    qtbot.waitUntil(lambda: app.controller.live._stream.connections, timeout=20_000)
    live_server.send(user_id, title="At once")
    qtbot.waitUntil(lambda: app.tray.status.unread == 1, timeout=20_000)
    assert app.controller.scheduled_poll_ms() == 3_600_000
    qtbot.waitUntil(lambda: [t.title for t in app.toasts] == ["At once"], timeout=20_000)


def test_a_burst_by_the_stream_still_gives_one_summary_toast(qtbot, live_server, make_app):
    """Rule: sends close together give one summary toast, as they would in one sync."""
    user_id, token = live_server.create_user()
    app = make_app(live_server.url, token, realtime=True, poll_seconds=3600)
    start(qtbot, app)
    qtbot.waitUntil(app.controller.live.is_open)
    qtbot.waitUntil(lambda: app.controller.live._stream.connections, timeout=20_000)
    # The window a burst gathers in, held open until all five are in (a slow machine must
    # not split them); then it closes as it would after BURST_MS.
    app.controller.live._burst_timer.setInterval(600_000)
    with live_server.client(live_server.admin_token) as admin:
        for n in range(5):
            admin.post(
                "/v1/notifications",
                json={"user_id": user_id, "event_name": "e", "title": f"burst {n}"},
            ).raise_for_status()
    qtbot.waitUntil(lambda: app.tray.status.unread == 5, timeout=20_000)
    assert app.toasts == []
    app.controller.live._burst_timer.setInterval(0)
    qtbot.waitUntil(lambda: bool(app.toasts), timeout=20_000)
    assert [t.title for t in app.toasts] == ["5 new notifications"]


def test_signing_out_and_quitting_end_the_stream(qtbot, live_server, make_app):
    """Rule: the stream lives with the sign-in: Sign out ends its thread, and so does quit."""
    _, token = live_server.create_user()
    app = make_app(live_server.url, token, realtime=True, poll_seconds=3600)
    start(qtbot, app)
    qtbot.waitUntil(lambda: app.controller.live._thread is not None)
    first = app.controller.live._thread
    app.controller.sign_out()
    qtbot.waitUntil(lambda: not first.is_alive(), timeout=20_000)
    assert not app.controller.live.is_open()

    _, token = live_server.create_user()
    again = make_app(live_server.url, token, realtime=True, poll_seconds=3600)
    start(qtbot, again)
    qtbot.waitUntil(again.controller.live.is_open)
    qtbot.waitUntil(lambda: again.controller.live._stream.connections, timeout=20_000)
    thread = again.controller.live._thread
    again.shutdown()
    assert not thread.is_alive()


def test_with_instant_updates_off_the_tray_only_polls(qtbot, live_server, make_app):
    """Rule: the "Instant updates" setting off opens no event stream; syncs keep the tray
    current as before."""
    user_id, token = live_server.create_user()
    app = make_app(live_server.url, token, realtime=False)
    assert start(qtbot, app).online
    assert not app.controller.live.is_open()
    live_server.send(user_id, title="by poll")
    assert [n["title"] for n in sync(qtbot, app).new] == ["by poll"]
    assert not app.controller.live.is_open()
