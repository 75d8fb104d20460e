"""Housekeeping: the workers prune what nothing reads any more (sent deliveries past
TRAYBELL_DELIVERY_RETENTION_DAYS, spent rate-limit windows, expired sessions, invites and
device codes, old sign-in attempts), so no operator has to write a cron line for it.

Small batches, each its own short transaction, so no lock is held for long; one worker at a
time (a transaction-level advisory lock: a worker that finds it taken leaves the round to the
other). Error policy: a failed round is logged and tried again next time."""

import asyncio
import contextlib
import logging

import asyncpg

from server.db import UNAVAILABLE_ERRORS, queries

log = logging.getLogger("traybell.worker")

BATCH = 500
#: How often a worker looks for something to prune.
INTERVAL_SECONDS = 600.0


async def prune(pool: asyncpg.Pool, retention_days: int, batch: int = BATCH) -> int:
    """One round: batches until nothing is left (or another worker holds the lock); returns the
    rows pruned."""
    pruned = 0
    while True:
        async with pool.acquire() as conn, conn.transaction():
            row = await queries.prune_batch(conn, retention_days=retention_days, batch=batch)
        pruned += row["pruned"]
        if not row["held"] or row["most"] < batch:
            return pruned


async def keep_tidy(pool: asyncpg.Pool, retention_days: int, stopping: asyncio.Event) -> None:
    """Rounds every INTERVAL_SECONDS until `stopping` is set."""
    while not stopping.is_set():
        try:
            pruned = await prune(pool, retention_days)
            if pruned:
                log.info("housekeeping pruned %d row(s)", pruned)
        except (*UNAVAILABLE_ERRORS, asyncpg.PostgresError) as exc:
            log.warning("housekeeping round failed (%s); trying again later", exc)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stopping.wait(), INTERVAL_SECONDS)
