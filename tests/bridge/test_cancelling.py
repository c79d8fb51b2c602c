"""`run_within` keeps its bound even when the work swallows the first cancellation (`topics reshard`
runs under it); `cancel_until_done` ends such a task too (a writer's stop uses it)."""

from __future__ import annotations

import asyncio
import contextlib

import pytest

from bridge.cancelling import Expired, cancel_all, cancel_until_done, run_within


async def stubborn() -> int:
    """Swallows the first cancellation (as a client library call under load was seen to), then waits."""
    with contextlib.suppress(asyncio.CancelledError):
        await asyncio.sleep(3600)
    await asyncio.sleep(3600)
    return 0


async def quick() -> int:
    return 7


class TestRunWithin:
    async def test_result_within_the_bound(self) -> None:
        assert 7 == await run_within(quick(), 5.0)

    async def test_expires_although_the_first_cancel_is_swallowed(self) -> None:
        with pytest.raises(Expired):
            await asyncio.wait_for(run_within(stubborn(), 0.1, cancel_again_s=0.05), 10)

    async def test_a_cancelled_caller_cancels_the_work(self) -> None:
        started = asyncio.Event()

        async def work() -> int:
            started.set()
            await asyncio.sleep(3600)
            return 0

        caller = asyncio.ensure_future(run_within(work(), 3600))
        await asyncio.wait_for(started.wait(), 5)
        caller.cancel()
        with pytest.raises(asyncio.CancelledError):
            await caller


async def test_cancel_until_done_ends_a_task_that_swallows_a_cancel() -> None:
    task = asyncio.ensure_future(stubborn())
    await asyncio.sleep(0)
    await asyncio.wait_for(cancel_until_done(task, every_s=0.01), 5)
    assert task.done()


async def test_cancel_all_ends_every_task_even_one_that_swallows_a_cancel() -> None:
    tasks = [asyncio.ensure_future(stubborn()), asyncio.ensure_future(asyncio.sleep(3600))]
    await asyncio.sleep(0)
    await asyncio.wait_for(cancel_all(tasks, every_s=0.01), 5)
    assert all(task.done() for task in tasks)


async def test_the_console_owner_directory_closes_although_a_task_swallows_a_cancel() -> None:
    """Its close cancelled once and waited: a worker's stop then hung until the stop watchdog."""
    from processors.console.directory import OwnerDirectory

    directory = OwnerDirectory(
        bootstrap="127.0.0.1:1", topic="t", input_topic="in", own_url="http://x", replication=1, create=False
    )
    stuck = asyncio.ensure_future(stubborn())
    await asyncio.sleep(0)
    directory._tasks = [stuck]  # type: ignore[list-item]
    await asyncio.wait_for(directory.close(), 5)  # one cancel, swallowed, then another
    assert stuck.done()
