"""Company sign-in (OpenID Connect) against a real OpenID Provider on loopback (oidc-provider,
tests/oidc/): users made from the claims, admin flag and provider-managed teams from the
groups, `next`, passwords off, and every way the sign-in can fail answered with a page."""

import asyncio
import base64
import dataclasses
import json
from collections.abc import Iterator

import asyncpg
import httpx
import pytest

from server.config import ConfigError, Settings
from server.oidc import person_of
from server.web.security import csrf_token
from tests.support.live import LiveServer
from tests.support.live import test_settings as settings_with
from tests.support.login import LoginProcess
from tests.support.oidc import CLIENT_ID, CLIENT_SECRET, TestProvider, through_provider_pages
from tests.support.pg import free_port
from tests.support.web import PASSWORD, set_password_directly
from tests.web.test_accessibility import audit
from tests.web.test_browser import _shot, chromium

ACCOUNTS = {
    "alice": {
        "email": "alice@example.com",
        "name": "Alice Example",
        "preferred_username": "alice",
        "groups": ["Traybell Admins", "Ops-Team", "Sales"],
    },
    "bob": {"email": "bob@example.com", "name": "Bob", "preferred_username": "bob", "groups": []},
}


def oidc_settings(issuer: str, **overrides) -> Settings:
    return settings_with(
        oidc_issuer=issuer,
        oidc_client_id=CLIENT_ID,
        oidc_client_secret=CLIENT_SECRET,
        oidc_name="Example Corp",
        oidc_admin_groups=("Traybell Admins",),
        oidc_team_groups=("Ops-Team", "Night Shift"),
        **overrides,
    )


@dataclasses.dataclass
class Company:
    provider: TestProvider
    server: LiveServer


@pytest.fixture
def company(database_url, tmp_path) -> Iterator[Company]:
    """A Traybell server whose company sign-in is oidc-provider on another loopback port."""
    provider = TestProvider(tmp_path, json.loads(json.dumps(ACCOUNTS)))
    server = LiveServer(database_url, oidc_settings(provider.issuer), links_home=True)
    try:
        provider.start(redirect_uri=f"{server.url}/login/oidc/callback")
        yield Company(provider, server)
    finally:
        server.stop()
        provider.stop()


def _browser(server: LiveServer) -> httpx.Client:
    return httpx.Client(base_url=server.url, timeout=30, follow_redirects=False)


def _callback_of(http: httpx.Client, login: str, next_path: str = "/") -> str:
    start = http.get("/login/oidc", params={"next": next_path})
    assert start.status_code == 303
    return through_provider_pages(http, start, login)


def _query(database_url: str, sql: str, *args):
    async def run():
        conn = await asyncpg.connect(database_url)
        try:
            return await conn.fetch(sql, *args)
        finally:
            await conn.close()

    return asyncio.run(run())


def _audit(database_url: str, action: str) -> list[dict]:
    rows = _query(
        database_url,
        "SELECT target_user_id, target, details FROM audit_events WHERE action = $1 ORDER BY id",
        action,
    )
    return [
        {"user": r["target_user_id"], "target": r["target"], **json.loads(r["details"])}
        for r in rows
    ]


def _teams_of(database_url: str, user_id: str) -> list[str]:
    rows = _query(
        database_url,
        "SELECT team_id FROM team_members WHERE user_id = $1 ORDER BY team_id",
        user_id,
    )
    return [r["team_id"] for r in rows]


def test_first_sign_in_makes_the_user_with_admin_flag_and_teams_from_groups(company):
    """The first company sign-in creates the user from the claims (id, email, name), makes an
    admin of a member of TRAYBELL_OIDC_ADMIN_GROUPS, puts them in the provider-managed team of
    each of their TRAYBELL_OIDC_TEAM_GROUPS (not in groups outside it) and leads to `next`
    with a session; audited with details.via oidc."""
    server, database = company.server, company.server.database_url
    with _browser(server) as http:
        callback = _callback_of(http, "alice", next_path="/settings")
        signed_in = http.get(callback)
        assert signed_in.status_code == 303 and signed_in.headers["location"] == "/settings"
        assert "traybell_session" in http.cookies
        assert http.get("/settings").status_code == 200
        assert http.get("/admin/users").status_code == 200  # an admin by the group
    [user] = _query(
        database,
        "SELECT u.user_id, u.display_name, u.is_admin, p.email"
        " FROM users u JOIN preferences p USING (user_id) WHERE u.user_id = 'alice'",
    )
    assert dict(user) == {
        "user_id": "alice",
        "display_name": "Alice Example",
        "is_admin": True,
        "email": "alice@example.com",
    }
    assert _teams_of(database, "alice") == ["ops-team"]
    [managed] = _query(database, "SELECT managed_by FROM teams WHERE team_id = 'ops-team'")
    assert managed["managed_by"] == "oidc"
    assert _audit(database, "login.success") == [{"user": "alice", "target": None, "via": "oidc"}]
    assert _audit(database, "team.member.add") == [
        {"user": "alice", "target": "ops-team", "via": "oidc"}
    ]


