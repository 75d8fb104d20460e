"""Quiet hours: `{"start": "22:00", "end": "07:00", "timezone": "Europe/Berlin"}`, in zoneinfo.

The one rule for both halves: the worker holds external deliveries while they last, the tray
shows no toasts.
"""

import logging
from collections.abc import Mapping
from datetime import UTC, datetime, time, timedelta
from typing import Any

log = logging.getLogger("traybell.quiet_hours")


def quiet_until(quiet_hours: Mapping[str, Any] | None, now: datetime) -> datetime | None:
    """When the quiet hours holding `now` end (UTC), or None when `now` is outside them.

    A start later than the end spans midnight; equal start and end mean no quiet hours. The end
    is a wall-clock time in the user's zone, so it stays right across daylight-saving changes.
    A setting this machine cannot read (say, a zone its tz database lacks) means no quiet
    hours: a guessed zone would hold or hide at the wrong hours, and the API validates the
    setting, so this is noticed in the log rather than acted on.
    """
    if not quiet_hours:
        return None
    # Here, not at import: zoneinfo reads the interpreter's build configuration to find the tz
    # database (about 20 ms), and a tray without quiet hours never needs it.
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        zone = ZoneInfo(quiet_hours["timezone"])
        start = time.fromisoformat(quiet_hours["start"])
        end = time.fromisoformat(quiet_hours["end"])
    except (KeyError, TypeError, ValueError, ZoneInfoNotFoundError):
        log.warning("ignoring quiet hours that cannot be read: %r", quiet_hours)
        return None
    local = now.astimezone(zone)
    clock = local.time().replace(tzinfo=None)
    if start == end:
        return None
    inside = start <= clock < end if start < end else (clock >= start or clock < end)
    if not inside:
        return None
    until = datetime.combine(local.date(), end, tzinfo=zone)
    if until <= local:
        until = datetime.combine(local.date() + timedelta(days=1), end, tzinfo=zone)
    return until.astimezone(UTC)


def in_quiet_hours(quiet_hours: Mapping[str, Any] | None, now: datetime) -> bool:
    """Whether `now` falls in the user's quiet hours, read in their own timezone."""
    return quiet_until(quiet_hours, now) is not None
