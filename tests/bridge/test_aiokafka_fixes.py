"""aiokafka's `Fetcher.close` lets a pending fetch task's cancellation out; the fixed close does not.

The worker-level proof is tests/integration/test_processor_broker_outage.py::TestStopDuringOutage.
"""

from __future__ import annotations

import asyncio
from typing import Any

import aiokafka
import pytest
from aiokafka.consumer.fetcher import Fetcher

from bridge import aiokafka_fixes


class FetcherState:
    """What `Fetcher.close` touches: its fetch task, waiters and pending fetch tasks."""

    def __init__(self, pending: list[asyncio.Task[Any]]) -> None:
        self._closed = False
        self._fetch_task = asyncio.ensure_future(asyncio.sleep(3600))
        self._fetch_waiters: set[asyncio.Future[None]] = {asyncio.get_running_loop().create_future()}
        self._pending_tasks = set(pending)

    def _notify(self, future: asyncio.Future[None]) -> None:
        if not future.done():
            future.set_result(None)


async def in_retry_backoff() -> bool:
    """A fetch task after a failed fetch: aiokafka's sleeps its retry backoff outside its try."""
    await asyncio.sleep(3600)
    return False


async def started(count: int) -> list[asyncio.Task[Any]]:
    tasks = [asyncio.ensure_future(in_retry_backoff()) for _ in range(count)]
    await asyncio.sleep(0)  # every task is now in its backoff
    return tasks


def test_the_pinned_aiokafka_gets_the_fix() -> None:
    """Fails when aiokafka moves: check whether its Fetcher.close still has the bug, then re-pin."""
    assert aiokafka_fixes.FIXED_VERSION == aiokafka.__version__
    assert aiokafka_fixes.install()
    assert aiokafka_fixes.close_fetcher is Fetcher.close


async def test_aiokafkas_close_raises_the_tasks_cancellation() -> None:
    fetcher = FetcherState(await started(2))
    with pytest.raises(asyncio.CancelledError):
        await aiokafka_fixes.AIOKAFKA_CLOSE(fetcher)  # type: ignore[arg-type]
    assert not asyncio.current_task().cancelling()  # type: ignore[union-attr]  # nobody cancelled us


async def test_fixed_close_cancels_every_pending_task_and_returns() -> None:
    tasks = await started(3)
    fetcher = FetcherState(tasks)
    waiters = set(fetcher._fetch_waiters)
    await aiokafka_fixes.close_fetcher(fetcher)
    assert fetcher._closed
    assert fetcher._fetch_task.cancelled()
    assert all(task.cancelled() for task in tasks)
    assert all(waiter.done() for waiter in waiters)


async def test_a_cancelled_close_still_ends_cancelled() -> None:
    """The fix keeps the tasks' cancellations to themselves, not the caller's own."""

    async def slow_to_cancel() -> None:
        try:
            await asyncio.sleep(3600)
        except asyncio.CancelledError:
            await asyncio.sleep(3600)  # a task that takes its time to wind down

    task = asyncio.ensure_future(slow_to_cancel())
    await asyncio.sleep(0)
    closing = asyncio.ensure_future(aiokafka_fixes.close_fetcher(FetcherState([task])))
    await asyncio.sleep(0.01)
    closing.cancel()
    with pytest.raises(asyncio.CancelledError):
        await closing
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
