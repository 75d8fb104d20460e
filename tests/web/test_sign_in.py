"""Signing in on the web: sessions in the database, CSRF, throttling, safe redirects, invites."""

import asyncio
import re

import asyncpg
import httpx

from tests.support.live import LiveServer
from tests.support.live import test_settings as settings_with
from tests.support.web import PASSWORD


def _cookie_header(reply: httpx.Response, name: str) -> str:
    [header] = [h for h in reply.headers.get_list("set-cookie") if h.startswith(name + "=")]
    return header


def test_anonymous_notification_link_redirects_to_sign_in_and_leaks_nothing(
    live_server, person, browser
):
    """/n/<id> without a session is a 303 to /login?next=/n/<id>, showing nothing of it."""
    user, _ = person()
    sent = live_server.send(user, title="Quarterly numbers", body="secret figures")
    notification_id = sent["results"][0]["id"]
    reply = browser().get(f"/n/{notification_id}")
    assert reply.status_code == 303
    assert reply.headers["location"] == f"/login?next=/n/{notification_id}"
    assert "Quarterly" not in reply.text and "secret" not in reply.text
    for page in ("/", "/settings", "/admin", "/admin/users"):
        assert browser().get(page).status_code == 303, page


def test_wrong_password_and_unknown_login_get_one_message_and_right_one_signs_in(person, browser):
    """A failed sign-in shows the form again with one message that names no field; the right
    password leads to `next` with a session cookie."""
    user, _ = person()
    web = browser()
    wrong = web.sign_in(user, "not the password")
    unknown = web.sign_in("nobody-" + user, PASSWORD)
    assert wrong.status_code == unknown.status_code == 200
    message = "That sign-in did not work. Check both fields and try again."
    assert message in wrong.text and message in unknown.text
    assert "traybell_session" not in wrong.headers.get("set-cookie", "")
    right = web.sign_in(user, PASSWORD, next_path="/settings")
    assert right.status_code == 303 and right.headers["location"] == "/settings"
    assert web.get("/settings").status_code == 200


def test_sign_in_by_email(live_server, person, browser):
    """The login field takes the email address as well as the user id."""
    person(email="Signs.In@example.com")
    assert browser().sign_in("signs.in@EXAMPLE.com", PASSWORD).status_code == 303


def test_session_cookie_flags(person, browser, database_url):
    """traybell_session is HttpOnly, SameSite=Lax, Path=/, and Secure only behind https."""
    user, _ = person()
    header = _cookie_header(browser().sign_in(user, PASSWORD), "traybell_session").lower()
    assert "httponly" in header and "samesite=lax" in header and "path=/" in header
    assert "secure" not in header

    https_server = LiveServer(database_url, settings_with(public_url="https://tb.example"))
    try:
        # httpx keeps Secure cookies away from http://, so this browser hands them over by hand
        with httpx.Client(base_url=https_server.url) as http:
            page = http.get("/login")
            secret = _cookie_header(page, "traybell_csrf")
            assert "secure" in secret.lower()
            token = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
            reply = http.post(
                "/login",
                data={"login": user, "password": PASSWORD, "csrf_token": token},
                headers={"Cookie": secret.split(";")[0]},
            )
        assert reply.status_code == 303
        assert "secure" in _cookie_header(reply, "traybell_session").lower()
    finally:
        https_server.stop()


def test_next_stays_on_this_site(person, browser):
    """`next` is followed only when it is a path on this site."""
    user, _ = person()
    for hostile in ("//evil.example/x", "https://evil.example/", "/\\evil.example", "javascript:x"):
        reply = browser().sign_in(user, PASSWORD, next_path=hostile)
        assert reply.status_code == 303 and reply.headers["location"] == "/", hostile


def test_sign_in_without_the_right_token_or_from_another_site_is_refused(person, browser):
    """The sign-in form checks CSRF too: no token, a wrong token or a foreign Origin is 403."""
    user, _ = person()
    web = browser()
    token = web.csrf_token("/login")
    fields = {"login": user, "password": PASSWORD}
    assert web.http.post("/login", data=fields).status_code == 403
    assert web.http.post("/login", data={**fields, "csrf_token": "x" + token}).status_code == 403
    foreign = web.http.post(
        "/login", data={**fields, "csrf_token": token}, headers={"Origin": "https://evil.example"}
    )
    assert foreign.status_code == 403
    assert "traybell_session" not in web.http.cookies
    # Origin: null names no site: the token decides.
    null_origin = web.http.post(
        "/login", data={**fields, "csrf_token": token}, headers={"Origin": "null"}
    )
    assert null_origin.status_code == 303


def test_throttled_after_five_failures_even_for_the_right_password(person, browser):
    """More than 5 failures for one login within 15 minutes: 429, also with the right password."""
    user, _ = person()
    web = browser()
    for _ in range(5):
        assert web.sign_in(user, "wrong password").status_code == 200
    blocked = web.sign_in(user, PASSWORD)
    assert blocked.status_code == 429
    assert int(blocked.headers["retry-after"]) > 0
    assert "traybell_session" not in web.http.cookies
    # another login is not affected
    other, _ = person()
    assert browser().sign_in(other, PASSWORD).status_code == 303


