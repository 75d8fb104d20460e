"""Delivery worker throughput: drain a queue of push jobs with a no-op transport.

Beside it, in the same run and on the same database (PostgreSQL's durable defaults, as users
run it), the baseline: a bare `FOR UPDATE SKIP LOCKED` claim-and-ack loop with the same number
of jobs in flight (CONCURRENCY: four loops of eight), which sends nothing and records nothing
but the status. The ratio says what the
worker's bookkeeping (lease tokens, the rate limit, quiet hours, items, fenced results) costs
over the least a queue can do. The worker claims up to CONCURRENCY jobs a statement and keeps
one claimed batch waiting while the current one sends. It runs in a process of its own, started
against a parked queue; the clock starts when the queue becomes due (which wakes it through
NOTIFY) and includes the harness's 10 ms completion poll, which the baseline does not pay. The
two alternate DRAIN_ROUNDS times and the better run of each counts.

The scale-out figure drains the same queue with two worker processes beside one.

The schedule figure: SCHEDULES scheduled sends (one info notification to one bench user each)
due in the same second, released by two worker processes (started and listening before the
clock starts; a release is found by the next safety poll, at most a second later). Its
baseline, in the same run on the same database: the same sends made directly through
send_notification(), from two connections at once, one statement each.

The email figure drains EMAIL_JOBS email jobs (one per user) through a worker process with its
real email transport, into an aiosmtpd sink in a process of its own on loopback. Its baseline,
in the same run and against the same sink: a bare aiosmtplib loop that builds the same messages
the way the worker does and sends them one after another over one connection. The ratio says
what the worker's queue, pipeline and connection handling cost over the least a sender of
these messages can do. The two run EMAIL_ROUNDS times, alternating, and the better run of each
counts, so that a burst of load on a shared machine does not decide the ratio. Two extra rows:
the same drain against the loop with its messages built before its clock starts (SMTP alone:
building a MIME message with the standard library costs about as much CPU as sending it on
loopback), and the drain with the transport held to one connection.
"""

import asyncio
import logging
import multiprocessing
import time
from pathlib import Path
from typing import Any

import aiosmtplib
import aiosql
from aiosmtpd.controller import Controller

from server.audit import CLI
from server.channels import Envelope, Footer, render
from server.channels.email import EmailTransport
from server.db import create_pool, fetch_all, queries
from server.worker import Worker
from shared.privacy import ExternalText
from tests.support.live import create_users_directly, test_settings
from tests.support.pg import free_port

SQL = aiosql.from_path(
    Path(__file__).with_name("worker_bench.sql"), "asyncpg", mandatory_parameters=False
)
CONCURRENCY = 32
#: The drain and its baseline run this often, alternating; the better run of each counts (a
#: single pair of runs on a shared machine gave 0.26 in one run and 1.01 minutes later).
DRAIN_ROUNDS = 2
#: The worker should keep at least 0.8 of the bare loop's pace.
TARGET = "ratio >= 0.8"  # the target: worker drain / bare claim-and-ack loop
#: Email jobs drained to the loopback SMTP sink, in the quick run too (the issue's size).
EMAIL_JOBS = 2000
SENDER = "traybell@localhost"
EMAIL_TARGET = "ratio >= 0.8"  # the target: worker email drain / raw aiosmtplib loop
#: The headline pair runs this often, alternating; the better run of each counts.
EMAIL_ROUNDS = 2


class NoopTransport:
    async def send(self, envelope: Envelope) -> None:
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
    asyncio.run(_send(database_url, sends))


