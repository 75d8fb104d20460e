"""SyncEngine: the contract's client API over the cache and the HTTP client."""

import functools
import hashlib
import json
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from desktop.sync._api import ApiClient, ApiError, Offline, Refused, SignedOut
from desktop.sync._cache import Cache
from desktop.sync._device import revoke_own_token
from desktop.sync._events import EventStream
from shared.models import EventPage, Notification, SyncPage
from shared.topics import preference_center

if TYPE_CHECKING:
    import httpx

log = logging.getLogger("traybell.desktop.sync")

PAGE_SIZE = 500
# Server-side preferences (quiet hours) change rarely; refreshing them on every poll would
# double the requests for nothing.
PREFERENCES_MAX_AGE = 600.0


@dataclass(frozen=True)
class SyncResult:
    """What one sync found. Failures are states here, never exceptions."""

    online: bool
    signed_out: bool = False
    new: list[dict[str, Any]] = field(default_factory=list)
    unread: int = 0
    error: str | None = None


class SyncEngine:
    """Keeps a local cache in step with the server; usable without any GUI.

    Local changes (read, read all, archive) land in the cache at once and in an outbox; the
    outbox is sent before every pull, so a pending local read is never undone by an older
    server state. Everything else is the server's.
    """

    def __init__(
        self,
        server_url: str,
        token: str,
        cache_path: Path | str,
        *,
        ca_bundle: str | None = None,
        transport: "httpx.BaseTransport | None" = None,
    ) -> None:
        self.server_url = server_url.rstrip("/")
        self._new_api = functools.partial(
            ApiClient, self.server_url, token, ca_bundle=ca_bundle, transport=transport
        )
        self._api = self._new_api()
        self._cache = Cache(cache_path)
        # Serialises network work (sync, outbox) so two flushes never send the same mark twice.
        self._net_lock = threading.Lock()
        self._prefs_fetched_at = 0.0
        # The cache belongs to one account on one server: a different one starts afresh, so
        # nobody sees the previous user's notifications or sends their queued marks.
        account = hashlib.sha256(f"{self.server_url}\n{token}".encode()).hexdigest()[:32]
        if self._cache.get_meta("account") != account:
            self._cache.reset()
            self._cache.set_meta("account", account)

    def close(self) -> None:
        self._api.close()
        self._cache.close()

    # -- reading the cache -----------------------------------------------------------------

    def unread_count(self) -> int:
        return self._cache.unread_count()

    def notifications(
        self,
        unread_only: bool = False,
        limit: int = 50,
        *,
        query: str = "",
        severity: str | None = None,
        topic: str | None = None,
    ) -> list[dict[str, Any]]:
        """From the cache, newest first; `query` searches title, summary and body, `severity`
        keeps one severity, `topic` one topic."""
        return self._cache.notifications(
            unread_only=unread_only, limit=limit, query=query, severity=severity, topic=topic
        )

    def topics(self) -> list[str]:
        """The topics of the cached notifications (the center's filter offers them)."""
        return self._cache.topics()

    def cached(self, notification_id: str) -> dict[str, Any] | None:
        """One notification from the cache, or None: fast, no network."""
        found = self._cache.get([str(notification_id)])
        return found[0] if found else None

    def pending_changes(self) -> int:
        """Local changes the server has not confirmed yet."""
        return len(self._cache.outbox())

    def last_sync_at(self) -> datetime | None:
        value = self._cache.get_meta("last_sync_at")
        return datetime.fromisoformat(value) if value else None

    def cached_preferences(self) -> dict[str, Any] | None:
        value = self._cache.get_meta("preferences")
        return json.loads(value) if value else None

    # -- local changes: in the cache at once, to the server now or later -------------------

    def queue_read(self, notification_id: str) -> None:
        """The local half of `mark_read`: fast, no network, safe on a GUI thread."""
        if not self._cache.mark_read_local(str(notification_id), _now()):
            log.info("mark read of %s ignored: not in the cache", notification_id)

    def queue_unread(self, notification_id: str) -> None:
        if not self._cache.mark_unread_local(str(notification_id), _now()):
            log.info("mark unread of %s ignored: not in the cache", notification_id)

    def queue_read_all(self) -> None:
        """The local half of `mark_all_read`: up to the last cursor this client applied."""
        self._cache.mark_all_read_local(self._cache.get_meta("cursor"), _now())

    def queue_archive(self, notification_id: str) -> None:
        self._cache.archive_local(str(notification_id), _now())

    def mark_read(self, notification_id: str) -> bool:
        """Mark read in the cache at once; returns whether the server has it already."""
        self.queue_read(notification_id)
        return self.flush_outbox().online

    def mark_all_read(self) -> bool:
        self.queue_read_all()
        return self.flush_outbox().online

    def archive(self, notification_id: str) -> bool:
        self.queue_archive(notification_id)
        return self.flush_outbox().online

    # -- talking to the server -------------------------------------------------------------

    def flush_outbox(self) -> SyncResult:
        """Send the queued local changes in order; stops at the first one that must wait."""
        with self._net_lock:
            try:
                self._flush()
            except ApiError as exc:
                return self._failed(exc)
            return SyncResult(online=True, unread=self.unread_count())

    def sync(self) -> SyncResult:
        """Send the outbox, then apply every page of server changes since the last cursor."""
        with self._net_lock:
            try:
                self._flush()
                local_changes = self._cache.local_changes
                seen = self._pull()
            except ApiError as exc:
                return self._failed(exc)
            except Exception as exc:  # a server bug must not take the client down with it
                log.exception("sync failed unexpectedly")
                return SyncResult(online=False, unread=self.unread_count(), error=repr(exc))
            self._cache.set_meta("last_sync_at", _now())
            self._refresh_preferences()
            return self._result(seen, local_changes)

    def event_stream(self, on_result: Callable[[SyncResult], None]) -> EventStream:
        """A /v1/events stream into this cache, on a connection of its own; `run()` it on a
        thread of its own (see desktop/sync/_events.py)."""
        return EventStream(self, self._new_api(), on_result)

    def sync_cursor(self) -> str | None:
        """Where the cache stands in the server's changes (the cursor last applied)."""
        return self._cache.get_meta("cursor")

    def apply_events_page(self, page: EventPage, after: str | None) -> SyncResult:
        """An event's page, which follows the position `after`, taken in as a sync page is.

        When a sync moved the cache since `after`, the event may be older or newer than what
        that sync applied: the cache then asks the server for what follows its own cursor."""
        with self._net_lock:
            try:
                local_changes = self._cache.local_changes
                if self.sync_cursor() == after:
                    seen: dict[str, dict[str, Any]] = {}
                    self._apply(page, seen)
                else:
                    seen = self._pull()
            except ApiError as exc:
                return self._failed(exc)
            return self._result(seen, local_changes)

    def signed_out_result(self) -> SyncResult:
        return SyncResult(online=False, signed_out=True, unread=self.unread_count())

    def snooze(self, notification_id: str, until: datetime) -> Notification:
        """Snooze on the server now (not queued: a snooze made offline is refused with the
        error); the change reaches the cache with the next sync."""
        notification: Notification = self._api.call(
            "POST",
            f"/v1/notifications/{notification_id}/snooze",
            json={"until": until.isoformat()},
        )["notification"]
        return notification

    def fetch(self, notification_id: str) -> Notification:
        """One notification from the server (one not cached yet, say opened from a link); kept
        in the cache unless archived. Raises `Refused` (404: unknown or another user's) or
        another `ApiError`."""
        notification: Notification = self._api.call("GET", f"/v1/notifications/{notification_id}")
        if not notification.get("archived_at"):
            self._cache.put(notification)
        return notification

    def sign_out(self) -> bool:
        """Revoke this client's own token on the server when it is reachable, and empty the
        cache either way, so the next person at this computer sees nothing of this one.
        Returns whether the token is void on the server now."""
        with self._net_lock:
            revoked = revoke_own_token(self._api)
            self._cache.reset()
            return revoked

    def fetch_preferences(self) -> dict[str, Any]:
        prefs: dict[str, Any] = self._api.call("GET", "/v1/preferences")
        self._cache.set_meta("preferences", json.dumps(prefs))
        self._prefs_fetched_at = time.monotonic()
        return prefs

    def adopt_timezone(self, zone: str) -> bool:
        """Give the user `zone` as their time zone when they have none; True if it was set."""
        if self.fetch_preferences().get("timezone"):
            return False
        self.update_preferences({"timezone": zone})
        return True

    def update_preferences(self, changes: dict[str, Any]) -> dict[str, Any]:
        prefs: dict[str, Any] = self._api.call("PATCH", "/v1/preferences", json=changes)
        self._cache.set_meta("preferences", json.dumps(prefs))
        return prefs

    def topic_center(self) -> list[dict[str, Any]]:
        """The topics the settings show (shared/topics.py): the server's declared topics and
        the user's overrides, with the topics of the cached notifications as the received."""
        declared = self._api.call("GET", "/v1/topics")["topics"]
        overrides = self.fetch_preferences()["topics"]
        return preference_center(declared, self._cache.topics(), overrides)

    def follow_topic(self, topic: str, follow: bool) -> None:
        """Join or leave an open topic (Refused 403 for a closed one, 404 for an unknown)."""
        path = f"/v1/me/subscriptions/{quote(topic, safe='')}"
        self._api.call("PUT" if follow else "DELETE", path)

    # -- internals -------------------------------------------------------------------------

    def _flush(self) -> None:
        for entry in self._cache.outbox():
            op, arg = entry["op"], entry["arg"]
            try:
                if op in ("read", "unread"):
                    self._api.call("POST", f"/v1/notifications/{arg}/{op}")
                elif op == "archive":
                    self._api.call("POST", f"/v1/notifications/{arg}/archive")
                elif op == "read_all":
                    self._api.call("POST", "/v1/notifications/read-all", json={"up_to": arg})
                else:
                    log.error("dropping unknown outbox entry %r", entry)
            except Refused as exc:
                # 404 and friends will not change by asking again; keeping the entry would
                # block every later one for ever.
                log.warning("server refused queued %s of %s for good, dropped: %s", op, arg, exc)
            self._cache.outbox_done(entry["seq"])

    def _pull(self) -> dict[str, dict[str, Any]]:
        """Apply every page; return the notifications first seen now, as last stored (a later
        page may have changed or removed one seen on an earlier page)."""
        cursor = self._cache.get_meta("cursor")
        first_seen: dict[str, dict[str, Any]] = {}
        known_before_rebuild: set[str] = set()
        while True:
            params = {"limit": PAGE_SIZE} | ({"cursor": cursor} if cursor else {})
            try:
                page: SyncPage = self._api.call("GET", "/v1/sync", params=params)
            except Refused as exc:
                if cursor is None or not exc.cursor_unknown:
                    raise
                # The cache is not the past of the server's database (restored or rebuilt):
                # what it holds may no longer exist there, so it is rebuilt from the beginning.
                # What it held is not announced again, only what is new to this client.
                log.warning(
                    "the server's database was restored or rebuilt (%s %s): dropping the cached"
                    " notifications and syncing from the beginning",
                    exc.status,
                    exc.code,
                )
                known_before_rebuild |= self._cache.forget_notifications()
                cursor = None
                continue
            self._apply(page, first_seen)
            cursor = page["cursor"]
            if not page["has_more"]:
                for nid in known_before_rebuild:
                    first_seen.pop(nid, None)
                return first_seen

    def _apply(self, page: EventPage, first_seen: dict[str, dict[str, Any]]) -> None:
        """One page into the cache; `first_seen` gets the notifications new to it."""
        for applied in self._cache.apply_page(page["changes"], page["cursor"], _now()):
            if applied.stored is None:
                first_seen.pop(applied.id, None)
            elif applied.first_seen or applied.id in first_seen:
                first_seen[applied.id] = applied.stored

    def _result(self, seen: dict[str, dict[str, Any]], local_changes: int) -> SyncResult:
        # Still unread in the cache now: a read mark or archive made here while the pages
        # came in counts as much as one the server sent. Without one, the rows as applied
        # are the cache's rows.
        if self._cache.local_changes == local_changes:
            unread = {nid for nid, n in seen.items() if n["read_at"] is None}
        else:
            unread = self._cache.unread_among(seen)
        new = sorted(
            (n for nid, n in seen.items() if nid in unread),
            key=lambda n: (n["created_at"], n["id"]),
            reverse=True,
        )
        return SyncResult(online=True, new=new, unread=self.unread_count())

    def _refresh_preferences(self) -> None:
        fetched = self._prefs_fetched_at
        if fetched and time.monotonic() - fetched < PREFERENCES_MAX_AGE:
            return
        try:
            self.fetch_preferences()
        except ApiError as exc:
            log.info("could not refresh preferences: %s", exc)

    def _failed(self, exc: ApiError) -> SyncResult:
        signed_out = isinstance(exc, SignedOut)
        if isinstance(exc, Offline | SignedOut):
            log.info("sync: %s", exc)
        else:
            log.warning("sync refused: %s", exc)
        return SyncResult(
            online=False, signed_out=signed_out, unread=self.unread_count(), error=str(exc)
        )


def _now() -> str:
    return datetime.now(UTC).isoformat()
