"""Move what a retired input generation still holds into the next one: fence, forward, copy state.

Called by `bridge.topics.reshard` in the `migrating` phase, once the previous generation's consumer
group is empty, in this order:

1. `fence_writers`: start (and stop) a transactional producer with every transactional id of the
   previous generation's partition writers. `init_transactions` bumps the epoch, so a zombie writer
   of the previous generation can no longer commit, and aborts any transaction left open, so the
   changelogs' last stable offset is their end.
2. `forward_stragglers`: records that reached the previous input topic after the group's last commit
   (a producer that saw the switch late) are produced to the new topic, and the group's offsets are
   committed to the end. Per-order order holds for everything sealed before the drain; a straggler
   is processed after newer events of its order (flagged late), never lost. Re-forwarding after an
   interruption only adds copies the de-dup drops.
3. `copy_changelog`: each changelog of the previous generation is read (read_committed) one partition
   at a time (keys of different partitions never overlap), the last value of each key is kept, and
   every live key is written to the new changelog at `partition_for(OrderId, N)`: the partition the
   input topic's producers pick for the order's key (murmur2, as the Java client), so the state sits on
   the same partition as the order's events. A key of another account than the default one is
   `account/OrderId` (`bridge.accounts.order_key`): its OrderId places it. Copying again writes the
   same last values: idempotent.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final

import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.structs import OffsetAndMetadata

from bridge.accounts import input_key
from bridge.kafka_config import client_kwargs
from bridge.topics.generation import partition_for, transactional_id

log = logging.getLogger(__name__)

CLIENT_TIMEOUT_S: Final = 30.0
FETCH_TIMEOUT_MS: Final = 500
#: Records sent before waiting for their acknowledgements (bounds memory and the wait).
SEND_CHUNK: Final = 5000

ValueTransform = Callable[[bytes], bytes]


@dataclass(frozen=True, slots=True)
class Copied:
    """What `copy_changelog` did."""

    read: int
    written: int
    tombstones_skipped: int


def without_dead_positions(value: bytes) -> bytes:
    """Return a de-dup memory without its dead-letter positions (`OrderMemory.dead`).

    They name "partition:offset" of the previous input topic; in the new one the same string is a
    different record, which would then be taken for already dead-lettered.
    """
    memory = orjson.loads(value)
    if isinstance(memory, dict) and memory.get("dead"):
        memory["dead"] = {}
        return orjson.dumps(memory)
    return value


async def fence_writers(bootstrap: str, app_id: str, partitions: int) -> None:
    """Fence every partition writer of `app_id` and abort their open transactions (see module doc)."""

    async def fence(partition: int) -> None:
        producer = AIOKafkaProducer(
            **client_kwargs(bootstrap),
            client_id="vtex-bridge-reshard-fence",
            transactional_id=transactional_id(app_id, partition),
            enable_idempotence=True,
            acks="all",
        )
        try:
            await asyncio.wait_for(producer.start(), CLIENT_TIMEOUT_S)
        finally:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(producer.stop(), CLIENT_TIMEOUT_S)

    await asyncio.gather(*(fence(p) for p in range(partitions)))


def _producer(bootstrap: str) -> AIOKafkaProducer:
    return AIOKafkaProducer(
        **client_kwargs(bootstrap),
        client_id="vtex-bridge-reshard",
        acks="all",
        enable_idempotence=True,
        linger_ms=20,
    )


def _consumer(bootstrap: str, group: str | None = None) -> AIOKafkaConsumer:
    return AIOKafkaConsumer(
        **client_kwargs(bootstrap),
        client_id="vtex-bridge-reshard",
        group_id=group,
        enable_auto_commit=False,
        isolation_level="read_committed",
        auto_offset_reset="earliest",
        max_partition_fetch_bytes=8 * 1024 * 1024,
    )


@contextlib.asynccontextmanager
async def _started(*clients: Any) -> Any:
    started: list[Any] = []
    try:
        for client in clients:
            await asyncio.wait_for(client.start(), CLIENT_TIMEOUT_S)
            started.append(client)
        yield
    finally:
        for client in reversed(clients):
            with contextlib.suppress(Exception):
                await asyncio.wait_for(client.stop(), CLIENT_TIMEOUT_S)


async def _flush(futures: list[asyncio.Future[Any]]) -> None:
    if futures:
        await asyncio.wait_for(asyncio.gather(*futures), CLIENT_TIMEOUT_S)
        futures.clear()


async def _read_range(
    consumer: AIOKafkaConsumer, tp: TopicPartition, start: int | None, end: int
) -> list[Any]:
    """Return the records of `tp` from `start` (None: the beginning) up to `end` (exclusive)."""
    if start is None:
        await asyncio.wait_for(consumer.seek_to_beginning(tp), CLIENT_TIMEOUT_S)
    else:
        consumer.seek(tp, start)
    records: list[Any] = []
    while await asyncio.wait_for(consumer.position(tp), CLIENT_TIMEOUT_S) < end:
        batch = await consumer.getmany(tp, timeout_ms=FETCH_TIMEOUT_MS)
        records.extend(m for m in batch.get(tp, []) if m.offset < end)
    return records


async def forward_stragglers(bootstrap: str, topic: str, partitions: int, group: str, target: str) -> int:
    """Produce `topic`'s records after `group`'s committed offsets to `target`; commit; return how many."""
    consumer, producer = _consumer(bootstrap, group), _producer(bootstrap)
    forwarded = 0
    async with _started(consumer, producer):
        tps = [TopicPartition(topic, p) for p in range(partitions)]
        consumer.assign(tps)
        ends = await asyncio.wait_for(consumer.end_offsets(tps), CLIENT_TIMEOUT_S)
        begins = await asyncio.wait_for(consumer.beginning_offsets(tps), CLIENT_TIMEOUT_S)
        for tp in tps:
            committed = await asyncio.wait_for(consumer.committed(tp), CLIENT_TIMEOUT_S)
            start = max(committed if committed is not None else begins[tp], begins[tp])
            if start >= ends[tp]:
                continue
            futures: list[asyncio.Future[Any]] = []
            for message in await _read_range(consumer, tp, start, ends[tp]):
                futures.append(
                    await producer.send(
                        target, key=message.key, value=message.value, headers=list(message.headers or ())
                    )
                )
                forwarded += 1
                if len(futures) >= SEND_CHUNK:
                    await _flush(futures)
            await _flush(futures)
            await asyncio.wait_for(
                consumer.commit({tp: OffsetAndMetadata(ends[tp], "forwarded by topics reshard")}),
                CLIENT_TIMEOUT_S,
            )
            log.warning(
                "forwarded stragglers of a retired input generation",
                extra={"topic": topic, "partition": tp.partition, "records": ends[tp] - start, "to": target},
            )
    return forwarded


async def copy_changelog(
    bootstrap: str,
    source: str,
    source_partitions: int,
    target: str,
    target_partitions: int,
    *,
    transform: ValueTransform | None = None,
) -> Copied:
    """Copy the last value of every live key of `source` to `target`, re-partitioned (see module doc)."""
    consumer, producer = _consumer(bootstrap), _producer(bootstrap)
    read = written = skipped = 0
    async with _started(consumer, producer):
        for partition in range(source_partitions):
            tp = TopicPartition(source, partition)
            consumer.assign([tp])
            end = (await asyncio.wait_for(consumer.end_offsets([tp]), CLIENT_TIMEOUT_S))[tp]
            latest: dict[bytes, bytes | None] = {}
            for message in await _read_range(consumer, tp, None, end):
                if message.key is not None:
                    latest[message.key] = message.value
                    read += 1
            futures: list[asyncio.Future[Any]] = []
            for key, value in latest.items():
                if value is None:
                    skipped += 1
                    continue
                futures.append(
                    await producer.send(
                        target,
                        key=key,
                        value=transform(value) if transform is not None else value,
                        partition=partition_for(input_key(key), target_partitions),
                    )
                )
                written += 1
                if len(futures) >= SEND_CHUNK:
                    await _flush(futures)
            await _flush(futures)
    log.info(
        "changelog copied",
        extra={"from": source, "to": target, "read": read, "written": written, "tombstones": skipped},
    )
    return Copied(read, written, skipped)
