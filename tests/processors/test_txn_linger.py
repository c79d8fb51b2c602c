"""The writer's wait before a transaction: short while the lane slots are the limit, longer when they
are free, longest while a backlog waits and the core is the limit."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

from bridge.settings import load_settings
from processors.lanes import LaneScheduler
from processors.runtime import BEHIND_RECORDS, Runtime
from testkit.fake_oms import UnusedOms


class _Load:
    """Stands in for `CpuLoad` with a load the test sets."""

    def __init__(self, busy: float) -> None:
        self.value = busy

    def busy(self) -> float:
        return self.value


class _Positions:
    """Stands in for the consumer's positions with high watermarks the test sets."""

    def __init__(self) -> None:
        self.highwaters: Callable[[int], int | None] = lambda _partition: None

    def highwater(self, partition: int) -> int | None:
        return self.highwaters(partition)

    def partition_lags(self) -> dict[int, float]:
        return {}


def _runtime(tmp_path: Path) -> tuple[Runtime, _Positions]:
    settings = load_settings(
        worker_txn_linger_ms=50.0, worker_txn_linger_saturated_ms=20.0, worker_txn_linger_backlog_ms=100.0
    )
    positions = _Positions()
    return Runtime(settings, data_dir=tmp_path, oms=UnusedOms(), positions=positions), positions


def _blocked_lanes(runtime: Runtime, slots: int) -> tuple[asyncio.Event, LaneScheduler[int]]:
    """Give `runtime` lanes with `slots` slots whose handler holds every batch until the gate opens.

    Their items are ints standing in for `Work`: the linger reads only the lanes' counts.
    """
    gate = asyncio.Event()

    async def handler(key: str, batch: list[int]) -> None:
        await gate.wait()

    lanes = LaneScheduler(handler, max_active=slots, max_pending=100)
    runtime.lanes = lanes  # type: ignore[assignment]
    return gate, lanes


class TestTxnLinger:
    """`Runtime._txn_linger_s(partition)` is what each partition's writer asks before a transaction."""

    def test_caught_up_partition_with_free_slots_gets_the_caught_up_wait(self, tmp_path: Path) -> None:
        runtime, positions = _runtime(tmp_path)
        positions.highwaters = lambda _p: 1000
        runtime._submitted[0] = 1000 - 1 - BEHIND_RECORDS  # exactly at the bound: not behind
        assert not runtime.behind(0)
        assert 0.050 == runtime._txn_linger_s(0)

    def test_partition_behind_gets_the_backlog_wait(self, tmp_path: Path) -> None:
        runtime, positions = _runtime(tmp_path)
        positions.highwaters = lambda p: 5000 if p == 1 else 10
        runtime._submitted.update({0: 9, 1: 200})
        assert runtime.behind(1)
        assert 0.100 == runtime._txn_linger_s(1)
        assert 0.050 == runtime._txn_linger_s(0)  # per partition: the caught-up one keeps its wait

    def test_unknown_highwater_is_not_a_backlog(self, tmp_path: Path) -> None:
        runtime, _ = _runtime(tmp_path)  # no consumer yet: no high watermark known
        assert not runtime.behind(0)
        assert 0.050 == runtime._txn_linger_s(0)

    async def test_every_lane_slot_busy_and_core_idle_keeps_the_short_wait(self, tmp_path: Path) -> None:
        """The lanes are the limit then (not the core): a longer wait would hold every slot longer.

        With the core busy as well, the longer wait is back: the core is what it saves.
        """
        runtime, positions = _runtime(tmp_path)
        load = _Load(0.1)
        runtime.cpu_load = load  # type: ignore[assignment]
        positions.highwaters = lambda _p: 5000
        runtime._submitted[0] = 10
        gate, lanes = _blocked_lanes(runtime, slots=2)
        await lanes.submit("a", 0, 1)
        await asyncio.sleep(0)
        assert not lanes.saturated
        assert 0.100 == runtime._txn_linger_s(0)
        await lanes.submit("b", 0, 2)
        await lanes.submit("c", 0, 3)
        await asyncio.sleep(0)
        assert lanes.saturated
        assert 0.020 == runtime._txn_linger_s(0)
        load.value = 0.95
        assert 0.100 == runtime._txn_linger_s(0)
        gate.set()
        assert await lanes.wait_idle(timeout=5)
        assert not lanes.saturated
        await lanes.close()

    async def test_caught_up_with_every_slot_busy_gets_the_saturated_wait(self, tmp_path: Path) -> None:
        """Not behind, but OMS-bound lanes hold every slot: waiting longer would hold them all longer."""
        runtime, positions = _runtime(tmp_path)
        positions.highwaters = lambda _p: 10
        runtime._submitted[0] = 9
        gate, lanes = _blocked_lanes(runtime, slots=1)
        assert 0.050 == runtime._txn_linger_s(0)
        await lanes.submit("a", 0, 1)
        await asyncio.sleep(0)
        assert lanes.saturated and not runtime.behind(0)
        assert 0.020 == runtime._txn_linger_s(0)
        gate.set()
        assert await lanes.wait_idle(timeout=5)
        for _ in range(100):  # the lane leaves its slot right after its last item is done
            if not lanes.saturated:
                break
            await asyncio.sleep(0)
        assert 0.050 == runtime._txn_linger_s(0)
        await lanes.close()
