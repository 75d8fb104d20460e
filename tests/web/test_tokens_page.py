"""The console's tokens page: what `traybell admin tokens list|revoke` does, for rotation."""

from tests.support.db import db_fetch
from tests.support.web import PASSWORD


def test_admin_sees_every_token_and_revokes_one_for_good(live_server, person, browser):
    """Token rotation in the console: every token is listed with its user, scope and last use
    but never the token itself; revoke ends it at once (401), and again is a 404 on the page."""
    admin, _ = person(admin=True)
    holder, token = live_server.create_user()
    with live_server.client(token) as client:
        assert client.get("/v1/me").status_code == 200
    web = browser()
    assert web.sign_in(admin, PASSWORD, "/admin/tokens").status_code == 303
    page = web.get("/admin/tokens")
    assert page.status_code == 200 and holder in page.text and token not in page.text
    [row] = db_fetch(
        live_server.database_url, "SELECT token_id::text FROM api_tokens WHERE user_id = $1", holder
    )
    token_id = row["token_id"]
    assert token_id in page.text
    revoke = f"/admin/tokens/{token_id}/revoke"
    revoked = web.post(revoke, {}, page="/admin/tokens")
    assert revoked.status_code == 200 and "The token is revoked." in revoked.text
    assert token_id not in revoked.text
    with live_server.client(token) as client:
        assert client.get("/v1/me").status_code == 401
    again = web.post(revoke, {}, page="/admin/tokens")
    assert again.status_code == 404 and "That token no longer exists." in again.text