def test_each_sign_in_sets_teams_and_admin_flag_to_the_groups_of_the_moment(company):
    """At every sign-in the provider-managed memberships become exactly the person's groups
    (a group left: removed, a new one: added, each audited with via oidc) and the admin flag
    follows TRAYBELL_OIDC_ADMIN_GROUPS; the provider rotating its keys in between (a restart
    signs with a new key id) does not stop the sign-in."""
    server, database = company.server, company.server.database_url
    with _browser(server) as http:
        assert http.get(_callback_of(http, "alice")).status_code == 303
    company.provider.stop()
    company.provider.set_groups("alice", ["Night Shift"])
    company.provider.start(company.provider.redirect_uri)
    with _browser(server) as http:
        assert http.get(_callback_of(http, "alice")).status_code == 303
        assert http.get("/admin/users").status_code == 403
    assert _teams_of(database, "alice") == ["night-shift"]
    [is_admin] = _query(database, "SELECT is_admin FROM users WHERE user_id = 'alice'")
    assert is_admin["is_admin"] is False
    assert _audit(database, "team.member.remove") == [
        {"user": "alice", "target": "ops-team", "via": "oidc"}
    ]
    assert {"user": "alice", "target": "night-shift", "via": "oidc"} in _audit(
        database, "team.member.add"
    )
    assert _audit(database, "user.admin")[-1] == {
        "user": "alice",
        "target": None,
        "admin": False,
        "via": "oidc",
    }


def test_disabled_user_is_refused_with_a_page_and_no_session(company):
    """A user an admin disabled gets a 403 page from the company sign-in, no session, and a
    login.failure event (via oidc)."""
    server = company.server
    with _browser(server) as http:
        assert http.get(_callback_of(http, "bob")).status_code == 303
    with server.client(server.admin_token) as admin:
        assert admin.post("/v1/admin/users/bob/disable").status_code == 200
    with _browser(server) as http:
        refused = http.get(_callback_of(http, "bob"))
        assert refused.status_code == 403 and "disabled" in refused.text
        assert "traybell_session" not in http.cookies
    assert _audit(server.database_url, "login.failure")[-1] == {
        "user": "bob",
        "target": None,
        "reason": "disabled",
        "via": "oidc",
    }


def test_wrong_and_reused_state_get_a_400_page_and_no_session(company):
    """A callback whose `state` is not the one this browser was given, and a callback opened a
    second time, are refused with a page that says so (400), never a session."""
    with _browser(company.server) as http:
        callback = _callback_of(http, "bob")
        wrong = http.get(callback.replace("state=", "state=x"))
        assert wrong.status_code == 400 and "already finished" in wrong.text
        assert "traybell_session" not in http.cookies
        assert http.get(callback).status_code == 303
        http.cookies.delete("traybell_session")
        again = http.get(callback)
        assert again.status_code == 400 and "already finished" in again.text
        assert "traybell_session" not in http.cookies
    with _browser(company.server) as stranger:  # the link in another browser
        assert stranger.get(callback).status_code == 400


def test_a_code_used_twice_and_a_token_for_another_nonce_are_refused(company):
    """The provider refusing a used code, and an ID token whose nonce is not the one this
    sign-in sent, each give a 400 page and no session (login.failure, reason token)."""
    server = company.server
    with _browser(server) as http:
        callback = _callback_of(http, "bob")
        kept = http.cookies.get("traybell_oidc")
        assert http.get(callback).status_code == 303
        http.cookies.clear()
        http.cookies.set("traybell_oidc", kept, domain="127.0.0.1", path="/login/oidc")
        replayed = http.get(callback)
        assert replayed.status_code == 400 and "did not work" in replayed.text
        assert "traybell_session" not in http.cookies
    with _browser(server) as http:
        callback = _callback_of(http, "bob")
        attempt = json.loads(base64.urlsafe_b64decode(http.cookies["traybell_oidc"]))
        attempt["nonce"] = "another-nonce"
        forged = base64.urlsafe_b64encode(json.dumps(attempt).encode()).decode()
        http.cookies.set("traybell_oidc", forged, domain="127.0.0.1", path="/login/oidc")
        refused = http.get(callback)
        assert refused.status_code == 400 and "nonce" in refused.text
        assert "traybell_session" not in http.cookies
    reasons = [event["reason"] for event in _audit(server.database_url, "login.failure")]
    assert reasons == ["token", "token"]


