"""The live view's Kafka figures over a real broker (`bridge.cli.dev.kafka_view`)."""

from __future__ import annotations

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.structs import OffsetAndMetadata

from bridge.cli.dev.kafka_view import KafkaView
from testkit.kafka import create_topics, unique

pytestmark = pytest.mark.integration


class TestKafkaView:
    """Records per topic and the group's lag read from the cluster, the lag end minus committed."""

    async def test_records_and_lag_follow_the_groups_commits(self, kafka_bootstrap: str) -> None:
        topic, group = unique("view-in"), unique("view-group")
        await create_topics(kafka_bootstrap, topic, partitions=2)
        producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap)
        await producer.start()
        try:
            for i in range(5):
                await producer.send_and_wait(topic, b"v", partition=i % 2)
        finally:
            await producer.stop()
        committer = AIOKafkaConsumer(
            bootstrap_servers=kafka_bootstrap, group_id=group, enable_auto_commit=False
        )
        await committer.start()
        view = KafkaView(kafka_bootstrap)
        await view.start()
        try:
            committer.assign([TopicPartition(topic, 0), TopicPartition(topic, 1)])
            await committer.commit({TopicPartition(topic, 0): OffsetAndMetadata(2, "")})
            snap = await view.snapshot((topic,), topic, group)
            assert {topic: 5} == snap.offsets_per_topic
            assert 3 == snap.input_lag  # partition 0: 3 - 2; partition 1: 2 - nothing committed

            caught_up = {0: 3, 1: 2}
            await committer.commit(
                {TopicPartition(topic, p): OffsetAndMetadata(o, "") for p, o in caught_up.items()}
            )
            assert 0 == (await view.snapshot((topic,), topic, group)).input_lag
        finally:
            await view.stop()
            await committer.stop()

    async def test_a_group_that_never_committed_has_no_lag_figure(self, kafka_bootstrap: str) -> None:
        topic = unique("view-in")
        await create_topics(kafka_bootstrap, topic, partitions=1)
        view = KafkaView(kafka_bootstrap)
        await view.start()
        try:
            snap = await view.snapshot((topic,), topic, unique("view-nobody"))
        finally:
            await view.stop()
        assert snap.input_lag in (None, 0)

    async def test_the_newest_orders_are_listed_to_look_up(self, kafka_bootstrap: str) -> None:
        topic = unique("view-in")
        await create_topics(kafka_bootstrap, topic, partitions=2)
        producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap)
        await producer.start()
        try:
            for i, (order, state) in enumerate(
                [("o-1", "payment-pending"), ("o-2", "handling"), ("o-1", "invoiced")]
            ):
                await producer.send_and_wait(
                    topic,
                    b"{}",
                    key=order.encode(),
                    partition=i % 2,
                    headers=[("state", state.encode())],
                    timestamp_ms=1_700_000_000_000 + i,
                )
        finally:
            await producer.stop()
        view = KafkaView(kafka_bootstrap)
        await view.start()
        other = unique("view-status")
        await create_topics(kafka_bootstrap, other, partitions=1)
        try:
            snap = await view.snapshot((topic, other), topic, unique("view-group"))
            again = await view.snapshot((topic, other), topic, unique("view-group"))
        finally:
            await view.stop()
        # Reading the newest records never narrows what the next snapshot lists.
        assert {topic, other} == set(snap.offsets_per_topic) == set(again.offsets_per_topic)
        # The last record of each partition: o-1 invoiced (partition 0, newest), o-2 handling (partition 1).
        assert [("o-1", "invoiced"), ("o-2", "handling")] == [
            (o.order_id, o.state) for o in snap.recent_orders
        ]
