"""The processor's guarantees under crashes and rebalances, over a real broker with worker subprocesses.

Every downstream read here is `read_committed`, as the downstream consumers must be configured.
"""

from __future__ import annotations

import asyncio
import itertools
from pathlib import Path
from types import SimpleNamespace

import orjson
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from bridge.events import InputEvent
from bridge.statuses import KNOWN_STATUSES
from processors import faust_adapter
from testkit.fake_oms import FakeOms, fake_oms
from testkit.kafka import create_topics, unique, wait_until
from testkit.worker import (
    WorkerConfig,
    WorkerProcess,
    downstream,
    duplicates,
    lifecycle,
    per_order_sequence,
    produce,
)

pytestmark = pytest.mark.integration
__all__ = ["fake_oms"]

ORDERS = 80
STEPS = 8
#: Pacing between produced chunks, so crashes and rebalances land mid-stream (not a wait-for).
PACE_S = 0.05


def grouped_config(bootstrap: str, oms_url: str) -> WorkerConfig:
    """All known statuses in one topic (its offsets show the emit order); few lanes, so that a slow OMS
    (50 ms) makes the stream last several seconds and crashes/rebalances land in the middle of it."""
    config = WorkerConfig(bootstrap, oms_url, partitions=4)
    config.extra["VTEX_BRIDGE_WORKER_ROUTE_GROUPS"] = orjson.dumps({"all": list(KNOWN_STATUSES)}).decode()
    config.extra["VTEX_BRIDGE_WORKER_MAX_IN_FLIGHT_ORDERS"] = "4"
    return config


def workload() -> list[InputEvent]:
    """Events of many orders, interleaved the way hooks arrive (order by order step)."""
    per_order = [lifecycle(f"o{i:03d}", STEPS) for i in range(ORDERS)]
    return [events[step] for step in range(STEPS) for events in per_order]


