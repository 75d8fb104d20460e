"""The rules of Traybell's server: who may see what, what a send stores and queues, how sync
advances. HTTP handlers call in here; every statement it runs is a named query in db/."""

import json
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg

from server import audit, metrics
from server.addresses import audience_topic
from server.audit import Actor
from server.channels.push_targets import check_urls
from server.config import Settings
from server.cursors import InvalidCursor, PageCursor, ResyncRequired, SyncCursor
from server.db import fetch_all, queries
from server.errors import Conflict, NotFound, UnknownAddresses, UnknownUsers, Unprocessable
from server.identity import Caller, TokenScope, hash_token, issue_token
from server.sending import Coalescer
from server.wakeups import ALL_USERS, Users, Wakeups
from server.wire import notification_object, sync_page
from shared.models import Notification, SyncPage
from shared.topics import TOPIC_CHANNELS

MAX_VERSION = 2**63 - 1
#: How near and how far a snooze may end.
SNOOZE_SHORTEST = timedelta(minutes=1)
SNOOZE_LONGEST = timedelta(days=30)

#: A send to at most this many users joins a batch of sends (server/sending.py); a bigger
#: fan-out, or one to every user, is a transaction of its own.
COALESCED_RECIPIENTS = 100
#: At most this many sends in one batch. Each is a subtransaction, and past 64 in one
#: transaction PostgreSQL stops caching them in shared memory: every snapshot then gets slower.
MAX_BATCH_SENDS = 48
#: At most this many token lookups in one statement.
MAX_BATCH_LOOKUPS = 64
#: Token lookups of one server process at once. A lookup is a short read with no commit to
#: wait for, so one at a time gathers more of them per statement: 12 % less server CPU per
#: send under wrk -c16 than two at a time (docs/BENCHMARKS.md).
LOOKUPS_IN_FLIGHT = 1
#: Batches of one server process at once: while one waits for its commit, the next one runs.
MAX_BATCHES_IN_FLIGHT = 2


@dataclass(frozen=True)
class RecipientCount:
    known: int  # users the send names that exist
    reached: int  # of those, the ones it would reach (disabled users are skipped)
    unknown: list[str]  # the ids it names that no user has (a send would be refused)


@dataclass(frozen=True)
class Outgoing:
    """One notification to send: the already validated fields of a send request."""

    recipients: list[str] | None  # None: every user (or the audience `to`, when given)
    event_name: str
    title: str
    summary: str | None
    body: str
    target_url: str | None
    severity: str
    data: dict[str, Any]
    resource_id: str | None
    idempotency_key: str | None
    batch_key: str | None
    #: `user:<id>`, `team:<id>`, `topic:<name>` addresses, resolved in the send's transaction.
    to: list[str] | None = None
    topic: str | None = None


@dataclass(frozen=True)
class SendTime:
    """When a scheduled send is due: `at`, an instant (aware), or `local`, a wall-clock time
    (naive) read in each recipient's own `timezone` preference (UTC when they have none).

    The daylight-saving rule (written once, in db/functions/timers.sql: wall_clock_instant): a
    local time that does not exist that day in the recipient's zone (02:30 on the night clocks
    spring forward in America/New_York) is sent at the first valid instant after it (03:00
    EDT); one that happens twice (the night they fall back) is sent the first time."""

    at: datetime | None = None
    local: datetime | None = None

    #: The farthest ahead a send may be scheduled.
    MAX_AHEAD = timedelta(days=366)
    #: Where on Earth a wall-clock time comes last (UTC-12), and a little more.
    LATEST_ZONE = timedelta(hours=14)

    def is_past(self, now: datetime) -> bool:
        """Whether the time has passed for everyone (then the send is made now, unscheduled)."""
        if self.at is not None:
            return self.at <= now
        assert self.local is not None
        return self.local.replace(tzinfo=UTC) + self.LATEST_ZONE <= now

    def too_far(self, now: datetime) -> bool:
        instant = self.at if self.at is not None else self.local.replace(tzinfo=UTC)  # type: ignore[union-attr]
        return instant > now + self.MAX_AHEAD


def schedule_dict(row: Mapping[str, Any]) -> dict[str, Any]:
    """A schedule as the API answers it: when, its status, and what it sends to whom."""
    schedule: dict[str, Any] = {
        "schedule_id": str(row["schedule_id"]),
        "status": row["status"],
        "created_at": _iso(row["created_at"]),
    }
    if row["send_at"] is not None:
        schedule["send_at"] = _iso(row["send_at"])
    else:
        schedule["send_at_local"] = row["send_at_local"].strftime("%Y-%m-%dT%H:%M")
    if row["to_addresses"] is not None:
        schedule["to"] = list(row["to_addresses"])
    elif row["user_ids"] is not None:
        schedule["user_ids"] = list(row["user_ids"])
    else:
        schedule["all_users"] = True
    schedule |= {
        "event_name": row["event_name"],
        "title": row["title"],
        "severity": row["severity"],
        "released_at": _iso(row["released_at"]),
        "cancelled_at": _iso(row["cancelled_at"]),
    }
    return schedule


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


