"""Chaos: VTEX delivers twice and out of order, OMS throttles, fails and hangs, the ingress crashes."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from testkit.checker import CheckResult
from testkit.harness import BridgeFactory

Report = Callable[[CheckResult], None]


@pytest.mark.chaos
class TestDuplicatedAndReorderedHooks:
    """Hooks sent twice (20%) and held back behind the order's next event (20%): one record each."""

    async def test_duplicates_and_reordering(
        self, bridge_factory: BridgeFactory, chaos_report: Report
    ) -> None:
        bridge = await bridge_factory(seed=31, duplicate_rate=0.2, reorder_rate=0.2)
        work = await bridge.start_workload(40, rate_per_s=150)
        result = await bridge.check("duplicates-reorder", transitions=work.transitions)
        chaos_report(result)
        assert result.ok, result.to_json()
        assert result.facts["hook_duplicates"] > 0, (
            "the simulator sent no duplicate: the scenario proves nothing"
        )
        assert result.late > 0, "no event arrived after a newer one: the reordering did not happen"


@pytest.mark.chaos
class TestOmsStorm:
    """OMS answers 30% 429 and 30% 5xx for a while mid-stream: the worker backs off, nothing is lost."""

    async def test_429_and_5xx_storm(self, bridge_factory: BridgeFactory, chaos_report: Report) -> None:
        bridge = await bridge_factory(seed=32)
        work = await bridge.start_workload(40, rate_per_s=150)
        await bridge.wait_accepted(work.transitions // 4)
        await bridge.vtex.controls(oms_429_rate=0.3, oms_5xx_rate=0.3)
        try:
            await bridge.wait_counter("oms_429", "oms_5xx", at_least=40)
        finally:
            await bridge.vtex.controls(oms_429_rate=0.0, oms_5xx_rate=0.0)
        counters = (await bridge.vtex.stats())["counters"]
        result = await bridge.check(
            "oms-429-5xx-storm",
            transitions=work.transitions,
            oms_429=counters.get("oms_429", 0),
            oms_5xx=counters.get("oms_5xx", 0),
        )
        chaos_report(result)
        assert result.ok, result.to_json()


@pytest.mark.chaos
@pytest.mark.chaos_full
class TestOmsTimeouts:
    """OMS leaves 30% of reads hanging (then 504) for a while: the worker times out and retries."""

    async def test_timeouts(self, bridge_factory: BridgeFactory, chaos_report: Report) -> None:
        bridge = await bridge_factory(seed=33, env={"VTEX_BRIDGE_OMS_TIMEOUT_S": "1"})
        work = await bridge.start_workload(40, rate_per_s=150)
        await bridge.wait_accepted(work.transitions // 4)
        await bridge.vtex.controls(oms_timeout_rate=0.3)
        try:
            await bridge.wait_counter("oms_timeouts", at_least=20)
        finally:
            await bridge.vtex.controls(oms_timeout_rate=0.0)
        counters = (await bridge.vtex.stats())["counters"]
        result = await bridge.check(
            "oms-timeouts", transitions=work.transitions, oms_timeouts=counters.get("oms_timeouts", 0)
        )
        chaos_report(result)
        assert result.ok, result.to_json()


@pytest.mark.chaos
@pytest.mark.chaos_full
class TestIngressKill:
    """The ingress killed with -9 mid-stream (requests in flight) and restarted: VTEX retries, no loss."""

    async def test_kill9_mid_stream(self, bridge_factory: BridgeFactory, chaos_report: Report) -> None:
        bridge = await bridge_factory(seed=34)
        work = await bridge.start_workload(40, rate_per_s=150)
        ingress = bridge.ingress
        assert ingress is not None
        await bridge.wait_accepted(work.transitions // 3)
        bridge.kill(ingress)
        stats = await bridge.vtex.stats()
        await bridge.wait_sent(int(stats["sender"]["sent"]) + 20)  # VTEX fails to reach it meanwhile
        await bridge.restart(ingress)
        result = await bridge.check("ingress-kill9", transitions=work.transitions)
        chaos_report(result)
        assert result.ok, result.to_json()
