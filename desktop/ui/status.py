"""What the tray and the center say about the client's state, in words."""

from dataclasses import dataclass
from datetime import datetime


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
            return "Signed out: choose Sign in… in the tray menu"
        if self.online is None:
            return "Connecting…"
        if self.online is False:
            since = f" since {_clock(self.offline_since)}" if self.offline_since else ""
            waiting = f", {self.pending} change(s) waiting" if self.pending else ""
            return f"Offline{since}: showing saved notifications{waiting}"
        synced = f"synced {_clock(self.last_sync)}" if self.last_sync else "online"
        if self.paused_until is not None:
            return f"Online, {synced}; notifications paused until {_clock(self.paused_until)}"
        return f"Online, {synced}"

    def tooltip(self) -> str:
        count = "No unread notifications" if not self.unread else f"{self.unread} unread"
        return f"Traybell: {count}\n{self.headline()}"


def _clock(moment: datetime | None) -> str:
    return moment.astimezone().strftime("%H:%M") if moment else ""
