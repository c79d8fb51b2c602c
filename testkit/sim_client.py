"""The chaos harness's client of the simulator's HTTP API: workloads, knobs, counters, what it delivered.

Only the simulator's public interfaces are used (`/_sim/*` and the Feed v3 configuration API), so its
internals may change freely.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import aiohttp

from bridge.settings import SIMULATOR_APP_KEY, SIMULATOR_APP_TOKEN
from testkit.checker import Expectation

#: Feed v3 with the hook's every-change filter, so the hook and the feed carry the same events.
EVERY_CHANGE_FEED: dict[str, Any] = {
    "filter": {"type": "FromOrders", "expression": "$exists(orderId)", "disableSingleFire": True},
    "queue": {"visibilityTimeoutInSeconds": 240, "MessageRetentionPeriodInSeconds": 345600},
}


@dataclass(frozen=True)
class Workload:
    orders: int
    transitions: int


@dataclass
class SimClient:
    session: aiohttp.ClientSession
    base_url: str

    async def configure_every_change_feed(self) -> None:
        headers = {"X-VTEX-API-AppKey": SIMULATOR_APP_KEY, "X-VTEX-API-AppToken": SIMULATOR_APP_TOKEN}
        url = f"{self.base_url}/api/orders/feed/config"
        async with self.session.post(url, json=EVERY_CHANGE_FEED, headers=headers) as response:
            assert 200 == response.status, await response.text()

    async def start_workload(self, orders: int, *, seed: int, rate_per_s: float) -> Workload:
        """Start driving `orders` seeded orders (`rate_per_s` transitions per second, 0 = flat out)."""
        body = {"orders": orders, "seed": seed, "rate_per_s": rate_per_s}
        async with self.session.post(f"{self.base_url}/_sim/workload", json=body) as response:
            assert 202 == response.status, await response.text()
            data = await response.json()
        return Workload(orders=int(data["orders"]), transitions=int(data["transitions"]))

    async def controls(self, **changes: Any) -> dict[str, Any]:
        """Change runtime knobs (`oms_5xx_rate`, `hook_paused`, ...); return them all."""
        async with self.session.post(f"{self.base_url}/_sim/controls", json=changes) as response:
            assert 200 == response.status, await response.text()
            return dict(await response.json())

    async def stats(self) -> dict[str, Any]:
        async with self.session.get(f"{self.base_url}/_sim/stats") as response:
            assert 200 == response.status, await response.text()
            return dict(await response.json())

    async def sender(self) -> dict[str, int]:
        """Return the hook sender's counts (`accepted`, `sent`, `pending`, `retried`, ...)."""
        return dict((await self.stats())["sender"])

    async def counter(self, *names: str) -> int:
        """Return the sum of the simulator's counters `names` (e.g. `oms_429`, `feed_items_read`)."""
        counters = (await self.stats())["counters"]
        return sum(int(counters.get(name, 0)) for name in names)

    async def feed_backlog(self) -> int:
        """Return the messages in the simulator's feeds (in flight or not)."""
        return sum(int(n) for n in (await self.stats())["feed_depth"].values())

    async def deliveries(self) -> list[dict[str, Any]]:
        """Return every kept delivery record, following `/_sim/deliveries`' pages."""
        records: list[dict[str, Any]] = []
        after: str | None = "-1"
        while after is not None:
            url = f"{self.base_url}/_sim/deliveries"
            async with self.session.get(url, params={"after": after}) as response:
                assert 200 == response.status, await response.text()
                records += await response.json()
                after = response.headers.get("X-Next-After")
        return records

    async def expectation(self, *, feed_is_lossless: bool = False) -> Expectation:
        """Return what the simulator delivered; with a feed, every notified event must appear too."""
        async with self.session.get(f"{self.base_url}/_sim/accepted") as response:
            accepted = await response.json()
        deliveries = await self.deliveries()
        also = [str(d["event_id"]) for d in deliveries] if feed_is_lossless else []
        return Expectation.from_simulator(accepted, deliveries, also_must=also)
