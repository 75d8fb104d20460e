"""What the tray and the center say about the client's state, in words."""

from dataclasses import dataclass
from datetime import datetime

from shared.i18n import gettext as _
from shared.i18n import ngettext


@dataclass(frozen=True)
class Status:
    #: None until the first sync of this run has finished.
    online: bool | None
    signed_out: bool
    unread: int
    #: Local changes (read marks, archives) still waiting for the server.
    pending: int
    last_sync: datetime | None
    offline_since: datetime | None
    paused_until: datetime | None

    @property
    def icon_state(self) -> str:
        if self.signed_out:
            return "signedout"
        if self.online is False:
            return "offline"
        if self.paused_until is not None:
            return "paused"
        return "normal"

    def headline(self) -> str:
        """One line for the center's header and the tooltip's second line."""
        if self.signed_out:
            return _("Signed out: choose Sign in… in the tray menu")
        if self.online is None:
            return _("Connecting…")
        if self.online is False:
            offline = (
                _("Offline since %(time)s", time=_clock(self.offline_since))
                if self.offline_since
                else _("Offline")
            )
            headline = _("%(offline)s: showing saved notifications", offline=offline)
            if self.pending:
                waiting = ngettext(
                    "%(num)s change waiting", "%(num)s changes waiting", self.pending
                )
                headline = f"{headline}, {waiting}"
            return headline
        online = (
            _("Online, synced %(time)s", time=_clock(self.last_sync))
            if self.last_sync
            else _("Online")
        )
        if self.paused_until is not None:
            paused = _("notifications paused until %(time)s", time=_clock(self.paused_until))
            return f"{online}; {paused}"
        return online

    def tooltip(self) -> str:
        count = (
            ngettext("%(num)s unread", "%(num)s unread", self.unread)
            if self.unread
            else _("No unread notifications")
        )
        return f"Traybell: {count}\n{self.headline()}"


def _clock(moment: datetime | None) -> str:
    return moment.astimezone().strftime("%H:%M") if moment else ""
