"""Stored rows as the wire objects of shared/models.py, built in one place for the API, the
pages and the event stream."""

import uuid
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, cast

from server.cursors import SyncCursor
from shared.models import NOTIFICATION_FIELDS, Notification, SyncPage


def wire_value(value: Any) -> Any:
    """A column's value as JSON carries it: ids and instants as text."""
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, uuid.UUID):
        return str(value)
    return value


def notification_object(row: Mapping[str, Any]) -> Notification:
    """A stored row as the API's notification object: every field of the wire model, by name."""
    return cast(Notification, {field: wire_value(row[field]) for field in NOTIFICATION_FIELDS})


def sync_page(
    rows: Sequence[Mapping[str, Any]], after: SyncCursor, limit: int
) -> tuple[SyncPage, SyncCursor]:
    """The page of changes after `after` and the position after it, from rows read with
    `limit + 1` changes at most (db/queries.sql: sync_page, stream_pages). The first row always
    carries the user's unread count; a row without an id is that count alone (no change)."""
    changes = [r for r in rows if r["id"] is not None]
    has_more = len(changes) > limit
    changes = changes[:limit]
    position = SyncCursor(changes[-1]["version"], changes[-1]["id"]) if changes else after
    page: SyncPage = {
        "changes": [notification_object(r) for r in changes],
        "cursor": position.encode(),
        "has_more": has_more,
        "unread": rows[0]["unread"],
    }
    return page, position
