"""Email that respects its reader: one-click unsubscribe (RFC 8058), a footer that leads
somewhere, and a guard against mailing the sender itself."""

import logging
import re

import httpx

from tests.worker.support import deliveries, html_of, text_of, wait_until


def _unsubscribe_url(message) -> str:
    found = re.fullmatch(r"<(http://[^>]+/unsubscribe/[\w-]+)>", message["List-Unsubscribe"])
    assert found, message["List-Unsubscribe"]
    return found.group(1)


def _email_enabled(live_server, token) -> bool:
    with live_server.client(token) as client:
        return client.get("/v1/preferences").json()["email_enabled"]


def test_every_email_carries_one_click_unsubscribe_and_a_footer_in_both_parts(
    live_server, smtp, start_worker
):
    """List-Unsubscribe with List-Unsubscribe-Post: List-Unsubscribe=One-Click beside
    Auto-Submitted, and in the text and HTML parts why it came, the settings link and the
    unsubscribe link; digests too."""
    user, _ = live_server.create_user(email_enabled=True, email="u@example.com", digest_seconds=1)
    live_server.send(user, title="Single", severity="warning")
    live_server.send(user, title="Batched one", severity="warning", batch_key="b")
    live_server.send(user, title="Batched two", severity="warning", batch_key="b")
    worker = start_worker(smtp_url=smtp.url)
    public = worker.worker.settings.public_url
    messages = smtp.mailbox.wait_for(2)
    assert any("2 new" in m["Subject"] for m in messages)
    for message in messages:
        url = _unsubscribe_url(message)
        assert url.startswith(f"{public}/unsubscribe/")
        assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
        assert message["Auto-Submitted"] == "auto-generated"
        for part in (text_of(message), html_of(message)):
            assert "You receive warnings and critical alerts from Traybell." in part
            assert f"{public}/settings" in part
            assert url in part


def test_one_click_post_turns_email_off_and_a_get_changes_nothing(live_server, smtp, start_worker):
    """The mail client's POST to the List-Unsubscribe URL turns email off (no session, no CSRF
    token); the next warning sends no email but is still stored in-app. A GET (a mail scanner)
    changes nothing; an unknown token is 404. The click is in the audit log."""
    user, token = live_server.create_user(email_enabled=True, email="off@example.com")
    live_server.send(user, title="Before", severity="warning")
    start_worker(smtp_url=smtp.url)
    [message] = smtp.mailbox.wait_for(1)
    path = _unsubscribe_url(message).split("/", 3)[3]

    with httpx.Client(base_url=live_server.url) as web:
        page = web.get(f"/{path}")
        assert page.status_code == 200 and "Stop these emails" in page.text
        assert _email_enabled(live_server, token)
        clicked = web.post(f"/{path}", data={"List-Unsubscribe": "One-Click"})
        assert clicked.status_code == 200 and "No more emails" in clicked.text
        assert web.get("/unsubscribe/not-a-real-token").status_code == 404
        assert web.post("/unsubscribe/not-a-real-token").status_code == 404
    assert not _email_enabled(live_server, token)
    with live_server.client(live_server.admin_token) as admin:
        events = admin.get("/v1/admin/audit", params={"action": "preferences.update"}).json()
    [click] = [e for e in events["events"] if e["details"].get("via") == "unsubscribe"]
    assert (click["actor_user_id"], click["details"]["fields"]) == (user, ["email_enabled"])

    live_server.send(user, title="After", severity="warning")
    with live_server.client(token) as client:
        titles = [n["title"] for n in client.get("/v1/notifications").json()["notifications"]]
    assert "After" in titles
    assert len(deliveries(live_server.database_url, user)) == 1  # no email job for "After"


def test_no_email_to_the_senders_own_address(live_server, smtp, start_worker, caplog):
    """A loop guard: a user whose address is the sender's gets nothing, and the log says why."""
    user, _ = live_server.create_user(email_enabled=True, email="Alerts@Example.com")
    live_server.send(user, title="Would loop", severity="warning")
    with caplog.at_level(logging.WARNING, logger="traybell.worker.email"):
        start_worker(smtp_url=smtp.url, smtp_from="alerts@example.com")
        wait_until(lambda: deliveries(live_server.database_url, user)[0]["status"] == "failed")
    assert "mail loop guard" in caplog.text
    assert "loop guard" in deliveries(live_server.database_url, user)[0]["last_error"]
    assert smtp.mailbox.arrived == []
