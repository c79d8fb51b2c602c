"""A fix for a bug of the pinned aiokafka (0.14.0) that stalled every worker stop during a broker outage.

Installed by every `vtex-bridge` command (bridge.cli) and by `processors.app.create_app`: any consumer
of ours that stops while the broker is unreachable can hit it.

`Fetcher.close()`, part of `AIOKafkaConsumer.stop()`, cancels the fetch tasks still pending and awaits
each. A fetch task that is in its retry backoff after a failed fetch (where it is most of the time
while the broker is unreachable) lets that cancellation out, so `stop()` raised `CancelledError`
half-way: the remaining fetch tasks were left, the client's connections never closed. In Faust's
consumer thread that exception ends the thread before it reports its shutdown, and the worker's stop
then waited for the report for mode's `shutdown_timeout` (60 s): a SIGTERM during a broker outage always
ended with the stop watchdog's exit code 3 (bridge.stop_watchdog). aiokafka #647 reports the same
pattern in another close path.

The fix is applied to the pinned version only (`install` says whether it was): a newer aiokafka must be
checked for the bug again before the pin moves (tests/bridge/test_aiokafka_fixes.py fails until then).
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any, Final

import aiokafka
from aiokafka.consumer.fetcher import Fetcher

#: The aiokafka version whose `Fetcher.close` this module replaces.
FIXED_VERSION: Final = "0.14.0"
#: aiokafka's own `Fetcher.close`, as it was before `install` (the tests show its bug with it).
AIOKAFKA_CLOSE: Final = Fetcher.close


async def close_fetcher(self: Any) -> None:
    """`Fetcher.close` of aiokafka 0.14.0, except that a pending task's cancellation stays its own."""
    self._closed = True
    self._fetch_task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await self._fetch_task
    for waiter in self._fetch_waiters:  # fail pending fetchone/fetchall calls, as aiokafka does
        self._notify(waiter)
    pending = list(self._pending_tasks)
    for task in pending:
        task.cancel()
    # Each task's CancelledError is its result here; a cancellation of this close itself still
    # propagates through gather.
    await asyncio.gather(*pending, return_exceptions=True)


def install() -> bool:
    """Replace `Fetcher.close` when the installed aiokafka is the fixed version; return whether it was."""
    if aiokafka.__version__ != FIXED_VERSION:
        return False
    Fetcher.close = close_fetcher  # type: ignore[method-assign]
    return True
