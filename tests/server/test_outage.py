"""With the database gone the server answers 503, not 500, and recovers without a restart."""

import time

import httpx
import pytest

from tests.support.live import LiveServer
from tests.support.waiting import wait_until


@pytest.mark.parametrize("how", ["stop", "kill"])
def test_database_outage_gives_503_and_recovers(own_cluster, how):
    """readyz and data endpoints answer 503 during the outage and 200 again once the database is
    back, with the same server process."""
    server = LiveServer(own_cluster.url())
    try:
        user, token = server.create_user()
        server.send(user, title="before the outage")
        with server.client(token) as client:
            assert client.get("/readyz").status_code == 200
            getattr(own_cluster, how)()
            for path in (
                "/readyz",
                "/v1/notifications",
                "/v1/sync",
                "/v1/notifications/unread-count",
            ):
                reply = client.get(path)
                assert reply.status_code == 503, (path, reply.text)
                assert reply.json()["error"]["code"] == "database_unavailable"
            with server.client(server.admin_token) as admin:
                refused = admin.post(
                    "/v1/notifications",
                    json={"user_id": user, "event_name": "a", "title": "during"},
                )
                assert refused.status_code == 503
            assert client.get("/healthz").status_code == 200  # the process itself lives

            own_cluster.start()
            started = time.monotonic()
            wait_until(lambda: client.get("/v1/notifications/unread-count").status_code == 200)
            print(f"recovered {time.monotonic() - started:.2f} s after the database came back")
            assert client.get("/readyz").status_code == 200
            titles = [n["title"] for n in client.get("/v1/notifications").json()["notifications"]]
            assert titles == ["before the outage"]
    finally:
        server.stop()


def test_readyz_is_503_when_database_refuses_connections(own_cluster):
    """readyz reflects the database, healthz only the process."""
    server = LiveServer(own_cluster.url())
    try:
        own_cluster.stop()
        assert httpx.get(server.url + "/readyz").status_code == 503
        assert httpx.get(server.url + "/healthz").status_code == 200
        own_cluster.start()
        wait_until(lambda: httpx.get(server.url + "/readyz").status_code == 200)
    finally:
        server.stop()
