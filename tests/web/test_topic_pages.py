"""The preference center on the settings page, and the audience shown in the inbox and on a
notification's page."""

from tests.support.web import PASSWORD


def _signed_in(browser, user):
    web = browser()
    assert web.sign_in(user, PASSWORD).status_code == 303
    return web


def _declare(live_server, topic: str, *, open: bool, teams: tuple[str, ...] = ()) -> None:
    with live_server.client(live_server.admin_token) as admin:
        admin.put(f"/v1/admin/topics/{topic}", json={"open": open}).raise_for_status()
        for team_id in teams:
            admin.put(f"/v1/admin/topics/{topic}/teams/{team_id}").raise_for_status()


def _team(live_server, team_id: str, *members: str) -> None:
    with live_server.client(live_server.admin_token) as admin:
        admin.post("/v1/admin/teams", json={"team_id": team_id}).raise_for_status()
        for member in members:
            admin.put(f"/v1/admin/teams/{team_id}/members/{member}").raise_for_status()


def test_settings_list_followed_received_and_open_topics(live_server, person, browser):
    """The settings page shows the topics the user follows (on their own or through a team),
    has received, or may join, with Join and Leave where the user may; a closed topic they do
    not follow is not offered."""
    user, _ = person()
    _team(live_server, "payments", user)
    _declare(live_server, "billing", open=False, teams=("payments",))
    _declare(live_server, "deploys", open=True)
    _declare(live_server, "secret", open=False)
    live_server.send(user, topic="builds")
    web = _signed_in(browser, user)
    page = web.get("/settings").text
    topics = page.split('id="topics"')[1].split("</section>")[0]
    assert "billing" in topics and "through your team" in topics
    assert "builds" in topics and "received" in topics
    assert "deploys" in topics and "open to join" in topics
    assert "secret" not in topics
    assert topics.count(">Join</button>") == 1 and ">Leave</button>" not in topics

    joined = web.post("/settings/topics/deploys/join", {}, page="/settings")
    assert joined.status_code == 303
    page = web.get(joined.headers["location"]).text
    assert "You follow that topic now." in page and ">Leave</button>" in page
    left = web.post("/settings/topics/deploys/leave", {}, page="/settings")
    assert "You no longer follow that topic." in web.get(left.headers["location"]).text
    refused = web.post("/settings/topics/billing/leave", {}, page="/settings")
    assert refused.status_code == 409 and "closed" in refused.text


def test_topic_switches_save_the_api_overrides(live_server, person, browser):
    """The topic switches save the same per-topic overrides as PATCH /v1/preferences: On,
    Off, or "As set above" (null)."""
    user, token = person()
    live_server.send(user, topic="deploys")
    live_server.send(user, topic="billing")
    web = _signed_in(browser, user)
    saved = web.post(
        "/settings/topics",
        {
            "in_app@deploys": "off",
            "email@deploys": "",
            "push@deploys": "",
            "in_app@billing": "",
            "email@billing": "on",
            "push@billing": "off",
        },
        page="/settings",
    )
    assert saved.status_code == 303
    assert "Your topic settings are saved." in web.get(saved.headers["location"]).text
    with live_server.client(token) as client:
        assert client.get("/v1/preferences").json()["topics"] == {
            "billing": {"in_app": None, "email": True, "push": False},
            "deploys": {"in_app": False, "email": None, "push": None},
        }
    page = web.get("/settings").text
    assert '<option value="off" selected>Off</option>' in page
    refused = web.post("/settings/topics", {"email@Not A Topic": "on"}, page="/settings")
    assert refused.status_code == 422


def test_inbox_and_notification_page_say_who_it_was_sent_to(live_server, person, browser):
    """A notification sent to a team shows "to <team>" in the inbox and on its page; one sent
    to the user alone shows no audience."""
    user, _ = person()
    _team(live_server, "payments", user)
    with live_server.client(live_server.admin_token) as admin:
        sent = admin.post(
            "/v1/notifications",
            json={"to": ["team:payments"], "event_name": "card.failed", "title": "Cards fail"},
        )
        sent.raise_for_status()
    live_server.send(user, title="Just for you")
    web = _signed_in(browser, user)
    inbox = web.get("/").text
    assert "to payments · card.failed" in inbox
    assert inbox.count(" · to ") == 1
    page = web.get(f"/n/{sent.json()['results'][0]['id']}").text
    assert "to payments" in page