async def produce_paced(bootstrap: str, topic: str, events: list[InputEvent], chunks: int = 20) -> None:
    size = max(1, len(events) // chunks)
    for start in range(0, len(events), size):
        await produce(bootstrap, topic, events[start : start + size])
        await asyncio.sleep(PACE_S)


def assert_exactly_once_in_order(events: list[InputEvent], records: list[dict[str, object]]) -> None:
    assert {} == duplicates(records)  # type: ignore[arg-type]
    assert {e.event_id for e in events} == {r["event_id"] for r in records}
    sequence = per_order_sequence(records)  # type: ignore[arg-type]
    expected: dict[str, list[str]] = {}
    for e in events:
        expected.setdefault(e.order_id, []).append(e.event_id)
    assert expected == sequence


async def count_records(bootstrap: str, topic: str) -> int:
    return len(await downstream(bootstrap, [topic]))


class TestCrash:
    """A worker killed with SIGKILL mid-stream loses and duplicates nothing once another takes over."""

    async def test_kill_9_mid_stream(self, kafka_bootstrap: str, fake_oms: FakeOms, tmp_path: Path) -> None:
        fake_oms.latency_s = 0.05
        config = grouped_config(kafka_bootstrap, fake_oms.base_url)
        topic = config.status_topic("all")
        await create_topics(kafka_bootstrap, config.input_topic, partitions=config.partitions)
        events = workload()
        first = await WorkerProcess(config, tmp_path, "first").start()
        try:
            feeding = asyncio.create_task(produce_paced(kafka_bootstrap, config.input_topic, events))
            await wait_until(
                lambda: at_least(kafka_bootstrap, topic, len(events) // 4),
                timeout=60,
                message="a quarter of the stream processed",
            )
            first.kill()
            assert await count_records(kafka_bootstrap, topic) < len(events)  # killed mid-stream
            await asyncio.wait_for(feeding, 60)
        finally:
            first.kill()
        with WorkerProcess(config, tmp_path, "second") as second:
            await second.start()
            await wait_until(
                lambda: at_least(kafka_bootstrap, topic, len(events)), timeout=90, message="whole stream"
            )
            assert 0 == await second.terminate()
        assert_exactly_once_in_order(events, await downstream(kafka_bootstrap, [topic]))


class TestRebalance:
    """Workers joining and leaving mid-stream split the partitions without loss or duplicates."""

    async def test_join_and_leave_mid_stream(
        self, kafka_bootstrap: str, fake_oms: FakeOms, tmp_path: Path
    ) -> None:
        fake_oms.latency_s = 0.05
        config = grouped_config(kafka_bootstrap, fake_oms.base_url)
        topic = config.status_topic("all")
        await create_topics(kafka_bootstrap, config.input_topic, partitions=config.partitions)
        events = workload()
        with WorkerProcess(config, tmp_path, "a") as a, WorkerProcess(config, tmp_path, "b") as b:
            await a.start()
            feeding = asyncio.create_task(
                produce_paced(kafka_bootstrap, config.input_topic, events, chunks=40)
            )
            await wait_until(
                lambda: at_least(kafka_bootstrap, topic, len(events) // 5),
                timeout=60,
                message="a fifth processed",
            )
            assert await count_records(kafka_bootstrap, topic) < len(events) // 2  # mid-stream
            await b.start()  # rebalance: a gives partitions to b
            await b.wait_for(lambda h: len(h.get("partitions", [])) >= 1, 60, "b owns partitions")
            assert 0 == await a.terminate()  # rebalance: b takes everything
            await asyncio.wait_for(feeding, 60)
            await wait_until(
                lambda: at_least(kafka_bootstrap, topic, len(events)), timeout=90, message="whole stream"
            )
            assert 0 == await b.terminate()
        assert_exactly_once_in_order(events, await downstream(kafka_bootstrap, [topic]))


async def at_least(bootstrap: str, topic: str, n: int) -> bool:
    """Whether `topic` holds `n` committed records yet (a `wait_until` condition)."""
    return await count_records(bootstrap, topic) >= n


class TestRebalanceBeforeTheFirstCommit:
    """After a rebalance, a partition with no committed offset is read again from its first offset.

    Records a worker fetched but had not finished are dropped when their partition is revoked, and Faust
    seeks back to the committed offset once the partition is assigned again (`perform_seek`). With no
    committed offset (a new input topic, or a new generation's after a reshard) aiokafka's seek did
    nothing and the fetch position stayed past the dropped records: they were never processed
    (`processors.faust_adapter.seek_uncommitted_to_start`). Shown here on a real consumer; the whole
    path runs in tests/integration/test_reshard.py, where every new generation starts uncommitted.
    """

    async def test_uncommitted_partitions_rewind_committed_ones_seek_to_their_commit(
        self, kafka_bootstrap: str
    ) -> None:
        topic = unique("seek-uncommitted")
        await create_topics(kafka_bootstrap, topic, partitions=2)
        producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap)
        await producer.start()
        try:
            for partition, offset in itertools.product(range(2), range(5)):
                await producer.send_and_wait(topic, f"{offset}".encode(), partition=partition)
        finally:
            await producer.stop()
        tps = [TopicPartition(topic, 0), TopicPartition(topic, 1)]
        kafka = AIOKafkaConsumer(
            bootstrap_servers=kafka_bootstrap,
            group_id=unique("seek-group"),
            enable_auto_commit=False,
            auto_offset_reset="earliest",
        )
        await kafka.start()
        try:
            kafka.assign(tps)
            await kafka.commit({tps[0]: 2})  # partition 0 has a commit, partition 1 none
            for tp in tps:
                kafka.seek(tp, 5)  # everything fetched (and then dropped by a revocation)

            async def positions() -> list[int]:
                return [await kafka.position(tp) for tp in tps]

            assert {tps[0]: 2, tps[1]: None} == await kafka.seek_to_committed()
            assert [2, 5] == await positions()  # aiokafka alone: partition 1 stays past its records
            for tp in tps:
                kafka.seek(tp, 5)
            faust_consumer = SimpleNamespace(
                seek_to_committed=kafka.seek_to_committed,
                _thread=SimpleNamespace(seek_to_beginning=kafka.seek_to_beginning),
            )
            faust_adapter.seek_uncommitted_to_start(SimpleNamespace(consumer=faust_consumer))  # type: ignore[arg-type]
            assert {tps[0]: 2, tps[1]: None} == await faust_consumer.seek_to_committed()
            assert [2, 0] == await positions()
        finally:
            await kafka.stop()
