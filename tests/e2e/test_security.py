"""The security review's findings, each as the attack it describes, against a live server:
token scopes, what a disable ends, floods, stream caps, push and email targets, and what
reaches logs. Each test fails on the code the review was run against."""

import asyncio
import ipaddress
import logging
import uuid

import asyncpg
import pytest

from server.accounts import Accounts
from server.channels.push import _ConnectionCheck
from server.channels.push_targets import AllowedHosts, is_public
from server.db import create_pool
from server.db.migrate import available_migrations, migrate
from server.identity import hash_token, issue_token
from server.service import Service
from server.worker.housekeeping import prune
from tests.support.db import db_fetch
from tests.support.login import decide
from tests.support.sse import StreamReader
from tests.support.waiting import wait_until
from tests.support.web import PASSWORD, WebClient, create_person

#: The last migration before token scopes: a database at this state holds unscoped tokens.
BEFORE_SCOPES = "0010_unsubscribe.sql"


def _authorize(live_server, scope: str | None = None) -> dict:
    body = {"client_name": "Traybell on laptop"} | ({"scope": scope} if scope else {})
    with live_server.client() as anonymous:
        reply = anonymous.post("/v1/device/authorize", json=body)
    assert reply.status_code == 200, reply.text
    return reply.json()


def _device_token(live_server, grant: dict) -> str:
    with live_server.client() as anonymous:
        reply = anonymous.post("/v1/device/token", json={"device_code": grant["device_code"]})
    assert reply.status_code == 200, reply.text
    return reply.json()["token"]


def _own_scope(live_server, token: str) -> str:
    with live_server.client(token) as device:
        tokens = device.get("/v1/me/tokens").json()["tokens"]
        me = device.get("/v1/me").json()["token_id"]
    return next(t["scope"] for t in tokens if t["token_id"] == me)


def _makes_admin_calls(live_server, token: str) -> int:
    with live_server.client(token) as client:
        return client.get("/v1/admin/deliveries").status_code


# ---------------------------------------------------------------- 1. token scopes


def test_a_device_an_admin_approves_gets_a_user_token_unless_it_asked_for_admin(live_server):
    """Scopes: a device sign-in asks for `user` by default, so an admin who approves a link an
    attacker sent them hands over no admin power: the token is `user` and 403 on admin calls,
    although its user is an admin."""
    admin = create_person(live_server, admin=True)[0]
    grant = _authorize(live_server)
    decide(live_server, admin, grant["user_code"])
    token = _device_token(live_server, grant)
    assert _own_scope(live_server, token) == "user"
    assert _makes_admin_calls(live_server, token) == 403


def test_an_admin_device_sign_in_says_so_and_only_an_admin_approves_it(live_server):
    """Scopes: a device that asks for `admin` is shown as acting as an admin on the approval
    page; someone who is not an admin sees no Approve button and is refused (403) when they
    post one; an admin's approval gives an `admin` token that makes admin calls."""
    user = create_person(live_server)[0]
    admin = create_person(live_server, admin=True)[0]
    grant = _authorize(live_server, "admin")
    page = f"/device?code={grant['user_code']}"
    web = WebClient(live_server)
    try:
        assert web.sign_in(user, PASSWORD).status_code == 303
        shown = web.get(page)
        assert "as an admin" in shown.text and "Only an admin can approve" in shown.text
        assert 'value="approve"' not in shown.text
        refused = web.post(
            "/device", {"user_code": grant["user_code"], "action": "approve"}, page=page
        )
        assert refused.status_code == 403
    finally:
        web.close()
    decide(live_server, admin, grant["user_code"])
    token = _device_token(live_server, grant)
    assert _own_scope(live_server, token) == "admin"
    assert _makes_admin_calls(live_server, token) == 200


