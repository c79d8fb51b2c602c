"""Input generations: which input topic the bridge writes and reads now, recorded in a control topic.

Adding partitions to the input topic would move orders to other partitions mid-stream (per-order
order breaks, the changelogs stop being co-partitioned), so `vtex-bridge topics reshard` never does it:
it creates a new *generation* of the input topic instead. Generation 1 is `settings.input_topic` with
the worker's `settings.worker_app_id`, exactly as before generations existed; generation g > 1 is the
topic `<input_topic>.g<g>` processed under the app id `<worker_app_id>-g<g>`, so its consumer group, its
changelogs (`<app id>-g<g>-dedup-changelog`, `...-timeline-changelog`) and its transactional ids
(`<app id>-g<g>-p<partition>`) are all its own (`settings_for`).

The compacted one-partition control topic (`control_topic(settings)`) holds one record, key
`input-generation`, naming the newest generation, the phase of the switch to it and the generation it
replaces. No control topic, or no record, means generation 1: existing deployments need nothing. Phases,
in order (`bridge.topics.reshard` moves through them):

    preparing   the new generation's topics are being created; everyone still uses the previous one
    switching   producers write the new topic; workers still drain the previous one; the command
                waits until the previous topic is quiet (sealed)
    draining    the command waits until the previous generation's group committed every record
    migrating   the previous generation's workers stop; the command fences them and copies their
                changelogs (re-partitioned) into the new generation's; nobody consumes
    active      workers consume the new generation, with the migrated state

`ControlReader` reads the record (bounded, read_committed, without creating the topic by accident);
`ControlWriter` writes it in a transaction whose id fences a concurrent `reshard` run.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass
from typing import Any, Final, Literal, get_args

import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.partitioner import murmur2

from bridge.aiokafka_fixes import client_of
from bridge.events import utc_now_iso
from bridge.kafka_config import client_kwargs
from bridge.kafka_metadata import topic_exists
from bridge.settings import Settings
from bridge.topic_names import changelog_topic, timeline_topic
from bridge.topic_names import control_topic as control_topic
from bridge.topic_names import generation_app_id as generation_app_id
from bridge.topic_names import generation_topic as generation_topic
from bridge.topic_names import transactional_id as transactional_id

log = logging.getLogger(__name__)

Phase = Literal["preparing", "switching", "draining", "migrating", "active"]
PHASES: Final[tuple[Phase, ...]] = get_args(Phase)
#: Phases in which producers write the new generation's topic.
PRODUCING_NEW: Final[frozenset[Phase]] = frozenset({"switching", "draining", "migrating", "active"})

RECORD_KEY: Final = b"input-generation"
CONTROL_CONFIGS: Final = {"cleanup.policy": "compact"}
FETCH_TIMEOUT_MS: Final = 200
CLIENT_TIMEOUT_S: Final = 30.0
#: Stopping a client must not hold up a shutdown (the ingress's is bounded) when Kafka is down.
STOP_TIMEOUT_S: Final = 5.0


class GenerationError(RuntimeError):
    """The control record cannot be read or written, or says something impossible."""


class WriterFenced(GenerationError):
    """Another `reshard` run started a writer with the same transactional id: it owns the switch now."""


@dataclass(frozen=True, slots=True)
class Generation:
    """One generation of the input topic."""

    number: int
    topic: str
    partitions: int

    def to_json(self) -> dict[str, Any]:
        return {"generation": self.number, "topic": self.topic, "partitions": self.partitions}

    @classmethod
    def from_json(cls, value: dict[str, Any]) -> Generation:
        return cls(int(value["generation"]), str(value["topic"]), int(value["partitions"]))


@dataclass(frozen=True, slots=True)
class GenerationRecord:
    """The control record: the newest generation, the phase of the switch to it, the one it replaces."""

    current: Generation
    phase: Phase
    previous: Generation | None
    updated_at: str

    @property
    def produce_topic(self) -> str:
        """Return the topic producers write now."""
        if self.phase in PRODUCING_NEW or self.previous is None:
            return self.current.topic
        return self.previous.topic

    @property
    def consuming(self) -> Generation | None:
        """Return the generation workers consume now; None while the state migrates (nobody does)."""
        if self.phase == "active" or self.previous is None:
            return self.current
        if self.phase == "migrating":
            return None
        return self.previous

    def advanced(self, phase: Phase) -> GenerationRecord:
        return GenerationRecord(self.current, phase, self.previous, utc_now_iso())

    def to_bytes(self) -> bytes:
        return orjson.dumps(
            {
                **self.current.to_json(),
                "phase": self.phase,
                "previous": None if self.previous is None else self.previous.to_json(),
                "updated_at": self.updated_at,
            }
        )

    @classmethod
    def from_bytes(cls, raw: bytes) -> GenerationRecord:
        try:
            value = orjson.loads(raw)
            phase = value["phase"]
            if phase not in PHASES:
                raise ValueError(f"unknown phase {phase!r}")
            previous = value.get("previous")
            return cls(
                Generation.from_json(value),
                phase,
                None if previous is None else Generation.from_json(previous),
                str(value.get("updated_at", "")),
            )
        except (ValueError, KeyError, TypeError) as exc:
            raise GenerationError(f"unreadable generation record {raw[:200]!r}: {exc}") from exc


# --- names (defined in bridge.topic_names) --------------------------------------------------------------


def changelog_topics(app_id: str) -> tuple[str, ...]:
    """Return every changelog partitioned like the input topic (partition p = state of input partition p).

    A reshard creates and migrates each of them (last value per key, re-partitioned by key), so a new
    per-partition changelog of the processor must be listed here, and its value must be the whole state
    of its key.
    """
    return (changelog_topic(app_id), timeline_topic(app_id))


def partition_for(key: bytes, partitions: int) -> int:
    """Return the partition the producers' default partitioner picks for `key` (murmur2, as Java's)."""
    return int(murmur2(key) & 0x7FFFFFFF) % partitions


def settings_for(settings: Settings, generation: Generation) -> Settings:
    """Return the settings a worker of `generation` runs with: its topic, app id and partition count.

    Only for building that generation's processor: anything that reads the control record (the
    generation watch, `ensure_topics`, the `topics` commands) takes the deployment's own settings. The
    control topic is pinned anyway, so that a derived `input_topic` never names another one.
    """
    if generation.number == 1 and generation.topic == settings.input_topic:
        return settings
    return settings.model_copy(
        update={
            "input_topic": generation.topic,
            "worker_app_id": generation_app_id(settings, generation.number),
            "input_topic_partitions": generation.partitions,
            "generation_control_topic": control_topic(settings),
        }
    )


# --- the control topic ----------------------------------------------------------------------------------


class ControlReader:
    """Follows the control topic with one long-lived consumer (no group); `refresh` catches up, bounded.

    Until the topic exists, each refresh asks whether it does with a metadata request for that topic
    alone that may not create it (`bridge.kafka_metadata`): a plain one would create it with the
    broker's defaults, not compacted, on a broker with `auto.create.topics.enable`.
    """

    def __init__(self, bootstrap: str, topic: str) -> None:
        self._bootstrap = bootstrap
        self._topic = topic
        self._consumer: AIOKafkaConsumer | None = None
        self._assigned = False
        self.record: GenerationRecord | None = None

    async def start(self) -> None:
        consumer = AIOKafkaConsumer(
            **client_kwargs(self._bootstrap),
            client_id="vtex-bridge-generation",
            enable_auto_commit=False,
            isolation_level="read_committed",
            auto_offset_reset="earliest",
        )
        try:
            await asyncio.wait_for(consumer.start(), CLIENT_TIMEOUT_S)
        except BaseException:
            await _stop_consumer(consumer)
            raise
        self._consumer = consumer

    async def stop(self) -> None:
        consumer, self._consumer = self._consumer, None
        self._assigned = False
        if consumer is not None:
            await _stop_consumer(consumer)

    async def refresh(self, timeout_s: float) -> GenerationRecord | None:
        """Read the record as last committed; raise TimeoutError (or a Kafka error) after `timeout_s`."""
        async with asyncio.timeout(timeout_s):
            return await self._refresh()

    async def _refresh(self) -> GenerationRecord | None:
        if self._consumer is None:
            await self.start()
        consumer = self._consumer
        assert consumer is not None
        tp = TopicPartition(self._topic, 0)
        if not self._assigned:
            if not await topic_exists(client_of(consumer), self._topic):
                return self.record  # no control topic: generation 1 (or the last record seen)
            consumer.assign([tp])
            await consumer.seek_to_beginning(tp)
            self._assigned = True
        end = (await consumer.end_offsets([tp]))[tp]
        while await consumer.position(tp) < end:
            batch = await consumer.getmany(tp, timeout_ms=FETCH_TIMEOUT_MS)
            for message in batch.get(tp, []):
                if message.key == RECORD_KEY:
                    self.record = (
                        None if message.value is None else GenerationRecord.from_bytes(message.value)
                    )
        return self.record


async def read_record(settings: Settings, timeout_s: float) -> GenerationRecord | None:
    """Return the current control record (None = generation 1); raise TimeoutError after `timeout_s`."""
    reader = ControlReader(settings.kafka_bootstrap_servers, control_topic(settings))
    try:
        return await reader.refresh(timeout_s)
    finally:
        await reader.stop()


class ControlWriter:
    """Writes the control record in transactions; a second writer fences the first (`WriterFenced`)."""

    def __init__(self, bootstrap: str, topic: str) -> None:
        self._bootstrap = bootstrap
        self._topic = topic
        self._producer: AIOKafkaProducer | None = None

    async def start(self) -> None:
        producer = AIOKafkaProducer(
            **client_kwargs(self._bootstrap),
            client_id="vtex-bridge-reshard",
            transactional_id=f"{self._topic}-writer",
            enable_idempotence=True,
            acks="all",
        )
        try:
            await asyncio.wait_for(producer.start(), CLIENT_TIMEOUT_S)
        except BaseException:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(producer.stop(), CLIENT_TIMEOUT_S)
            raise
        self._producer = producer

    async def stop(self) -> None:
        producer, self._producer = self._producer, None
        if producer is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(producer.stop(), STOP_TIMEOUT_S)

    async def write(self, record: GenerationRecord) -> None:
        """Commit `record` as the current one."""
        from aiokafka.errors import InvalidProducerEpoch, ProducerFenced

        producer = self._producer
        if producer is None:
            raise GenerationError("the control writer is not started")
        try:
            async with asyncio.timeout(CLIENT_TIMEOUT_S):
                async with producer.transaction():
                    await producer.send_and_wait(self._topic, key=RECORD_KEY, value=record.to_bytes())
        except (ProducerFenced, InvalidProducerEpoch) as exc:
            raise WriterFenced(
                "another `topics reshard` run took over the control record; let that one finish"
            ) from exc
        log.info(
            "generation record written",
            extra={"generation": record.current.number, "phase": record.phase, "topic": record.current.topic},
        )


async def _stop_consumer(consumer: AIOKafkaConsumer) -> None:
    with contextlib.suppress(Exception):
        await asyncio.wait_for(consumer.stop(), STOP_TIMEOUT_S)
