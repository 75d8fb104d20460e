"""The wire vocabulary both halves agree on."""

from enum import StrEnum


class Severity(StrEnum):
    INFO = "info"
    SUCCESS = "success"
    WARNING = "warning"
    CRITICAL = "critical"


#: Fields of a notification object as the API returns it, in order.
NOTIFICATION_FIELDS = (
    "id",
    "user_id",
    "event_name",
    "title",
    "summary",
    "body",
    "target_url",
    "severity",
    "data",
    "batch_key",
    "read_at",
    "archived_at",
    "created_at",
)
