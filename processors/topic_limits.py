"""How large a record each destination topic accepts, read from the cluster, so none is produced too large.

A record the topic cannot hold (an OMS document over ~1 MB embedded in the downstream record) fails its
whole transaction, and a failed transaction makes the writer settle it and rebuild the partition's
state; retried, the same record fails the same way, forever. So the pipeline checks each record's size
against its topic's limit *before* producing and dead-letters an oversized one at once.

The limit is the topic's effective `max.message.bytes` (its own setting, else the broker's
`message.max.bytes`; DescribeConfigs returns whichever applies), read through the admin API and cached
for `ttl_s`, and never more than the largest record the writer's producer accepts
(`PRODUCER_MAX_REQUEST_BYTES`, its `max_request_size`: raised from aiokafka's 1 MB so that a topic whose
limit was raised can hold larger orders). When the cluster cannot be asked, Kafka's default applies
until the next try.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Final

from bridge.topics.cluster import admin_client, describe_configs
from processors.records import Outgoing

log = logging.getLogger(__name__)

#: Kafka's default `message.max.bytes` (and so a topic's `max.message.bytes` when nobody set either).
KAFKA_DEFAULT_MAX_MESSAGE_BYTES: Final = 1048588
#: The writer's producer `max_request_size`: it refuses a larger record before sending it.
PRODUCER_MAX_REQUEST_BYTES: Final = 16 * 1024 * 1024
#: Bytes a record costs on top of its key, value and headers: the record batch header (61 bytes) and
#: the record's own varint framing, rounded up.
RECORD_OVERHEAD: Final = 128
#: How long a limit read from the cluster is trusted; a failed read is retried sooner.
TTL_S: Final = 300.0
RETRY_S: Final = 30.0
ADMIN_TIMEOUT_S: Final = 10.0

Describe = Callable[[list[str]], Awaitable[dict[str, int]]]


def record_size(record: Outgoing) -> int:
    """An upper estimate of the bytes `record` takes in a record batch of its own."""
    size = RECORD_OVERHEAD + len(record.key or b"") + len(record.value or b"")
    for name, value in record.headers:
        size += len(name) + len(value) + 10
    return size


def cluster_describe(bootstrap: str) -> Describe:
    """Return a reader of topics' effective `max.message.bytes` through a short-lived admin client."""

    async def describe(topics: list[str]) -> dict[str, int]:
        async with admin_client(bootstrap, ADMIN_TIMEOUT_S) as admin:
            configs = await describe_configs(admin, topics, timeout_s=ADMIN_TIMEOUT_S)
        limits: dict[str, int] = {}
        for topic, (effective, _overrides) in configs.items():
            value = effective.get("max.message.bytes")
            if value is not None:
                limits[topic] = int(value)
        return limits

    return describe


class TopicLimits:
    """Cached per-topic record size limits; see the module docstring."""

    def __init__(
        self,
        describe: Describe,
        *,
        ttl_s: float = TTL_S,
        retry_s: float = RETRY_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._describe = describe
        self._ttl = ttl_s
        self._retry = retry_s
        self._clock = clock
        #: topic -> (limit, valid until)
        self._cache: dict[str, tuple[int, float]] = {}
        self._reading: dict[str, asyncio.Future[int]] = {}

    async def limit(self, topic: str) -> int:
        """Return the largest record (bytes, `record_size`'s estimate) `topic` accepts."""
        cached = self._cache.get(topic)
        if cached is not None and cached[1] > self._clock():
            return cached[0]
        reading = self._reading.get(topic)
        if reading is None:
            reading = self._reading[topic] = asyncio.ensure_future(self._read(topic))
            reading.add_done_callback(lambda _f: self._reading.pop(topic, None))
        return await asyncio.shield(reading)

    async def _read(self, topic: str) -> int:
        try:
            found = await self._describe([topic])
        except Exception as exc:  # the cluster is unreachable: Kafka's default, asked again soon
            log.warning(
                "could not read the topic's max.message.bytes; assuming Kafka's default",
                extra={"topic": topic, "error": repr(exc)},
            )
            value, ttl = KAFKA_DEFAULT_MAX_MESSAGE_BYTES, self._retry
        else:
            value, ttl = found.get(topic, KAFKA_DEFAULT_MAX_MESSAGE_BYTES), self._ttl
        limit = min(value, PRODUCER_MAX_REQUEST_BYTES)
        self._cache[topic] = (limit, self._clock() + ttl)
        return limit

    def forget_all(self) -> None:
        """Drop every cached limit (the broker refused a record a cached limit let through)."""
        self._cache.clear()


class FixedLimits(TopicLimits):
    """The same limit for every topic, without a cluster (tests and benchmarks)."""

    def __init__(self, limit: int = KAFKA_DEFAULT_MAX_MESSAGE_BYTES) -> None:
        async def describe(topics: list[str]) -> dict[str, int]:
            return dict.fromkeys(topics, limit)

        super().__init__(describe)
