"""Unit tests of the reader that hands parked events back (`processors.parked_reader.ParkedReader`).

A fake consumer serves an in-memory partition (offsets 0..20), so no Kafka is needed: what the reader
reads, in which order it hands parked records back, how it waits for its account's room, seeks back,
restarts after it failed, and stops on revocation.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
from aiokafka import TopicPartition

import processors.parked_reader as parked_reader_module
from processors.parked import Ack, ParkedEvents
from processors.parked_reader import ParkedReader
from testkit.kafka import wait_until

TOPIC = "in"
DEADLINE_S = 5.0


@dataclass
class Record:
    offset: int
    key: bytes | None
    value: bytes | None
    headers: Any = ()


def _partition(count: int = 21) -> list[Record]:
    return [Record(i, f"k{i}".encode(), f"v{i}".encode()) for i in range(count)]


@dataclass
class FakeConsumer:
    """The `_Reader` protocol over a list of records: `seek` sets the position, `getmany` reads on."""

    records: list[Record]
    #: Awaited by `stop` when set (to hold the reader in its `finally`).
    stop_gate: asyncio.Event | None = None
    start_error: Exception | None = None
    started: bool = False
    stopped: bool = False
    assigned: list[TopicPartition] = field(default_factory=list)
    seeks: list[int] = field(default_factory=list)
    fetched: list[int] = field(default_factory=list)
    pos: int = 0

    async def start(self) -> None:
        if self.start_error is not None:
            raise self.start_error
        self.started = True

    async def stop(self) -> None:
        if self.stop_gate is not None:
            await self.stop_gate.wait()
        self.stopped = True

    def assign(self, partitions: list[TopicPartition]) -> None:
        self.assigned = list(partitions)

    def seek(self, partition: TopicPartition, offset: int) -> None:
        self.seeks.append(offset)
        self.pos = offset

    async def position(self, partition: TopicPartition) -> int:
        return self.pos

    async def getmany(
        self, *partitions: TopicPartition, timeout_ms: int = 0, max_records: int | None = None
    ) -> dict[TopicPartition, list[Any]]:
        left = [r for r in self.records if r.offset >= self.pos]
        if max_records is not None:
            left = left[:max_records]
        if not left:
            await asyncio.sleep(min(timeout_ms / 1000, 0.01))
            return {}
        self.pos = left[-1].offset + 1
        self.fetched.extend(r.offset for r in left)
        return {partitions[0]: list(left)}


async def _open(account: str) -> None:
    return None


class Harness:
    """A `ParkedReader` over `ParkedEvents`, its fake consumers, and what it handed back."""

    def __init__(
        self,
        room: Callable[[str], Awaitable[None]] = _open,
        on_resubmit: Callable[[int], Awaitable[None]] | None = None,
        consumer: Callable[[int], FakeConsumer] | None = None,
    ) -> None:
        self.events = ParkedEvents()
        self.records = _partition()
        self.consumers: list[FakeConsumer] = []
        #: Offsets handed back (resubmit returned), and every attempt (also those that raised).
        self.resubmitted: list[int] = []
        self.attempts: list[int] = []
        #: The acks handed back with them.
        self.handed: list[Ack] = []
        self.acks: list[int] = []
        self._on_resubmit = on_resubmit
        self._consumer = consumer
        #: Accounts of the parked events given up (no longer in the log).
        self.expired: list[str] = []
        self.reader = ParkedReader(
            self.events,
            topic=TOPIC,
            room=room,
            resubmit=self._resubmit,
            consumer=self._build,
            expired=self.expired.append,
        )

    def park(self, offset: int, partition: int = 0, account: str = "b") -> None:
        self.events.park(partition, account, offset, lambda: self.acks.append(offset))

    def _build(self) -> FakeConsumer:
        built = self._consumer(len(self.consumers)) if self._consumer else FakeConsumer(self.records)
        self.consumers.append(built)
        return built

    async def _resubmit(self, partition: int, record: Any, ack: Ack) -> None:
        assert partition == 0 or partition == 1
        self.attempts.append(record.offset)
        if self._on_resubmit is not None:
            await self._on_resubmit(record.offset)
        self.resubmitted.append(record.offset)
        self.handed.append(ack)

    async def ended(self) -> None:
        await wait_until(lambda: not self.reader.reading(), timeout=DEADLINE_S, message="readers ended")


class TestParkedReader:
    """Parked records come back in offset order once their account has room, and only those."""

    async def test_parked_records_come_back_in_order_and_the_reader_ends(self) -> None:
        h = Harness()
        for offset in (3, 7, 8):
            h.park(offset)
        h.park(5, account="a")  # another account's: not this reader's
        h.reader.wake(0, "b")
        assert [(0, "b")] == h.reader.reading()
        await h.ended()
        assert [3, 7, 8] == h.resubmitted
        assert 3 == len({id(ack) for ack in h.handed})  # each with its own ack
        assert not h.events.active(0, "b")
        assert h.events.contains(0, "a", 5)
        assert [] == h.reader.reading()
        assert 1 == len(h.consumers)
        consumer = h.consumers[0]
        assert consumer.started and consumer.stopped
        assert [TopicPartition(TOPIC, 0)] == consumer.assigned
        assert [] == h.acks  # acking is the lanes' job once the event is done

    async def test_the_first_read_seeks_to_the_oldest_parked_offset(self) -> None:
        h = Harness()
        h.park(3)
        h.reader.wake(0, "b")
        await h.ended()
        assert [3] == h.consumers[0].seeks[:1]  # not from the log's start
        assert 0 not in h.consumers[0].fetched

    async def test_parked_offsets_the_retention_deleted_are_given_up_and_acked(self) -> None:
        """Offsets 5 and 6 are gone from the log (retention): the reader finds 7 after seeking to 5,
        gives 5 and 6 up (acked, so the committed offset moves on; logged as errors) and hands 9 back."""
        h = Harness()
        h.records = [r for r in h.records if r.offset not in (5, 6)]
        for offset in (5, 6, 9):
            h.park(offset)
        h.reader.wake(0, "b")
        await h.ended()
        assert [9] == h.resubmitted
        assert [5, 6] == h.acks
        assert ["b", "b"] == h.expired
        assert not h.events.active(0, "b")

    async def test_wake_without_parked_events_starts_nothing(self) -> None:
        h = Harness()
        h.reader.wake(0, "b")
        assert [] == h.reader.reading()
        h.park(3)
        h.reader.wake(0, "b")
        h.reader.wake(0, "b")  # one reader per (partition, account)
        assert [(0, "b")] == h.reader.reading()
        await h.ended()
        assert [3] == h.resubmitted
        assert 1 == len(h.consumers)

    async def test_seeks_to_the_oldest_parked_offset_when_far_ahead(self) -> None:
        h = Harness()
        h.records = _partition(parked_reader_module.SKIP_AHEAD + 50)
        far = parked_reader_module.SKIP_AHEAD + 10
        h.park(far)
        h.reader.wake(0, "b")
        await h.ended()
        assert [far] == h.resubmitted
        assert [far] == h.consumers[0].seeks
        assert h.consumers[0].fetched[0] == far  # nothing before it was read

    async def test_nothing_comes_back_before_the_account_has_room(self) -> None:
        open_ = asyncio.Event()
        waited: list[str] = []

        async def room(account: str) -> None:
            waited.append(account)
            await open_.wait()

        h = Harness(room=room)
        for offset in (3, 7, 8):
            h.park(offset)
        h.reader.wake(0, "b")
        await wait_until(lambda: waited == ["b"], timeout=DEADLINE_S, message="the reader waits for room")
        assert [] == h.consumers  # no consumer before there is room
        assert [] == h.resubmitted
        assert 3 == h.events.count(0, "b")
        open_.set()
        await h.ended()
        assert [3, 7, 8] == h.resubmitted

    async def test_waits_for_room_before_each_record(self) -> None:
        permits: asyncio.Queue[None] = asyncio.Queue()
        calls = 0

        async def room(account: str) -> None:
            nonlocal calls
            calls += 1
            await permits.get()

        h = Harness(room=room)
        for offset in (3, 7, 8):
            h.park(offset)
        h.reader.wake(0, "b")
        permits.put_nowait(None)  # the reader's start
        permits.put_nowait(None)  # offset 3
        await wait_until(lambda: calls == 3, timeout=DEADLINE_S, message="the reader waits before 7")
        assert [3] == h.resubmitted
        assert [7, 8] == [o for o in (3, 7, 8) if h.events.contains(0, "b", o)]
        permits.put_nowait(None)
        permits.put_nowait(None)
        await h.ended()
        assert [3, 7, 8] == h.resubmitted

    async def test_parked_while_reading_older_than_the_position_seeks_back(self) -> None:
        gate = asyncio.Event()
        blocked = asyncio.Event()

        async def on_resubmit(offset: int) -> None:
            if offset == 15:
                blocked.set()
                await gate.wait()

        h = Harness(on_resubmit=on_resubmit)
        h.park(3)
        h.park(15)
        h.reader.wake(0, "b")
        await asyncio.wait_for(blocked.wait(), DEADLINE_S)
        # The reader passed 9 already (the live consumer was behind it): it must come back for it.
        h.park(9)
        h.reader.wake(0, "b")  # a reader runs already: nothing more starts
        assert [(0, "b")] == h.reader.reading()
        gate.set()
        await h.ended()
        assert [3, 15, 9] == h.resubmitted
        assert 9 in h.consumers[0].seeks
        assert 1 == len(h.consumers)
        assert not h.events.active(0, "b")

    async def test_parked_after_the_reader_ended_starts_a_new_one(self) -> None:
        h = Harness()
        h.park(3)
        h.reader.wake(0, "b")
        await h.ended()
        h.park(12)
        h.reader.wake(0, "b")
        await h.ended()
        assert [3, 12] == h.resubmitted
        assert 2 == len(h.consumers)
        assert all(c.stopped for c in h.consumers)

    async def test_parked_while_the_reader_stops_its_consumer_starts_it_again(self) -> None:
        stopping = asyncio.Event()

        def consumer(index: int) -> FakeConsumer:
            return FakeConsumer(h.records, stop_gate=stopping if index == 0 else None)

        h = Harness(consumer=consumer)
        h.park(3)
        h.reader.wake(0, "b")
        await wait_until(lambda: h.resubmitted == [3], timeout=DEADLINE_S, message="3 handed back")
        assert not h.events.active(0, "b")
        h.park(12)  # the live consumer parks again while the reader is in its `finally`
        h.reader.wake(0, "b")  # no-op: that reader is still registered
        assert 1 == len(h.consumers)
        stopping.set()
        await wait_until(lambda: h.resubmitted == [3, 12], timeout=DEADLINE_S, message="12 handed back")
        await h.ended()
        assert 2 == len(h.consumers)

    async def test_an_event_being_resubmitted_stays_parked_until_queued(self) -> None:
        """While `resubmit` waits (the lanes' pending bound), the account stays parked in the partition,
        so its later events park behind the one in hand instead of overtaking it."""
        gate = asyncio.Event()
        blocked = asyncio.Event()

        async def on_resubmit(offset: int) -> None:
            blocked.set()
            await gate.wait()

        h = Harness(on_resubmit=on_resubmit)
        h.park(3)
        h.reader.wake(0, "b")
        await asyncio.wait_for(blocked.wait(), DEADLINE_S)
        assert h.events.active(0, "b")
        assert h.events.contains(0, "b", 3)
        gate.set()
        await h.ended()
        assert [3] == h.resubmitted
        assert not h.events.active(0, "b")

    async def test_stop_cancels_and_leaves_the_parked_offsets(self) -> None:
        gate = asyncio.Event()
        blocked = asyncio.Event()

        async def on_resubmit(offset: int) -> None:
            if offset == 7:
                blocked.set()
                await gate.wait()

        h = Harness(on_resubmit=on_resubmit)
        for offset in (3, 7, 8):
            h.park(offset)
        h.park(4, partition=1)
        h.reader.wake(0, "b")
        h.reader.wake(1, "b")
        await asyncio.wait_for(blocked.wait(), DEADLINE_S)
        await wait_until(lambda: (1, "b") not in h.reader.reading(), timeout=DEADLINE_S, message="p1 done")
        await asyncio.wait_for(h.reader.stop({0}), DEADLINE_S)
        assert [] == h.reader.reading()  # cancelled, and not started again
        assert [3, 4] == h.resubmitted
        assert [7, 8] == [o for o in (3, 7, 8) if h.events.contains(0, "b", o)]  # forgetting is revoke's job
        assert all(c.stopped for c in h.consumers)
        gate.set()
        assert [] == h.reader.reading()

    async def test_stop_of_other_partitions_leaves_a_reader_running(self) -> None:
        open_ = asyncio.Event()

        async def room(account: str) -> None:
            await open_.wait()

        h = Harness(room=room)
        h.park(3)
        h.reader.wake(0, "b")
        await asyncio.wait_for(h.reader.stop({1}), DEADLINE_S)
        assert [(0, "b")] == h.reader.reading()
        await asyncio.wait_for(h.reader.stop(), DEADLINE_S)  # all
        assert [] == h.reader.reading()
        assert h.events.contains(0, "b", 3)
        assert [] == h.consumers  # it was waiting for room

    async def test_a_resubmit_that_raises_is_retried_by_a_new_reader(
        self, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
    ) -> None:
        """The record whose resubmit raised stays parked (never queued, so never acked: dropping it
        would hold the partition's commit forever and let the account's later events overtake it);
        a new reader starts after the backoff and hands it back, then the rest, each once."""
        monkeypatch.setattr(parked_reader_module, "RETRY_BACKOFF_S", 0.01)
        raised = False

        async def on_resubmit(offset: int) -> None:
            nonlocal raised
            if offset == 7 and not raised:
                raised = True
                raise RuntimeError("lanes broke")

        h = Harness(on_resubmit=on_resubmit)
        for offset in (3, 7, 8):
            h.park(offset)
        with caplog.at_level(logging.ERROR, logger=parked_reader_module.__name__):
            h.reader.wake(0, "b")
            await wait_until(lambda: h.resubmitted == [3, 7, 8], timeout=DEADLINE_S, message="all back")
            await h.ended()
        assert [3, 7, 7, 8] == h.attempts  # only the one that raised twice
        assert not h.events.active(0, "b")
        assert 2 == len(h.consumers)
        assert all(c.stopped for c in h.consumers)
        assert any("reading parked events failed" in r.getMessage() for r in caplog.records)

    async def test_a_consumer_that_fails_to_start_is_retried_after_a_backoff(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setattr(parked_reader_module, "RETRY_BACKOFF_S", 0.01)

        def consumer(index: int) -> FakeConsumer:
            error = ConnectionError("broker down") if index == 0 else None
            return FakeConsumer(h.records, start_error=error)

        h = Harness(consumer=consumer)
        h.park(3)
        h.reader.wake(0, "b")
        await wait_until(lambda: h.resubmitted == [3], timeout=DEADLINE_S, message="3 handed back")
        await h.ended()
        assert 2 == len(h.consumers)
        assert not h.consumers[0].started and h.consumers[1].stopped

    async def test_a_failing_reader_pauses_between_attempts(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """A broker that refuses at once must not turn the restart into a busy loop."""
        monkeypatch.setattr(parked_reader_module, "RETRY_BACKOFF_S", 0.2)

        def consumer(index: int) -> FakeConsumer:
            return FakeConsumer(h.records, start_error=ConnectionError("broker down"))

        h = Harness(consumer=consumer)
        h.park(3)
        loop = asyncio.get_running_loop()
        began = loop.time()
        h.reader.wake(0, "b")
        await wait_until(lambda: len(h.consumers) >= 3, timeout=DEADLINE_S, message="two retries")
        assert loop.time() - began >= 0.35
        await asyncio.wait_for(h.reader.stop(), DEADLINE_S)
        assert [] == h.reader.reading()
        assert h.events.contains(0, "b", 3)
