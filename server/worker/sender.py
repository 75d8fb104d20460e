"""Sends one claimed job on its channel and records the outcome (steps 8-10 of the delivery
rules, server/db/functions/delivery_rules.sql).

Error policy: nothing a send raises escapes. A permanent refusal, or a message that cannot be
rendered, fails the job at once with its reason; a transient failure, or anything unexpected,
is retried with back-off. A result that cannot be recorded is tried again while the database is
away, up to the lock timeout; past that, or on any other error, it is logged as lost and the
job's lease is no longer refreshed, so recovery takes the job back after the lock timeout.
"""

import asyncio
import logging
import time
from collections.abc import Mapping

from server.channels import (
    Envelope,
    Footer,
    PermanentError,
    TransientError,
    Transport,
    render,
)
from server.config import Settings
from server.db import UNAVAILABLE_ERRORS
from server.worker.completions import GroupCommit
from server.worker.leases import LeaseKeeper
from server.worker.metrics import MESSAGES, SEND_DURATION
from server.worker.queue import Job, Queue, retry_delay
from shared import logs
from shared.i18n import use_language

log = logging.getLogger("traybell.worker")


class Sender:
    def __init__(
        self,
        queue: Queue,
        transports: Mapping[str, Transport],
        leases: LeaseKeeper,
        settings: Settings,
    ):
        self.queue = queue
        self.transports = transports
        self.leases = leases
        self.settings = settings
        self.completions = GroupCommit(queue)
        #: Messages this worker sent and recorded.
        self.sent = 0

    async def deliver(self, job: Job) -> None:
        # Each delivery runs in a task of its own, so the id stays with this job's log lines.
        logs.delivery_id.set(str(job.id))
        started = time.perf_counter()
        error, permanent = await self._send(job)
        SEND_DURATION.labels(job.channel).observe(time.perf_counter() - started)
        await self._record(job, error, permanent)

    async def _send(self, job: Job) -> tuple[str | None, bool]:
        """The send's error (None when sent) and whether it is permanent."""
        try:
            if not job.items:
                raise PermanentError("its notifications no longer exist")
            if not job.recipients:
                raise PermanentError(f"the user has no {job.channel} address or turned it off")
            footer = await self._footer(job)
            # The fixed words in the recipient's language; what the sender wrote stays as it is.
            with use_language(job.language or self.settings.default_language):
                message = render(job.items, footer, held_by_quiet_hours=job.held_by_quiet_hours)
            await self.transports[job.channel].send(Envelope(str(job.id), job.recipients, message))
        except PermanentError as exc:
            return str(exc), True
        except TransientError as exc:
            return str(exc), False
        except Exception as exc:
            # An unexpected failure is retried like a transient one: at worst it fails later.
            log.exception("%s delivery %s: unexpected error", job.channel, job.id)
            return f"{type(exc).__name__}: {exc}", False
        return None, False

    async def _footer(self, job: Job) -> Footer:
        """The settings link for every message; an email also gets its one-click unsubscribe."""
        public_url = self.settings.public_url
        if job.channel != "email":
            return Footer(f"{public_url}/settings")
        token = await self.queue.unsubscribe_token(job.user_id)
        return Footer(f"{public_url}/settings", f"{public_url}/unsubscribe/{token}")

    async def _record(self, job: Job, error: str | None, permanent: bool) -> None:
        deadline = time.monotonic() + self.settings.lock_timeout_seconds
        while True:
            try:
                if error is None:
                    outcome = "sent" if await self.completions.complete(job) else None
                else:
                    delay = retry_delay(job.attempts, self.settings.retry_base_seconds)
                    row = await self.queue.fail(
                        job, error, permanent=permanent, retry_seconds=delay
                    )
                    outcome = row["status"] if row else None
                break
            except UNAVAILABLE_ERRORS as exc:
                if time.monotonic() >= deadline:
                    log.error("%s delivery %s: result lost (%s)", job.channel, job.id, exc)
                    MESSAGES.labels(job.channel, "lost").inc()
                    self.leases.drop(job)
                    return
                await asyncio.sleep(1.0)
            except Exception:
                log.exception("%s delivery %s: cannot record the result", job.channel, job.id)
                MESSAGES.labels(job.channel, "lost").inc()
                self.leases.drop(job)
                return
        self.leases.drop(job)
        self._log_outcome(job, outcome, error, permanent)

    def _log_outcome(
        self, job: Job, outcome: str | None, error: str | None, permanent: bool
    ) -> None:
        what = f"{job.channel} delivery {job.id} (user {job.user_id}, attempt {job.attempts})"
        result = {None: "lost", "sent": "sent", "failed": "failed"}.get(outcome, "retry")
        MESSAGES.labels(job.channel, result).inc()
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
