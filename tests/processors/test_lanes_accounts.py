"""Lane slots per class (the worker's: VTEX accounts): one class's stuck lanes leave slots to the others."""

from __future__ import annotations

import asyncio

from processors.lanes import LaneScheduler


async def test_a_class_holds_at_most_its_slots() -> None:
    release = asyncio.Event()
    done: list[str] = []

    async def handler(key: str, batch: list[int]) -> None:
        if key.startswith("down/"):
            await release.wait()  # an account whose OMS is down: its lanes hold their slots
        done.append(key)

    lanes: LaneScheduler[int] = LaneScheduler(
        handler,
        max_active=4,
        max_pending=100,
        slot_class=lambda key: key.partition("/")[0],
        max_active_per_class=2,
    )
    for i in range(4):
        await lanes.submit(f"down/o{i}", 0, i)
    for i in range(3):
        await lanes.submit(f"up/o{i}", 0, i)
    async with asyncio.timeout(5):
        while len(done) < 3:
            await asyncio.sleep(0.001)
    assert ["up/o0", "up/o1", "up/o2"] == sorted(done)
    release.set()
    assert await lanes.wait_idle(timeout=5)
    assert 7 == len(done)


async def test_without_classes_every_slot_is_shared() -> None:
    release = asyncio.Event()
    started: list[str] = []

    async def handler(key: str, batch: list[int]) -> None:
        started.append(key)
        await release.wait()

    lanes: LaneScheduler[int] = LaneScheduler(handler, max_active=2, max_pending=100)
    for key in ("a/1", "a/2", "b/1"):
        await lanes.submit(key, 0, 1)
    async with asyncio.timeout(5):
        while len(started) < 2:
            await asyncio.sleep(0.001)
    for _ in range(20):  # b/1's runner gets every chance to start: it has no slot
        await asyncio.sleep(0)
    assert ["a/1", "a/2"] == started
    release.set()
    assert await lanes.wait_idle(timeout=5)
