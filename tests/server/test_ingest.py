"""Ingest (contract, "Ingest"): integrations and their `ingest` tokens, and what Alertmanager,
Gotify and ntfy clients send, over a live server; the real senders are in
tests/e2e/test_ingest_sources.py."""

import base64
import json
from pathlib import Path

import httpx
import pytest

from tests.support.db import db_fetch, db_value
from tests.support.live import LiveServer
from tests.support.waiting import wait_until

PAYLOADS = Path(__file__).parent / "payloads"


def _admin(live_server) -> httpx.Client:
    return live_server.client(live_server.admin_token)


def _team(live_server, team_id: str, *members: str) -> None:
    with _admin(live_server) as admin:
        assert admin.post("/v1/admin/teams", json={"team_id": team_id}).status_code == 201
        for member in members:
            assert admin.put(f"/v1/admin/teams/{team_id}/members/{member}").status_code == 204


def _integration(live_server, kind: str, to: list[str], **fields) -> tuple[dict, str]:
    with _admin(live_server) as admin:
        reply = admin.post(
            "/v1/admin/integrations",
            json={"name": f"{kind} source", "kind": kind, "to": to} | fields,
        )
    assert reply.status_code == 201, reply.text
    return reply.json()["integration"], reply.json()["token"]


def _stored(database_url: str) -> list[dict]:
    return db_fetch(
        database_url,
        "SELECT user_id, event_name, title, summary, body, target_url, severity, data,"
        " idempotency_key, batch_key, topic, audience FROM notifications ORDER BY user_id, title",
    )


def _basic(token: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"anyone:{token}".encode()).decode()}


def test_integrations_are_created_listed_and_deleted_with_a_token_of_their_own(
    live_server, database_url
):
    """Integrations API: create shows the token once (201), the list has no token and the last
    use; an unknown address is 422; an ingest token is 401 on /v1 and on another kind's
    endpoint; delete is 204 and stops the token at once; create and delete are audited."""
    alice, _ = live_server.create_user()
    _team(live_server, "ops", alice)
    integration, token = _integration(live_server, "alertmanager", ["team:ops"], topic="alerts")
    assert integration["to"] == ["team:ops"] and integration["topic"] == "alerts"
    assert integration["last_used_at"] is None
    with _admin(live_server) as admin:
        bad = admin.post(
            "/v1/admin/integrations",
            json={"name": "x", "kind": "gotify", "to": ["team:nobody"]},
        )
        assert bad.status_code == 422 and bad.json()["error"]["code"] == "unknown_addresses"
        assert (
            admin.post(
                "/v1/admin/integrations", json={"name": "x", "kind": "gotify", "to": []}
            ).status_code
            == 422
        )
    with live_server.client(token) as source:
        assert source.get("/v1/me").status_code == 401
        assert source.get("/v1/notifications").status_code == 401
        assert source.post("/message", json={"message": "hi"}).status_code == 401
        assert source.post("/hooks/alertmanager", json={"alerts": []}).json() == {
            "stored": 0,
            "duplicates": 0,
        }
    with _admin(live_server) as admin:
        [listed] = admin.get("/v1/admin/integrations").json()["integrations"]
        assert "token" not in listed and listed["last_used_at"] is not None
        assert admin.delete(f"/v1/admin/integrations/{listed['integration_id']}").status_code == 204
        assert admin.delete(f"/v1/admin/integrations/{listed['integration_id']}").status_code == 404
        assert admin.delete("/v1/admin/integrations/not-a-uuid").status_code == 404
        assert admin.get("/v1/admin/integrations").json() == {"integrations": []}
    with live_server.client(token) as source:
        assert source.post("/hooks/alertmanager", json={"alerts": []}).status_code == 401
    actions = db_fetch(
        database_url,
        "SELECT action, target FROM audit_events WHERE action LIKE 'integration.%' ORDER BY id",
    )
    assert [a["action"] for a in actions] == ["integration.create", "integration.delete"]
    assert {a["target"] for a in actions} == {integration["integration_id"]}


