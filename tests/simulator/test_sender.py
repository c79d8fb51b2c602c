"""Contract tests of the hook sender: payloads, ordering, 200-within-timeout, retries, drops, dup/reorder."""

from __future__ import annotations

import itertools
from collections import defaultdict
from typing import Any

import pytest

from bridge.events import compute_event_id
from bridge.settings import SIMULATOR_ACCOUNT, SIMULATOR_APP_KEY
from bridge.validation import validate
from simulator.clock import ManualClock
from simulator.config import VTEX_MAX_ATTEMPTS, VTEX_MAX_RETRY_AGE_S
from simulator.filters import parse_filter
from simulator.server import SimHandle
from simulator.workload import HAPPY, UNDOCUMENTED_STATUSES
from testkit.kafka import wait_until
from tests.support.sim import HookReceiver, SimFactory

EVERY_CHANGE = {"type": "FromOrders", "expression": "$exists(orderId)", "disableSingleFire": True}
HEADERS = {"X-Bridge-Secret": "s3cret"}


def hook(sim: SimHandle, url: str, flt: dict[str, Any] | None = None) -> None:
    """Configure the main appKey's hook directly (the HTTP path and its ping are tested elsewhere)."""
    sim.state.set_hook(SIMULATOR_APP_KEY, parse_filter(flt or EVERY_CHANGE), url, dict(HEADERS))


async def run(sim: SimHandle, orders: int = 1, mix: dict[str, float] | None = None) -> None:
    await sim.sender.run(sim.workload(orders, mix=mix or {"happy": 1.0}), rate_per_s=0)
    await sim.sender.drain(timeout=30)


def states_by_order(bodies: list[dict[str, Any]]) -> dict[str, list[Any]]:
    out: dict[str, list[Any]] = defaultdict(list)
    for body in bodies:
        out[body["OrderId"]].append(body["State"])
    return out


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


class TestPayload:
    """Notifications carry VTEX's fields, Origin and the configured headers, and validate."""

    async def test_fields_and_headers(self, sim: SimHandle, hook_receiver: HookReceiver) -> None:
        hook(sim, hook_receiver.url)
        await run(sim)
        bodies = hook_receiver.accepted_bodies()
        assert list(HAPPY) == [b["State"] for b in bodies]
        assert [None, *HAPPY[:-1]] == [b["LastState"] for b in bodies]
        for received in hook_receiver.received:
            body = received.body
            validate("hook-notification", body)
            assert {"Account": SIMULATOR_ACCOUNT, "Key": SIMULATOR_APP_KEY} == body["Origin"]
            assert "Marketplace" == body["Domain"]
            assert body["LastChange"] < body["CurrentChange"]
            assert "s3cret" == received.headers["X-Bridge-Secret"]
            assert received.headers["Content-Type"].startswith("application/json")

    async def test_last_change_matches_order_document(
        self, sim: SimHandle, hook_receiver: HookReceiver
    ) -> None:
        from bridge.timestamps import canonical_timestamp

        hook(sim, hook_receiver.url)
        await run(sim)
        last = hook_receiver.accepted_bodies()[-1]
        doc = sim.state.get_order(last["OrderId"])
        assert doc is not None
        assert canonical_timestamp(doc["lastChange"]) == canonical_timestamp(last["LastChange"])

    async def test_unknown_and_null_states(self, sim: SimHandle, hook_receiver: HookReceiver) -> None:
        hook(sim, hook_receiver.url)
        await run(sim, orders=2, mix={"unknown_status": 1.0})
        await run(sim, orders=1, mix={"null_state": 1.0})
        states = [b["State"] for b in hook_receiver.accepted_bodies()]
        assert any(s in UNDOCUMENTED_STATUSES for s in states)
        assert None in states

    async def test_workflow_filter(self, sim: SimHandle, hook_receiver: HookReceiver) -> None:
        hook(sim, hook_receiver.url, {"type": "FromWorkflow", "status": ["handling", "canceled"]})
        await run(sim, orders=20, mix={"happy": 1.0, "cancelled": 1.0, "null_state": 1.0})
        assert {"handling", "canceled"} >= {b["State"] for b in hook_receiver.accepted_bodies()}
        assert 20 == len(hook_receiver.accepted_bodies())

    async def test_no_hook_no_notification(self, sim: SimHandle, hook_receiver: HookReceiver) -> None:
        await run(sim, orders=3)
        assert [] == hook_receiver.received
        assert 3 == len(sim.state.orders)


