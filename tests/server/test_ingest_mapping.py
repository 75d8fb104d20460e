"""The pure mappings of server/ingest/: each kind's payload to the send's input, field by field
(contract, "Ingest"); the live endpoints are in test_ingest.py."""

import pytest

from server.ingest import Integration, alertmanager, fitting, gotify, ntfy

SOURCE = Integration("00000000-0000-0000-0000-000000000001", "Kuma", "ntfy", ["team:ops"], None)


@pytest.mark.parametrize(
    "level, status, severity",
    [
        ("critical", "firing", "critical"),
        ("page", "firing", "critical"),
        ("Error", "firing", "critical"),
        ("high", "firing", "critical"),
        ("warning", "firing", "warning"),
        ("warn", "firing", "warning"),
        ("medium", "firing", "warning"),
        ("low", "firing", "info"),
        ("", "firing", "info"),
        ("critical", "resolved", "success"),
    ],
)
def test_alertmanager_severity_follows_the_severity_label(level, status, severity):
    """Alertmanager severity map: critical/page/error/high, warning/warn/medium, else info;
    a resolved alert is success whatever its label."""
    alert = alertmanager.Alert(status=status, labels={"severity": level} if level else {})
    assert alertmanager.severity(alert) == severity


def test_alertmanager_title_prefers_summary_then_title_then_alertname():
    """Alertmanager title: annotations.summary, else annotations.title, else the alert name,
    with `Resolved: ` for a resolved alert."""
    labels = {"alertname": "Down"}
    assert alertmanager.title(alertmanager.Alert(labels=labels)) == "Down"
    with_title = alertmanager.Alert(labels=labels, annotations={"title": "T"})
    assert alertmanager.title(with_title) == "T"
    both = alertmanager.Alert(labels=labels, annotations={"title": "T", "summary": "S"})
    assert alertmanager.title(both) == "S"
    resolved = alertmanager.Alert(status="resolved", labels=labels)
    assert alertmanager.title(resolved) == "Resolved: Down"


@pytest.mark.parametrize(
    "priority, severity",
    [(0, "info"), (3, "info"), (4, "warning"), (7, "warning"), (8, "critical")],
)
def test_gotify_priority_gives_the_severity(priority, severity):
    """Gotify severity: priority 8 and above critical, 4-7 warning, 0-3 info."""
    assert gotify.severity(priority) == severity


@pytest.mark.parametrize(
    "priority, severity",
    [
        ("5", "critical"),
        ("max", "critical"),
        ("urgent", "critical"),
        ("4", "warning"),
        ("high", "warning"),
        ("3", "info"),
        ("default", "info"),
        (None, "info"),
    ],
)
def test_ntfy_priority_gives_the_severity(priority, severity):
    """ntfy severity: 5/max/urgent critical, 4/high warning, anything else info."""
    assert ntfy.severity(priority) == severity


def test_ntfy_headers_fill_only_what_the_json_body_leaves_out():
    """ntfy: Title/X-Title/t, Priority/X-Priority/p, Tags/X-Tags, Click/X-Click apply to the
    JSON form too, where its body leaves the field out; the topic's followers and the
    integration's audience are the recipients."""
    headers = ntfy.Fields.of_headers(
        {"x-priority": "max", "t": "From header", "x-click": "https://x.test/h", "tags": "a,b"}
    )
    body = ntfy.Publish(topic="backups", message="done\nin 3 h", title="From body", priority=4)
    sent = ntfy.outgoing(body, headers, SOURCE, None)
    assert (sent.title, sent.severity, sent.target_url) == (
        "From body",
        "warning",
        "https://x.test/h",
    )
    assert sent.summary == "done" and sent.data["tags"] == ["a", "b"]
    assert sent.to == ["team:ops", "topic:backups"] and sent.topic == "backups"


def test_text_is_cut_to_fit_and_keys_stay_apart():
    """Fitting: over-long text is cut with `…`, NUL characters dropped, a link kept only when
    http(s), and two long keys that share their start stay distinct."""
    assert fitting.title("x" * 300, "f") == "x" * 199 + "…"
    assert fitting.title("  ", "fallback") == "fallback"
    assert fitting.body("a\x00b") == "ab"
    assert fitting.target_url("javascript:alert(1)") is None
    assert fitting.target_url("/relative") is None
    long_a, long_b = fitting.key("k" * 300 + "a"), fitting.key("k" * 300 + "b")
    assert len(long_a) == len(long_b) == 200 and long_a != long_b
    assert fitting.data({"v": float("nan"), "s": "a\x00"}) == {"v": None, "s": "a"}
