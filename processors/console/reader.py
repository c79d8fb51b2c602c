"""Read single records and the recent tail of a topic for the console, read_committed and bounded.

The console shows the latest enriched order by reading the downstream record the timeline points at
(topic, partition, offset) instead of keeping 11 kB orders in state or spending the OMS budget on a
page view; the dead-letter view reads the last records of the dead-letter topic. One consumer (no
group, manual assignment) serves both, one request at a time, started on first use.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any, Final

from aiokafka import AIOKafkaConsumer, TopicPartition

from bridge.aiokafka_fixes import client_of
from bridge.kafka_config import client_kwargs

START_TIMEOUT_S: Final = 15.0
READ_TIMEOUT_S: Final = 10.0
FETCH_TIMEOUT_MS: Final = 300
#: Bound of records the dead-letter view reads per partition.
MAX_TAIL: Final = 500


class RecordReader:
    """See the module docstring; `close()` stops the consumer."""

    def __init__(self, bootstrap: str) -> None:
        self._bootstrap = bootstrap
        self._consumer: AIOKafkaConsumer | None = None
        self._lock = asyncio.Lock()

    async def _ensure(self) -> AIOKafkaConsumer:
        if self._consumer is None:
            consumer = AIOKafkaConsumer(
                **client_kwargs(self._bootstrap),
                enable_auto_commit=False,
                isolation_level="read_committed",
                auto_offset_reset="earliest",
            )
            try:
                await asyncio.wait_for(consumer.start(), START_TIMEOUT_S)
            except BaseException:
                await asyncio.wait_for(consumer.stop(), START_TIMEOUT_S)
                raise
            self._consumer = consumer
        return self._consumer

    async def record_at(self, topic: str, partition: int, offset: int) -> Any | None:
        """Return the committed record at `offset` of `topic[partition]`, or None if there is none."""
        async with self._lock:
            return await asyncio.wait_for(self._record_at(topic, partition, offset), READ_TIMEOUT_S)

    async def _record_at(self, topic: str, partition: int, offset: int) -> Any | None:
        consumer = await self._ensure()
        tp = TopicPartition(topic, partition)
        consumer.assign([tp])
        end = (await consumer.end_offsets([tp]))[tp]
        if offset >= end:
            return None
        consumer.seek(tp, offset)
        while await consumer.position(tp) < end:
            batch = await consumer.getmany(tp, timeout_ms=FETCH_TIMEOUT_MS, max_records=1)
            for message in batch.get(tp, []):
                return message if message.offset == offset else None
        return None

    async def tail(self, topic: str, limit: int) -> list[Any]:
        """Return up to `limit` latest committed records of `topic` per partition, oldest first."""
        async with self._lock:
            return await asyncio.wait_for(self._tail(topic, min(limit, MAX_TAIL)), READ_TIMEOUT_S)

    async def _tail(self, topic: str, limit: int) -> list[Any]:
        consumer = await self._ensure()
        # The consumer's own metadata only covers topics it was assigned before: ask for everything.
        cluster = await client_of(consumer).fetch_all_metadata()
        partitions = cluster.partitions_for_topic(topic) or set()
        tps = [TopicPartition(topic, p) for p in sorted(partitions)]
        if not tps:
            return []
        consumer.assign(tps)
        begin = await consumer.beginning_offsets(tps)
        end = await consumer.end_offsets(tps)
        remaining = set()
        for tp in tps:
            if end[tp] > begin[tp]:
                consumer.seek(tp, max(begin[tp], end[tp] - limit))
                remaining.add(tp)
        messages: list[Any] = []
        deadline = time.monotonic() + READ_TIMEOUT_S
        while remaining and time.monotonic() < deadline:
            batch = await consumer.getmany(*remaining, timeout_ms=FETCH_TIMEOUT_MS)
            for tp, records in batch.items():
                messages.extend(m for m in records if m.offset < end[tp])
            for tp in list(remaining):
                if await consumer.position(tp) >= end[tp]:
                    remaining.discard(tp)
        return messages

    async def close(self) -> None:
        consumer, self._consumer = self._consumer, None
        if consumer is not None:
            await asyncio.wait_for(consumer.stop(), START_TIMEOUT_S)
