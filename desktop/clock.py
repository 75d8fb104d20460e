"""The one clock the tray reads, so that tests can move time (a machine that slept, a pause
that ran out) without waiting for it."""

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True)
class Clock:
    #: Seconds since the epoch; jumps when the machine sleeps or the time is set.
    wall: Callable[[], float] = time.time
    #: Seconds that never go back; stops (or lags) while the machine sleeps.
    monotonic: Callable[[], float] = time.monotonic

    def now(self) -> datetime:
        """The wall clock as an aware local time, as the tray shows and compares times."""
        return datetime.fromtimestamp(self.wall()).astimezone()
