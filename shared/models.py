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
