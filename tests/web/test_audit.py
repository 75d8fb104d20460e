"""The audit log: every listed action is recorded once, with its actor and address, in the
transaction of its change, and holds nothing secret."""

import asyncio
import json
import uuid

import asyncpg
import pytest

from server.accounts import Accounts
from server.audit import CLI
from server.db import create_pool
from server.service import Service
from tests.support import live
from tests.support.db import db_fetch, db_value
from tests.support.web import PASSWORD


def _events(live_server, action: str) -> list[dict]:
    with live_server.client(live_server.admin_token) as admin:
        reply = admin.get("/v1/admin/audit", params={"action": action, "limit": 200})
        assert reply.status_code == 200, reply.text
        return reply.json()["events"]


def _only(live_server, action: str, target_user_id: str) -> dict:
    found = [e for e in _events(live_server, action) if e["target_user_id"] == target_user_id]
    assert len(found) == 1, (action, found)
    return found[0]


def _admin_token_id(live_server) -> str:
    with live_server.client(live_server.admin_token) as admin:
        return admin.get("/v1/me").json()["token_id"]


def test_admin_api_actions_are_recorded_once_with_the_token_that_made_them(
    live_server, database_url
):
    """user.create, token.create, user.invite, user.disable, user.enable, token.revoke,
    delivery.retry and preferences.update name their actor (user and token), target and ip."""
    admin_token_id = _admin_token_id(live_server)
    [admin_id] = [r["user_id"] for r in db_fetch(database_url, "SELECT user_id FROM users")]
    user, user_token = live_server.create_user(email_enabled=True, email="a@example.com")
    with live_server.client(live_server.admin_token) as admin:
        extra = admin.post(f"/v1/admin/users/{user}/tokens").json()
        admin.post(f"/v1/admin/users/{user}/invite").raise_for_status()
        admin.delete(f"/v1/admin/tokens/{extra['token_id']}").raise_for_status()
        admin.post(f"/v1/admin/users/{user}/disable").raise_for_status()
        admin.post(f"/v1/admin/users/{user}/enable").raise_for_status()
    other, other_token = live_server.create_user(email_enabled=True, email="b@example.com")
    with live_server.client(other_token) as client:
        client.patch("/v1/preferences", json={"email": "c@example.com"}).raise_for_status()
    live_server.send(other, severity="warning")
    db_fetch(database_url, "UPDATE deliveries SET status = 'failed'")
    [job] = db_fetch(database_url, "SELECT id FROM deliveries")
    with live_server.client(live_server.admin_token) as admin:
        admin.post(f"/v1/admin/deliveries/{job['id']}/retry").raise_for_status()

    by_admin = {"actor_user_id": admin_id, "actor_token_id": admin_token_id, "ip": "127.0.0.1"}
    for action in ("user.create", "user.invite", "user.disable", "user.enable", "token.revoke"):
        event = _only(live_server, action, user)
        assert {k: event[k] for k in by_admin} == by_admin, event
    assert _only(live_server, "user.create", user)["details"] == {"admin": False}
    assert _only(live_server, "token.revoke", user)["target"] == extra["token_id"]
    created = [
        e["target"] for e in _events(live_server, "token.create") if e["target_user_id"] == user
    ]
    assert sorted(created) == sorted([extra["token_id"], live_server._token_ids[user_token]])
    retried = _only(live_server, "delivery.retry", other)
    assert retried["target"] == str(job["id"]) and retried["actor_token_id"] == admin_token_id
    # the first is create_user's own (it sets the channels); newest first
    updates = _events(live_server, "preferences.update")
    prefs = next(e for e in updates if e["target_user_id"] == other)
    assert prefs["actor_user_id"] == other and prefs["details"] == {"fields": ["email"]}
    assert prefs["actor_token_id"] == live_server._token_ids[other_token]


