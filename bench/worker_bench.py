"""Delivery worker throughput: drain a queue of push jobs with a no-op transport.

Beside it, in the same run and on the same database, the baseline: a bare `FOR UPDATE SKIP
LOCKED` claim-and-ack loop with the same number of jobs in flight (CONCURRENCY: four loops of
eight), which sends nothing and records nothing but the status. The ratio says what the
worker's bookkeeping (lease tokens, the rate limit, quiet hours, items, fenced results) costs
over the least a queue can do. The worker claims up to CONCURRENCY jobs a statement and keeps
one claimed batch waiting while the current one sends. It runs in a process of its own, started
against a parked queue; the clock starts when the queue becomes due (which wakes it through
NOTIFY) and includes the harness's 10 ms completion poll, which the baseline does not pay.

The scale-out figure drains the same queue with two worker processes beside one.
"""

import asyncio
import logging
import multiprocessing
import time
from pathlib import Path
from typing import Any

import aiosql

from server.audit import CLI
from server.channels import Outgoing
from server.db import create_pool, fetch_all, queries
from server.worker import Worker
from tests.support.live import create_users_directly, test_settings

SQL = aiosql.from_path(
    Path(__file__).with_name("worker_bench.sql"), "asyncpg", mandatory_parameters=False
)
CONCURRENCY = 32
#: The worker should keep at least 0.8 of the bare loop's pace.
TARGET = "ratio >= 0.8"  # the target: worker drain / bare claim-and-ack loop


class NoopTransport:
    async def send(self, outgoing: Outgoing) -> None:
        return None

    async def close(self) -> None:
        return None


def _seed(database_url: str, users: int, sends: int) -> None:
    """`users` users with push on, then `sends` notifications to all: users x sends jobs."""
    create_users_directly(
        database_url,
        [f"bench-{n:05}" for n in range(users)],
        # Never contacted: the benchmark's transport sends nothing.
        preferences_of=lambda _: {"push_enabled": True, "push_urls": ["json://127.0.0.1:9/bench"]},
    )
    asyncio.run(_send_to_all(database_url, sends))


async def _send_to_all(database_url: str, sends: int) -> None:
    pool = await create_pool(database_url, min_size=1, max_size=1)
    try:
        for n in range(sends):
            await fetch_all(
                queries.send_notification,
                pool,
                user_ids=None,
                event_name="bench.event",
                title=f"Benchmark notification {n}",
                summary="a summary",
                body="",
                target_url=None,
                severity="warning",
                data={},
                idempotency_key=None,
                resource_id=None,
                batch_key=None,
                max_attempts=5,
                **CLI.as_params(),
            )
    finally:
        await pool.close()


async def _reset(database_url: str) -> None:
    pool = await create_pool(database_url, min_size=1, max_size=1)
    try:
        async with pool.acquire() as conn:
            await SQL.reset_queue(conn)
            await SQL.vacuum(conn)
    finally:
        await pool.close()


async def _baseline(database_url: str, jobs: int) -> float:
    """Jobs per second of CONCURRENCY loops, each claiming a batch and acking it."""
    pool = await create_pool(database_url, min_size=4, max_size=10)
    batch = 8

    async def loop() -> None:
        while True:
            async with pool.acquire() as conn:
                ids = [r["id"] for r in await fetch_all(SQL.baseline_claim, conn, limit=batch)]
            if not ids:
                return
            async with pool.acquire() as conn:
                await SQL.baseline_ack(conn, ids=ids)

    try:
        started = time.perf_counter()
        await asyncio.gather(*(loop() for _ in range(CONCURRENCY // batch)))
        elapsed = time.perf_counter() - started
        async with pool.acquire() as conn:
            assert await SQL.unsent(conn) == 0
    finally:
        await pool.close()
    return jobs / elapsed


def _worker_process(database_url: str) -> None:
    """A worker process of its own, with the no-op transport (for the scale-out figure)."""
    logging.getLogger("traybell.worker").setLevel(logging.WARNING)
    noop = NoopTransport()
    worker = Worker(
        database_url,
        test_settings(),
        transports={"email": noop, "push": noop},
        concurrency=CONCURRENCY,
    )
    asyncio.run(worker.run())


async def _processes(database_url: str, jobs: int, count: int) -> float:
    """Jobs per second of `count` worker processes, timed from the moment the parked queue
    becomes due (the processes have started and are listening by then)."""
    spawn = multiprocessing.get_context("spawn")
    workers = [
        spawn.Process(target=_worker_process, args=(database_url,), daemon=True)
        for _ in range(count)
    ]
    pool = await create_pool(database_url, min_size=1, max_size=1)
    try:
        async with pool.acquire() as conn:
            await SQL.park_queue(conn)
            for process in workers:
                process.start()
            for _ in range(3000):  # at most 30 s for the processes to start
                if await SQL.listening_workers(conn) >= count:
                    break
                await asyncio.sleep(0.01)
            started = time.perf_counter()
            await SQL.release_queue(conn)
            while await SQL.unsent(conn):
                await asyncio.sleep(0.01)
            elapsed = time.perf_counter() - started
    finally:
        for process in workers:
            process.terminate()
            process.join(10)
        await pool.close()
    return jobs / elapsed


async def _measure(database_url: str, users: int, sends: int) -> list[dict[str, Any]]:
    jobs = users * sends
    await _reset(database_url)
    baseline = await _baseline(database_url, jobs)
    one = await _processes(database_url, jobs, 1)
    two = await _processes(database_url, jobs, 2)
    return [
        {
            "name": f"worker drain, {jobs:,} push jobs, no-op transport",
            "value": round(one, 1),
            "unit": "jobs/s",
            "baseline": round(baseline, 1),
            "ratio": round(one / baseline, 3),
            "target": TARGET,
        },
        {
            "name": "scale-out: 2 worker processes vs 1, same drain",
            "value": round(two, 1),
            "unit": "jobs/s",
            "baseline": round(one, 1),
            "ratio": round(two / one, 3),
            "target": "ratio >= 1.3",
        },
    ]


def run(quick: bool, database_url: str | None = None) -> list[dict[str, Any]]:
    """The benchmark's rows; without `database_url` it runs on a throwaway PostgreSQL."""
    users, sends = (200, 10) if quick else (1000, 10)
    # A log line per job would measure the logging, not the queue.
    worker_log = logging.getLogger("traybell.worker")
    level = worker_log.level
    worker_log.setLevel(logging.WARNING)
    try:
        if database_url is not None:
            _seed(database_url, users, sends)
            return asyncio.run(_measure(database_url, users, sends))
        return _on_throwaway_cluster(users, sends)
    finally:
        worker_log.setLevel(level)


def _on_throwaway_cluster(users: int, sends: int) -> list[dict[str, Any]]:
    from server.db.migrate import migrate_url
    from tests.support.pg import PostgresCluster

    cluster = PostgresCluster()
    cluster.start()
    try:
        asyncio.run(migrate_url(cluster.url()))
        _seed(cluster.url(), users, sends)
        return asyncio.run(_measure(cluster.url(), users, sends))
    finally:
        cluster.destroy()


if __name__ == "__main__":
    import sys

    for row in run(quick="--quick" in sys.argv):
        print(row)
