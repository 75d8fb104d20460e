"""A database restored from a backup: the trays notice, rebuild their cache, and miss nothing.

The backup and restore are the commands docs/DEPLOY.md gives (pg_dump and pg_restore, here the
ones shipped with the test cluster's server binaries)."""

import asyncio
import json
import subprocess
from urllib.parse import urlsplit

import asyncpg
from pgserver._commands import POSTGRES_BIN_PATH

from desktop.sync import SyncEngine
from tests.e2e.test_cli import traybell
from tests.support.db import db_value


def _pg(tool: str, *args: str) -> None:
    subprocess.run([str(POSTGRES_BIN_PATH / tool), *args], check=True, capture_output=True)


def _recreate(database_url: str) -> None:
    """DROP and CREATE the database, as `dropdb` and `createdb` do, from the maintenance one."""
    name = urlsplit(database_url).path.lstrip("/")

    async def run() -> None:
        conn = await asyncpg.connect(database_url.rsplit("/", 1)[0] + "/postgres")
        try:
            await conn.execute(f"DROP DATABASE {name}")
            await conn.execute(f"CREATE DATABASE {name}")
        finally:
            await conn.close()

    asyncio.run(run())


def _ids(reply: dict) -> list[str]:
    return [result["id"] for result in reply["results"]]


def test_a_restored_database_makes_the_tray_rebuild_its_cache(live_server, database_url, tmp_path):
    """Restores: a cursor from after the backup is answered 410 resync_required by /v1/sync,
    /v1/events and read-all; `tray --once` then drops its cache, keeps the outbox's read marks
    of ids that still exist, syncs from the beginning and says so in its log; the cache equals
    the restored server, and only the notification that is new to it counts as new."""
    user, token = live_server.create_user()
    home = tmp_path / "home"
    cache = home / "desktop-cache.sqlite3"
    before_backup = [_ids(live_server.send(user, title=f"before backup {n}"))[0] for n in range(3)]
    with live_server.client(token) as client:
        client.post(f"/v1/notifications/{before_backup[0]}/read").raise_for_status()
    engine = SyncEngine(live_server.url, token, cache)
    assert engine.sync().online

    backup = tmp_path / "traybell.dump"
    _pg("pg_dump", "--format=custom", f"--file={backup}", database_url)

    after_backup = [_ids(live_server.send(user, title=f"after backup {n}"))[0] for n in range(2)]
    with live_server.client(token) as client:
        client.post(f"/v1/notifications/{before_backup[1]}/read").raise_for_status()
    assert engine.sync().unread == 3
    stale_cursor = engine.sync_cursor()
    # Read here, not sent yet: one of a notification the backup holds, one of one it does not.
    engine.queue_read(before_backup[2])
    engine.queue_read(after_backup[0])
    engine.close()

    live_server.stop()
    _recreate(database_url)
    _pg("pg_restore", "--exit-on-error", "--single-transaction", "-d", database_url, str(backup))
    live_server.start()
    critical = _ids(live_server.send(user, title="after the restore", severity="critical"))[0]

    with live_server.client(token) as client:
        for answer in (
            client.get("/v1/sync", params={"cursor": stale_cursor}),
            client.get("/v1/events", headers={"Last-Event-ID": stale_cursor}),
            client.post("/v1/notifications/read-all", json={"up_to": stale_cursor}),
        ):
            assert answer.status_code == 410
            assert answer.json()["error"]["code"] == "resync_required"

    once = traybell(
        "tray", "--once", "--server", live_server.url, "--token", token,
        env={"TRAYBELL_HOME": str(home)},
    )  # fmt: skip
    assert once.returncode == 0, once.stderr
    server_unread = db_value(
        database_url,
        "SELECT count(*) FROM notifications WHERE user_id = $1 AND read_at IS NULL",
        user,
    )
    assert json.loads(once.stdout) == {"online": True, "new": 1, "unread": server_unread}
    assert server_unread == 2  # before_backup[1] (its read was lost) and the critical
    assert "restored or rebuilt" in (home / "logs" / "desktop.log").read_text()

    engine = SyncEngine(live_server.url, token, cache)
    try:
        cached = {n["id"]: n["read_at"] is not None for n in engine.notifications(limit=100)}
        assert cached == {
            before_backup[0]: True,
            before_backup[1]: False,
            before_backup[2]: True,  # the queued mark reached the restored server
            critical: False,
        }
        assert engine.pending_changes() == 0  # the mark of a lost notification was dropped
    finally:
        engine.close()
    assert db_value(
        database_url,
        "SELECT read_at IS NOT NULL FROM notifications WHERE id = $1",
        before_backup[2],
    )
