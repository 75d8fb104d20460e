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