def test_admin_token_calls_take_a_scope(live_server):
    """Scopes: POST /v1/admin/users/{id}/tokens makes a `user` token unless asked for `admin`,
    which only an admin user may hold (409 otherwise); a token of a user who is no longer an
    admin makes no admin calls, whatever its scope. The first token of a user created through
    the API is `user`, whatever the user's admin flag."""
    admin_id = f"boss-{uuid.uuid4().hex[:8]}"
    user_id, _ = live_server.create_user()
    with live_server.client(live_server.admin_token) as root:
        created = root.post("/v1/admin/users", json={"user_id": admin_id, "admin": True})
        plain = root.post(f"/v1/admin/users/{admin_id}/tokens")
        scoped = root.post(f"/v1/admin/users/{admin_id}/tokens", json={"scope": "admin"})
        refused = root.post(f"/v1/admin/users/{user_id}/tokens", json={"scope": "admin"})
    assert (created.status_code, plain.status_code, scoped.status_code) == (201, 201, 201)
    assert refused.status_code == 409
    tokens = [reply.json()["token"] for reply in (created, plain, scoped)]
    assert [_own_scope(live_server, token) for token in tokens] == ["user", "user", "admin"]
    assert [_makes_admin_calls(live_server, token) for token in tokens] == [403, 403, 200]
    # as the console's "Remove admin" does
    db_fetch(
        live_server.database_url, "UPDATE users SET is_admin = false WHERE user_id = $1", admin_id
    )
    assert _makes_admin_calls(live_server, tokens[2]) == 403


def _issue_ingest_token(database_url: str, user_id: str) -> str:
    async def issue() -> str:
        conn = await asyncpg.connect(database_url)
        try:
            token, _ = await issue_token(conn, user_id, scope="ingest", name="Alertmanager")
            return token
        finally:
            await conn.close()

    return asyncio.run(issue())


def test_an_ingest_token_is_401_on_every_v1_route(live_server):
    """Scopes: an integration's `ingest` token acts as nobody on the API: every /v1 route that
    takes a token answers it 401, the admin's routes included (its user is an admin)."""
    admin_id, _ = live_server.create_user(admin=True)
    token = _issue_ingest_token(live_server.database_url, admin_id)
    with live_server.client() as anonymous:
        paths = anonymous.get("/openapi.json").json()["paths"]
    calls = [
        (method.upper(), path.replace("{", "").replace("}", ""))
        for path, operations in paths.items()
        if path.startswith("/v1/") and not path.startswith("/v1/device/")
        for method in operations
    ]
    assert len(calls) > 20
    with live_server.client(token) as ingest:
        answers = {call: ingest.request(*call, json={}).status_code for call in calls}
    assert set(answers.values()) == {401}, answers


def test_existing_tokens_upgrade_to_the_scope_they_had_in_effect(empty_database_url):
    """Upgrade: in a database from before scopes, an admin's API tokens stay `admin`, an
    admin's device tokens become `user`, and every token of a user who is not an admin is
    `user`."""

    async def upgrade() -> dict[str, str]:
        conn = await asyncpg.connect(empty_database_url)
        try:
            await conn.execute(
                "CREATE TABLE schema_migrations (name text PRIMARY KEY, checksum text,"
                " applied_at timestamptz NOT NULL DEFAULT now())"
            )
            for path in available_migrations():
                if path.name > BEFORE_SCOPES:
                    break
                await conn.execute(path.read_text(encoding="utf-8"))
                await conn.execute("INSERT INTO schema_migrations (name) VALUES ($1)", path.name)
            await conn.execute(
                "INSERT INTO users (user_id, is_admin) VALUES ('boss', true), ('worker', false)"
            )
            await conn.execute(
                "INSERT INTO api_tokens (user_id, token_hash, name, kind) VALUES"
                " ('boss', '\\x01', 'boss api', 'api'), ('boss', '\\x02', 'boss tray', 'device'),"
                " ('worker', '\\x03', 'worker api', 'api'),"
                " ('worker', '\\x04', 'worker tray', 'device')"
            )
            await migrate(conn)
            rows = await conn.fetch("SELECT name, scope FROM api_tokens")
            return {row["name"]: row["scope"] for row in rows}
        finally:
            await conn.close()

    assert asyncio.run(upgrade()) == {
        "boss api": "admin",
        "boss tray": "user",
        "worker api": "user",
        "worker tray": "user",
    }


