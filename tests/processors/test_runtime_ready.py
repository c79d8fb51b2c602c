"""A record of a partition still loading waits for it, without a time limit, until the assignment ends.

Dropping it after a timeout (as before) left it unacked: the partition's commits stalled until the next
rebalance. Waiting must end at once when the partition is revoked or the worker stops.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from bridge.settings import load_settings
from processors.runtime import Runtime
from testkit.fake_oms import UnusedOms
from testkit.worker import hook

DEADLINE_S = 5.0


def _loading_runtime(tmp_path: Path) -> Runtime:
    """A runtime that owns partition 0 whose state is still loading (its ready event not set)."""
    runtime = Runtime(load_settings(), data_dir=tmp_path, oms=UnusedOms())
    runtime.partitions.expect([0], fresh=True)
    return runtime


async def _submit(runtime: Runtime) -> bool:
    value = hook("o-1", "invoiced", 0.0).encode()
    return await runtime.submit(0, 7, b"o-1", value, lambda: None, runtime.epoch)


class TestWaitForReady:
    async def test_waits_while_loading_then_goes_on(self, tmp_path: Path) -> None:
        runtime = _loading_runtime(tmp_path)
        submitted = asyncio.create_task(_submit(runtime))
        await asyncio.sleep(0.05)  # give it the chance to finish early: it must not
        assert not submitted.done()
        runtime.partitions.ready_events[0].set()
        assert await asyncio.wait_for(submitted, DEADLINE_S)  # queued in its order's lane
        assert await runtime.lanes.wait_idle(timeout=DEADLINE_S)
        await runtime.stop()

    async def test_revocation_ends_the_wait_at_once(self, tmp_path: Path) -> None:
        runtime = _loading_runtime(tmp_path)
        submitted = asyncio.create_task(_submit(runtime))
        await asyncio.sleep(0)
        await runtime.on_revoked([0])
        assert not await asyncio.wait_for(submitted, DEADLINE_S)
        assert 0 == runtime.lanes.pending
        await runtime.stop()

    async def test_stop_ends_the_wait(self, tmp_path: Path) -> None:
        runtime = _loading_runtime(tmp_path)
        submitted = asyncio.create_task(_submit(runtime))
        await asyncio.sleep(0)
        await runtime.stop()
        assert not await asyncio.wait_for(submitted, DEADLINE_S)

    async def test_record_of_an_older_assignment_is_refused(self, tmp_path: Path) -> None:
        runtime = _loading_runtime(tmp_path)
        runtime.partitions.ready_events[0].set()
        stale = runtime.epoch
        await runtime.on_revoked([])  # any rebalance moves the epoch
        value = hook("o-1", "invoiced", 0.0).encode()
        assert not await runtime.submit(0, 7, b"o-1", value, lambda: None, stale)
        await runtime.stop()
