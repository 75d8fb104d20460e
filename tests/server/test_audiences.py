"""Audiences: teams, topics, subscriptions, sends to `to`, per-topic preferences, and the
audit events of each change."""

import asyncio
import threading

import httpx
import pytest

from server.audiences import Audiences, team_id_of_group
from server.audit import CLI
from server.db import create_pool
from tests.support.db import db_fetch, db_value
from tests.support.sse import StreamReader
from tests.support.waiting import wait_until


def _admin(live_server) -> httpx.Client:
    return live_server.client(live_server.admin_token)


def _team(live_server, team_id: str, *members: str, display_name: str | None = None) -> None:
    with _admin(live_server) as admin:
        body = {"team_id": team_id} | ({"display_name": display_name} if display_name else {})
        assert admin.post("/v1/admin/teams", json=body).status_code == 201
        for member in members:
            reply = admin.put(f"/v1/admin/teams/{team_id}/members/{member}")
            assert reply.status_code == 204, reply.text


def _topic(live_server, topic: str, *, open: bool = True, teams: tuple[str, ...] = ()) -> None:
    with _admin(live_server) as admin:
        assert admin.put(f"/v1/admin/topics/{topic}", json={"open": open}).status_code == 200
        for team_id in teams:
            assert admin.put(f"/v1/admin/topics/{topic}/teams/{team_id}").status_code == 204


def _send_to(live_server, to: list[str], **fields) -> httpx.Response:
    body = {"to": to, "event_name": "test.event", "title": "Test"} | fields
    with _admin(live_server) as admin:
        return admin.post("/v1/notifications", json=body)


def _actions(database_url: str) -> list[tuple[str, str | None, str | None]]:
    rows = db_fetch(
        database_url,
        "SELECT action, target, target_user_id FROM audit_events"
        " WHERE action LIKE 'team.%' OR action LIKE 'topic.%' ORDER BY id",
    )
    return [(r["action"], r["target"], r["target_user_id"]) for r in rows]


def test_teams_are_created_listed_and_shown_with_their_members(live_server, database_url):
    """Teams admin API: create (201; 409 for a taken id), list with member counts, one team
    with its member ids; membership edits are idempotent 204s; unknown team or user 404;
    delete 204, then 404; each change is audited once."""
    alice, _ = live_server.create_user()
    bob, _ = live_server.create_user()
    with _admin(live_server) as admin:
        created = admin.post(
            "/v1/admin/teams", json={"team_id": "payments", "display_name": "Payments"}
        )
        assert created.status_code == 201
        assert created.json()["team"] | {"created_at": None} == {
            "team_id": "payments",
            "display_name": "Payments",
            "managed_by": "local",
            "members": 0,
            "created_at": None,
        }
        assert admin.post("/v1/admin/teams", json={"team_id": "payments"}).status_code == 409
        for user in (alice, bob, alice):
            assert admin.put(f"/v1/admin/teams/payments/members/{user}").status_code == 204
        assert admin.delete(f"/v1/admin/teams/payments/members/{bob}").status_code == 204
        assert admin.delete(f"/v1/admin/teams/payments/members/{bob}").status_code == 204
        assert admin.put("/v1/admin/teams/payments/members/nobody").status_code == 404
        assert admin.put(f"/v1/admin/teams/nothing/members/{alice}").status_code == 404
        assert admin.get("/v1/admin/teams").json()["teams"][0]["members"] == 1
        team = admin.get("/v1/admin/teams/payments").json()["team"]
        assert team["member_ids"] == [alice] and team["display_name"] == "Payments"
        assert admin.delete("/v1/admin/teams/payments").status_code == 204
        assert admin.get("/v1/admin/teams/payments").status_code == 404
        assert admin.delete("/v1/admin/teams/payments").status_code == 404
    assert _actions(database_url) == [
        ("team.create", "payments", None),
        ("team.member.add", "payments", alice),
        ("team.member.add", "payments", bob),
        ("team.member.remove", "payments", bob),
        ("team.delete", "payments", None),
    ]


