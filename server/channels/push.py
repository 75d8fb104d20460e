"""Push through Apprise: each of the user's push URLs (ntfy, Gotify, Slack, json://, ...)."""

import logging
from urllib.parse import urlsplit

import apprise

from server.channels.message import Outgoing, PermanentError, TransientError

log = logging.getLogger("traybell.worker.push")

NOTIFY_TYPES = {
    "info": apprise.NotifyType.INFO,
    "success": apprise.NotifyType.SUCCESS,
    "warning": apprise.NotifyType.WARNING,
    "critical": apprise.NotifyType.FAILURE,
}


def _scheme(url: str) -> str:
    # Push URLs embed tokens and passwords: only the scheme ever reaches a log or last_error.
    return urlsplit(url).scheme or "?"


class PushTransport:
    async def send(self, outgoing: Outgoing) -> None:
        targets = apprise.Apprise()
        rejected = [url for url in outgoing.recipients if not targets.add(url)]
        if rejected:
            log.warning(
                "delivery %s: Apprise does not understand %d push URL(s) (%s)",
                outgoing.delivery_id,
                len(rejected),
                ", ".join(_scheme(url) + "://" for url in rejected),
            )
        if len(targets) == 0:
            raise PermanentError("none of the user's push URLs is understood by Apprise")
        message = outgoing.message
        ok = await targets.async_notify(
            title=message.subject,
            body=message.text,
            body_format=apprise.NotifyFormat.TEXT,
            notify_type=NOTIFY_TYPES.get(message.severity, apprise.NotifyType.INFO),
        )
        # Apprise says only "not every target took it"; the retry sends to all of them again,
        # so a target that took it may see it twice, which beats one that never does.
        if not ok:
            raise TransientError("Apprise could not deliver to every push URL")
