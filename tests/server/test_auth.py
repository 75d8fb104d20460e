"""Auth: bearer tokens, scopes, revocation, and never revealing another user's data."""

import asyncio

import httpx
import pytest

from tests.support.db import db_fetch

USER_CALLS = [
    ("GET", "/v1/notifications/{id}", None),
    ("POST", "/v1/notifications/{id}/read", None),
    ("POST", "/v1/notifications/{id}/unread", None),
    ("POST", "/v1/notifications/{id}/archive", None),
]

ADMIN_CALLS = [
    ("POST", "/v1/notifications", {"user_id": "x", "event_name": "a", "title": "t"}),
    ("POST", "/v1/admin/users", {"user_id": "newcomer"}),
    ("POST", "/v1/admin/users/{user}/tokens", None),
    ("DELETE", "/v1/admin/tokens/00000000-0000-0000-0000-000000000000", None),
    ("GET", "/v1/admin/deliveries", None),
    ("POST", "/v1/admin/deliveries/00000000-0000-0000-0000-000000000000/retry", None),
]


@pytest.fixture
def two_users(live_server):
    owner, owner_token = live_server.create_user()
    _, intruder_token = live_server.create_user()
    nid = live_server.send(owner, title="private", body="secret")["results"][0]["id"]
    return owner, owner_token, intruder_token, nid


@pytest.mark.parametrize(("method", "path", "body"), USER_CALLS)
def test_another_users_notification_is_404(live_server, two_users, method, path, body):
    """A user reaching for another user's notification gets 404 and changes nothing."""
    _, owner_token, intruder_token, nid = two_users
    with live_server.client(intruder_token) as intruder:
        reply = intruder.request(method, path.format(id=nid), json=body)
    assert reply.status_code == 404
    assert reply.json()["error"]["code"] == "not_found"
    with live_server.client(owner_token) as owner:
        stored = owner.get(f"/v1/notifications/{nid}").json()
    assert stored["read_at"] is None and stored["archived_at"] is None


def test_another_users_ids_in_bulk_calls_change_nothing(live_server, two_users):
    """Bulk reads and read-all touch only the caller's rows; lists and sync never show others'."""
    _, owner_token, intruder_token, nid = two_users
    with live_server.client(intruder_token) as intruder:
        assert intruder.post("/v1/notifications/read", json={"ids": [nid]}).json() == {"updated": 0}
        assert intruder.post("/v1/notifications/read-all").json() == {"updated": 0}
        assert intruder.get("/v1/notifications").json()["notifications"] == []
        assert intruder.get("/v1/sync").json()["changes"] == []
    with live_server.client(owner_token) as owner:
        assert owner.get("/v1/notifications/unread-count").json() == {"unread": 1}


def test_unknown_and_malformed_ids_are_404(live_server):
    """A missing notification and a malformed id look the same: 404."""
    _, token = live_server.create_user()
    with live_server.client(token) as client:
        for nid in ("00000000-0000-0000-0000-000000000000", "not-a-uuid"):
            assert client.get(f"/v1/notifications/{nid}").status_code == 404
            assert client.post(f"/v1/notifications/{nid}/read").status_code == 404


@pytest.mark.parametrize(("method", "path", "body"), ADMIN_CALLS)
def test_user_token_on_admin_endpoint_is_403(live_server, method, path, body):
    """Admin calls need the admin scope: a user token gets 403."""
    user, token = live_server.create_user()
    with live_server.client(token) as client:
        reply = client.request(method, path.format(user=user), json=body)
    assert reply.status_code == 403
    assert reply.json()["error"]["code"] == "forbidden"


@pytest.mark.parametrize("header", [None, "Bearer", "Bearer nope", "Basic dXNlcjpwYXNz", "tb_x"])
def test_missing_or_bad_token_is_401(live_server, header):
    """No token, a bad token or another scheme: 401 with the error body."""
    headers = {"Authorization": header} if header else {}
    with live_server.client() as client:
        reply = client.get("/v1/notifications", headers=headers)
    assert reply.status_code == 401
    assert reply.json()["error"]["code"] == "unauthorized"


def test_revoked_token_stops_at_once(live_server):
    """DELETE /v1/admin/tokens/{id}: the very next call with that token is 401."""
    user, token = live_server.create_user()
    with live_server.client(live_server.admin_token) as admin:
        second = admin.post(f"/v1/admin/users/{user}/tokens").json()
    with live_server.client(second["token"]) as client:
        assert client.get("/v1/notifications/unread-count").status_code == 200
        with live_server.client(live_server.admin_token) as admin:
            assert admin.delete(f"/v1/admin/tokens/{second['token_id']}").status_code == 204
        assert client.get("/v1/notifications/unread-count").status_code == 401
    with live_server.client(token) as first:  # the user's other token still works
        assert first.get("/v1/notifications/unread-count").status_code == 200


def test_lookups_made_together_answer_each_token_for_itself(live_server):
    """Token lookups waiting at one moment share one statement (server/sending.py): each
    request still gets its own caller, a revoked token and a disabled user's token are 401
    within the same burst, and a token repeated in the burst is the same caller each time."""
    users = [live_server.create_user() for _ in range(6)]
    revoked_user, revoked = users[0]
    disabled_user, disabled = users[1]
    with live_server.client(live_server.admin_token) as admin:
        second = admin.post(f"/v1/admin/users/{revoked_user}/tokens").json()
        assert admin.delete(f"/v1/admin/tokens/{second['token_id']}").status_code == 204
        assert admin.post(f"/v1/admin/users/{disabled_user}/disable").status_code == 200
    calls = [(user, token) for user, token in users[2:]] * 5
    calls += [(None, second["token"]), (None, disabled), (revoked_user, revoked)] * 5

    async def burst() -> list[tuple[int, dict]]:
        async with httpx.AsyncClient(base_url=live_server.url, timeout=30) as client:
            replies = await asyncio.gather(
                *(
                    client.get("/v1/me", headers={"Authorization": f"Bearer {token}"})
                    for _, token in calls
                )
            )
        return [(reply.status_code, reply.json()) for reply in replies]

    for (user, _), (status, body) in zip(calls, asyncio.run(burst()), strict=True):
        if user is None:
            assert status == 401
        else:
            assert (status, body["user"]["user_id"]) == (200, user)


def test_tokens_are_stored_only_as_hashes(live_server, database_url):
    """The clear token appears nowhere in the database."""
    _, token = live_server.create_user()
    rows = db_fetch(database_url, "SELECT * FROM api_tokens")
    dumped = repr(rows)
    assert token not in dumped and token.encode() not in b"".join(r["token_hash"] for r in rows)


def test_admin_creates_users_and_refuses_a_taken_id(live_server):
    """POST /v1/admin/users is 201 with a working token; a taken id is 409."""
    with live_server.client(live_server.admin_token) as admin:
        created = admin.post("/v1/admin/users", json={"user_id": "ana", "email": "ana@example.com"})
        assert created.status_code == 201
        assert created.json()["user"]["email"] == "ana@example.com"
        taken = admin.post("/v1/admin/users", json={"user_id": "ana"})
        assert taken.status_code == 409 and taken.json()["error"]["code"] == "conflict"
        assert admin.post("/v1/admin/users/ghost/tokens").status_code == 404
    with live_server.client(created.json()["token"]) as ana:
        assert ana.get("/v1/preferences").json()["email"] == "ana@example.com"
