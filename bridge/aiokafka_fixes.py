"""Fixes for two bugs of the pinned aiokafka (0.14.0): a stalled worker stop during a broker outage, and
a consumer that kept asking a former leader for a partition's offsets after a failover.

Installed by every `vtex-bridge` command (bridge.cli) and by `processors.app.create_app`: any consumer
of ours that stops while the broker is unreachable can hit the first, any consumer whose partition
moves to another leader before its position is known can hit the second.

`Fetcher.close()`, part of `AIOKafkaConsumer.stop()`, cancels the fetch tasks still pending and awaits
each. A fetch task that is in its retry backoff after a failed fetch (where it is most of the time
while the broker is unreachable) lets that cancellation out, so `stop()` raised `CancelledError`
half-way: the remaining fetch tasks were left, the client's connections never closed. In Faust's
consumer thread that exception ends the thread before it reports its shutdown, and the worker's stop
then waited for the report for mode's `shutdown_timeout` (60 s): a SIGTERM during a broker outage always
ended with the stop watchdog's exit code 3 (bridge.stop_watchdog). aiokafka #647 reports the same
pattern in another close path.

`Fetcher._update_fetch_positions` (a partition without a position yet: just assigned, or after a seek)
sends ListOffsets to the partition's leader as its metadata says. When that broker answers
NOT_LEADER_FOR_PARTITION (it lost the leadership: frozen, then resumed), the task logs "Failed fetch
offsets", sleeps its backoff and asks the same broker again, without refreshing the metadata (the
other offset lookups of the fetcher do refresh it). Nothing else refreshes it while the other
partitions fetch fine, so the partition stayed without a position until `metadata_max_age_ms` (5
minutes): seen with Faust's leader-topic partition after a broker was frozen for 30 s, the worker
then committed no input offsets. The fixed request refreshes the metadata on any error meaning that
it is stale, as the rest of aiokafka does.

The fixes are applied to the pinned version only (`install` says whether it was): a newer aiokafka must be
checked for the bug again before the pin moves (tests/bridge/test_aiokafka_fixes.py fails until then).
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any, Final

import aiokafka
from aiokafka.consumer.fetcher import Fetcher
from aiokafka.errors import KafkaError

#: The aiokafka version whose `Fetcher.close` this module replaces.
FIXED_VERSION: Final = "0.14.0"
#: aiokafka's own `Fetcher.close`, as it was before `install` (the tests show its bug with it).
AIOKAFKA_CLOSE: Final = Fetcher.close
#: aiokafka's own `Fetcher._proc_offset_request` (one ListOffsets request to one broker).
AIOKAFKA_OFFSET_REQUEST: Final = Fetcher._proc_offset_request


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


async def offset_request(self: Any, node_id: int, topic_data: Any) -> Any:
    """`Fetcher._proc_offset_request`, except that an error meaning stale metadata refreshes it."""
    try:
        return await AIOKAFKA_OFFSET_REQUEST(self, node_id, topic_data)
    except KafkaError as exc:
        if getattr(exc, "invalid_metadata", False):
            self._client.force_metadata_update()
        raise


def install() -> bool:
    """Replace `Fetcher.close` when the installed aiokafka is the fixed version; return whether it was."""
    if aiokafka.__version__ != FIXED_VERSION:
        return False
    Fetcher.close = close_fetcher  # type: ignore[method-assign]
    Fetcher._proc_offset_request = offset_request  # type: ignore[method-assign]
    return True
