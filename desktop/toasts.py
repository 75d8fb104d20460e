"""Which toasts a sync deserves. Pure rules, no Qt, no OS calls.

A toast is read on lock screens and by whoever stands behind the user, so it carries only
what `shared.privacy` allows out: the title (cut to 80 characters) and the summary.
"""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from shared.i18n import gettext as _
from shared.i18n import ngettext
from shared.privacy import external_text
from shared.quiet_hours import in_quiet_hours

#: More new notifications than this in one sync become one summary toast.
SUMMARY_THRESHOLD = 3


@dataclass(frozen=True)
class Toast:
    title: str
    message: str
    severity: str = "info"
    #: The notification a click opens; None for a summary toast, whose click opens the center.
    notification_id: str | None = None


def plan_toasts(
    new: Sequence[Mapping[str, Any]],
    *,
    now: datetime,
    public_url: str,
    paused: bool = False,
    quiet_hours: Mapping[str, Any] | None = None,
) -> list[Toast]:
    """The toasts to show for `new` (notifications first seen now and still unread)."""
    if not new or paused or in_quiet_hours(quiet_hours, now):
        return []
    if len(new) > SUMMARY_THRESHOLD:
        worst = "critical" if any(n.get("severity") == "critical" for n in new) else "info"
        title = ngettext("%(num)s new notification", "%(num)s new notifications", len(new))
        return [Toast(title, _("Open Traybell to read them"), worst)]
    toasts = []
    for notification in new:
        text = external_text(notification, public_url)
        toasts.append(Toast(text.title, text.summary or "", text.severity, str(notification["id"])))
    return toasts
