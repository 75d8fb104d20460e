"""Transient failures retry with growing delays; spent attempts fail; admins re-queue them."""

from datetime import timedelta

from tests.support.pg import free_port
from tests.worker.support import SmtpServer, deliveries, wait_until


def _job(database_url, user):
    return deliveries(database_url, user)[0]


def test_smtp_4xx_is_retried_with_growing_delays_then_delivered(live_server, smtp, start_worker):
    """Retry: SMTP 4xx puts the job back after base x 2^attempts (less up to 20 % jitter), the
    delays grow, the error is kept, and the message goes out once the server takes it. (A 421
    on a kept connection is sent again at once instead: test_smtp_connections.py.)"""
    user, _ = live_server.create_user(email_enabled=True, email="r@example.com")
    smtp.mailbox.answers = ["451 4.3.0 try later", "452 4.3.1 insufficient storage"]
    live_server.send(user, title="retry me", severity="warning")
    start_worker(smtp_url=smtp.url, retry_base_seconds=1)

    delays = {}

    def observe():
        job = _job(live_server.database_url, user)
        if job["status"] == "pending" and job["attempts"] > 0:
            delays[job["attempts"]] = (job["available_at"] - job["updated_at"], job["last_error"])
        return job["status"] == "sent" and job

    job = wait_until(observe, 30, "the job to be sent")
    assert job["attempts"] == 3
    assert set(delays) == {1, 2}
    for attempts, (delay, error) in delays.items():
        full = timedelta(seconds=2**attempts)
        assert full * 0.8 <= delay <= full
        assert error.startswith("SMTP 4")
    assert delays[2][0] > delays[1][0]
    [message] = smtp.mailbox.wait_for(1)
    assert "retry me" in message["Subject"]
    assert len(smtp.mailbox.arrived) == 3


def test_refused_connection_is_retried_until_the_server_is_back(live_server, start_worker):
    """Retry: a refused connection is transient; once the SMTP server listens, it is delivered."""
    user, _ = live_server.create_user(email_enabled=True, email="c@example.com")
    smtp = SmtpServer(free_port())
    live_server.send(user, title="server down", severity="warning")
    start_worker(smtp_url=smtp.url, retry_base_seconds=1)
    job = wait_until(
        lambda: (
            (j := _job(live_server.database_url, user))["attempts"] == 1
            and j["status"] == "pending"
            and j
        )
    )
    assert "SMTP" in job["last_error"]
    smtp.start()
    try:
        [message] = smtp.mailbox.wait_for(1, 30)
        assert "server down" in message["Subject"]
        job = wait_until(
            lambda: (j := _job(live_server.database_url, user))["status"] == "sent" and j
        )
        assert job["attempts"] == 2
    finally:
        smtp.stop()


def test_spent_attempts_fail_show_in_admin_api_and_admin_retry_delivers(
    make_server, smtp, start_worker
):
    """Dead letter: past max attempts the job is failed with its error, listed by the admin API,
    and the admin retry (attempts back to 0) gets it delivered."""
    server = make_server(max_attempts=2)
    user, _ = server.create_user(email_enabled=True, email="d@example.com")
    smtp.mailbox.default = "452 4.2.2 mailbox full"
    server.send(user, title="dead letter", severity="warning")
    start_worker(smtp_url=smtp.url, retry_base_seconds=0)
    admin = server.client(server.admin_token)

    def failed():
        listed = admin.get("/v1/admin/deliveries", params={"status": "failed"}).json()
        return listed["deliveries"]

    [job] = wait_until(failed)
    assert job["user_id"] == user and job["attempts"] == 2 and "452" in job["last_error"]
    assert len(smtp.mailbox.arrived) == 2

    smtp.mailbox.default = "250 OK"
    reply = admin.post(f"/v1/admin/deliveries/{job['id']}/retry")
    assert reply.status_code == 200 and reply.json()["delivery"]["attempts"] == 0
    [message] = smtp.mailbox.wait_for(1)
    assert "dead letter" in message["Subject"]
    sent = wait_until(lambda: (j := _job(server.database_url, user))["status"] == "sent" and j)
    assert sent["attempts"] == 1
    admin.close()