def test_an_alertmanager_payload_maps_every_field_and_a_resend_stores_nothing(
    live_server, database_url
):
    """Alertmanager mapping, field by field from a recorded payload: title (summary, else
    alertname; `Resolved: `), summary (first line of the description), body (description and
    sorted labels), severity map (page -> critical, resolved -> success), event name, topic,
    target_url only for http(s), the keys; the resend stores nothing twice; the audit event
    names the kind and the integration."""
    alice, _ = live_server.create_user()
    _team(live_server, "ops", alice)
    integration, token = _integration(live_server, "alertmanager", ["team:ops"], topic="alerts")
    payload = json.loads((PAYLOADS / "alertmanager_firing.json").read_text())
    with live_server.client(token) as source:
        first = source.post("/hooks/alertmanager", json=payload)
        again = source.post("/hooks/alertmanager", json=payload)
    assert first.status_code == 200 and first.json() == {"stored": 2, "duplicates": 0}
    assert again.status_code == 200 and again.json() == {"stored": 0, "duplicates": 2}
    disk, latency = _stored(database_url)
    assert disk == {
        "user_id": alice,
        "event_name": "alertmanager.diskfull_",
        "title": "Disk almost full on db-1",
        "summary": "Only 2% left on /var.",
        "body": "Only 2% left on /var.\nGrows 1 GiB an hour.\n"
        "alertname=DiskFull!\ninstance=db-1:9100\njob=node\nseverity=page",
        "target_url": "http://prometheus.example:9090/graph?g0.expr=disk",
        "severity": "critical",
        "data": disk["data"],
        "idempotency_key": "am:a1b2c3d4e5f60718:2026-12-08T03:00:00.000Z:firing",
        "batch_key": 'am:{}:{alertname="DiskFull!"}',
        "topic": "alerts",
        "audience": "team:ops",
    }
    assert json.loads(disk["data"])["fingerprint"] == "a1b2c3d4e5f60718"
    assert latency["title"] == "Resolved: HighLatency" and latency["severity"] == "success"
    assert latency["summary"] == "" and latency["target_url"] is None
    assert latency["body"] == "alertname=HighLatency\nseverity=warning"
    assert latency["idempotency_key"] == "am:0f0e0d0c0b0a0908:2026-12-08T02:00:00.000Z:resolved"
    details = db_value(
        database_url,
        "SELECT details FROM audit_events WHERE action = 'notification.send' ORDER BY id LIMIT 1",
    )
    details = json.loads(details)
    assert details["via"] == "alertmanager"
    assert details["integration_id"] == integration["integration_id"]
    assert "title" not in details


def test_source_text_over_the_limits_is_cut_never_refused(live_server, database_url):
    """Over-long text from a source is cut (the title to 200 characters ending in `…`), NUL
    characters dropped, long keys kept apart by a hash; the payload is stored, not refused."""
    alice, _ = live_server.create_user()
    _, token = _integration(live_server, "alertmanager", [f"user:{alice}"])
    alert = {
        "status": "firing",
        "labels": {"alertname": "A" * 300, "severity": "warn"},
        "annotations": {"summary": "S" * 500, "description": "d\x00" * 6000},
        "startsAt": "2026-12-08T03:00:00Z",
        "fingerprint": "f" * 300,
    }
    with live_server.client(token) as source:
        reply = source.post("/hooks/alertmanager", json={"groupKey": "g" * 400, "alerts": [alert]})
    assert reply.status_code == 200, reply.text
    [row] = _stored(database_url)
    assert len(row["title"]) == 200 and row["title"].endswith("…")
    assert len(row["event_name"]) == 100 and row["severity"] == "warning"
    assert len(row["body"]) == 5000 and "\x00" not in row["body"]
    assert len(row["idempotency_key"]) == 200 and len(row["batch_key"]) == 200


@pytest.mark.parametrize(
    "body, status",
    [
        (b"{not json", 400),
        (b'{"alerts": "many"}', 422),
        (b'{"alerts": [{"labels": {"a": 1}}]}', 422),
        (b"[]", 422),
    ],
)
def test_a_malformed_alertmanager_payload_is_refused_with_the_error_body(
    live_server, database_url, body, status
):
    """Bad input is 400 or 422 with the error body (Alertmanager does not retry those), and
    nothing is stored."""
    alice, _ = live_server.create_user()
    _, token = _integration(live_server, "alertmanager", [f"user:{alice}"])
    with live_server.client(token) as source:
        reply = source.post(
            "/hooks/alertmanager", content=body, headers={"Content-Type": "application/json"}
        )
    assert reply.status_code == status and "code" in reply.json()["error"]
    assert _stored(database_url) == []


