"""A stopping runtime closes its partitions' writers side by side, not one after the other.

Each close is bounded (idle wait, then the producer's stop), and while the broker is down every close
takes its whole bound: one after the other, 12 partitions took minutes, past any supervisor's grace
period and the worker's own stop watchdog.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from bridge.settings import load_settings
from processors.runtime import Runtime
from testkit.fake_oms import UnusedOms


class _SlowWriter:
    """A writer whose close takes a while (its producer waiting on an unreachable broker)."""

    def __init__(self, stopping: asyncio.Event, release: asyncio.Event) -> None:
        self._stopping = stopping
        self._release = release
        self.stopped = False

    async def idle(self) -> None:
        return None

    async def stop(self) -> None:
        self._stopping.set()
        await self._release.wait()
        self.stopped = True


async def test_writers_close_side_by_side(tmp_path: Path) -> None:
    runtime = Runtime(load_settings(), data_dir=tmp_path, oms=UnusedOms())
    release = asyncio.Event()
    stopping = {partition: asyncio.Event() for partition in range(4)}
    writers = {partition: _SlowWriter(stopping[partition], release) for partition in range(4)}
    runtime.writers.update(writers)  # type: ignore[arg-type]
    stop = asyncio.create_task(runtime.stop())
    # Every writer's close has begun while none of them has finished: one after the other, the
    # second would only begin once the first was released.
    await asyncio.wait_for(asyncio.gather(*(event.wait() for event in stopping.values())), 5.0)
    assert not any(writer.stopped for writer in writers.values())
    release.set()
    await asyncio.wait_for(stop, 5.0)
    assert all(writer.stopped for writer in writers.values())
    assert not runtime.writers


class _FailingWriter(_SlowWriter):
    async def stop(self) -> None:
        self._stopping.set()
        raise TimeoutError("producer did not stop")


async def test_one_failing_close_leaves_the_others_whole(tmp_path: Path) -> None:
    runtime = Runtime(load_settings(), data_dir=tmp_path, oms=UnusedOms())
    release = asyncio.Event()
    release.set()
    failing = _FailingWriter(asyncio.Event(), release)
    fine = _SlowWriter(asyncio.Event(), release)
    runtime.writers.update({0: failing, 1: fine})  # type: ignore[dict-item]
    await asyncio.wait_for(runtime.stop(), 5.0)  # does not raise: the stop goes on
    assert fine.stopped
    assert not runtime.writers
