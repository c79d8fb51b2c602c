"""One OMS budget per VTEX account, shared by every worker of a group, and cut back on 429s.

VTEX allows 6,000 Get-order calls per minute per *account* (REFERENCE.md section 1), whatever the number
of callers. A fixed per-worker limit cannot follow an autoscaler (N workers x the limit), so each worker
takes a *share* of the account's budget: the share of the input partitions it owns
(`owned / total`, set again on every rebalance). Partitions carry the work, so the shares sum to the
whole budget whatever the number of workers, and a worker with more partitions gets more calls.

On top of it an adaptive cut: a 429 (another integration on the same account, or a rebalance that
briefly gave two workers the same partition) halves this worker's rate, at most once per
`CUT_INTERVAL_S`, down to `MIN_CUT`; every `RECOVER_INTERVAL_S` without a 429 gives back
`RECOVER_STEP` of the share (additive increase, multiplicative decrease). `Retry-After` itself is
honoured by the client (every caller waits it out). The limiter is a token bucket holding one second
of the current rate, so a burst never exceeds a second's worth and waiting callers are spaced evenly.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Final

#: Lowest fraction of its share a worker is cut to by 429s.
MIN_CUT: Final = 0.1
#: 429s within this many seconds of a cut are the same episode: one cut.
CUT_INTERVAL_S: Final = 2.0
#: Seconds without a 429 for each step back up, and the step (fraction of the share).
RECOVER_INTERVAL_S: Final = 10.0
RECOVER_STEP: Final = 0.1
#: The lowest rate ever used (a worker owning no partition still answers the odd call slowly).
FLOOR_PER_S: Final = 0.01


class AccountBudget:
    """This worker's part of the account's OMS budget: account rate x partition share x 429 cut."""

    def __init__(self, account_per_s: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.account_per_s = max(account_per_s, FLOOR_PER_S)
        self._share = 1.0
        self._cut = 1.0
        self._cut_at = -1e18
        self._clock = clock

    @property
    def share(self) -> float:
        return self._share

    def set_share(self, owned: int, total: int) -> None:
        """Take `owned / total` of the account's budget (called on every rebalance)."""
        self._share = 0.0 if total <= 0 else min(1.0, max(0, owned) / total)

    def throttled(self) -> None:
        """OMS answered 429: halve the rate (once per episode)."""
        self._recover()
        now = self._clock()
        if now - self._cut_at < CUT_INTERVAL_S:
            return
        self._cut = max(MIN_CUT, self._cut / 2)
        self._cut_at = now

    def _recover(self) -> None:
        if self._cut >= 1.0:
            return
        steps = int((self._clock() - self._cut_at) / RECOVER_INTERVAL_S)
        if steps > 0:
            self._cut = min(1.0, self._cut + steps * RECOVER_STEP)
            self._cut_at += steps * RECOVER_INTERVAL_S

    def rate(self) -> float:
        """Calls per second this worker may make now."""
        self._recover()
        return max(FLOOR_PER_S, self.account_per_s * self._share * self._cut)


class BudgetLimiter:
    """A token bucket whose rate follows `rate()` at every call; `async with limiter:` takes one call."""

    def __init__(
        self,
        rate: Callable[[], float],
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self._rate = rate
        self._clock = clock
        self._sleep = sleep
        self._tokens = 1.0
        self._updated = clock()
        self._lock = asyncio.Lock()

    async def acquire(self) -> None:
        async with self._lock:  # waiters queue in order; each leaves with one token
            while True:
                rate = self._rate()
                now = self._clock()
                self._tokens = min(max(rate, 1.0), self._tokens + (now - self._updated) * rate)
                self._updated = now
                if self._tokens >= 1.0 - 1e-9:  # (a wait of exactly the missing part may land just short)
                    self._tokens = max(0.0, self._tokens - 1.0)
                    return
                await self._sleep(min(1.0, (1.0 - self._tokens) / rate))

    async def __aenter__(self) -> None:
        await self.acquire()

    async def __aexit__(self, *_: object) -> None:
        return None
