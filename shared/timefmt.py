"""Times as people read them, the same in the tray and on the web pages, in the current
language (shared/i18n.py)."""

from datetime import UTC, date, datetime

from shared.i18n import babel_locale, current_language, gettext, ngettext


def _parsed(moment: str | datetime) -> datetime:
    return datetime.fromisoformat(moment) if isinstance(moment, str) else moment


def _cldr(moment: date | datetime, pattern: str) -> str:
    """A date in CLDR's names and order for a language other than English. English needs no
    CLDR lookup (strftime's names are English), so an English tray never loads Babel's data."""
    from babel.dates import format_date, format_datetime

    if isinstance(moment, datetime):
        return format_datetime(moment, pattern, tzinfo=moment.tzinfo, locale=babel_locale())
    return format_date(moment, pattern, locale=babel_locale())


def relative_time(moment: str | datetime, now: datetime | None = None) -> str:
    """'just now', '5 min ago', '3 h ago', 'yesterday', '4 days ago', else the date."""
    when = _parsed(moment)
    seconds = ((now or datetime.now(UTC)) - when).total_seconds()
    if seconds < 60:
        return gettext("just now")
    if seconds < 3600:
        minutes = int(seconds // 60)
        return ngettext("%(num)s min ago", "%(num)s min ago", minutes)
    if seconds < 86_400:
        hours = int(seconds // 3600)
        return ngettext("%(num)s h ago", "%(num)s h ago", hours)
    if seconds < 2 * 86_400:
        return gettext("yesterday")
    if seconds < 7 * 86_400:
        days = int(seconds // 86_400)
        return ngettext("%(num)s day ago", "%(num)s days ago", days)
    day = when.astimezone().date()
    return f"{day:%d %b %Y}" if current_language() == "en" else _cldr(day, "d MMM y")


def exact_time(moment: str | datetime) -> str:
    """The moment in local time, to the minute: 'Wed 2 Dec 2026, 14:05'."""
    local = _parsed(moment).astimezone()
    if current_language() == "en":
        return f"{local:%a} {local.day} {local:%b %Y, %H:%M}"
    return _cldr(local, "EEE d MMM y, HH:mm")


def day_label(moment: str | datetime, now: datetime | None = None) -> str:
    """The local day a moment falls on, as a list heading: 'Today', 'Yesterday', 'Monday 30
    November', or with the year when it is not this year's."""
    day = _parsed(moment).astimezone().date()
    today = (now or datetime.now(UTC)).astimezone().date()
    if day == today:
        return gettext("Today")
    if (today - day).days == 1:
        return gettext("Yesterday")
    if current_language() == "en":
        label = f"{day:%A} {day.day} {day:%B}"
        return label if day.year == today.year else f"{label} {day.year}"
    return _cldr(day, "EEEE d MMMM" if day.year == today.year else "EEEE d MMMM y")
