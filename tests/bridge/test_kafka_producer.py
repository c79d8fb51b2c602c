"""Unit tests of ResilientProducer against scripted fake aiokafka producers (no broker)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import pytest
from aiokafka.errors import KafkaConnectionError, OutOfOrderSequenceNumber, RecordTooLargeError
from aiokafka.partitioner import DefaultPartitioner
from aiokafka.structs import RecordMetadata, TopicPartition

from bridge.kafka_producer import (
    ProduceFailed,
    ProducerConfig,
    ProducerUnavailable,
    ProduceTimeout,
    ResilientProducer,
)
from testkit.kafka import wait_until


@dataclass
class FakeSender:
    sender_task: asyncio.Future[None]
    closed: bool = False

    async def close(self) -> None:
        self.closed = True


@dataclass
class ScriptedProducer:
    """One fake AIOKafkaProducer; `mode` says what `send` does: ack, hang or fail with `error`."""

    mode: str = "ack"
    error: BaseException | None = None
    fail_start: bool = False
    hang_stop: bool = False
    started: bool = False
    stopped: bool = False
    sent: list[bytes] = field(default_factory=list)
    routed: list[tuple[bytes | None, int | None]] = field(default_factory=list)
    partitions: int = 6
    _sender: FakeSender | None = None

    async def start(self) -> None:
        if self.fail_start:
            raise KafkaConnectionError("broker down")
        self.started = True
        self._sender = FakeSender(asyncio.get_running_loop().create_future())

    async def stop(self) -> None:
        if self.hang_stop:
            await asyncio.Event().wait()
        self.stopped = True

    async def flush(self) -> None:
        return None

    async def partitions_for(self, topic: str) -> set[int]:
        return set(range(self.partitions))

    async def send(
        self,
        topic: str,
        value: bytes | None = None,
        key: bytes | None = None,
        partition: int | None = None,
        timestamp_ms: int | None = None,
        headers: Sequence[tuple[str, bytes]] | None = None,
    ) -> asyncio.Future[RecordMetadata]:
        future: asyncio.Future[RecordMetadata] = asyncio.get_running_loop().create_future()
        self.routed.append((key, partition))
        if self.mode == "ack":
            self.sent.append(value or b"")
            future.set_result(
                RecordMetadata(topic, 0, TopicPartition(topic, 0), len(self.sent) - 1, None, 0, 0)
            )
        elif self.mode == "fail":
            assert self.error is not None
            future.set_exception(self.error)
        return future


class Factory:
    """Hand out the scripted producers in order (the last one repeats)."""

    def __init__(self, *producers: ScriptedProducer) -> None:
        self.queue = list(producers)
        self.made: list[ScriptedProducer] = []

    def __call__(self) -> ScriptedProducer:
        producer = self.queue.pop(0) if len(self.queue) > 1 else self.queue[0]
        self.made.append(producer)
        return producer


def config(**overrides: float | int) -> ProducerConfig:
    values = {"start_timeout_s": 1.0, "stop_timeout_s": 0.3, "wedge_after_s": 0.3}
    values.update(overrides)
    return ProducerConfig(bootstrap_servers="127.0.0.1:1", **values)  # type: ignore[arg-type]


class TestHappyPath:
    """A connected producer returns the broker's acknowledgement."""

    async def test_send(self) -> None:
        fake = ScriptedProducer()
        producer = ResilientProducer(config(), factory=Factory(fake))
        await producer.start(require_connection=True)
        try:
            metadata = await producer.send("t", b"k", b"v", [("h", b"1")], timeout=1)
        finally:
            await producer.stop()
        assert (0, [b"v"]) == (metadata.offset, fake.sent)
        assert (True, True) == (fake.started, fake.stopped)
        assert 1 == producer.stats().acked