def test_provider_refusal_gets_a_page_that_says_so(company):
    """The person cancelling at the provider comes back with ?error=access_denied: a 400 page
    naming it, no session, login.failure (reason provider_error, via oidc)."""
    with _browser(company.server) as http:
        start = http.get("/login/oidc")
        login_page = http.get(start.headers["location"], follow_redirects=True)
        [cancel] = [p for p in login_page.text.split('"') if "/abort" in p]
        back = http.get(str(login_page.url.join(cancel)))
        while "/login/oidc/callback" not in back.headers["location"]:
            back = http.get(str(back.url.join(back.headers["location"])))
        assert "error=access_denied" in back.headers["location"]
        refused = http.get(back.headers["location"])
        assert refused.status_code == 400 and "access_denied" in refused.text
        assert "traybell_session" not in http.cookies
    assert _audit(company.server.database_url, "login.failure") == [
        {"user": None, "target": None, "reason": "provider_error", "via": "oidc"}
    ]


def test_unreachable_provider_gets_a_502_page(database_url):
    """A provider that does not answer: /login/oidc is a 502 page that says so, no redirect."""
    nobody = f"http://127.0.0.1:{free_port()}"
    server = LiveServer(database_url, oidc_settings(nobody))
    try:
        with _browser(server) as http:
            reply = http.get("/login/oidc")
            assert reply.status_code == 502 and "did not answer" in reply.text
            assert "location" not in reply.headers
    finally:
        server.stop()


def test_login_page_offers_the_company_sign_in_as_a_link(company, person):
    """With an issuer, /login has "Sign in with <name>" as a link to /login/oidc carrying
    `next` (a form could not go to the provider under form-action 'self'), beside the form."""
    page = httpx.get(f"{company.server.url}/login", params={"next": "/device?code=AB"})
    assert '<a class="button primary" href="/login/oidc?next=%2Fdevice%3Fcode%3DAB">' in page.text
    assert "Sign in with Example Corp" in page.text
    assert 'action="/login"' in page.text


def test_password_sign_in_off_hides_the_form_and_refuses_passwords(database_url, tmp_path):
    """TRAYBELL_PASSWORD_SIGNIN=off: the page has only the company link, and a password post
    is refused (403) even with the right password."""
    provider = TestProvider(tmp_path, {})
    settings = oidc_settings(provider.issuer, password_signin=False)
    server = LiveServer(database_url, settings)
    try:
        user, _ = server.create_user("carol")
        set_password_directly(database_url, user, PASSWORD)
        with _browser(server) as http:
            page = http.get("/login")
            assert "Sign in with Example Corp" in page.text
            assert 'action="/login"' not in page.text and "password" not in page.text.lower()
            # the form's token, as the page would have given it
            token = csrf_token(http.cookies["traybell_csrf"])
            refused = http.post(
                "/login", data={"login": user, "password": PASSWORD, "csrf_token": token}
            )
            assert refused.status_code == 403 and "turned off" in refused.text
            assert "traybell_session" not in http.cookies
    finally:
        server.stop()


def test_an_issuer_without_a_client_id_is_a_configuration_error(monkeypatch):
    """TRAYBELL_OIDC_ISSUER without TRAYBELL_OIDC_CLIENT_ID stops the start, naming it."""
    monkeypatch.setenv("TRAYBELL_OIDC_ISSUER", "https://id.example.com")
    monkeypatch.delenv("TRAYBELL_OIDC_CLIENT_ID", raising=False)
    with pytest.raises(ConfigError, match="TRAYBELL_OIDC_CLIENT_ID"):
        Settings.from_env()


@pytest.mark.parametrize(
    ("issuer", "accepted"),
    [
        ("https://id.example.com/realms/staff", True),
        ("http://127.0.0.1:8080", True),
        ("http://[::1]:8080", True),
        ("http://localhost:9000", True),
        ("http://id.example.com", False),
        ("http://10.0.0.5", False),
        ("ftp://127.0.0.1", False),
    ],
)
def test_plain_http_issuer_only_on_loopback(monkeypatch, issuer, accepted):
    """TRAYBELL_OIDC_ISSUER must be https, or plain http on a loopback address only."""
    monkeypatch.setenv("TRAYBELL_OIDC_ISSUER", issuer)
    monkeypatch.setenv("TRAYBELL_OIDC_CLIENT_ID", "traybell")
    if accepted:
        assert Settings.from_env().oidc_issuer == issuer
    else:
        with pytest.raises(ConfigError):
            Settings.from_env()