async def _keep_an_admin(conn: asyncpg.Connection, user_id: str, actor: Actor, act: str) -> None:
    """The rule that keeps Traybell administrable, for the API, the pages and the command line
    alike: nobody disables or demotes themselves (another admin does; a slip cannot lock them
    out), and the last admin who is not disabled stays one. Conflict otherwise."""
    if actor.user_id == user_id:
        raise Conflict(f"you cannot {act}; ask another admin")
    admins = [row["user_id"] for row in await fetch_all(queries.lock_active_admins, conn)]
    if admins == [user_id]:
        raise Conflict(f"{user_id} is the last admin; make another admin first")


def user_dict(row: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "user_id": row["user_id"],
        "email": row["email"],
        "display_name": row["display_name"],
        "admin": row["is_admin"],
        "disabled": row["disabled_at"] is not None,
        "created_at": _iso(row["created_at"]),
    }


def token_dict(row: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "token_id": str(row["token_id"]),
        "name": row["name"],
        "kind": row["kind"],
        "scope": row["scope"],
        "created_at": _iso(row["created_at"]),
        "last_used_at": _iso(row["last_used_at"]),
    }


def delivery_report_dict(row: Mapping[str, Any]) -> dict[str, Any]:
    """One external channel of a notification: what became of it, and why (delivery_report())."""
    return {
        "channel": row["channel"],
        "status": row["status"],
        "reason": row["reason"],
        "at": _iso(row["at"]),
        "delivery_id": str(row["delivery_id"]) if row["delivery_id"] else None,
        "attempts": row["attempts"],
        "last_error": row["last_error"],
        "dismissed": row["dismissed"],
    }


def delivery_dict(row: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "id": str(row["id"]),
        "notification_id": str(row["notification_id"]) if row["notification_id"] else None,
        "user_id": row["user_id"],
        "channel": row["channel"],
        "status": row["status"],
        "attempts": row["attempts"],
        "last_error": row["last_error"],
        "available_at": _iso(row["available_at"]),
    }


async def _topic_preferences(
    conn: asyncpg.Connection, user_id: str
) -> dict[str, dict[str, bool | None]]:
    rows = await fetch_all(queries.get_topic_preferences, conn, user_id=user_id)
    return {r["topic"]: {channel: r[channel] for channel in TOPIC_CHANNELS} for r in rows}


async def _merge_topic_preferences(
    conn: asyncpg.Connection,
    user_id: str,
    current: Mapping[str, Mapping[str, bool | None]],
    patch: Mapping[str, Mapping[str, bool | None]],
) -> dict[str, dict[str, bool | None]]:
    """A patch merges per topic and channel: a channel it leaves out keeps its override, and
    a topic left with no override at all is forgotten. Returns the overrides now."""
    merged = {
        topic: {
            channel: changes.get(channel, current.get(topic, {}).get(channel))
            for channel in TOPIC_CHANNELS
        }
        for topic, changes in patch.items()
    }
    await queries.set_topic_preferences(
        conn,
        user_id=user_id,
        topics=list(merged),
        **{channel: [m[channel] for m in merged.values()] for channel in TOPIC_CHANNELS},
    )
    await queries.forget_empty_topic_preferences(conn, user_id=user_id)
    return {
        topic: dict(overrides)
        for topic, overrides in sorted({**current, **merged}.items())
        if any(value is not None for value in overrides.values())
    }


def _uuids(ids: list[str]) -> list[uuid.UUID]:
    """The ids that can name a notification at all; the others match nothing."""
    parsed = []
    for text in ids:
        try:
            parsed.append(uuid.UUID(text))
        except ValueError:
            continue
    return parsed


def _sync_position(cursor: str | None) -> SyncCursor:
    """Where a sync from `cursor` starts (the beginning without one); InvalidCursor when it is
    damaged."""
    return SyncCursor.decode(cursor) if cursor is not None else SyncCursor()


def _rows_per_send(rows: Sequence[asyncpg.Record], sends: int) -> list[list[asyncpg.Record]]:
    """send_notifications()'s rows, by the number of their send."""
    per_send: list[list[asyncpg.Record]] = [[] for _ in range(sends)]
    for r in rows:
        per_send[r["send_no"] - 1].append(r)
    return per_send


