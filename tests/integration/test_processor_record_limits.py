"""Records that cannot fit, against a real broker: the limit is read from the topic, a refused record
fails only its own write, and the partition's next transaction commits normally (no rebuild loop)."""

from __future__ import annotations

import orjson
import pytest

from processors.dedup import OrderMemory
from processors.records import Outgoing
from processors.topic_limits import TopicLimits, cluster_describe
from processors.writer import RecordRejected, RetryBatch
from testkit.kafka import create_topics, read_all, unique
from testkit.worker import partition_writer

pytestmark = pytest.mark.integration


class TestRecordLimits:
    async def test_limit_is_the_topics_max_message_bytes(self, kafka_bootstrap: str) -> None:
        small, plain = unique("small"), unique("plain")
        await create_topics(kafka_bootstrap, small, partitions=1, **{"max.message.bytes": "200000"})  # type: ignore[arg-type]
        await create_topics(kafka_bootstrap, plain)
        limits = TopicLimits(cluster_describe(kafka_bootstrap))
        assert 200_000 == await limits.limit(small)
        assert 1_048_588 >= await limits.limit(plain) >= 1_000_000  # the broker's default

    async def test_a_refused_record_fails_its_write_only(self, kafka_bootstrap: str) -> None:
        app_id, out, changelog = unique("wr"), unique("out"), unique("cl")
        await create_topics(kafka_bootstrap, out, changelog, **{"max.message.bytes": "100000"})  # type: ignore[arg-type]
        writer = partition_writer(kafka_bootstrap, app_id, changelog)
        await writer.start()
        try:
            huge = Outgoing(out, b"big", b"x" * 300_000)
            with pytest.raises(RecordRejected):
                await writer.write([huge], [("big", OrderMemory(seen={"e": 1.0}))])
            assert writer.state.get("big").seen == {}  # nothing of the failed transaction applied
            await writer.write([Outgoing(out, b"o1", b'{"n":1}')], [("o1", OrderMemory(seen={"e1": 1.0}))])
        except RetryBatch as exc:
            pytest.fail(f"the next write failed too: {exc!r}")
        finally:
            await writer.stop()
        values = [orjson.loads(m.value) for m in await read_all(kafka_bootstrap, out, timeout=20)]
        assert [{"n": 1}] == values
