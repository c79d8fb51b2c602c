"""A writer's stop ends its commit loop even when the loop swallows a cancellation."""

from __future__ import annotations

import asyncio

from bridge.cancelling import cancel_until_done


async def test_a_loop_that_swallows_one_cancel_is_cancelled_again() -> None:
    swallowed = 0

    async def stubborn_loop() -> None:
        nonlocal swallowed
        while True:
            try:
                await asyncio.sleep(3600)
            except asyncio.CancelledError:
                if swallowed:
                    raise
                swallowed += 1  # as asyncio.wait_for can do in Python 3.11: the loop goes on

    task = asyncio.create_task(stubborn_loop())
    await asyncio.sleep(0)
    await asyncio.wait_for(cancel_until_done(task, every_s=0.01), 5)
    assert task.cancelled()
    assert swallowed == 1


async def test_a_loop_that_failed_is_awaited_without_raising() -> None:
    async def failing() -> None:
        raise RuntimeError("commit loop died")

    task = asyncio.create_task(failing())
    await asyncio.sleep(0)
    await cancel_until_done(task)
    assert isinstance(task.exception(), RuntimeError)
