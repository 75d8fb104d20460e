"""Sending: idempotency, preferences, suppression, fan-out and unknown recipients."""

from concurrent.futures import ThreadPoolExecutor

import httpx

from tests.support.db import db_value


def _jobs(database_url: str, user_id: str) -> int:
    return db_value(database_url, "SELECT count(*) FROM deliveries WHERE user_id = $1", user_id)


def _rows(database_url: str, user_id: str) -> int:
    return db_value(database_url, "SELECT count(*) FROM notifications WHERE user_id = $1", user_id)


def test_duplicate_webhook_makes_one_row_and_one_job(live_server, database_url):
    """Idempotency: the same resource_id twice stores one row, returns its id, queues one job."""
    user, _ = live_server.create_user(email_enabled=True, email="ops@example.com")
    first = live_server.send(
        user, severity="warning", event_name="invoice.failed", resource_id="inv-9"
    )
    second = live_server.send(
        user, severity="warning", event_name="invoice.failed", resource_id="inv-9"
    )
    assert first["inserted"] == 1 and first["duplicates"] == 0
    assert second["inserted"] == 0 and second["duplicates"] == 1
    assert second["results"][0]["id"] == first["results"][0]["id"]
    assert second["results"][0]["inserted"] is False
    assert _rows(database_url, user) == 1
    assert _jobs(database_url, user) == 1


def test_duplicate_reply_status_is_200_and_first_is_201(live_server):
    """A reply is 201 only when a row was stored."""
    user, _ = live_server.create_user()
    body = {"user_id": user, "event_name": "x.y", "title": "t", "idempotency_key": "k1"}
    with live_server.client(live_server.admin_token) as admin:
        assert admin.post("/v1/notifications", json=body).status_code == 201
        assert admin.post("/v1/notifications", json=body).status_code == 200


def test_idempotency_key_wins_over_resource_id(live_server, database_url):
    """idempotency_key, when given, is the key: a new resource_id with it is still a duplicate."""
    user, _ = live_server.create_user()
    live_server.send(user, resource_id="a", idempotency_key="same")
    again = live_server.send(user, resource_id="b", idempotency_key="same")
    assert again["duplicates"] == 1
    assert _rows(database_url, user) == 1


def test_derived_keys_cannot_collide_across_the_colon(live_server, database_url):
    """Idempotency key from resource_id: event "deploy:prod" with resource "web" and event
    "deploy" with resource "prod:web" are different notifications, and a repeat of either is a
    duplicate of its own."""
    user, _ = live_server.create_user()
    first = live_server.send(user, event_name="deploy:prod", resource_id="web")
    other = live_server.send(user, event_name="deploy", resource_id="prod:web")
    assert first["inserted"] == other["inserted"] == 1
    assert first["results"][0]["id"] != other["results"][0]["id"]
    again = live_server.send(user, event_name="deploy", resource_id="prod:web")
    assert again["duplicates"] == 1
    assert again["results"][0]["id"] == other["results"][0]["id"]
    assert _rows(database_url, user) == 2


def test_derived_keys_without_a_colon_in_the_event_name_are_unchanged(live_server, database_url):
    """The keys already stored stay valid: an event name without ":" gives the key it always
    gave, user_id:event_name:resource_id, so a resend after an upgrade is still a duplicate."""
    user, _ = live_server.create_user()
    live_server.send(user, event_name="invoice.failed", resource_id="inv:9")
    stored = db_value(
        database_url, "SELECT idempotency_key FROM notifications WHERE user_id = $1", user
    )
    assert stored == f"{user}:invoice.failed:inv:9"


def test_fifty_concurrent_identical_sends_make_one_row(live_server, database_url):
    """Idempotency under concurrency is decided by the unique index, not a read-then-write."""
    user, _ = live_server.create_user(email_enabled=True, email="ops@example.com")
    body = {
        "user_id": user,
        "event_name": "build.failed",
        "title": "Build failed",
        "severity": "warning",
        "resource_id": "build-77",
    }

    def send(_: int) -> dict:
        with live_server.client(live_server.admin_token) as admin:
            reply = admin.post("/v1/notifications", json=body)
            assert reply.status_code in (200, 201), reply.text
            return reply.json()

    with ThreadPoolExecutor(max_workers=50) as pool:
        replies = list(pool.map(send, range(50)))
    assert sum(r["inserted"] for r in replies) == 1
    assert len({r["results"][0]["id"] for r in replies}) == 1
    assert _rows(database_url, user) == 1
    assert _jobs(database_url, user) == 1


