"""Contract tests of `/_sim/*`: controls, stats, deliveries, accepted events, starting a workload."""

from __future__ import annotations

import aiohttp

from bridge.settings import SIMULATOR_APP_KEY
from simulator.server import SimHandle
from testkit.kafka import wait_until
from tests.simulator.conftest import AUTH
from tests.support.sim import HookReceiver


class TestControls:
    """Controls read and change over HTTP, validated, and take effect on the running simulator."""

    async def test_round_trip(self, sim: SimHandle, http: aiohttp.ClientSession) -> None:
        async with http.get(f"{sim.base_url}/_sim/controls") as resp:
            assert 0.0 == (await resp.json())["oms_latency_s"]
        async with http.post(f"{sim.base_url}/_sim/controls", json={"oms_5xx_rate": 1.0}) as resp:
            assert 200 == resp.status
            assert 1.0 == (await resp.json())["oms_5xx_rate"]
        assert 1.0 == sim.controls.oms_5xx_rate
        async with http.get(f"{sim.base_url}/api/oms/pvt/orders/x", headers=AUTH) as resp:
            assert resp.status in (500, 503)

    async def test_invalid(self, sim: SimHandle, http: aiohttp.ClientSession) -> None:
        for body in ({"nope": 1}, {"oms_5xx_rate": 3}):
            async with http.post(f"{sim.base_url}/_sim/controls", json=body) as resp:
                assert 400 == resp.status
                assert "error" in await resp.json()


class TestWorkloadAndStats:
    """POST /_sim/workload drives orders; stats, deliveries and accepted ids describe what happened."""

    async def test_workload(
        self, sim: SimHandle, http: aiohttp.ClientSession, hook_receiver: HookReceiver
    ) -> None:
        body = {
            "filter": {"type": "FromWorkflow", "status": ["invoiced"]},
            "hook": {"url": hook_receiver.url},
        }
        async with http.post(f"{sim.base_url}/api/orders/hook/config", json=body, headers=AUTH) as resp:
            assert 200 == resp.status
        async with http.post(
            f"{sim.base_url}/_sim/workload", json={"orders": 4, "rate_per_s": 0, "mix": {"happy": 1}}
        ) as resp:
            assert 202 == resp.status
            assert 40 == (await resp.json())["transitions"]
        await wait_until(lambda: sim.sender.stats()["accepted"] == 4, timeout=10, message="4 invoiced hooks")
        async with http.get(f"{sim.base_url}/_sim/stats") as resp:
            stats = await resp.json()
        assert 4 == stats["orders"]
        assert 40 == stats["transitions"]
        assert [SIMULATOR_APP_KEY] == stats["hooks"]
        assert {"accepted": 4, "dropped": 0, "pings": 1} == {
            k: stats["sender"][k] for k in ("accepted", "dropped", "pings")
        }
        async with http.get(f"{sim.base_url}/_sim/deliveries", params={"outcome": "accepted"}) as resp:
            deliveries = await resp.json()
        async with http.get(f"{sim.base_url}/_sim/accepted") as resp:
            accepted = await resp.json()
        assert sorted(d["event_id"] for d in deliveries) == accepted["event_ids"]
        assert {"invoiced"} == {p["State"] for p in accepted["payloads"]}

    async def test_bad_workload(self, sim: SimHandle, http: aiohttp.ClientSession) -> None:
        for body in ({}, {"orders": -1}, {"orders": 1, "mix": {"nope": 1}}, {"orders": 1, "rate_per_s": "x"}):
            async with http.post(f"{sim.base_url}/_sim/workload", json=body) as resp:
                assert 400 == resp.status


class TestMetrics:
    """GET /metrics exposes the sender and OMS counters in Prometheus text format."""

    async def test_metrics(self, sim: SimHandle, http: aiohttp.ClientSession) -> None:
        async with http.get(f"{sim.base_url}/api/oms/pvt/orders/x", headers=AUTH) as resp:
            assert 404 == resp.status
        async with http.get(f"{sim.base_url}/metrics") as resp:
            assert 200 == resp.status
            text = await resp.text()
        assert 'vtex_sim_hook_deliveries_total{outcome="accepted"} 0.0' in text
        assert 'vtex_sim_counter_total{name="oms_404"} 1.0' in text
        assert "vtex_sim_orders 0.0" in text
