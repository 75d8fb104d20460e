"""The two snoozes people are offered, for the web page and the tray alike: "Snooze 1 hour"
and "Snooze until tomorrow 09:00" (09:00 tomorrow in the person's own time zone)."""

from datetime import datetime, time, timedelta, tzinfo

from shared.i18n import gettext


def snooze_labels() -> dict[str, str]:
    """The choices, by the name forms, menus and toast actions use, with what people read in
    the current language."""
    return {
        "hour": gettext("Snooze 1 hour"),
        "tomorrow": gettext("Snooze until tomorrow 09:00"),
    }


#: The choices with their English labels, as made at import: for checking a choice's name;
#: what is shown comes from `snooze_labels()`, in the language of the moment.
SNOOZE_LABELS = snooze_labels()
TOMORROW_AT = time(9, 0)


def snooze_until(choice: str, now: datetime, zone: tzinfo) -> datetime:
    """When a snooze chosen at `now` (aware) ends; KeyError for an unknown choice. Tomorrow
    09:00 is a wall-clock time in `zone`, so it stays 09:00 across a daylight-saving change."""
    if choice == "hour":
        return now + timedelta(hours=1)
    if choice == "tomorrow":
        tomorrow = now.astimezone(zone).date() + timedelta(days=1)
        return datetime.combine(tomorrow, TOMORROW_AT, tzinfo=zone)
    raise KeyError(choice)
