"""One transaction of a partition's writer: send a group of writes, then commit it, every step bounded.

`processors.writer` decides when to commit and what to do after a failure; this module does the
sending: each write's records, then the de-dup changelog records of its state changes, then its
timeline entries (which name where the records landed, known only once sent), all in one transaction.
It tells a record Kafka refuses (too large for its topic: `Rejected`, naming the writes it belongs to)
from a failed transaction, and never aborts one: aiokafka's abort can wait forever on a fenced
producer, and the writer's recovery starts a new producer, whose start settles it anyway.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError, MessageSizeTooLargeError, RecordTooLargeError

from processors.partition_stores import StateChange
from processors.records import Outgoing
from processors.state import encode_memory
from processors.timeline import TimelineOp
from processors.timeline_store import TimelineConfig, TimelineStore
from processors.txn_producer import FENCED, fence_error
from processors.txn_timelines import join_timeline_early, send_timelines

#: Errors of one record, not of the broker or the transaction: the record can never be written.
RECORD_ERRORS = (MessageSizeTooLargeError, RecordTooLargeError)


class Rejected(Exception):
    """A transaction failed because of the records of `writes` (the writer fails those writes alone)."""

    def __init__(self, writes: list[GroupWrite], cause: BaseException) -> None:
        super().__init__(repr(cause))
        self.writes = writes
        self.cause = cause


@dataclass
class GroupWrite:
    """One `PartitionWriter.write` call: its records, state changes and timeline notes, and its future."""

    records: Sequence[Outgoing]
    state: Sequence[StateChange]
    timeline: Sequence[TimelineOp] = ()
    done: asyncio.Future[None] = field(default_factory=lambda: asyncio.get_running_loop().create_future())
    #: When it was queued: the linger counts from the first write of a transaction (`processors.linger`).
    queued: float = field(default_factory=time.monotonic)


async def commit_group(
    producer: AIOKafkaProducer | None,
    group: list[GroupWrite],
    *,
    partition: int,
    changelog_topic: str,
    timeout: float,
    timeline_config: TimelineConfig | None,
    timeline_store: TimelineStore | None,
) -> Committed:
    """Send and commit the group; return the offsets of its last changelog records, if any.

    Every step is bounded, and a failed transaction is never aborted here: aiokafka's abort can
    wait forever on a fenced producer, and the recovery's new producer aborts it anyway.
    """
    if producer is None:
        raise KafkaError("writer has no producer")
    futures: list[asyncio.Future[Any]] = []
    changelog: list[asyncio.Future[Any]] = []
    timeline: list[asyncio.Future[Any]] = []
    owners: list[GroupWrite] = []  # the write of each of `futures`
    try:
        await asyncio.wait_for(producer.begin_transaction(), timeout)
        join_timeline_early(producer, timeline_config, partition, group)
        await _send_all(producer, group, futures, changelog, owners, changelog_topic, partition)
        await asyncio.wait_for(asyncio.gather(*futures, *changelog), timeout)
        # Timelines name where each record landed, known only now: sent last, same transaction.
        timelines = await send_timelines(
            producer, timeline_config, timeline_store, partition, group, futures, timeline
        )
        if timeline:
            await asyncio.wait_for(asyncio.gather(*timeline), timeout)
        await asyncio.wait_for(producer.commit_transaction(), timeout)
    except BaseException as exc:
        # A failed group: the other sends' errors are no news.
        for future in futures + changelog + timeline:
            future.add_done_callback(_retrieve)
        fenced = fence_error(producer)
        if fenced is not None and not isinstance(exc, FENCED):
            raise fenced from exc
        culprits = record_culprits(exc, futures, owners, group)
        if culprits:
            raise Rejected(culprits, exc) from exc
        raise
    return Committed(
        changelog_offset=max((f.result().offset for f in changelog), default=None),
        timelines=timelines,
        timeline_offset=max((f.result().offset for f in timeline), default=None),
    )


async def _send_all(
    producer: AIOKafkaProducer,
    group: list[GroupWrite],
    futures: list[asyncio.Future[Any]],
    changelog: list[asyncio.Future[Any]],
    owners: list[GroupWrite],
    changelog_topic: str,
    partition: int,
) -> None:
    for item in group:
        for record in item.records:
            try:
                sent = await producer.send(
                    record.topic,
                    value=record.value,
                    key=record.key,
                    headers=record.headers,
                    partition=record.partition,
                )
            except RECORD_ERRORS as exc:
                exc.bridge_write = item  # type: ignore[attr-defined]  # `_record_culprits` reads it
                raise
            futures.append(sent)
            if owners is not None:
                owners.append(item)
        for order_id, memory in item.state:
            changelog.append(
                await producer.send(
                    changelog_topic,
                    value=encode_memory(memory),
                    key=order_id.encode(),
                    partition=partition,
                )
            )


@dataclass(frozen=True, slots=True)
class Committed:
    """What a committed group wrote to the changelogs."""

    changelog_offset: int | None
    timelines: dict[str, list[bytes]]
    timeline_offset: int | None


def record_culprits(
    exc: BaseException, futures: list[asyncio.Future[Any]], owners: list[GroupWrite], group: list[GroupWrite]
) -> list[GroupWrite]:
    """Return the writes whose records Kafka refused (raised by `send`, or in their futures)."""
    culprits: list[GroupWrite] = []
    direct = getattr(exc, "bridge_write", None)
    if isinstance(exc, RECORD_ERRORS) and isinstance(direct, GroupWrite):
        culprits.append(direct)
    for future, owner in zip(futures, owners, strict=False):
        if future.done() and not future.cancelled() and isinstance(future.exception(), RECORD_ERRORS):
            culprits.append(owner)
    return [item for item in group if any(item is culprit for culprit in culprits)]


def _retrieve(future: asyncio.Future[Any]) -> None:
    if not future.cancelled():
        future.exception()
