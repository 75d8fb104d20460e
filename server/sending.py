"""Coalesced round trips: the sends (or token lookups) waiting in this process at one moment go
to the database together, and each request is answered only after that round trip.

Sends: one transaction with one commit for the batch, each request answered after the commit.

A send to one user holds that user's row lock until its commit is on disk, so one user's sends
otherwise run one commit (one fsync) at a time; in a batch, the sends waiting behind that lock
share a single commit instead. There is no timer: a send that finds a batch slot free starts a
batch at once (a lone send on an idle server waits for nothing), and the sends that arrive
while every slot is busy wait for the next batch, which takes up to `max_batch` of them. The
window of a batch is therefore the time the batches before it take, and grows with the load.

Token lookups: one statement looks up every token waiting. A request joins only a batch that
has not started, so its lookup always runs after the request arrived: it sees every revocation
committed before, exactly as a lookup of its own would.

What a batch does is the caller's `run_batch` (the service's rules); this module only gathers,
runs and answers. A batch that raises (the database went away) gives its exception to every
request of the batch. After `close()` no send is taken (SendsClosed), and every one taken
before is finished: none is dropped unanswered.
"""

import asyncio
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from typing import Generic, TypeVar

Item = TypeVar("Item")
Result = TypeVar("Result")


class SendsClosed(RuntimeError):
    """The server is stopping and takes no more sends."""


class Coalescer(Generic[Item, Result]):
    def __init__(
        self,
        run_batch: Callable[[Sequence[Item]], Awaitable[Sequence[Result]]],
        *,
        max_batch: int,
        max_in_flight: int,
    ):
        """`run_batch` gets the items of one batch and returns one result per item, in order."""
        self._run_batch = run_batch
        self._max_batch = max_batch
        self._max_in_flight = max_in_flight
        self._waiting: deque[tuple[Item, asyncio.Future[Result]]] = deque()
        self._in_flight: set[asyncio.Task[None]] = set()
        self._closed = False

    async def submit(self, item: Item) -> Result:
        """The item's result, once the batch that took it has committed."""
        if self._closed:
            raise SendsClosed("the server is stopping")
        future: asyncio.Future[Result] = asyncio.get_running_loop().create_future()
        self._waiting.append((item, future))
        self._start_batches()
        return await future

    def _start_batches(self) -> None:
        while self._waiting and len(self._in_flight) < self._max_in_flight:
            batch: list[tuple[Item, asyncio.Future[Result]]] = []
            while self._waiting and len(batch) < self._max_batch:
                item, future = self._waiting.popleft()
                if not future.done():  # a request that went away before its batch: not sent
                    batch.append((item, future))
            if batch:
                task = asyncio.get_running_loop().create_task(self._run(batch))
                self._in_flight.add(task)

    async def _run(self, batch: list[tuple[Item, asyncio.Future[Result]]]) -> None:
        try:
            results = await self._run_batch([item for item, _ in batch])
        except BaseException as exc:
            # Cancelled only when the loop stops without close(): the requests are told so.
            given = exc if isinstance(exc, Exception) else SendsClosed("the server stopped")
            for _, future in batch:
                if not future.done():
                    future.set_exception(given)
            if not isinstance(exc, Exception):
                raise
        else:
            for (_, future), result in zip(batch, results, strict=True):
                if not future.done():
                    future.set_result(result)
        finally:
            self._in_flight.discard(asyncio.current_task())  # type: ignore[arg-type]
            self._start_batches()

    async def close(self) -> None:
        """Refuses new sends and returns once every send taken so far is answered."""
        self._closed = True
        while self._in_flight:
            await asyncio.wait(set(self._in_flight))
