""" "Why did Bob get no email?": per notification and external channel, what the send decided
and what became of it (GET /v1/admin/notifications/{id}/deliveries), and the server-wide
defaults of a new user's channels."""

import uuid

from tests.support.db import db_fetch
from tests.support.live import LiveServer
from tests.support.live import test_settings as server_settings

PUSH_URL = "json://127.0.0.1:9/hook"


def _report(live_server, notification_id: str) -> dict[str, dict]:
    with live_server.client(live_server.admin_token) as admin:
        reply = admin.get(f"/v1/admin/notifications/{notification_id}/deliveries")
    assert reply.status_code == 200, reply.text
    return {entry["channel"]: entry for entry in reply.json()["deliveries"]}


def _sent_id(live_server, user: str, **fields) -> str:
    [result] = live_server.send(user, **fields)["results"]
    return result["id"]


def _status_and_reason(report: dict[str, dict]) -> dict[str, tuple]:
    return {channel: (entry["status"], entry["reason"]) for channel, entry in report.items()}


def test_each_reason_a_notification_was_not_queued_is_reported(live_server):
    """Send-time rule, recorded: a channel switched off, a missing address and a severity below
    warning each say why nothing was queued; what was queued says so."""
    off, _ = live_server.create_user()
    no_address, _ = live_server.create_user(
        email_enabled=True, push_enabled=True, push_urls=[PUSH_URL]
    )
    on, _ = live_server.create_user(email_enabled=True, email="on@example.com")

    report = _report(live_server, _sent_id(live_server, off, severity="critical"))
    assert _status_and_reason(report) == {
        "email": ("skipped", "preference_off"),
        "push": ("skipped", "preference_off"),
    }
    assert report["email"]["at"] is not None and report["email"]["delivery_id"] is None

    report = _report(live_server, _sent_id(live_server, no_address, severity="warning"))
    assert _status_and_reason(report) == {
        "email": ("skipped", "no_address"),
        "push": ("queued", None),
    }
    assert report["push"]["delivery_id"] is not None and report["push"]["attempts"] == 0

    report = _report(live_server, _sent_id(live_server, on, severity="info"))
    assert _status_and_reason(report) == {
        "email": ("skipped", "below_severity"),
        "push": ("skipped", "preference_off"),
    }


def test_a_digest_is_reported_as_the_reason_of_a_delay(live_server):
    """Batching, recorded: a notification waiting in its batch's digest is queued, `digested`."""
    user, _ = live_server.create_user(email_enabled=True, email="d@example.com")
    report = _report(live_server, _sent_id(live_server, user, severity="warning", batch_key="b"))
    assert _status_and_reason(report)["email"] == ("queued", "digested")


def test_what_became_of_a_queued_delivery_is_reported(live_server, database_url):
    """After the send: a sent job is `sent` (also once housekeeping pruned it), a failed one
    `failed` with its error."""
    user, _ = live_server.create_user(email_enabled=True, email="s@example.com")
    notification_id = _sent_id(live_server, user, severity="warning")
    job_id = uuid.UUID(_report(live_server, notification_id)["email"]["delivery_id"])

    db_fetch(
        database_url,
        "UPDATE deliveries SET status = 'failed', last_error = '550 no such user' WHERE id = $1",
        job_id,
    )
    failed = _report(live_server, notification_id)["email"]
    assert (failed["status"], failed["last_error"], failed["dismissed"]) == (
        "failed",
        "550 no such user",
        False,
    )
    db_fetch(
        database_url,
        "UPDATE deliveries SET status = 'sent', sent_at = now(), last_error = NULL WHERE id = $1",
        job_id,
    )
    assert _status_and_reason(_report(live_server, notification_id))["email"] == ("sent", None)
    db_fetch(database_url, "DELETE FROM deliveries WHERE id = $1", job_id)
    pruned = _report(live_server, notification_id)["email"]
    assert (pruned["status"], pruned["at"], pruned["delivery_id"]) == ("sent", None, None)


def test_the_report_is_for_admins_and_names_only_notifications_that_exist(live_server):
    """Access: an unknown or malformed id is 404; a user who is not an admin gets 403."""
    user, token = live_server.create_user()
    notification_id = _sent_id(live_server, user, severity="warning")
    with live_server.client(live_server.admin_token) as admin:
        for missing in (str(uuid.uuid4()), "not-a-uuid"):
            reply = admin.get(f"/v1/admin/notifications/{missing}/deliveries")
            assert reply.status_code == 404
    with live_server.client(token) as own:
        assert own.get(f"/v1/admin/notifications/{notification_id}/deliveries").status_code == 403


def test_new_users_channels_follow_the_server_defaults(database_url):
    """TRAYBELL_DEFAULT_EMAIL / TRAYBELL_DEFAULT_PUSH: a new user's email and push switches
    start as the server says (off unless set)."""
    for email_on, push_on in ((True, False), (False, True)):
        server = LiveServer(
            database_url, server_settings(default_email=email_on, default_push=push_on)
        )
        try:
            _, token = server.create_user()
            with server.client(token) as own:
                preferences = own.get("/v1/preferences").json()
            assert (preferences["email_enabled"], preferences["push_enabled"]) == (
                email_on,
                push_on,
            )
        finally:
            server.stop()