# ---------------------------------------------------------------- 2. a disable ends what is pending


def _poll(live_server, grant: dict):
    with live_server.client() as anonymous:
        return anonymous.post("/v1/device/token", json={"device_code": grant["device_code"]})


def _set_disabled(live_server, user_id: str, disabled: bool) -> None:
    action = "disable" if disabled else "enable"
    with live_server.client(live_server.admin_token) as root:
        root.post(f"/v1/admin/users/{user_id}/{action}").raise_for_status()


def test_a_disable_ends_approved_device_sign_ins_and_invites_for_good(live_server):
    """Disable: a device sign-in the user approved yields no token after the disable, not even
    once they are enabled again; their invite neither shows nor sets a password then; and an
    invite made while they are disabled is refused until they are enabled."""
    user = create_person(live_server)[0]
    grant = _authorize(live_server)
    decide(live_server, user, grant["user_code"])
    with live_server.client(live_server.admin_token) as root:
        invite = root.post(f"/v1/admin/users/{user}/invite").json()["invite_url"]
    invite_path = invite.removeprefix(live_server.settings.public_url)

    _set_disabled(live_server, user, True)
    assert _poll(live_server, grant).status_code == 400
    with live_server.client(live_server.admin_token) as root:
        while_disabled = root.post(f"/v1/admin/users/{user}/invite").json()["invite_url"]
    while_disabled_path = while_disabled.removeprefix(live_server.settings.public_url)
    web = WebClient(live_server)
    try:
        assert web.get(while_disabled_path).status_code == 404
        _set_disabled(live_server, user, False)
        assert _poll(live_server, grant).status_code == 400
        assert web.get(invite_path).status_code == 404
    finally:
        web.close()
    assert (
        db_fetch(
            live_server.database_url,
            "SELECT 1 FROM api_tokens WHERE user_id = $1 AND kind = 'device'",
            user,
        )
        == []
    )


def test_a_device_poll_is_refused_once_the_approver_is_disabled(live_server):
    """Disable: a poll of a code approved by a user who is disabled at the poll gets no token,
    even if the code itself outlived the disable."""
    user = create_person(live_server)[0]
    grant = _authorize(live_server)
    decide(live_server, user, grant["user_code"])
    db_fetch(
        live_server.database_url, "UPDATE users SET disabled_at = now() WHERE user_id = $1", user
    )
    refused = _poll(live_server, grant)
    assert (refused.status_code, refused.json()["error"]["code"]) == (400, "access_denied")


# ---------------------------------------------------------------- 6. email domain literals


@pytest.mark.parametrize("address", ["root@[127.0.0.1]", "a@[192.0.2.1]", "ops@[IPv6:::1]"])
def test_an_email_address_with_a_domain_literal_is_422(live_server, address):
    """Email targets: an address whose domain is an IP literal would aim the server's mail at an
    address of the attacker's choosing (its own network included): refused, in preferences and
    when an admin creates a user."""
    _, token = live_server.create_user()
    with live_server.client(token) as client:
        reply = client.patch("/v1/preferences", json={"email": address})
        assert (reply.status_code, reply.json()["error"]["code"]) == (422, "validation_failed")
    with live_server.client(live_server.admin_token) as root:
        reply = root.post("/v1/admin/users", json={"user_id": "literal", "email": address})
        assert reply.status_code == 422


# ---------------------------------------------------------------- 3, 7, 8. floods


def _audit_rows(live_server) -> int:
    return db_fetch(live_server.database_url, "SELECT count(*) AS n FROM audit_events")[0]["n"]