@pytest.mark.parametrize(
    "body",
    [{"team_id": "Payments"}, {"team_id": "a" * 65}, {"team_id": "x", "display_name": ""}],
)
def test_a_team_id_outside_the_rules_is_refused(live_server, body):
    """Team ids are 1-64 of a-z 0-9 . _ -, display names 1-100: anything else is 422."""
    with _admin(live_server) as admin:
        reply = admin.post("/v1/admin/teams", json=body)
    assert reply.status_code == 422 and reply.json()["error"]["code"] == "validation_failed"


def test_admin_calls_need_an_admin(live_server):
    """Teams and topics are shaped by admins only: a user's token is 403."""
    _, token = live_server.create_user()
    with live_server.client(token) as user:
        assert user.post("/v1/admin/teams", json={"team_id": "x"}).status_code == 403
        assert user.put("/v1/admin/topics/x", json={"open": True}).status_code == 403


def test_oidc_teams_follow_sign_ins_and_refuse_admin_edits(live_server, database_url):
    """managed_by oidc: set_oidc_teams makes the user's provider-managed memberships exactly
    the given groups, lower-cased and cut to the team id rules (creating teams, leaving local
    teams alone, skipping a name that leaves nothing); admins get 409 on edits."""
    alice, _ = live_server.create_user()
    _team(live_server, "ops")

    async def sign_in(groups: list[str]) -> None:
        pool = await create_pool(database_url, min_size=1, max_size=1)
        try:
            async with pool.acquire() as conn, conn.transaction():
                await Audiences(pool).set_oidc_teams(conn, alice, groups, CLI)
        finally:
            await pool.close()

    asyncio.run(sign_in(["Eng", "sre", "ops"]))
    asyncio.run(sign_in(["SRE", "ops", "!!!"]))
    with _admin(live_server) as admin:
        teams = {t["team_id"]: t for t in admin.get("/v1/admin/teams").json()["teams"]}
        assert {k: (t["managed_by"], t["members"]) for k, t in teams.items()} == {
            "eng": ("oidc", 0),
            "ops": ("local", 0),
            "sre": ("oidc", 1),
        }
        reply = admin.put(f"/v1/admin/teams/sre/members/{alice}")
        assert reply.status_code == 409 and reply.json()["error"]["code"] == "conflict"
        assert admin.delete(f"/v1/admin/teams/sre/members/{alice}").status_code == 409
    assert [a for a in _actions(database_url) if a[0].startswith("team.member")] == [
        ("team.member.add", "eng", alice),
        ("team.member.add", "sre", alice),
        ("team.member.remove", "eng", alice),
    ]