async def _send(database_url: str, sends: int, user_ids: list[str] | None = None) -> None:
    """`sends` warnings to `user_ids` (None: to every user)."""
    pool = await create_pool(database_url, min_size=1, max_size=1)
    try:
        for n in range(sends):
            await fetch_all(
                queries.send_notification,
                pool,
                user_ids=user_ids,
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
                to=None,
                topic=None,
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


def _worker_process(database_url: str, smtp_url: str | None, connections: int | None) -> None:
    """A worker process of its own: with `smtp_url`, its real email transport (held to
    `connections` if given), else the no-op transport on both channels."""
    logging.getLogger("traybell.worker").setLevel(logging.WARNING)
    settings = test_settings(smtp_url=smtp_url, worker_concurrency=CONCURRENCY)
    transports = None
    if smtp_url is None:
        noop = NoopTransport()
        transports = {"email": noop, "push": noop}
    elif connections is not None:
        transports = {"email": EmailTransport(smtp_url, SENDER, connections=connections)}
    worker = Worker(database_url, settings, transports=transports)
    asyncio.run(worker.run())


async def _processes(
    database_url: str,
    jobs: int,
    count: int,
    smtp_url: str | None = None,
    connections: int | None = None,
) -> float:
    """Jobs per second of `count` worker processes, timed from the moment the parked queue
    becomes due (the processes have started and are listening by then)."""
    spawn = multiprocessing.get_context("spawn")
    workers = [
        spawn.Process(
            target=_worker_process, args=(database_url, smtp_url, connections), daemon=True
        )
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
    baseline = one = 0.0
    for _ in range(DRAIN_ROUNDS):
        await _reset(database_url)
        baseline = max(baseline, await _baseline(database_url, jobs))
        one = max(one, await _processes(database_url, jobs, 1))
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


# ---------------------------------------------------------------- scheduled sends

#: Schedules due in the same second (the issue's size), in the quick run too.
SCHEDULES = 10_000
SCHEDULE_TARGET = "ratio <= 2"  # the target: release time / direct send time


async def _direct_sends(database_url: str, user_ids: list[str], count: int) -> float:
    """Seconds for `count` one-recipient sends through send_notification(), two at once."""
    pool = await create_pool(database_url, min_size=2, max_size=2)

    async def sender(first: int) -> None:
        async with pool.acquire() as conn:
            for n in range(first, count, 2):
                await fetch_all(
                    queries.send_notification,
                    conn,
                    user_ids=[user_ids[n % len(user_ids)]],
                    event_name="bench.direct",
                    title=f"Direct benchmark notification {n}",
                    summary=None,
                    body="",
                    target_url=None,
                    severity="info",
                    data={},
                    idempotency_key=None,
                    resource_id=None,
                    batch_key=None,
                    max_attempts=5,
                    to=None,
                    topic=None,
                    **CLI.as_params(),
                )

    try:
        started = time.perf_counter()
        await asyncio.gather(sender(0), sender(1))
        return time.perf_counter() - started
    finally:
        await pool.close()


async def _scheduled_release(database_url: str, count: int) -> float:
    """Seconds from `count` schedules becoming due in the same second to the last released,
    by two worker processes."""
    spawn = multiprocessing.get_context("spawn")
    workers = [
        spawn.Process(target=_worker_process, args=(database_url, None, None), daemon=True)
        for _ in range(2)
    ]
    pool = await create_pool(database_url, min_size=1, max_size=1)
    try:
        async with pool.acquire() as conn:
            await SQL.clear_schedules(conn)
            await SQL.park_schedules(conn, count=count)
            for process in workers:
                process.start()
            for _ in range(3000):  # at most 30 s for the processes to start
                if await SQL.listening_workers(conn) >= len(workers):
                    break
                await asyncio.sleep(0.01)
            started = time.perf_counter()
            await SQL.release_schedules(conn)
            while await SQL.unreleased(conn):
                await asyncio.sleep(0.01)
            return time.perf_counter() - started
    finally:
        for process in workers:
            process.terminate()
            process.join(10)
        await pool.close()


async def _measure_schedules(database_url: str) -> list[dict[str, Any]]:
    pool = await create_pool(database_url, min_size=1, max_size=1)
    try:
        user_ids = [r["user_id"] for r in await fetch_all(SQL.bench_users, pool)]
    finally:
        await pool.close()
    direct = await _direct_sends(database_url, user_ids, SCHEDULES)
    released = await _scheduled_release(database_url, SCHEDULES)
    return [
        {
            "name": f"{SCHEDULES:,} schedules due in one second, released by 2 workers",
            "value": round(released, 3),
            "unit": "s",
            "baseline": round(direct, 3),
            "ratio": round(released / direct, 3),
            "target": SCHEDULE_TARGET,
        }
    ]


# ---------------------------------------------------------------- email over SMTP


class SmtpSink:
    """An aiosmtpd handler that takes every message unread, counting messages and sessions
    in values shared with the benchmark's process."""

    def __init__(self, messages: Any, sessions: Any):
        self.messages = messages
        self.sessions = sessions

    async def handle_EHLO(self, server, session, envelope, hostname, responses):
        session.host_name = hostname
        with self.sessions.get_lock():
            self.sessions.value += 1
        return responses

    async def handle_DATA(self, server, session, envelope):
        with self.messages.get_lock():
            self.messages.value += 1
        return "250 OK"


def _sink_process(port: int, messages: Any, sessions: Any, ready: Any, stop: Any) -> None:
    controller = Controller(SmtpSink(messages, sessions), hostname="127.0.0.1", port=port)
    controller.start()
    ready.set()
    stop.wait()
    controller.stop()


class Sink:
    """The SMTP sink in a process of its own, so that it shares no interpreter with a sender."""

    def __init__(self) -> None:
        spawn = multiprocessing.get_context("spawn")
        self.port = free_port()
        self.url = f"smtp://127.0.0.1:{self.port}"
        self.messages = spawn.Value("i", 0)
        self.sessions = spawn.Value("i", 0)
        ready, self._stop = spawn.Event(), spawn.Event()
        self._process = spawn.Process(
            target=_sink_process,
            args=(self.port, self.messages, self.sessions, ready, self._stop),
            daemon=True,
        )
        self._process.start()
        if not ready.wait(30):
            raise RuntimeError("the SMTP sink did not start")

    def counts(self) -> tuple[int, int]:
        """Messages and sessions since the last call."""
        counts = (self.messages.value, self.sessions.value)
        self.messages.value = self.sessions.value = 0
        return counts

    def stop(self) -> None:
        self._stop.set()
        self._process.join(10)


def _mail_users() -> list[str]:
    return [f"bench-mail-{n:05}" for n in range(EMAIL_JOBS)]


def _address(user_id: str) -> str:
    return f"{user_id}@example.com"


async def _clear_queue(database_url: str) -> None:
    pool = await create_pool(database_url, min_size=1, max_size=1)
    try:
        async with pool.acquire() as conn:
            await SQL.clear_queue(conn)
    finally:
        await pool.close()


def _seed_email(database_url: str) -> None:
    """Only email jobs in the queue: one warning to each of EMAIL_JOBS users with email on."""
    asyncio.run(_clear_queue(database_url))
    users = _mail_users()
    create_users_directly(
        database_url,
        users,
        preferences_of=lambda user: {"email_enabled": True, "email": _address(user)},
    )
    asyncio.run(_send(database_url, 1, users))


def _envelopes() -> list[Envelope]:
    """What the worker renders for each job, with a footer of the same shape."""
    public_url = test_settings().public_url
    envelopes = []
    for n, user in enumerate(_mail_users()):
        item = ExternalText(
            "Benchmark notification 0", "a summary", "warning", f"{public_url}/n/{n}"
        )
        footer = Footer(f"{public_url}/settings", f"{public_url}/unsubscribe/token-{n}")
        envelopes.append(Envelope(f"bench-{n}", (_address(user),), render([item], footer)))
    return envelopes


async def _raw_smtp(sink: Sink, *, build_in_clock: bool) -> float:
    """Messages per second of one aiosmtplib connection sending them one after another, each
    built as the worker builds it: in the clock, or all before it starts."""
    build = EmailTransport(sink.url, SENDER).build
    envelopes = _envelopes()
    prebuilt = [] if build_in_clock else [build(message) for message in envelopes]
    client = aiosmtplib.SMTP(hostname="127.0.0.1", port=sink.port)
    started = time.perf_counter()
    await client.connect()
    for n, message in enumerate(envelopes):
        email = build(message) if build_in_clock else prebuilt[n]
        await client.send_message(email, sender=SENDER, recipients=list(message.recipients))
    await client.quit()
    return len(envelopes) / (time.perf_counter() - started)


def _drained(sink: Sink, what: str) -> int:
    """The sessions a drain used, after checking that every message arrived once."""
    messages, sessions = sink.counts()
    if messages != EMAIL_JOBS:
        raise RuntimeError(f"{what}: {messages} message(s) reached the sink, not {EMAIL_JOBS}")
    return sessions


def _measure_email(database_url: str) -> list[dict[str, Any]]:
    _seed_email(database_url)
    sink = Sink()
    try:
        raw = worker = 0.0
        for _ in range(EMAIL_ROUNDS):
            raw = max(raw, asyncio.run(_raw_smtp(sink, build_in_clock=True)))
            _drained(sink, "the raw loop")
            worker = max(worker, asyncio.run(_processes(database_url, EMAIL_JOBS, 1, sink.url)))
            connections = _drained(sink, "the worker")
        smtp_only = asyncio.run(_raw_smtp(sink, build_in_clock=False))
        _drained(sink, "the raw loop of built messages")
        single = asyncio.run(_processes(database_url, EMAIL_JOBS, 1, sink.url, connections=1))
        _drained(sink, "the worker on one connection")
    finally:
        sink.stop()
    name = f"drain {EMAIL_JOBS:,} email jobs to a loopback aiosmtpd"
    return [
        {
            "name": name,
            "value": round(worker, 1),
            "unit": "jobs/s",
            "baseline": round(raw, 1),
            "ratio": round(worker / raw, 3),
            "target": EMAIL_TARGET,
            "smtp_connections": connections,
        },
        {
            "name": "  the same, baseline: messages built before its clock (SMTP alone)",
            "value": round(worker, 1),
            "unit": "jobs/s",
            "baseline": round(smtp_only, 1),
            "ratio": round(worker / smtp_only, 3),
            "target": "-",
        },
        {
            "name": "  the same, the worker held to one SMTP connection",
            "value": round(single, 1),
            "unit": "jobs/s",
            "baseline": round(raw, 1),
            "ratio": round(single / raw, 3),
            "target": "-",
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
            rows = asyncio.run(_measure(database_url, users, sends))
            rows += asyncio.run(_measure_schedules(database_url))
            return rows + _measure_email(database_url)
        return _on_throwaway_cluster(users, sends)
    finally:
        worker_log.setLevel(level)


def _on_throwaway_cluster(users: int, sends: int) -> list[dict[str, Any]]:
    from server.db.migrate import migrate_url
    from tests.support.pg import PostgresCluster

    cluster = PostgresCluster(durable=True)  # what users run: fsync and full-page writes on
    cluster.start()
    try:
        asyncio.run(migrate_url(cluster.url()))
        _seed(cluster.url(), users, sends)
        rows = asyncio.run(_measure(cluster.url(), users, sends))
        rows += asyncio.run(_measure_schedules(cluster.url()))
        return rows + _measure_email(cluster.url())
    finally:
        cluster.destroy()


if __name__ == "__main__":
    import sys

    for row in run(quick="--quick" in sys.argv):
        print(row)
