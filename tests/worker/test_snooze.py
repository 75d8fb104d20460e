"""Snooze through the whole path: the API snoozes, a worker wakes it at its time as a sync
change, and the tray's sync engine sees it come back as new (so the tray toasts it again)."""

from datetime import UTC, datetime, timedelta

from desktop.sync import SyncEngine
from tests.support.db import db_value
from tests.support.waiting import wait_until


def test_a_snoozed_notification_comes_back_unread_and_new_to_the_sync_engine(
    live_server, database_url, start_worker, tmp_path
):
    """Snoozed: read, not new, on every sync meanwhile. At its time the worker makes it unread
    again with snoozed_until null, at a new sync version: the engine's next sync has it in
    `result.new` and counts it unread. (The shortest snooze is a minute: the test then moves
    its end to the database's present, as the clock would.)"""
    user, token = live_server.create_user()
    nid = live_server.send(user, title="Call the lab back")["results"][0]["id"]
    engine = SyncEngine(server_url=live_server.url, token=token, cache_path=tmp_path / "c.db")
    assert [n["id"] for n in engine.sync().new] == [nid]

    until = (datetime.now(UTC) + timedelta(minutes=5)).isoformat()
    with live_server.client(token) as client:
        reply = client.post(f"/v1/notifications/{nid}/snooze", json={"until": until})
    assert reply.status_code == 200
    snoozed = engine.sync()
    assert snoozed.new == [] and snoozed.unread == 0
    [cached] = engine.notifications()
    assert cached["snoozed_until"] is not None and cached["read_at"] is not None

    start_worker()
    assert engine.sync().new == []  # not before its time
    db_value(database_url, "UPDATE notifications SET snoozed_until = now() RETURNING 1")
    back = wait_until(lambda: engine.sync().new, 30, "the notification back from snooze")
    assert [n["id"] for n in back] == [nid]
    assert back[0]["read_at"] is None and back[0]["snoozed_until"] is None
    assert engine.unread_count() == 1
    assert engine.sync().new == []  # new once
