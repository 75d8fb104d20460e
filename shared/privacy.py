"""What of a notification may leave the server: title, summary, severity and a link.

Emails, pushes and toasts are read on lock screens, in forwarded mail and in provider logs, so
`body` and `data` never go there. Every external text is built here and nowhere else.
"""

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

TITLE_LIMIT = 80


@dataclass(frozen=True)
class ExternalText:
    """The privacy-safe face of one notification."""

    title: str
    summary: str | None
    severity: str
    link: str


def shorten(text: str, limit: int = TITLE_LIMIT) -> str:
    """Cut to `limit` characters, marking the cut with an ellipsis."""
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def notification_link(public_url: str, notification_id: str) -> str:
    """The authenticated link to a notification: `TRAYBELL_PUBLIC_URL/n/<id>`."""
    return f"{public_url.rstrip('/')}/n/{notification_id}"


def external_text(notification: Mapping[str, Any], public_url: str) -> ExternalText:
    """Reduce a notification to what may be shown outside the app."""
    return ExternalText(
        title=shorten(notification["title"]),
        summary=notification.get("summary") or None,
        severity=notification["severity"],
        link=notification_link(public_url, str(notification["id"])),
    )
