"""Chaos with several VTEX accounts: one account's OMS is down for two minutes (twelve times the
per-event retry budget) while the other accounts' orders keep coming.

The worker enriches each event from its own account's OMS, so the outage must stay that account's
problem: the other accounts' events keep reaching their topics with a bounded lag while it lasts, the
down account's events wait (nothing dead-lettered) and all arrive once its OMS is back. The worker's
bounds are small here (60 events in the lanes, 20 per account) so that the down account's events outgrow
them many times over: beyond its 20 they are parked by input offset (`processors.parked`) and read again
after the recovery. At the end the usual JSON line: lost, duplicated, out_of_order and unexpected all zero.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest

from testkit.checker import CheckResult, read_outputs, topics_with_prefix
from testkit.harness import Bridge, BridgeFactory
from testkit.kafka import wait_until

Report = Callable[[CheckResult], None]

#: The per-event retry budget the worker gets (seconds; attempts below); the outage lasts 3 budgets.
BUDGET_S = 10.0
#: The worker's pending bounds: all lanes, and one account's share (beyond it: parked).
PENDING_BOUND = 60
PER_ACCOUNT_BOUND = 20
BUDGET_ENV = {
    "VTEX_BRIDGE_WORKER_EVENT_RETRY_ATTEMPTS": "3",
    "VTEX_BRIDGE_WORKER_EVENT_RETRY_S": str(BUDGET_S),
    "VTEX_BRIDGE_WORKER_MAX_PENDING_EVENTS": str(PENDING_BOUND),
    "VTEX_BRIDGE_WORKER_MAX_PENDING_EVENTS_PER_ACCOUNT": str(PER_ACCOUNT_BOUND),
}
OUTAGE_S = 12 * BUDGET_S
#: How long a healthy account's accepted event may take to reach its topic during the outage.
HEALTHY_LAG_BOUND_S = 20.0
ORDERS_PER_ACCOUNT = 40
#: Slow enough that every account's workload (~10 transitions per order) outlasts the outage.
RATE_PER_ACCOUNT = 3.5
#: Seconds into the outage at which the healthy accounts' delivered events are checked: early, past
#: every event's retry budget, and once the down account's events outgrew the worker's bounds.
CHECKPOINTS_S = (5.0, 2 * BUDGET_S, 8 * BUDGET_S)


async def accepted_ids(bridge: Bridge, names: list[str]) -> set[str]:
    """The event ids VTEX got accepted so far for the accounts `names`."""
    ids: set[str] = set()
    for name in names:
        async with bridge.session.get(f"{bridge.account_url(name)}/_sim/accepted") as response:
            ids.update(str(i) for i in (await response.json())["event_ids"])
    return ids


async def downstream_ids(bridge: Bridge) -> set[str]:
    """The event ids on the status topics now (read_committed)."""
    topics = await topics_with_prefix(bridge.bootstrap, bridge.status_prefix)
    return {record.event_id for record in await read_outputs(bridge.bootstrap, *topics)}


@pytest.mark.chaos
@pytest.mark.chaos_full
class TestMultiAccountOmsDown:
    """Three accounts; the second one's OMS answers 5xx for 2 minutes: the others are unaffected."""

    async def test_multi_account_oms_down(self, bridge_factory: BridgeFactory, chaos_report: Report) -> None:
        bridge = await bridge_factory(seed=51, accounts=3, env=BUDGET_ENV)
        down = bridge.account_names[1]
        healthy = [name for name in bridge.account_names if name != down]
        transitions = 0
        for index, name in enumerate(bridge.account_names):  # other seeds: other order ids per account
            work = await bridge.vtex_of(name).start_workload(
                ORDERS_PER_ACCOUNT, seed=bridge.options.seed + 1000 * index, rate_per_s=RATE_PER_ACCOUNT
            )
            transitions += work.transitions

        async def down_account_flowing() -> bool:
            return (await bridge.vtex_of(down).sender())["accepted"] >= 20

        await wait_until(down_account_flowing, timeout=90, message=f"{down}'s hooks accepted")
        down_vtex = bridge.vtex_of(down)
        await down_vtex.controls(oms_5xx_rate=1.0)
        outage_started = time.monotonic()
        try:

            async def oms_refused() -> bool:
                return await down_vtex.counter("oms_5xx") >= 10

            await wait_until(oms_refused, timeout=30, message=f"{down}'s OMS refused the worker")
            # What the healthy accounts had delivered at each checkpoint (early, and past every event's
            # retry budget) must reach its topics within the bound while the outage lasts.
            lags: list[float] = []
            healthy_during_outage = 0
            for checkpoint in CHECKPOINTS_S:
                wait = checkpoint - (time.monotonic() - outage_started)
                if wait > 0:
                    await Bridge.hold(wait)  # a point in the outage's duration, not a condition
                due = await accepted_ids(bridge, healthy)
                snapshot_at = time.monotonic()

                async def healthy_caught_up(due: set[str] = due) -> bool:
                    return due <= await downstream_ids(bridge)

                await wait_until(
                    healthy_caught_up,
                    timeout=HEALTHY_LAG_BOUND_S,
                    interval=0.5,
                    message=f"healthy accounts' events on their topics {checkpoint:g} s into the outage",
                )
                lags.append(round(time.monotonic() - snapshot_at, 1))
                healthy_during_outage = len(due)
            outage_left = OUTAGE_S - (time.monotonic() - outage_started)
            if outage_left > 0:
                await Bridge.hold(outage_left)  # the outage's remaining duration
            down_accepted = len(await accepted_ids(bridge, [down]))
            down_before_recovery = len(await accepted_ids(bridge, [down]) & await downstream_ids(bridge))
        finally:
            await down_vtex.controls(oms_5xx_rate=0.0)
        outage_s = round(time.monotonic() - outage_started, 1)
        oms_5xx = await down_vtex.counter("oms_5xx")
        result = await bridge.check(
            "multi-account-oms-down",
            accounts=len(bridge.account_names),
            account_down=down,
            transitions=transitions,
            outage_s=outage_s,
            retry_budget_s=BUDGET_S,
            oms_5xx=oms_5xx,
            healthy_events_due_during_outage=healthy_during_outage,
            healthy_lag_s=lags,
            healthy_lag_bound_s=HEALTHY_LAG_BOUND_S,
            down_account_events_downstream_before_recovery=down_before_recovery,
            down_account_events_accepted_during_outage=down_accepted,
            pending_bound=PENDING_BOUND,
            per_account_bound=PER_ACCOUNT_BOUND,
        )
        chaos_report(result)
        assert result.ok, result.to_json()
        assert 0 == result.dead_lettered, f"dead-lettered during one account's outage: {result.to_json()}"
        assert healthy_during_outage > 0
        # The down account's events outgrew every bound of the worker during the outage.
        assert down_accepted - down_before_recovery > PENDING_BOUND, result.to_json()
