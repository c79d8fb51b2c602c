"""Unit tests of the worker's parking decision (`processors.parking.Parking`) over real lanes.

Keys "a/..." belong to account a and "b/..." to account b; each account's handler blocks on its own
gate, so its events stay pending in the lanes until the test opens it. No Kafka: the reader is a stub
that records what it was woken for, or a real `ParkedReader` over the fake consumer of
`test_parked_reader`.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from processors.lanes import LaneScheduler
from processors.parked import Ack, ParkedEvents
from processors.parked_reader import ParkedReader
from processors.parking import Parking
from processors.work import Work
from testkit.kafka import wait_until
from tests.processors.test_parked_reader import FakeConsumer, Record

DEADLINE_S = 5.0


class StubReader(ParkedReader):
    """Records `wake` and `stop` instead of reading the input topic."""

    def __init__(self, events: ParkedEvents) -> None:
        super().__init__(
            events, topic="t", room=self._never, resubmit=self._never_resubmit, consumer=self._no
        )
        self.woken: list[tuple[int, str]] = []
        self.stopped: list[set[int] | None] = []

    def wake(self, partition: int, account: str) -> None:
        self.woken.append((partition, account))

    async def stop(self, partitions: set[int] | None = None) -> None:
        self.stopped.append(partitions)

    @staticmethod
    async def _never(account: str) -> None:
        raise AssertionError("the stub reader reads nothing")

    @staticmethod
    async def _never_resubmit(partition: int, record: Any, ack: Ack) -> None:
        raise AssertionError("the stub reader reads nothing")

    @staticmethod
    def _no() -> FakeConsumer:
        raise AssertionError("the stub reader reads nothing")


@dataclass
class World:
    """Lanes whose handler blocks per account, a `Parking` over them, and what the handler saw."""

    lanes: LaneScheduler[Work]
    parking: Parking
    gates: dict[str, asyncio.Event]
    handled: list[tuple[str, int, int]] = field(default_factory=list)  # (key, partition, offset)
    acks: list[tuple[int, int]] = field(default_factory=list)

    def work(self, partition: int, offset: int, key: str) -> Work:
        def ack() -> None:
            self.acks.append((partition, offset))

        return Work(partition, offset, key.encode(), b"{}", None, None, ack)

    async def offer(self, partition: int, offset: int, key: str) -> bool:
        """What `Runtime.submit` does: park, or queue in the lanes; return whether it was parked."""
        work = self.work(partition, offset, key)
        if self.parking.divert(partition, key, work):
            return True
        await self.lanes.submit(key, partition, work)
        return False

    @property
    def stub(self) -> StubReader:
        assert isinstance(self.parking.reader, StubReader)
        return self.parking.reader


def _account(key: str) -> str:
    return key.split("/", 1)[0]


def _world(accounts: int = 2, bound: int = 2) -> World:
    gates = {"a": asyncio.Event(), "b": asyncio.Event()}
    world: World

    async def handler(key: str, batch: list[Work]) -> None:
        await gates[_account(key)].wait()
        for work in batch:
            world.handled.append((key, work.partition, work.offset))
            work.ack()

    lanes: LaneScheduler[Work] = LaneScheduler(handler, max_active=10, max_pending=100, slot_class=_account)

    async def resubmit(partition: int, record: Any, ack: Ack) -> None:
        work = Work(partition, record.offset, record.key, record.value or b"", None, None, ack)
        await lanes.submit((record.key or b"").decode(), partition, work)

    parking = Parking(
        lanes, accounts=accounts, bound=bound, topic="t", bootstrap="127.0.0.1:1", resubmit=resubmit
    )
    parking.reader = StubReader(parking.events)
    world = World(lanes, parking, gates)
    return world


@pytest.fixture
async def world() -> AsyncIterator[World]:
    built = _world()
    yield built
    await _close(built)


async def _close(world: World) -> None:
    for gate in world.gates.values():
        gate.set()
    await asyncio.wait_for(world.parking.stop(), DEADLINE_S)
    await asyncio.wait_for(world.lanes.close(), DEADLINE_S)


class TestParking:
    """An account beyond its bound, or with parked events in the partition, is parked; the others flow."""

    async def test_the_account_beyond_its_bound_is_parked_and_the_other_flows(self, world: World) -> None:
        assert not await world.offer(0, 0, "b/1")
        assert not await world.offer(0, 1, "b/2")
        assert 2 == world.lanes.class_pending("b")
        assert await world.offer(0, 2, "b/3")  # b holds its bound: parked
        assert [(0, "b")] == world.stub.woken
        assert world.parking.events.contains(0, "b", 2)
        assert 2 == world.lanes.class_pending("b")  # the parked one is not in the lanes
        assert not world.lanes.has_lane("b/3")
        # Account a is unaffected.
        assert not await world.offer(0, 3, "a/1")
        assert not await world.offer(1, 0, "a/2")
        assert 2 == world.lanes.class_pending("a")
        assert not world.parking.events.active(0, "a")
        assert [(0, "b")] == world.stub.woken

    async def test_parked_in_a_partition_parks_the_later_ones_there_even_with_room(
        self, world: World
    ) -> None:
        for offset, key in enumerate(("b/1", "b/2")):
            assert not await world.offer(0, offset, key)
        assert await world.offer(0, 2, "b/1")
        world.gates["b"].set()  # b's lanes drain: b has room again
        await wait_until(lambda: world.lanes.class_pending("b") == 0, timeout=DEADLINE_S, message="b drained")
        assert await world.offer(0, 3, "b/1")  # behind its parked event in partition 0
        assert await world.offer(0, 4, "b/9")
        assert (2, 4) == (world.parking.events.oldest(0, "b"), world.parking.events.newest(0, "b"))
        assert 3 == world.parking.events.count(0, "b")
        assert [2, 3, 4] == [o for o in range(6) if world.parking.events.contains(0, "b", o)]
        # Partition 1 has nothing of b parked: b has room, so its event goes to the lanes.
        assert not await world.offer(1, 0, "b/1")
        assert not world.parking.events.active(1, "b")
        await wait_until(lambda: ("b/1", 1, 0) in world.handled, timeout=DEADLINE_S, message="p1 handled")
        assert [(0, "b")] == sorted(set(world.stub.woken))

    async def test_one_account_is_never_parked(self) -> None:
        world = _world(accounts=1)
        try:
            assert not world.parking.enabled
            for offset in range(5):
                assert not await world.offer(0, offset, "b/1")
            assert 5 == world.lanes.class_pending("b")
            assert 0 == len(world.parking.events)
            assert [] == world.stub.woken
        finally:
            await _close(world)

    async def test_revoke_forgets_the_partitions_parked_events(self, world: World) -> None:
        assert not await world.offer(0, 0, "b/1")
        assert not await world.offer(1, 0, "b/2")
        assert await world.offer(0, 1, "b/1")
        assert await world.offer(1, 1, "b/2")
        assert 2 == len(world.parking.events)
        await world.parking.revoke([0])
        assert [{0}] == world.stub.stopped  # its readers stopped first
        assert not world.parking.events.active(0, "b")
        assert world.parking.events.active(1, "b")
        assert (1, 1) == (world.parking.events.oldest(1, "b"), world.parking.events.count(1, "b"))
        assert [] == world.acks  # never acked: the next owner reads them again

    async def test_bound_is_at_least_one(self) -> None:
        world = _world(bound=0)
        try:
            assert 1 == world.parking.bound
            assert not await world.offer(0, 0, "b/1")
            assert await world.offer(0, 1, "b/1")
        finally:
            await _close(world)


class TestParkingWithItsReader:
    """With a real reader (over a fake consumer): the parked events join their lanes once b has room, in
    offset order, behind b's events that went to the lanes directly, and every one is acked."""

    async def test_parked_events_come_back_in_order(self) -> None:
        world = _world()
        records = [Record(i, b"b/1", b"{}") for i in range(10)]
        consumers: list[FakeConsumer] = []

        def consumer() -> FakeConsumer:
            consumers.append(FakeConsumer(records))
            return consumers[-1]

        async def resubmit(partition: int, record: Any, ack: Ack) -> None:
            work = Work(partition, record.offset, record.key, record.value or b"", None, None, ack)
            await world.lanes.submit((record.key or b"").decode(), partition, work)

        world.parking.reader = ParkedReader(
            world.parking.events,
            topic="t",
            room=lambda account: world.lanes.wait_class_room(account, world.parking.bound),
            resubmit=resubmit,
            consumer=consumer,
        )
        try:
            parked = [await world.offer(0, offset, "b/1") for offset in range(5)]
            assert [False, False, True, True, True] == parked
            assert [(0, "b")] == world.parking.reader.reading()  # waits for b's room
            assert [] == consumers
            world.gates["b"].set()
            await wait_until(lambda: len(world.acks) == 5, timeout=DEADLINE_S, message="all five acked")
            assert [0, 1, 2, 3, 4] == [offset for key, _p, offset in world.handled if key == "b/1"]
            await wait_until(lambda: not world.parking.reader.reading(), timeout=DEADLINE_S, message="ended")
            assert 0 == len(world.parking.events)
            assert not await world.offer(0, 5, "b/1")  # nothing parked any more: straight to the lanes
        finally:
            await _close(world)
