"""The worker loop: wait for due jobs, claim them in batches, send, record, retry, recover."""

import asyncio
import contextlib
import logging
import os
import signal
import socket
import time
from collections import deque
from collections.abc import Mapping

import asyncpg

from server.channels import Outgoing, PermanentError, TransientError, Transport, render
from server.channels.email import EmailTransport
from server.channels.push import PushTransport
from server.config import Settings
from server.db import UNAVAILABLE_ERRORS, create_pool
from server.worker.queue import Job, Queue, retry_delay

log = logging.getLogger("traybell.worker")

CHANNEL = "traybell_deliveries"
#: The safety poll: how often an idle worker looks for due jobs without being woken.
POLL_SECONDS = 1.0
#: Jobs sent at once by one worker (each is one connection to the SMTP server or push target).
CONCURRENCY = 32
#: On SIGTERM/SIGINT, sends in flight get this long to finish before they are given back.
SHUTDOWN_GRACE_SECONDS = 10.0


class Worker:
    """One delivery worker; any number may run against the same database."""

    def __init__(
        self,
        database_url: str,
        settings: Settings,
        *,
        transports: Mapping[str, Transport] | None = None,
        concurrency: int = CONCURRENCY,
        poll_seconds: float = POLL_SECONDS,
    ):
        self.database_url = database_url
        self.settings = settings
        self.concurrency = concurrency
        self.poll_seconds = poll_seconds
        self.name = f"{socket.gethostname()}:{os.getpid()}"
        if transports is None:
            transports = {"push": PushTransport()}
            if settings.smtp_url:
                transports["email"] = EmailTransport(settings.smtp_url, settings.smtp_from)
        self.transports = dict(transports)
        self.channels = sorted(self.transports)
        self.sent = 0
        self._queue: Queue | None = None
        self._held: dict[object, Job] = {}
        #: Claimed jobs not yet started: the next batch, claimed while the current one sends.
        self._waiting: deque[Job] = deque()
        self._tasks: dict[asyncio.Task[None], Job] = {}
        self._completions: list[tuple[Job, asyncio.Future[bool]]] = []
        self._flushes: set[asyncio.Task[None]] = set()
        self._wake = asyncio.Event()
        self._stopping = asyncio.Event()
        self._forced = asyncio.Event()
        self._listener: asyncpg.Connection | None = None
        self._listener_tried = 0.0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop_early = False

    # ---------------------------------------------------------------- control

    def stop(self) -> None:
        """Ask the worker to stop; a second call gives up on the sends in flight. Thread-safe."""
        if self._loop is None:
            self._stop_early = True
            return
        self._loop.call_soon_threadsafe(self._request_stop)

    def _request_stop(self) -> None:
        if self._stopping.is_set():
            self._forced.set()
        self._stopping.set()
        self._wake.set()

    async def run(self) -> None:
        self._loop = asyncio.get_running_loop()
        if self._stop_early:
            self._request_stop()
        self._describe()
        # min_size=0: a database that is down at start is met by the loop's retry, not a crash.
        # The pooled connections never listen, lock advisorily or change session settings (the
        # LISTEN connection is its own), so a release need not reset them: a round trip less.
        pool = await create_pool(
            self.database_url,
            min_size=0,
            max_size=min(10, self.concurrency + 2),
            reset_sessions=False,
        )
        self._queue = Queue(pool, self.settings.public_url)
        heartbeat = asyncio.create_task(self._heartbeat_loop(), name="heartbeat")
        try:
            await self._main_loop()
        finally:
            await self._drain()
            heartbeat.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await heartbeat
            await self._close_listener()
            await pool.close()
            log.info("worker %s stopped after sending %d message(s)", self.name, self.sent)

    def _describe(self) -> None:
        email = self.transports.get("email")
        where = f" via {email.describe()}" if isinstance(email, EmailTransport) else ""
        log.info(
            "worker %s started: channels %s%s; lock timeout %d s, up to %d attempts",
            self.name,
            ", ".join(self.channels),
            where,
            self.settings.lock_timeout_seconds,
            self.settings.max_attempts,
        )
        if "email" not in self.transports:
            log.warning(
                "TRAYBELL_SMTP_URL is not set: email is not sent, and email jobs stay pending "
                "until a worker with SMTP settings runs"
            )

    # ---------------------------------------------------------------- the loop

    async def _main_loop(self) -> None:
        last_recovery = 0.0
        unavailable_since: float | None = None
        while not self._stopping.is_set():
            self._wake.clear()
            busy = False
            try:
                if time.monotonic() - last_recovery >= self.poll_seconds:
                    await self._recover()
                    last_recovery = time.monotonic()
                await self._ensure_listener()
                # Pipelining: the next batch is claimed while the current one sends and its
                # results are recorded, so the sends never wait for a claim's round trip. At
                # most one batch waits; it is claimed once half of it has been started.
                if len(self._waiting) <= self.concurrency // 2:
                    room = self.concurrency - len(self._waiting)
                    jobs, held = await self._queue_or_fail().claim(self.channels, room)
                    for job in jobs:
                        self._held[job.id] = job
                    self._waiting.extend(jobs)
                    self._dispatch()
                    # A full batch means more may be due: claim again without waiting.
                    busy = len(jobs) + held >= room
                if unavailable_since is not None:
                    log.info("database reachable again")
                    unavailable_since = None
            except UNAVAILABLE_ERRORS as exc:
                if unavailable_since is None:
                    unavailable_since = time.monotonic()
                    log.warning(
                        "database unavailable (%s); retrying every %.0f s", exc, self.poll_seconds
                    )
            except asyncpg.PostgresError:
                # A statement the database refused (not an outage): log it, keep the worker up.
                log.exception("worker query failed; trying again after the poll interval")
            if not busy:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), self.poll_seconds)

    def _queue_or_fail(self) -> Queue:
        assert self._queue is not None, "the worker is not running"
        return self._queue

    async def _recover(self) -> None:
        for row in await self._queue_or_fail().recover_stale(self.settings.lock_timeout_seconds):
            log.warning(
                "%s delivery %s (user %s) lost its worker after attempt %d: now %s",
                row["channel"],
                row["id"],
                row["user_id"],
                row["attempts"],
                row["status"],
            )

    def _dispatch(self) -> None:
        """Start waiting jobs while fewer than `concurrency` are sending (not once stopping:
        the jobs still waiting then are given back)."""
        while self._waiting and len(self._tasks) < self.concurrency:
            if self._stopping.is_set():
                return
            self._start(self._waiting.popleft())

    def _start(self, job: Job) -> None:
        task = asyncio.create_task(self._process(job), name=f"delivery {job.id}")
        self._tasks[task] = job
        task.add_done_callback(self._finished)

    def _finished(self, task: asyncio.Task[None]) -> None:
        self._tasks.pop(task, None)
        if not task.cancelled() and task.exception() is not None:
            log.error("delivery task crashed", exc_info=task.exception())
        self._dispatch()
        self._wake.set()

    # ---------------------------------------------------------------- one job

    async def _process(self, job: Job) -> None:
        error: str | None = None
        permanent = False
        try:
            if not job.items:
                raise PermanentError("its notifications no longer exist")
            if not job.recipients:
                raise PermanentError(f"the user has no {job.channel} address or turned it off")
            outgoing = Outgoing(str(job.id), job.recipients, render(job.items))
            await self.transports[job.channel].send(outgoing)
        except PermanentError as exc:
            error, permanent = str(exc), True
        except TransientError as exc:
            error = str(exc)
        except Exception as exc:
            # An unexpected failure is retried like a transient one: at worst it fails later.
            log.exception("%s delivery %s: unexpected error", job.channel, job.id)
            error = f"{type(exc).__name__}: {exc}"
        await self._record(job, error, permanent)

    async def _record(self, job: Job, error: str | None, permanent: bool) -> None:
        """Record the outcome; while the database is away, keep trying (the lease keeps going)."""
        queue = self._queue_or_fail()
        deadline = time.monotonic() + self.settings.lock_timeout_seconds
        while True:
            try:
                if error is None:
                    recorded = await self._complete(job)
                    outcome = "sent" if recorded else None
                else:
                    delay = retry_delay(job.attempts, self.settings.retry_base_seconds)
                    row = await queue.fail(job, error, permanent=permanent, retry_seconds=delay)
                    outcome = row["status"] if row else None
                break
            except UNAVAILABLE_ERRORS as exc:
                if time.monotonic() >= deadline:
                    log.error("%s delivery %s: result lost (%s)", job.channel, job.id, exc)
                    self._held.pop(job.id, None)
                    return
                await asyncio.sleep(1.0)
            except Exception:
                # Unrecorded, the job is no longer refreshed: it is recovered after the timeout.
                log.exception("%s delivery %s: cannot record the result", job.channel, job.id)
                self._held.pop(job.id, None)
                return
        self._held.pop(job.id, None)
        self._log_outcome(job, outcome, error, permanent)

    async def _complete(self, job: Job) -> bool:
        """Record a sent job, together with every other one finished meanwhile: one statement
        for a whole group of results instead of one each (a group commit)."""
        done: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self._completions.append((job, done))
        if len(self._completions) == 1:
            flush = asyncio.create_task(self._flush_completions())
            # The loop keeps only weak references to tasks: hold this one until it is done.
            self._flushes.add(flush)
            flush.add_done_callback(self._flushes.discard)
        return await done

    async def _flush_completions(self) -> None:
        # Yield once so results finishing in this same loop turn join the group.
        await asyncio.sleep(0)
        group, self._completions = self._completions, []
        try:
            recorded = await self._queue_or_fail().complete([job for job, _ in group])
        except Exception as exc:
            for _, done in group:
                if not done.done():
                    done.set_exception(exc)
            return
        for job, done in group:
            # A waiter cancelled by a forced shutdown no longer wants the answer.
            if not done.done():
                done.set_result(job.id in recorded)

    def _log_outcome(
        self, job: Job, outcome: str | None, error: str | None, permanent: bool
    ) -> None:
        what = f"{job.channel} delivery {job.id} (user {job.user_id}, attempt {job.attempts})"
        if outcome is None:
            log.warning("%s: lock lost to another worker; its result stands, not ours", what)
        elif outcome == "sent":
            self.sent += 1
            log.info(
                "%s sent%s", what, f" as a digest of {len(job.items)}" if job.group_key else ""
            )
        elif outcome == "failed":
            reason = "permanent refusal" if permanent else "attempts spent"
            log.warning("%s failed (%s): %s", what, reason, error)
        else:
            log.info("%s will be retried: %s", what, error)

    # ---------------------------------------------------------------- the lease

    async def _heartbeat_loop(self) -> None:
        """Refresh the locks of every held job well within the lock timeout, however slow."""
        interval = max(0.1, self.settings.lock_timeout_seconds / 3)
        while True:
            await asyncio.sleep(interval)
            jobs = list(self._held.values())
            if not jobs:
                continue
            try:
                alive = await self._queue_or_fail().heartbeat(jobs)
            except UNAVAILABLE_ERRORS as exc:
                log.warning("cannot refresh %d lock(s): %s", len(jobs), exc)
                continue
            for job in jobs:
                if job.id not in alive and job.id in self._held:
                    log.warning("%s delivery %s: lock lost to another worker", job.channel, job.id)

    # ---------------------------------------------------------------- LISTEN/NOTIFY

    async def _ensure_listener(self) -> None:
        if self._listener is not None and not self._listener.is_closed():
            return
        # While LISTEN is down the safety poll carries on; reconnect at most once a poll.
        if time.monotonic() - self._listener_tried < self.poll_seconds:
            return
        self._listener_tried = time.monotonic()
        was_lost = self._listener is not None
        self._listener = None
        try:
            conn = await asyncpg.connect(self.database_url, timeout=10)
            await conn.add_listener(CHANNEL, self._notified)
            conn.add_termination_listener(self._listener_lost)
        except UNAVAILABLE_ERRORS as exc:
            log.debug("LISTEN connection failed: %s", exc)
            return
        self._listener = conn
        if was_lost:
            log.info("LISTEN connection back")

    def _notified(self, *_: object) -> None:
        self._wake.set()

    def _listener_lost(self, _: asyncpg.Connection) -> None:
        log.warning(
            "LISTEN connection lost; polling every %.0f s until it is back", self.poll_seconds
        )
        self._wake.set()

    async def _close_listener(self) -> None:
        if self._listener is not None and not self._listener.is_closed():
            # Closing it ourselves is not a loss worth a warning.
            self._listener.remove_termination_listener(self._listener_lost)
            with contextlib.suppress(*UNAVAILABLE_ERRORS):
                await self._listener.close(timeout=5)

    # ---------------------------------------------------------------- shutdown

    async def _drain(self) -> None:
        """Let sends in flight finish within the grace period, then give back the rest: the
        jobs claimed but not started yet go back at once."""
        # Nothing more starts (see _dispatch): what waits goes back now, for other workers.
        waiting = list(self._waiting)
        self._waiting.clear()
        await self._give_back(waiting)
        if self._tasks:
            await self._finish_sends()
        await self._give_back(list(self._held.values()))

    async def _give_back(self, jobs: list[Job]) -> None:
        if not jobs:
            return
        try:
            released = await self._queue_or_fail().release(jobs)
            log.info("gave %d unstarted or unfinished job(s) back to the queue", len(released))
        except UNAVAILABLE_ERRORS as exc:
            log.warning(
                "could not give back %d job(s) (%s): recovered after the lock timeout",
                len(jobs),
                exc,
            )
        for job in jobs:
            self._held.pop(job.id, None)

    async def _finish_sends(self) -> None:
        log.info(
            "stopping: waiting up to %.0f s for %d send(s)",
            SHUTDOWN_GRACE_SECONDS,
            len(self._tasks),
        )
        forced = asyncio.create_task(self._forced.wait())
        deadline = time.monotonic() + SHUTDOWN_GRACE_SECONDS
        while self._tasks and not self._forced.is_set():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            await asyncio.wait(
                [*self._tasks, forced], timeout=remaining, return_when=asyncio.FIRST_COMPLETED
            )
        forced.cancel()
        unfinished = list(self._tasks)
        for task in unfinished:
            task.cancel()
        await asyncio.gather(*unfinished, return_exceptions=True)


def run_worker(database_url: str, settings: Settings) -> int:
    """Run a worker until SIGTERM or SIGINT (the second one stops without waiting for sends)."""
    try:
        worker = Worker(database_url, settings)
    except ValueError as exc:
        # A malformed TRAYBELL_SMTP_URL: say so plainly rather than with a traceback.
        log.error("%s", exc)
        return 2

    async def main() -> None:
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, worker.stop)
        await worker.run()

    asyncio.run(main())
    return 0
