"""How busy this process's CPU has been lately, as a fraction of one core.

The writer's transaction linger depends on what limits the worker (processors.runtime): its one core,
or its lane slots. A cheap sample of the process's CPU time against the wall clock tells them apart.
"""

from __future__ import annotations

import time
from collections.abc import Callable


class CpuLoad:
    """Fraction of one core this process used over the last completed window of `window_s` seconds."""

    def __init__(
        self,
        window_s: float = 1.0,
        *,
        cpu_clock: Callable[[], float] = time.process_time,
        wall_clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._window_s = window_s
        self._cpu_clock = cpu_clock
        self._wall_clock = wall_clock
        self._cpu_start = cpu_clock()
        self._wall_start = wall_clock()
        self._busy = 0.0

    def busy(self) -> float:
        """Return the last window's load (0.0 until a window has passed); cheap enough per transaction."""
        wall = self._wall_clock()
        elapsed = wall - self._wall_start
        if elapsed >= self._window_s:
            cpu = self._cpu_clock()
            self._busy = (cpu - self._cpu_start) / elapsed
            self._cpu_start, self._wall_start = cpu, wall
        return self._busy
