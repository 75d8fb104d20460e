"""Faults under load: a database crash loses no acknowledged send, slow clients starve no one,
and a client cut off mid-sync catches up exactly."""

import asyncio
import socket
import threading
import uuid
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from desktop.sync import SyncEngine
from server.db.migrate import migrate_url
from tests.support.db import db_fetch
from tests.support.live import LiveServer
from tests.support.pg import PostgresCluster
from tests.support.waiting import wait_until


@pytest.mark.timeout(180)
def test_database_killed_under_load_loses_no_acknowledged_send():
    """Every send that got a 2xx is stored after PostgreSQL is SIGKILLed and restarted under
    load; the outage answers 503 (never 500) and the same server recovers by itself."""
    cluster = PostgresCluster()
    cluster.start()
    asyncio.run(migrate_url(cluster.url()))
    server = LiveServer(cluster.url())
    try:
        user, _ = server.create_user()
        acknowledged: list[str] = []
        statuses: list[int] = []
        stop = threading.Event()

        def sender(worker: int) -> None:
            with server.client(server.admin_token) as admin:
                for n in range(20_000):  # bounded: the loop ends by itself
                    if stop.is_set():
                        return
                    body = {
                        "user_id": user,
                        "event_name": "load.test",
                        "title": f"{worker}-{n}",
                        "resource_id": uuid.uuid4().hex,
                    }
                    try:
                        reply = admin.post("/v1/notifications", json=body, timeout=10)
                    except httpx.HTTPError:
                        continue  # no answer is no promise
                    statuses.append(reply.status_code)
                    if reply.status_code == 503:
                        stop.wait(0.05)  # a real client backs off while the service is away
                    if reply.status_code == 201:
                        acknowledged.append(reply.json()["results"][0]["id"])

        with ThreadPoolExecutor(max_workers=4) as pool:
            futures = [pool.submit(sender, w) for w in range(4)]
            wait_until(lambda: len(acknowledged) >= 40)
            cluster.kill()
            wait_until(lambda: statuses.count(503) >= 5)
            cluster.start()
            before = len(acknowledged)
            wait_until(lambda: len(acknowledged) >= before + 40)
            stop.set()
            for future in futures:
                future.result()

        assert 500 not in statuses
        assert set(statuses) <= {201, 503}
        stored = {str(r["id"]) for r in db_fetch(cluster.url(), "SELECT id FROM notifications")}
        missing = set(acknowledged) - stored
        assert not missing, f"{len(missing)} acknowledged sends were lost"
    finally:
        server.stop()
        cluster.destroy()


def test_slow_clients_do_not_starve_others(live_server):
    """Connections that trickle half a request and hold on do not stop the server answering."""
    _, token = live_server.create_user()
    port = int(live_server.url.rsplit(":", 1)[1])
    laggards = []
    try:
        for _ in range(50):
            sock = socket.create_connection(("127.0.0.1", port))
            sock.sendall(
                b"POST /v1/notifications/read HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n"
            )
            laggards.append(sock)
        with live_server.client(token) as client:
            for _ in range(20):
                assert client.get("/v1/notifications/unread-count").status_code == 200
    finally:
        for sock in laggards:
            sock.close()


class CuttingProxy:
    """A loopback TCP proxy that can drop every connection in the middle of a reply."""

    def __init__(self, upstream_port: int, cut_after_bytes: int):
        self.upstream_port = upstream_port
        self.cut_after_bytes = cut_after_bytes
        self.cutting = True
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.listener.getsockname()[1]}"
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            upstream = socket.create_connection(("127.0.0.1", self.upstream_port))
            threading.Thread(target=self._pump, args=(client, upstream, False), daemon=True).start()
            threading.Thread(target=self._pump, args=(upstream, client, True), daemon=True).start()

    def _pump(self, source: socket.socket, target: socket.socket, is_reply: bool) -> None:
        sent = 0
        try:
            while data := source.recv(4096):
                if is_reply and self.cutting and sent + len(data) > self.cut_after_bytes:
                    target.sendall(data[: self.cut_after_bytes - sent])
                    break  # the network goes away mid-reply
                target.sendall(data)
                sent += len(data)
        except OSError:
            pass
        finally:
            for sock in (source, target):
                sock.close()

    def close(self) -> None:
        self.listener.close()


def test_client_cut_off_mid_sync_catches_up_exactly(live_server, tmp_path):
    """A sync whose reply is cut halfway applies nothing half-read; the next sync leaves the
    cache equal to the server, with no duplicates."""
    user, token = live_server.create_user()
    live_server.send(user, title="first")
    for n in range(30):
        live_server.send(user, title=f"n{n}", body="x" * 500)
    proxy = CuttingProxy(int(live_server.url.rsplit(":", 1)[1]), cut_after_bytes=6000)
    try:
        engine = SyncEngine(server_url=proxy.url, token=token, cache_path=tmp_path / "cache.db")
        cut = engine.sync()
        assert cut.online is False
        proxy.cutting = False
        caught_up = engine.sync()
        assert caught_up.online is True
        assert engine.unread_count() == 31
        ids = [n["id"] for n in engine.notifications(limit=100)]
        assert len(ids) == len(set(ids)) == 31
        again = engine.sync()  # replaying from the stored cursor adds nothing
        assert again.new == [] and engine.unread_count() == 31
    finally:
        proxy.close()
