"""The simulator's cost does not grow with its history: feed calls, delivery records and counts.

Costs are pinned by operation counts (`FeedQueue.ops`) and by sizes (the delivery ring), not by timing.
"""

from __future__ import annotations

import functools
import random
from collections.abc import Callable

import aiohttp

from bridge.settings import SIMULATOR_APP_KEY
from simulator.feed import FeedQueue
from simulator.filters import parse_filter
from simulator.server import SimHandle
from tests.support.sim import HookReceiver, SimFactory

EVERY_CHANGE = {"type": "FromOrders", "expression": "$exists(orderId)", "disableSingleFire": True}


def _queue(size: int, now: float = 0.0) -> FeedQueue:
    queue = FeedQueue(random.Random(1))
    for n in range(size):
        queue.push({"eventId": f"E{n}", "orderId": f"o{n}"}, now=now)
    return queue


def _ops_of(queue: FeedQueue, call: Callable[[], object]) -> int:
    before = queue.ops
    call()
    return queue.ops - before


class TestFeedQueueCost:
    """Expire, read and commit touch what they change, whatever the queue's length."""

    def test_expire_cost_does_not_depend_on_queue_length(self) -> None:
        small, large = _queue(10), _queue(10_000)
        costs = [_ops_of(q, functools.partial(q.expire, retention_s=100, now=50.0)) for q in (small, large)]
        assert costs[0] == costs[1] == 1
        assert (10, 10_000) == (small.quantity(), large.quantity())

    def test_expire_cost_is_what_expires(self) -> None:
        queue = _queue(1000, now=0.0)
        for n in range(1000, 1005):
            queue.push({"eventId": f"E{n}"}, now=60.0)
        cost = _ops_of(queue, lambda: queue.expire(retention_s=100, now=100.0))
        assert 5 == queue.quantity()
        assert cost <= 2 * 1000 + 1  # each dropped message once, its heap entry once, one front check

    def test_read_and_commit_cost_does_not_depend_on_backlog(self) -> None:
        costs = []
        for size in (40, 20_000):
            queue = _queue(size)
            for _ in range(3):  # a read-commit cycle, three times over
                items: list[dict[str, object]] = []

                def read_lot(q: FeedQueue = queue, out: list[dict[str, object]] = items) -> None:
                    out.extend(q.receive(10, 240, now=1.0))

                read = _ops_of(queue, read_lot)
                assert 10 == len(items)
                assert 10 == queue.commit([str(i["handle"]) for i in items])
            costs.append(read)
            assert size - 30 == queue.quantity()
        assert costs[0] == costs[1]

    def test_in_flight_items_come_back_oldest_first(self) -> None:
        queue = _queue(30)
        first = queue.receive(10, visibility_s=100, now=0.0)
        second = queue.receive(10, visibility_s=100, now=50.0)
        assert 10 == queue.visible(now=60.0)
        assert 20 == queue.visible(now=100.0)  # the first lot reappeared
        again = queue.receive(10, visibility_s=100, now=100.0)
        assert [i["eventId"] for i in first] == [i["eventId"] for i in again]
        queue.commit([str(i["handle"]) for i in again + second])
        assert (10, 10) == (queue.quantity(), queue.visible(now=200.0))
        # A committed item's in-flight entry is skipped when it surfaces, and costs one op.
        assert ["E20", "E21"] == [i["eventId"] for i in queue.receive(2, 100, now=300.0)]

    def test_expire_drops_read_but_uncommitted_items(self) -> None:
        queue = _queue(3)
        queue.receive(2, visibility_s=1000, now=0.0)
        assert 3 == queue.expire(retention_s=10, now=10.0)
        assert (0, 0, []) == (queue.quantity(), queue.visible(now=2000.0), queue.receive(10, 1, 2000.0))


class TestDeliveryRing:
    """Records stay within the configured ring; counts are running totals over every notification."""

    async def test_ring_is_bounded_and_totals_cover_everything(
        self, sim_factory: SimFactory, hook_receiver: HookReceiver, http: aiohttp.ClientSession
    ) -> None:
        sim: SimHandle = await sim_factory(delivery_records=7, duplicate_rate=0.5)
        sim.state.set_hook(SIMULATOR_APP_KEY, parse_filter(EVERY_CHANGE), hook_receiver.url, {})
        workload = sim.workload(3, mix={"happy": 1.0})
        await sim.sender.run(workload, rate_per_s=0)
        await sim.sender.drain(timeout=30)
        stats = sim.sender.stats()
        assert 7 == len(sim.sender.records) == stats["records_kept"]
        assert len(workload) == stats["accepted_events"]
        assert stats["notifications"] == len(workload) + stats["duplicates"] == stats["accepted"]
        assert (0, 0) == (stats["pending"], stats["dropped"])
        assert len(hook_receiver.received) == stats["sent"]
        assert not sim.sender._order_locks  # per-order locks go with their order's last delivery

    async def test_deliveries_pages(
        self, sim_factory: SimFactory, hook_receiver: HookReceiver, http: aiohttp.ClientSession
    ) -> None:
        sim: SimHandle = await sim_factory(delivery_records=15)
        sim.state.set_hook(SIMULATOR_APP_KEY, parse_filter(EVERY_CHANGE), hook_receiver.url, {})
        await sim.sender.run(sim.workload(2, mix={"happy": 1.0}), rate_per_s=0)  # 20 notifications
        await sim.sender.drain(timeout=30)
        seqs: list[int] = []
        after: str | None = "-1"
        pages = 0
        while after is not None:
            params = {"after": after, "limit": "4"}
            async with http.get(f"{sim.base_url}/_sim/deliveries", params=params) as resp:
                assert 200 == resp.status
                seqs += [d["seq"] for d in await resp.json()]
                after = resp.headers.get("X-Next-After")
            pages += 1
        assert (list(range(5, 20)), 4) == (seqs, pages)  # the 15 kept, oldest first
        async with http.get(f"{sim.base_url}/_sim/deliveries", params={"after": "17"}) as resp:
            assert [18, 19] == [d["seq"] for d in await resp.json()]
            assert "X-Next-After" not in resp.headers
        for bad in ({"limit": "0"}, {"after": "x"}, {"limit": "99999999"}):
            async with http.get(f"{sim.base_url}/_sim/deliveries", params=bad) as resp:
                assert 400 == resp.status
                assert "error" in await resp.json()


class TestOrderBound:
    """With `max_orders`, the account forgets its oldest-created orders (Get order: 404)."""

    async def test_oldest_orders_are_forgotten(self, sim_factory: SimFactory) -> None:
        sim: SimHandle = await sim_factory(max_orders=5)
        workload = sim.workload(12, mix={"happy": 1.0})
        for transition in workload.transitions():
            sim.emit(transition)
        assert 5 == len(sim.state.orders)
        first, last = workload.lifecycles[0], workload.lifecycles[-1]
        assert sim.state.get_order(first.order_id) is None
        kept = sim.state.get_order(last.order_id)
        assert kept is not None
        assert kept is sim.state.get_order(f"seq{kept['sequence']}")
        assert len(sim.state._by_sequence) == 5
