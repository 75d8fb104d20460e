"""The local SQLite cache: notifications as last seen, the sync cursor, and the outbox.

The schema is versioned with `PRAGMA user_version` and migrated forward on open, so a client
update never needs the user to delete anything. One connection is shared by the GUI thread
(fast reads and local marks) and the sync thread; a lock keeps their statements from
interleaving, and the network never runs while it is held.
"""

import json
import sqlite3
import threading
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import sqlite_utils

from shared.models import NOTIFICATION_FIELDS


def _migration_1(db: sqlite_utils.Database) -> None:
    db["notifications"].create(
        {
            "id": str,
            "user_id": str,
            "event_name": str,
            "title": str,
            "summary": str,
            "body": str,
            "target_url": str,
            "severity": str,
            "data": str,
            "batch_key": str,
            "read_at": str,
            "archived_at": str,
            "created_at": str,
        },
        pk="id",
    )
    db["notifications"].create_index(["created_at"])
    db["notifications"].create_index(["read_at"])
    # Changes made here that the server has not confirmed yet, in the order they were made.
    db["outbox"].create({"seq": int, "op": str, "arg": str, "queued_at": str}, pk="seq")
    db["meta"].create({"key": str, "value": str}, pk="key")


_UPSERT = (
    f"INSERT INTO notifications ({', '.join(NOTIFICATION_FIELDS)}) "
    f"VALUES ({', '.join('?' * len(NOTIFICATION_FIELDS))}) ON CONFLICT(id) DO UPDATE SET "
    + ", ".join(f"{f} = excluded.{f}" for f in NOTIFICATION_FIELDS if f != "id")
)

#: Index i holds the step from schema version i to i + 1. Append; never edit a shipped step.
MIGRATIONS: list[Callable[[sqlite_utils.Database], None]] = [_migration_1]
SCHEMA_VERSION = len(MIGRATIONS)


