"""Times as people read them, the same in the tray and on the web pages."""

from datetime import UTC, datetime


def relative_time(moment: str | datetime, now: datetime | None = None) -> str:
    """'just now', '5 min ago', '3 h ago', 'yesterday', '4 days ago', else the date."""
    when = datetime.fromisoformat(moment) if isinstance(moment, str) else moment
    seconds = ((now or datetime.now(UTC)) - when).total_seconds()
    if seconds < 60:
        return "just now"
    if seconds < 3600:
        return f"{int(seconds // 60)} min ago"
    if seconds < 86_400:
        return f"{int(seconds // 3600)} h ago"
    if seconds < 2 * 86_400:
        return "yesterday"
    if seconds < 7 * 86_400:
        return f"{int(seconds // 86_400)} days ago"
    return when.astimezone().strftime("%d %b %Y")


def exact_time(moment: str | datetime) -> str:
    """The moment in local time, to the minute: 'Wed 2 Dec 2026, 14:05'."""
    when = datetime.fromisoformat(moment) if isinstance(moment, str) else moment
    local = when.astimezone()
    return f"{local:%a} {local.day} {local:%b %Y, %H:%M}"


def day_label(moment: str | datetime, now: datetime | None = None) -> str:
    """The local day a moment falls on, as a list heading: 'Today', 'Yesterday', 'Monday 30
    November', or with the year when it is not this year's."""
    when = datetime.fromisoformat(moment) if isinstance(moment, str) else moment
    day = when.astimezone().date()
    today = (now or datetime.now(UTC)).astimezone().date()
    if day == today:
        return "Today"
    if (today - day).days == 1:
        return "Yesterday"
    label = f"{day:%A} {day.day} {day:%B}"
    return label if day.year == today.year else f"{label} {day.year}"
