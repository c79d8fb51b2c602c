"""Read what the demo shows about Kafka: records per topic and the processor's consumer lag."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Final

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from bridge.aiokafka_fixes import client_of
from bridge.events import HEADER_STATE
from bridge.kafka_config import client_kwargs

KAFKA_CALL_TIMEOUT_S: Final = 5.0
#: Orders the live view lists to look up (the newest on the input topic).
RECENT_ORDERS: Final = 5


@dataclass(frozen=True)
class RecentOrder:
    """An order seen lately on the input topic: something a newcomer can look up."""

    order_id: str
    state: str
    timestamp_ms: int


@dataclass(frozen=True)
class KafkaSnapshot:
    """Offsets per topic (end minus start) and the group's lag on the input topic."""

    offsets_per_topic: dict[str, int]
    input_lag: int | None
    input_topic: str
    recent_orders: tuple[RecentOrder, ...] = ()


class KafkaView:
    """A long-lived admin client and two consumers: one that only reads offsets of every topic, one that
    reads the newest input records. An assignment narrows a consumer's metadata to the assigned topics,
    so the offsets reader is never assigned anything."""

    def __init__(self, bootstrap: str) -> None:
        self._admin = AIOKafkaAdminClient(**client_kwargs(bootstrap))
        self._consumer = AIOKafkaConsumer(**client_kwargs(bootstrap), enable_auto_commit=False)
        self._reader = AIOKafkaConsumer(**client_kwargs(bootstrap), enable_auto_commit=False)

    async def start(self) -> None:
        await asyncio.wait_for(self._admin.start(), KAFKA_CALL_TIMEOUT_S * 4)
        await asyncio.wait_for(self._consumer.start(), KAFKA_CALL_TIMEOUT_S * 4)
        await asyncio.wait_for(self._reader.start(), KAFKA_CALL_TIMEOUT_S * 4)

    async def stop(self) -> None:
        for consumer in (self._reader, self._consumer):
            with contextlib.suppress(Exception):
                await asyncio.wait_for(consumer.stop(), KAFKA_CALL_TIMEOUT_S)
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self._admin.close(), KAFKA_CALL_TIMEOUT_S)

    async def snapshot(self, topics_prefix: tuple[str, ...], input_topic: str, group: str) -> KafkaSnapshot:
        # The group's committed offsets are read before any end offset: a group commits only offsets
        # that existed when it committed, so ends read afterwards are never below them and the lag is
        # never negative (read the other way round, a commit landing in between made it so).
        committed = await self._committed(group)
        names = await asyncio.wait_for(self._admin.list_topics(), KAFKA_CALL_TIMEOUT_S)
        wanted = sorted(n for n in names if n.startswith(topics_prefix))
        records: dict[str, int] = {}
        ends: dict[TopicPartition, int] = {}
        for topic in wanted:
            partitions = await self._partitions(topic)
            if not partitions:
                continue
            tps = [TopicPartition(topic, p) for p in partitions]
            end = await asyncio.wait_for(self._consumer.end_offsets(tps), KAFKA_CALL_TIMEOUT_S)
            start = await asyncio.wait_for(self._consumer.beginning_offsets(tps), KAFKA_CALL_TIMEOUT_S)
            records[topic] = sum(end[tp] - start[tp] for tp in tps)
            ends.update(end)
        lag = None if committed is None else input_lag(input_topic, ends, committed)
        recent = await self._recent(input_topic, ends)
        return KafkaSnapshot(records, lag, input_topic, recent)

    async def _recent(self, topic: str, ends: dict[TopicPartition, int]) -> tuple[RecentOrder, ...]:
        """Return the newest orders on `topic`: the last record of each partition, newest first."""
        tps = [tp for tp, end in ends.items() if tp.topic == topic and end > 0]
        if not tps:
            return ()
        self._reader.assign(tps)
        for tp in tps:
            self._reader.seek(tp, ends[tp] - 1)
        batch = await asyncio.wait_for(
            self._reader.getmany(*tps, timeout_ms=500, max_records=len(tps)), KAFKA_CALL_TIMEOUT_S
        )
        return newest_orders(record for records in batch.values() for record in records)

    async def _partitions(self, topic: str) -> set[int]:
        partitions = self._consumer.partitions_for_topic(topic)
        if not partitions:
            await asyncio.wait_for(client_of(self._consumer).force_metadata_update(), KAFKA_CALL_TIMEOUT_S)
            partitions = self._consumer.partitions_for_topic(topic)
        return set(partitions or ())

    async def _committed(self, group: str) -> dict[TopicPartition, int] | None:
        try:
            offsets = await asyncio.wait_for(
                self._admin.list_consumer_group_offsets(group), KAFKA_CALL_TIMEOUT_S
            )
        except Exception:  # noqa: BLE001 - the group may not exist yet
            return None
        return {tp: meta.offset for tp, meta in offsets.items() if meta is not None}


def input_lag(topic: str, ends: dict[TopicPartition, int], committed: dict[TopicPartition, int]) -> int:
    """Return the group's lag on `topic`: per partition, end minus committed (nothing committed: 0),
    never below zero, so an end offset read before a commit can never show a negative lag."""
    lag = 0
    for tp, end in ends.items():
        if tp.topic == topic:
            position = committed.get(tp, -1)
            lag += max(0, end - (position if position >= 0 else 0))
    return lag


def newest_orders(records: Iterable[Any], count: int = RECENT_ORDERS) -> tuple[RecentOrder, ...]:
    """Return up to `count` distinct orders of input `records` (key = OrderId, header `state`), newest
    first."""
    newest: dict[str, RecentOrder] = {}
    for record in sorted(records, key=lambda r: r.timestamp, reverse=True):
        if record.key is None:
            continue
        order_id = record.key.decode(errors="replace")
        headers = dict(record.headers or ())
        state = headers.get(HEADER_STATE, b"").decode(errors="replace") or "?"
        newest.setdefault(order_id, RecentOrder(order_id, state, record.timestamp))
    return tuple(list(newest.values())[:count])
