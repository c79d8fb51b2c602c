"""The cluster requests `topics reshard` makes: list, create and count topics, offsets, group progress.

One admin client and one consumer (no group) for the whole run, every request bounded by
`topics_admin_timeout_s`. Topics are only described once listed: a metadata request naming a missing
topic would create it on a broker with `auto.create.topics.enable`.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any, Final

from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from bridge.kafka_config import client_kwargs
from bridge.topics.cluster import group_members
from bridge.topics.generation import Generation
from bridge.topics.spec import TopicSpec

TOPIC_ALREADY_EXISTS: Final = 36
UNKNOWN_TOPIC_OR_PARTITION: Final = 3
POLL_S: Final = 0.5
#: Group states in which no member consumes.
IDLE_GROUP_STATES: Final = frozenset({"Empty", "Dead", None})


class TopicConflict(RuntimeError):
    """A topic the reshard needs exists with another partition count."""


class CreateFailed(RuntimeError):
    """The cluster refused to create a topic."""


class ReshardKafka:
    """See the module docstring; `close` stops the consumer (the admin client is the caller's)."""

    def __init__(self, admin: AIOKafkaAdminClient, bootstrap: str, timeout_s: float) -> None:
        self.admin = admin
        self._bootstrap = bootstrap
        self._timeout = timeout_s
        self._consumer: AIOKafkaConsumer | None = None

    async def close(self) -> None:
        consumer, self._consumer = self._consumer, None
        if consumer is not None:
            await asyncio.wait_for(consumer.stop(), self._timeout)

    async def topics(self) -> set[str]:
        return set(await asyncio.wait_for(self.admin.list_topics(), self._timeout))

    async def partition_count(self, topic: str) -> int:
        """Return the partition count of `topic` (0 when it does not exist); never creates it."""
        if topic not in await self.topics():
            return 0
        described = await asyncio.wait_for(self.admin.describe_topics([topic]), self._timeout)
        for entry in described:
            if entry["topic"] == topic and entry["error_code"] != UNKNOWN_TOPIC_OR_PARTITION:
                return len(entry["partitions"])
        return 0

    async def create(self, specs: list[TopicSpec], kept: dict[str, str]) -> None:
        """Create `specs`; input topics also get `kept` (the previous input's overrides; declared win)."""
        new = [
            NewTopic(
                s.name,
                s.partitions,
                s.replication_factor,
                topic_configs={**(kept if s.kind == "input" else {}), **s.configs},
            )
            for s in specs
        ]
        response = await asyncio.wait_for(
            self.admin.create_topics(new, timeout_ms=int(self._timeout * 1000)), self._timeout + 5.0
        )
        for error in response.to_object()["topic_errors"]:
            code = error.get("error_code", 0)
            if code not in (0, TOPIC_ALREADY_EXISTS):
                raise CreateFailed(
                    f"could not create {error['topic']}: error {code} {error.get('error_message')}"
                )

    async def wait_partitions(self, specs: list[TopicSpec]) -> None:
        """Wait until every topic of `specs` is visible with its declared partition count."""
        for spec in specs:
            while True:
                count = await self.partition_count(spec.name)
                if count == spec.partitions:
                    break
                if count:
                    raise TopicConflict(
                        f"{spec.name} exists with {count} partitions, not {spec.partitions}; "
                        "delete it (nothing consumes it yet) or reshard to that count"
                    )
                await asyncio.sleep(POLL_S)

    async def ends(self, generation: Generation) -> dict[int, int]:
        """Return the end offset of every partition of `generation`'s input topic."""
        ends, _ = await self._offsets(_partitions(generation))
        return {tp.partition: offset for tp, offset in ends.items()}

    async def unprocessed(self, generation: Generation, group: str) -> int:
        """Return how many records of `generation`'s input topic `group` has not committed yet."""
        return sum(p.left for p in await self.behind(generation, group))

    async def behind(self, generation: Generation, group: str) -> list[Behind]:
        """Return the partitions of `generation`'s input topic with records `group` has not committed."""
        tps = _partitions(generation)
        ends, begins = await self._offsets(tps)
        committed = await asyncio.wait_for(
            self.admin.list_consumer_group_offsets(group, partitions=tps), self._timeout
        )
        behind = []
        for tp in tps:
            meta = committed.get(tp)
            position = meta.offset if meta is not None and meta.offset >= 0 else begins[tp]
            position = max(position, begins[tp])
            if ends[tp] > position:
                behind.append(Behind(tp.partition, position, ends[tp]))
        return behind

    async def record_at(self, topic: str, partition: int, offset: int) -> ConsumerRecord[bytes, bytes] | None:
        """Return the record at (`topic`, `partition`, `offset`), or None when it is not there (bounded)."""
        consumer = await self._consumer_started()
        tp = TopicPartition(topic, partition)
        consumer.assign([tp])
        consumer.seek(tp, offset)
        batch = await asyncio.wait_for(consumer.getmany(tp, timeout_ms=1000, max_records=1), self._timeout)
        for record in batch.get(tp, []):
            if record.offset == offset:
                return record
        return None

    async def members(self, group: str) -> int:
        """Return how many members consume in `group` (0 when it is empty or gone)."""
        described: dict[str, Any] = await group_members(self.admin, group, timeout_s=self._timeout)
        if described["state"] in IDLE_GROUP_STATES:
            return 0
        return int(described["members"]) or 1  # e.g. PreparingRebalance: not idle yet

    async def _consumer_started(self) -> AIOKafkaConsumer:
        if self._consumer is None:
            consumer = AIOKafkaConsumer(**client_kwargs(self._bootstrap), enable_auto_commit=False)
            await asyncio.wait_for(consumer.start(), self._timeout)
            self._consumer = consumer
        return self._consumer

    async def _offsets(
        self, tps: list[TopicPartition]
    ) -> tuple[dict[TopicPartition, int], dict[TopicPartition, int]]:
        consumer = await self._consumer_started()
        ends = await asyncio.wait_for(consumer.end_offsets(tps), self._timeout)
        begins = await asyncio.wait_for(consumer.beginning_offsets(tps), self._timeout)
        return {tp: int(o) for tp, o in ends.items()}, {tp: int(o) for tp, o in begins.items()}


@dataclass(frozen=True, slots=True)
class Behind:
    """A partition whose group's committed position is short of its end: `left` records to go."""

    partition: int
    position: int  # the first record not committed: the one the partition's commits wait for
    end: int

    @property
    def left(self) -> int:
        return self.end - self.position


def _partitions(generation: Generation) -> list[TopicPartition]:
    return [TopicPartition(generation.topic, p) for p in range(generation.partitions)]
