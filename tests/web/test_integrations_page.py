"""The console's integrations page: connect a source, paste its settings, delete it."""

import html
import re

from tests.support.web import PASSWORD


def test_admin_connects_a_source_pastes_its_settings_and_deletes_it(live_server, person, browser):
    """Integrations in the console: create shows the token once, inside the exact settings to
    paste (Alertmanager's webhook_configs with http_config.authorization; ntfy's server URL and
    the token as password); the token works at once and nowhere else; the list shows the last
    use but never the token; an unknown address is refused on the page; delete stops it."""
    admin, _ = person(admin=True)
    member, _ = live_server.create_user()
    web = browser()
    assert web.sign_in(admin, PASSWORD, "/admin/integrations").status_code == 303
    refused = web.post(
        "/admin/integrations", {"name": "AM", "kind": "alertmanager", "to": "team:nobody"}
    )
    assert refused.status_code == 422 and "team:nobody" in refused.text
    created = web.post(
        "/admin/integrations", {"name": "Prod AM", "kind": "alertmanager", "to": f"user:{member}"}
    )
    assert created.status_code == 201
    text = html.unescape(created.text)
    token = re.search(r"credentials: (tb_[A-Za-z0-9_-]+)", text).group(1)
    assert f"url: {live_server.settings.public_url}/hooks/alertmanager" in text
    assert "http_config:\n          authorization:\n" in text
    with live_server.client(token) as source:
        assert source.post("/hooks/alertmanager", json={"alerts": []}).status_code == 200
        assert source.get("/v1/me").status_code == 401
    listed = web.get("/admin/integrations")
    assert "Prod AM" in listed.text and token not in listed.text
    ntfy = html.unescape(
        web.post("/admin/integrations", {"name": "Kuma", "kind": "ntfy", "to": ""}).text
    )
    ntfy_token = re.search(r"ntfy://traybell:(tb_[^@]+)@", ntfy).group(1)
    assert f"<code>{ntfy_token}</code>" in ntfy and "Password" in ntfy
    integration_id = re.search(r"/admin/integrations/([0-9a-f-]{36})/delete", listed.text).group(1)
    deleted = web.post(
        f"/admin/integrations/{integration_id}/delete", {}, page="/admin/integrations"
    )
    assert deleted.status_code == 200 and "Prod AM" not in deleted.text
    with live_server.client(token) as source:
        assert source.post("/hooks/alertmanager", json={"alerts": []}).status_code == 401
