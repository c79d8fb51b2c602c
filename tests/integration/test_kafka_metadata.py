"""`bridge.kafka_metadata.topic_exists` over a real broker that auto-creates topics: it tells an existing
topic from a missing one, creates nothing, and the control-topic reader relies on it."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from bridge.kafka_metadata import topic_exists
from bridge.topics.generation import ControlReader
from testkit.checker import topics_with_prefix
from testkit.kafka import create_topics, unique

pytestmark = pytest.mark.integration


@pytest.fixture
async def consumer(kafka_bootstrap: str) -> AsyncIterator[AIOKafkaConsumer]:
    client = AIOKafkaConsumer(bootstrap_servers=kafka_bootstrap)
    await asyncio.wait_for(client.start(), 30)
    yield client
    await asyncio.wait_for(client.stop(), 30)


async def test_existing_and_missing_topics_and_nothing_created(
    kafka_bootstrap: str, consumer: AIOKafkaConsumer
) -> None:
    present, missing = unique("present"), unique("missing")
    await create_topics(kafka_bootstrap, present, partitions=3)
    assert await topic_exists(consumer._client, present)
    assert not await topic_exists(consumer._client, missing)
    # The local broker has auto.create.topics.enable: a plain metadata request naming it would create it.
    assert [] == await topics_with_prefix(kafka_bootstrap, missing)


async def test_through_a_producer_client(kafka_bootstrap: str) -> None:
    present = unique("present")
    await create_topics(kafka_bootstrap, present)
    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap)
    await asyncio.wait_for(producer.start(), 30)
    try:
        assert await topic_exists(producer.client, present)
        assert not await topic_exists(producer.client, unique("missing"))
    finally:
        await asyncio.wait_for(producer.stop(), 30)


async def test_control_reader_without_control_topic_reads_none_and_creates_nothing(
    kafka_bootstrap: str,
) -> None:
    topic = unique("control")
    reader = ControlReader(kafka_bootstrap, topic)
    try:
        assert None is await reader.refresh(30)
        assert None is await reader.refresh(30)
    finally:
        await reader.stop()
    assert [] == await topics_with_prefix(kafka_bootstrap, topic)