class TestBrokerDown:
    """While no producer can connect, sends fail at once; once one connects, sends succeed."""

    async def test_starts_without_broker_then_connects(self) -> None:
        down, up = ScriptedProducer(fail_start=True), ScriptedProducer()
        factory = Factory(down, down, up)
        producer = ResilientProducer(config(start_timeout_s=0.2), factory=factory)
        await producer.start()
        try:
            # Two failed connects take at least 0.2 + 0.4 s of back-off: longer than start waits.
            assert not producer.connected
            started = time.monotonic()
            with pytest.raises(ProducerUnavailable):
                await producer.send("t", b"k", b"v", timeout=2)
            assert time.monotonic() - started < 0.5
            await wait_until(lambda: producer.connected, timeout=10, message="reconnection")
            await producer.send("t", b"k", b"v", timeout=1)
        finally:
            await producer.stop()
        assert [b"v"] == up.sent

    async def test_require_connection(self) -> None:
        producer = ResilientProducer(
            config(start_timeout_s=0.2), factory=Factory(ScriptedProducer(fail_start=True))
        )
        with pytest.raises(ProducerUnavailable):
            await producer.start(require_connection=True)
        assert not producer.connected

    async def test_hanging_send_is_bounded(self) -> None:
        producer = ResilientProducer(config(), factory=Factory(ScriptedProducer(mode="hang")))
        await producer.start(require_connection=True)
        try:
            started = time.monotonic()
            with pytest.raises(ProduceTimeout):
                await producer.send("t", b"k", b"v", timeout=0.2)
            assert time.monotonic() - started < 1.0
        finally:
            await producer.stop()


class TestWedgeRecovery:
    """A wedged producer is dropped and rebuilt; the new one carries on."""

    async def test_fatal_error_recreates(self) -> None:
        bad = ScriptedProducer(mode="fail", error=OutOfOrderSequenceNumber())
        good = ScriptedProducer()
        producer = ResilientProducer(config(), factory=Factory(bad, good))
        await producer.start(require_connection=True)
        try:
            with pytest.raises(ProduceFailed):
                await producer.send("t", b"k", b"v1", timeout=1)
            await wait_until(lambda: producer.stats().recreations == 1 and producer.connected, timeout=10)
            await producer.send("t", b"k", b"v2", timeout=1)
        finally:
            await producer.stop()
        assert ([b"v2"], True) == (good.sent, bad.stopped)

    async def test_only_timeouts_recreates(self) -> None:
        hung, good = ScriptedProducer(mode="hang"), ScriptedProducer()
        producer = ResilientProducer(config(wedge_after_s=0.2), factory=Factory(hung, good))
        await producer.start(require_connection=True)
        try:
            for _ in range(10):
                if producer.stats().recreations:
                    break
                with pytest.raises((ProduceTimeout, ProducerUnavailable)):
                    await producer.send("t", b"k", b"v", timeout=0.1)
            await wait_until(lambda: producer.connected and producer.stats().recreations == 1, timeout=10)
            await producer.send("t", b"k", b"ok", timeout=1)
        finally:
            await producer.stop()
        assert [b"ok"] == good.sent

    async def test_dead_sender_task_recreates(self) -> None:
        first, second = ScriptedProducer(), ScriptedProducer()
        producer = ResilientProducer(config(), factory=Factory(first, second))
        await producer.start(require_connection=True)
        try:
            assert first._sender is not None
            first._sender.sender_task.set_exception(OutOfOrderSequenceNumber())
            first._sender.sender_task.exception()  # retrieved: no "never retrieved" warning
            await wait_until(lambda: producer.stats().recreations == 1 and producer.connected, timeout=10)
            await producer.send("t", b"k", b"v", timeout=1)
        finally:
            await producer.stop()
        assert [b"v"] == second.sent

    async def test_ordinary_rejection_does_not_recreate(self) -> None:
        fake = ScriptedProducer(mode="fail", error=RecordTooLargeError())
        producer = ResilientProducer(config(), factory=Factory(fake))
        await producer.start(require_connection=True)
        try:
            with pytest.raises(ProduceFailed):
                await producer.send("t", b"k", b"v", timeout=1)
            assert (0, True) == (producer.stats().recreations, producer.connected)
        finally:
            await producer.stop()


class TestStop:
    """stop() returns within its bound even when aiokafka's stop hangs (aiokafka#1101)."""

    async def test_hanging_stop_is_forced(self) -> None:
        fake = ScriptedProducer(hang_stop=True)
        producer = ResilientProducer(config(stop_timeout_s=0.2), factory=Factory(fake))
        await producer.start(require_connection=True)
        started = time.monotonic()
        await producer.stop()
        assert time.monotonic() - started < 3.0
        assert fake._sender is not None and fake._sender.closed
        with pytest.raises(ProducerUnavailable):
            await producer.send("t", b"k", b"v", timeout=1)