def test_gotify_messages_in_json_and_form_fields_answer_in_gotify_shape(live_server, database_url):
    """Gotify: the token as ?token=, X-Gotify-Key or Bearer; JSON or form fields; priority to
    severity (8+ critical, 4-7 warning, 0-3 info; default 5); title defaults to the
    integration's name; extras' click URL is the link; the reply is 200 in Gotify's shape;
    Idempotency-Key makes a repeat a duplicate."""
    alice, _ = live_server.create_user()
    _, token = _integration(live_server, "gotify", [f"user:{alice}"])
    click = {"client::notification": {"click": {"url": "https://example.com/x"}}}
    with live_server.client() as source:
        reply = source.post(
            f"/message?token={token}",
            json={"message": "Backup failed\nsee log", "priority": 8, "extras": click},
            headers={"Idempotency-Key": "backup-1"},
        )
        repeat = source.post(
            "/message",
            json={"message": "Backup failed\nsee log", "priority": 8},
            headers={"X-Gotify-Key": token, "Idempotency-Key": "backup-1"},
        )
        form = source.post(
            "/message",
            data={"message": "Disk ok", "title": "Disk", "priority": "2"},
            headers={"Authorization": f"Bearer {token}"},
        )
        plain = source.post("/message", json={"message": "plain"}, headers={"X-Gotify-Key": token})
        missing = source.post("/message", json={"title": "no"}, headers={"X-Gotify-Key": token})
    assert reply.status_code == 200, reply.text
    shape = reply.json()
    assert set(shape) == {"id", "appid", "message", "title", "priority", "date", "extras"}
    assert isinstance(shape["id"], int) and isinstance(shape["appid"], int)
    assert shape["title"] == "gotify source" and shape["priority"] == 8
    assert repeat.status_code == 200 and repeat.json()["id"] == shape["id"]
    assert form.status_code == 200 and form.json()["title"] == "Disk"
    assert plain.json()["priority"] == 5 and "extras" not in plain.json()
    assert missing.status_code == 422
    stored = db_fetch(
        database_url,
        "SELECT severity, summary, target_url FROM notifications ORDER BY created_at",
    )
    assert [r["severity"] for r in stored] == ["critical", "info", "warning"]  # 8, 2, 5
    assert stored[0]["summary"] == "Backup failed"
    assert stored[0]["target_url"] == "https://example.com/x"


