"""Each appKey owns one hook and one feed; a hook without notifications for 3 days is deleted."""

from __future__ import annotations

import aiohttp

from simulator.clock import ManualClock
from simulator.config import VTEX_HOOK_INACTIVITY_S
from tests.simulator.conftest import AUTH
from tests.support.sim import HookReceiver, SimFactory

OTHER = {"X-VTEX-API-AppKey": "vtexappkey-other", "X-VTEX-API-AppToken": "other-token"}


class TestPerAppKey:
    """Two appKeys see their own hook and feed; notifications carry the owning appKey in Origin.Key."""

    async def test_two_app_keys(
        self, sim_factory: SimFactory, http: aiohttp.ClientSession, hook_receiver: HookReceiver
    ) -> None:
        sim = await sim_factory(extra_credentials=(("vtexappkey-other", "other-token"),))
        hook = {
            "filter": {"type": "FromWorkflow", "status": ["invoiced"]},
            "hook": {"url": hook_receiver.url},
        }
        feed = {"queue": {"visibilityTimeoutInSeconds": 60, "messageRetentionPeriodInSeconds": 3600}}
        for headers in (AUTH, OTHER):
            async with http.post(
                f"{sim.base_url}/api/orders/hook/config", json=hook, headers=headers
            ) as resp:
                assert 200 == resp.status
        async with http.post(f"{sim.base_url}/api/orders/feed/config", json=feed, headers=OTHER) as resp:
            assert 200 == resp.status
        await sim.sender.run(sim.workload(1, mix={"happy": 1.0}), rate_per_s=0)
        await sim.sender.drain(timeout=10)
        keys = sorted(b["Origin"]["Key"] for b in hook_receiver.accepted_bodies())
        assert sorted([sim.config.app_key, "vtexappkey-other"]) == keys
        async with http.get(f"{sim.base_url}/api/orders/feed?maxlot=10", headers=AUTH) as resp:
            assert 404 == resp.status
        async with http.get(f"{sim.base_url}/api/orders/feed?maxlot=10", headers=OTHER) as resp:
            assert 10 == len(await resp.json())


class TestInactivity:
    """A hook with no notification for 3 days disappears (404); activity keeps it alive."""

    async def test_deleted_after_three_idle_days(
        self, sim_factory: SimFactory, http: aiohttp.ClientSession, hook_receiver: HookReceiver
    ) -> None:
        clock = ManualClock()
        sim = await sim_factory(clock=clock)
        body = {
            "filter": {"type": "FromWorkflow", "status": ["invoiced"]},
            "hook": {"url": hook_receiver.url},
        }
        async with http.post(f"{sim.base_url}/api/orders/hook/config", json=body, headers=AUTH) as resp:
            assert 200 == resp.status
        clock.advance(VTEX_HOOK_INACTIVITY_S - 1)
        await sim.sender.run(sim.workload(1, mix={"happy": 1.0}), rate_per_s=0)  # invoiced: activity
        await sim.sender.drain(timeout=10)
        clock.advance(VTEX_HOOK_INACTIVITY_S - 1)
        async with http.get(f"{sim.base_url}/api/orders/hook/config", headers=AUTH) as resp:
            assert 200 == resp.status
        clock.advance(1)
        async with http.get(f"{sim.base_url}/api/orders/hook/config", headers=AUTH) as resp:
            assert 404 == resp.status
