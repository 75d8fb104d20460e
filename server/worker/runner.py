"""The worker: wires the parts together and runs the poll cycle (recover expired leases, claim
due jobs, hand them to the pipeline), then shuts down cleanly.

The parts, each with one error policy: `leases` (the heartbeat; never stops), `waker`
(LISTEN/NOTIFY and the safety poll; never raises), `pipeline` (sends at once, and shutdown),
`sender` (one job's send and its recorded result), `completions` (group commit), `queue` (the
statements), `housekeeping` (pruning; a failed round waits for the next). Error policy of the
cycle itself: a database outage is reported once and the cycle tries again every poll; a
statement the database refused is logged and tried again after the poll interval. Anything else
is a bug and stops the worker.
"""

import asyncio
import contextlib
import logging
import os
import signal
import socket
import time
from collections.abc import Mapping

import asyncpg

from server.channels import Transport
from server.channels.email import EmailTransport
from server.channels.push import PushTransport
from server.config import Settings
from server.db import UNAVAILABLE_ERRORS, create_pool
from server.worker import housekeeping, metrics
from server.worker.leases import LeaseKeeper
from server.worker.pipeline import Pipeline
from server.worker.queue import TIMER_BATCH, Queue
from server.worker.sender import Sender
from server.worker.waker import Waker

log = logging.getLogger("traybell.worker")


class Worker:
    """One delivery worker; any number may run against the same database.

    Its sizes are settings (server/config.py): `worker_concurrency` jobs sent at once (email
    shares a few kept connections: channels/email.py), the safety poll of an idle worker every
    `worker_poll_seconds`, `worker_shutdown_grace_seconds` for the sends in flight on
    SIGTERM/SIGINT before they are given back, and a pool of at most `pool_size` connections.
    """

    def __init__(
        self,
        database_url: str,
        settings: Settings,
        *,
        transports: Mapping[str, Transport] | None = None,
    ):
        self.database_url = database_url
        self.settings = settings
        self.concurrency = settings.worker_concurrency
        self.poll_seconds = settings.worker_poll_seconds
        self.name = f"{socket.gethostname()}:{os.getpid()}"
        if transports is None:
            transports = {"push": PushTransport(settings.push_allowed_hosts)}
            if settings.smtp_url:
                transports["email"] = EmailTransport(settings.smtp_url, settings.smtp_from)
        self.transports = dict(transports)
        self.channels = sorted(self.transports)
        self.waker = Waker(settings.session_url(database_url), self.poll_seconds)
        self._stopping = asyncio.Event()
        self._forced = asyncio.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop_early = False
        self._ended = False

    # ---------------------------------------------------------------- control

    def stop(self) -> None:
        """Ask the worker to stop; a second call gives up on the sends in flight. Thread-safe;
        does nothing once the worker has stopped."""
        if self._ended:
            return
        if self._loop is None:
            self._stop_early = True
            return
        with contextlib.suppress(RuntimeError):  # the loop closed meanwhile: stopped already
            self._loop.call_soon_threadsafe(self._request_stop)

    def _request_stop(self) -> None:
        if self._stopping.is_set():
            self._forced.set()
        self._stopping.set()
        self.waker.wake()

    async def run(self) -> None:
        self._loop = asyncio.get_running_loop()
        if self._stop_early:
            self._request_stop()
        self._describe()
        # min_size=0: a database that is down at start is met by the cycle's retry, not a
        # crash. The pooled connections never listen, lock advisorily or change session
        # settings (the LISTEN connection is its own), so a release need not reset them.
        pool = await create_pool(
            self.database_url,
            min_size=0,
            # The sends' results and the claim: never more than that at once.
            max_size=min(self.settings.pool_size, self.concurrency + 2),
            reset_sessions=False,
            statement_cache=self.settings.statement_cache,
        )
        queue = Queue(pool, self.settings)
        leases = LeaseKeeper(queue, self.settings.lock_timeout_seconds)
        sender = Sender(queue, self.transports, leases, self.settings)
        pipeline = Pipeline(
            sender.deliver,
            self.concurrency,
            stopping=self._stopping,
            on_finished=self.waker.wake,
        )
        heartbeat = asyncio.create_task(leases.keep(), name="heartbeat")
        tidying = asyncio.create_task(
            housekeeping.keep_tidy(pool, self.settings.delivery_retention_days, self._stopping),
            name="housekeeping",
        )
        try:
            await self._cycle(queue, leases, pipeline)
        finally:
            # Nothing more starts: what waits goes back now, for other workers; the sends in
            # flight get the grace period; what is still held after that goes back too; then
            # the transports let go of their connections (email says QUIT).
            await leases.give_back(pipeline.take_waiting())
            await pipeline.finish(self.settings.worker_shutdown_grace_seconds, self._forced)
            await leases.give_back(leases.held())
            for transport in self.transports.values():
                await transport.close()
            for task in (heartbeat, tidying):
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            await self.waker.close()
            await pool.close()
            self._ended = True
            log.info("worker %s stopped after sending %d message(s)", self.name, sender.sent)

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

    # ---------------------------------------------------------------- the poll cycle

    async def _cycle(self, queue: Queue, leases: LeaseKeeper, pipeline: Pipeline) -> None:
        unavailable_since: float | None = None
        last_poll = 0.0
        while not self._stopping.is_set():
            self.waker.reset()
            busy = False
            try:
                await self.waker.listen()
                room = pipeline.room()
                # One statement recovers expired leases and claims what there is room for: all
                # an idle poll costs. With no room (the pipeline is full) it only recovers, and
                # only once a poll interval, not at every send that finishes meanwhile.
                if room or time.monotonic() - last_poll >= self.poll_seconds:
                    last_poll = time.monotonic()
                    claimed = await queue.claim(self.channels, room)
                    self._log_recovered(claimed.recovered)
                    leases.hold(claimed.jobs)
                    pipeline.add(claimed.jobs)
                    # A full batch means more may be due: claim again without waiting.
                    busy = room > 0 and len(claimed.jobs) + claimed.held >= room
                    busy = busy or claimed.timers_released >= TIMER_BATCH
                    if claimed.changed_users:
                        await queue.announce(claimed.changed_users)
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
                log.exception("worker query failed; trying again after the poll interval")
            if not busy:
                await self.waker.sleep()

    def _log_recovered(self, recovered: list[asyncpg.Record]) -> None:
        for row in recovered:
            log.warning(
                "%s delivery %s (user %s) lost its worker after attempt %d: now %s",
                row["channel"],
                row["id"],
                row["user_id"],
                row["attempts"],
                row["recovered"],
            )


def run_worker(database_url: str, settings: Settings, *, metrics_port: int | None = None) -> int:
    """Run a worker until SIGTERM or SIGINT (the second one stops without waiting for sends);
    with `metrics_port`, its metrics are served on 127.0.0.1:metrics_port."""
    try:
        worker = Worker(database_url, settings)
    except ValueError as exc:
        # A malformed TRAYBELL_SMTP_URL: say so plainly rather than with a traceback.
        log.error("%s", exc)
        return 2
    if metrics_port is not None:
        try:
            metrics.serve(metrics_port)
        except OSError as exc:
            log.error("cannot serve metrics on 127.0.0.1:%d: %s", metrics_port, exc)
            return 2
        log.info("metrics on http://127.0.0.1:%d/metrics", metrics_port)

    async def main() -> None:
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, worker.stop)
        await worker.run()

    asyncio.run(main())
    return 0