def _from(address: str) -> dict[str, str]:
    """As a request through the (loopback, so trusted) proxy from `address` arrives."""
    return {"X-Forwarded-For": address}


def _sign_in_from(web: WebClient, address: str, login: str, password: str) -> int:
    form = {"login": login, "password": password, "next": "/"}
    return web.post("/login", form, page="/login", headers=_from(address)).status_code


def test_a_flood_of_made_up_logins_from_one_client_is_cut_short_and_audited_in_brief(
    live_server,
):
    """Sign-in floods: 30 sign-ins with random logins from one client within a minute cost at
    most the client's budget of password checks: at least the last 10 are 429, at most 15
    audit rows are added; a person at another address signs in meanwhile."""
    person = create_person(live_server)[0]
    before = _audit_rows(live_server)
    web = WebClient(live_server)
    try:
        answers = [
            _sign_in_from(web, "203.0.113.7", f"nobody-{uuid.uuid4().hex}", "guess-guess")
            for _ in range(30)
        ]
        assert answers[-10:] == [429] * 10, answers
        assert _audit_rows(live_server) - before <= 15
        assert _sign_in_from(web, "198.51.100.2", person, PASSWORD) == 303
    finally:
        web.close()


def test_a_users_sign_in_budget_is_one_whatever_login_they_are_named_by(live_server):
    """Sign-in floods: failures by user id and by email address count toward one budget: after
    5 of them, mixed, even the right password is 429 (from another client, too)."""
    user = create_person(live_server, email="budget@example.com")[0]
    web = WebClient(live_server)
    try:
        for n in range(5):
            login = user if n % 2 else "Budget@Example.com"
            assert _sign_in_from(web, f"192.0.2.{n + 1}", login, "wrong password!") == 200
        assert _sign_in_from(web, "192.0.2.99", user, PASSWORD) == 429
    finally:
        web.close()


def test_the_password_change_is_throttled_and_audited_like_a_sign_in(live_server):
    """Password change: the current password is checked as a sign-in's is: each wrong one is a
    login.failure in the audit log, and after 5 the form answers 429, the right password too,
    and the password is unchanged."""
    user = create_person(live_server)[0]
    hashed = "SELECT password_hash FROM users WHERE user_id = $1"
    password_hash = db_fetch(live_server.database_url, hashed, user)
    web = WebClient(live_server)
    try:
        assert web.sign_in(user, PASSWORD).status_code == 303
        before = db_fetch(live_server.database_url, "SELECT max(id) AS id FROM audit_events")[0][
            "id"
        ]

        def change(current: str) -> int:
            form = {
                "current_password": current,
                "new_password": "a brand new password",
                "new_password_confirm": "a brand new password",
            }
            return web.post("/settings/password", form, page="/settings").status_code

        assert [change(f"not it {n}") for n in range(5)] == [422] * 5
        assert change(PASSWORD) == 429
    finally:
        web.close()
    failures = db_fetch(
        live_server.database_url,
        "SELECT details FROM audit_events WHERE id > $1 AND action = 'login.failure'"
        " AND target_user_id = $2",
        before,
        user,
    )
    assert len(failures) == 6  # five wrong passwords, one refusal
    assert db_fetch(live_server.database_url, hashed, user) == password_hash


def test_device_sign_ins_started_from_one_client_are_limited(live_server):
    """Device sign-in: POST /v1/device/authorize (whose client name lands on an approval page)
    is limited per client address: past 10 a minute it is 429 with the error body and a
    Retry-After; another address is unaffected."""
    with live_server.client() as anonymous:

        def start(address: str):
            body = {"client_name": "Traybell on spam"}
            return anonymous.post("/v1/device/authorize", json=body, headers=_from(address))

        answers = [start("203.0.113.9").status_code for _ in range(12)]
        refused = start("203.0.113.9")
        elsewhere = start("198.51.100.9")
    assert answers[:10] == [200] * 10 and answers[10:] == [429, 429]
    assert refused.json()["error"]["code"] == "too_many_requests"
    assert int(refused.headers["Retry-After"]) >= 1
    assert elsewhere.status_code == 200


