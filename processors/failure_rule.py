"""Tell a failure of one order from an outage: who may be dead-lettered and who must wait.

An event whose OMS read keeps failing is either *poison* (OMS answers 500 or hangs for that order only,
while it serves the others) or the victim of an *outage* (OMS or the network is down for everyone).
Dead-lettering in an outage would flood the dead-letter topic with events that only needed patience;
waiting forever on poison stalls the partition's committed offset. The rule:

    a failing order is *isolated* when, since its first failure (and within the last `window_s`
    seconds), OMS reads of *other* orders succeeded at least `min_successes` times and make up at
    least `min_success_ratio` of those other orders' outcomes.

During an outage every order fails, so no order is isolated: successes from before the outage do not
count (they precede the failure; outcomes are counted by whole seconds, so those in the very second of
the first failure do), and a recovery does not flip that at once: the outage's failures
stay in the count, so the first successes after it do not make the ratio.
A 429 is the account's budget, never one order's fault, so callers do not report it here. With no
other traffic at all nothing is isolated either: the worker cannot tell, and waits (the oldest
unfinished event's age alerts). Pure bookkeeping: per-second buckets of successes and failures, plus
the failure times of the orders that currently fail (few, except in an outage, when it is at most the
lanes in flight).
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable


class FailureRule:
    """Outcomes of OMS reads per order over a sliding window; see the module docstring."""

    def __init__(
        self,
        *,
        window_s: float,
        min_success_ratio: float,
        min_successes: int = 3,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._window = max(1.0, window_s)
        self._ratio = min_success_ratio
        self._min_successes = max(1, min_successes)
        self._clock = clock
        #: [second, successes, failures], oldest first.
        self._buckets: deque[list[int]] = deque()
        #: order -> times of its failures still in the window (removed at its next success).
        self._failing: dict[str, deque[float]] = {}

    def success(self, key: str) -> None:
        """Record a successful read of order `key`."""
        self._bucket()[1] += 1
        self._failing.pop(key, None)

    def failure(self, key: str) -> None:
        """Record a failed read of order `key` (5xx, timeout, connection error; not a 429)."""
        now = self._clock()
        self._bucket(now)[2] += 1
        self._failing.setdefault(key, deque()).append(now)

    def isolated(self, key: str, since: float | None = None) -> bool:
        """Whether order `key` fails while other orders are served (then it may be dead-lettered).

        `since`: the clock time of the order's first failure; only outcomes from then on count.
        """
        now = self._clock()
        self._trim(now)
        start = -1 if since is None else int(since)
        counted = [b for b in self._buckets if b[0] >= start]
        successes = sum(b[1] for b in counted)
        own = self._failing.get(key, ())
        mine = sum(1 for t in own if now - t < self._window and int(t) >= start)
        failures = max(0, sum(b[2] for b in counted) - mine)
        if successes < self._min_successes:
            return False
        return successes / (successes + failures) >= self._ratio

    def _bucket(self, now: float | None = None) -> list[int]:
        now = self._clock() if now is None else now
        second = int(now)
        if not self._buckets or self._buckets[-1][0] != second:
            self._trim(now)
            self._buckets.append([second, 0, 0])
        return self._buckets[-1]

    def _trim(self, now: float) -> None:
        oldest = now - self._window
        while self._buckets and self._buckets[0][0] + 1 <= oldest:
            self._buckets.popleft()
        for key in [k for k, times in self._failing.items() if times and now - times[-1] >= self._window]:
            del self._failing[key]
        for times in self._failing.values():
            while times and now - times[0] >= self._window:
                times.popleft()