def _results(rows: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """A send's rows as its reply names them (contract, "Send")."""
    results = []
    for r in rows:
        result: dict[str, Any] = {
            "user_id": r["user_id"],
            "id": str(r["id"]) if r["id"] else None,
            "inserted": r["outcome"] == "inserted",
        }
        if r["outcome"] == "suppressed":
            result["suppressed"] = True
        results.append(result)
    return results


class Service:
    def __init__(self, pool: asyncpg.Pool, settings: Settings, wakeups: Wakeups | None = None):
        """Without `wakeups` (the command line) open streams find changes at their recheck."""
        self.pool = pool
        self.settings = settings
        self.wakeups = wakeups
        self._sends = Coalescer(
            self._send_batch, max_batch=MAX_BATCH_SENDS, max_in_flight=MAX_BATCHES_IN_FLIGHT
        )
        # A round trip per request was a seventh of a send's server time under load.
        self._lookups = Coalescer(
            self._authenticate_batch,
            max_batch=MAX_BATCH_LOOKUPS,
            max_in_flight=LOOKUPS_IN_FLIGHT,
        )

    def _changed(self, users: Users) -> None:
        """After a commit: these users' notifications changed; wake their event streams."""
        if self.wakeups is not None:
            self.wakeups.announce(users)

    # ------------------------------------------------------------------ users and tokens

    async def authenticate(self, token: str) -> Caller | None:
        """The caller the token names, looked up after this call began (never from memory: a
        token revoked before stops at once), together with the lookups waiting beside it."""
        return await self._lookups.submit(hash_token(token))

    async def _authenticate_batch(self, token_hashes: Sequence[bytes]) -> list[Caller | None]:
        rows = await fetch_all(
            queries.authenticate, self.pool, token_hashes=list(dict.fromkeys(token_hashes))
        )
        found = {bytes(r["token_hash"]): Caller.of_token(r) for r in rows}
        return [found.get(token_hash) for token_hash in token_hashes]

    async def create_user(
        self,
        user_id: str,
        *,
        email: str | None,
        display_name: str | None,
        is_admin: bool,
        actor: Actor,
        with_token: bool = True,
        token_scope: TokenScope = "user",
    ) -> tuple[dict[str, Any], str | None, str | None]:
        """Create a user, with a first token of `token_scope` unless `with_token` is false
        (someone who signs in on the web needs none); returns (user, token, token_id). Conflict
        when the id is taken."""
        async with self.pool.acquire() as conn, conn.transaction():
            row = await queries.create_user(
                conn,
                user_id=user_id,
                display_name=display_name,
                is_admin=is_admin,
                email=email,
                email_enabled=self.settings.default_email,
                push_enabled=self.settings.default_push,
            )
            if row is None:
                raise Conflict(f"user {user_id!r} already exists")
            await audit.record(
                conn, actor, "user.create", target_user_id=user_id, details={"admin": is_admin}
            )
            token, token_id = (None, None)
            if with_token:
                token, token_id = await self._issue_audited_token(conn, user_id, token_scope, actor)
        return user_dict(row), token, token_id

    async def _issue_audited_token(
        self, conn: asyncpg.Connection, user_id: str, scope: TokenScope, actor: Actor
    ) -> tuple[str, str]:
        if scope == "admin":
            user = await queries.get_user(conn, user_id=user_id)
            if user is not None and not user["is_admin"]:
                raise Conflict(f"user {user_id!r} is not an admin; an admin token needs one")
        token, token_id = await issue_token(conn, user_id, scope=scope)
        await audit.record(
            conn,
            actor,
            "token.create",
            target_user_id=user_id,
            target=token_id,
            details={"kind": "api", "scope": scope},
        )
        return token, token_id

    async def users(self, limit: int) -> list[dict[str, Any]]:
        rows = await fetch_all(queries.list_users, self.pool, limit=limit)
        return [{**user_dict(r), "has_password": r["has_password"]} for r in rows]

    async def set_admin(self, user_id: str, is_admin: bool, actor: Actor) -> dict[str, Any]:
        """Removing admin rights keeps an admin (see _keep_an_admin)."""
        async with self.pool.acquire() as conn, conn.transaction():
            if not is_admin:
                await _keep_an_admin(conn, user_id, actor, "remove your own admin rights")
            row = await queries.set_admin(conn, user_id=user_id, is_admin=is_admin)
            if row is None:
                raise NotFound(f"no user {user_id!r}")
            await audit.record(
                conn, actor, "user.admin", target_user_id=user_id, details={"admin": is_admin}
            )
        return user_dict(row)

    async def create_token(
        self, user_id: str, actor: Actor, scope: TokenScope = "user"
    ) -> tuple[str, str]:
        """An API token; Conflict for an `admin` one of a user who is not an admin."""
        async with self.pool.acquire() as conn, conn.transaction():
            return await self._issue_audited_token(conn, user_id, scope, actor)

    async def revoke_token(self, token_id: str, actor: Actor) -> None:
        await self._revoke_token(token_id, None, actor)

    async def _revoke_token(self, token_id: str, owner: str | None, actor: Actor) -> None:
        """Revokes the token (only if `owner` holds it, when given); NotFound otherwise."""
        ids = _uuids([token_id])
        if not ids:
            raise NotFound("no such token")
        async with self.pool.acquire() as conn, conn.transaction():
            user_id = await queries.delete_token(conn, token_id=ids[0], user_id=owner)
            if user_id is None:
                raise NotFound("no such token")
            await audit.record(
                conn, actor, "token.revoke", target_user_id=user_id, target=str(ids[0])
            )

    async def user(self, user_id: str) -> dict[str, Any]:
        row = await queries.get_user(self.pool, user_id=user_id)
        if row is None:
            raise NotFound(f"no user {user_id!r}")
        return user_dict(row)

    async def set_disabled(self, user_id: str, disabled: bool, actor: Actor) -> dict[str, Any]:
        """Disabling ends every token, session, invite and device sign-in of the user at once;
        enabling revives none. Disabling keeps an admin (see _keep_an_admin)."""
        async with self.pool.acquire() as conn, conn.transaction():
            if disabled:
                await _keep_an_admin(conn, user_id, actor, "disable yourself")
            row = await queries.set_user_disabled(conn, user_id=user_id, disabled=disabled)
            if row is None:
                raise NotFound(f"no user {user_id!r}")
            action = "user.disable" if disabled else "user.enable"
            await audit.record(conn, actor, action, target_user_id=user_id)
        return user_dict(row)

    async def own_tokens(self, caller: Caller) -> list[dict[str, Any]]:
        rows = await fetch_all(queries.list_tokens, self.pool, user_id=caller.user_id, limit=None)
        return [token_dict(r) for r in rows]

    async def tokens(self, user_id: str | None, limit: int | None = None) -> list[dict[str, Any]]:
        """Every token (an admin's view, for rotation), or one user's; newest first."""
        rows = await fetch_all(queries.list_tokens, self.pool, user_id=user_id, limit=limit)
        return [{"user_id": r["user_id"]} | token_dict(r) for r in rows]

    async def revoke_own_token(self, caller: Caller, token_id: str, actor: Actor) -> None:
        """Another user's token is as unknown as one that never existed."""
        await self._revoke_token(token_id, caller.user_id, actor)

    # ------------------------------------------------------------------ sending

    async def send(self, outgoing: Outgoing, actor: Actor) -> list[dict[str, Any]]:
        """Store for every recipient and queue external deliveries, atomically per request,
        with the audit event of the send; answered once it is committed.

        Idempotency and suppression are decided inside the database (see
        db/functions/send_notification.sql), so concurrent identical webhooks make one row and
        one job at most. A send to a few recipients shares its transaction with the other sends
        waiting at the same moment (server/sending.py); a fan-out runs alone, as does a send
        that failed inside a batch, so that it fails exactly as it would have on its own.
        """
        rows = None
        if (
            outgoing.to is None
            and outgoing.recipients is not None
            and len(outgoing.recipients) <= COALESCED_RECIPIENTS
        ):
            rows = await self._sends.submit((outgoing, actor))
        if rows is None:
            rows = await self._send_alone(outgoing, actor)
        unknown = [r["user_id"] for r in rows if r["outcome"] == "unknown"]
        if unknown and outgoing.to is not None:
            raise UnknownAddresses(unknown)
        if unknown:
            raise UnknownUsers(unknown)
        return _results(rows)

    # ------------------------------------------------------------------ scheduled sends

    async def schedule(
        self, outgoing: Outgoing, when: SendTime, actor: Actor
    ) -> tuple[dict[str, Any], bool] | None:
        """Keep the send until its time, when a worker makes it through send_notification()
        as if it had been sent then (db/functions/timers.sql). Returns (schedule, created):
        an idempotency key (or resource_id) names one schedule, and the same key again
        returns it, unchanged, with created False. None when the time has passed for
        everyone: the caller sends now. Unprocessable for a time over 366 days ahead, and
        UnknownUsers as a send would answer."""
        now = datetime.now(UTC)
        if when.too_far(now):
            raise Unprocessable("the send time may be at most 366 days ahead")
        if when.is_past(now):
            return None
        if outgoing.to is not None:
            count = await self.count_audience(outgoing.to)
            if count.unknown:
                raise UnknownAddresses(count.unknown)
        elif outgoing.recipients is not None:
            count = await self.count_recipients(outgoing.recipients)
            if count.unknown:
                raise UnknownUsers(count.unknown)
        key = outgoing.idempotency_key or (
            f"{outgoing.event_name}:{outgoing.resource_id}" if outgoing.resource_id else None
        )
        async with self.pool.acquire() as conn, conn.transaction():
            row = await queries.create_schedule(
                conn,
                send_at=when.at,
                send_at_local=when.local,
                schedule_key=key,
                user_ids=outgoing.recipients,
                to_addresses=outgoing.to,
                topic=self._topic_of(outgoing),
                event_name=outgoing.event_name,
                title=outgoing.title,
                summary=outgoing.summary,
                body=outgoing.body,
                target_url=outgoing.target_url,
                severity=outgoing.severity,
                data=outgoing.data,
                resource_id=outgoing.resource_id,
                idempotency_key=outgoing.idempotency_key,
                batch_key=outgoing.batch_key,
                **actor.as_params(),
            )
            if row is None:
                existing = await queries.schedule_by_key(conn, schedule_key=key)
                return schedule_dict(existing), False
            created = schedule_dict(row)
            await audit.record(
                conn,
                actor,
                "schedule.create",
                target=created["schedule_id"],
                details={
                    "event_name": outgoing.event_name,
                    "severity": outgoing.severity,
                    "send_at": created.get("send_at"),
                    "send_at_local": created.get("send_at_local"),
                },
            )
        return created, True

    async def schedules(
        self, status: str | None, limit: int, before: str | None
    ) -> tuple[list[dict[str, Any]], str | None]:
        """Schedules newest first, of one status when given; the cursor of the next page."""
        before_ids = _uuids([before]) if before is not None else []
        if before is not None and not before_ids:
            raise InvalidCursor("malformed cursor")
        rows = await fetch_all(
            queries.list_schedules,
            self.pool,
            status=status,
            before=before_ids[0] if before_ids else None,
            limit=limit + 1,
        )
        next_before = str(rows[limit - 1]["schedule_id"]) if len(rows) > limit else None
        return [schedule_dict(r) for r in rows[:limit]], next_before

    async def cancel_schedule(self, schedule_id: str, actor: Actor) -> None:
        """Nothing more of it is sent (a `send_at_local` one may have reached some recipients
        already). NotFound for an unknown id, Conflict once it is sent; a cancelled one stays
        cancelled."""
        ids = _uuids([schedule_id])
        if not ids:
            raise NotFound("no such schedule")
        async with self.pool.acquire() as conn, conn.transaction():
            row = await queries.cancel_schedule(conn, schedule_id=ids[0])
            if row is None:
                raise NotFound("no such schedule")
            if row["changed"]:
                await audit.record(conn, actor, "schedule.cancel", target=str(ids[0]))
                return
            # Read again: a worker may have released it while this waited for its lock.
            status = await queries.schedule_status(conn, schedule_id=ids[0])
        if status == "sent":
            raise Conflict("this scheduled send has been sent")

    @staticmethod
    def _topic_of(outgoing: Outgoing) -> str | None:
        """The notification's topic: the one given, else the first topic of its audience."""
        return outgoing.topic or (outgoing.to and audience_topic(outgoing.to)) or None

    async def _send_alone(self, outgoing: Outgoing, actor: Actor) -> list[asyncpg.Record]:
        rows = await fetch_all(
            queries.send_notification,
            self.pool,
            user_ids=outgoing.recipients,
            event_name=outgoing.event_name,
            title=outgoing.title,
            summary=outgoing.summary,
            body=outgoing.body,
            target_url=outgoing.target_url,
            severity=outgoing.severity,
            data=outgoing.data,
            idempotency_key=outgoing.idempotency_key,
            resource_id=outgoing.resource_id,
            batch_key=outgoing.batch_key,
            max_attempts=self.settings.max_attempts,
            to=outgoing.to,
            topic=self._topic_of(outgoing),
            **actor.as_params(),
        )
        self._sends_committed(rows, everyone=outgoing.recipients is None and outgoing.to is None)
        return rows

    async def send_together(
        self, outgoings: Sequence[Outgoing], to: list[str], actor: Actor
    ) -> list[list[dict[str, Any]]]:
        """Many notifications to one audience `to` (the alerts of one source's payload) in one
        transaction and one statement, with each one's results as send() gives them. The
        audience is resolved once per notification inside the transaction; an unknown address
        stores nothing (UnknownAddresses)."""
        if not outgoings:
            return []
        rows = await self._run_batch(outgoings, [actor] * len(outgoings), to=to)
        per_send = _rows_per_send(rows, len(outgoings))
        for i, send_rows in enumerate(per_send):
            if send_rows and send_rows[0]["outcome"] == "failed":  # runs alone to say why
                per_send[i] = list(await self._send_alone(outgoings[i], actor))
        unknown = sorted(
            {r["user_id"] for send_rows in per_send for r in send_rows if r["outcome"] == "unknown"}
        )
        if unknown:
            raise UnknownAddresses(unknown)
        return [_results(send_rows) for send_rows in per_send]

    async def _send_batch(
        self, sends: Sequence[tuple[Outgoing, Actor]]
    ) -> list[list[asyncpg.Record] | None]:
        """One transaction for all `sends`: each one's rows, or None for a send that failed
        (the others are stored all the same)."""
        rows = await self._run_batch([o for o, _ in sends], [a for _, a in sends], to=None)
        per_send = _rows_per_send(rows, len(sends))
        return [None if r and r[0]["outcome"] == "failed" else r for r in per_send]

    async def _run_batch(
        self, outgoings: Sequence[Outgoing], actors: Sequence[Actor], *, to: list[str] | None
    ) -> list[asyncpg.Record]:
        """send_notifications(): the sends in one transaction, each to its recipients, or all
        to the audience `to`."""
        rows = await fetch_all(
            queries.send_notifications,
            self.pool,
            recipients=[user_id for o in outgoings for user_id in o.recipients or ()],
            recipient_counts=[len(o.recipients or ()) for o in outgoings],
            event_names=[o.event_name for o in outgoings],
            titles=[o.title for o in outgoings],
            summaries=[o.summary for o in outgoings],
            bodies=[o.body for o in outgoings],
            target_urls=[o.target_url for o in outgoings],
            severities=[o.severity for o in outgoings],
            data=[json.dumps(o.data) for o in outgoings],
            idempotency_keys=[o.idempotency_key for o in outgoings],
            resource_ids=[o.resource_id for o in outgoings],
            batch_keys=[o.batch_key for o in outgoings],
            max_attempts=self.settings.max_attempts,
            actor_user_ids=[a.user_id for a in actors],
            actor_token_ids=[a.token_id for a in actors],
            ips=[a.ip for a in actors],
            vias=[a.via for a in actors],
            topics=[o.topic or (to and audience_topic(to)) for o in outgoings],
            to=to,
        )
        self._sends_committed(rows, everyone=False)
        return rows

    def _sends_committed(self, rows: Sequence[Mapping[str, Any]], *, everyone: bool) -> None:
        """The one point after sends committed (a batch, or one send alone, `everyone` for a
        send to all users), with the rows of all of them: what changed for whom is known here,
        and nothing is announced before it is durable."""
        inserted = [r["user_id"] for r in rows if r["outcome"] == "inserted"]
        metrics.NOTIFICATIONS_STORED.inc(len(inserted))
        self._changed(ALL_USERS if everyone else inserted)

    async def close(self) -> None:
        """Finishes (commits and answers) every send already taken and refuses the rest."""
        await self._sends.close()

    async def count_recipients(self, recipients: list[str] | None) -> RecipientCount:
        """Who a send to `recipients` (None: every user) names and would reach."""
        row = await queries.count_recipients(self.pool, user_ids=recipients)
        return RecipientCount(row["known"], row["reached"], list(row["unknown"]))

    async def count_audience(self, to: list[str]) -> RecipientCount:
        """How many people a send to the audience `to` would reach now, each counted once (a
        disabled user is no member of it), and the addresses that name nothing."""
        row = await queries.count_audience(self.pool, to=to)
        return RecipientCount(row["reached"], row["reached"], list(row["unknown"]))

    # ------------------------------------------------------------------ reading

    async def get(self, caller: Caller, notification_id: str) -> Notification:
        ids = _uuids([notification_id])
        row = ids and await queries.get_notification(self.pool, user_id=caller.user_id, id=ids[0])
        if not row:
            raise NotFound("no such notification")
        return notification_object(row)

    async def list_notifications(
        self,
        caller: Caller,
        *,
        unread: bool,
        archived: bool,
        limit: int,
        before: str | None,
        snoozed: bool | None = None,
    ) -> tuple[list[Notification], str | None]:
        """Newest first; `snoozed` True only the snoozed ones (which are read), False none
        of them."""
        before_version = (
            PageCursor.decode(before).before_version if before is not None else MAX_VERSION
        )
        query, where = (
            (queries.list_unread_notifications, {})
            if unread
            else (queries.list_notifications, {"snoozed": snoozed})
        )
        rows = await fetch_all(
            query,
            self.pool,
            user_id=caller.user_id,
            before=before_version,
            archived=archived,
            limit=limit + 1,
            **where,
        )
        next_before = (
            PageCursor(rows[limit - 1]["created_version"]).encode() if len(rows) > limit else None
        )
        return [notification_object(r) for r in rows[:limit]], next_before

    async def unread_count(self, caller: Caller) -> int:
        return await queries.unread_count(self.pool, user_id=caller.user_id)

    async def sync_start(self, caller: Caller, cursor: str | None) -> SyncCursor:
        """Where a sync or an event stream from `cursor` starts. InvalidCursor for a damaged
        one, ResyncRequired for one this database cannot have issued (see sync_cursor_issued)."""
        start = _sync_position(cursor)
        if start != SyncCursor() and not await queries.sync_cursor_issued(
            self.pool, user_id=caller.user_id, after_version=start.version, after_id=start.id
        ):
            raise ResyncRequired()
        return start

    async def sync(self, caller: Caller, cursor: str | None, limit: int) -> SyncPage:
        """The caller's changes after `cursor`, in commit order (see sync_version). The cursor
        is checked as sync_start() checks it, by the statement that reads the page: a poll is
        one round trip after its authentication."""
        after = _sync_position(cursor)
        rows = await fetch_all(
            queries.sync_page,
            self.pool,
            user_id=caller.user_id,
            after_version=after.version,
            after_id=after.id,
            limit=limit + 1,
        )
        if not rows[0]["cursor_issued"]:
            raise ResyncRequired()
        page, _ = sync_page(rows, after, limit)
        return page

    # ------------------------------------------------------------------ changing state

    async def change_one(self, caller: Caller, notification_id: str, action: str) -> Notification:
        """read, unread or archive one notification; idempotent, 404 when not the caller's."""
        change = {
            "read": queries.mark_read,
            "unread": queries.mark_unread,
            "archive": queries.archive,
        }
        ids = _uuids([notification_id])
        if ids and await fetch_all(change[action], self.pool, user_id=caller.user_id, ids=ids):
            self._changed([caller.user_id])
        return await self.get(caller, notification_id)

    async def snooze(self, caller: Caller, notification_id: str, until: datetime) -> Notification:
        """Read now, unread again at `until` (1 minute to 30 days ahead; Unprocessable
        otherwise), when a worker wakes it. NotFound when not the caller's; Conflict for an
        archived one."""
        now = datetime.now(UTC)
        if not SNOOZE_SHORTEST <= until - now <= SNOOZE_LONGEST:
            raise Unprocessable("until must be 1 minute to 30 days ahead")
        ids = _uuids([notification_id])
        if ids and await fetch_all(
            queries.snooze, self.pool, user_id=caller.user_id, id=ids[0], until=until
        ):
            self._changed([caller.user_id])
            return await self.get(caller, notification_id)
        notification = await self.get(caller, notification_id)
        raise (
            Conflict("an archived notification cannot be snoozed")
            if notification["archived_at"]
            else NotFound("no such notification")
        )

    async def unsnooze(self, caller: Caller, notification_id: str) -> Notification:
        """Ends a snooze at once (unread again); nothing changes for one not snoozed."""
        ids = _uuids([notification_id])
        if ids and await fetch_all(queries.unsnooze, self.pool, user_id=caller.user_id, id=ids[0]):
            self._changed([caller.user_id])
        return await self.get(caller, notification_id)

    async def mark_read(self, caller: Caller, ids: list[str]) -> int:
        changed = await fetch_all(
            queries.mark_read, self.pool, user_id=caller.user_id, ids=_uuids(ids)
        )
        if changed:
            self._changed([caller.user_id])
        return len(changed)

    async def read_all_cursor(self, caller: Caller) -> str:
        """A cursor that covers what the caller can see now and nothing later: for read-all,
        and where a live page's stream starts (server/web/live.py)."""
        version = await queries.sync_position(self.pool, user_id=caller.user_id)
        return SyncCursor(version or 0).encode()

    async def mark_all_read(self, caller: Caller, up_to: str | None) -> int:
        # A sync cursor names the last change seen; everything stored at or before it is marked.
        # One from before a restore would mark what arrived since, unseen: it is refused.
        up_to_version = (
            (await self.sync_start(caller, up_to)).version if up_to is not None else MAX_VERSION
        )
        changed = await fetch_all(
            queries.mark_all_read, self.pool, user_id=caller.user_id, up_to_version=up_to_version
        )
        if changed:
            self._changed([caller.user_id])
        return len(changed)

    # ------------------------------------------------------------------ preferences

    async def preferences(self, caller: Caller) -> dict[str, Any]:
        async with self.pool.acquire() as conn:
            row = await queries.get_preferences(conn, user_id=caller.user_id)
            return {**row, "topics": await _topic_preferences(conn, caller.user_id)}

    async def update_preferences(
        self, caller: Caller, changes: Mapping[str, Any], actor: Actor
    ) -> dict[str, Any]:
        """PushTargetRefused when a push URL leads where the push-target rule forbids."""
        if changes.get("push_urls"):
            await check_urls(changes["push_urls"], self.settings.push_allowed_hosts)
        async with self.pool.acquire() as conn, conn.transaction():
            row = await queries.update_preferences(
                conn,
                user_id=caller.user_id,
                in_app_enabled=changes.get("in_app_enabled"),
                email_enabled=changes.get("email_enabled"),
                push_enabled=changes.get("push_enabled"),
                digest_seconds=changes.get("digest_seconds"),
                set_email="email" in changes,
                email=changes.get("email"),
                push_urls=changes.get("push_urls"),
                set_quiet_hours="quiet_hours" in changes,
                quiet_hours=changes.get("quiet_hours"),
                set_timezone="timezone" in changes,
                timezone=changes.get("timezone"),
                set_language="language" in changes,
                language=changes.get("language"),
            )
            # The update above holds the user's preferences row: patches merge one at a time.
            topics = await _topic_preferences(conn, caller.user_id)
            if changes.get("topics"):
                topics = await _merge_topic_preferences(
                    conn, caller.user_id, topics, changes["topics"]
                )
            # Field names only: addresses and push URLs (which may hold tokens) stay out.
            await audit.record(
                conn,
                actor,
                "preferences.update",
                target_user_id=caller.user_id,
                details={"fields": sorted(changes)},
            )
        return {**row, "topics": topics}

    # ------------------------------------------------------------------ unsubscribe

    async def unsubscribe_user(self, token: str) -> str:
        """Whose email an unsubscribe token would turn off (NotFound for an unknown one)."""
        user_id = await queries.unsubscribe_token_user(self.pool, token_hash=hash_token(token))
        if user_id is None:
            raise NotFound("no such unsubscribe link")
        return user_id

    async def unsubscribe(self, token: str, *, ip: str | None) -> str:
        """One click: the token's user gets no more email (until they turn it on in settings)."""
        async with self.pool.acquire() as conn, conn.transaction():
            user_id = await queries.unsubscribe(conn, token_hash=hash_token(token))
            if user_id is None:
                raise NotFound("no such unsubscribe link")
            await audit.record(
                conn,
                Actor(user_id, None, ip, via="unsubscribe"),
                "preferences.update",
                target_user_id=user_id,
                details={"fields": ["email_enabled"]},
            )
        return user_id

    # ------------------------------------------------------------------ deliveries (admin)

    async def deliveries(
        self, status: str, limit: int, user_id: str | None = None
    ) -> list[dict[str, Any]]:
        """Jobs in `status`, newest change first; of one user when `user_id` is given."""
        rows = await fetch_all(
            queries.list_deliveries, self.pool, status=status, limit=limit, user_id=user_id
        )
        return [delivery_dict(r) for r in rows]

    async def retry_delivery(self, delivery_id: str, actor: Actor) -> dict[str, Any]:
        """A failed job back to the queue, its attempts at 0."""
        return await self._change_failed_delivery(
            queries.retry_delivery, "delivery.retry", "retried", delivery_id, actor
        )

    async def dismiss_delivery(self, delivery_id: str, actor: Actor) -> dict[str, Any]:
        """A failed job seen to: out of the failed list and the failed gauge, kept otherwise."""
        return await self._change_failed_delivery(
            queries.dismiss_delivery, "delivery.dismiss", "dismissed", delivery_id, actor
        )

    async def _change_failed_delivery(
        self, query: Any, action: str, done: str, delivery_id: str, actor: Actor
    ) -> dict[str, Any]:
        """Only a failed job changes: NotFound for no such job, Conflict for one not failed."""
        ids = _uuids([delivery_id])
        if not ids:
            raise NotFound("no such delivery")
        async with self.pool.acquire() as conn:
            async with conn.transaction():
                row = await query(conn, id=ids[0])
                if row is not None:
                    await audit.record(
                        conn,
                        actor,
                        action,
                        target_user_id=row["user_id"],
                        target=str(row["id"]),
                        details={"channel": row["channel"]},
                    )
                    return delivery_dict(row)
            status = await queries.delivery_status(conn, id=ids[0])
        if status is None:
            raise NotFound("no such delivery")
        raise Conflict(f"only a failed delivery can be {done}; this one is {status}")

    async def notification_deliveries(self, notification_id: str) -> list[dict[str, Any]]:
        """Why a notification went out on each external channel or not (any user's; the
        delivery rules: server/db/functions/delivery_rules.sql). NotFound for an unknown id."""
        ids = _uuids([notification_id])
        user_id = await queries.notification_owner(self.pool, id=ids[0]) if ids else None
        if user_id is None:
            raise NotFound("no such notification")
        rows = await fetch_all(
            queries.notification_deliveries, self.pool, user_id=user_id, id=ids[0]
        )
        return [delivery_report_dict(row) for row in rows]

    async def delivery_overview(self, user_id: str, limit: int) -> dict[str, Any]:
        """Why a user gets what they get, for the console: the user, their preferences and
        their `limit` newest notifications, each with `deliveries` as notification_deliveries()
        gives them (none for one stored before the reasons were kept). NotFound for no user."""
        user = await self.user(user_id)
        preferences = await queries.get_preferences(self.pool, user_id=user_id)
        recent: dict[str, dict[str, Any]] = {}
        for row in await fetch_all(
            queries.recent_deliveries, self.pool, user_id=user_id, limit=limit
        ):
            notification = recent.setdefault(
                str(row["notification_id"]),
                {
                    "id": str(row["notification_id"]),
                    "title": row["title"],
                    "severity": row["severity"],
                    "created_at": _iso(row["created_at"]),
                    "deliveries": [],
                },
            )
            if row["channel"] is not None:
                notification["deliveries"].append(delivery_report_dict(row))
        return {"user": user, "preferences": dict(preferences), "recent": list(recent.values())}