def test_ntfy_publishes_reach_the_topic_and_the_integration_audience(live_server, database_url):
    """ntfy: JSON to `/` and plain PUT/POST to `/<topic>`; Basic auth with the token as
    password, or Bearer; headers fill what the JSON leaves out; priority words and numbers map
    to severity; click is the link; the recipients are the topic's subscribers and the
    integration's `to`; an undeclared topic is 404; a page's name only by JSON; 200 in ntfy's
    shape."""
    alice, _ = live_server.create_user()
    bob, _ = live_server.create_user()
    _team(live_server, "ops", alice)
    with _admin(live_server) as admin:
        for topic in ("backups", "login"):
            assert admin.put(f"/v1/admin/topics/{topic}", json={"open": True}).status_code == 200
            assert admin.put(f"/v1/admin/topics/{topic}/teams/ops").status_code == 204
    _, token = _integration(live_server, "ntfy", [f"user:{bob}"])
    with live_server.client() as source:
        by_json = source.post(
            "/",
            json={
                "topic": "backups",
                "message": "Nightly backup done",
                "click": "https://x.test/b",
            },
            headers=_basic(token) | {"X-Priority": "max", "X-Title": "Backup"},
        )
        by_put = source.put(
            "/backups",
            content="Disk at 90%",
            headers={"Authorization": f"Bearer {token}", "Priority": "high", "Tags": "disk,warn"},
        )
        by_post = source.post("/backups", content="Hello", headers=_basic(token) | {"t": "Hi"})
        page = source.put("/login", content="no", headers=_basic(token))
        page_json = source.post(
            "/", json={"topic": "login", "message": "yes"}, headers=_basic(token)
        )
        undeclared = source.post("/nothing-here", content="x", headers=_basic(token))
        other_kind = source.post("/message", json={"message": "x"}, headers=_basic(token))
    assert by_json.status_code == 200, by_json.text
    shape = by_json.json()
    assert set(shape) == {"id", "time", "event", "topic", "title", "message"}
    assert shape["event"] == "message" and shape["topic"] == "backups"
    assert shape["title"] == "Backup" and isinstance(shape["time"], int)
    assert by_put.status_code == 200 and by_put.json()["title"] == "backups"
    assert by_post.status_code == 200 and by_post.json()["title"] == "Hi"
    assert page.status_code == 405 and page.json()["error"]["code"] == "method_not_allowed"
    assert page_json.status_code == 200
    assert undeclared.status_code == 404 and "error" in undeclared.json()
    assert other_kind.status_code == 401
    rows = db_fetch(
        database_url,
        "SELECT user_id, title, severity, target_url, topic, audience FROM notifications"
        " WHERE title = 'Backup' ORDER BY user_id",
    )
    assert {r["user_id"] for r in rows} == {alice, bob}
    assert {(r["severity"], r["target_url"], r["topic"]) for r in rows} == {
        ("critical", "https://x.test/b", "backups")
    }
    severities = db_fetch(
        database_url, "SELECT DISTINCT title, severity FROM notifications ORDER BY title"
    )
    assert {r["title"]: r["severity"] for r in severities} == {
        "Backup": "critical",
        "backups": "warning",
        "Hi": "info",
        "login": "info",
    }


def test_the_idempotency_key_header_keys_a_send_whose_body_gives_none(live_server, database_url):
    """`Idempotency-Key` on POST /v1/notifications: the key when the body gives none, so a
    retried request is a duplicate; a body's own key wins."""
    alice, _ = live_server.create_user()
    body = {"user_id": alice, "event_name": "test.event", "title": "T"}
    with _admin(live_server) as admin:
        first = admin.post("/v1/notifications", json=body, headers={"Idempotency-Key": "k-1"})
        again = admin.post("/v1/notifications", json=body, headers={"Idempotency-Key": "k-1"})
        own = admin.post(
            "/v1/notifications",
            json=body | {"idempotency_key": "own"},
            headers={"Idempotency-Key": "k-1"},
        )
        too_long = admin.post(
            "/v1/notifications", json=body, headers={"Idempotency-Key": "k" * 201}
        )
    assert first.status_code == 201 and again.status_code == 200
    assert again.json()["duplicates"] == 1
    assert own.status_code == 201 and too_long.status_code == 422
    keys = db_fetch(database_url, "SELECT idempotency_key FROM notifications ORDER BY 1")
    assert [k["idempotency_key"] for k in keys] == ["k-1", "own"]


def test_a_database_outage_is_503_so_the_source_retries_and_nothing_is_doubled(own_cluster):
    """A database outage answers an Alertmanager payload 503 with the error body (which it
    retries); once the database is back, the retry stores each alert once, and a further
    resend stores nothing twice."""
    server = LiveServer(own_cluster.url())
    try:
        alice, _ = server.create_user()
        _, token = _integration(server, "alertmanager", [f"user:{alice}"])
        payload = json.loads((PAYLOADS / "alertmanager_firing.json").read_text())
        with server.client(token) as source:
            own_cluster.stop()
            down = source.post("/hooks/alertmanager", json=payload)
            assert down.status_code == 503 and "code" in down.json()["error"]
            own_cluster.start()
            retried = wait_until(
                lambda: (
                    (r := source.post("/hooks/alertmanager", json=payload)).status_code == 200 and r
                ),
                what="the server to answer again",
            )
            assert retried.json() == {"stored": 2, "duplicates": 0}
            again = source.post("/hooks/alertmanager", json=payload)
            assert again.json() == {"stored": 0, "duplicates": 2}
        assert db_value(own_cluster.url(), "SELECT count(*) FROM notifications") == 2
    finally:
        server.stop()
