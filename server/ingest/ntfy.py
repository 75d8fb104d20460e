"""ntfy's publish as a send: the JSON form (`POST /`, what Apprise, Uptime Kuma and most ntfy
clients send) and the plain one (`PUT`/`POST /<topic>`, the message as the body, the rest in
headers). The headers apply to the JSON form too where its body leaves a field out (Apprise
sends `X-Priority` beside a JSON body). The topic is a Traybell topic (contract, "Ingest")."""

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict

from server.ingest import Integration, fitting
from server.service import Outgoing

_CRITICAL = {"5", "max", "urgent"}
_WARNING = {"4", "high"}

#: Each field's headers, in ntfy's order of precedence.
_HEADERS = {
    "title": ("x-title", "title", "ti", "t"),
    "priority": ("x-priority", "priority", "prio", "p"),
    "tags": ("x-tags", "tags", "tag", "ta"),
    "click": ("x-click", "click"),
}


def _text(value: Any) -> Any:
    """ntfy takes a priority as a number or a word; either is kept as text."""
    return str(value) if isinstance(value, int) and not isinstance(value, bool) else value


def _tags(value: Any) -> Any:
    return [t.strip() for t in value.split(",") if t.strip()] if isinstance(value, str) else value


class Publish(BaseModel):
    """The JSON form's body."""

    model_config = ConfigDict(extra="ignore")

    topic: str
    title: str | None = None
    message: str | None = None
    priority: Annotated[str, BeforeValidator(_text)] | None = None
    tags: Annotated[list[str], BeforeValidator(_tags)] | None = None
    click: str | None = None


@dataclass(frozen=True)
class Fields:
    """What the headers say, for the fields the body leaves out."""

    title: str | None = None
    priority: str | None = None
    tags: list[str] | None = None
    click: str | None = None

    @classmethod
    def of_headers(cls, headers: Mapping[str, str]) -> "Fields":
        def first(field: str) -> str | None:
            return next((headers[h] for h in _HEADERS[field] if headers.get(h)), None)

        tags = first("tags")
        return cls(first("title"), first("priority"), _tags(tags) if tags else None, first("click"))


def severity(priority: str | None) -> str:
    level = (priority or "").strip().lower()
    return "critical" if level in _CRITICAL else "warning" if level in _WARNING else "info"


def publish(topic: str, message: str, headers: Fields) -> Publish:
    """The plain form: the topic from the path, the message as the body."""
    return Publish(
        topic=topic,
        message=message,
        title=headers.title,
        priority=headers.priority,
        tags=headers.tags,
        click=headers.click,
    )


def outgoing(
    published: Publish, headers: Fields, integration: Integration, idempotency_key: str | None
) -> Outgoing:
    """To the subscribers of the topic of the same name and to the integration's audience."""
    message = published.message or ""
    priority = published.priority if published.priority is not None else headers.priority
    tags = published.tags if published.tags is not None else headers.tags
    return Outgoing(
        recipients=None,
        event_name="ntfy.message",
        title=fitting.title(published.title or headers.title or "", published.topic),
        summary=fitting.summary(message),
        body=fitting.body(message),
        target_url=fitting.target_url(published.click or headers.click),
        severity=severity(priority),
        data=fitting.data({"priority": priority, "tags": tags or []}),
        resource_id=None,
        idempotency_key=fitting.key(idempotency_key) if idempotency_key else None,
        batch_key=None,
        to=list(dict.fromkeys([*integration.to, f"topic:{published.topic}"])),
        topic=published.topic,
    )
