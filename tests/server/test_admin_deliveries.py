"""The admin view of the delivery queue: listing by status and re-queueing dead letters."""

import uuid

from prometheus_client.parser import text_string_to_metric_families

from tests.support.db import db_fetch
from tests.support.waiting import wait_until


def _queued_job(live_server) -> str:
    user, _ = live_server.create_user(email_enabled=True, email="ops@example.com")
    live_server.send(user, severity="warning")
    with live_server.client(live_server.admin_token) as admin:
        [job] = admin.get("/v1/admin/deliveries", params={"status": "pending"}).json()["deliveries"]
    return job["id"]


def test_listing_shows_jobs_by_status(live_server):
    """GET /v1/admin/deliveries?status=... lists the jobs in that state with the contract's
    fields; failed is the default."""
    job_id = _queued_job(live_server)
    with live_server.client(live_server.admin_token) as admin:
        pending = admin.get("/v1/admin/deliveries", params={"status": "pending"}).json()
        assert [d["id"] for d in pending["deliveries"]] == [job_id]
        assert set(pending["deliveries"][0]) == {
            "id",
            "notification_id",
            "user_id",
            "channel",
            "status",
            "attempts",
            "last_error",
            "available_at",
        }
        assert admin.get("/v1/admin/deliveries").json() == {"deliveries": []}
        assert admin.get("/v1/admin/deliveries", params={"limit": 10**6}).status_code == 200
        bad = admin.get("/v1/admin/deliveries", params={"status": "lost"})
        assert bad.status_code == 422


def test_retry_requeues_only_a_failed_job(live_server, database_url):
    """Retry sets a failed job pending with attempts 0; any other state is 409, no job is 404."""
    job_id = _queued_job(live_server)
    with live_server.client(live_server.admin_token) as admin:
        not_failed = admin.post(f"/v1/admin/deliveries/{job_id}/retry")
        assert not_failed.status_code == 409 and not_failed.json()["error"]["code"] == "conflict"

        db_fetch(
            database_url,
            "UPDATE deliveries SET status = 'failed', attempts = 5, last_error = '550 no such user'"
            " WHERE id = $1",
            uuid.UUID(job_id),
        )
        failed = admin.get("/v1/admin/deliveries").json()["deliveries"]
        assert [(d["id"], d["attempts"], d["last_error"]) for d in failed] == [
            (job_id, 5, "550 no such user")
        ]
        retried = admin.post(f"/v1/admin/deliveries/{job_id}/retry").json()["delivery"]
        assert (retried["status"], retried["attempts"], retried["last_error"]) == (
            "pending",
            0,
            None,
        )

        for missing in (str(uuid.uuid4()), "not-a-uuid"):
            assert admin.post(f"/v1/admin/deliveries/{missing}/retry").status_code == 404


def _failed_gauge(admin) -> float:
    families = text_string_to_metric_families(admin.get("/metrics").text)
    [deliveries] = [family for family in families if family.name == "traybell_deliveries"]
    return sum(s.value for s in deliveries.samples if s.labels["status"] == "failed")


def test_listing_honours_a_user_filter(live_server):
    """GET /v1/admin/deliveries?user_id=...: only that user's jobs (an unknown user has none)."""
    users = [live_server.create_user(email_enabled=True, email=f"{n}@example.com")[0] for n in "ab"]
    live_server.send(users, severity="warning")
    with live_server.client(live_server.admin_token) as admin:
        for user in users:
            own = admin.get(
                "/v1/admin/deliveries", params={"status": "pending", "user_id": user}
            ).json()["deliveries"]
            assert [d["user_id"] for d in own] == [user]
        nobody = admin.get("/v1/admin/deliveries", params={"status": "pending", "user_id": "x"})
        assert nobody.json() == {"deliveries": []}


def test_a_dismissed_failure_leaves_the_list_and_the_failed_gauge(live_server, database_url):
    """Dismiss: a failed job seen to leaves the failed list and traybell_deliveries{status=
    "failed"}, so an alert on it clears; only a failed job can be dismissed (409), an unknown
    one is 404; a retry of it still works."""
    job_id = _queued_job(live_server)
    with live_server.client(live_server.admin_token) as admin:
        assert admin.post(f"/v1/admin/deliveries/{job_id}/dismiss").status_code == 409
        db_fetch(
            database_url,
            "UPDATE deliveries SET status = 'failed', last_error = '550 no such user'"
            " WHERE id = $1",
            uuid.UUID(job_id),
        )
        wait_until(lambda: _failed_gauge(admin) == 1, what="the failed job in the gauge")
        dismissed = admin.post(f"/v1/admin/deliveries/{job_id}/dismiss")
        assert dismissed.status_code == 200
        assert dismissed.json()["delivery"]["status"] == "failed"
        assert admin.post(f"/v1/admin/deliveries/{job_id}/dismiss").status_code == 200
        assert admin.get("/v1/admin/deliveries").json() == {"deliveries": []}
        wait_until(lambda: _failed_gauge(admin) == 0, what="the gauge to clear")
        for missing in (str(uuid.uuid4()), "not-a-uuid"):
            assert admin.post(f"/v1/admin/deliveries/{missing}/dismiss").status_code == 404
        retried = admin.post(f"/v1/admin/deliveries/{job_id}/retry").json()["delivery"]
        assert retried["status"] == "pending"
        events = admin.get("/v1/admin/audit", params={"action": "delivery.dismiss"}).json()
        assert {event["target"] for event in events["events"]} == {job_id}
