"""Contract tests of Feed v3: feed config, reading with maxlot, visibility timeout, commit, filters."""

from __future__ import annotations

from typing import Any

import aiohttp
import pytest

from bridge.events import compute_event_id
from simulator.clock import ManualClock
from simulator.server import SimHandle
from tests.simulator.conftest import AUTH, BAD_AUTH
from tests.support.sim import SimFactory

CONFIG = "/api/orders/feed/config"
FEED = "/api/orders/feed"
QUEUE = {"visibilityTimeoutInSeconds": 240, "MessageRetentionPeriodInSeconds": 345600}


async def configure(http: aiohttp.ClientSession, sim: SimHandle, body: Any) -> tuple[int, Any]:
    async with http.post(f"{sim.base_url}{CONFIG}", json=body, headers=AUTH) as resp:
        return resp.status, await resp.json()


async def read(http: aiohttp.ClientSession, sim: SimHandle, maxlot: int = 10) -> list[dict[str, Any]]:
    async with http.get(f"{sim.base_url}{FEED}", params={"maxlot": str(maxlot)}, headers=AUTH) as resp:
        assert 200 == resp.status
        items: list[dict[str, Any]] = await resp.json()
        return items


async def commit(http: aiohttp.ClientSession, sim: SimHandle, items: list[dict[str, Any]]) -> int:
    async with http.post(
        f"{sim.base_url}{FEED}", json={"handles": [i["handle"] for i in items]}, headers=AUTH
    ) as resp:
        return resp.status


def drive(sim: SimHandle, kind: str = "happy", orders: int = 1) -> None:
    for transition in sim.workload(orders, mix={kind: 1.0}).transitions():
        sim.emit(transition)


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
async def feed_sim(sim_factory: SimFactory, clock: ManualClock) -> SimHandle:
    return await sim_factory(clock=clock)


class TestFeedConfig:
    """Config round-trips; omitted filter means all statuses; 404 without config; 400 on bad queue."""

    async def test_round_trip(self, feed_sim: SimHandle, http: aiohttp.ClientSession) -> None:
        flt = {"type": "FromWorkflow", "status": ["handling"]}
        assert 200 == (await configure(http, feed_sim, {"filter": flt, "queue": QUEUE}))[0]
        async with http.get(f"{feed_sim.base_url}{CONFIG}", headers=AUTH) as resp:
            body = await resp.json()
        assert flt == body["filter"]
        assert {"visibilityTimeoutInSeconds": 240, "messageRetentionPeriodInSeconds": 345600} == body["queue"]
        assert 0 == body["quantity"]
        assert isinstance(body["approximateAgeOfOldestMessageInSeconds"], float)

    async def test_default_filter_is_every_status(
        self, feed_sim: SimHandle, http: aiohttp.ClientSession
    ) -> None:
        queue = {"visibilityTimeoutInSeconds": 60, "messageRetentionPeriodInSeconds": 3600}
        status, body = await configure(http, feed_sim, {"queue": queue})
        assert 200 == status
        assert "FromWorkflow" == body["filter"]["type"]
        assert "invoiced" in body["filter"]["status"]

    async def test_nothing_configured(self, feed_sim: SimHandle, http: aiohttp.ClientSession) -> None:
        for method, path in (("GET", CONFIG), ("DELETE", CONFIG), ("GET", f"{FEED}?maxlot=1")):
            async with http.request(method, f"{feed_sim.base_url}{path}", headers=AUTH) as resp:
                assert 404 == resp.status
        async with http.post(f"{feed_sim.base_url}{FEED}", json={"handles": []}, headers=AUTH) as resp:
            assert 404 == resp.status

    @pytest.mark.parametrize(
        "body",
        [
            {"queue": {"visibilityTimeoutInSeconds": 240}},
            {"queue": {"visibilityTimeoutInSeconds": 0, "MessageRetentionPeriodInSeconds": 10}},
            {"queue": {"visibilityTimeoutInSeconds": 240, "MessageRetentionPeriodInSeconds": 1209601}},
            {"filter": {"type": "FromWorkflow", "status": []}, "queue": QUEUE},
            {"filter": {"type": "FromWorkflow"}},
        ],
    )
    async def test_invalid(self, body: Any, feed_sim: SimHandle, http: aiohttp.ClientSession) -> None:
        assert 400 == (await configure(http, feed_sim, body))[0]

    async def test_mixed_filter_conflict(self, feed_sim: SimHandle, http: aiohttp.ClientSession) -> None:
        flt = {"type": "FromOrders", "expression": "true", "status": ["handling"]}
        assert 409 == (await configure(http, feed_sim, {"filter": flt, "queue": QUEUE}))[0]

    async def test_bad_credentials(self, feed_sim: SimHandle, http: aiohttp.ClientSession) -> None:
        async with http.get(f"{feed_sim.base_url}{FEED}?maxlot=1", headers=BAD_AUTH) as resp:
            assert 403 == resp.status

    async def test_delete_removes_queue(self, feed_sim: SimHandle, http: aiohttp.ClientSession) -> None:
        await configure(http, feed_sim, {"queue": QUEUE})
        drive(feed_sim)
        async with http.delete(f"{feed_sim.base_url}{CONFIG}", headers=AUTH) as resp:
            assert 200 == resp.status
        assert {} == feed_sim.state.feed_depth()


