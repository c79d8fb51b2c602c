"""aiokafka's `Fetcher.close` lets a pending fetch task's cancellation out; the fixed close does not.
Its offset lookup for a partition without a position asks a former leader again and again; the fixed
one refreshes the metadata first (the worker-level proof: tests/chaos/test_cluster_writer_faults.py).

The worker-level proof is tests/integration/test_processor_broker_outage.py::TestStopDuringOutage.
"""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any

import aiokafka
import pytest
from aiokafka.consumer.fetcher import Fetcher
from aiokafka.errors import NotLeaderForPartitionError

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
    assert aiokafka_fixes.offset_request is Fetcher._proc_offset_request


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


class OffsetsClient:
    """A client whose broker answers every ListOffsets with NOT_LEADER_FOR_PARTITION; counts refreshes."""

    def __init__(self) -> None:
        self.refreshes = 0

    async def send(self, node_id: int, request: Any) -> Any:
        return SimpleNamespace(API_VERSION=1, topics=[("t", [(0, NotLeaderForPartitionError.errno, -1, -1)])])

    def force_metadata_update(self) -> None:
        self.refreshes += 1


async def test_a_former_leaders_refusal_of_offsets_refreshes_the_metadata() -> None:
    fetcher = SimpleNamespace(_isolation_level=0, _client=OffsetsClient())
    with pytest.raises(NotLeaderForPartitionError):
        await aiokafka_fixes.AIOKAFKA_OFFSET_REQUEST(fetcher, 1, {"t": [(0, -1)]})
    assert 0 == fetcher._client.refreshes  # aiokafka's own: the same stale leader is asked again
    with pytest.raises(NotLeaderForPartitionError):
        await aiokafka_fixes.offset_request(fetcher, 1, {"t": [(0, -1)]})
    assert 1 == fetcher._client.refreshes
