"""Scheduled sends: kept in PostgreSQL, released by the workers' poll (exactly once, after a
crash too, at once by a worker that starts late), each recipient at their own wall-clock time
for `send_at_local`, with the daylight-saving rule of db/functions/timers.sql."""

import asyncio
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import asyncpg
import pytest

from tests.support.db import db_fetch, db_value
from tests.support.waiting import wait_until


def _later(seconds: float) -> str:
    return (datetime.now(UTC) + timedelta(seconds=seconds)).isoformat()


def _schedule(server, **fields) -> dict:
    payload = {"event_name": "reminder", "title": "Consultation at 09:00", **fields}
    with server.client(server.admin_token) as admin:
        reply = admin.post("/v1/notifications", json=payload)
    assert reply.status_code == 202, reply.text
    return reply.json()["schedule"]


def _count(database_url: str, user_id: str) -> int:
    return db_value(database_url, "SELECT count(*) FROM notifications WHERE user_id = $1", user_id)


def _db_passed(database_url: str, instant: str) -> bool:
    return db_value(database_url, "SELECT now() > $1::text::timestamptz", instant)


def test_a_scheduled_send_stores_nothing_until_its_time_then_is_the_ordinary_send(
    live_server, database_url, start_worker
):
    """A schedule is invisible until its time; then a worker makes the ordinary send (the
    notification in the recipient's list, the audit event of the send, via 'schedule')."""
    user, token = live_server.create_user()
    schedule = _schedule(live_server, user_id=user, send_at=_later(2), summary="bring the file")
    assert schedule["status"] == "scheduled" and "send_at" in schedule
    assert _count(database_url, user) == 0
    start_worker()
    with live_server.client(token) as client:
        listed = wait_until(
            lambda: client.get("/v1/notifications").json()["notifications"], 30, "the release"
        )
    assert [n["title"] for n in listed] == ["Consultation at 09:00"]
    assert listed[0]["read_at"] is None and listed[0]["snoozed_until"] is None
    with live_server.client(live_server.admin_token) as admin:
        [row] = admin.get("/v1/admin/scheduled").json()["schedules"]
    assert row["schedule_id"] == schedule["schedule_id"] and row["status"] == "sent"
    via = db_value(
        database_url,
        "SELECT details->>'via' FROM audit_events WHERE action = 'notification.send'"
        " AND target_user_id = $1",
        user,
    )
    assert via == "schedule"


def test_two_workers_and_a_crash_release_every_schedule_exactly_once(
    live_server, database_url, spawn_worker
):
    """Exactly once, whatever the workers: 60 schedules due at the same moment, two worker
    processes, one killed (SIGKILL) between the schedules and their release, a third started:
    the two left release them, every recipient has exactly one notification and every
    schedule is `sent`."""
    users = [live_server.create_user()[0] for _ in range(60)]
    due = _later(30)  # after the creates below, on a slow machine too
    for user in users:
        _schedule(live_server, user_id=user, send_at=due)
    first, second = spawn_worker(), spawn_worker()
    first.wait_started()
    second.wait_started()
    first.kill()  # between the schedule and its release
    third = spawn_worker()
    third.wait_started()
    wait_until(lambda: _db_passed(database_url, due), 60, "the due time")
    wait_until(
        lambda: (
            db_value(database_url, "SELECT count(*) FROM schedules WHERE status = 'sent'")
            == len(users)
        ),
        60,
        "every schedule released",
    )
    counts = db_fetch(
        database_url,
        "SELECT user_id, count(*) AS n FROM notifications WHERE user_id = ANY ($1)"
        " GROUP BY user_id",
        users,
    )
    assert sorted(r["user_id"] for r in counts) == sorted(users)
    assert {r["n"] for r in counts} == {1}


