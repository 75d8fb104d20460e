"""The preference center on the settings page, and the audience shown in the inbox and on a
notification's page."""

from tests.support.db import db_fetch
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


def test_admin_console_shapes_teams_and_topics(live_server, person, browser):
    """The console's Teams and Topics areas: create a team, add and remove members (an
    unknown user is said so), declare a topic, subscribe the team, delete both; the same
    service calls and audit events as the API."""
    admin, admin_token = person(admin=True)
    member, _ = person()
    web = _signed_in(browser, admin)
    console = web.get("/admin/send").text
    assert "/admin/teams" in console and "/admin/topics" in console
    created = web.post("/admin/teams", {"team_id": "payments", "display_name": "Payments"})
    assert created.status_code == 303 and created.headers["location"] == "/admin/teams/payments"
    refused = web.post("/admin/teams", {"team_id": "Not Valid"})
    assert refused.status_code == 422 and "team id" in refused.text
    added = web.post(
        "/admin/teams/payments/members", {"user_id": member}, page="/admin/teams/payments"
    )
    assert added.status_code == 200 and f"{member} is a member now." in added.text
    unknown = web.post(
        "/admin/teams/payments/members", {"user_id": "ghost"}, page="/admin/teams/payments"
    )
    assert unknown.status_code == 404 and "No user &#39;ghost&#39;." in unknown.text
    declared = web.post(
        "/admin/topics", {"topic": "billing", "description": "Card failures"}, page="/admin/topics"
    )
    assert declared.status_code == 200 and "Topic billing is declared." in declared.text
    subscribed = web.post(
        "/admin/topics/billing/teams", {"team_id": "payments"}, page="/admin/topics"
    )
    assert "Team payments follows billing." in subscribed.text
    with live_server.client(admin_token) as api:
        assert api.get("/v1/admin/teams/payments").json()["team"]["member_ids"] == [member]
        [topic] = api.get("/v1/topics").json()["topics"]
        assert (topic["topic"], topic["open"]) == ("billing", False)
    removed = web.post(
        f"/admin/teams/payments/members/{member}/remove", {}, page="/admin/teams/payments"
    )
    assert f"{member} is no longer a member." in removed.text
    assert web.post("/admin/topics/billing/delete", {}, page="/admin/topics").status_code == 303
    assert (
        web.post("/admin/teams/payments/delete", {}, page="/admin/teams/payments").status_code
        == 303
    )
    assert "No teams yet." in web.get("/admin/teams").text
    assert "No topics declared yet." in web.get("/admin/topics").text


def test_console_send_takes_addresses_and_counts_the_audience_first(live_server, person, browser):
    """The console's send form takes addresses: the review shows how many people the audience
    reaches (each once) before anything is sent, an unknown address offers no send, and the
    send stores the audience."""
    admin, _ = person(admin=True)
    first, _ = person()
    second, _ = person()
    _team(live_server, "payments", first, second)
    web = _signed_in(browser, admin)
    form = {"audience": "some", "title": "Cards fail", "severity": "warning"}
    review = web.post("/admin/send", form | {"recipients": f"team:payments {first}"})
    assert review.status_code == 200 and "Send to 2 people?" in review.text
    unknown = web.post("/admin/send", form | {"recipients": "team:payments team:nope"})
    assert "team:nope" in unknown.text and "Send now" not in unknown.text
    sent = web.post(
        "/admin/send",
        form | {"recipients": f"team:payments {first}", "step": "send", "idempotency_key": "k1"},
        page="/admin/send",
    )
    assert "Sent to 2 of 2 recipient(s)." in sent.text
    rows = db_fetch(live_server.database_url, "SELECT user_id, audience FROM notifications")
    assert {r["user_id"]: r["audience"] for r in rows} == {
        first: "team:payments",
        second: "team:payments",
    }
