"""The timelines' part of a partition writer's transaction (`processors.writer`).

Each timeline entry names where its event's record landed (topic, partition, offset), which is known
only once the records are acknowledged: the new timelines are sent last, in the same transaction, so an
entry exists exactly when its record does. The timeline partition joins the transaction up front all
the same, which saves aiokafka a round trip of its own in every transaction.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any, Protocol

from aiokafka import AIOKafkaProducer, TopicPartition

from bridge.aiokafka_fixes import add_partition_to_transaction
from processors.records import Outgoing
from processors.timeline import TimelineOp, encode_entry, encode_value
from processors.timeline import apply as apply_timeline
from processors.timeline_store import TimelineConfig, TimelineStore


class _Write(Protocol):
    """What is read of one write of the transaction's group (`processors.txn_commit.GroupWrite`)."""

    @property
    def records(self) -> Sequence[Outgoing]: ...
    @property
    def timeline(self) -> Sequence[TimelineOp]: ...


def join_timeline_early(
    producer: AIOKafkaProducer, config: TimelineConfig | None, partition: int, group: Sequence[_Write]
) -> None:
    """Add the timeline partition to the transaction with the others, before anything is sent.

    Timelines are sent only once the records are acknowledged (they name the records' offsets); left
    to itself aiokafka would then add their partition to the transaction in a round trip of its own.
    Joining it up front saves that round trip in every transaction. (aiokafka has no public call for
    this: `bridge.aiokafka_fixes.add_partition_to_transaction`, whose pin test notices if the private
    one goes away.)
    """
    if config is None or not any(item.timeline for item in group):
        return
    add_partition_to_transaction(producer, TopicPartition(config.changelog, partition))


async def send_timelines(
    producer: AIOKafkaProducer,
    config: TimelineConfig | None,
    store: TimelineStore | None,
    partition: int,
    group: Sequence[_Write],
    futures: list[asyncio.Future[Any]],
    sent: list[asyncio.Future[Any]],
) -> dict[str, list[bytes]]:
    """Send the new timeline of every order the group changes; return them (applied after commit).

    `futures` are the group's acknowledged record sends, in the order the writer sent them: an entry's
    record index within its write maps to one of them, which gives the entry its (topic, partition,
    offset). The send of each timeline is appended to `sent`.
    """
    values: dict[str, list[bytes]] = {}
    if config is None or store is None:
        return values
    start = 0
    for item in group:
        for op in item.timeline:
            appended = []
            for entry in op.entries:
                position = None
                if entry.record is not None:
                    metadata = futures[start + entry.record].result()
                    position = (metadata.topic, metadata.partition, metadata.offset)
                appended.append(encode_entry(entry, position))
            current = values.get(op.order_id)
            if current is None:
                current = store.get(op.order_id)
            new = apply_timeline(
                current, appended, max_entries=config.max_entries, expire_before=op.expire_before
            )
            if appended or new != current:
                values[op.order_id] = new
        start += len(item.records)
    for order_id, entries in values.items():
        sent.append(
            await producer.send(
                config.changelog, value=encode_value(entries), key=order_id.encode(), partition=partition
            )
        )
    return values