def test_a_release_held_by_a_worker_that_dies_before_commit_is_released_by_another(
    live_server, database_url, start_worker
):
    """A crash in the middle of a release: a transaction that took the schedule and made the
    send dies before its commit; nothing of it remains, and a worker releases it once."""
    user, _ = live_server.create_user()
    schedule = _schedule(live_server, user_id=user, send_at=_later(1))
    wait_until(lambda: _db_passed(database_url, schedule["send_at"]), 30, "the due time")

    async def die_mid_release() -> None:
        conn = await asyncpg.connect(database_url)
        await conn.execute("BEGIN")
        released = await conn.fetchval("SELECT released FROM release_due_timers(10, 5)")
        assert released == 1
        assert await conn.fetchval("SELECT count(*) FROM notifications") == 1
        conn.terminate()  # the worker's process is gone: no commit

    asyncio.run(die_mid_release())
    assert _count(database_url, user) == 0
    start_worker()
    start_worker()
    wait_until(lambda: _count(database_url, user), 30, "the release")
    wait_until(lambda: db_value(database_url, "SELECT status FROM schedules") == "sent", 30, "sent")
    assert _count(database_url, user) == 1


def test_a_release_due_while_no_worker_ran_happens_when_one_starts(
    live_server, database_url, start_worker
):
    """A schedule whose time passed while no worker ran is released by the first poll of the
    next worker to start."""
    user, _ = live_server.create_user()
    schedule = _schedule(live_server, user_id=user, send_at=_later(1))
    wait_until(lambda: _db_passed(database_url, schedule["send_at"]), 30, "the due time")
    assert _count(database_url, user) == 0
    start_worker()
    wait_until(lambda: _count(database_url, user), 30, "the release")


def test_send_at_local_releases_each_recipient_at_their_own_wall_clock_time(
    live_server, database_url, start_worker
):
    """One schedule, many release times: a wall-clock time already past in Kiritimati (UTC+14)
    goes to the user there now, and waits for the user in New York (and for the one without a
    timezone, read in UTC); the schedule stays `scheduled` until they are reached."""
    east, _ = live_server.create_user(timezone="Pacific/Kiritimati")
    west, _ = live_server.create_user(timezone="America/New_York")
    nowhere, _ = live_server.create_user()
    wall = (datetime.now(ZoneInfo("Pacific/Kiritimati")) - timedelta(minutes=2)).strftime(
        "%Y-%m-%dT%H:%M"
    )
    schedule = _schedule(live_server, user_ids=[east, west, nowhere], send_at_local=wall)
    assert schedule["send_at_local"] == wall
    start_worker()
    wait_until(lambda: _count(database_url, east), 30, "the release in Kiritimati")
    releases = db_fetch(database_url, "SELECT user_id, timezone FROM schedule_releases")
    assert releases == [{"user_id": east, "timezone": "Pacific/Kiritimati"}]
    assert _count(database_url, west) == 0 and _count(database_url, nowhere) == 0
    assert db_value(database_url, "SELECT status FROM schedules") == "scheduled"


@pytest.mark.parametrize(
    ("wall", "zone", "expected"),
    [
        # spring forward: 02:00 EST jumps to 03:00 EDT; 02:30 does not exist that night
        ("2026-03-08 02:30", "America/New_York", "2026-03-08T07:00:00+00:00"),
        ("2026-03-08 01:59", "America/New_York", "2026-03-08T06:59:00+00:00"),
        ("2026-03-08 03:00", "America/New_York", "2026-03-08T07:00:00+00:00"),
        # fall back: 01:30 happens twice; the first time (EDT)
        ("2026-11-01 01:30", "America/New_York", "2026-11-01T05:30:00+00:00"),
        ("2026-12-09 09:00", "Asia/Kolkata", "2026-12-09T03:30:00+00:00"),
        ("2026-03-29 02:30", "Europe/Berlin", "2026-03-29T01:00:00+00:00"),
    ],
)
def test_the_daylight_saving_rule_of_local_times(database_url, wall, zone, expected):
    """The DST rule: a wall-clock time the clocks jump over is sent at the first valid
    instant after it; one that happens twice, the first time."""
    instant = db_value(
        database_url, "SELECT wall_clock_instant($1::text::timestamp, $2)", wall, zone
    )
    assert instant == datetime.fromisoformat(expected)
