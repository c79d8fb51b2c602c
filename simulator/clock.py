"""Simulated VTEX time: real time scaled by a compression factor, or a manual clock for unit tests.

VTEX's schedules are long (hook retries over ~4 days, feed retention up to 14 days, visibility
timeouts of minutes). The simulator measures them on a `Clock` whose seconds are "VTEX seconds":
`CompressedClock(1000)` makes a 240 s visibility timeout last 0.24 real seconds; `ManualClock` only
moves when a test calls `advance`, so time-based behaviour is tested without waiting at all.
"""

from __future__ import annotations

import asyncio
import time
from typing import Protocol


class Clock(Protocol):
    """A monotonic source of VTEX seconds and a way to wait for some of them."""

    def now(self) -> float: ...

    async def sleep(self, seconds: float) -> None: ...


class CompressedClock:
    """Real monotonic time multiplied by `compression` (1.0 = real time)."""

    def __init__(self, compression: float = 1.0) -> None:
        if compression <= 0:
            raise ValueError("time compression must be positive")
        self.compression = compression
        self._origin = time.monotonic()

    def now(self) -> float:
        return (time.monotonic() - self._origin) * self.compression

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(max(0.0, seconds) / self.compression)


class ManualClock:
    """A clock that only moves forward when told to; `sleep` advances it (tests never wait)."""

    def __init__(self, start: float = 0.0) -> None:
        self._now = start

    def now(self) -> float:
        return self._now

    def advance(self, seconds: float) -> None:
        self._now += max(0.0, seconds)

    async def sleep(self, seconds: float) -> None:
        # Let other tasks run first, so that back-off sleeps interleave like real ones would.
        self.advance(seconds)
        await asyncio.sleep(0)