class TestQueue:
    """Items are camelCase events in order; maxlot caps a read; read items hide until the timeout."""

    async def test_items(self, feed_sim: SimHandle, http: aiohttp.ClientSession) -> None:
        flt = {"type": "FromWorkflow", "status": ["payment-approved", "handling", "invoiced"]}
        await configure(http, feed_sim, {"filter": flt, "queue": QUEUE})
        drive(feed_sim)
        items = await read(http, feed_sim)
        assert ["payment-approved", "handling", "invoiced"] == [i["state"] for i in items]
        keys = {"eventId", "handle", "domain", "state", "lastState", "orderId", "lastChange", "currentChange"}
        assert all(keys == set(i) for i in items)
        assert ["payment-pending", "start-handling", "invoice"] == [i["lastState"] for i in items]
        assert all(i["lastChange"].endswith("Z") and len(i["eventId"]) == 32 for i in items)

    async def test_maxlot(self, feed_sim: SimHandle, http: aiohttp.ClientSession) -> None:
        await configure(http, feed_sim, {"queue": QUEUE})
        drive(feed_sim, orders=2)
        assert 10 == len(await read(http, feed_sim, maxlot=10))
        assert 3 == len(await read(http, feed_sim, maxlot=3))
        for bad in ("0", "11", "x", ""):
            async with http.get(f"{feed_sim.base_url}{FEED}", params={"maxlot": bad}, headers=AUTH) as resp:
                assert 400 == resp.status
        async with http.get(f"{feed_sim.base_url}{FEED}", headers=AUTH) as resp:
            assert 400 == resp.status

    async def test_visibility_timeout_and_commit(
        self, feed_sim: SimHandle, clock: ManualClock, http: aiohttp.ClientSession
    ) -> None:
        await configure(
            http,
            feed_sim,
            {"filter": {"type": "FromWorkflow", "status": ["handling", "invoiced"]}, "queue": QUEUE},
        )
        drive(feed_sim)
        first = await read(http, feed_sim)
        assert 2 == len(first)
        assert [] == await read(http, feed_sim)
        clock.advance(239)
        assert [] == await read(http, feed_sim)
        clock.advance(1)
        again = await read(http, feed_sim)
        assert [i["eventId"] for i in first] == [i["eventId"] for i in again]
        assert 200 == await commit(http, feed_sim, again[:1])
        async with http.get(f"{feed_sim.base_url}{CONFIG}", headers=AUTH) as resp:
            assert 1 == (await resp.json())["quantity"]
        clock.advance(240)
        assert [again[1]["eventId"]] == [i["eventId"] for i in await read(http, feed_sim)]

    async def test_commit_body_validation(self, feed_sim: SimHandle, http: aiohttp.ClientSession) -> None:
        await configure(http, feed_sim, {"queue": QUEUE})
        for body in ({}, {"handles": "x"}, {"handles": [1]}):
            async with http.post(f"{feed_sim.base_url}{FEED}", json=body, headers=AUTH) as resp:
                assert 400 == resp.status

    async def test_retention(
        self, feed_sim: SimHandle, clock: ManualClock, http: aiohttp.ClientSession
    ) -> None:
        queue = {"visibilityTimeoutInSeconds": 10, "messageRetentionPeriodInSeconds": 100}
        await configure(http, feed_sim, {"queue": queue})
        drive(feed_sim)
        clock.advance(50)
        drive(feed_sim, kind="cancelled")  # other seed-equal ids: re-drives the same first order id
        clock.advance(50)
        async with http.get(f"{feed_sim.base_url}{CONFIG}", headers=AUTH) as resp:
            body = await resp.json()
        assert 8 == body["quantity"]  # the 10 happy events expired, the 8 later ones remain
        assert 50.0 == body["approximateAgeOfOldestMessageInSeconds"]

    async def test_idle_feed_is_deleted(
        self, feed_sim: SimHandle, clock: ManualClock, http: aiohttp.ClientSession
    ) -> None:
        await configure(
            http,
            feed_sim,
            {"queue": {"visibilityTimeoutInSeconds": 10, "messageRetentionPeriodInSeconds": 100}},
        )
        clock.advance(100)
        async with http.get(f"{feed_sim.base_url}{CONFIG}", headers=AUTH) as resp:
            assert 404 == resp.status