def test_topics_are_declared_joined_and_listed(live_server, database_url):
    """Topics: PUT declares (idempotent, 200), users join and leave open topics (204), closed
    403, unknown 404; GET /v1/topics says subscribed and via_team; DELETE takes the
    subscriptions with it; declare, delete and team subscriptions are audited."""
    alice, alice_token = live_server.create_user()
    _team(live_server, "payments", alice)
    with _admin(live_server) as admin:
        declared = admin.put(
            "/v1/admin/topics/deploys", json={"description": "Deploys to production", "open": True}
        )
        assert declared.status_code == 200
        assert declared.json() == {
            "topic": {"topic": "deploys", "description": "Deploys to production", "open": True}
        }
        assert admin.put("/v1/admin/topics/billing", json={"open": False}).status_code == 200
        assert admin.put("/v1/admin/topics/billing/teams/payments").status_code == 204
        assert admin.put("/v1/admin/topics/billing/teams/nothing").status_code == 404
        assert admin.put("/v1/admin/topics/Bad Name", json={"open": True}).status_code == 422
    with live_server.client(alice_token) as user:
        assert user.put("/v1/me/subscriptions/deploys").status_code == 204
        assert user.put("/v1/me/subscriptions/deploys").status_code == 204
        closed = user.put("/v1/me/subscriptions/billing")
        assert closed.status_code == 403 and closed.json()["error"]["code"] == "topic_closed"
        assert user.put("/v1/me/subscriptions/nothing").status_code == 404
        topics = {t["topic"]: t for t in user.get("/v1/topics").json()["topics"]}
        assert topics["deploys"] | {"description": None} == {
            "topic": "deploys",
            "description": None,
            "open": True,
            "subscribed": True,
            "via_team": False,
        }
        assert (topics["billing"]["subscribed"], topics["billing"]["via_team"]) == (True, True)
        assert user.delete("/v1/me/subscriptions/deploys").status_code == 204
        assert user.get("/v1/topics").json()["topics"][1]["subscribed"] is False
        assert user.put("/v1/me/subscriptions/deploys").status_code == 204
    with _admin(live_server) as admin:
        assert admin.delete("/v1/admin/topics/deploys").status_code == 204
        assert admin.delete("/v1/admin/topics/deploys").status_code == 404
    assert db_value(database_url, "SELECT count(*) FROM topic_subscriptions") == 0
    assert [a[0] for a in _actions(database_url) if a[0].startswith("topic.")] == [
        "topic.declare",
        "topic.declare",
        "topic.subscribe",
        "topic.delete",
    ]


def test_a_send_to_an_audience_reaches_each_person_once(live_server, database_url):
    """Sending to `to`: the union of users, team members and topic subscribers (users and
    subscribed teams), each person once with the first address that reached them as
    `audience`; disabled users are left out; `topic:` sets the topic."""
    alice, alice_token = live_server.create_user()
    bob, _ = live_server.create_user()
    carol, carol_token = live_server.create_user()
    dave, _ = live_server.create_user()
    _team(live_server, "payments", alice, bob, dave, display_name="Payments")
    _team(live_server, "sre", carol)
    _topic(live_server, "deploys", teams=("sre",))
    with live_server.client(alice_token) as user:
        assert user.put("/v1/me/subscriptions/deploys").status_code == 204
    with _admin(live_server) as admin:
        assert admin.post(f"/v1/admin/users/{dave}/disable").status_code == 200

    reply = _send_to(live_server, [f"user:{bob}", "team:payments", "topic:deploys"])
    assert reply.status_code == 201
    assert sorted(r["user_id"] for r in reply.json()["results"]) == sorted([alice, bob, carol])
    assert reply.json()["inserted"] == 3
    rows = db_fetch(database_url, "SELECT user_id, audience, topic FROM notifications")
    assert {r["user_id"]: (r["audience"], r["topic"]) for r in rows} == {
        bob: (f"user:{bob}", "deploys"),
        alice: ("team:payments", "deploys"),
        carol: ("topic:deploys", "deploys"),
    }
    with live_server.client(carol_token) as user:
        [notification] = user.get("/v1/notifications").json()["notifications"]
        assert (notification["audience"], notification["topic"]) == ("topic:deploys", "deploys")
        change = user.get("/v1/sync").json()["changes"][0]
        assert (change["audience"], change["topic"]) == ("topic:deploys", "deploys")


def test_a_named_topic_wins_over_the_topic_address(live_server, database_url):
    """The body's `topic` is the notification's topic even when `to` names another."""
    _, token = live_server.create_user()
    _topic(live_server, "deploys")
    with live_server.client(token) as user:
        user.put("/v1/me/subscriptions/deploys").raise_for_status()
    assert _send_to(live_server, ["topic:deploys"], topic="releases").status_code == 201
    assert db_value(database_url, "SELECT topic FROM notifications") == "releases"


