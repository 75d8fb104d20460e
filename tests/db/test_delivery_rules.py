"""The delivery rules' functions (server/db/functions/delivery_rules.sql), asked directly: each
answers one question for the send, the claim and the admin's "why not?" alike."""

import json
from typing import Any

import pytest

from tests.support.db import db_value

ON = {"email_enabled": True, "push_enabled": True}
ADDRESSES = {"email": "a@example.com", "push_urls": ["json://push.example.com/hook"]}


def _ask(database_url: str, expression: str, prefs: dict[str, Any], *args: Any) -> Any:
    """`expression` over a preferences row made of the defaults and `prefs` ($1 = that row)."""
    columns = {
        "email_enabled": False,
        "push_enabled": False,
        "email": None,
        "push_urls": [],
        "quiet_hours": None,
        **prefs,
    }
    return db_value(
        database_url,
        f"SELECT {expression} FROM jsonb_populate_record(NULL::preferences, $1::jsonb) AS p",
        json.dumps(columns),
        *args,
    )


@pytest.mark.parametrize(
    ("channel", "severity", "prefs", "topic_choice", "reason"),
    [
        ("email", "warning", {**ON, **ADDRESSES}, None, None),
        ("email", "critical", {**ON, **ADDRESSES}, None, None),
        ("push", "warning", {**ON, **ADDRESSES}, None, None),
        # The switch first: what the user chose explains more than a missing address.
        ("email", "critical", {"email": "a@example.com"}, None, "preference_off"),
        ("push", "critical", {"push_urls": ADDRESSES["push_urls"]}, None, "preference_off"),
        ("email", "critical", ON, None, "no_address"),
        ("email", "critical", {**ON, "email": ""}, None, "no_address"),
        ("push", "critical", {**ON, "email": "a@example.com"}, None, "no_address"),
        ("email", "info", {**ON, **ADDRESSES}, None, "below_severity"),
        ("push", "success", {**ON, **ADDRESSES}, None, "below_severity"),
        # A topic's choice: false turns the channel off for it, true lifts the severity rule,
        # but neither turns on a channel that is off nor makes up an address.
        ("email", "critical", {**ON, **ADDRESSES}, False, "topic_muted"),
        ("email", "info", {**ON, **ADDRESSES}, True, None),
        ("email", "info", {"email": "a@example.com"}, True, "preference_off"),
        ("push", "info", ON, True, "no_address"),
    ],
)
def test_why_a_notification_is_not_queued_on_a_channel(
    database_url, channel, severity, prefs, topic_choice, reason
):
    """Send-time rule: a channel is queued when it is on, has an address and the severity is
    warning or critical (or the topic's choice says every severity); otherwise the reason."""
    assert (
        _ask(
            database_url,
            "external_skip_reason($2, $3, p, $4)",
            prefs,
            channel,
            severity,
            topic_choice,
        )
        == reason
    )


def test_who_can_receive_on_a_channel(database_url):
    """Claim-time rule: a job goes to the user's address for its channel now, or to nobody when
    the channel is off or has no address (the sender then fails it)."""
    recipients = "delivery_recipients($2, p)"
    assert _ask(database_url, recipients, {**ON, **ADDRESSES}, "email") == ["a@example.com"]
    assert _ask(database_url, recipients, {**ON, **ADDRESSES}, "push") == ADDRESSES["push_urls"]
    assert _ask(database_url, recipients, ADDRESSES, "email") == []
    assert _ask(database_url, recipients, ADDRESSES, "push") == []
    assert _ask(database_url, recipients, ON, "email") == []


def test_only_warning_and_critical_leave_the_server(database_url):
    """Severity rule: warning and critical may reach an external channel; info and success not."""
    external = {
        severity: db_value(database_url, "SELECT severity_is_external($1)", severity)
        for severity in ("info", "success", "warning", "critical")
    }
    assert external == {"info": False, "success": False, "warning": True, "critical": True}


def test_quiet_hours_may_hold_only_what_is_not_critical(database_url):
    """Claim-time rule: a job is judged against quiet hours only when the user has some and
    the job is not critical."""
    quiet = {"quiet_hours": {"start": "22:00", "end": "07:00", "timezone": "UTC"}}
    may_hold = "quiet_hours_may_hold($2, p)"
    assert _ask(database_url, may_hold, quiet, False) is True
    assert _ask(database_url, may_hold, quiet, True) is False
    assert _ask(database_url, may_hold, {}, False) is False


def test_the_digest_a_job_waits_in_is_the_reason_of_its_delay(database_url):
    """Delay reasons: a batch digest is `digested`, quiet hours' `quiet_hours`, the per-minute
    overflow `rate_folded`; a message of its own has none."""
    reasons = {
        group_key: db_value(database_url, "SELECT delivery_delay_reason($1)", group_key)
        for group_key in ("batch:deploys", "quiet", "overflow", None)
    }
    assert reasons == {
        "batch:deploys": "digested",
        "quiet": "quiet_hours",
        "overflow": "rate_folded",
        None: None,
    }