class TestSeveralInstances:
    """With several producers, a key always goes to the partition a single producer would pick, and that
    partition always to the same producer: per-key order holds, round trips overlap."""

    async def test_routing(self) -> None:
        fakes = [ScriptedProducer() for _ in range(3)]
        producer = ResilientProducer(config(instances=3), factory=Factory(*fakes))
        await producer.start(require_connection=True)
        keys = [f"v{i:07d}-01".encode() for i in range(60)]
        try:
            for key in keys * 2:
                await producer.send("t", key, b"v", timeout=1)
        finally:
            await producer.stop()
        expected = {key: DefaultPartitioner()(key, list(range(6)), list(range(6))) for key in keys}
        for index, fake in enumerate(fakes):
            assert all(partition is not None and partition % 3 == index for _, partition in fake.routed)
            assert all(key is not None and expected[key] == partition for key, partition in fake.routed)
        assert all(fake.routed for fake in fakes)  # the keys spread over every instance
        assert 120 == sum(len(fake.sent) for fake in fakes)

    async def test_one_dead_instance_is_rebuilt_alone(self) -> None:
        first = [ScriptedProducer(), ScriptedProducer()]
        replacement = ScriptedProducer()
        producer = ResilientProducer(config(instances=2), factory=Factory(*first, replacement))
        await producer.start(require_connection=True)
        try:
            await wait_until(lambda: all(f.started for f in first), timeout=10, message="both instances")
            assert first[1]._sender is not None
            first[1]._sender.sender_task.set_exception(OutOfOrderSequenceNumber())
            first[1]._sender.sender_task.exception()
            await wait_until(lambda: producer.stats().recreations == 1 and replacement.started, timeout=10)
            for i in range(10):
                await producer.send("t", f"k{i}".encode(), b"v", timeout=1)
        finally:
            await producer.stop()
        assert first[1].stopped
        assert first[0].sent and replacement.sent  # the healthy instance went on; only one was rebuilt
        assert 10 == len(first[0].sent) + len(replacement.sent)

    async def test_an_instance_that_cannot_start_holds_up_no_other(self) -> None:
        """Past the start bound the instances that started serve their keys; the other keeps trying."""
        hanging = HangingStart()
        good = ScriptedProducer()
        producer = ResilientProducer(config(instances=2, start_timeout_s=1.0), factory=Factory(good, hanging))
        started = time.monotonic()
        await producer.start()  # waits for every instance, but no longer than its start bound
        try:
            assert producer.connected and time.monotonic() - started < 1.0 + 1.0
            routed = {0: 0, 1: 0}
            for i in range(40):
                key = f"k{i}".encode()
                partition = DefaultPartitioner()(key, list(range(6)), list(range(6)))
                try:
                    await producer.send("t", key, b"v", timeout=1)
                    routed[partition % 2] += 1
                except ProducerUnavailable:
                    assert partition % 2 == 1  # only the keys of the instance still starting wait
            assert routed[0] > 0 and routed[1] == 0
        finally:
            await producer.stop()
        assert hanging.stopped  # the start still running at stop was closed, not left behind


@dataclass
class HangingStart(ScriptedProducer):
    """A producer whose start never returns (its first bootstrap broker is frozen)."""

    async def start(self) -> None:
        await asyncio.Event().wait()


class TestStartWaitsForEveryInstance:
    """A service that starts serving right after `start` refuses no key: every instance is up by then."""

    async def test_start_returns_once_all_instances_connected(self) -> None:
        slow, fast = SlowStart(delay_s=0.5), ScriptedProducer()
        producer = ResilientProducer(config(instances=2, start_timeout_s=5.0), factory=Factory(fast, slow))
        await producer.start()
        try:
            for i in range(20):  # keys of both instances are accepted at once
                await producer.send("t", f"k{i}".encode(), b"v", timeout=1)
        finally:
            await producer.stop()


@dataclass
class SlowStart(ScriptedProducer):
    """A producer whose start takes a while (a broker answering slowly)."""

    delay_s: float = 0.5

    async def start(self) -> None:
        await asyncio.sleep(self.delay_s)
        await super().start()