def test_unknown_addresses_store_nothing(live_server, database_url):
    """An unknown user, team or topic is 422 unknown_addresses listing them; nothing is
    stored, nothing is audited."""
    alice, _ = live_server.create_user()
    reply = _send_to(live_server, [f"user:{alice}", "team:nope", "topic:nope", "user:ghost"])
    assert reply.status_code == 422
    error = reply.json()["error"]
    assert error["code"] == "unknown_addresses"
    assert error["unknown_addresses"] == ["team:nope", "topic:nope", "user:ghost"]
    assert db_value(database_url, "SELECT count(*) FROM notifications") == 0
    assert (
        db_value(
            database_url, "SELECT count(*) FROM audit_events WHERE action = 'notification.send'"
        )
        == 0
    )


def test_an_audience_of_nobody_is_200_with_no_results(live_server):
    """An empty team or topic: 200, empty results, nothing stored."""
    _team(live_server, "empty")
    reply = _send_to(live_server, ["team:empty"])
    assert reply.status_code == 200
    assert reply.json() == {"results": [], "inserted": 0, "duplicates": 0}


@pytest.mark.parametrize(
    "to",
    [
        [],
        ["team:a", "team:a"],
        [f"user:u{i}" for i in range(101)],
        ["group:a"],
        ["team:Payments"],
        ["payments"],
        "team:a",
    ],
    ids=["empty", "duplicate", "oversized", "kind", "team-id", "no-kind", "not-a-list"],
)
def test_bad_address_lists_are_refused_with_the_error_body(live_server, to):
    """Empty, duplicate, oversized or malformed `to`: 422 with the error body, no 500."""
    reply = _send_to(live_server, to)
    assert reply.status_code == 422
    assert reply.json()["error"]["code"] == "validation_failed"


def test_to_is_exclusive_with_the_other_recipient_forms(live_server):
    """`to` is one more way to name recipients: with user_id or all_users it is 422."""
    alice, _ = live_server.create_user()
    assert _send_to(live_server, [f"user:{alice}"], user_id=alice).status_code == 422
    assert _send_to(live_server, [f"user:{alice}"], all_users=True).status_code == 422


def test_deleting_teams_and_topics_during_sends_never_fails_a_send(live_server):
    """A team or topic deleted while sends to it are in flight: each send answers 201, 200
    or 422 (unknown by then), never a 500."""
    members = [live_server.create_user()[0] for _ in range(5)]
    statuses: list[int] = []
    for round_no in range(6):
        _team(live_server, f"t{round_no}", *members)
        _topic(live_server, f"p{round_no}", teams=(f"t{round_no}",))
        stop = threading.Event()

        def send_repeatedly(address: str, stop: threading.Event = stop) -> None:
            with _admin(live_server) as admin:
                while not stop.is_set():
                    reply = admin.post(
                        "/v1/notifications",
                        json={"to": [address], "event_name": "e", "title": "t"},
                    )
                    statuses.append(reply.status_code)
                    if reply.status_code == 422:
                        return

        senders = [
            threading.Thread(target=send_repeatedly, args=(f"team:t{round_no}",)),
            threading.Thread(target=send_repeatedly, args=(f"topic:p{round_no}",)),
        ]
        for sender in senders:
            sender.start()
        with _admin(live_server) as admin:
            assert admin.delete(f"/v1/admin/topics/p{round_no}").status_code == 204
            assert admin.delete(f"/v1/admin/teams/t{round_no}").status_code == 204
        stop.set()
        for sender in senders:
            sender.join(30)
    assert set(statuses) <= {200, 201, 422}


def test_topic_preferences_merge_per_topic_and_channel(live_server):
    """GET /v1/preferences has `topics`; PATCH merges per topic and channel; a topic left
    with only nulls is gone."""
    _, token = live_server.create_user()
    with live_server.client(token) as user:
        assert user.get("/v1/preferences").json()["topics"] == {}
        first = user.patch("/v1/preferences", json={"topics": {"deploys": {"email": True}}})
        assert first.json()["topics"] == {"deploys": {"in_app": None, "email": True, "push": None}}
        second = user.patch(
            "/v1/preferences",
            json={"topics": {"deploys": {"in_app": False}, "billing": {"push": False}}},
        )
        assert second.json()["topics"] == {
            "billing": {"in_app": None, "email": None, "push": False},
            "deploys": {"in_app": False, "email": True, "push": None},
        }
        third = user.patch(
            "/v1/preferences",
            json={"topics": {"deploys": {"in_app": None, "email": None}}},
        )
        assert list(third.json()["topics"]) == ["billing"]
        assert user.get("/v1/preferences").json()["topics"] == third.json()["topics"]
        bad = user.patch("/v1/preferences", json={"topics": {"deploys": {"email": "yes"}}})
        assert bad.status_code == 422


