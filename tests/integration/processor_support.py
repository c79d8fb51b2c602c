"""Shared helpers of the processor integration tests: input events, producing them, reading results."""

from __future__ import annotations

import asyncio
from collections import Counter, defaultdict
from collections.abc import AsyncIterator, Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest
from aiokafka import AIOKafkaProducer

from bridge.events import InputEvent, build_input_event
from bridge.statuses import KNOWN_STATUSES
from bridge.timestamps import format_vtex_timestamp
from tests.support.fake_oms import FakeOms
from tests.support.kafka import read_all

BASE = datetime(2026, 3, 1, 12, 0, 0, tzinfo=UTC)


def hook(order_id: str, state: str | None, seconds: float, *, source: str = "hook") -> InputEvent:
    """Return an input event of `order_id` entering `state` at BASE + seconds."""
    moment = format_vtex_timestamp(BASE + timedelta(seconds=seconds))
    payload = {
        "Domain": "Marketplace",
        "OrderId": order_id,
        "State": state,
        "LastState": "",
        "LastChange": moment,
        "CurrentChange": moment,
        "Origin": {"Account": "simaccount", "Key": "vtexappkey-simaccount-BRIDGE"},
    }
    return build_input_event(payload, source=source)  # type: ignore[arg-type]


def lifecycle(order_id: str, steps: int, start: float = 0.0) -> list[InputEvent]:
    """Return `steps` successive events of one order through known statuses."""
    return [hook(order_id, KNOWN_STATUSES[i % len(KNOWN_STATUSES)], start + i) for i in range(steps)]


async def produce(bootstrap: str, topic: str, events: Iterable[InputEvent]) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", enable_idempotence=True, linger_ms=5)
    await asyncio.wait_for(producer.start(), 30)
    try:
        futures = [
            await producer.send(topic, key=e.key(), value=e.encode(), headers=e.headers()) for e in events
        ]
        await asyncio.wait_for(asyncio.gather(*futures), 60)
    finally:
        await producer.stop()


async def downstream(bootstrap: str, topics: Iterable[str]) -> list[dict[str, Any]]:
    """Return every committed downstream record of `topics`, with `_topic` and `_offset` added."""
    values: list[dict[str, Any]] = []
    for topic in topics:
        for message in await read_all(bootstrap, topic, timeout=30):
            value = orjson.loads(message.value)
            value["_topic"] = topic
            value["_offset"] = message.offset
            value["_timestamp"] = message.timestamp
            values.append(value)
    return values


def per_order_sequence(records: list[dict[str, Any]]) -> dict[str, list[str]]:
    """Return the event ids of each order in written order; all `records` must come from one topic
    (an order's records share a partition there, so their offsets are the emit order)."""
    by_order: dict[str, list[tuple[int, str]]] = defaultdict(list)
    for r in records:
        by_order[r["order_id"]].append((r["_offset"], r["event_id"]))
    return {k: [e for _, e in sorted(v)] for k, v in by_order.items()}


def duplicates(records: list[dict[str, Any]]) -> dict[str, int]:
    counts = Counter(r["event_id"] for r in records)
    return {k: v for k, v in counts.items() if v > 1}


@pytest.fixture
async def fake_oms() -> AsyncIterator[FakeOms]:
    oms = FakeOms()
    await oms.start()
    try:
        yield oms
    finally:
        await oms.stop()
