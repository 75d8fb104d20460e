"""What a job becomes on the wire, and the retry schedule (no database needed)."""

import random

from server.channels import Envelope, render
from server.channels.email import EmailTransport
from server.worker.queue import MAX_RETRY_SECONDS, retry_delay
from shared.privacy import ExternalText


def _item(n: int, title: str | None = None, severity: str = "warning") -> ExternalText:
    return ExternalText(
        title=title or f"Title {n}",
        summary=f"Summary {n}",
        severity=severity,
        link=f"http://127.0.0.1:8000/n/{n}",
    )


def test_a_digest_of_one_is_a_plain_message():
    """Digest of one: rendered exactly like a single notification, summary included."""
    message = render([_item(1)])
    assert message.subject == "[Warning] Title 1"
    assert message.text == (
        "Title 1\nSummary 1\n\nSeverity: Warning\nOpen: http://127.0.0.1:8000/n/1\n"
    )


def test_a_digest_lists_titles_only_with_the_highest_severity():
    """Digest: "N new: title1, title2, ..." with titles and links, never summaries."""
    message = render([_item(1), _item(2, severity="critical"), _item(3)])
    assert message.text.startswith("3 new: Title 1, Title 2, Title 3\n")
    assert message.subject == "3 new: Title 1, Title 2, Title 3"
    assert "Summary" not in message.text + message.html
    assert all(f"/n/{n}" in message.html for n in (1, 2, 3))
    assert message.severity == "critical"


def test_a_digest_of_what_quiet_hours_held_says_so():
    """Quiet hours ending: their digest reads "While quiet hours were on: N notifications" and
    lists every title with its link."""
    message = render([_item(1), _item(2), _item(3)], held_by_quiet_hours=True)
    assert message.subject == "While quiet hours were on: 3 notifications"
    assert message.text.startswith("While quiet hours were on: 3 notifications\n")
    assert all(f"Title {n}" in message.text and f"/n/{n}" in message.html for n in (1, 2, 3))
    assert "While quiet hours were on: 3 notifications" in message.html


def test_html_is_escaped():
    """Titles are text, not markup, in the HTML part."""
    message = render([_item(1, title='<script>alert("x")</script>')])
    assert "<script>" not in message.html and "&lt;script&gt;" in message.html


def test_message_id_is_derived_from_the_job_and_stable():
    """Message-ID: the same job gives the same Message-ID on every attempt."""
    transport = EmailTransport("smtp://127.0.0.1:2525", "alerts@example.com")
    envelope = Envelope("1234", ("a@example.com",), render([_item(1)]))
    first, second = transport.build(envelope), transport.build(envelope)
    assert first["Message-ID"] == second["Message-ID"] == "<delivery.1234@example.com>"


def test_retry_delay_doubles_with_at_most_20_percent_jitter_under_a_30_minute_cap():
    """Retry: min(30 min, base x 2^attempts), shortened by at most 20 %, never above the cap."""
    rng = random.Random(7)
    for attempts in range(1, 20):
        full = min(MAX_RETRY_SECONDS, 60 * 2**attempts)
        for _ in range(50):
            assert 0.8 * full <= retry_delay(attempts, 60, rng) <= full
    assert retry_delay(3, 0) == 0
