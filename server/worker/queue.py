"""The delivery queue in PostgreSQL, as the worker sees it: claim, heartbeat, record, recover.

Every statement is a named query in server/db/queries.sql. Changes to a claimed job are fenced
by the lock token its claim drew: each call here reports which jobs it actually changed. Which
jobs go out when (steps 4-7 of the delivery rules) is written in
server/db/functions/delivery_rules.sql; this module judges quiet hours in the user's timezone.
"""

import random
import secrets
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import asyncpg

from server.config import Settings
from server.db import fetch_all, queries
from server.identity import hash_token
from server.wakeups import announcement_payload
from shared.privacy import ExternalText, external_text
from shared.quiet_hours import quiet_until

#: The longest a failed job waits before its next attempt.
MAX_RETRY_SECONDS = 30 * 60
#: Retry delays are shortened by up to this share, at random, so failures do not retry in step.
RETRY_JITTER = 0.2
#: At most this many scheduled sends are released by one poll, each a subtransaction of the
#: claim's (past 64, PostgreSQL stops caching them in shared memory and snapshots slow down).
#: A poll that released this many polls again at once.
TIMER_BATCH = 48
#: The group of the digest that collects what quiet hours held (see worker_hold).
QUIET_HOURS_GROUP = "quiet"


def retry_delay(attempts: int, base_seconds: float, rng: random.Random | None = None) -> float:
    """min(30 min, base x 2^attempts), less up to 20 % jitter (never above the cap)."""
    delay = min(MAX_RETRY_SECONDS, base_seconds * 2 ** min(attempts, 32))
    return delay * (1 - (rng or random).uniform(0, RETRY_JITTER))


@dataclass
class Job:
    """A claimed delivery and what it carries."""

    id: UUID
    user_id: str
    channel: str
    group_key: str | None
    is_critical: bool
    attempts: int
    max_attempts: int
    lock_token: UUID
    #: The user's address for this channel now (delivery_recipients() in delivery_rules.sql);
    #: empty when the user removed it or turned the channel off since the job was queued.
    recipients: tuple[str, ...]
    items: list[ExternalText] = field(default_factory=list)
    #: The language the user reads Traybell in; None: the server's default.
    language: str | None = None

    @property
    def held_by_quiet_hours(self) -> bool:
        """A digest of what the user's quiet hours held, sent when they ended."""
        return self.group_key == QUIET_HOURS_GROUP


def _job(row: asyncpg.Record, public_url: str) -> Job:
    """A claimed job from its row: the job's columns and its notifications' fields as arrays."""
    items: list[ExternalText] = []
    if row["notification_ids"] is not None:
        items = [
            external_text(
                {"id": notification_id, "title": title, "summary": summary, "severity": severity},
                public_url,
            )
            for notification_id, title, summary, severity in zip(
                row["notification_ids"],
                row["titles"],
                row["summaries"],
                row["severities"],
                strict=True,
            )
        ]
    return Job(
        id=row["id"],
        user_id=row["user_id"],
        channel=row["channel"],
        group_key=row["group_key"],
        is_critical=row["is_critical"],
        attempts=row["attempts"],
        max_attempts=row["max_attempts"],
        lock_token=row["lock_token"],
        recipients=tuple(row["recipients"]),
        items=items,
        language=row["language"],
    )


@dataclass
class Claimed:
    """What one poll of the queue did."""

    #: The jobs this worker now holds, in queue order (oldest first).
    jobs: list[Job]
    #: How many due jobs quiet hours held instead.
    held: int
    #: Jobs whose holder stopped refreshing the lock, back in the queue (or failed): `id`,
    #: `user_id`, `channel`, `attempts` and their new status as `recovered`.
    recovered: list[asyncpg.Record]
    #: Scheduled sends released by this poll (functions/timers.sql).
    timers_released: int = 0
    #: Users whose notifications the released timers changed (a send, a snooze that ended).
    changed_users: list[str] = field(default_factory=list)


def _pairs(jobs: Sequence[Job]) -> dict[str, list[UUID]]:
    return {"ids": [job.id for job in jobs], "lock_tokens": [job.lock_token for job in jobs]}


