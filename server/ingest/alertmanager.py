"""Prometheus Alertmanager's webhook (and Grafana's webhook contact point, which sends the same
shape) as sends: one notification per alert for each recipient (contract, "Ingest")."""

import hashlib
import json
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field

from server.ingest import Integration, fitting
from server.service import Outgoing

#: Alerts in one payload at most (stored in one transaction, answered within a sender's
#: timeout): the receiver settings we hand out set Alertmanager's `max_alerts` to this.
MAX_ALERTS = 1_000

_CRITICAL = {"critical", "page", "error", "high"}
_WARNING = {"warning", "warn", "medium"}


class Alert(BaseModel):
    model_config = ConfigDict(extra="ignore")  # unknown fields are Alertmanager's business

    status: str = "firing"
    labels: dict[str, str] = Field(default_factory=dict)
    annotations: dict[str, str] = Field(default_factory=dict)
    startsAt: str = ""
    endsAt: str = ""
    generatorURL: str = ""
    fingerprint: str = ""


class Payload(BaseModel):
    """The webhook body, as far as a notification needs it."""

    model_config = ConfigDict(extra="ignore")

    version: str = "4"
    groupKey: str = ""
    status: str = "firing"
    alerts: Annotated[list[Alert], Field(max_length=MAX_ALERTS)]


def severity(alert: Alert) -> str:
    if alert.status == "resolved":
        return "success"
    level = alert.labels.get("severity", "").strip().lower()
    return "critical" if level in _CRITICAL else "warning" if level in _WARNING else "info"


def title(alert: Alert) -> str:
    notes, labels = alert.annotations, alert.labels
    text = (notes.get("summary") or notes.get("title") or labels.get("alertname") or "").strip()
    text = text or "Alert"
    return fitting.title(("Resolved: " if alert.status == "resolved" else "") + text, "Alert")


def body(alert: Alert) -> str:
    """The description, then one `name=value` line per label, sorted by name."""
    lines = [f"{name}={value}" for name, value in sorted(alert.labels.items())]
    description = alert.annotations.get("description", "").strip()
    return fitting.body("\n".join([description, *lines] if description else lines))


def fingerprint(alert: Alert) -> str:
    """Alertmanager's own, else one made from the labels (which is what it hashes too)."""
    if alert.fingerprint:
        return alert.fingerprint
    labels = json.dumps(sorted(alert.labels.items()), ensure_ascii=False)
    return hashlib.sha256(labels.encode("utf-8", "replace")).hexdigest()[:16]


def outgoings(payload: Payload, integration: Integration) -> list[Outgoing]:
    """One send per alert, each to the integration's audience. The idempotency key names the
    alert, its start and its status, so Alertmanager's resends (every `repeat_interval`, and its
    retries) store nothing twice, while a new firing after a resolve is new; the batch key is
    the group, so a storm in one group is one digest per channel."""
    batch_key = fitting.key("am:" + payload.groupKey)
    return [
        Outgoing(
            recipients=None,
            event_name=fitting.event_name("alertmanager.", alert.labels.get("alertname", "")),
            title=title(alert),
            summary=fitting.summary(alert.annotations.get("description", "")),
            body=body(alert),
            target_url=fitting.target_url(alert.generatorURL),
            severity=severity(alert),
            data=_data(alert),
            resource_id=None,
            idempotency_key=fitting.key(f"am:{fingerprint(alert)}:{alert.startsAt}:{alert.status}"),
            batch_key=batch_key,
            to=integration.to,
            topic=integration.topic,
        )
        for alert in payload.alerts
    ]


def _data(alert: Alert) -> dict[str, Any]:
    return fitting.data(
        {
            "fingerprint": fingerprint(alert),
            "status": alert.status,
            "starts_at": alert.startsAt,
            "ends_at": alert.endsAt,
            "labels": alert.labels,
            "annotations": alert.annotations,
        }
    )
