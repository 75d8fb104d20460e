"""The API of scheduled sends and snooze: what it takes, refuses (422, never 500), and how
create, list and cancel behave."""

from datetime import UTC, datetime, timedelta

import pytest

from tests.support.db import db_value


def _later(**delta) -> str:
    return (datetime.now(UTC) + timedelta(**delta)).isoformat()


@pytest.fixture
def admin(live_server):
    with live_server.client(live_server.admin_token) as client:
        yield client


@pytest.mark.parametrize(
    "when",
    [
        {"send_at": "2026-12-09T09:00"},  # no offset
        {"send_at": "2026-02-30T09:00:00Z"},  # no such day
        {"send_at": "tomorrow"},
        {"send_at": 1765270800},
        {"send_at_local": "2026-12-09T09:00+05:30"},  # a local time has no offset
        {"send_at_local": "2026-12-09T25:00"},
        {"send_at": "2099-01-01T00:00:00Z"},  # over 366 days ahead
        {"send_at_local": "2099-01-01T00:00"},
        {"send_at": "2030-01-01T00:00:00Z", "send_at_local": "2030-01-01T00:00"},  # both
    ],
)
def test_bad_send_times_are_422(live_server, admin, when):
    """A send time must be ISO 8601 with an offset (send_at) or a wall-clock time without one
    (send_at_local), at most 366 days ahead, and only one of them: else 422, nothing kept."""
    user, _ = live_server.create_user()
    reply = admin.post(
        "/v1/notifications", json={"user_id": user, "event_name": "e", "title": "t", **when}
    )
    assert reply.status_code == 422, reply.text
    assert db_value(live_server.database_url, "SELECT count(*) FROM schedules") == 0


def test_a_past_time_sends_now_as_a_send_without_a_time(live_server, admin):
    """A send time already past is a send now: 201 with the results, no schedule kept."""
    user, _ = live_server.create_user()
    reply = admin.post(
        "/v1/notifications",
        json={"user_id": user, "event_name": "e", "title": "t", "send_at": _later(hours=-1)},
    )
    assert reply.status_code == 201 and reply.json()["inserted"] == 1
    assert db_value(live_server.database_url, "SELECT count(*) FROM schedules") == 0


def test_schedules_are_created_once_per_key_listed_and_cancelled(live_server, admin):
    """The idempotency key names one schedule (the same key again: 200, the existing one);
    the list is newest first with its status; cancel is 204, audited, and once cancelled the
    schedule is never released; an unknown id is 404; unknown recipients are 422."""
    user, _ = live_server.create_user()
    send = {
        "user_id": user,
        "event_name": "consult",
        "title": "Consultation",
        "severity": "warning",
        "send_at": _later(hours=2),
        "idempotency_key": "consult-77",
    }
    first = admin.post("/v1/notifications", json=send)
    assert first.status_code == 202
    schedule = first.json()["schedule"]
    assert schedule["status"] == "scheduled" and schedule["user_ids"] == [user]
    again = admin.post("/v1/notifications", json=send | {"title": "changed"})
    assert again.status_code == 200 and again.json()["schedule"] == schedule

    listed = admin.get("/v1/admin/scheduled", params={"status": "scheduled"}).json()
    assert [s["schedule_id"] for s in listed["schedules"]] == [schedule["schedule_id"]]
    assert listed["schedules"][0]["title"] == "Consultation"
    assert listed["schedules"][0]["severity"] == "warning"

    assert admin.delete(f"/v1/admin/scheduled/{schedule['schedule_id']}").status_code == 204
    assert admin.get("/v1/admin/scheduled", params={"status": "scheduled"}).json() == {
        "schedules": [],
        "next_before": None,
    }
    actions = db_value(
        live_server.database_url,
        "SELECT array_agg(action ORDER BY id) FROM audit_events WHERE action LIKE 'schedule.%'",
    )
    assert actions == ["schedule.create", "schedule.cancel"]
    assert admin.delete("/v1/admin/scheduled/not-an-id").status_code == 404
    assert (
        admin.delete(f"/v1/admin/scheduled/{'0' * 8}-0000-0000-0000-{'0' * 12}").status_code == 404
    )
    unknown = admin.post("/v1/notifications", json=send | {"user_id": "nobody-here"})
    assert unknown.status_code == 422


def test_cancelling_a_sent_schedule_is_409(live_server, admin):
    """Once sent, a schedule cannot be cancelled (409)."""
    user, _ = live_server.create_user()
    schedule = admin.post(
        "/v1/notifications",
        json={"user_id": user, "event_name": "e", "title": "t", "send_at": _later(hours=1)},
    ).json()["schedule"]
    db_value(
        live_server.database_url,
        "UPDATE schedules SET status = 'sent' WHERE schedule_id = $1::text::uuid RETURNING 1",
        schedule["schedule_id"],
    )
    reply = admin.delete(f"/v1/admin/scheduled/{schedule['schedule_id']}")
    assert reply.status_code == 409 and reply.json()["error"]["code"] == "conflict"