# ---------------------------------------------------------------- 4. event streams capped


@pytest.fixture
def streams(live_server):
    """Opens streams that end with the test: the server stops first, ending them all (a
    client closed from another thread would wait for its next read)."""
    opened: list[StreamReader] = []

    def open_stream(live_server, token: str) -> StreamReader:
        reader = StreamReader(live_server.url, token)
        assert reader.status == 200
        opened.append(reader)
        return reader

    yield open_stream
    live_server.stop()
    for reader in opened:
        reader.close()


def _alive(live_server, user: str, readers: list[StreamReader]) -> None:
    """Every one of `readers` still gets what is sent to `user`."""
    title = f"still there {uuid.uuid4().hex[:6]}"
    live_server.send(user, title=title)
    for reader in readers:
        wait_until(lambda r=reader: title in [c["title"] for c in r.changes()], what=title)


def test_one_token_holds_at_most_5_streams_and_another_users_are_untouched(live_server, streams):
    """Stream caps: a token opening 8 streams holds the 5 newest (the 3 oldest end); another
    user's streams stay open and keep getting their changes."""
    user, token = live_server.create_user()
    other, other_token = live_server.create_user()
    others = [streams(live_server, other_token) for _ in range(2)]
    mine = [streams(live_server, token) for _ in range(8)]
    wait_until(lambda: all(reader.ended for reader in mine[:3]), what="the oldest to end")
    assert not any(reader.ended for reader in mine[3:] + others)
    _alive(live_server, user, mine[3:])
    _alive(live_server, other, others)


def test_one_user_holds_at_most_20_streams_across_tokens(live_server, streams):
    """Stream caps: a user opening 5 streams on each of 5 tokens holds the 20 newest."""
    user, first = live_server.create_user()
    tokens = [first]
    with live_server.client(live_server.admin_token) as root:
        for _ in range(4):
            tokens.append(root.post(f"/v1/admin/users/{user}/tokens").json()["token"])
    opened = [streams(live_server, token) for token in tokens for _ in range(5)]
    wait_until(lambda: all(reader.ended for reader in opened[:5]), what="the oldest to end")
    assert not any(reader.ended for reader in opened[5:])
    _alive(live_server, user, opened[5:])


# ---------------------------------------------------------------- 5, 11. push targets


@pytest.mark.parametrize(
    "url",
    [
        "syslog://",
        "syslog://local5",
        "dbus://",
        "kde://",
        "qt://",
        "glib://",
        "gnome://",
        "windows://",
        "macosx://",
        "blink1://",
        "rsyslog://logs.example.com",
    ],
)
def test_push_plugins_that_act_on_the_servers_machine_are_refused(live_server, url):
    """Push targets: an Apprise plugin without a network host (the worker's own syslog, D-Bus,
    desktop, USB light) passes no host check, so it is refused by its plugin, 422
    push_url_not_allowed; so is rsyslog, which resolves its host itself after any check."""
    _, token = live_server.create_user()
    with live_server.client(token) as client:
        reply = client.patch("/v1/preferences", json={"push_enabled": True, "push_urls": [url]})
        assert (reply.status_code, reply.json()["error"]["code"]) == (422, "push_url_not_allowed")
        assert client.get("/v1/preferences").json()["push_urls"] == []


