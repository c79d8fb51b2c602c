"""The broker the suite runs against is real Apache Kafka: idempotence, group offsets, transactions."""

from __future__ import annotations

import asyncio

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from testkit.kafka import create_topics, read_all, unique

pytestmark = pytest.mark.integration


class TestIdempotentProducer:
    """An idempotent acks=all producer's records come back keyed and in order."""

    async def test_round_trip(self, kafka_bootstrap: str) -> None:
        topic = unique("roundtrip")
        await create_topics(kafka_bootstrap, topic, partitions=3)
        producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap, enable_idempotence=True, acks="all")
        await asyncio.wait_for(producer.start(), 30)
        try:
            for i in range(20):
                await asyncio.wait_for(producer.send_and_wait(topic, f"v{i}".encode(), key=b"order-1"), 30)
        finally:
            await producer.stop()
        records = await read_all(kafka_bootstrap, topic, expected=20)
        assert [f"v{i}".encode() for i in range(20)] == [r.value for r in records]
        assert {b"order-1"} == {r.key for r in records}
        assert len({r.partition for r in records}) == 1


class TestConsumerGroupOffsets:
    """Committed group offsets survive a consumer restart."""

    async def test_restart_resumes_after_commit(self, kafka_bootstrap: str) -> None:
        topic, group = unique("offsets"), unique("group")
        await create_topics(kafka_bootstrap, topic)
        producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap, acks="all")
        await producer.start()
        try:
            for i in range(10):
                await producer.send_and_wait(topic, str(i).encode())
        finally:
            await producer.stop()

        async def consume(count: int, commit: bool) -> list[bytes]:
            consumer = AIOKafkaConsumer(
                topic,
                bootstrap_servers=kafka_bootstrap,
                group_id=group,
                auto_offset_reset="earliest",
                enable_auto_commit=False,
            )
            await asyncio.wait_for(consumer.start(), 30)
            seen: list[bytes] = []
            try:
                while len(seen) < count:
                    msg = await asyncio.wait_for(consumer.getone(), 30)
                    seen.append(msg.value)
                if commit:
                    await consumer.commit({TopicPartition(topic, 0): 6})
            finally:
                await consumer.stop()
            return seen

        first = await consume(6, commit=True)
        second = await consume(4, commit=False)
        assert [str(i).encode() for i in range(6)] == first
        assert [str(i).encode() for i in range(6, 10)] == second


class TestTransactions:
    """A read_committed consumer never sees records of an aborted transaction."""

    async def test_aborted_records_are_invisible(self, kafka_bootstrap: str) -> None:
        topic = unique("txn")
        await create_topics(kafka_bootstrap, topic)
        producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap, transactional_id=unique("txid"))
        await asyncio.wait_for(producer.start(), 30)
        try:
            async with producer.transaction():
                await producer.send_and_wait(topic, b"committed-1")
            await producer.begin_transaction()
            await producer.send_and_wait(topic, b"aborted")
            await producer.abort_transaction()
            async with producer.transaction():
                await producer.send_and_wait(topic, b"committed-2")
        finally:
            await producer.stop()
        committed = await read_all(kafka_bootstrap, topic)
        uncommitted = await read_all(kafka_bootstrap, topic, isolation_level="read_uncommitted")
        assert [r.value for r in committed] == [b"committed-1", b"committed-2"]
        assert b"aborted" in [r.value for r in uncommitted]
