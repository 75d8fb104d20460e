"""Device sign-in in the RFC 8628 shape, the caller's own tokens, and disabling a user."""

import asyncio
import re

import asyncpg

from tests.support.web import PASSWORD

ALPHABET = "BCDFGHJKLMNPQRSTVWXZ"


def _authorize(client, name="Traybell on test-laptop"):
    reply = client.post("/v1/device/authorize", json={"client_name": name})
    assert reply.status_code == 200, reply.text
    return reply.json()


def _poll(client, device_code):
    return client.post("/v1/device/token", json={"device_code": device_code})


def _signed_in(browser, user):
    web = browser()
    assert web.sign_in(user, PASSWORD).status_code == 303
    return web


def _approve(web, user_code, action="approve"):
    page = f"/device?code={user_code}"
    return web.post("/device", {"user_code": user_code, "action": action}, page=page)


def test_authorize_answers_the_contract_shape(live_server):
    """device_code, an 8-letter user code of the unambiguous alphabet shown as XXXX-XXXX, the
    verification URIs, expires_in 600 and interval 5; no token needed."""
    with live_server.client() as anonymous:
        grant = _authorize(anonymous)
    assert re.fullmatch(rf"[{ALPHABET}]{{4}}-[{ALPHABET}]{{4}}", grant["user_code"])
    assert grant["verification_uri"] == "http://127.0.0.1:8000/device"
    assert grant["verification_uri_complete"] == (
        f"http://127.0.0.1:8000/device?code={grant['user_code']}"
    )
    assert grant["expires_in"] == 600 and grant["interval"] == 5
    assert len(grant["device_code"]) >= 40


def test_the_whole_flow_pending_slow_down_approve_and_a_token_exactly_once(
    live_server, person, browser
):
    """Polls answer authorization_pending, then slow_down when too fast; after approval the token
    comes once (kind device, named after the client); the next poll is expired_token."""
    user, _ = person()
    with live_server.client() as anonymous:
        grant = _authorize(anonymous, "Traybell on alice-laptop")
        first = _poll(anonymous, grant["device_code"])
        assert first.status_code == 400
        assert first.json()["error"]["code"] == "authorization_pending"
        too_fast = _poll(anonymous, grant["device_code"])
        assert too_fast.json()["error"]["code"] == "slow_down"

        web = _signed_in(browser, user)
        page = web.get(f"/device?code={grant['user_code'].lower().replace('-', '')}")
        assert page.status_code == 200
        assert "Traybell on alice-laptop" in page.text and grant["user_code"] in page.text
        assert _approve(web, grant["user_code"]).status_code == 200

        issued = _poll(anonymous, grant["device_code"])
        assert issued.status_code == 200, issued.text
        body = issued.json()
        assert body["user_id"] == user and body["token"].startswith("tb_")
        again = _poll(anonymous, grant["device_code"])
        assert again.status_code == 400 and again.json()["error"]["code"] == "expired_token"

    with live_server.client(body["token"]) as device:
        tokens = device.get("/v1/me/tokens").json()["tokens"]
        me = device.get("/v1/me").json()
    assert me["user"]["user_id"] == user and me["token_id"] == body["token_id"]
    [mine] = [t for t in tokens if t["token_id"] == body["token_id"]]
    assert mine["kind"] == "device" and mine["name"] == "Traybell on alice-laptop"
    assert mine["last_used_at"] is not None


def test_deny_gives_access_denied_and_a_wrong_code_approves_nothing(live_server, person, browser):
    """Denied is access_denied; a mistyped code finds no device and approves nothing."""
    user, _ = person()
    web = _signed_in(browser, user)
    with live_server.client() as anonymous:
        denied, waiting = _authorize(anonymous), _authorize(anonymous)
        assert _approve(web, denied["user_code"], "deny").status_code == 200
        assert _poll(anonymous, denied["device_code"]).json()["error"]["code"] == "access_denied"

        wrong = "BBBB-BBBB" if waiting["user_code"] != "BBBB-BBBB" else "CCCC-CCCC"
        assert web.get(f"/device?code={wrong}").status_code == 404
        assert _approve(web, wrong).status_code == 404
        still = _poll(anonymous, waiting["device_code"])
        assert still.json()["error"]["code"] == "authorization_pending"


def test_an_expired_code_gives_expired_token_and_cannot_be_approved(
    live_server, person, browser, database_url
):
    """Past expires_in a poll is expired_token and the page finds no device."""
    user, _ = person()
    with live_server.client() as anonymous:
        grant = _authorize(anonymous)

        async def expire() -> None:
            conn = await asyncpg.connect(database_url)
            await conn.execute("UPDATE device_codes SET expires_at = now()")
            await conn.close()

        asyncio.run(expire())
        assert _poll(anonymous, grant["device_code"]).json()["error"]["code"] == "expired_token"
    web = _signed_in(browser, user)
    assert web.get(f"/device?code={grant['user_code']}").status_code == 404


def test_at_most_five_codes_entered_per_session_per_minute(live_server, person, browser):
    """Guessing codes is throttled per session: the sixth entry in a minute is 429."""
    user, _ = person()
    web = _signed_in(browser, user)
    for _ in range(5):
        assert web.get("/device?code=BBBB-CCCC").status_code in (200, 404)
    assert web.get("/device?code=BBBB-CCCC").status_code == 429


