"""Gotify's `POST /message` as a send: what Uptime Kuma, the *arr apps, Watchtower, Apprise and
other Gotify clients post (contract, "Ingest")."""

from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict

from server.api.schemas import json_integer
from server.ingest import Integration, fitting
from server.service import Outgoing

DEFAULT_PRIORITY = 5
#: What Gotify takes as form fields: `extras` is an object, which only JSON carries.
FORM_FIELDS = ("message", "title", "priority")


def form_fields(pairs: list[tuple[str, str]]) -> dict[str, str]:
    """A form's fields as the message's: an optional one left empty (or `null`) is absent."""
    return {
        name: value
        for name, value in pairs
        if name in FORM_FIELDS and (name == "message" or value not in ("", "null"))
    }


def _whole_number(value: Any) -> Any:
    """A form field's priority comes as text: "8" is 8 there."""
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value)
    return json_integer(value)


class Message(BaseModel):
    model_config = ConfigDict(extra="ignore")

    message: str
    title: str | None = None
    priority: Annotated[int, BeforeValidator(_whole_number)] | None = None
    extras: dict[str, Any] | None = None


def severity(priority: int) -> str:
    return "critical" if priority >= 8 else "warning" if priority >= 4 else "info"


def click_url(extras: dict[str, Any] | None) -> str | None:
    """`extras["client::notification"]["click"]["url"]`, Gotify's link to open."""
    found: Any = extras or {}
    for name in ("client::notification", "click", "url"):
        found = found.get(name) if isinstance(found, dict) else None
    return found if isinstance(found, str) else None


def outgoing(message: Message, integration: Integration, idempotency_key: str | None) -> Outgoing:
    priority = DEFAULT_PRIORITY if message.priority is None else message.priority
    return Outgoing(
        recipients=None,
        event_name="gotify.message",
        title=fitting.title(message.title or "", integration.name),
        summary=fitting.summary(message.message),
        body=fitting.body(message.message),
        target_url=fitting.target_url(click_url(message.extras)),
        severity=severity(priority),
        data=fitting.data({"priority": priority, "extras": message.extras or {}}),
        resource_id=None,
        idempotency_key=fitting.key(idempotency_key) if idempotency_key else None,
        batch_key=None,
        to=integration.to,
        topic=integration.topic,
    )
