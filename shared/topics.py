"""The preference center's list, as the settings page and the tray's settings show it: which
topics a person sees, and whether they may join or leave each. Pure: both halves call it with
what they read (the server from its database, the tray from the API and its cache)."""

from collections.abc import Iterable, Mapping
from typing import Any

#: Channels a user may override per topic, as the preference center names them.
TOPIC_CHANNELS = ("in_app", "email", "push")


def preference_center(
    declared: Iterable[Mapping[str, Any]],
    received: Iterable[str],
    overrides: Mapping[str, Mapping[str, bool | None]],
) -> list[dict[str, Any]]:
    """By name: the declared topics (`GET /v1/topics` objects) the person follows or may
    join, the topics they received and those they set overrides for, each with `overrides`
    per channel (null: as the channel's own setting), `declared`, and whether they can `join`
    it (open, not followed) or `leave` it (open, followed on their own, not through a team)."""
    shown: dict[str, dict[str, Any]] = {
        topic["topic"]: {**topic, "declared": True}
        for topic in declared
        if topic["subscribed"] or topic["open"]
    }
    for name in [*received, *overrides]:
        shown.setdefault(
            name,
            {
                "topic": name,
                "description": "",
                "open": False,
                "subscribed": False,
                "via_team": False,
                "declared": False,
            },
        )
    for name, topic in shown.items():
        topic["join"] = topic["open"] and not topic["subscribed"]
        topic["leave"] = topic["open"] and topic["subscribed"] and not topic["via_team"]
        topic["overrides"] = {c: overrides.get(name, {}).get(c) for c in TOPIC_CHANNELS}
    return [shown[name] for name in sorted(shown)]
