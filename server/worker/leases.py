"""The leases of the jobs a worker holds: refreshed by a heartbeat, given back on shutdown.

Error policy: nothing here raises. A lease that cannot be refreshed or given back is logged and
left alone; if the holder really is gone, recovery returns the job after the lock timeout. The
heartbeat runs until the worker stops, whatever one refresh meets (an outage, a statement the
database refused, a bug): a heartbeat that died would let every job it held be sent twice.
"""

import asyncio
import logging
from collections.abc import Iterable
from uuid import UUID

from server.db import UNAVAILABLE_ERRORS
from server.worker.queue import Job, Queue

log = logging.getLogger("traybell.worker")


class LeaseKeeper:
    """The jobs this worker holds, from their claim until their result is recorded."""

    def __init__(self, queue: Queue, lock_timeout_seconds: float):
        self.queue = queue
        #: Well within the lock timeout, so one late or failed refresh loses no lease.
        self.interval = max(0.1, lock_timeout_seconds / 3)
        self._held: dict[UUID, Job] = {}

    def hold(self, jobs: Iterable[Job]) -> None:
        for job in jobs:
            self._held[job.id] = job

    def drop(self, job: Job) -> None:
        self._held.pop(job.id, None)

    def held(self) -> list[Job]:
        return list(self._held.values())

    async def keep(self) -> None:
        """The heartbeat: refresh every held lease, however slow the sends, until cancelled."""
        while True:
            await asyncio.sleep(self.interval)
            await self.refresh()

    async def refresh(self) -> None:
        jobs = self.held()
        if not jobs:
            return
        try:
            alive = await self.queue.heartbeat(jobs)
        except UNAVAILABLE_ERRORS as exc:
            log.warning("cannot refresh %d lock(s): %s", len(jobs), exc)
            return
        except Exception:
            log.exception(
                "refreshing %d lock(s) failed; the heartbeat tries again in %.1f s",
                len(jobs),
                self.interval,
            )
            return
        for job in jobs:
            if job.id not in alive and job.id in self._held:
                log.warning("%s delivery %s: lock lost to another worker", job.channel, job.id)

    async def give_back(self, jobs: list[Job]) -> None:
        """Return jobs this worker will not finish to the queue at once, for other workers."""
        if not jobs:
            return
        try:
            released = await self.queue.release(jobs)
            log.info("gave %d unstarted or unfinished job(s) back to the queue", len(released))
        except Exception as exc:
            log.warning(
                "could not give back %d job(s) (%s): recovered after the lock timeout",
                len(jobs),
                exc,
                # An outage explains itself; anything else needs its traceback.
                exc_info=not isinstance(exc, UNAVAILABLE_ERRORS),
            )
        for job in jobs:
            self.drop(job)