def test_the_schedule_list_pages_newest_first(live_server, admin):
    """next_before leads to the older schedules; a malformed one is 400."""
    user, _ = live_server.create_user()
    ids = [
        admin.post(
            "/v1/notifications",
            json={"user_id": user, "event_name": "e", "title": f"t{n}", "send_at": _later(hours=1)},
        ).json()["schedule"]["schedule_id"]
        for n in range(3)
    ]
    page = admin.get("/v1/admin/scheduled", params={"limit": 2}).json()
    assert [s["schedule_id"] for s in page["schedules"]] == ids[:0:-1]
    rest = admin.get("/v1/admin/scheduled", params={"before": page["next_before"]}).json()
    assert [s["schedule_id"] for s in rest["schedules"]] == ids[:1]
    assert admin.get("/v1/admin/scheduled", params={"before": "x"}).status_code == 400


def test_snooze_reads_now_lists_apart_and_unsnooze_ends_it(live_server):
    """Snooze: read now with snoozed_until, listed with ?snoozed=true, out of the unread
    count; unsnooze makes it unread at once; reading it cancels a snooze."""
    user, token = live_server.create_user()
    [result] = live_server.send(user, title="later")["results"]
    nid = result["id"]
    with live_server.client(token) as client:
        until = _later(hours=1)
        snoozed = client.post(f"/v1/notifications/{nid}/snooze", json={"until": until}).json()
        assert snoozed["notification"]["read_at"] is not None
        assert datetime.fromisoformat(snoozed["notification"]["snoozed_until"]) == (
            datetime.fromisoformat(until)
        )
        assert client.get("/v1/notifications/unread-count").json() == {"unread": 0}
        listed = client.get("/v1/notifications", params={"snoozed": "true"}).json()
        assert [n["id"] for n in listed["notifications"]] == [nid]
        back = client.post(f"/v1/notifications/{nid}/unsnooze").json()["notification"]
        assert back["read_at"] is None and back["snoozed_until"] is None
        client.post(f"/v1/notifications/{nid}/snooze", json={"until": until})
        read = client.post(f"/v1/notifications/{nid}/read").json()["notification"]
        assert read["snoozed_until"] is None and read["read_at"] is not None
        assert (
            client.get("/v1/notifications", params={"snoozed": "true"}).json()["notifications"]
            == []
        )
        client.post(f"/v1/notifications/{nid}/snooze", json={"until": until})
        archived = client.post(f"/v1/notifications/{nid}/archive").json()["notification"]
        assert archived["snoozed_until"] is None
        assert (
            client.post(f"/v1/notifications/{nid}/snooze", json={"until": until}).status_code == 409
        )


@pytest.mark.parametrize(
    "until",
    [
        "in an hour",
        "2026-12-09T09:00",  # no offset
        "PAST",
        "SOON",  # under a minute
        "FAR",  # over 30 days
    ],
)
def test_bad_snooze_times_are_422(live_server, until):
    """A snooze ends 1 minute to 30 days ahead, given as ISO 8601 with an offset: else 422."""
    user, token = live_server.create_user()
    nid = live_server.send(user)["results"][0]["id"]
    until = {
        "PAST": _later(hours=-1),
        "SOON": _later(seconds=20),
        "FAR": _later(days=31),
    }.get(until, until)
    with live_server.client(token) as client:
        reply = client.post(f"/v1/notifications/{nid}/snooze", json={"until": until})
        assert reply.status_code == 422, reply.text
        assert client.get(f"/v1/notifications/{nid}").json()["snoozed_until"] is None


def test_another_users_notification_cannot_be_snoozed(live_server):
    """Another user's id (and an id that is no uuid) is 404 for snooze and unsnooze."""
    owner, _ = live_server.create_user()
    _, other_token = live_server.create_user()
    nid = live_server.send(owner)["results"][0]["id"]
    with live_server.client(other_token) as client:
        for path in (f"{nid}/snooze", f"{nid}/unsnooze", "nope/snooze"):
            body = {"until": _later(hours=1)} if path.endswith("/snooze") else None
            reply = client.post(f"/v1/notifications/{path}", json=body)
            assert reply.status_code == 404, (path, reply.text)


@pytest.mark.parametrize("zone", ["Mars/Olympus", "EST5EDT ", "", "utc+2"])
def test_the_timezone_preference_takes_iana_names_only(live_server, zone):
    """`timezone` is an IANA name or null; anything else is 422."""
    _, token = live_server.create_user()
    with live_server.client(token) as client:
        assert client.patch("/v1/preferences", json={"timezone": zone}).status_code == 422
        ok = client.patch("/v1/preferences", json={"timezone": "Asia/Kolkata"})
        assert ok.status_code == 200 and ok.json()["timezone"] == "Asia/Kolkata"
        assert client.patch("/v1/preferences", json={"timezone": None}).json()["timezone"] is None
