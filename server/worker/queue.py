"""The delivery queue in PostgreSQL, as the worker sees it: claim, heartbeat, record, recover.

Every statement is a named query in server/db/queries.sql. Changes to a claimed job are fenced
by the lock token its claim drew: each call here reports which jobs it actually changed.
"""

import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import asyncpg

from server.db import fetch_all, queries
from server.worker.quiet_hours import quiet_until
from shared.privacy import ExternalText, external_text

#: The longest a failed job waits before its next attempt.
MAX_RETRY_SECONDS = 30 * 60
#: Retry delays are shortened by up to this share, at random, so failures do not retry in step.
RETRY_JITTER = 0.2


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
    #: The user's address for this channel now (one email, or the push URLs); empty when the
    #: user removed it or turned the channel off since the job was queued.
    recipients: tuple[str, ...]
    items: list[ExternalText] = field(default_factory=list)


def _recipients(row: asyncpg.Record) -> tuple[str, ...]:
    if row["channel"] == "email":
        return (row["email"],) if row["email_enabled"] and row["email"] else ()
    return tuple(row["push_urls"] or ()) if row["push_enabled"] else ()


def _pairs(jobs: Sequence[Job]) -> dict[str, list[UUID]]:
    return {"ids": [job.id for job in jobs], "lock_tokens": [job.lock_token for job in jobs]}


class Queue:
    def __init__(self, pool: asyncpg.Pool, public_url: str):
        self.pool = pool
        self.public_url = public_url

    async def claim(self, channels: Sequence[str], limit: int) -> tuple[list[Job], int]:
        """Claim up to `limit` due jobs; returns them and how many quiet hours held instead."""
        now = datetime.now(UTC)
        async with self.pool.acquire() as conn, conn.transaction():
            candidates = await fetch_all(
                queries.worker_claim_candidates, conn, channels=list(channels), limit=limit
            )
            held: dict[UUID, datetime] = {}
            for row in candidates:
                if not row["is_critical"]:
                    until = quiet_until(row["quiet_hours"], now)
                    if until is not None:
                        held[row["id"]] = until
            if held:
                await queries.worker_hold(conn, ids=list(held), untils=list(held.values()))
            take = [row["id"] for row in candidates if row["id"] not in held]
            if not take:
                return [], len(held)
            rows = await fetch_all(queries.worker_claim, conn, ids=take)
            jobs = {
                row["id"]: Job(
                    id=row["id"],
                    user_id=row["user_id"],
                    channel=row["channel"],
                    group_key=row["group_key"],
                    is_critical=row["is_critical"],
                    attempts=row["attempts"],
                    max_attempts=row["max_attempts"],
                    lock_token=row["lock_token"],
                    recipients=_recipients(row),
                )
                for row in rows
            }
            items = await fetch_all(
                queries.worker_items,
                conn,
                delivery_ids=list(jobs),
                user_ids=sorted({job.user_id for job in jobs.values()}),
            )
        for item in items:
            jobs[item["delivery_id"]].items.append(external_text(dict(item), self.public_url))
        # Claim order is queue order (oldest first); keep it for the caller.
        return [jobs[row["id"]] for row in rows], len(held)

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

    async def recover_stale(self, lock_timeout_seconds: float) -> list[asyncpg.Record]:
        """Return jobs whose holder stopped refreshing the lock to the queue."""
        return await fetch_all(
            queries.worker_recover_stale,
            self.pool,
            lock_timeout_seconds=float(lock_timeout_seconds),
        )
