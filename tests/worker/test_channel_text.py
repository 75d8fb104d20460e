"""Text made safe for its channel: line breaks and control characters in a title or summary never
break a message or its digest, never write a header of their own; a message that cannot be
built fails at once with its reason."""

import uuid

import pytest

from server.channels import RenderError, render
from shared.privacy import ExternalText, external_text
from tests.support.live import create_users_directly
from tests.worker.support import deliveries, html_of, text_of, wait_until

INJECTION = "Disk full\r\nBcc: x@y"
CONTROLS = "line one\nline two\r\n\tthree\x07\x1b[31m\u2028four\x85five"


def test_title_and_summary_become_one_line_of_printable_text():
    """Channel text: every line break (CR, LF, U+2028, NEL), tab and control character in a
    title or summary is a single space; what is left is kept."""
    item = external_text(
        {"id": "1", "title": INJECTION, "summary": CONTROLS, "severity": "warning"},
        "http://127.0.0.1:8000",
    )
    assert item.title == "Disk full Bcc: x@y"
    assert item.summary == "line one line two three [31m four five"
    message = render([item])
    assert message.subject == "[Warning] Disk full Bcc: x@y"
    assert all(c >= " " for c in message.subject + message.html)


def test_a_header_injection_in_a_title_stays_inside_the_subject(live_server, smtp, start_worker):
    """No header injection: `\\r\\nBcc: x@y` in a title reaches the user as part of one Subject
    line; the email has no Bcc header and goes to the user alone."""
    user, _ = live_server.create_user(email_enabled=True, email="i@example.com")
    live_server.send(user, title=INJECTION, summary=CONTROLS, severity="warning")
    start_worker(smtp_url=smtp.url, retry_base_seconds=0)
    [message] = smtp.mailbox.wait_for(1)
    assert message["Subject"] == "[Warning] Disk full Bcc: x@y"
    assert message["Bcc"] is None and message["To"] == "i@example.com"
    assert "line one line two three [31m four five" in text_of(message)
    assert "line one line two three [31m four five" in html_of(message)
    [job] = wait_until(
        lambda: [j for j in deliveries(live_server.database_url, user) if j["status"] == "sent"]
    )
    assert job["attempts"] == 1


def test_line_breaks_in_titles_never_break_their_digest(live_server, smtp, start_worker):
    """Digest: titles with line breaks go out in the one digest, each on its own list line."""
    user, _ = live_server.create_user(email_enabled=True, email="g@example.com", digest_seconds=1)
    titles = ["Build 1\nfailed", "Build 2\r\nBcc: x@y", "Build 3"]
    for title in titles:
        live_server.send(user, title=title, severity="warning", batch_key="ci")
    start_worker(smtp_url=smtp.url, retry_base_seconds=0)
    [digest] = smtp.mailbox.wait_for(1)
    assert digest["Subject"].strip() == "3 new: Build 1 failed, Build 2 Bcc: x@y, Build 3"
    assert digest["Bcc"] is None
    lines = text_of(digest).splitlines()
    assert {"- Build 1 failed", "- Build 2 Bcc: x@y", "- Build 3"} <= set(lines)
    [job] = wait_until(
        lambda: [j for j in deliveries(live_server.database_url, user) if j["status"] == "sent"]
    )
    assert job["items"] == 3 and job["attempts"] == 1


def test_a_push_title_is_one_line(live_server, push, start_worker):
    """Push: the title a push target receives is the same one line."""
    user, _ = live_server.create_user(push_enabled=True, push_urls=[push.url()])
    live_server.send(user, title=INJECTION, severity="warning")
    start_worker()
    [post] = push.wait_for(1)
    assert post["title"] == "[Warning] Disk full Bcc: x@y"


def test_an_email_that_cannot_be_built_fails_at_once_with_its_reason(
    live_server, smtp, start_worker, database_url
):
    """Render error: a message the channel cannot build (here an address with a line separator
    in it, stored before addresses were checked) is a permanent failure, recorded with its
    reason on the first attempt and never retried."""
    user = "render-" + uuid.uuid4().hex[:8]
    create_users_directly(
        database_url,
        [user],
        preferences_of=lambda _: {"email_enabled": True, "email": "a\u2028b@example.com"},
    )
    live_server.send(user, title="cannot be built", severity="warning")
    start_worker(smtp_url=smtp.url, retry_base_seconds=0)
    [job] = wait_until(
        lambda: [j for j in deliveries(database_url, user) if j["status"] == "failed"]
    )
    assert job["attempts"] == 1
    assert job["last_error"].startswith("the email cannot be built")
    assert smtp.mailbox.arrived == []


def test_whatever_breaks_while_rendering_is_a_render_error():
    """Render error: any failure inside rendering (here a severity the digest cannot rank) is a
    RenderError, which the worker records as a permanent failure."""
    odd = ExternalText(title="t", summary=None, severity="unheard-of", link="/n/1")
    with pytest.raises(RenderError, match="cannot be rendered"):
        render([odd, odd])
