"""The real senders against a live server on loopback: Prometheus Alertmanager (Debian's
`prometheus-alertmanager`, with `amtool`) through its webhook receiver, and the Apprise
command line through its `gotify://` and `ntfy://` URLs (contract, "Ingest")."""

import json
import shutil
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from tests.support.db import db_fetch, db_value
from tests.support.pg import free_port
from tests.support.waiting import wait_until

ALERTMANAGER = shutil.which("prometheus-alertmanager") or shutil.which("alertmanager")
AMTOOL = shutil.which("amtool")
APPRISE = str(Path(sys.executable).with_name("apprise"))


def _integration(live_server, kind: str, to: list[str]) -> str:
    with live_server.client(live_server.admin_token) as admin:
        reply = admin.post(
            "/v1/admin/integrations", json={"name": f"{kind} here", "kind": kind, "to": to}
        )
    assert reply.status_code == 201, reply.text
    return reply.json()["token"]


@pytest.fixture
def alertmanager(tmp_path: Path, live_server):
    """A real Alertmanager on loopback (no gossip port), its webhook receiver pointed at the
    live server with an alertmanager integration's token, in the settings the console shows;
    yields its URL. It repeats a firing alert every second, as `repeat_interval` does."""
    assert ALERTMANAGER and AMTOOL, "prometheus-alertmanager is a CI package (.ci/apt-ingest.txt)"
    user_id, _ = live_server.create_user()
    token = _integration(live_server, "alertmanager", [f"user:{user_id}"])
    (tmp_path / "alertmanager.yml").write_text(
        f"""
route:
  receiver: traybell
  group_wait: 0s
  group_interval: 1s
  repeat_interval: 1s
receivers:
  - name: traybell
    webhook_configs:
      - url: {live_server.url}/hooks/alertmanager
        send_resolved: true
        http_config:
          authorization:
            credentials: {token}
"""
    )
    port = free_port()
    process = subprocess.Popen(
        [
            ALERTMANAGER,
            f"--config.file={tmp_path / 'alertmanager.yml'}",
            f"--storage.path={tmp_path / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}",
            "--cluster.listen-address=",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"

    def ready() -> bool:
        assert process.poll() is None, "alertmanager exited"
        try:
            return httpx.get(f"{url}/-/ready", timeout=5).status_code == 200
        except httpx.TransportError:
            return False

    wait_until(ready, what="alertmanager to be ready")
    yield url
    process.terminate()
    process.wait(10)


def _amtool(url: str, *args: str) -> None:
    subprocess.run([AMTOOL, f"--alertmanager.url={url}", "alert", "add", *args], check=True)


def _sends(database_url: str) -> list[dict]:
    return db_fetch(
        database_url,
        "SELECT details FROM audit_events WHERE action = 'notification.send' ORDER BY id",
    )


def test_a_real_alertmanager_alert_is_stored_once_and_its_resolve_is_new(alertmanager, live_server):
    """Alertmanager's webhook with `http_config.authorization`: a firing alert is stored with
    the contract's fields; its resends (repeat_interval) store nothing twice; its resolve is a
    new `Resolved: ` notification of severity success."""
    db = live_server.database_url
    _amtool(
        alertmanager,
        "alertname=DiskFull",
        "severity=critical",
        "instance=db-1",
        "--annotation=summary=Disk almost full on db-1",
        "--annotation=description=Only 2% left",
        "--generator-url=http://127.0.0.1:9090/graph",
    )
    wait_until(lambda: db_value(db, "SELECT count(*) FROM notifications"), what="the alert")
    # Alertmanager sends the group again every repeat_interval: wait for two more deliveries.
    wait_until(lambda: len(_sends(db)) >= 3, what="Alertmanager's resends")
    [firing] = db_fetch(
        db, "SELECT title, severity, body, target_url, batch_key FROM notifications"
    )
    assert firing["title"] == "Disk almost full on db-1" and firing["severity"] == "critical"
    assert firing["body"] == "Only 2% left\nalertname=DiskFull\ninstance=db-1\nseverity=critical"
    assert firing["target_url"] == "http://127.0.0.1:9090/graph"
    assert firing["batch_key"].startswith("am:{}")
    resends = [json.loads(s["details"]) for s in _sends(db)[1:]]
    assert all(r["inserted"] == 0 and r["duplicates"] == 1 for r in resends), resends

    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    _amtool(
        alertmanager,
        "alertname=DiskFull",
        "severity=critical",
        "instance=db-1",
        "--annotation=summary=Disk almost full on db-1",
        f"--end={now}",
    )
    wait_until(
        lambda: db_value(db, "SELECT count(*) FROM notifications WHERE severity = 'success'"),
        what="the resolve",
    )
    titles = db_fetch(db, "SELECT title FROM notifications ORDER BY created_at")
    assert [t["title"] for t in titles] == [
        "Disk almost full on db-1",
        "Resolved: Disk almost full on db-1",
    ]


def _apprise(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([APPRISE, "-vv", *args], capture_output=True, text=True, timeout=60)


def test_apprise_sends_through_gotify_and_ntfy_urls(live_server):
    """Apprise's command line, which counts only a 200 as success, sends through a gotify://
    URL (X-Gotify-Key, priority) and an ntfy:// URL (Basic auth with the token as password,
    JSON body with X-Priority and X-Click beside it) to the subscribers of a declared topic."""
    db = live_server.database_url
    user_id, _ = live_server.create_user()
    gotify = _integration(live_server, "gotify", [f"user:{user_id}"])
    ntfy = _integration(live_server, "ntfy", [])
    with live_server.client(live_server.admin_token) as admin:
        assert admin.post("/v1/admin/teams", json={"team_id": "ops"}).status_code == 201
        assert admin.put(f"/v1/admin/teams/ops/members/{user_id}").status_code == 204
        assert admin.put("/v1/admin/topics/backups", json={"open": True}).status_code == 200
        assert admin.put("/v1/admin/topics/backups/teams/ops").status_code == 204
    host = f"127.0.0.1:{live_server.port}"
    sent = _apprise(
        "-t",
        "Backup failed",
        "-b",
        "Nightly run\nsee log",
        f"gotify://{host}/{gotify}?priority=high",
    )
    assert sent.returncode == 0, sent.stdout + sent.stderr
    sent = _apprise(
        "-t",
        "Disk",
        "-b",
        "at 90%",
        f"ntfy://anyone:{ntfy}@{host}/backups?priority=max&click=https://x.test/d",
    )
    assert sent.returncode == 0, sent.stdout + sent.stderr
    rows = db_fetch(
        db,
        "SELECT event_name, title, summary, severity, target_url, topic FROM notifications"
        " WHERE user_id = $1 ORDER BY created_at",
        user_id,
    )
    assert rows == [
        {
            "event_name": "gotify.message",
            "title": "Backup failed",
            "summary": "Nightly run",
            "severity": "critical",
            "target_url": None,
            "topic": None,
        },
        {
            "event_name": "ntfy.message",
            "title": "Disk",
            "summary": "at 90%",
            "severity": "critical",
            "target_url": "https://x.test/d",
            "topic": "backups",
        },
    ]
