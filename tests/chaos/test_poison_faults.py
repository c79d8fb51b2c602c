"""Chaos: one order that OMS fails for (500, hang) or that no topic can hold, an OMS outage for everyone,
and four workers sharing one OMS budget. No partition stalls, nothing is lost, no dead-letter flood.

The poison scenarios dead-letter the poisoned order's events on purpose: those (and only those) may be
missing downstream, provided each is in the dead-letter topic with the expected reason. Every other
event must appear exactly once and in order, and the group's committed offsets must reach the input's
end within the retry budget plus 30 s of the first poisoned OMS answer (`committed_lag_after_s`).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from typing import Any

import pytest

from testkit.checker import (
    CheckResult,
    Expectation,
    check,
    read_inputs,
    read_outputs,
    topics_with_prefix,
)
from testkit.harness import Bridge, BridgeFactory

Report = Callable[[CheckResult], None]

#: The per-event retry budget the poison scenarios give the worker (seconds; attempts below).
BUDGET_S = 10.0
BUDGET_ENV = {
    "VTEX_BRIDGE_WORKER_EVENT_RETRY_ATTEMPTS": "3",
    "VTEX_BRIDGE_WORKER_EVENT_RETRY_S": str(BUDGET_S),
}


async def first_order(bridge: Bridge) -> str:
    """The OrderId of the first hook VTEX got accepted (an order with transitions still to come)."""
    async with bridge.session.get(f"{bridge.sim_url}/_sim/accepted") as response:
        accepted = await response.json()
    return str(accepted["payloads"][0]["OrderId"])


async def check_with_poison(
    bridge: Bridge, scenario: str, poison: str | None, reason: str | None, **facts: Any
) -> tuple[CheckResult, list[str]]:
    """Settle and check; the poisoned order's events dead-lettered for `reason` may be missing downstream.

    Return the result and the reasons of every dead letter (for the scenario's own assertions).
    """
    await bridge.settle()
    expectation = await bridge.vtex.expectation()
    dead = await read_outputs(bridge.bootstrap, bridge.dead_letter_topic)
    excused = {r.event_id for r in dead if r.order_id == poison and r.value.get("reason") == reason}
    adjusted = Expectation(
        must={k: v for k, v in expectation.must.items() if k not in excused},
        may={**expectation.may, **{k: v for k, v in expectation.must.items() if k in excused}},
    )
    inputs = await read_inputs(bridge.bootstrap, bridge.input_topic)
    outputs = await read_outputs(
        bridge.bootstrap, *await topics_with_prefix(bridge.bootstrap, bridge.status_prefix)
    )
    result = check(scenario, adjusted, inputs, outputs, status_prefix=bridge.status_prefix, dead_letters=dead)
    sender = await bridge.vtex.sender()
    result.facts = {
        **facts,
        "dead_letter_reasons": sorted({str(r.value.get("reason")) for r in dead}),
        "poisoned_events_dead_lettered": len(excused),
        **await bridge.worker_counters(),
        "hook_attempts": sender["sent"],
        "seconds": round(time.monotonic() - bridge.started_at, 1),
    }
    return result, [str(r.value.get("reason")) for r in dead]


async def run_poison(
    bridge_factory: BridgeFactory,
    chaos_report: Report,
    *,
    scenario: str,
    mode: str,
    reason: str,
    seed: int,
    env: dict[str, str] | None = None,
) -> None:
    bridge = await bridge_factory(seed=seed, env={**BUDGET_ENV, **(env or {})})
    work = await bridge.start_workload(60, rate_per_s=60)
    await bridge.wait_accepted(3)
    poison = await first_order(bridge)
    await bridge.vtex.controls(oms_poison={poison: mode})
    await bridge.wait_counter(f"oms_poison_{mode}", at_least=1)
    first_poisoned = time.monotonic()
    await bridge.settle()
    lag_after = round(time.monotonic() - first_poisoned, 1)
    counters = (await bridge.vtex.stats())["counters"]
    result, reasons = await check_with_poison(
        bridge,
        scenario,
        poison,
        reason,
        transitions=work.transitions,
        committed_lag_after_s=lag_after,
        retry_budget_s=BUDGET_S,
        poisoned_oms_answers=counters.get(f"oms_poison_{mode}", 0),
    )
    chaos_report(result)
    assert result.ok, result.to_json()
    assert result.facts["poisoned_events_dead_lettered"] > 0, "the poisoned order was never dead-lettered"
    assert set(reasons) == {reason}, f"other events were dead-lettered too: {reasons}"
    assert lag_after <= BUDGET_S + 30, f"committed lag back to 0 only after {lag_after} s"


@pytest.mark.chaos
class TestPoisonOms500:
    """OMS answers 500 forever for one order among normal traffic: dead-lettered after its budget."""

    async def test_poison_oms_500(self, bridge_factory: BridgeFactory, chaos_report: Report) -> None:
        await run_poison(
            bridge_factory,
            chaos_report,
            scenario="poison-oms-500",
            mode="500",
            reason="oms-unavailable",
            seed=41,
        )


@pytest.mark.chaos
@pytest.mark.chaos_full
class TestPoisonOversizedOrder:
    """One order's document is 1.2 MB: its records cannot fit the topic; dead-lettered at once."""

    async def test_poison_oversized_order(self, bridge_factory: BridgeFactory, chaos_report: Report) -> None:
        await run_poison(
            bridge_factory,
            chaos_report,
            scenario="poison-oversized-order",
            mode="oversized",
            reason="record-too-large",
            seed=42,
        )


@pytest.mark.chaos
@pytest.mark.chaos_full
class TestPoisonOmsHang:
    """OMS hangs past the timeout for one order: dead-lettered after its budget, the rest flows."""

    async def test_poison_oms_hang(self, bridge_factory: BridgeFactory, chaos_report: Report) -> None:
        await run_poison(
            bridge_factory,
            chaos_report,
            scenario="poison-oms-hang",
            mode="hang",
            reason="oms-unavailable",
            seed=43,
            env={"VTEX_BRIDGE_OMS_TIMEOUT_S": "1"},
        )


@pytest.mark.chaos
@pytest.mark.chaos_full
class TestOmsOutageNoDeadLetterFlood:
    """OMS down for everyone for twice the per-event budget: nothing dead-lettered, all delivered after."""

    async def test_outage(self, bridge_factory: BridgeFactory, chaos_report: Report) -> None:
        bridge = await bridge_factory(seed=44, env=BUDGET_ENV)
        work = await bridge.start_workload(40, rate_per_s=100)
        await bridge.wait_accepted(work.transitions // 4)
        await bridge.vtex.controls(oms_5xx_rate=1.0)
        try:
            await bridge.wait_counter("oms_5xx", at_least=20)
            await Bridge.hold(2 * BUDGET_S)  # the outage's duration: past every event's budget
        finally:
            await bridge.vtex.controls(oms_5xx_rate=0.0)
        counters = (await bridge.vtex.stats())["counters"]
        result, reasons = await check_with_poison(
            bridge,
            "oms-outage-no-dlq-flood",
            None,
            None,
            transitions=work.transitions,
            outage_s=2 * BUDGET_S,
            retry_budget_s=BUDGET_S,
            oms_5xx=counters.get("oms_5xx", 0),
        )
        chaos_report(result)
        assert result.ok, result.to_json()
        assert [] == reasons, f"dead-lettered during an outage: {reasons}"
        assert result.facts["worker_retries"].get("oms", 0) > 0, "the outage caused no retry"


class CallRate:
    """Samples the simulator's OMS request counter; the peak of calls in any 10 s window."""

    def __init__(self) -> None:
        self.samples: list[tuple[float, int]] = []

    async def run(self, bridge: Bridge, stop: asyncio.Event) -> None:
        while not stop.is_set():
            counters = (await bridge.vtex.stats())["counters"]
            self.samples.append((time.monotonic(), int(counters.get("oms_requests", 0))))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), 0.5)

    def peak_per_10s(self) -> int:
        peak = 0
        for i, (start, count) in enumerate(self.samples):
            within = [c for t, c in self.samples[i:] if t - start <= 10.0]
            peak = max(peak, within[-1] - count)
        return peak


