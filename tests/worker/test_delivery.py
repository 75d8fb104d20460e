"""Email and push deliveries end to end: API send, worker, real receivers on loopback."""

from tests.worker.support import deliveries, html_of, text_of, wait_until


def test_warning_email_arrives_once_with_link_and_without_body_or_data(
    live_server, smtp, start_worker
):
    """Privacy and at-most-once: a warning reaches a user with email on exactly once, carrying
    the title, summary, severity and link, never the body or data."""
    user, _ = live_server.create_user(email_enabled=True, email="ada@example.com")
    reply = live_server.send(
        user,
        title="Disk almost full on build-7",
        summary="93 % used",
        body="SECRET-BODY internal path /srv/x",
        data={"token": "SECRET-DATA"},
        severity="warning",
    )
    notification_id = reply["results"][0]["id"]
    worker = start_worker(smtp_url=smtp.url)

    [message] = smtp.mailbox.wait_for(1)
    wait_until(lambda: deliveries(live_server.database_url, user)[0]["status"] == "sent")
    link = f"{worker.worker.settings.public_url}/n/{notification_id}"
    for part in (text_of(message), html_of(message)):
        assert "Disk almost full on build-7" in part
        assert "93 % used" in part
        assert "Warning" in part
        assert link in part
        assert "SECRET" not in part
    assert "SECRET" not in message.as_string()
    assert message["To"] == "ada@example.com"
    [job] = deliveries(live_server.database_url, user)
    assert message["Message-ID"] == f"<delivery.{job['id']}@localhost>"
    assert job["attempts"] == 1
    assert len(smtp.mailbox.arrived) == 1


def test_push_carries_the_safe_fields_only(live_server, push, start_worker):
    """Privacy on push: each push URL gets title, summary, severity and link, no body or data."""
    user, _ = live_server.create_user(push_enabled=True, push_urls=[push.url("a"), push.url("b")])
    reply = live_server.send(
        user,
        title="Deploy finished",
        summary="v2 is live",
        body="SECRET",
        data={"k": "SECRET"},
        severity="critical",
    )
    start_worker()
    posts = push.wait_for(2)
    wait_until(lambda: deliveries(live_server.database_url, user)[0]["status"] == "sent")
    assert sorted(post["path"] for post in posts) == ["/a", "/b"]
    link = f"http://127.0.0.1:8000/n/{reply['results'][0]['id']}"
    for post in posts:
        assert "Deploy finished" in post["title"]
        assert "v2 is live" in post["message"] and link in post["message"]
        assert "Critical" in post["message"]
        assert "SECRET" not in str(post)


def test_nothing_arrives_when_off_info_or_duplicate(live_server, smtp, start_worker):
    """Queueing rules: preference off, severity info, or a duplicate send queue no email."""
    off, _ = live_server.create_user(email_enabled=False, email="off@example.com")
    on, _ = live_server.create_user(email_enabled=True, email="on@example.com")
    live_server.send(off, title="preference off", severity="warning")
    live_server.send(on, title="only info", severity="info")
    first = live_server.send(on, title="once only", severity="warning", resource_id="r1")
    again = live_server.send(on, title="once only", severity="warning", resource_id="r1")
    assert again["duplicates"] == 1 and first["inserted"] == 1
    start_worker(smtp_url=smtp.url)
    # The one email that is due shows the worker has been through the queue.
    [message] = smtp.mailbox.wait_for(1)
    wait_until(lambda: deliveries(live_server.database_url, on)[0]["status"] == "sent")
    assert "once only" in message["Subject"]
    assert deliveries(live_server.database_url, off) == []
    assert len(deliveries(live_server.database_url, on)) == 1
    assert len(smtp.mailbox.arrived) == 1


def test_without_smtp_url_email_jobs_stay_pending(live_server, push, start_worker, caplog):
    """Unset TRAYBELL_SMTP_URL: email jobs stay pending (never claimed) and the worker says so."""
    user, _ = live_server.create_user(
        email_enabled=True, email="x@example.com", push_enabled=True, push_urls=[push.url()]
    )
    live_server.send(user, title="both channels", severity="warning")
    start_worker()
    push.wait_for(1)
    jobs = wait_until(
        lambda: (
            [
                job
                for job in deliveries(live_server.database_url, user)
                if job["channel"] == "push" and job["status"] == "sent"
            ]
            and deliveries(live_server.database_url, user)
        )
    )
    [email_job] = [job for job in jobs if job["channel"] == "email"]
    assert email_job["status"] == "pending" and email_job["attempts"] == 0
    assert "TRAYBELL_SMTP_URL is not set" in caplog.text


def test_permanent_refusal_fails_at_once(live_server, smtp, start_worker):
    """A permanent refusal (5xx for the address) fails the job at once, error kept."""
    user, _ = live_server.create_user(email_enabled=True, email="gone@example.com")
    smtp.mailbox.refused["gone@example.com"] = "550 5.1.1 no such mailbox"
    live_server.send(user, title="to nobody", severity="warning")
    start_worker(smtp_url=smtp.url, retry_base_seconds=0)
    [job] = wait_until(
        lambda: [j for j in deliveries(live_server.database_url, user) if j["status"] == "failed"]
    )
    assert job["attempts"] == 1
    assert "550" in job["last_error"]
    assert smtp.mailbox.messages == []
