"""The sync engine on its own, against the real server on loopback (no Qt anywhere)."""

import json
import logging
import subprocess
import sys
import uuid

import httpx
import pytest

from desktop.cli import run
from desktop.sync import SyncEngine
from desktop.sync import _cache as cache_module
from desktop.sync._cache import SCHEMA_VERSION, Cache
from shared.models import NOTIFICATION_FIELDS
from tests.desktop.conftest import REPO


@pytest.fixture
def user(live_server):
    return live_server.create_user()


@pytest.fixture
def engine_for(live_server, tmp_path):
    engines = []

    def make(token: str, name: str = "cache.sqlite3", server: str | None = None) -> SyncEngine:
        engine = SyncEngine(server or live_server.url, token, tmp_path / name)
        engines.append(engine)
        return engine

    yield make
    for engine in engines:
        engine.close()


def server_unread(live_server, token: str) -> int:
    with live_server.client(token) as client:
        return client.get("/v1/notifications/unread-count").json()["unread"]


def test_sync_layer_imports_no_qt():
    """Rule: the sync layer (and `tray --once`) imports no Qt, so it runs without a GUI."""
    code = (
        "import sys, desktop.sync, desktop.cli, desktop.toasts, desktop.settings, "
        "desktop.platform.credentials, desktop.platform.autostart, desktop.platform.url_scheme\n"
        "qt = sorted(m for m in sys.modules if m.startswith(('PySide6', 'shiboken')))\n"
        "assert not qt, qt\n"
    )
    subprocess.run([sys.executable, "-c", code], cwd=REPO, check=True)


def test_sync_takes_the_servers_state_and_keeps_the_cursor(live_server, user, engine_for):
    """Rule: a sync applies every page in order; the cursor is kept in the cache, so a restarted
    client asks only for what changed since and announces nothing twice."""
    user_id, token = user
    for i in range(3):
        live_server.send(user_id, title=f"n{i}")
    engine = engine_for(token)
    first = engine.sync()
    assert first.online and not first.signed_out
    assert [n["title"] for n in first.new] == ["n2", "n1", "n0"]
    assert first.unread == 3 == engine.unread_count()
    assert [n["title"] for n in engine.notifications()] == ["n2", "n1", "n0"]
    engine.close()

    live_server.send(user_id, title="n3")
    restarted = engine_for(token)
    second = restarted.sync()
    assert [n["title"] for n in second.new] == ["n3"]
    assert second.unread == 4


def test_pages_are_applied_until_has_more_is_false(live_server, user, engine_for, monkeypatch):
    """Rule: pages are applied in order until has_more is false."""
    monkeypatch.setattr("desktop.sync._engine.PAGE_SIZE", 2)
    user_id, token = user
    for i in range(5):
        live_server.send(user_id, title=f"p{i}")
    result = engine_for(token).sync()
    assert result.online and len(result.new) == 5 and result.unread == 5


def test_archived_elsewhere_is_dropped_and_read_elsewhere_is_not_new(live_server, user, engine_for):
    """Rule: archived notifications leave the cache; one read elsewhere before this client saw
    it is not `new` (no toast for what was already read)."""
    user_id, token = user
    keep = live_server.send(user_id, title="keep")["results"][0]["id"]
    gone = live_server.send(user_id, title="gone")["results"][0]["id"]
    engine = engine_for(token)
    assert len(engine.sync().new) == 2
    seen_elsewhere = live_server.send(user_id, title="read elsewhere")["results"][0]["id"]
    with live_server.client(token) as other_client:
        other_client.post(f"/v1/notifications/{gone}/archive").raise_for_status()
        other_client.post(f"/v1/notifications/{seen_elsewhere}/read").raise_for_status()
    result = engine.sync()
    assert result.new == []
    ids = {n["id"] for n in engine.notifications()}
    assert gone not in ids and keep in ids and seen_elsewhere in ids
    assert result.unread == 1


