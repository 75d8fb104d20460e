"""Quiet hours hold non-critical deliveries until they end, in the user's timezone."""

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from shared.quiet_hours import quiet_until
from tests.worker.support import deliveries, scalar, text_of, wait_until

BERLIN = {"start": "22:00", "end": "07:00", "timezone": "Europe/Berlin"}


def test_quiet_hours_span_midnight_in_the_users_zone():
    """Quiet hours: a start after the end spans midnight, judged in the user's timezone."""
    # 23:30 in Berlin (CET, UTC+1) is inside; they end at 07:00 Berlin the next morning.
    assert quiet_until(BERLIN, datetime(2026, 11, 24, 22, 30, tzinfo=UTC)) == datetime(
        2026, 11, 25, 6, 0, tzinfo=UTC
    )
    assert quiet_until(BERLIN, datetime(2026, 11, 25, 5, 0, tzinfo=UTC)) == datetime(
        2026, 11, 25, 6, 0, tzinfo=UTC
    )
    assert quiet_until(BERLIN, datetime(2026, 11, 25, 6, 0, tzinfo=UTC)) is None
    assert quiet_until(BERLIN, datetime(2026, 11, 24, 20, 59, tzinfo=UTC)) is None
    day = {"start": "09:00", "end": "17:00", "timezone": "UTC"}
    assert quiet_until(day, datetime(2026, 11, 24, 12, tzinfo=UTC)) == datetime(
        2026, 11, 24, 17, tzinfo=UTC
    )
    assert quiet_until(None, datetime(2026, 11, 24, 12, tzinfo=UTC)) is None


def test_quiet_hours_end_on_the_wall_clock_across_daylight_saving():
    """Quiet hours end at the user's wall-clock time, also on the night clocks change."""
    # 29 March 2026: Berlin moves from UTC+1 to UTC+2 at 02:00, so 07:00 local is 05:00 UTC.
    assert quiet_until(BERLIN, datetime(2026, 3, 28, 23, 0, tzinfo=UTC)) == datetime(
        2026, 3, 29, 5, 0, tzinfo=UTC
    )


def test_quiet_hours_hold_a_warning_and_let_a_critical_through(live_server, smtp, start_worker):
    """Quiet hours: a warning waits until they end (no attempt spent); a critical goes now."""
    zone = ZoneInfo("Europe/Berlin")
    local = datetime.now(zone)
    start = (local - timedelta(hours=1)).strftime("%H:%M")
    end = (local + timedelta(hours=2)).strftime("%H:%M")
    quiet = {"start": start, "end": end, "timezone": "Europe/Berlin"}
    user, _ = live_server.create_user(email_enabled=True, email="q@example.com", quiet_hours=quiet)
    [can_wait] = live_server.send(user, title="Can wait", severity="warning")["results"]
    [cannot_wait] = live_server.send(user, title="Cannot wait", severity="critical")["results"]
    start_worker(smtp_url=smtp.url)

    [message] = smtp.mailbox.wait_for(1)
    assert message["Subject"] == "[Critical] Cannot wait"
    expected = quiet_until(quiet, datetime.now(UTC))
    [held] = wait_until(
        lambda: [
            j
            for j in deliveries(live_server.database_url, user)
            if not j["is_critical"] and j["available_at"] == expected
        ]
    )
    assert held["status"] == "pending" and held["attempts"] == 0
    assert len(smtp.mailbox.arrived) == 1
    # What the admin is told: the warning waits for quiet hours to end, the critical went.
    assert _email_report(live_server, can_wait["id"]) == ("queued", "quiet_hours")
    wait_until(lambda: _email_report(live_server, cannot_wait["id"]) == ("sent", None))


def _email_report(live_server, notification_id: str) -> tuple[str, str | None]:
    with live_server.client(live_server.admin_token) as admin:
        reply = admin.get(f"/v1/admin/notifications/{notification_id}/deliveries").json()
    [email] = [entry for entry in reply["deliveries"] if entry["channel"] == "email"]
    return email["status"], email["reason"]


def test_quiet_hours_not_now_let_a_warning_through(live_server, smtp, start_worker):
    """A user who has quiet hours, outside them now: the warning goes at once, one attempt."""
    zone = ZoneInfo("Europe/Berlin")
    local = datetime.now(zone)
    start = (local + timedelta(hours=2)).strftime("%H:%M")
    end = (local + timedelta(hours=3)).strftime("%H:%M")
    quiet = {"start": start, "end": end, "timezone": "Europe/Berlin"}
    user, _ = live_server.create_user(email_enabled=True, email="n@example.com", quiet_hours=quiet)
    live_server.send(user, title="Outside quiet hours", severity="warning", summary="now")
    start_worker(smtp_url=smtp.url)

    [message] = smtp.mailbox.wait_for(1)
    assert message["Subject"] == "[Warning] Outside quiet hours"
    [job] = wait_until(
        lambda: [j for j in deliveries(live_server.database_url, user) if j["status"] == "sent"]
    )
    assert job["attempts"] == 1


def _quiet_now(offset_hours: int = -1, length_hours: int = 3) -> dict:
    local = datetime.now(ZoneInfo("Europe/Berlin"))
    start = (local + timedelta(hours=offset_hours)).strftime("%H:%M")
    end = (local + timedelta(hours=offset_hours + length_hours)).strftime("%H:%M")
    return {"start": start, "end": end, "timezone": "Europe/Berlin"}


def test_what_quiet_hours_held_goes_out_as_one_digest_per_channel(
    live_server, smtp, push, start_worker
):
    """Quiet hours ending: the three warnings they held (one of them with a batch key) go out
    as one digest on each channel, "While quiet hours were on: 3 notifications", not one
    message each; the critical beside them went at once."""
    user, token = live_server.create_user(
        email_enabled=True,
        email="q@example.com",
        push_enabled=True,
        push_urls=[push.url()],
        digest_seconds=0,
        quiet_hours=_quiet_now(),
    )
    start_worker(smtp_url=smtp.url)
    titles = ["Disk at 91 %", "Disk at 95 %", "Backup late"]
    for title in titles:
        live_server.send(
            user, title=title, severity="warning", batch_key="backup" if "Backup" in title else None
        )
    live_server.send(user, title="Datacenter down", severity="critical")

    def held():
        jobs = [j for j in deliveries(live_server.database_url, user) if not j["is_critical"]]
        quiet = [j for j in jobs if j["group_key"] == "quiet" and j["items"] == 3]
        return len(jobs) == len(quiet) == 2 and quiet

    wait_until(held, 20, "one digest per channel holding the three warnings")
    [critical] = smtp.mailbox.wait_for(1)
    assert critical["Subject"] == "[Critical] Datacenter down"
    push.wait_for(1)

    # The quiet hours end: the user is outside them now, and what they held is due.
    with live_server.client(token) as client:
        later = client.patch("/v1/preferences", json={"quiet_hours": _quiet_now(2, 1)})
        later.raise_for_status()
    scalar(live_server.database_url, "bring_due", user_id=user)

    [_, digest] = smtp.mailbox.wait_for(2)
    assert digest["Subject"] == "While quiet hours were on: 3 notifications"
    assert all(title in text_of(digest) for title in titles)
    [_, pushed] = push.wait_for(2)
    assert pushed["title"] == "While quiet hours were on: 3 notifications"
    wait_until(
        lambda: all(j["status"] == "sent" for j in deliveries(live_server.database_url, user))
    )
    assert len(smtp.mailbox.arrived) == 2 and len(push.posts) == 2
