"""Offline catch-up at scale: the cache equals the server after reconnect, and a replayed page
adds nothing."""

import sqlite3
from concurrent.futures import ThreadPoolExecutor

import pytest

from desktop.sync import SyncEngine


def _server_state(client) -> dict[str, bool]:
    """id -> read, for every non-archived notification of the caller, from the server."""
    state, before = {}, None
    while True:
        params = {"limit": 200} | ({"before": before} if before else {})
        page = client.get("/v1/notifications", params=params).json()
        state.update({n["id"]: n["read_at"] is not None for n in page["notifications"]})
        before = page["next_before"]
        if before is None:
            return state


@pytest.mark.timeout(300)
def test_five_thousand_arrive_offline_and_three_hundred_are_read_elsewhere(live_server, tmp_path):
    """After an offline spell with 5,000 arrivals and 300 reads on another device, one sync
    leaves the cache equal to the server (unread count and read marks); replaying every page
    again from the older cursor creates no duplicate and announces nothing new."""
    user, token = live_server.create_user()
    cache = tmp_path / "cache.sqlite3"
    engine = SyncEngine(server_url=live_server.url, token=token, cache_path=cache)
    live_server.send(user, title="before going offline")
    assert engine.sync().online
    engine.close()
    with sqlite3.connect(cache) as db:  # the cursor of the client that went away
        [(old_cursor,)] = db.execute("SELECT value FROM meta WHERE key = 'cursor'").fetchall()

    with live_server.client(live_server.admin_token) as admin:

        def send(n: int) -> str:
            body = {"user_id": user, "event_name": "offline.arrival", "title": f"n{n}"}
            return admin.post("/v1/notifications", json=body).json()["results"][0]["id"]

        with ThreadPoolExecutor(max_workers=8) as pool:
            arrived = list(pool.map(send, range(5000)))
    with live_server.client(token) as other_device:
        for start in range(0, 300, 100):
            chunk = arrived[start : start + 100]
            assert other_device.post("/v1/notifications/read", json={"ids": chunk}).json() == {
                "updated": 100
            }
        server = _server_state(other_device)
    assert len(server) == 5001 and sum(not read for read in server.values()) == 4701

    engine = SyncEngine(server_url=live_server.url, token=token, cache_path=cache)
    result = engine.sync()
    assert result.online and result.unread == 4701
    assert _cached_state(engine) == server
    engine.close()

    # Replay: the caught-up cache gets its old cursor back, so every page comes again.
    with sqlite3.connect(cache) as db:
        db.execute("UPDATE meta SET value = ? WHERE key = 'cursor'", [old_cursor])
    engine = SyncEngine(server_url=live_server.url, token=token, cache_path=cache)
    replayed = engine.sync()
    assert replayed.online and replayed.new == []
    assert _cached_state(engine) == server and engine.unread_count() == 4701
    engine.close()


def _cached_state(engine: SyncEngine) -> dict[str, bool]:
    return {n["id"]: n["read_at"] is not None for n in engine.notifications(limit=10_000)}