def test_a_success_clears_earlier_failures(person, browser):
    """Failures followed by a success start counting again from zero."""
    user, _ = person()
    web = browser()
    for _ in range(4):
        web.sign_in(user, "wrong password")
    assert web.sign_in(user, PASSWORD).status_code == 303
    for _ in range(4):
        assert browser().sign_in(user, "wrong password").status_code == 200
    assert browser().sign_in(user, PASSWORD).status_code == 303


def test_sign_out_ends_the_session_on_the_server(person, browser):
    """After sign-out the old cookie is dead, even replayed by hand."""
    user, _ = person()
    web = browser()
    web.sign_in(user, PASSWORD)
    cookie = web.http.cookies["traybell_session"]
    out = web.post("/logout", {}, page="/")
    assert out.status_code == 303 and out.headers["location"] == "/login"
    replay = browser()
    replay.http.cookies.set("traybell_session", cookie)
    assert replay.get("/").status_code == 303


def test_password_change_ends_every_other_session(person, browser):
    """A new password signs the user out everywhere else; this browser stays signed in."""
    user, _ = person()
    elsewhere, here = browser(), browser()
    elsewhere.sign_in(user, PASSWORD)
    here.sign_in(user, PASSWORD)
    changed = here.post(
        "/settings/password",
        {
            "current_password": PASSWORD,
            "new_password": "a brand new passphrase",
            "new_password_confirm": "a brand new passphrase",
        },
        page="/settings",
    )
    assert changed.status_code == 303
    assert here.get("/settings").status_code == 200
    assert elsewhere.get("/").status_code == 303
    assert browser().sign_in(user, PASSWORD).status_code == 200  # the old one no longer works
    assert browser().sign_in(user, "a brand new passphrase").status_code == 303


def test_session_hours_end_a_session(person, browser, database_url):
    """A session older than TRAYBELL_SESSION_HOURS is over."""
    user, _ = person()
    web = browser()
    web.sign_in(user, PASSWORD)

    async def age_sessions() -> None:
        conn = await asyncpg.connect(database_url)
        await conn.execute("UPDATE web_sessions SET expires_at = now() - interval '1 second'")
        await conn.close()

    asyncio.run(age_sessions())
    assert web.get("/").status_code == 303


def test_only_hashes_of_sessions_are_stored(person, browser, database_url):
    """The database holds no session id, only its hash."""
    user, _ = person()
    web = browser()
    web.sign_in(user, PASSWORD)
    cookie = web.http.cookies["traybell_session"]

    async def stored() -> list[bytes]:
        conn = await asyncpg.connect(database_url)
        rows = await conn.fetch("SELECT session_hash FROM web_sessions")
        await conn.close()
        return [r["session_hash"] for r in rows]

    hashes = asyncio.run(stored())
    assert len(hashes) == 1 and cookie.encode() not in hashes[0]


def test_an_invite_works_once_and_a_newer_one_voids_the_older(live_server, browser):
    """An invite link sets the password and signs in, once; a newer invite voids the older."""
    user, _ = live_server.create_user()
    with live_server.client(live_server.admin_token) as admin:
        older = admin.post(f"/v1/admin/users/{user}/invite")
        newer = admin.post(f"/v1/admin/users/{user}/invite")
    assert older.status_code == newer.status_code == 201
    old_path = "/invite/" + older.json()["invite_url"].rsplit("/", 1)[1]
    path = "/invite/" + newer.json()["invite_url"].rsplit("/", 1)[1]
    assert browser().get(old_path).status_code == 404

    web = browser()
    page = web.get(path)
    assert page.status_code == 200 and user in page.text
    short = web.post(path, {"password": "short", "password_confirm": "short"})
    assert short.status_code == 422 and "at least 10 characters" in short.text
    accepted = web.post(path, {"password": PASSWORD, "password_confirm": PASSWORD})
    assert accepted.status_code == 303 and accepted.headers["location"] == "/"
    assert web.get("/").status_code == 200
    assert browser().get(path).status_code == 404
    assert browser().sign_in(user, PASSWORD).status_code == 303


def test_invite_api_is_admin_only_and_404_for_an_unknown_user(live_server):
    """POST /v1/admin/users/{id}/invite: 201 with link and expiry; 403 for a user; 404 unknown."""
    user, token = live_server.create_user()
    with live_server.client(token) as as_user:
        assert as_user.post(f"/v1/admin/users/{user}/invite").status_code == 403
    with live_server.client(live_server.admin_token) as admin:
        reply = admin.post(f"/v1/admin/users/{user}/invite")
        assert reply.status_code == 201
        assert re.fullmatch(
            r"http://127\.0\.0\.1:8000/invite/[\w-]{40,}", reply.json()["invite_url"]
        )
        assert reply.json()["expires_at"]
        assert admin.post("/v1/admin/users/nobody-here/invite").status_code == 404