def test_web_sign_in_and_console_actions_name_the_session_user_and_no_token(
    live_server, browser, person
):
    """login.success, login.failure, logout, user.admin and the console's actions carry the
    signed-in user with a null token; a failure names the user only when the login matched."""
    admin_id, _ = person(admin=True)
    web = browser()
    assert web.sign_in(admin_id, "wrong password here").status_code == 200
    typed = "my-secret-password-" + uuid.uuid4().hex
    assert web.sign_in(typed, PASSWORD).status_code == 200
    assert web.sign_in(admin_id, PASSWORD).status_code == 303
    user, _ = live_server.create_user()
    assert (
        web.post(f"/admin/users/{user}/admin", {"admin": "1"}, page="/admin/users").status_code
        == 200
    )
    assert web.post(f"/admin/users/{user}/disable", {}, page="/admin/users").status_code == 200
    assert web.post("/logout", {}, page="/settings").status_code == 303

    failures = _events(live_server, "login.failure")
    assert [(f["target_user_id"], f["details"]["reason"]) for f in failures] == [
        (None, "unknown_login"),
        (admin_id, "password"),
    ]
    assert all(f["actor_user_id"] is None for f in failures)
    assert typed not in json.dumps(failures)
    for action, target in (
        ("login.success", admin_id),
        ("user.admin", user),
        ("user.disable", user),
        ("logout", admin_id),
    ):
        event = _only(live_server, action, target)
        assert (event["actor_user_id"], event["actor_token_id"], event["ip"]) == (
            admin_id,
            None,
            "127.0.0.1",
        ), event
    with live_server.client(live_server.admin_token) as admin:
        page = admin.get("/v1/admin/audit", params={"limit": 2})
        assert len(page.json()["events"]) == 2
        rest = admin.get("/v1/admin/audit", params={"before": page.json()["next_before"]})
        assert {e["id"] for e in rest.json()["events"]}.isdisjoint(
            {e["id"] for e in page.json()["events"]}
        )
        assert admin.get("/v1/admin/audit", params={"before": "nonsense"}).status_code == 400


def test_forwarded_for_is_believed_from_loopback_only_as_its_nearest_untrusted_hop(live_server):
    """Through a proxy on loopback the event holds the client's address from X-Forwarded-For,
    the hop next to the proxy, not what the client claims further left."""
    user, _ = live_server.create_user()
    with live_server.client(live_server.admin_token) as admin:
        admin.post(
            f"/v1/admin/users/{user}/disable",
            headers={"X-Forwarded-For": "10.9.9.9, 203.0.113.7"},
        ).raise_for_status()
    assert _only(live_server, "user.disable", user)["ip"] == "203.0.113.7"


def test_command_line_actions_have_no_actor_and_say_cli(live_server, database_url):
    """set-password and invite from the command line: a null actor, details.via "cli"."""
    user, _ = live_server.create_user()

    async def act() -> None:
        pool = await create_pool(database_url, min_size=1, max_size=1)
        try:
            accounts = Accounts(pool, live.test_settings())
            await accounts.set_password(user, PASSWORD, CLI)
            await accounts.create_invite(user, CLI)
        finally:
            await pool.close()

    asyncio.run(act())
    for action in ("password.set", "user.invite"):
        event = _only(live_server, action, user)
        assert (event["actor_user_id"], event["actor_token_id"], event["ip"]) == (None, None, None)
        assert event["details"] == {"via": "cli"}


def test_a_change_that_fails_leaves_no_event_and_an_event_that_fails_leaves_no_change(
    live_server, database_url
):
    """A refused change records nothing; and when the event cannot be written the change
    rolls back with it (one transaction)."""
    user, _ = live_server.create_user()
    with live_server.client(live_server.admin_token) as admin:
        assert admin.post("/v1/admin/users", json={"user_id": user}).status_code == 409
        assert admin.post("/v1/admin/users/nobody/disable").status_code == 404
    assert len(_events(live_server, "user.create")) == 2  # the admin's and the user's
    assert _events(live_server, "user.disable") == []

    db_fetch(
        database_url,
        "ALTER TABLE audit_events ADD CONSTRAINT no_disable CHECK (action <> 'user.disable')",
    )

    async def disable() -> None:
        pool = await create_pool(database_url, min_size=1, max_size=1)
        try:
            await Service(pool, live.test_settings()).set_disabled(user, True, CLI)
        finally:
            await pool.close()

    with pytest.raises(asyncpg.CheckViolationError):
        asyncio.run(disable())
    assert db_value(database_url, "SELECT disabled_at FROM users WHERE user_id = $1", user) is None


def test_audit_needs_an_admin_and_clamps_its_limit(live_server):
    """GET /v1/admin/audit: 401 without a token, 403 for a user, limit at most 200."""
    _, user_token = live_server.create_user()
    with live_server.client() as anonymous:
        assert anonymous.get("/v1/admin/audit").status_code == 401
    with live_server.client(user_token) as client:
        assert client.get("/v1/admin/audit").status_code == 403
    with live_server.client(live_server.admin_token) as admin:
        assert admin.get("/v1/admin/audit", params={"limit": 10**6}).status_code == 200


