"""Group commit of sent jobs: one statement records every send that finished meanwhile, instead
of one round trip each.

Error policy: a group that cannot be recorded hands the error to each of its waiters, which
decide (see the sender); the group commit itself never stops taking results.
"""

import asyncio

from server.worker.queue import Job, Queue


class GroupCommit:
    def __init__(self, queue: Queue):
        self.queue = queue
        self._waiting: list[tuple[Job, asyncio.Future[bool]]] = []
        #: The loop keeps only weak references to tasks: the flushes under way are held here.
        self._flushes: set[asyncio.Task[None]] = set()

    async def complete(self, job: Job) -> bool:
        """Record `job` as sent with the others of its group; False when it lost its lock."""
        done: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self._waiting.append((job, done))
        if len(self._waiting) == 1:
            flush = asyncio.create_task(self._flush())
            self._flushes.add(flush)
            flush.add_done_callback(self._flushes.discard)
        return await done

    async def _flush(self) -> None:
        # Yield once so results finishing in this same loop turn join the group.
        await asyncio.sleep(0)
        group, self._waiting = self._waiting, []
        try:
            recorded = await self.queue.complete([job for job, _ in group])
        except Exception as exc:
            for _, done in group:
                if not done.done():
                    done.set_exception(exc)
            return
        for job, done in group:
            # A waiter cancelled by a forced shutdown no longer wants the answer.
            if not done.done():
                done.set_result(job.id in recorded)
