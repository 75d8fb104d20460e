"""The CSRF and same-site check of every page route: done by the route class, so a new form
handler is protected without remembering anything."""

import asyncio
import re

import asyncpg
import pytest
from fastapi.routing import iter_route_contexts
from starlette.routing import compile_path

from server.app import create_app
from server.web.routing import SAFE_METHODS, PageRoute
from tests.support.live import test_settings as settings_for_tests
from tests.support.web import PASSWORD

#: A form that would change something on every page route, were it let through.
HARMFUL_FORM = {
    "login": "",
    "password": PASSWORD,
    "password_confirm": PASSWORD,
    "current_password": PASSWORD,
    "new_password": "an attacker's password",
    "new_password_confirm": "an attacker's password",
    "action": "approve",
    "admin": "0",
    "step": "send",
    "audience": "all",
    "title": "Forged",
    "user_id": "forged-user",
    "team_id": "forged-team",
    "topic": "forged.topic",
    "open": "on",
    "in_app@deploys": "off",
    "up_to": "",
    "back": "/",
    "name": "Forged source",
    "kind": "ntfy",
}
#: Only these (path, method) may skip the check; each says why where it is declared.
EXEMPT = {("/unsubscribe/{token}", "POST")}


def _page_routes(database_url: str) -> list[tuple[str, str, bool]]:
    app = create_app(database_url, settings_for_tests())
    return [
        (context.path, method, route.csrf_exempt)
        for context in iter_route_contexts(app.routes)
        if isinstance(route := context.original_route, PageRoute)
        for method in sorted(route.methods - SAFE_METHODS)
    ]


def _snapshot(database_url: str) -> dict[str, str]:
    """Every table of the database, as a digest of its rows."""

    async def take() -> dict[str, str]:
        conn = await asyncpg.connect(database_url)
        try:
            tables = await conn.fetch(
                "SELECT quote_ident(tablename) AS name FROM pg_tables WHERE schemaname = 'public'"
            )
            return {
                t["name"]: await conn.fetchval(
                    f"SELECT md5(coalesce(string_agg(r::text, '|' ORDER BY r::text), '')) "
                    f"FROM {t['name']} r"
                )
                for t in tables
            }
        finally:
            await conn.close()

    return asyncio.run(take())


def test_every_unsafe_page_request_without_the_token_is_refused_and_changes_nothing(
    live_server, database_url, person, browser
):
    """Every non-GET/HEAD method of every page route of the app, posted by a signed-in admin
    with a form that would change something, is 403 and changes no row of the database when
    it carries no token, another session's token, or its own token from another site. Only
    the one-click unsubscribe is exempt, and explicitly."""
    admin, admin_token = person(admin=True)
    victim, _ = person()
    own_notification = live_server.send(admin, title="Mine")["results"][0]["id"]
    with live_server.client(admin_token) as client:
        invite_url = client.post(f"/v1/admin/users/{victim}/invite").json()["invite_url"]
        token_id = client.get("/v1/me/tokens").json()["tokens"][0]["token_id"]
        client.post("/v1/admin/teams", json={"team_id": "ops"}).raise_for_status()
        client.put(f"/v1/admin/teams/ops/members/{victim}").raise_for_status()
        client.put("/v1/admin/topics/deploys", json={"open": True}).raise_for_status()
        client.put("/v1/admin/topics/deploys/teams/ops").raise_for_status()
        integration = client.post(
            "/v1/admin/integrations", json={"name": "Kuma", "kind": "ntfy", "to": []}
        )
        integration.raise_for_status()
    path_values = {
        "notification_id": own_notification,
        "action": "archive",
        "token": invite_url.rsplit("/", 1)[1],
        "token_id": token_id,
        "user_id": victim,
        "delivery_id": "00000000-0000-0000-0000-000000000001",
        "schedule_id": "00000000-0000-0000-0000-000000000002",
        "team_id": "ops",
        "topic": "deploys",
        "integration_id": integration.json()["integration"]["integration_id"],
    }
    web = browser()
    assert web.sign_in(admin, PASSWORD).status_code == 303
    other = browser()
    assert other.sign_in(admin, PASSWORD).status_code == 303
    own_token, foreign_token = web.csrf_token("/"), other.csrf_token("/")
    attempts = [
        ({}, {}),
        ({"csrf_token": foreign_token}, {}),
        ({"csrf_token": own_token}, {"Origin": "https://evil.example"}),
    ]

    routes = _page_routes(database_url)
    assert {(path, method) for path, method, exempt in routes if exempt} == EXEMPT
    checked = [(path, method) for path, method, exempt in routes if not exempt]
    assert ("/admin/send", "POST") in checked and ("/login", "POST") in checked
    before = _snapshot(database_url)
    for template, method in checked:
        names = compile_path(template)[2]
        unknown = set(names) - set(path_values)
        assert not unknown, f"give the test a real value for {unknown} of {template}"
        path = re.sub(r"{(\w+)(:\w+)?}", lambda m: path_values[m.group(1)], template)
        for data, headers in attempts:
            reply = web.http.request(
                method, path, data={**HARMFUL_FORM, **data, "recipients": victim}, headers=headers
            )
            assert reply.status_code == 403, (method, path, data, headers, reply.status_code)
            assert reply.headers["content-type"].startswith("text/html"), (method, path)
    assert _snapshot(database_url) == before
    assert web.get("/").status_code == 200  # still signed in: /logout was refused too


@pytest.mark.parametrize("origin", [None, "null"])
def test_a_form_with_its_token_and_no_site_named_is_let_through(person, browser, origin):
    """A same-site form post with the right token passes the route's check, whether the
    browser sends no Origin or `Origin: null` (as under Referrer-Policy: no-referrer)."""
    user, _ = person()
    web = browser()
    assert web.sign_in(user, PASSWORD).status_code == 303
    headers = {"Origin": origin} if origin else {}
    token = web.csrf_token("/")
    reply = web.http.post("/read-all", data={"csrf_token": token, "back": "/"}, headers=headers)
    assert reply.status_code == 303
