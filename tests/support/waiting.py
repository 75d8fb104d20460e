"""Waiting on a condition in tests: poll it, fail with a message after a generous timeout.

The timeout only stops a hung test; nothing asserts how fast the condition came true.
"""

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

T = TypeVar("T")


def wait_until(predicate: Callable[[], T], timeout: float = 60, what: str = "condition") -> T:
    """Poll `predicate` until it returns something truthy, and return that."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.02)  # the poll interval; the condition, not the clock, ends the wait


async def wait_until_async(
    predicate: Callable[[], Awaitable[T]], timeout: float = 60, what: str = "condition"
) -> T:
    """`wait_until` inside an event loop, for a predicate that is itself a coroutine."""
    deadline = time.monotonic() + timeout
    while True:
        value = await predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        await asyncio.sleep(0.02)  # the poll interval, as above
