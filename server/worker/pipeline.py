"""Pipelining: at most `concurrency` sends run at once, and the next batch is claimed while the
current one sends, so the sends never wait for a claim's round trip. On shutdown what has not
started is handed back at once and the sends in flight get a grace period.

Error policy: a send task that crashes (a bug: the sender records every outcome itself) is
logged and the others go on. Nothing starts once the worker is stopping.
"""

import asyncio
import logging
import time
from collections import deque
from collections.abc import Callable, Coroutine
from typing import Any

from server.worker.queue import Job

log = logging.getLogger("traybell.worker")


class Pipeline:
    def __init__(
        self,
        deliver: Callable[[Job], Coroutine[Any, Any, None]],
        concurrency: int,
        *,
        stopping: asyncio.Event,
        on_finished: Callable[[], None],
    ):
        self.deliver = deliver
        self.concurrency = concurrency
        self.stopping = stopping
        #: Told when a send ends, so that the next batch can be claimed.
        self.on_finished = on_finished
        #: Claimed jobs not started yet: the next batch, claimed while the current one sends.
        self._waiting: deque[Job] = deque()
        self._sending: dict[asyncio.Task[None], Job] = {}

    def room(self) -> int:
        """How many jobs to claim now: at most one batch waits, and the next is claimed once
        half of it has started."""
        if len(self._waiting) > self.concurrency // 2:
            return 0
        return self.concurrency - len(self._waiting)

    def add(self, jobs: list[Job]) -> None:
        self._waiting.extend(jobs)
        self._start_waiting()

    def take_waiting(self) -> list[Job]:
        """The jobs that have not started, which will not start now (on shutdown)."""
        waiting = list(self._waiting)
        self._waiting.clear()
        return waiting

    def _start_waiting(self) -> None:
        while self._waiting and len(self._sending) < self.concurrency:
            if self.stopping.is_set():
                return
            job = self._waiting.popleft()
            task = asyncio.create_task(self.deliver(job), name=f"delivery {job.id}")
            self._sending[task] = job
            task.add_done_callback(self._finished)

    def _finished(self, task: asyncio.Task[None]) -> None:
        self._sending.pop(task, None)
        if not task.cancelled() and task.exception() is not None:
            log.error("delivery task crashed", exc_info=task.exception())
        self._start_waiting()
        self.on_finished()

    async def finish(self, grace_seconds: float, forced: asyncio.Event) -> None:
        """Let the sends in flight finish within the grace period, or until `forced`; cancel
        the rest (their jobs are still held, for the caller to give back)."""
        if not self._sending:
            return
        log.info("stopping: waiting up to %.0f s for %d send(s)", grace_seconds, len(self._sending))
        forced_wait = asyncio.create_task(forced.wait())
        deadline = time.monotonic() + grace_seconds
        while self._sending and not forced.is_set():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            await asyncio.wait(
                [*self._sending, forced_wait],
                timeout=remaining,
                return_when=asyncio.FIRST_COMPLETED,
            )
        forced_wait.cancel()
        unfinished = list(self._sending)
        for task in unfinished:
            task.cancel()
        await asyncio.gather(*unfinished, return_exceptions=True)