def test_traybell_login_approved_through_the_company_sign_in_in_chromium(database_url, tmp_path):
    """`traybell login`'s address opens in Chromium; the sign-in page says where it will go
    (and passes axe-core at 320 and 1280 px);
    "Sign in with Example Corp" leads through the provider's own login and consent pages back
    to the device page (`next` kept), and Approve ends the command signed in as the person
    the provider named."""
    provider = TestProvider(tmp_path, json.loads(json.dumps(ACCOUNTS)))
    server = LiveServer(database_url, oidc_settings(provider.issuer), links_home=True)
    try:
        provider.start(redirect_uri=f"{server.url}/login/oidc/callback")
        login = LoginProcess(tmp_path, "--server", server.url, "--name", "Traybell on desk-7")
        with chromium() as browser:
            # axe is injected into the page, which the pages' CSP would refuse
            context = browser.new_context(bypass_csp=True)
            page = context.new_page()
            page.set_viewport_size({"width": 320, "height": 640})
            page.goto(login.verification_uri_complete)
            assert "/login?next=/device" in page.url
            assert audit(page) == []
            assert page.evaluate("document.documentElement.scrollWidth") <= 320
            page.set_viewport_size({"width": 1280, "height": 800})
            assert audit(page) == []
            assert "You will go to Example Corp to sign in" in page.inner_text("main")
            _shot(page, "web-login-company.png")
            page.click("a:has-text('Sign in with Example Corp')")
            page.wait_for_url(f"{provider.issuer}/interaction/**")
            page.fill("input[name=login]", "alice")
            page.fill("input[name=password]", "any password")
            page.click("button:has-text('Sign-in')")
            page.click("button:has-text('Continue')")  # the provider's consent page
            page.wait_for_url(login.verification_uri_complete)
            assert "Traybell on desk-7" in page.inner_text(".client-name")
            page.click("button:has-text('Approve')")
            assert "Signed in" in page.inner_text("h1")
        returncode, rest, stderr = login.finish()
        assert returncode == 0, stderr
        assert rest.strip().endswith("signed in as alice")
    finally:
        server.stop()
        provider.stop()


def test_person_of_claims_follows_the_user_id_rules_and_the_group_settings():
    """The one mapping from claims: the user id from TRAYBELL_OIDC_USER_CLAIM (else
    preferred_username, else sub) with blanks, controls and "/" as "-", cut to 200; teams only
    from TRAYBELL_OIDC_TEAM_GROUPS (`*`: all); the admin flag None unless admin groups are set;
    claims that name nobody give None."""
    claims = {"sub": "u-1", "preferred_username": "Ann Lee/ops\u2028x", "groups": ["a", "b", 7]}
    settings = settings_with(oidc_team_groups=("b", "c"))
    person = person_of(claims, settings)
    assert person is not None
    assert person.user_id == "Ann-Lee-ops-x"
    assert person.team_groups == ("b",) and person.is_admin is None
    everyone = person_of(claims, settings_with(oidc_team_groups=("*",), oidc_admin_groups=("c",)))
    assert everyone is not None and everyone.team_groups == ("a", "b")
    assert everyone.is_admin is False
    by_sub = person_of({"sub": "x" * 300}, settings)
    assert by_sub is not None and by_sub.user_id == "x" * 200
    by_email = person_of(
        {**claims, "email": "ann@example.com"}, settings_with(oidc_user_claim="email")
    )
    assert by_email is not None and by_email.user_id == "ann@example.com"
    assert person_of({"sub": "  "}, settings) is None
    assert person_of({"sub": "u-2"}, settings_with(oidc_user_claim="email")) is None


def test_without_an_issuer_there_is_no_company_sign_in(live_server):
    """No TRAYBELL_OIDC_ISSUER: the sign-in page has no company link and /login/oidc is 404."""
    page = httpx.get(f"{live_server.url}/login")
    assert "/login/oidc" not in page.text and 'action="/login"' in page.text
    assert httpx.get(f"{live_server.url}/login/oidc").status_code == 404
    assert httpx.get(f"{live_server.url}/login/oidc/callback?state=x&code=y").status_code == 404


@pytest.mark.parametrize(
    "cookie",
    [
        "not base64 at all!",
        base64.urlsafe_b64encode(b"\xff\xfe").decode(),
        base64.urlsafe_b64encode(b"[1, 2]").decode(),
        base64.urlsafe_b64encode(
            b'{"state": 5, "nonce": 1, "code_verifier": 2, "next_path": 3}'
        ).decode(),
        base64.urlsafe_b64encode(b'{"state": "s", "other": "x"}').decode(),
    ],
)
def test_a_damaged_attempt_cookie_is_a_400_page_never_a_500(company, cookie):
    """Whatever the browser sends back as the sign-in under way, the callback answers with the
    page for a sign-in that cannot be finished (400) and no session."""
    with _browser(company.server) as http:
        http.cookies.set("traybell_oidc", cookie, domain="127.0.0.1", path="/login/oidc")
        reply = http.get("/login/oidc/callback", params={"state": "s", "code": "c"})
        assert reply.status_code == 400 and "already finished" in reply.text
        assert "traybell_session" not in http.cookies
