"""GET /v1/events: the backlog, then each change as it commits on any server, resumable by
Last-Event-ID without gap or repeat; ended by revocation, disabling and shutdown."""

import signal
import subprocess
import sys

import httpx
import pytest

from tests.support.live import LiveServer, create_users_directly
from tests.support.live import test_settings as server_settings
from tests.support.pg import free_port
from tests.support.sse import StreamReader
from tests.support.waiting import wait_until
from tests.worker.support import ROOT, worker_env

#: Streams here recheck tokens every second and send a keepalive every second.
FAST = {"events_recheck_seconds": 1, "events_keepalive_seconds": 1}


@pytest.fixture
def server(database_url):
    live = LiveServer(database_url, server_settings(**FAST))
    yield live
    live.stop()


@pytest.fixture
def readers():
    opened: list[StreamReader] = []

    def open_stream(url: str, token: str, **kwargs) -> StreamReader:
        reader = StreamReader(url, token, **kwargs)
        opened.append(reader)
        return reader

    yield open_stream
    for reader in opened:
        reader.close()


def _titles(reader: StreamReader) -> list[str]:
    return [change["title"] for change in reader.changes()]


def test_the_backlog_comes_first_as_a_sync_page_with_the_stream_headers(server, readers):
    """What was stored before the stream opened is its first event: a /v1/sync page without
    has_more, whose id is its cursor, on a stream no cache or proxy buffers."""
    user, token = server.create_user()
    for n in range(3):
        server.send(user, title=f"n{n}")
    reader = readers(server.url, token)
    wait_until(lambda: reader.events, what="the backlog")
    assert reader.status == 200
    assert reader.headers["content-type"].startswith("text/event-stream")
    assert reader.headers["cache-control"] == "no-store"
    assert reader.headers["x-accel-buffering"] == "no"
    [event] = reader.events
    assert set(event.page) == {"changes", "cursor", "unread"}
    assert event.id == event.page["cursor"]
    assert _titles(reader) == ["n0", "n1", "n2"]
    assert event.page["unread"] == 3
    with server.client(token) as client:
        sync = client.get("/v1/sync").json()
    assert sync["cursor"] == event.id
    assert sync["changes"] == event.page["changes"]


def test_a_change_arrives_as_it_commits_read_state_included(server, readers):
    """A send and a read after the stream is open each come as an event of their own."""
    user, token = server.create_user()
    server.send(user, title="before")
    reader = readers(server.url, token)
    wait_until(lambda: reader.events, what="the backlog")
    server.send(user, title="live")
    wait_until(lambda: "live" in _titles(reader), what="the live send")
    live_id = reader.changes()[-1]["id"]
    with server.client(token) as client:
        client.post(f"/v1/notifications/{live_id}/read").raise_for_status()
    wait_until(lambda: reader.changes()[-1]["read_at"], what="the read")
    assert reader.events[-1].page["unread"] == 1
    assert _titles(reader) == ["before", "live", "live"]


def test_a_change_through_another_server_process_reaches_the_stream(
    server, readers, database_url, settings
):
    """Replicas: a send taken by `traybell serve` in another process wakes this server's
    stream (through the database, not memory)."""
    user, token = server.create_user()
    port = free_port()
    other = subprocess.Popen(
        [sys.executable, "-m", "traybell", "serve", "--port", str(port)],
        cwd=ROOT,
        env=worker_env(database_url, settings),
        stdout=subprocess.DEVNULL,
    )
    try:
        url = f"http://127.0.0.1:{port}"
        wait_until(lambda: _answers(url) or other.poll() is not None, what="the other server")
        reader = readers(server.url, token)
        wait_until(lambda: reader.comments, what="the stream to be open")
        reply = httpx.post(
            f"{url}/v1/notifications",
            json={"user_id": user, "event_name": "test.event", "title": "elsewhere"},
            headers={"Authorization": f"Bearer {server.admin_token}"},
        )
        assert reply.status_code == 201, reply.text
        wait_until(lambda: _titles(reader) == ["elsewhere"], what="the other server's send")
    finally:
        other.terminate()
        other.wait(60)


def _answers(url: str) -> bool:
    try:
        return httpx.get(f"{url}/healthz").status_code == 200
    except httpx.TransportError:
        return False


def test_resuming_with_last_event_id_misses_nothing_and_repeats_nothing(server, readers):
    """Last-Event-ID wins over cursor; after it come exactly the changes made since."""
    user, token = server.create_user()
    for n in range(3):
        server.send(user, title=f"old{n}")
    first = readers(server.url, token)
    wait_until(lambda: first.events, what="the backlog")
    last_id = first.events[-1].id
    first.close()
    old = first.changes()
    with server.client(token) as client:
        client.post(f"/v1/notifications/{old[0]['id']}/archive").raise_for_status()
    server.send(user, title="new")
    # a cursor from the beginning is given too: the header wins
    again = readers(server.url, token, last_event_id=last_id, cursor="s" + "0" * 48)
    wait_until(lambda: len(again.changes()) >= 2, what="the changes since")
    assert [(c["title"], c["archived_at"] is not None) for c in again.changes()] == [
        ("old0", True),
        ("new", False),
    ]
    assert again.events[-1].page["unread"] == 3


@pytest.mark.parametrize("end", ["revoke", "disable"])
def test_a_revoked_token_or_disabled_user_loses_the_stream(server, readers, end):
    """The stream ends at the next recheck (a setting, 5 s by default: inside the 30 s)."""
    user, token = server.create_user()
    reader = readers(server.url, token)
    wait_until(lambda: reader.comments, what="the stream to be open")
    if end == "revoke":
        server.revoke(token)
    else:
        with server.client(server.admin_token) as admin:
            admin.post(f"/v1/admin/users/{user}/disable").raise_for_status()
    wait_until(lambda: reader.ended, what="the stream to end")
    assert reader.error is None