def test_in_app_off_mutes_a_topic_except_critical(live_server, database_url):
    """in_app false for a topic: nothing is stored for the user at info or warning
    (suppressed), critical still is; other topics and untopical sends are untouched."""
    alice, token = live_server.create_user()
    with live_server.client(token) as user:
        user.patch("/v1/preferences", json={"topics": {"deploys": {"in_app": False}}})
    muted = live_server.send(alice, topic="deploys", severity="warning")
    assert muted["results"][0].get("suppressed") is True
    assert live_server.send(alice, topic="deploys", severity="critical")["inserted"] == 1
    assert live_server.send(alice, topic="billing")["inserted"] == 1
    assert live_server.send(alice)["inserted"] == 1
    assert db_value(database_url, "SELECT count(*) FROM notifications") == 3


def test_topic_email_overrides_the_severity_rule(live_server, database_url):
    """email true sends that topic by email at every severity (channel on, address present);
    false sends none; null keeps warning and critical only."""
    alice, token = live_server.create_user(email_enabled=True, email="a@example.com")
    with live_server.client(token) as user:
        user.patch(
            "/v1/preferences",
            json={"topics": {"deploys": {"email": True}, "billing": {"email": False}}},
        )

    def jobs() -> int:
        return db_value(database_url, "SELECT count(*) FROM deliveries WHERE channel = 'email'")

    live_server.send(alice, topic="deploys", severity="info")
    assert jobs() == 1
    live_server.send(alice, topic="billing", severity="critical")
    assert jobs() == 1
    live_server.send(alice, topic="other", severity="info")
    assert jobs() == 1
    live_server.send(alice, topic="other", severity="warning")
    assert jobs() == 2


def test_topic_email_on_needs_the_channel_and_an_address(live_server, database_url):
    """email true for a topic does not turn on a channel that is off."""
    alice, token = live_server.create_user(email="a@example.com")
    with live_server.client(token) as user:
        user.patch("/v1/preferences", json={"topics": {"deploys": {"email": True}}})
    live_server.send(alice, topic="deploys", severity="critical")
    assert db_value(database_url, "SELECT count(*) FROM deliveries") == 0


def test_topic_and_audience_reach_the_event_stream(live_server):
    """An open /v1/events stream carries a team send with its `topic` and `audience`."""
    alice, token = live_server.create_user()
    _team(live_server, "payments", alice)
    stream = StreamReader(live_server.url, token)
    try:
        assert stream.status == 200
        assert _send_to(live_server, ["team:payments"], topic="billing").status_code == 201
        wait_until(lambda: any(e.page["changes"] for e in stream.events))
        [change] = [c for e in stream.events for c in e.page["changes"]]
        assert (change["topic"], change["audience"]) == ("billing", "team:payments")
    finally:
        stream.close()


@pytest.mark.parametrize(
    ("group", "team_id"),
    [
        ("Payments", "payments"),
        ("SRE On-Call", "sre-on-call"),
        ("eng/backend", "eng-backend"),
        ("x" * 80, "x" * 64),
        ("", None),
        ("***", None),
    ],
)
def test_a_group_becomes_a_team_id_within_the_rules(group, team_id):
    """An identity provider's group name as a team id: lower-cased, other characters as '-',
    cut to 64; nothing left is no team."""
    assert team_id_of_group(group) == team_id