@pytest.mark.chaos
@pytest.mark.chaos_full
class TestBudgetShared:
    """Four workers share the account's budget: together within the simulator's per-account limit."""

    async def test_budget_shared_4_workers(self, bridge_factory: BridgeFactory, chaos_report: Report) -> None:
        limit_per_s = 20  # the simulator's per-account limit (1,200/min)
        budget = 18.0  # the account budget the group is configured with (90 % of it)
        bridge = await bridge_factory(
            seed=45,
            sim_rate_limit_per_minute=limit_per_s * 60,
            env={"VTEX_BRIDGE_OMS_RATE_LIMIT_PER_S": str(budget)},
        )
        for _ in range(3):
            await bridge.add_worker()
        for worker in bridge.workers:  # every worker owns partitions after the last rebalance
            await bridge.wait_worker_ready(worker)
        rate, stop = CallRate(), asyncio.Event()
        sampler = asyncio.create_task(rate.run(bridge, stop))
        try:
            # 120 orders x ~10 transitions at 100/s needs far more than 20 reads/s while it lasts.
            work = await bridge.start_workload(120, rate_per_s=100)
            await bridge.settle()
        finally:
            stop.set()
            await sampler
        counters = (await bridge.vtex.stats())["counters"]
        calls, throttled = int(counters.get("oms_requests", 0)), int(counters.get("oms_429", 0))
        peak = rate.peak_per_10s()
        result, reasons = await check_with_poison(
            bridge,
            "budget-shared-4-workers",
            None,
            None,
            transitions=work.transitions,
            workers=len(bridge.workers),
            limit_per_s=limit_per_s,
            account_budget_per_s=budget,
            # What the same setting gave the group when it was a per-worker limit: 3.6x the limit.
            per_worker_limits_sum_per_s=budget * len(bridge.workers),
            oms_calls=calls,
            oms_calls_per_s_peak=round(peak / 10, 1),
            oms_429=throttled,
        )
        chaos_report(result)
        assert result.ok, result.to_json()
        assert [] == reasons
        assert peak <= limit_per_s * 10, f"{peak} calls in a 10 s window (limit {limit_per_s}/s)"
        assert throttled <= 0.01 * calls, f"{throttled} 429s of {calls} calls"