class TestOrdering:
    """Without reordering, each order's events arrive in lifecycle order."""

    async def test_in_order_per_order(self, sim: SimHandle, hook_receiver: HookReceiver) -> None:
        hook(sim, hook_receiver.url)
        workload = sim.workload(30)
        await sim.sender.run(workload, rate_per_s=0)
        await sim.sender.drain(timeout=30)
        expected = {lc.order_id: list(lc.states) for lc in workload.lifecycles}
        assert expected == states_by_order(hook_receiver.accepted_bodies())


class TestDelivery:
    """Only a 200 within the delivery timeout counts; failures retry on a geometric back-off."""

    async def test_retry_until_200(
        self, sim_factory: SimFactory, clock: ManualClock, hook_receiver: HookReceiver
    ) -> None:
        sim = await sim_factory(clock=clock, retry_base_s=10.0, retry_factor=2.0)
        hook(sim, hook_receiver.url)
        hook_receiver.script.extend([(500, 0.0), (204, 0.0), (429, 0.0)])
        sim.emit(sim.workload(1).transitions()[0])
        await sim.sender.drain(timeout=10)
        (record,) = sim.sender.records
        assert ("accepted", 4) == (record.outcome, record.attempts)
        assert ["500", "204", "429", "200"] == record.results
        assert 10.0 + 20.0 + 40.0 == clock.now()
        assert {"sent": 4, "accepted": 1, "retried": 3, "dropped": 0} == {
            k: sim.sender.stats()[k] for k in ("sent", "accepted", "retried", "dropped")
        }

    async def test_slow_200_is_a_failure(self, sim_factory: SimFactory, hook_receiver: HookReceiver) -> None:
        sim = await sim_factory(delivery_timeout_s=0.2, retry_base_s=0.0, clock=ManualClock())
        hook(sim, hook_receiver.url)
        hook_receiver.script.append((200, 0.5))
        sim.emit(sim.workload(1).transitions()[0])
        await sim.sender.drain(timeout=10)
        (record,) = sim.sender.records
        assert ["timeout", "200"] == record.results
        # The receiver processed the slow request too: at-least-once delivery in action.
        await wait_until(
            lambda: len(hook_receiver.received) == 2, timeout=5, message="slow request to finish"
        )

    async def test_unreachable_receiver(self, sim_factory: SimFactory) -> None:
        sim = await sim_factory(clock=ManualClock(), max_attempts=3)
        hook(sim, "http://127.0.0.1:9/hook")
        sim.emit(sim.workload(1).transitions()[0])
        await sim.sender.drain(timeout=10)
        assert ["connection-error"] * 3 == sim.sender.records[0].results


class TestDrop:
    """Events are dropped after the attempt limit or the age limit; VTEX's defaults give ~100 over ~4 days."""

    async def test_attempt_limit(
        self, sim_factory: SimFactory, clock: ManualClock, hook_receiver: HookReceiver
    ) -> None:
        sim = await sim_factory(clock=clock, max_attempts=5)
        hook(sim, hook_receiver.url)
        hook_receiver.default_status = 500
        sim.emit(sim.workload(1).transitions()[0])
        await sim.sender.drain(timeout=10)
        (record,) = sim.sender.records
        assert ("dropped", 5) == (record.outcome, record.attempts)
        assert frozenset() == sim.sender.accepted_events().event_ids
        assert frozenset({record.event_id}) == sim.sender.dropped_events()

    async def test_age_limit(
        self, sim_factory: SimFactory, clock: ManualClock, hook_receiver: HookReceiver
    ) -> None:
        sim = await sim_factory(clock=clock, retry_base_s=1.0, retry_factor=2.0, max_retry_age_s=3.0)
        hook(sim, hook_receiver.url)
        hook_receiver.default_status = 500
        sim.emit(sim.workload(1).transitions()[0])
        await sim.sender.drain(timeout=10)
        assert 3 == sim.sender.records[0].attempts  # at t=0, 1, 3

    async def test_vtex_schedule(
        self, sim_factory: SimFactory, clock: ManualClock, hook_receiver: HookReceiver
    ) -> None:
        sim = await sim_factory(clock=clock)
        hook(sim, hook_receiver.url)
        hook_receiver.default_status = 503
        sim.emit(sim.workload(1).transitions()[0])
        await sim.sender.drain(timeout=60)
        (record,) = sim.sender.records
        assert ("dropped", VTEX_MAX_ATTEMPTS) == (record.outcome, record.attempts)
        assert 3 * 24 * 3600 < clock.now() <= VTEX_MAX_RETRY_AGE_S

    async def test_injected_network_failure(
        self, sim_factory: SimFactory, clock: ManualClock, hook_receiver: HookReceiver
    ) -> None:
        sim = await sim_factory(clock=clock, max_attempts=2)
        hook(sim, hook_receiver.url)
        sim.controls.update({"hook_failure_rate": 1.0})
        sim.emit(sim.workload(1).transitions()[0])
        await sim.sender.drain(timeout=10)
        assert ["injected-failure"] * 2 == sim.sender.records[0].results
        assert [] == hook_receiver.received