def test_offline_read_waits_in_the_outbox_across_a_restart(live_server, user, engine_for):
    """Rule: offline, a read mark lands in the cache at once and waits in the outbox; it reaches
    the server on reconnect, also after the client restarted, and is not undone by the
    server's older state."""
    user_id, token = user
    nid = live_server.send(user_id, title="read me offline")["results"][0]["id"]
    engine = engine_for(token)
    engine.sync()
    live_server.stop()
    assert engine.mark_read(nid) is False
    assert engine.unread_count() == 0 and engine.pending_changes() == 1
    offline = engine.sync()
    assert not offline.online and not offline.signed_out and offline.unread == 0
    engine.close()

    live_server.start()
    restarted = engine_for(token)
    assert restarted.pending_changes() == 1
    result = restarted.sync()
    assert result.online and result.unread == 0 and restarted.pending_changes() == 0
    assert server_unread(live_server, token) == 0


def test_mark_read_reaches_the_server_at_once_when_online(live_server, user, engine_for):
    """Rule: mark_read reaches the server now when it is reachable."""
    user_id, token = user
    nid = live_server.send(user_id, title="x")["results"][0]["id"]
    engine = engine_for(token)
    engine.sync()
    assert engine.mark_read(nid) is True
    assert server_unread(live_server, token) == 0 and engine.pending_changes() == 0


def test_mark_all_read_only_covers_what_this_client_has_seen(live_server, user, engine_for):
    """Rule: mark_all_read marks up to the last sync cursor, so a notification that arrived
    meanwhile stays unread on the server."""
    user_id, token = user
    live_server.send(user_id, title="seen 1")
    live_server.send(user_id, title="seen 2")
    engine = engine_for(token)
    engine.sync()
    live_server.send(user_id, title="not seen yet")
    assert engine.mark_all_read() is True
    assert engine.unread_count() == 0
    assert server_unread(live_server, token) == 1
    assert engine.sync().unread == 1


def test_queued_read_refused_for_good_is_dropped_and_logged(live_server, user, engine_for, caplog):
    """Rule: a queued read mark the server refuses for good (404) is dropped and logged, and
    does not block the marks queued after it."""
    user_id, token = user
    real = live_server.send(user_id, title="real")["results"][0]["id"]
    engine = engine_for(token)
    engine.sync()
    ghost = {
        "id": str(uuid.uuid4()),
        "user_id": user_id,
        "event_name": "x",
        "title": "ghost",
        "summary": None,
        "body": "",
        "target_url": None,
        "severity": "info",
        "data": {},
        "batch_key": None,
        "read_at": None,
        "archived_at": None,
        "created_at": "2026-01-01T00:00:00+00:00",
    }
    engine._cache.apply_page([ghost], engine._cache.get_meta("cursor"), "now")
    live_server.stop()
    engine.mark_read(ghost["id"])
    engine.mark_read(real)
    assert engine.pending_changes() == 2
    live_server.start()
    with caplog.at_level(logging.WARNING, logger="traybell.desktop.sync"):
        assert engine.sync().online
    assert engine.pending_changes() == 0
    assert server_unread(live_server, token) == 0
    assert any(ghost["id"] in record.getMessage() for record in caplog.records)


def test_revoked_token_is_a_signed_out_state(live_server, user, engine_for):
    """Rule: a 401 never raises out of sync(): it is `signed_out`, with `online` False."""
    _, token = user
    engine = engine_for(token)
    assert engine.sync().online
    live_server.revoke(token)
    result = engine.sync()
    assert result.signed_out and not result.online


@pytest.mark.parametrize("failure", ["503", "timeout", "refused", "not json"])
def test_failures_are_states_not_exceptions(tmp_path, failure):
    """Rule: no network error, timeout or 5xx ever raises out of sync()."""

    def handler(request: httpx.Request) -> httpx.Response:
        if failure == "503":
            return httpx.Response(503, json={"error": {"code": "unavailable", "message": "db"}})
        if failure == "timeout":
            raise httpx.ReadTimeout("held", request=request)
        if failure == "refused":
            raise httpx.ConnectError("refused", request=request)
        return httpx.Response(200, text="<html>captive portal</html>")

    engine = SyncEngine(
        "http://127.0.0.1:9", "t", tmp_path / "c.sqlite3", transport=httpx.MockTransport(handler)
    )
    try:
        result = engine.sync()
    finally:
        engine.close()
    assert not result.online and not result.signed_out and result.error