@pytest.mark.parametrize(
    "address",
    [
        "64:ff9b:1::c0a8:101",  # NAT64 local-use prefix, 192.168.1.1
        "64:ff9b:1::a9fe:a9fe",  # the same, 169.254.169.254 (cloud metadata)
        "::ffff:0:a9fe:a9fe",  # SIIT's IPv4-translated 169.254.169.254
        "::ffff:0:a00:1",  # the same, 10.0.0.1
    ],
)
def test_ipv6_forms_of_an_ipv4_address_lead_where_it_does(live_server, address):
    """Push targets: NAT64's local-use prefix and SIIT's translated form are unwrapped like the
    well-known NAT64 prefix, so a loopback or private IPv4 address inside them is refused."""
    assert not is_public(ipaddress.ip_address(address))
    _, token = live_server.create_user()
    with live_server.client(token) as client:
        reply = client.patch("/v1/preferences", json={"push_urls": [f"json://[{address}]:9/"]})
    assert (reply.status_code, reply.json()["error"]["code"]) == (422, "push_url_not_allowed")


def test_a_socket_handed_a_host_name_is_refused_even_when_the_name_is_allowed():
    """Push targets at send time: a plugin that gives the socket a name (as rsyslog's sendto
    does) would have the C library resolve it after the check, so the connection is refused
    whatever the name; an address, checked as it is dialled, passes."""
    check = _ConnectionCheck(AllowedHosts.parse("localhost,127.0.0.1"))
    with pytest.raises(PermissionError):
        check.check(("localhost", 514))
    check.check(("127.0.0.1", 514))


# ---------------------------------------------------------------- 9. tokens out of logs


@pytest.mark.parametrize(
    ("path", "template", "failing"),
    [
        ("/invite/", "/invite/{token}", (Accounts, "invited_user")),
        ("/unsubscribe/", "/unsubscribe/{token}", (Service, "unsubscribe_user")),
    ],
)
def test_an_unexpected_error_logs_the_route_template_not_the_token(
    live_server, monkeypatch, caplog, path, template, failing
):
    """Logs: the line an unexpected error leaves names the route's template, never the raw
    path, which carries a capability token (an invite or unsubscribe link)."""

    async def broken(*_args):
        raise RuntimeError("a bug")

    monkeypatch.setattr(*failing, broken)
    secret = "capability-" + uuid.uuid4().hex
    with caplog.at_level(logging.ERROR), live_server.client() as browser:
        assert browser.get(path + secret).status_code == 500
    assert f"GET {template}: unexpected error" in caplog.text
    assert secret not in caplog.text


# ---------------------------------------------------------------- 10. unsubscribe links


def test_unsubscribe_tokens_are_pruned_with_the_deliveries_they_came_with(live_server):
    """Unsubscribe links: one is stored per email sent, so they go when the deliveries do
    (past TRAYBELL_DELIVERY_RETENTION_DAYS); a recent one stays and still only turns email
    off."""
    user, _ = live_server.create_user(email_enabled=True, email="links@example.com")
    db_fetch(
        live_server.database_url,
        "INSERT INTO unsubscribe_tokens (token_hash, user_id, created_at) VALUES"
        " ($1, $2, now() - interval '31 days'), ($3, $2, now() - interval '29 days')",
        hash_token("old link"),
        user,
        hash_token("recent link"),
    )

    async def prune_all() -> int:
        pool = await create_pool(live_server.database_url, min_size=1, max_size=1)
        try:
            return await prune(pool, retention_days=30)
        finally:
            await pool.close()

    asyncio.run(prune_all())
    left = db_fetch(live_server.database_url, "SELECT token_hash FROM unsubscribe_tokens")
    assert [bytes(row["token_hash"]) for row in left] == [hash_token("recent link")]
    with live_server.client() as browser:
        assert browser.post("/unsubscribe/old link").status_code == 404
        assert browser.post("/unsubscribe/recent link").status_code == 200
    preferences = db_fetch(
        live_server.database_url,
        "SELECT email_enabled, in_app_enabled, push_enabled FROM preferences WHERE user_id = $1",
        user,
    )
    assert preferences == [{"email_enabled": False, "in_app_enabled": True, "push_enabled": False}]
