"""A whole run of `traybell serve` and `traybell worker --metrics-port` with JSON logs: the logs
carry request and delivery ids, the worker's metrics count what it sent, and nothing the run
produced for operators (audit, metrics, logs) holds a token, a password, a session id or a
notification's text."""

import html
import json
import re
import subprocess
import sys
import uuid

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.support.pg import free_port
from tests.worker.support import ROOT, deliveries, wait_until, worker_env

JSON_LOGS = {"TRAYBELL_LOG_FORMAT": "json"}


def _traybell(database_url: str, settings, *args: str, stdin: str = "") -> str:
    done = subprocess.run(
        [sys.executable, "-m", "traybell", *args],
        cwd=ROOT,
        env={**worker_env(database_url, settings), **JSON_LOGS},
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout + done.stderr


@pytest.fixture
def served(database_url, settings, tmp_path):
    """`traybell serve` with JSON logs in a child process; yields (url, log path)."""
    port = free_port()
    log_path = tmp_path / "server.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "traybell", "serve", "--port", str(port)],
            cwd=ROOT,
            env={**worker_env(database_url, settings), **JSON_LOGS},
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"

    def ready() -> bool:
        try:
            return httpx.get(f"{url}/healthz").status_code == 200
        except httpx.TransportError:
            return process.poll() is not None  # ended: fail below, not by timeout

    wait_until(ready, 60, "the server to answer")
    assert process.poll() is None, log_path.read_text()
    yield url, log_path
    process.terminate()
    process.wait(30)


def _sign_in(url: str, login: str, password: str) -> httpx.Client:
    web = httpx.Client(base_url=url, follow_redirects=False)
    page = web.get("/login").text
    csrf = html.unescape(re.search(r'name="csrf_token" value="([^"]+)"', page).group(1))
    web.post("/login", data={"csrf_token": csrf, "login": login, "password": password})
    return web


def test_a_run_logs_ids_counts_sends_and_tells_operators_no_secret(
    served, database_url, settings, smtp, spawn_worker
):
    """One JSON object per log line with the request id, route, status and duration, worker
    lines with the delivery id; the worker's metrics count the send; and the audit, both
    metrics pages and both logs hold no token, password, session id or notification text."""
    url, server_log = served
    created = _traybell(database_url, settings, "admin", "create-user", "ops", "--admin", "--token")
    admin_token = json.loads(created.strip().splitlines()[-1])["token"]
    admin = httpx.Client(base_url=url, headers={"Authorization": f"Bearer {admin_token}"})
    reply = admin.post("/v1/admin/users", json={"user_id": "reader", "email": "r@example.com"})
    user_token = reply.json()["token"]
    user = httpx.Client(base_url=url, headers={"Authorization": f"Bearer {user_token}"})
    assert user.patch("/v1/preferences", json={"email_enabled": True}).status_code == 200
    password = "pass-" + uuid.uuid4().hex
    _traybell(database_url, settings, "admin", "set-password", "reader", stdin=password + "\n")
    _sign_in(url, password, password).close()  # a password typed into the login field
    web = _sign_in(url, "reader", password)
    session_id = web.cookies["traybell_session"]
    marker = uuid.uuid4().hex
    sent = admin.post(
        "/v1/notifications",
        json={
            "user_id": "reader",
            "event_name": "build.failed",
            "title": f"TITLE-{marker}",
            "summary": f"SUMMARY-{marker}",
            "body": f"BODY-{marker}",
            "data": {"k": f"DATA-{marker}"},
            "severity": "warning",
        },
        headers={"X-Request-ID": "run-request-1"},
    )
    assert sent.headers["x-request-id"] == "run-request-1"

    metrics_port = free_port()
    worker = spawn_worker(
        smtp_url=smtp.url, args=["--metrics-port", str(metrics_port)], env=JSON_LOGS
    )
    smtp.mailbox.wait_for(1)
    wait_until(lambda: deliveries(database_url, "reader")[0]["status"] == "sent")
    [job] = deliveries(database_url, "reader")

    worker_metrics = httpx.get(f"http://127.0.0.1:{metrics_port}/metrics").text
    families = {f.name: f for f in text_string_to_metric_families(worker_metrics)}
    messages = {
        (s.labels["channel"], s.labels["result"]): s.value
        for s in families["traybell_worker_messages"].samples
        if s.name.endswith("_total")
    }
    assert messages == {("email", "sent"): 1}
    assert families["traybell_worker_send_duration_seconds"].type == "histogram"
    server_metrics = admin.get("/metrics").text
    audit = admin.get("/v1/admin/audit", params={"limit": 200}).text
    web.close()
    assert worker.terminate() == 0

    server_lines = [json.loads(line) for line in server_log.read_text().splitlines() if line]
    requests = [line for line in server_lines if "route" in line]
    assert {"request_id", "route", "status", "duration_ms"} <= set(requests[0])
    [send_line] = [line for line in requests if line["request_id"] == "run-request-1"]
    assert (send_line["route"], send_line["status"]) == ("/v1/notifications", 201)
    worker_lines = [json.loads(line) for line in worker.log().splitlines() if line]
    assert any(line.get("delivery_id") == str(job["id"]) for line in worker_lines)

    collected = "\n".join(
        [server_log.read_text(), worker.log(), server_metrics, worker_metrics, audit]
    )
    for secret in (admin_token, user_token, password, session_id, marker):
        assert secret not in collected
    assert all(a in audit for a in ("login.success", "login.failure", "notification.send"))