class Cache:
    def __init__(self, path: Path | str) -> None:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        # check_same_thread=False: the GUI and sync threads share it, serialised by self._lock.
        self._conn = sqlite3.connect(str(path), check_same_thread=False, timeout=10.0)
        self._db = sqlite_utils.Database(self._conn)
        self._lock = threading.RLock()
        # WAL lets a `traybell tray --once` read while the tray writes.
        self._db.enable_wal()
        self._migrate()

    def _migrate(self) -> None:
        with self._lock, self._conn:
            version = self._conn.execute("PRAGMA user_version").fetchone()[0]
            if version > SCHEMA_VERSION:
                raise RuntimeError(
                    f"the cache has schema {version}, newer than this client's {SCHEMA_VERSION}"
                )
            for step in MIGRATIONS[version:]:
                step(self._db)
            self._conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")

    def schema_version(self) -> int:
        with self._lock:
            return int(self._conn.execute("PRAGMA user_version").fetchone()[0])

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    @contextmanager
    def transaction(self) -> Iterator[sqlite_utils.Database]:
        with self._lock, self._conn:
            yield self._db

    # -- meta ------------------------------------------------------------------------------

    def get_meta(self, key: str) -> str | None:
        with self._lock:
            row = self._conn.execute("SELECT value FROM meta WHERE key = ?", [key]).fetchone()
            return row[0] if row else None

    def set_meta(self, key: str, value: str | None) -> None:
        with self.transaction() as db:
            if value is None:
                db["meta"].delete_where("key = ?", [key])
            else:
                db["meta"].upsert({"key": key, "value": value}, pk="key")

    def reset(self) -> None:
        """Forget everything: used when the cache belongs to another server or account."""
        with self.transaction() as db:
            for table in ("notifications", "outbox", "meta"):
                db[table].delete_where()

    # -- notifications ---------------------------------------------------------------------

    def unread_count(self) -> int:
        with self._lock:
            return int(
                self._conn.execute(
                    "SELECT count(*) FROM notifications WHERE read_at IS NULL"
                ).fetchone()[0]
            )

    def notifications(self, unread_only: bool = False, limit: int = 50) -> list[dict[str, Any]]:
        where = "WHERE read_at IS NULL" if unread_only else ""
        sql = f"SELECT * FROM notifications {where} ORDER BY created_at DESC, id DESC LIMIT ?"
        with self._lock:
            return [_decode(row) for row in self._db.query(sql, [limit])]

    def get(self, ids: Iterable[str]) -> list[dict[str, Any]]:
        """The cached notifications with these ids, newest first."""
        found: list[dict[str, Any]] = []
        with self._lock:
            for chunk in _chunks(list(ids)):
                rows = self._db["notifications"].rows_where(
                    f"id IN ({', '.join('?' * len(chunk))})", chunk
                )
                found += [_decode(row) for row in rows]
        return sorted(found, key=lambda n: (n["created_at"], n["id"]), reverse=True)

    def apply_page(self, changes: list[dict[str, Any]], cursor: str, now: str) -> list[str]:
        """Apply one sync page and its cursor atomically; return the ids seen for the first time.

        A change saying "unread" for a notification with a read mark still in the outbox keeps
        the local read: the server is about to receive that mark, and will then send the read
        state as a later change.
        """
        first_seen: list[str] = []
        with self.transaction() as db:
            pending_ids = {
                row[0] for row in self._conn.execute("SELECT arg FROM outbox WHERE op = 'read'")
            }
            read_all_pending = bool(
                self._conn.execute("SELECT 1 FROM outbox WHERE op = 'read_all'").fetchone()
            )
            # id -> local read_at, for the page's notifications already cached: one query.
            cached = self._read_states([str(change["id"]) for change in changes])
            upserts, archived = [], []
            for change in changes:
                nid = str(change["id"])
                if change.get("archived_at"):
                    archived.append(nid)
                    continue
                row = _encode(change)
                local_read = cached.get(nid)
                if row["read_at"] is None and (
                    nid in pending_ids or (read_all_pending and local_read)
                ):
                    row["read_at"] = local_read or now
                if nid not in cached:
                    first_seen.append(nid)
                upserts.append(row)
            for chunk in _chunks(archived):
                db["notifications"].delete_where(f"id IN ({', '.join('?' * len(chunk))})", chunk)
            if upserts:
                # One prepared upsert for the page: sqlite-utils' upsert_all costs about five
                # times as much here (a savepoint and two statements per chunk of rows).
                self._conn.executemany(
                    _UPSERT, [tuple(r[f] for f in NOTIFICATION_FIELDS) for r in upserts]
                )
            db["meta"].upsert({"key": "cursor", "value": cursor}, pk="key")
        return first_seen

    def _read_states(self, ids: list[str]) -> dict[str, str | None]:
        states: dict[str, str | None] = {}
        for chunk in _chunks(ids):
            marks = ", ".join("?" * len(chunk))
            sql = f"SELECT id, read_at FROM notifications WHERE id IN ({marks})"
            states.update(self._conn.execute(sql, chunk).fetchall())
        return states

    def mark_read_local(self, notification_id: str, now: str) -> bool:
        """Mark read here and queue the mark for the server; False if not in the cache."""
        with self.transaction() as db:
            cur = self._conn.execute(
                "UPDATE notifications SET read_at = ? WHERE id = ? AND read_at IS NULL",
                [now, notification_id],
            )
            known = cur.rowcount > 0 or bool(
                self._conn.execute(
                    "SELECT 1 FROM notifications WHERE id = ?", [notification_id]
                ).fetchone()
            )
            if known:
                db["outbox"].insert({"op": "read", "arg": notification_id, "queued_at": now})
            return known

    def mark_all_read_local(self, cursor: str | None, now: str) -> int:
        with self.transaction() as db:
            cur = self._conn.execute(
                "UPDATE notifications SET read_at = ? WHERE read_at IS NULL", [now]
            )
            if cursor is not None:
                db["outbox"].insert({"op": "read_all", "arg": cursor, "queued_at": now})
            return cur.rowcount

    def archive_local(self, notification_id: str, now: str) -> None:
        with self.transaction() as db:
            db["notifications"].delete_where("id = ?", [notification_id])
            db["outbox"].insert({"op": "archive", "arg": notification_id, "queued_at": now})

    # -- outbox ----------------------------------------------------------------------------

    def outbox(self) -> list[dict[str, Any]]:
        with self._lock:
            return list(self._db.query("SELECT seq, op, arg FROM outbox ORDER BY seq"))

    def outbox_done(self, seq: int) -> None:
        with self.transaction() as db:
            db["outbox"].delete_where("seq = ?", [seq])


def _chunks(items: list[str], size: int = 500) -> Iterator[list[str]]:
    # SQLite caps the number of ? parameters in one statement (999 on older builds).
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _encode(notification: dict[str, Any]) -> dict[str, Any]:
    row = {field: notification.get(field) for field in NOTIFICATION_FIELDS}
    row["id"] = str(row["id"])
    row["data"] = json.dumps(row["data"] if row["data"] is not None else {})
    return row


def _decode(row: dict[str, Any]) -> dict[str, Any]:
    notification = dict(row)
    notification["data"] = json.loads(notification["data"] or "{}")
    return notification
