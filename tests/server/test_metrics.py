"""/metrics: admin only, the Prometheus text format with the contract's metrics, route templates
as labels; and every request's id."""

import os
import subprocess
import sys
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from tests.support.db import db_fetch

ROOT = Path(__file__).resolve().parents[2]


def _families(text: str) -> dict:
    return {family.name: family for family in text_string_to_metric_families(text)}


def test_metrics_need_an_admin_token(live_server):
    """401 without a token, 403 for a user's."""
    _, user_token = live_server.create_user()
    with live_server.client() as anonymous:
        assert anonymous.get("/metrics").status_code == 401
    with live_server.client(user_token) as client:
        assert client.get("/metrics").status_code == 403


def test_metrics_parse_and_carry_route_templates_and_queue_figures(live_server, database_url):
    """The exposition parses with prometheus-client's own parser; requests are counted under
    their route template, never the raw path; the queue's jobs and the oldest due pending
    job's age come from the database."""
    user, token = live_server.create_user(email_enabled=True, email="m@example.com")
    sent = live_server.send(user, severity="warning")
    notification_id = sent["results"][0]["id"]
    db_fetch(database_url, "UPDATE deliveries SET available_at = now() - interval '90 seconds'")
    with live_server.client(token) as client:
        assert client.get(f"/v1/notifications/{notification_id}").status_code == 200
        assert client.get("/no/such/page/here").status_code in (303, 404)
    with live_server.client(live_server.admin_token) as admin:
        reply = admin.get("/metrics")
    assert reply.status_code == 200 and reply.headers["content-type"].startswith("text/plain")
    families = _families(reply.text)

    requests = [s for s in families["traybell_http_requests"].samples if s.name.endswith("_total")]
    routes = {s.labels["route"] for s in requests}
    assert "/v1/notifications/{notification_id}" in routes
    assert not any(notification_id in route for route in routes)
    assert not any("/no/such" in route for route in routes)
    assert any(
        s.labels == {"method": "POST", "route": "/v1/notifications", "status": "201"}
        or s.labels == {"method": "POST", "route": "/v1/notifications", "status": "200"}
        for s in requests
    )
    assert families["traybell_http_request_duration_seconds"].type == "histogram"
    [stored] = [
        s for s in families["traybell_notifications_stored"].samples if s.name.endswith("_total")
    ]
    assert stored.value >= 1
    jobs = {
        (s.labels["channel"], s.labels["status"]): s.value
        for s in families["traybell_deliveries"].samples
    }
    assert jobs[("email", "pending")] == 1
    [oldest] = families["traybell_delivery_oldest_pending_seconds"].samples
    assert oldest.labels == {"channel": "email"} and oldest.value >= 90
    assert [s.value for s in families["traybell_event_streams"].samples] == [0]


def test_every_answer_carries_a_request_id_the_callers_or_a_new_one(live_server):
    """X-Request-ID is echoed when given and made when not."""
    with live_server.client() as client:
        assert (
            client.get("/healthz", headers={"X-Request-ID": "abc-123"}).headers["x-request-id"]
            == "abc-123"
        )
        made = client.get("/healthz").headers["x-request-id"]
        assert made and made != client.get("/healthz").headers["x-request-id"]


_COUNT_ONE_REQUEST = """
from server import metrics
metrics.HTTP_REQUESTS.labels("GET", "/v1/sync", "200").inc()
metrics.NOTIFICATIONS_STORED.inc(3)
"""
_SCRAPE = """
from server import metrics
print(metrics.exposition(metrics.QueueCollector([]))[0].decode())
"""


def test_server_processes_sharing_a_multiprocess_dir_are_summed(tmp_path):
    """With PROMETHEUS_MULTIPROC_DIR, a scrape of any process counts every process's requests."""
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(tmp_path)}

    def python(code: str) -> str:
        done = subprocess.run(
            [sys.executable, "-c", code], env=env, cwd=ROOT, capture_output=True, text=True
        )
        assert done.returncode == 0, done.stderr
        return done.stdout

    python(_COUNT_ONE_REQUEST)
    python(_COUNT_ONE_REQUEST)
    families = _families(python(_SCRAPE))
    [requests] = [
        s for s in families["traybell_http_requests"].samples if s.name.endswith("_total")
    ]
    assert requests.labels == {"method": "GET", "route": "/v1/sync", "status": "200"}
    assert requests.value == 2
    [stored] = families["traybell_notifications_stored"].samples
    assert stored.value == 6