def test_console_shows_the_audit_log_filtered_by_action_and_user(live_server, browser, person):
    """The admin console's audit page lists events, by action and by user."""
    admin_id, _ = person(admin=True)
    web = browser()
    web.sign_in(admin_id, PASSWORD)
    first, _ = live_server.create_user()
    second, _ = live_server.create_user()
    web.post(f"/admin/users/{first}/disable", {}, page="/admin/users")
    by_action = web.get("/admin/audit", params={"action": "user.disable"}).text
    audit_section = by_action[by_action.index("<tbody", by_action.index('id="audit"')) :]
    assert first in audit_section and second not in audit_section
    by_user = web.get("/admin/audit", params={"user": second}).text
    audit_section = by_user[by_user.index("<tbody", by_user.index('id="audit"')) :]
    assert "user.create" in audit_section and "user.disable" not in audit_section


def test_a_send_is_recorded_once_with_counts_and_never_its_text(live_server, browser, person):
    """notification.send from the API (the admin's token) and the console (the session):
    event name, severity, recipients, inserted and duplicates, no title, body or data; a send
    naming an unknown user stores nothing and records nothing."""
    reader, _ = live_server.create_user()
    other, _ = live_server.create_user()
    fields = {"title": "TITLE-SECRET", "body": "BODY-SECRET", "data": {"k": "DATA-SECRET"}}
    live_server.send([reader, other], severity="warning", idempotency_key="once", **fields)
    live_server.send([reader, other], severity="warning", idempotency_key="once", **fields)
    with live_server.client(live_server.admin_token) as admin:
        refused = admin.post(
            "/v1/notifications",
            json={"user_id": "nobody-here", "event_name": "x", "title": "T"},
        )
        assert refused.status_code == 422
    [second, first] = _events(live_server, "notification.send")
    assert first["actor_token_id"] == _admin_token_id(live_server)
    expected = {"event_name": "test.event", "severity": "warning", "recipients": 2}
    assert first["details"] == {**expected, "inserted": 2, "duplicates": 0}
    assert second["details"] == {**expected, "inserted": 0, "duplicates": 2}
    assert "SECRET" not in json.dumps([first, second])

    admin_id, _ = person(admin=True)
    web = browser()
    web.sign_in(admin_id, PASSWORD)
    form = {"recipients": reader, "title": "Console TITLE-SECRET", "step": "send"}
    assert web.post("/admin/send", form, page="/admin/send").status_code == 200
    console = _events(live_server, "notification.send")[0]
    assert (console["actor_user_id"], console["actor_token_id"]) == (admin_id, None)
    assert console["target_user_id"] == reader
    assert console["details"]["event_name"] == "admin.message"


def test_device_sign_in_and_own_changes_name_the_signed_in_user(live_server, browser, person):
    """device.approve and device.deny by the session's user (with the client's name), the
    device's token.create, the user's own password change and token revoke on the web."""
    user, _ = person()
    web = browser()
    web.sign_in(user, PASSWORD)
    with live_server.client() as anonymous:
        approved, denied = (
            anonymous.post("/v1/device/authorize", json={"client_name": name}).json()
            for name in ("Traybell on laptop", "Traybell on stranger")
        )
        for grant, action in ((approved, "approve"), (denied, "deny")):
            code = grant["user_code"]
            form = {"user_code": code, "action": action}
            assert web.post("/device", form, page=f"/device?code={code}").status_code == 200
        token = anonymous.post("/v1/device/token", json={"device_code": approved["device_code"]})
        assert token.status_code == 200
    approve = _only(live_server, "device.approve", user)
    deny = _only(live_server, "device.deny", user)
    assert (approve["actor_user_id"], approve["actor_token_id"]) == (user, None)
    assert approve["details"] == {"client_name": "Traybell on laptop", "scope": "user"}
    assert deny["details"] == {"client_name": "Traybell on stranger", "scope": "user"}
    device_token = next(
        e for e in _events(live_server, "token.create") if e["target"] == token.json()["token_id"]
    )
    assert device_token["details"] == {"kind": "device", "scope": "user", "via": "device sign-in"}

    assert (
        web.post(
            f"/settings/tokens/{token.json()['token_id']}/revoke", {}, page="/settings"
        ).status_code
        == 303
    )
    revoke = _only(live_server, "token.revoke", user)
    assert (revoke["actor_user_id"], revoke["target"]) == (user, token.json()["token_id"])
    new_password = "another passphrase " + uuid.uuid4().hex
    changed = web.post(
        "/settings/password",
        {
            "current_password": PASSWORD,
            "new_password": new_password,
            "new_password_confirm": new_password,
        },
        page="/settings",
    )
    assert changed.status_code == 303
    password_events = [e for e in _events(live_server, "password.set") if e["actor_user_id"]]
    assert [(e["actor_user_id"], e["target_user_id"]) for e in password_events] == [(user, user)]
    assert new_password not in json.dumps(_events(live_server, "password.set"))