def test_the_device_page_needs_a_session_and_keeps_the_code(live_server, browser):
    """Without a session /device?code=C is a 303 to the sign-in page, which returns to it."""
    reply = browser().get("/device?code=BCDF-GHJK")
    assert reply.status_code == 303
    assert reply.headers["location"] == "/login?next=/device%3Fcode%3DBCDF-GHJK"


def test_own_tokens_listed_and_revoked_another_users_is_404(live_server, person, browser):
    """GET /v1/me/tokens lists the caller's own; DELETE stops one at once; another user's id is
    404 and stays working."""
    user, token = person()
    _other, other_token = person()
    with live_server.client(other_token) as theirs:
        [their_token] = theirs.get("/v1/me/tokens").json()["tokens"]
    with live_server.client(token) as mine:
        [own] = mine.get("/v1/me/tokens").json()["tokens"]
        assert own["kind"] == "api"
        assert mine.delete(f"/v1/me/tokens/{their_token['token_id']}").status_code == 404
        assert mine.delete("/v1/me/tokens/not-a-uuid").status_code == 404
    with live_server.client(other_token) as theirs:
        assert theirs.get("/v1/me").status_code == 200

    web = _signed_in(browser, user)
    settings = web.get("/settings").text
    assert own["token_id"] in settings
    revoked = web.post(f"/settings/tokens/{own['token_id']}/revoke", {}, page="/settings")
    assert revoked.status_code == 303
    with live_server.client(token) as mine:
        assert mine.get("/v1/me").status_code == 401


def test_disable_ends_every_token_and_session_and_enable_revives_none(live_server, person, browser):
    """A disabled user's tokens and sessions are 401 / signed out at once, sign-in fails with
    the usual message; enabling lets them sign in anew but old tokens stay void."""
    user, token = person()
    web = _signed_in(browser, user)
    admin = live_server.client(live_server.admin_token)
    with admin:
        disabled = admin.post(f"/v1/admin/users/{user}/disable")
        assert disabled.status_code == 200 and disabled.json()["user"]["disabled"] is True
        with live_server.client(token) as as_user:
            assert as_user.get("/v1/notifications").status_code == 401
        assert web.get("/").status_code == 303
        assert browser().sign_in(user, PASSWORD).status_code == 200

        enabled = admin.post(f"/v1/admin/users/{user}/enable")
        assert enabled.json()["user"]["disabled"] is False
        with live_server.client(token) as as_user:
            assert as_user.get("/v1/notifications").status_code == 401
        assert browser().sign_in(user, PASSWORD).status_code == 303
        assert admin.post("/v1/admin/users/nobody/disable").status_code == 404
    with live_server.client(token) as as_user:
        assert as_user.post(f"/v1/admin/users/{user}/enable").status_code == 401


def test_admin_console_disables_and_enables(live_server, person, browser):
    """The console's Disable and Enable buttons; an admin cannot disable themselves (the
    service's rule, shown on the page)."""
    admin, _ = person(admin=True)
    user, token = person()
    web = _signed_in(browser, admin)
    assert "is disabled" in web.post(f"/admin/users/{user}/disable", {}, page="/admin/users").text
    with live_server.client(token) as as_user:
        assert as_user.get("/v1/me").status_code == 401
    assert "enabled again" in web.post(f"/admin/users/{user}/enable", {}, page="/admin/users").text
    refused = web.post(f"/admin/users/{admin}/disable", {}, page="/admin/users")
    assert refused.status_code == 409 and "You cannot disable yourself" in refused.text
    assert web.get("/admin/users").status_code == 200  # still signed in: nothing changed


def test_sends_skip_a_disabled_user_and_all_users_leaves_them_out(live_server, person):
    """A send names a disabled user: suppressed, even for critical; all_users leaves them out;
    what they had stays."""
    user, _ = person()
    other, _ = person()
    kept = live_server.send(user, title="Before they left")["results"][0]["id"]
    with live_server.client(live_server.admin_token) as admin:
        admin.post(f"/v1/admin/users/{user}/disable").raise_for_status()
        named = admin.post(
            "/v1/notifications",
            json={
                "user_ids": [user, other],
                "event_name": "t",
                "title": "x",
                "severity": "critical",
            },
        ).json()
        everyone = admin.post(
            "/v1/notifications", json={"all_users": True, "event_name": "t", "title": "all"}
        ).json()
        admin.post(f"/v1/admin/users/{user}/enable").raise_for_status()
    by_user = {r["user_id"]: r for r in named["results"]}
    assert by_user[user] == {"user_id": user, "id": None, "inserted": False, "suppressed": True}
    assert by_user[other]["inserted"] is True
    assert user not in {r["user_id"] for r in everyone["results"]}
    assert other in {r["user_id"] for r in everyone["results"]}
    with live_server.client(live_server.admin_token) as admin:
        new_token = admin.post(f"/v1/admin/users/{user}/tokens").json()["token"]
    with live_server.client(new_token) as revived:
        ids = [n["id"] for n in revived.get("/v1/notifications").json()["notifications"]]
    assert ids == [kept]
