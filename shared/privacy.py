"""What of a notification may leave the server: title, summary, severity and a link.

Emails, pushes and toasts are read on lock screens, in forwarded mail and in provider logs, so
`body` and `data` never go there. Every external text is built here and nowhere else, and each
is one line of printable text: a title becomes a Subject header, a push title, a toast title or
a digest's list entry, where a line break would end the field or write another one.
"""

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

TITLE_LIMIT = 80

#: Line breaks (including U+2028/U+2029 and NEL), tabs and every other control character.
_BREAKS = re.compile(r"[\s\x00-\x1f\x7f-\x9f]+")


@dataclass(frozen=True)
class ExternalText:
    """The privacy-safe face of one notification."""

    title: str
    summary: str | None
    severity: str
    link: str


def one_line(text: str) -> str:
    """`text` as one line: each run of line breaks, control characters and spaces is a space."""
    return _BREAKS.sub(" ", text).strip()


def shorten(text: str, limit: int = TITLE_LIMIT) -> str:
    """Cut to `limit` characters, marking the cut with an ellipsis."""
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def notification_link(public_url: str, notification_id: str) -> str:
    """The authenticated link to a notification: `TRAYBELL_PUBLIC_URL/n/<id>`."""
    return f"{public_url.rstrip('/')}/n/{notification_id}"


def external_text(notification: Mapping[str, Any], public_url: str) -> ExternalText:
    """Reduce a notification to what may be shown outside the app."""
    return ExternalText(
        title=shorten(one_line(notification["title"])),
        summary=one_line(notification.get("summary") or "") or None,
        severity=notification["severity"],
        link=notification_link(public_url, str(notification["id"])),
    )