class Queue:
    def __init__(self, pool: asyncpg.Pool, settings: Settings):
        self.pool = pool
        self.public_url = settings.public_url
        self.lock_timeout_seconds = float(settings.lock_timeout_seconds)
        self.max_attempts = settings.max_attempts
        #: The per-minute limits, applied by the claim (claim_deliveries.sql).
        self.per_minute = {
            "email_per_minute": settings.email_per_minute,
            "push_per_minute": settings.push_per_minute,
        }

    async def claim(self, channels: Sequence[str], limit: int) -> Claimed:
        """Recover expired leases and claim up to `limit` due jobs (0: only recover).

        One statement does both: all an idle worker runs. Only jobs quiet hours may hold need
        a second look: those outside them are claimed by a second statement, the others held.
        Jobs beyond their user's per-minute limit are not returned: the claim folded them into
        the user's overflow digest. The same statement releases due timers (at most
        TIMER_BATCH scheduled sends, and due snoozes).
        """
        rows = await fetch_all(
            queries.worker_claim,
            self.pool,
            channels=list(channels),
            limit=limit,
            lock_timeout_seconds=self.lock_timeout_seconds,
            timer_limit=TIMER_BATCH,
            max_attempts=self.max_attempts,
            **self.per_minute,
        )
        timers = next(row for row in rows if row["timers_released"] is not None)
        rows = [row for row in rows if row["timers_released"] is None]
        recovered = [row for row in rows if row["recovered"] is not None]
        judged = [row for row in rows if row["quiet_hours"] is not None]
        jobs = [
            _job(row, self.public_url)
            for row in rows
            if row["quiet_hours"] is None and row["recovered"] is None
        ]
        released = (timers["timers_released"], list(timers["changed_users"]))
        if not judged:
            return Claimed(jobs, 0, recovered, *released)
        now = datetime.now(UTC)
        held: dict[UUID, datetime] = {}
        for row in judged:
            until = quiet_until(row["quiet_hours"], now)
            if until is not None:
                held[row["id"]] = until
        if held:
            await queries.worker_hold(self.pool, ids=list(held), untils=list(held.values()))
        take = [row["id"] for row in judged if row["id"] not in held]
        if take:
            more = await fetch_all(
                queries.worker_claim_judged, self.pool, ids=take, **self.per_minute
            )
            jobs += [_job(row, self.public_url) for row in more]
            # Claim order is queue order (oldest first); keep it for the caller.
            order = {row["id"]: n for n, row in enumerate(rows)}
            jobs.sort(key=lambda job: order[job.id])
        return Claimed(jobs, len(held), recovered, *released)

    async def announce(self, users: Sequence[str]) -> None:
        """Wake the event streams of `users`, whose notifications a released timer changed
        (after its commit, in a statement of its own: server/wakeups.py)."""
        await queries.announce_changes(self.pool, payload=announcement_payload(set(users)))

    async def unsubscribe_token(self, user_id: str) -> str:
        """A new one-click unsubscribe token for one email to the user; only its hash is kept."""
        token = secrets.token_urlsafe(32)
        await queries.create_unsubscribe_token(
            self.pool, token_hash=hash_token(token), user_id=user_id
        )
        return token

    async def heartbeat(self, jobs: Sequence[Job]) -> set[UUID]:
        """Refresh the locks of `jobs`; returns the ids still held."""
        rows = await fetch_all(queries.worker_heartbeat, self.pool, **_pairs(jobs))
        return {row["id"] for row in rows}

    async def complete(self, jobs: Sequence[Job]) -> set[UUID]:
        """Record `jobs` as sent; returns the ids recorded (the others lost their lock)."""
        rows = await fetch_all(queries.worker_complete, self.pool, **_pairs(jobs))
        return {row["id"] for row in rows}

    async def fail(
        self, job: Job, error: str, *, permanent: bool, retry_seconds: float
    ) -> dict[str, Any] | None:
        """Record a failed attempt; returns the job's new status, or None if it lost its lock."""
        row = await queries.worker_fail(
            self.pool,
            id=job.id,
            lock_token=job.lock_token,
            error=error[:2000],
            permanent=permanent,
            retry_seconds=float(retry_seconds),
        )
        return dict(row) if row else None

    async def release(self, jobs: Sequence[Job]) -> set[UUID]:
        """Give unfinished jobs back to the queue at once (shutdown)."""
        rows = await fetch_all(queries.worker_release, self.pool, **_pairs(jobs))
        return {row["id"] for row in rows}