def test_preferences_off_store_in_app_and_queue_nothing(live_server, database_url):
    """External channels are side effects: off (the default) means the row and no job."""
    user, _ = live_server.create_user(email="ops@example.com")  # email_enabled stays false
    live_server.send(user, severity="critical")
    assert _rows(database_url, user) == 1
    assert _jobs(database_url, user) == 0


def test_only_warning_and_critical_are_queued(live_server, database_url):
    """info and success stay in-app even with every channel on."""
    user, _ = live_server.create_user(
        email_enabled=True,
        email="ops@example.com",
        push_enabled=True,
        push_urls=["json://127.0.0.1:9/x"],
    )
    live_server.send(user, severity="info")
    live_server.send(user, severity="success")
    assert _jobs(database_url, user) == 0
    live_server.send(user, severity="warning")
    assert _jobs(database_url, user) == 2  # one email, one push


def test_no_address_no_job(live_server, database_url):
    """A channel switched on without an address queues nothing."""
    user, _ = live_server.create_user(email_enabled=True, push_enabled=True)
    live_server.send(user, severity="critical")
    assert _jobs(database_url, user) == 0


def test_in_app_disabled_suppresses_all_but_critical(live_server, database_url):
    """in_app_enabled false suppresses every severity except critical, which is still stored."""
    user, _ = live_server.create_user(in_app_enabled=False)
    suppressed = live_server.send(user, severity="warning")
    assert suppressed["results"] == [
        {"user_id": user, "id": None, "inserted": False, "suppressed": True}
    ]
    assert suppressed["inserted"] == 0 and suppressed["duplicates"] == 0
    stored = live_server.send(user, severity="critical")
    assert stored["inserted"] == 1
    assert _rows(database_url, user) == 1


def test_fan_out_to_user_ids_and_all_users(live_server, database_url):
    """user_ids and all_users store one row per recipient in one request."""
    users = [live_server.create_user()[0] for _ in range(3)]
    reply = live_server.send(users + users[:1], title="Deploy")  # a repeated id counts once
    assert reply["inserted"] == 3
    assert {r["user_id"] for r in reply["results"]} == set(users)
    with live_server.client(live_server.admin_token) as admin:
        everyone = admin.post(
            "/v1/notifications", json={"all_users": True, "event_name": "all.hands", "title": "Hi"}
        )
    assert everyone.status_code == 201
    # The three users and the admin that sends.
    assert everyone.json()["inserted"] == 4


def test_unknown_recipient_rejects_the_whole_request(live_server, database_url):
    """An unknown id makes the request 422, lists the unknown ids, and stores nothing."""
    user, _ = live_server.create_user()
    with live_server.client(live_server.admin_token) as admin:
        reply = admin.post(
            "/v1/notifications",
            json={"user_ids": [user, "ghost-1", "ghost-2"], "event_name": "a", "title": "t"},
        )
    assert reply.status_code == 422
    error = reply.json()["error"]
    assert error["code"] == "unknown_users"
    assert error["unknown_user_ids"] == ["ghost-1", "ghost-2"]
    assert _rows(database_url, user) == 0


def test_sql_and_html_are_stored_and_returned_verbatim(live_server):
    """Text is data: quotes, SQL and markup come back exactly as sent."""
    user, token = live_server.create_user()
    title = "'; DROP TABLE notifications; -- <script>alert(1)</script> ü 🚀"
    live_server.send(user, title=title, body='<img src=x onerror="x">', data={"q": "a'b\"c"})
    with live_server.client(token) as client:
        [stored] = client.get("/v1/notifications").json()["notifications"]
    assert stored["title"] == title
    assert stored["body"] == '<img src=x onerror="x">'
    assert stored["data"] == {"q": "a'b\"c"}


def test_send_needs_admin_scope(live_server):
    """Only admins send: a user token gets 403 and nothing is stored."""
    user, token = live_server.create_user()
    with live_server.client(token) as client:
        reply = client.post(
            "/v1/notifications", json={"user_id": user, "event_name": "a", "title": "t"}
        )
    assert reply.status_code == 403
    assert reply.json()["error"]["code"] == "forbidden"


def test_send_over_real_http_client_without_token_is_401(live_server):
    """Every /v1 call needs a bearer token."""
    reply = httpx.post(live_server.url + "/v1/notifications", json={})
    assert reply.status_code == 401
    assert reply.json()["error"]["code"] == "unauthorized"
