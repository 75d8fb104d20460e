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
from typing import TYPE_CHECKING, Any, NamedTuple

from desktop.files import private_file
from shared.models import NOTIFICATION_FIELDS, Notification

if TYPE_CHECKING:
    import sqlite_utils

# sqlite-utils creates and migrates the schema; it is imported only when a migration runs
# (about 6 MiB with dateutil and its plugin manager). Everyday statements are plain sqlite3:
# they are few, fixed, and on the sync path sqlite-utils' per-call table introspection cost
# more than the statements themselves.


def _migration_1(db: "sqlite_utils.Database") -> None:
    db.table("notifications").create(
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
    db.table("notifications").create_index(["created_at"])
    db.table("notifications").create_index(["read_at"])
    # Changes made here that the server has not confirmed yet, in the order they were made.
    db.table("outbox").create({"seq": int, "op": str, "arg": str, "queued_at": str}, pk="seq")
    db.table("meta").create({"key": str, "value": str}, pk="key")


def _migration_2(db: "sqlite_utils.Database") -> None:
    """Notifications carry their topic and the audience that reached the user. The rows cached
    so far were stored without them, so the next sync starts from the beginning and brings
    every notification again (read marks still queued in the outbox are kept)."""
    db.table("notifications").add_column("topic", str)
    db.table("notifications").add_column("audience", str)
    db.table("notifications").create_index(["topic"])
    db.execute("DELETE FROM meta WHERE key = 'cursor'")


def _migration_3(db: "sqlite_utils.Database") -> None:
    """Notifications carry `snoozed_until`; one full sync brings it for the rows cached."""
    db.table("notifications").add_column("snoozed_until", str)
    db.execute("DELETE FROM meta WHERE key = 'cursor'")


#: Index i holds the step from schema version i to i + 1. Append; never edit a shipped step.
MIGRATIONS: list[Callable[["sqlite_utils.Database"], None]] = [
    _migration_1,
    _migration_2,
    _migration_3,
]
SCHEMA_VERSION = len(MIGRATIONS)

#: What the center's search looks in.
_SEARCHED = ("title", "summary", "body")


class Applied(NamedTuple):
    """What applying one change did: the notification as now cached (None when the change
    removed it), and whether it is new to this client: never cached before, or back from a
    snooze (cached snoozed, now not)."""

    id: str
    stored: dict[str, Any] | None
    first_seen: bool


class Cache:
    def __init__(self, path: Path | str) -> None:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        # It holds bodies and data: the user's alone. SQLite gives its -wal and -shm files the
        # database file's mode; those of a cache made before this rule are narrowed here.
        private_file(path)
        for journal in (path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
            if journal.exists():
                private_file(journal)
        # check_same_thread=False: the GUI and sync threads share it, serialised by self._lock.
        self._conn = sqlite3.connect(str(path), check_same_thread=False, timeout=10.0)
        self._lock = threading.RLock()
        #: Counts the local changes (read, read all, archive) made through this object, so a
        #: sync can tell whether the rows it applied may have changed since.
        self.local_changes = 0
        # WAL lets a `traybell tray --once` read while the tray writes.
        if self._conn.execute("PRAGMA journal_mode").fetchone()[0].lower() != "wal":
            self._conn.execute("PRAGMA journal_mode = wal")
        # In WAL mode NORMAL syncs at checkpoints, not at every commit: a power cut may lose
        # the last transactions, never the database's consistency, and a page and its cursor
        # still commit together, so a lost page is simply fetched again.
        self._conn.execute("PRAGMA synchronous = NORMAL")
        self._migrate()
        # The wire fields this cache has a column for: a field the server added since (see
        # shared/models.py) is kept once a migration step above gives it one.
        columns = {row[1] for row in self._conn.execute("PRAGMA table_info(notifications)")}
        self._fields = tuple(field for field in NOTIFICATION_FIELDS if field in columns)
        self._data_index = self._fields.index("data")
        self._upsert = (
            f"INSERT INTO notifications ({', '.join(self._fields)}) "
            f"VALUES ({', '.join('?' * len(self._fields))}) ON CONFLICT(id) DO UPDATE SET "
            + ", ".join(f"{f} = excluded.{f}" for f in self._fields if f != "id")
        )

    def _migrate(self) -> None:
        with self._lock, self._conn:
            version = self._conn.execute("PRAGMA user_version").fetchone()[0]
            if version > SCHEMA_VERSION:
                raise RuntimeError(
                    f"the cache has schema {version}, newer than this client's {SCHEMA_VERSION}"
                )
            if version == SCHEMA_VERSION:
                return
            import sqlite_utils

            db = sqlite_utils.Database(self._conn)
            for step in MIGRATIONS[version:]:
                step(db)
            self._conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")

    def schema_version(self) -> int:
        with self._lock:
            return int(self._conn.execute("PRAGMA user_version").fetchone()[0])

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        with self._lock, self._conn:
            yield self._conn

    def _query(self, sql: str, params: Iterable[Any] = ()) -> list[dict[str, Any]]:
        cursor = self._conn.execute(sql, list(params))
        names = [column[0] for column in cursor.description]
        return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]

    # -- meta ------------------------------------------------------------------------------

    def get_meta(self, key: str) -> str | None:
        with self._lock:
            row = self._conn.execute("SELECT value FROM meta WHERE key = ?", [key]).fetchone()
            return row[0] if row else None

    def set_meta(self, key: str, value: str | None) -> None:
        with self.transaction() as conn:
            _set_meta(conn, key, value)

    def reset(self) -> None:
        """Forget everything: used when the cache belongs to another server or account."""
        with self.transaction() as conn:
            for table in ("notifications", "outbox", "meta"):
                conn.execute(f"DELETE FROM {table}")

    # -- notifications ---------------------------------------------------------------------

    def unread_count(self) -> int:
        with self._lock:
            return int(
                self._conn.execute(
                    "SELECT count(*) FROM notifications WHERE read_at IS NULL"
                ).fetchone()[0]
            )

    def notifications(
        self,
        unread_only: bool = False,
        limit: int = 50,
        *,
        query: str = "",
        severity: str | None = None,
        topic: str | None = None,
    ) -> list[dict[str, Any]]:
        """Newest first; `query` matches title, summary or body (as a substring, ignoring the
        case of ASCII letters), `severity` one severity, `topic` one topic."""
        conditions: list[str] = []
        params: list[Any] = []
        if unread_only:
            conditions.append("read_at IS NULL")
        if severity:
            conditions.append("severity = ?")
            params.append(severity)
        if topic:
            conditions.append("topic = ?")
            params.append(topic)
        if query.strip():
            pattern = "%" + _like_escape(query.strip()) + "%"
            matches = " OR ".join(f"{column} LIKE ? ESCAPE '\\'" for column in _SEARCHED)
            conditions.append(f"({matches})")
            params += [pattern] * len(_SEARCHED)
        where = f"WHERE {' AND '.join(conditions)}" if conditions else ""
        sql = f"SELECT * FROM notifications {where} ORDER BY created_at DESC, id DESC LIMIT ?"
        with self._lock:
            return [_decode(row) for row in self._query(sql, [*params, limit])]

    def topics(self) -> list[str]:
        """The topics of the cached notifications, for the center's filter."""
        with self._lock:
            rows = self._conn.execute(
                "SELECT DISTINCT topic FROM notifications WHERE topic IS NOT NULL ORDER BY topic"
            )
            return [row[0] for row in rows]

    def put(self, notification: Notification) -> None:
        """Store one notification as the server sent it outside a sync page (opened by its id):
        the cursor stays, so the next sync still brings every later change of it."""
        row = [notification.get(field) for field in self._fields]
        row[self._data_index] = json.dumps(notification.get("data") or {})
        with self.transaction() as conn:
            conn.execute(self._upsert, row)

    def get(self, ids: Iterable[str]) -> list[dict[str, Any]]:
        """The cached notifications with these ids, newest first."""
        found: list[dict[str, Any]] = []
        with self._lock:
            for chunk in _chunks(list(ids)):
                sql = f"SELECT * FROM notifications WHERE id IN ({', '.join('?' * len(chunk))})"
                found += [_decode(row) for row in self._query(sql, chunk)]
        return sorted(found, key=lambda n: (n["created_at"], n["id"]), reverse=True)

    def apply_page(self, changes: list[Notification], cursor: str, now: str) -> list[Applied]:
        """Apply one sync page and its cursor atomically; say what became of each change.

        A change saying "unread" for a notification with a read mark still in the outbox keeps
        the local read, and one for a notification archived here stays out of the cache: the
        server is about to receive that mark, and will then send its state as a later change.
        """
        applied: list[Applied] = []
        with self.transaction() as conn:
            pending: dict[str, set[str]] = {"read": set(), "unread": set(), "archive": set()}
            for op, arg in conn.execute(
                "SELECT op, arg FROM outbox WHERE op IN ('read', 'unread', 'archive')"
            ):
                pending[op].add(arg)
            read_all_pending = bool(
                conn.execute("SELECT 1 FROM outbox WHERE op = 'read_all'").fetchone()
            )
            # id -> local read_at, for the page's notifications already cached: one query;
            # and which of them are cached snoozed.
            cached, snoozed = self._read_states([str(change["id"]) for change in changes])
            upserts: list[list[Any]] = []
            archived: list[str] = []
            for change in changes:
                nid = str(change["id"])
                if change.get("archived_at") or nid in pending["archive"]:
                    archived.append(nid)
                    applied.append(Applied(nid, None, False))
                    continue
                # One pass over the fields builds both the stored row and the returned dict;
                # the dict keeps `data` as the server sent it, so nothing is decoded again.
                stored = {field: change.get(field) for field in self._fields}
                stored["id"] = nid
                if stored["data"] is None:
                    stored["data"] = {}
                local_read = cached.get(nid)
                if stored["read_at"] is None and (
                    nid in pending["read"] or (read_all_pending and local_read)
                ):
                    stored["read_at"] = local_read or now
                elif nid in pending["unread"]:
                    stored["read_at"] = None
                row = list(stored.values())
                row[self._data_index] = json.dumps(stored["data"])
                upserts.append(row)
                back_from_snooze = nid in snoozed and not stored.get("snoozed_until")
                applied.append(Applied(nid, stored, nid not in cached or back_from_snooze))
            for chunk in _chunks(archived):
                conn.execute(
                    f"DELETE FROM notifications WHERE id IN ({', '.join('?' * len(chunk))})", chunk
                )
            if upserts:
                # One prepared upsert for the page: sqlite-utils' upsert_all costs about five
                # times as much here (a savepoint and two statements per chunk of rows).
                conn.executemany(self._upsert, upserts)
            _set_meta(conn, "cursor", cursor)
        return applied

    def unread_among(self, ids: Iterable[str]) -> set[str]:
        """Which of these ids are cached and unread now."""
        found: set[str] = set()
        with self._lock:
            for chunk in _chunks(list(ids)):
                marks = ", ".join("?" * len(chunk))
                # The primary key finds them; read_at's index would walk every unread row.
                sql = f"SELECT id FROM notifications WHERE id IN ({marks}) AND +read_at IS NULL"
                found.update(row[0] for row in self._conn.execute(sql, chunk))
        return found

    def _read_states(self, ids: list[str]) -> tuple[dict[str, str | None], set[str]]:
        """The cached ones' read_at by id, and which of them are snoozed."""
        states: dict[str, str | None] = {}
        snoozed: set[str] = set()
        for chunk in _chunks(ids):
            marks = ", ".join("?" * len(chunk))
            sql = f"SELECT id, read_at, snoozed_until FROM notifications WHERE id IN ({marks})"
            for nid, read_at, snoozed_until in self._conn.execute(sql, chunk):
                states[nid] = read_at
                if snoozed_until:
                    snoozed.add(nid)
        return states, snoozed

    def mark_read_local(self, notification_id: str, now: str) -> bool:
        """Mark read here and queue the mark for the server; False if not in the cache."""
        with self.transaction() as conn:
            self.local_changes += 1
            cur = conn.execute(
                "UPDATE notifications SET read_at = ? WHERE id = ? AND read_at IS NULL",
                [now, notification_id],
            )
            known = cur.rowcount > 0 or bool(
                self._conn.execute(
                    "SELECT 1 FROM notifications WHERE id = ?", [notification_id]
                ).fetchone()
            )
            if known:
                _queue_mark(conn, "read", notification_id, now)
            return known

    def mark_unread_local(self, notification_id: str, now: str) -> bool:
        """Mark unread here and queue that for the server; False if not in the cache."""
        with self.transaction() as conn:
            self.local_changes += 1
            conn.execute("UPDATE notifications SET read_at = NULL WHERE id = ?", [notification_id])
            known = bool(
                conn.execute(
                    "SELECT 1 FROM notifications WHERE id = ?", [notification_id]
                ).fetchone()
            )
            if known:
                _queue_mark(conn, "unread", notification_id, now)
            return known

    def mark_all_read_local(self, cursor: str | None, now: str) -> int:
        with self.transaction() as conn:
            self.local_changes += 1
            cur = conn.execute("UPDATE notifications SET read_at = ? WHERE read_at IS NULL", [now])
            if cursor is not None:
                _queue(conn, "read_all", cursor, now)
            return cur.rowcount

    def archive_local(self, notification_id: str, now: str) -> None:
        with self.transaction() as conn:
            self.local_changes += 1
            conn.execute("DELETE FROM notifications WHERE id = ?", [notification_id])
            _queue(conn, "archive", notification_id, now)

    def forget_notifications(self) -> set[str]:
        """Drop every cached notification and the cursor, keeping the outbox (its marks go to
        the server, which refuses those of ids it does not hold); returns the ids dropped."""
        with self.transaction() as conn:
            known = {row[0] for row in conn.execute("SELECT id FROM notifications")}
            conn.execute("DELETE FROM notifications")
            _set_meta(conn, "cursor", None)
        return known

    # -- outbox ----------------------------------------------------------------------------

    def outbox(self) -> list[dict[str, Any]]:
        with self._lock:
            return self._query("SELECT seq, op, arg FROM outbox ORDER BY seq")

    def outbox_done(self, seq: int) -> None:
        with self.transaction() as conn:
            conn.execute("DELETE FROM outbox WHERE seq = ?", [seq])


def _set_meta(conn: sqlite3.Connection, key: str, value: str | None) -> None:
    if value is None:
        conn.execute("DELETE FROM meta WHERE key = ?", [key])
    else:
        conn.execute(
            "INSERT INTO meta (key, value) VALUES (?, ?)"
            " ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            [key, value],
        )


def _queue(conn: sqlite3.Connection, op: str, arg: str, now: str) -> None:
    conn.execute("INSERT INTO outbox (op, arg, queued_at) VALUES (?, ?, ?)", [op, arg, now])


def _queue_mark(conn: sqlite3.Connection, op: str, notification_id: str, now: str) -> None:
    """Queue a read or unread mark; only the last one counts, so an opposite one still queued
    goes (otherwise a page applied meanwhile would keep the state the user just undid)."""
    opposite = "unread" if op == "read" else "read"
    conn.execute("DELETE FROM outbox WHERE op = ? AND arg = ?", [opposite, notification_id])
    _queue(conn, op, notification_id, now)


def _like_escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _chunks(items: list[str], size: int = 500) -> Iterator[list[str]]:
    # SQLite caps the number of ? parameters in one statement (999 on older builds).
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _decode(row: dict[str, Any]) -> dict[str, Any]:
    notification = dict(row)
    notification["data"] = json.loads(notification["data"] or "{}")
    return notification