def test_a_keepalive_comment_goes_out_while_nothing_changes(server, readers):
    """`: keepalive` every events_keepalive_seconds (here 1 s) on an idle stream."""
    _, token = server.create_user()
    reader = readers(server.url, token)
    wait_until(lambda: len(reader.comments) >= 2, what="keepalives")
    assert set(reader.comments) == {": keepalive"}
    assert reader.events == []


@pytest.mark.parametrize("where", ["cursor", "last_event_id"])
def test_a_malformed_position_is_400_json_like_sync(server, where):
    _, token = server.create_user()
    kwargs = (
        {"params": {"cursor": "nonsense"}}
        if where == "cursor"
        else {"headers": {"Last-Event-ID": "nonsense"}}
    )
    with server.client(token) as client:
        reply = client.get("/v1/events", **kwargs)
    assert reply.status_code == 400
    assert reply.json()["error"]["code"] == "invalid_cursor"


def test_no_token_is_401(server):
    reply = httpx.get(f"{server.url}/v1/events")
    assert reply.status_code == 401
    assert reply.json()["error"]["code"] == "unauthorized"


def test_stopping_the_server_ends_its_streams(server, readers):
    """uvicorn waits for open responses; the server ends its streams when it begins to stop,
    so stop() returns and the client sees the stream end (and may resume elsewhere)."""
    _, token = server.create_user()
    reader = readers(server.url, token)
    wait_until(lambda: reader.comments, what="the stream to be open")
    thread = server._thread
    server.stop()
    assert not thread.is_alive()
    wait_until(lambda: reader.ended, what="the stream to end")


def test_sigterm_ends_the_streams_of_traybell_serve(database_url, settings, readers):
    """`traybell serve` with streams open still exits on SIGTERM, and ends them."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    process = subprocess.Popen(
        [sys.executable, "-m", "traybell", "serve", "--port", str(port)],
        cwd=ROOT,
        env={**worker_env(database_url, settings), "TRAYBELL_EVENTS_KEEPALIVE_SECONDS": "1"},
        stdout=subprocess.DEVNULL,
    )
    try:
        wait_until(lambda: _answers(url) or process.poll() is not None, what="the server")
        [token] = create_users_directly(database_url, ["streamer"])
        streams = [readers(url, token) for _ in range(3)]
        wait_until(lambda: all(r.comments for r in streams), what="the streams to be open")
        process.send_signal(signal.SIGTERM)
        assert process.wait(60) == 0
        wait_until(lambda: all(r.ended for r in streams), what="the streams to end")
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def test_one_send_to_everyone_wakes_every_stream_in_a_few_statements(server, readers):
    """No thundering herd: 30 streams of 30 users woken by one all_users send cost the hub
    statements by the batch of streams, not one per stream."""
    tokens = [server.create_user()[1] for _ in range(30)]
    streams = [readers(server.url, token) for token in tokens]
    wait_until(lambda: all(r.comments for r in streams), what="the streams to be open")
    before = _stream_statements(server)
    with server.client(server.admin_token) as admin:
        admin.post(
            "/v1/notifications", json={"all_users": True, "event_name": "e", "title": "all"}
        ).raise_for_status()
    wait_until(lambda: all(_titles(r) == ["all"] for r in streams), what="every stream")
    # moved users, then pages for all 30 (a recheck may fall in between: twice that at most)
    assert _stream_statements(server) - before <= 4


def _stream_statements(server: LiveServer) -> float:
    with server.client(server.admin_token) as admin:
        page = admin.get("/metrics").text
    [line] = [
        x for x in page.splitlines() if x.startswith("traybell_event_stream_statements_total")
    ]
    return float(line.split()[-1])


def test_the_open_streams_are_a_metric(server, readers):
    _, token = server.create_user()
    readers(server.url, token)
    with server.client(server.admin_token) as admin:
        # (the gauge is the test process's: another test's streams may still be closing)
        wait_until(lambda: "traybell_event_streams 1.0" in admin.get("/metrics").text)


def test_a_client_that_goes_is_forgotten(server, readers):
    """A closed connection ends its stream on the server (the hub holds no dead streams)."""
    _, token = server.create_user()
    reader = readers(server.url, token)
    with server.client(server.admin_token) as admin:
        wait_until(lambda: "traybell_event_streams 1.0" in admin.get("/metrics").text)
        reader.close()
        wait_until(lambda: "traybell_event_streams 0.0" in admin.get("/metrics").text)


def test_an_open_stream_outlives_a_database_outage(own_cluster, readers):
    """The stream stays open while the database is away, and a send after it is back arrives
    (the wake-up listener reconnects; the recheck covers the time it takes)."""
    server = LiveServer(own_cluster.url(), server_settings(**FAST))
    try:
        user, token = server.create_user()
        reader = readers(server.url, token)
        wait_until(lambda: reader.comments, what="the stream to be open")
        own_cluster.stop()
        seen = len(reader.comments)
        wait_until(lambda: len(reader.comments) > seen, what="a keepalive during the outage")
        own_cluster.start()
        wait_until(lambda: _sent(server, user), what="a send after the outage")
        wait_until(lambda: _titles(reader) == ["after"], what="the send after the outage")
        assert not reader.ended
    finally:
        server.stop()


def _sent(server: LiveServer, user: str) -> bool:
    with server.client(server.admin_token) as admin:
        reply = admin.post(
            "/v1/notifications", json={"user_id": user, "event_name": "e", "title": "after"}
        )
    return reply.status_code == 201