class TestDuplicates:
    """duplicate_rate re-sends accepted events; accepted_events() still counts each event once."""

    async def test_every_event_twice(self, sim_factory: SimFactory, hook_receiver: HookReceiver) -> None:
        sim = await sim_factory(duplicate_rate=1.0)
        hook(sim, hook_receiver.url)
        await run(sim, orders=3)
        bodies = hook_receiver.accepted_bodies()
        assert 60 == len(bodies)
        accepted = sim.sender.accepted_events()
        assert 30 == len(accepted.event_ids) == len(accepted.payloads)
        ids = {compute_event_id(b["OrderId"], b["State"], b["LastChange"]) for b in bodies}
        assert ids == accepted.event_ids
        assert 30 == sim.sender.stats()["duplicates"]

    async def test_rate(self, sim_factory: SimFactory, hook_receiver: HookReceiver) -> None:
        sim = await sim_factory(duplicate_rate=0.25)
        hook(sim, hook_receiver.url)
        await run(sim, orders=30)
        duplicates = sim.sender.stats()["duplicates"]
        assert 300 == len(sim.sender.accepted_events().event_ids)
        assert 45 <= duplicates <= 105  # 75 expected; fixed by the seed, so never flaky


class TestReordering:
    """reorder_rate delivers an event after the next one of its order; nothing is lost."""

    async def test_every_pair_swapped(self, sim_factory: SimFactory, hook_receiver: HookReceiver) -> None:
        sim = await sim_factory(reorder_rate=1.0)
        hook(sim, hook_receiver.url)
        await run(sim)
        swapped = [s for i in range(0, len(HAPPY), 2) for s in (HAPPY[i + 1], HAPPY[i])]
        assert swapped == [b["State"] for b in hook_receiver.accepted_bodies()]

    async def test_rate(self, sim_factory: SimFactory, hook_receiver: HookReceiver) -> None:
        sim = await sim_factory(reorder_rate=0.2)
        hook(sim, hook_receiver.url)
        workload = sim.workload(30, mix={"happy": 1.0})
        await sim.sender.run(workload, rate_per_s=0)
        await sim.sender.drain(timeout=30)
        received = states_by_order(hook_receiver.accepted_bodies())
        inversions = 0
        for lifecycle in workload.lifecycles:
            got = received[lifecycle.order_id]
            assert sorted(got, key=str) == sorted(lifecycle.states, key=str)
            position = {s: i for i, s in enumerate(lifecycle.states)}
            inversions += sum(1 for a, b in itertools.pairwise(got) if position[a] > position[b])
        assert 20 <= inversions <= 80  # ~50 expected over 300 events


class TestDriving:
    """A workload runs in the background at a rate; pausing holds deliveries; stats add up."""

    async def test_start_and_drain(self, sim: SimHandle, hook_receiver: HookReceiver) -> None:
        hook(sim, hook_receiver.url)
        workload = sim.workload(5)
        sim.sender.start(workload, rate_per_s=500)
        await sim.sender.drain(timeout=30)
        assert len(workload) == len(hook_receiver.accepted_bodies())
        assert len(workload) == sim.sender.stats()["accepted"]

    async def test_pause(self, sim: SimHandle, hook_receiver: HookReceiver) -> None:
        hook(sim, hook_receiver.url)
        sim.controls.update({"hook_paused": True})
        await sim.sender.run(sim.workload(1), rate_per_s=0)
        assert [] == hook_receiver.received
        sim.controls.update({"hook_paused": False})
        await sim.sender.drain(timeout=30)
        assert len(HAPPY) == len(hook_receiver.accepted_bodies())


class TestSeeded:
    """Two simulators with the same seed produce the same orders, events, duplicates and reorderings."""

    async def test_same_seed_same_run(self, sim_factory: SimFactory, hook_receiver: HookReceiver) -> None:
        runs = []
        for _ in range(2):
            sim = await sim_factory(seed=3, duplicate_rate=0.3, reorder_rate=0.3)
            hook(sim, hook_receiver.url)
            await run(sim, orders=10, mix={"happy": 1.0, "cancelled": 1.0})
            decisions = sorted((r.event_id, r.duplicate) for r in sim.sender.records)
            payloads = sorted(orjson_dumps(r.payload) for r in sim.sender.records)
            runs.append((sim.state.orders, decisions, payloads))
        assert runs[0] == runs[1]


def orjson_dumps(value: Any) -> bytes:
    import orjson

    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS)
