"""Real-Kafka helpers for tests: where the broker comes from, fresh names, topics, reading back.

The broker is chosen once per session (see `tests/conftest.py`):
1. `KAFKA_BOOTSTRAP_SERVERS` when set (a cluster you run);
2. a testcontainers Kafka (apache/kafka, same version as the local broker) when a Docker engine answers;
3. otherwise the project's own local broker from Maven Central's jars (`bridge.local_kafka`).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from bridge import local_kafka
from bridge.aiokafka_fixes import client_of

KAFKA_VERSION = "3.9.1"
KAFKA_IMAGE = f"apache/kafka:{KAFKA_VERSION}"


def docker_engine_answers(timeout: float = 3.0) -> bool:
    """Tell whether a Docker engine answers a ping (the client alone is not enough)."""
    try:
        import docker

        client = docker.from_env(timeout=int(timeout))
        client.ping()
        return True
    except Exception:
        return False


@contextlib.contextmanager
def testcontainers_kafka() -> Iterator[str]:
    from testcontainers.kafka import KafkaContainer

    with KafkaContainer(image=KAFKA_IMAGE).with_kraft() as container:
        yield container.get_bootstrap_server()


@contextlib.contextmanager
def local_broker(work_dir: Path) -> Iterator[local_kafka.LocalKafka]:
    libs = local_kafka.ensure_distribution(KAFKA_VERSION)
    broker = local_kafka.LocalKafka(libs=libs, work_dir=work_dir)
    broker.start()
    try:
        yield broker
    finally:
        broker.stop()


def unique(prefix: str) -> str:
    """Return a fresh topic or group name, so tests never see each other's records."""
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


async def create_topics(bootstrap: str, *names: str, partitions: int = 1, **configs: str) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await asyncio.wait_for(admin.start(), 30)
    try:
        await asyncio.wait_for(
            admin.create_topics([NewTopic(n, partitions, 1, topic_configs=configs or None) for n in names]),
            30,
        )
    finally:
        await admin.close()


async def read_all(
    bootstrap: str,
    topic: str,
    *,
    expected: int | None = None,
    timeout: float = 30.0,
    isolation_level: str = "read_committed",
) -> list[Any]:
    """Read `topic` from the beginning until `expected` records arrived or, without it, until the end.

    Waits on the condition with a deadline, never on a bare sleep.
    """
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        isolation_level=isolation_level,
    )
    await asyncio.wait_for(consumer.start(), 30)
    records: list[Any] = []
    try:
        partitions = await _partitions_for(consumer, topic, timeout)
        tps = [TopicPartition(topic, p) for p in partitions]
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        end = await consumer.end_offsets(tps)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if expected is not None and len(records) >= expected:
                break
            if expected is None and all([await consumer.position(tp) >= end[tp] for tp in tps]):
                break
            batch = await consumer.getmany(timeout_ms=200)
            for msgs in batch.values():
                records.extend(msgs)
    finally:
        await consumer.stop()
    return records


async def _partitions_for(consumer: AIOKafkaConsumer, topic: str, timeout: float) -> set[int]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        parts = consumer.partitions_for_topic(topic)
        if parts:
            return set(parts)
        await client_of(consumer).force_metadata_update()
        await asyncio.sleep(0.1)
    raise TimeoutError(f"topic {topic} did not appear within {timeout}s")


async def wait_until(
    condition: Callable[[], Awaitable[bool]] | Callable[[], bool],
    *,
    timeout: float = 30.0,
    interval: float = 0.05,
    message: str = "condition",
) -> None:
    """Poll `condition` until it is true; fail with `message` at the deadline."""
    deadline = time.monotonic() + timeout
    while True:
        result = condition()
        if asyncio.iscoroutine(result):
            result = await result
        if result:
            return
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {message}")
        await asyncio.sleep(interval)
