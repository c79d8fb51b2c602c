"""Chaos: the processor crashes, freezes, loses its local state, or shares its partitions."""

from __future__ import annotations

import signal
from collections.abc import Callable

import pytest

from testkit.checker import CheckResult
from testkit.harness import BridgeFactory

Report = Callable[[CheckResult], None]


@pytest.mark.chaos
class TestWorkerKill:
    """A worker killed with -9 mid-stream and restarted neither loses nor duplicates an event."""

    async def test_kill9_mid_stream(self, bridge_factory: BridgeFactory, chaos_report: Report) -> None:
        bridge = await bridge_factory(seed=11)
        await bridge.vtex.controls(
            oms_latency_s=0.05
        )  # more events in flight (open transactions) at the kill
        work = await bridge.start_workload(40, rate_per_s=150)
        worker = bridge.workers[0]
        await bridge.wait_accepted(work.transitions // 3)
        bridge.kill(worker)
        await bridge.wait_accepted(work.transitions // 2)  # the ingress keeps accepting meanwhile
        await bridge.restart(worker)
        result = await bridge.check("worker-kill9", transitions=work.transitions)
        chaos_report(result)
        assert result.ok, result.to_json()


@pytest.mark.chaos
@pytest.mark.chaos_full
class TestWorkerKilledRepeatedly:
    """A worker killed with -9 three times during one workload, each time restarted."""

    async def test_three_kills(self, bridge_factory: BridgeFactory, chaos_report: Report) -> None:
        bridge = await bridge_factory(seed=15)
        await bridge.vtex.controls(oms_latency_s=0.05)
        work = await bridge.start_workload(60, rate_per_s=100)
        worker = bridge.workers[0]
        for share in (4, 2):
            await bridge.wait_accepted(work.transitions // share)
            bridge.kill(worker)
            await bridge.restart(worker)
        await bridge.wait_accepted(work.transitions * 3 // 4)
        bridge.kill(worker)
        await bridge.restart(worker)
        result = await bridge.check("worker-kill9-x3", transitions=work.transitions, kills=3)
        chaos_report(result)
        assert result.ok, result.to_json()


@pytest.mark.chaos
@pytest.mark.chaos_full
class TestWorkerFreeze:
    """A worker frozen (SIGSTOP) past its session timeout, then resumed, neither loses nor duplicates."""

    async def test_sigstop_sigcont(self, bridge_factory: BridgeFactory, chaos_report: Report) -> None:
        bridge = await bridge_factory(seed=12)
        work = await bridge.start_workload(40, rate_per_s=150)
        worker = bridge.workers[0]
        await bridge.wait_accepted(work.transitions // 3)
        worker.signal(signal.SIGSTOP)
        await bridge.hold(9.0)  # longer than the 6 s session timeout: the group evicts the worker
        worker.signal(signal.SIGCONT)
        result = await bridge.check("worker-sigstop", transitions=work.transitions)
        chaos_report(result)
        assert result.ok, result.to_json()


@pytest.mark.chaos
@pytest.mark.chaos_full
class TestRebalance:
    """A second worker joins mid-stream and later leaves: partitions move twice, nothing lost or doubled."""

    async def test_join_then_leave(self, bridge_factory: BridgeFactory, chaos_report: Report) -> None:
        bridge = await bridge_factory(seed=13)
        work = await bridge.start_workload(60, rate_per_s=100)
        await bridge.wait_accepted(work.transitions // 4)
        second = await bridge.add_worker()
        await bridge.wait_accepted(work.transitions // 2)
        await bridge.terminate(second)
        await bridge.wait_worker_ready(bridge.workers[0])
        result = await bridge.check("rebalance-join-leave", transitions=work.transitions)
        chaos_report(result)
        assert result.ok, result.to_json()


@pytest.mark.chaos
@pytest.mark.chaos_full
class TestScaleOutAndIn:
    """The group grows from one worker to three mid-stream, then shrinks back to one: a worker leaves
    cleanly (SIGTERM) and another crashes (-9); every move keeps each event exactly once and in order."""

    async def test_two_join_then_one_leaves_and_one_crashes(
        self, bridge_factory: BridgeFactory, chaos_report: Report
    ) -> None:
        bridge = await bridge_factory(seed=17)
        await bridge.vtex.controls(oms_latency_s=0.02)  # events in flight at every move
        work = await bridge.start_workload(80, rate_per_s=120)
        await bridge.wait_accepted(work.transitions // 5)
        second = await bridge.add_worker()
        await bridge.wait_accepted(work.transitions * 2 // 5)
        third = await bridge.add_worker()
        await bridge.wait_accepted(work.transitions * 3 // 5)
        await bridge.terminate(second)
        await bridge.wait_accepted(work.transitions * 4 // 5)
        bridge.kill(third)
        await bridge.wait_worker_ready(bridge.workers[0])
        result = await bridge.check(
            "scale-out-and-in", transitions=work.transitions, joined=2, left=1, crashed=1
        )
        chaos_report(result)
        assert result.ok, result.to_json()


@pytest.mark.chaos
@pytest.mark.chaos_full
class TestLocalStateLost:
    """A worker killed with -9 whose local state directory (RocksDB) is deleted before it restarts."""

    async def test_state_wiped_before_restart(
        self, bridge_factory: BridgeFactory, chaos_report: Report
    ) -> None:
        bridge = await bridge_factory(seed=14, env={"VTEX_BRIDGE_WORKER_STORE": "rocksdict://"})
        work = await bridge.start_workload(40, rate_per_s=150)
        worker = bridge.workers[0]
        await bridge.wait_accepted(work.transitions // 2)
        bridge.kill(worker)
        had_state = any(bridge.worker_dir(worker.name).rglob("*"))
        bridge.wipe_worker_state(worker)
        await bridge.restart(worker)
        result = await bridge.check("worker-state-wiped", transitions=work.transitions, had_state=had_state)
        chaos_report(result)
        assert result.ok, result.to_json()
        assert had_state, "the worker wrote no local state: the scenario proves nothing"


@pytest.mark.chaos
@pytest.mark.chaos_full
class TestWorkerKillWhileOmsHangs:
    """A worker killed with -9 while OMS leaves half of the reads hanging, so some events stay in flight for
    seconds while later events of their partition are done (and their offsets committed).

    It lost events until Faust was kept from committing past an unacked event at the head of a partition
    (processors/ordered_acks.py; docs/chaos.md, "Product failures found").
    """

    async def test_kill9_with_events_stuck_in_flight(
        self, bridge_factory: BridgeFactory, chaos_report: Report
    ) -> None:
        bridge = await bridge_factory(seed=16)
        await bridge.vtex.controls(oms_timeout_rate=0.5)
        work = await bridge.start_workload(40, rate_per_s=150)
        worker = bridge.workers[0]
        await bridge.wait_accepted(work.transitions // 3)
        await bridge.wait_counter("oms_timeouts", at_least=10)
        bridge.kill(worker)
        await bridge.vtex.controls(oms_timeout_rate=0.0)
        await bridge.restart(worker)
        result = await bridge.check("worker-kill9-oms-hangs", transitions=work.transitions)
        chaos_report(result)
        assert result.ok, result.to_json()
