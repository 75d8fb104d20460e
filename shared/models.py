"""The wire vocabulary both halves agree on: every object the API sends that the tray reads,
typed once. The server builds them (server/wire.py), the API's document describes them
(server/api/schemas.py uses these classes as they are), the tray reads and caches them.

Objects that travel as JSON and are kept as dicts (a notification, a sync page) are TypedDicts;
a value the code reads by attribute (a device sign-in's codes) is a dataclass. TypedDict comes
from typing_extensions because pydantic reads only that one before Python 3.12.
"""

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from typing_extensions import TypedDict


class Severity(StrEnum):
    INFO = "info"
    SUCCESS = "success"
    WARNING = "warning"
    CRITICAL = "critical"


#: The kinds of address a send's `to` takes, written `kind:name` (`team:payments`).
ADDRESS_KINDS = ("user", "team", "topic")


def is_address(value: str) -> bool:
    """`team:payments`, `topic:deploys`, `user:bob`: an audience address, not a user id."""
    kind, colon, _ = value.partition(":")
    return bool(colon) and kind in ADDRESS_KINDS


def as_audience(recipients: list[str]) -> list[str] | None:
    """Recipients typed by a person (the command line, the console): with any address among
    them, all of them as addresses (a plain user id as `user:<id>`); else None (user ids)."""
    if not any(is_address(value) for value in recipients):
        return None
    return [value if is_address(value) else f"user:{value}" for value in recipients]


def audience_label(audience: str | None) -> str | None:
    """What "to ..." shows for the address a notification reached its user through: the team
    or topic (`team:payments` -> "payments"); None for the user's own address or none."""
    if audience is None:
        return None
    kind, _, name = audience.partition(":")
    return name if kind in ("team", "topic") else None


class Notification(TypedDict):
    """A notification as the API returns it."""

    # A field added here is in the API's replies, its document and the event stream at once:
    # the server copies every field from the stored row by name (server/wire.py), so the
    # queries must select a column of that name. The tray caches it once a step of its cache
    # migrations (desktop/sync/_cache.py) adds the column.
    id: str
    user_id: str
    event_name: str
    title: str
    summary: str | None
    body: str
    target_url: str | None
    severity: Severity
    data: dict[str, Any]
    batch_key: str | None
    topic: str | None
    audience: str | None  # the address of `to` that reached this user
    read_at: str | None
    archived_at: str | None
    created_at: str
    snoozed_until: str | None  # read until then; unread again at that time


#: The fields of a notification object, in order.
NOTIFICATION_FIELDS: tuple[str, ...] = tuple(Notification.__annotations__)


class EventPage(TypedDict):
    """One `event: sync` of GET /v1/events: the changes after the client's cursor."""

    changes: list[Notification]
    cursor: str
    unread: int


class SyncPage(EventPage):
    """A page of GET /v1/sync: an event's page, and whether another one follows at once."""

    has_more: bool


@dataclass(frozen=True)
class DeviceAuthorization:
    """The answer to POST /v1/device/authorize (RFC 8628, section 3.2)."""

    device_code: str
    user_code: str  # as people read it: XXXX-XXXX
    verification_uri: str
    verification_uri_complete: str
    expires_in: int
    interval: int


@dataclass(frozen=True)
class DeviceGrant:
    """The answer to POST /v1/device/token once the person approved: the device's token."""

    token: str
    token_id: str
    user_id: str