def test_cache_schema_is_created_and_migrated_forward(tmp_path):
    """Rule: the client creates and migrates its own cache schema; a cache from a newer client
    is refused instead of being damaged."""
    path = tmp_path / "c.sqlite3"
    cache = Cache(path)
    assert cache.schema_version() == SCHEMA_VERSION
    cache.close()
    Cache(path).close()  # reopening an up-to-date cache changes nothing
    import sqlite3

    with sqlite3.connect(path) as conn:
        conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    with pytest.raises(RuntimeError, match="newer"):
        Cache(path)


def test_a_new_wire_field_is_cached_once_a_migration_gives_it_a_column(tmp_path, monkeypatch):
    """Rule: a field added to the notification model (shared/models.py) never breaks the cache:
    it is left out until a step of the cache's migrations adds a column of that name, and
    stored from then on."""
    monkeypatch.setattr(cache_module, "NOTIFICATION_FIELDS", (*NOTIFICATION_FIELDS, "pinned"))
    path = tmp_path / "c.sqlite3"
    first, second = str(uuid.uuid4()), str(uuid.uuid4())
    cache = Cache(path)
    cache.apply_page([_change(first, 1, pinned="yes")], "1", "now")
    [stored] = cache.get([first])
    assert "pinned" not in stored and stored["title"] == "n1"
    cache.close()

    def add_pinned(db) -> None:
        db.table("notifications").add_column("pinned", str)

    migrations = [*cache_module.MIGRATIONS, add_pinned]
    monkeypatch.setattr(cache_module, "MIGRATIONS", migrations)
    monkeypatch.setattr(cache_module, "SCHEMA_VERSION", len(migrations))
    cache = Cache(path)
    cache.apply_page([_change(second, 2, pinned="no")], "2", "now")
    assert [n["pinned"] for n in cache.get([first, second])] == ["no", None]
    cache.close()


def test_cache_of_another_account_is_not_reused(live_server, engine_for):
    """Rule: the cache belongs to one account on one server; another token starts afresh, so
    nobody sees the previous user's notifications."""
    first_id, first_token = live_server.create_user()
    live_server.send(first_id, title="private to the first user")
    engine = engine_for(first_token)
    engine.sync()
    engine.close()
    _, second_token = live_server.create_user()
    other = engine_for(second_token)
    assert other.notifications() == [] and other.unread_count() == 0


def test_tray_once_prints_one_json_line(live_server, user, capsys):
    """Rule: `traybell tray --once` prints {"online", "new", "unread"} and exits 0 when online,
    1 when not; the cache under TRAYBELL_HOME keeps the state between runs."""
    user_id, token = user
    live_server.send(user_id, title="a")
    live_server.send(user_id, title="b")
    assert run(live_server.url, token, once=True) == 0
    assert json.loads(capsys.readouterr().out) == {"online": True, "new": 2, "unread": 2}
    assert run(live_server.url, token, once=True) == 0
    assert json.loads(capsys.readouterr().out) == {"online": True, "new": 0, "unread": 2}
    live_server.stop()
    assert run(live_server.url, token, once=True) == 1
    assert json.loads(capsys.readouterr().out) == {"online": False, "new": 0, "unread": 2}


def test_tray_once_uses_the_stored_sign_in(live_server, user, capsys):
    """Rule: without --token, `--once` uses the stored sign-in (here the user-only file, since
    the tests have no keyring)."""
    from desktop.platform import credentials

    _, token = user
    assert run(live_server.url, None, once=True) == 1
    capsys.readouterr()
    credentials.store_token(live_server.url, token)
    assert run(live_server.url, None, once=True) == 0
    assert json.loads(capsys.readouterr().out)["online"] is True


def _change(nid: str, second: int, **state) -> dict:
    return {
        "id": nid,
        "user_id": "u",
        "event_name": "x",
        "title": f"n{second}",
        "summary": None,
        "body": "",
        "target_url": None,
        "severity": "info",
        "data": {"n": second},
        "batch_key": None,
        "read_at": None,
        "archived_at": None,
        "created_at": f"2026-01-01T00:00:{second:02d}+00:00",
    } | state


