"""Contract tests of `GET /api/oms/pvt/orders/{orderId}`: auth, 404, the document, throttling, faults."""

from __future__ import annotations

import aiohttp

from bridge.validation import validate
from simulator.server import SimHandle
from tests.simulator.conftest import AUTH, BAD_AUTH
from tests.support.sim import SimFactory


def _drive_first_order(sim: SimHandle, steps: int) -> str:
    lifecycle = sim.workload(1, mix={"happy": 1.0}).lifecycles[0]
    for transition in lifecycle.transitions[:steps]:
        sim.emit(transition)
    return lifecycle.order_id


class TestGetOrder:
    """A known order returns its full document whose status and lastChange follow the lifecycle."""

    async def test_document_follows_lifecycle(self, sim: SimHandle, http: aiohttp.ClientSession) -> None:
        lifecycle = sim.workload(1, mix={"happy": 1.0}).lifecycles[0]
        url = f"{sim.base_url}/api/oms/pvt/orders/{lifecycle.order_id}"
        for transition in lifecycle.transitions:
            sim.emit(transition)
            async with http.get(url, headers=AUTH) as resp:
                assert 200 == resp.status
                assert "application/json" == resp.content_type
                doc = await resp.json()
            assert transition.state == doc["status"]
            assert doc["lastChange"].startswith(transition.at.strftime("%Y-%m-%dT%H:%M:%S.%f"))
            validate("oms-order", doc)
        assert doc["packageAttachment"]["packages"]

    async def test_by_sequence(self, sim: SimHandle, http: aiohttp.ClientSession) -> None:
        order_id = _drive_first_order(sim, 1)
        async with http.get(f"{sim.base_url}/api/oms/pvt/orders/seq{order_id[7:13]}", headers=AUTH) as resp:
            assert 200 == resp.status
            assert order_id == (await resp.json())["orderId"]

    async def test_unknown_order(self, sim: SimHandle, http: aiohttp.ClientSession) -> None:
        async with http.get(f"{sim.base_url}/api/oms/pvt/orders/0000000000000-01", headers=AUTH) as resp:
            assert 404 == resp.status
            body = await resp.json()
        assert {"code", "message", "exception"} == set(body["error"])
        assert body["error"]["exception"] is None


class TestAuth:
    """Missing credentials are 401, wrong ones 403, both with the OMS error envelope."""

    async def test_wrong_token(self, sim: SimHandle, http: aiohttp.ClientSession) -> None:
        order_id = _drive_first_order(sim, 1)
        async with http.get(f"{sim.base_url}/api/oms/pvt/orders/{order_id}", headers=BAD_AUTH) as resp:
            assert 403 == resp.status
            assert "403" == (await resp.json())["error"]["code"]

    async def test_missing(self, sim: SimHandle, http: aiohttp.ClientSession) -> None:
        async with http.get(f"{sim.base_url}/api/oms/pvt/orders/x") as resp:
            assert 401 == resp.status

    async def test_extra_credentials(self, sim_factory: SimFactory, http: aiohttp.ClientSession) -> None:
        sim = await sim_factory(extra_credentials=(("other-key", "other-token"),))
        headers = {"X-VTEX-API-AppKey": "other-key", "X-VTEX-API-AppToken": "other-token"}
        async with http.get(f"{sim.base_url}/api/oms/pvt/orders/x", headers=headers) as resp:
            assert 404 == resp.status


class TestThrottling:
    """Past the per-account limit the OMS answers 429 with Retry-After in seconds."""

    async def test_rate_limit(self, sim_factory: SimFactory, http: aiohttp.ClientSession) -> None:
        sim = await sim_factory(rate_limit_per_minute=3)
        statuses = []
        for _ in range(4):
            async with http.get(f"{sim.base_url}/api/oms/pvt/orders/x", headers=AUTH) as resp:
                statuses.append(resp.status)
                retry_after = resp.headers.get("Retry-After")
        assert [404, 404, 404, 429] == statuses
        assert retry_after is not None and int(retry_after) >= 1


class TestFaults:
    """Runtime controls inject 429s, 5xx and hangs; turning them off restores normal answers."""

    async def test_injected_errors(self, sim: SimHandle, http: aiohttp.ClientSession) -> None:
        order_id = _drive_first_order(sim, 1)
        url = f"{sim.base_url}/api/oms/pvt/orders/{order_id}"
        sim.controls.update({"oms_429_rate": 1.0})
        async with http.get(url, headers=AUTH) as resp:
            assert 429 == resp.status
            assert "1" == resp.headers["Retry-After"]
        sim.controls.update({"oms_429_rate": 0.0, "oms_5xx_rate": 1.0})
        async with http.get(url, headers=AUTH) as resp:
            assert resp.status in (500, 503)
            assert "error" in await resp.json()
        sim.controls.update({"oms_5xx_rate": 0.0})
        async with http.get(url, headers=AUTH) as resp:
            assert 200 == resp.status

    async def test_timeout(self, sim_factory: SimFactory, http: aiohttp.ClientSession) -> None:
        sim = await sim_factory(oms_timeout_rate=1.0, oms_timeout_hang_s=0.2)
        async with http.get(f"{sim.base_url}/api/oms/pvt/orders/x", headers=AUTH) as resp:
            assert 504 == resp.status
        assert 1 == sim.simulator.counters["oms_timeouts"]

    async def test_error_rates_roughly_hold(
        self, sim_factory: SimFactory, http: aiohttp.ClientSession
    ) -> None:
        sim = await sim_factory(oms_5xx_rate=0.3, rate_limit_per_minute=0)
        statuses = []
        for _ in range(200):
            async with http.get(f"{sim.base_url}/api/oms/pvt/orders/x", headers=AUTH) as resp:
                statuses.append(resp.status)
        failures = sum(1 for s in statuses if s >= 500)
        assert 30 <= failures <= 90


class TestInvalidRequests:
    """Unknown paths and methods get JSON errors, never an HTML page or a crash."""

    async def test_unknown_path_and_method(self, sim: SimHandle, http: aiohttp.ClientSession) -> None:
        async with http.get(f"{sim.base_url}/api/nope") as resp:
            assert 404 == resp.status
            assert "error" in await resp.json()
        async with http.delete(f"{sim.base_url}/api/oms/pvt/orders/x") as resp:
            assert 405 == resp.status
            assert "error" in await resp.json()
