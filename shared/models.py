"""The wire vocabulary both halves agree on."""

from enum import StrEnum


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
    "topic",
    "audience",
    "read_at",
    "archived_at",
    "created_at",
)