class ScriptedSyncServer:
    """Stands in for the server's sync API: `pages` by cursor ("" first, then "1", "2", ...,
    each page's cursor one more), `between_pages(cursor)` called as a page is asked for (a
    user acting mid-sync), preferences and archive marks answered; every request recorded."""

    def __init__(self, tmp_path, pages: dict[str, list[dict]], between_pages=None) -> None:
        self.pages = pages
        self.between_pages = between_pages or (lambda cursor: None)
        self.requests: list[str] = []
        self.engine = SyncEngine(
            "http://127.0.0.1:9",
            "t",
            tmp_path / "c.sqlite3",
            transport=httpx.MockTransport(self._answer),
        )

    def _answer(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(f"{request.method} {request.url.path}")
        if request.url.path == "/v1/preferences":
            return httpx.Response(200, json={"in_app_enabled": True, "quiet_hours": None})
        if request.url.path.endswith("/archive"):
            return httpx.Response(200, json={"notification": None})
        cursor = request.url.params.get("cursor", "")
        self.between_pages(cursor)
        return httpx.Response(
            200,
            json={
                "changes": self.pages[cursor],
                "cursor": str(int(cursor or 0) + 1),
                "has_more": cursor == "",
                "unread": 0,
            },
        )


def test_new_is_the_state_after_the_last_page_and_local_marks(tmp_path):
    """Rule: `new` holds what was first seen in this sync and is still unread in the cache
    when it ends: a later page that reads or archives it, or a read mark made here while the
    pages come in, takes it out; the rest come newest first with their data."""
    ids = [str(uuid.uuid4()) for _ in range(5)]
    pages = {
        "": [_change(ids[i], i) for i in range(4)],
        "1": [
            _change(ids[0], 0, read_at="2026-01-02T00:00:00+00:00"),
            _change(ids[1], 1, archived_at="2026-01-02T00:00:00+00:00"),
            _change(ids[4], 4),
        ],
    }

    def read_one(cursor: str) -> None:
        if cursor == "1":
            server.engine.queue_read(ids[2])  # the user reads one between two pages

    server = ScriptedSyncServer(tmp_path, pages, read_one)
    engine = server.engine
    try:
        result = engine.sync()
        assert result.online
        assert [n["id"] for n in result.new] == [ids[4], ids[3]]
        assert result.new[0]["data"] == {"n": 4} and result.new[0]["read_at"] is None
        assert result.new == engine._cache.get([ids[4], ids[3]])
        assert result.unread == 2
    finally:
        engine.close()


def test_a_row_archived_during_a_sync_does_not_come_back_as_new(tmp_path):
    """Rule: a pending archive mark is guarded like a read mark: a page that still has the
    notification (the server has not received the archive yet) neither brings it back into
    the cache nor announces it as new, and the mark still goes to the server."""
    kept, archived = str(uuid.uuid4()), str(uuid.uuid4())
    pages = {
        "": [_change(kept, 0), _change(archived, 1)],
        "1": [_change(archived, 1, title="changed on the server")],
        "2": [_change(archived, 1, archived_at="2026-01-02T00:00:00+00:00")],
    }

    def archive_one(cursor: str) -> None:
        if cursor == "1":
            server.engine.queue_archive(archived)  # the user archives it between two pages

    server = ScriptedSyncServer(tmp_path, pages, archive_one)
    engine = server.engine
    try:
        result = engine.sync()
        assert result.online
        assert [n["id"] for n in result.new] == [kept]
        assert [n["id"] for n in engine.notifications()] == [kept]
        assert engine.pending_changes() == 1
        engine.sync()
        assert f"POST /v1/notifications/{archived}/archive" in server.requests
        assert [n["id"] for n in engine.notifications()] == [kept]
    finally:
        engine.close()


def test_search_and_severity_filter_read_the_cache(live_server, user, engine_for):
    """Rule: the center's search looks in title, summary and body (any case, "%" and "_" taken
    literally) and the severity filter keeps one severity, both from the cache: offline too."""
    user_id, token = user
    live_server.send(user_id, title="Disk full on db-2", severity="critical")
    live_server.send(user_id, title="Weekly report", summary="DISK usage is fine")
    live_server.send(user_id, title="Deploy", body="the disk was not touched", severity="success")
    live_server.send(user_id, title="Quota at 100%_", severity="warning")
    engine = engine_for(token)
    assert engine.sync().online
    live_server.stop()

    def titles(**filters):
        return [n["title"] for n in engine.notifications(**filters)]

    assert titles(query="disk") == ["Deploy", "Weekly report", "Disk full on db-2"]
    assert titles(query="disk", severity="critical") == ["Disk full on db-2"]
    assert titles(severity="warning") == ["Quota at 100%_"]
    assert titles(query="0%_") == ["Quota at 100%_"]
    assert titles(query="0_") == [] and titles(query="nothing like it") == []


def test_topic_and_audience_reach_the_cache_and_the_topic_filter(live_server, user, engine_for):
    """Rule: a notification's `topic` and `audience` are cached; the center's topic filter
    keeps one topic and offers the cached topics, offline too."""
    user_id, token = user
    with live_server.client(live_server.admin_token) as admin:
        admin.post("/v1/admin/teams", json={"team_id": "payments"}).raise_for_status()
        admin.put(f"/v1/admin/teams/payments/members/{user_id}").raise_for_status()
        admin.post(
            "/v1/notifications",
            json={"to": ["team:payments"], "event_name": "e", "title": "Card", "topic": "billing"},
        ).raise_for_status()
    live_server.send(user_id, title="Deployed", topic="deploys")
    live_server.send(user_id, title="Plain")
    engine = engine_for(token)
    assert engine.sync().online
    live_server.stop()
    assert engine.topics() == ["billing", "deploys"]
    [card] = engine.notifications(topic="billing")
    assert (card["title"], card["topic"], card["audience"]) == ("Card", "billing", "team:payments")
    assert [n["title"] for n in engine.notifications(topic="deploys")] == ["Deployed"]
    assert len(engine.notifications()) == 3


def test_a_cache_of_the_first_schema_upgrades_and_syncs_again(live_server, user, tmp_path):
    """Rule: a cache made before notifications carried topic and audience upgrades in place,
    keeps what it holds, and syncs from the beginning once, so the rows it cached without a
    topic get theirs."""
    import sqlite3

    user_id, token = user
    live_server.send(user_id, title="Deployed", topic="deploys")
    path = tmp_path / "old.sqlite3"
    engine = SyncEngine(live_server.url, token, path)
    assert engine.sync().online
    engine.close()
    with sqlite3.connect(path) as conn:  # as the first schema left it
        conn.execute("DROP INDEX idx_notifications_topic")
        conn.execute("ALTER TABLE notifications DROP COLUMN topic")
        conn.execute("ALTER TABLE notifications DROP COLUMN audience")
        conn.execute("ALTER TABLE notifications DROP COLUMN snoozed_until")
        conn.execute("PRAGMA user_version = 1")
    engine = SyncEngine(live_server.url, token, path)
    try:
        assert [n["topic"] for n in engine.notifications()] == [None]
        assert engine.sync().online
        assert [n["topic"] for n in engine.notifications()] == ["deploys"]
    finally:
        engine.close()


def test_fetch_keeps_a_notification_opened_by_id_and_a_404_is_refused(
    live_server, user, engine_for
):
    """Rule: a notification opened by its id that the cache lacks is fetched from the server
    and kept (a read mark then works as for any other); an unknown id is Refused 404."""
    from desktop.sync import Refused

    user_id, token = user
    engine = engine_for(token)
    assert engine.sync().online
    nid = live_server.send(user_id, title="Arrived before the poll")["results"][0]["id"]
    assert engine.cached(nid) is None
    assert engine.fetch(nid)["title"] == "Arrived before the poll"
    assert engine.cached(nid)["title"] == "Arrived before the poll"
    assert engine.mark_read(nid) and server_unread(live_server, token) == 0
    with pytest.raises(Refused) as refused:
        engine.fetch(str(uuid.uuid4()))
    assert refused.value.status == 404
    assert [n["id"] for n in engine.sync().new] == []  # opened already: no toast later


def test_mark_unread_reaches_the_server_and_the_last_mark_wins(live_server, user, engine_for):
    """Rule: Mark unread is local at once and reaches the server; of a read and an unread mark
    queued offline for one notification only the last is kept."""
    user_id, token = user
    nid = live_server.send(user_id, title="Read me twice")["results"][0]["id"]
    engine = engine_for(token)
    engine.sync()
    assert engine.mark_read(nid) and server_unread(live_server, token) == 0
    live_server.stop()
    engine.queue_read(nid)
    engine.queue_unread(nid)
    assert engine.unread_count() == 1 and engine.pending_changes() == 1
    live_server.start()
    assert engine.sync().online
    assert server_unread(live_server, token) == 1 and engine.unread_count() == 1