class TestFilters:
    """FromOrders uses JSONata on the order; single fire lets an order in once; events match hook ids."""

    async def test_from_orders_single_fire(self, feed_sim: SimHandle, http: aiohttp.ClientSession) -> None:
        flt = {
            "type": "FromOrders",
            "expression": "$exists(packageAttachment.packages[0])",
            "disableSingleFire": False,
        }
        await configure(http, feed_sim, {"filter": flt, "queue": QUEUE})
        drive(feed_sim, kind="invoice_after_cancellation_deny")
        assert ["invoice-after-cancellation-deny"] == [i["state"] for i in await read(http, feed_sim)]

    async def test_from_orders_every_change(self, feed_sim: SimHandle, http: aiohttp.ClientSession) -> None:
        flt = {
            "type": "FromOrders",
            "expression": "$exists(packageAttachment.packages[0])",
            "disableSingleFire": True,
        }
        await configure(http, feed_sim, {"filter": flt, "queue": QUEUE})
        drive(feed_sim, kind="invoice_after_cancellation_deny")
        assert ["invoice-after-cancellation-deny", "invoiced"] == [
            i["state"] for i in await read(http, feed_sim)
        ]

    async def test_reconfigure_keeps_events(self, feed_sim: SimHandle, http: aiohttp.ClientSession) -> None:
        await configure(
            http, feed_sim, {"filter": {"type": "FromWorkflow", "status": ["handling"]}, "queue": QUEUE}
        )
        drive(feed_sim)
        await configure(
            http, feed_sim, {"filter": {"type": "FromWorkflow", "status": ["canceled"]}, "queue": QUEUE}
        )
        assert ["handling"] == [i["state"] for i in await read(http, feed_sim)]

    async def test_feed_and_hook_share_event_identity(
        self, feed_sim: SimHandle, http: aiohttp.ClientSession
    ) -> None:
        await configure(
            http, feed_sim, {"filter": {"type": "FromWorkflow", "status": ["handling"]}, "queue": QUEUE}
        )
        lifecycle = feed_sim.workload(1, mix={"happy": 1.0}).lifecycles[0]
        for transition in lifecycle.transitions:
            feed_sim.emit(transition)
        (item,) = await read(http, feed_sim)
        handling = next(t for t in lifecycle.transitions if t.state == "handling")
        from bridge.timestamps import format_vtex_timestamp

        assert compute_event_id(
            lifecycle.order_id, "handling", format_vtex_timestamp(handling.at)
        ) == compute_event_id(item["orderId"], item["state"], item["lastChange"])
