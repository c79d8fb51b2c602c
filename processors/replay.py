"""Replay dead letters onto the input topic (the engine of `vtex-bridge replay`)."""

from __future__ import annotations

import asyncio
import logging
from typing import Any, Final

import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.structs import OffsetAndMetadata

from bridge.aiokafka_fixes import client_of
from bridge.events import InvalidEvent, decode_input_event, utc_now_iso
from bridge.kafka_config import client_kwargs
from bridge.settings import Settings
from processors.records import original_value
from processors.timeline import REPLAY_OF_HEADER, REPLAYED_AT_HEADER, replay_origin

log = logging.getLogger(__name__)

TIMEOUT_S: Final = 30.0
FETCH_TIMEOUT_MS: Final = 500


async def replay(
    settings: Settings,
    *,
    reason: str | None = None,
    limit: int | None = None,
    dry_run: bool = False,
    input_topic: str | None = None,
) -> dict[str, Any]:
    """Replay dead letters present now; return counts {"replayed", "skipped", "scanned", "input_topic"}.

    `input_topic` is the topic to write (the current input generation's); default `settings.input_topic`.
    A dry run moves and commits nothing: it reports `"replayed": 0`, `"dry_run": true` and what it would
    replay as `"would_replay"` (a count under "replayed" would read as records moved).
    """
    target = input_topic or settings.input_topic
    group = f"{settings.worker_app_id}-replay"
    consumer = AIOKafkaConsumer(
        **client_kwargs(settings),
        group_id=group,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        isolation_level="read_committed",
    )
    producer = AIOKafkaProducer(**client_kwargs(settings), acks="all", enable_idempotence=True)
    await asyncio.wait_for(consumer.start(), TIMEOUT_S)
    await asyncio.wait_for(producer.start(), TIMEOUT_S)
    counts = {"replayed": 0, "skipped": 0, "scanned": 0}
    try:
        partitions = consumer.partitions_for_topic(settings.dead_letter_topic)
        if partitions is None:
            await client_of(consumer).force_metadata_update()
            partitions = consumer.partitions_for_topic(settings.dead_letter_topic) or set()
        tps = [TopicPartition(settings.dead_letter_topic, p) for p in sorted(partitions)]
        if not tps:
            return _reported(counts, target, dry_run)
        consumer.assign(tps)
        end = await asyncio.wait_for(consumer.end_offsets(tps), TIMEOUT_S)
        remaining = {tp for tp in tps if await consumer.position(tp) < end[tp]}
        while remaining and (limit is None or counts["replayed"] < limit):
            batch = await consumer.getmany(*remaining, timeout_ms=FETCH_TIMEOUT_MS)
            commits: dict[TopicPartition, OffsetAndMetadata] = {}
            futures = []
            for tp, messages in batch.items():
                for message in messages:
                    if message.offset >= end[tp] or (limit is not None and counts["replayed"] >= limit):
                        break
                    counts["scanned"] += 1
                    commits[tp] = OffsetAndMetadata(message.offset + 1, "")
                    letter = orjson.loads(message.value) if message.value else {}
                    if reason is not None and letter.get("reason") != reason:
                        counts["skipped"] += 1
                        continue
                    value = original_value(message.value or b"")
                    headers = _headers(value, message.topic, message.partition, message.offset)
                    counts["replayed"] += 1
                    if not dry_run:
                        futures.append(
                            await producer.send(target, value=value, key=message.key, headers=headers)
                        )
            await asyncio.wait_for(asyncio.gather(*futures), TIMEOUT_S)
            if commits and not dry_run:
                await asyncio.wait_for(consumer.commit(commits), TIMEOUT_S)
            for tp in list(remaining):
                if await consumer.position(tp) >= end[tp]:
                    remaining.discard(tp)
    finally:
        await asyncio.wait_for(producer.stop(), TIMEOUT_S)
        await asyncio.wait_for(consumer.stop(), TIMEOUT_S)
    result = _reported(counts, target, dry_run)
    log.info("replay finished", extra=result)
    return result


def _reported(counts: dict[str, int], target: str, dry_run: bool) -> dict[str, Any]:
    """Return the answer of `replay`: in a dry run the matches are `would_replay`, `replayed` is 0."""
    if not dry_run:
        return {**counts, "input_topic": target}
    would = counts["replayed"]
    return {**counts, "replayed": 0, "would_replay": would, "dry_run": True, "input_topic": target}


async def replay_record(
    settings: Settings, *, partition: int, offset: int, input_topic: str | None = None
) -> dict[str, Any]:
    """Replay the one dead letter at (`partition`, `offset`) of the dead-letter topic (the console's button).

    The record goes back exactly as `replay` puts records back (original value, key and headers). The
    replay group's offsets are left alone: a later `vtex-bridge replay` may put it back once more, which
    the worker's de-dup makes harmless once it was emitted. Return {"replayed", "order_id", "event_id"}.
    """
    target = input_topic or settings.input_topic
    consumer = AIOKafkaConsumer(
        **client_kwargs(settings),
        enable_auto_commit=False,
        isolation_level="read_committed",
    )
    await asyncio.wait_for(consumer.start(), TIMEOUT_S)
    try:
        tp = TopicPartition(settings.dead_letter_topic, partition)
        consumer.assign([tp])
        consumer.seek(tp, offset)
        message = None
        deadline = asyncio.get_running_loop().time() + TIMEOUT_S
        while message is None and asyncio.get_running_loop().time() < deadline:
            batch = await consumer.getmany(tp, timeout_ms=FETCH_TIMEOUT_MS, max_records=1)
            for found in batch.get(tp, []):
                message = found
            if message is None and await consumer.position(tp) >= (await consumer.end_offsets([tp]))[tp]:
                break
    finally:
        await asyncio.wait_for(consumer.stop(), TIMEOUT_S)
    if message is None or message.offset != offset or not message.value:
        raise LookupError(f"no dead letter at {settings.dead_letter_topic}[{partition}]@{offset}")
    letter = orjson.loads(message.value)
    value = original_value(message.value)
    producer = AIOKafkaProducer(**client_kwargs(settings), acks="all", enable_idempotence=True)
    await asyncio.wait_for(producer.start(), TIMEOUT_S)
    try:
        headers = _headers(value, message.topic, message.partition, message.offset)
        sent = await producer.send(target, value=value, key=message.key, headers=headers)
        await asyncio.wait_for(sent, TIMEOUT_S)
    finally:
        await asyncio.wait_for(producer.stop(), TIMEOUT_S)
    result = {"replayed": 1, "order_id": letter.get("order_id"), "event_id": letter.get("event_id")}
    log.info("dead letter replayed", extra={**result, "partition": partition, "offset": offset})
    return result


def _headers(value: bytes, topic: str, partition: int, offset: int) -> list[tuple[str, bytes]]:
    """Return the replayed record's headers: the event's own, and where and when it was replayed from."""
    marks = [
        (REPLAY_OF_HEADER, replay_origin(topic, partition, offset)),
        (REPLAYED_AT_HEADER, utc_now_iso().encode()),
    ]
    try:
        return [*decode_input_event(value).headers(), *marks]
    except InvalidEvent:
        return marks
