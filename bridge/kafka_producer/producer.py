"""The send-with-deadline half of the resilient producer: a bounded answer, never a false success.

aiokafka's `send()` and `send_and_wait()` can wait forever while the broker is down
(aio-libs/aiokafka#1101). Every `send` here has a deadline and raises `ProduceTimeout`,
`ProduceFailed` or `ProducerUnavailable` instead of hanging; a record is reported as sent only when
the broker acknowledged it. Each failure is reported to the `ProducerSupervisor`, which rebuilds a
wedged producer while the others keep sending.

With `instances > 1` each record goes through `instances[partition % instances]`, the partition being
the one aiokafka would pick for the key: several producers overlap their round trips under load while
one key still always travels through one producer (per-key order holds).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence
from typing import Any

from aiokafka.errors import KafkaError, KafkaTimeoutError
from aiokafka.partitioner import DefaultPartitioner
from aiokafka.structs import RecordMetadata

from bridge.kafka_metadata import topic_exists
from bridge.kafka_producer.config import ProducerConfig, ProducerStats
from bridge.kafka_producer.errors import (
    FATAL_ERRORS,
    ProduceFailed,
    ProducerUnavailable,
    ProduceTimeout,
)
from bridge.kafka_producer.factory import KafkaProducerLike, ProducerFactory, aiokafka_factory
from bridge.kafka_producer.supervisor import ProducerSupervisor

#: The package's one logger name, whichever module logs (operators and tests filter on it).
log = logging.getLogger("bridge.kafka_producer")


class ResilientProducer:
    """An idempotent acks=all producer whose every operation is bounded and which rebuilds itself."""

    def __init__(self, config: ProducerConfig, *, factory: ProducerFactory | None = None) -> None:
        self._config = config
        self._supervisor = ProducerSupervisor(config, factory or aiokafka_factory(config))
        self._partitioner = DefaultPartitioner()
        self._last_ack: float | None = None
        self._acked = 0
        self._timeouts = 0
        self._failures = 0
        self._pending = 0

    # --- lifecycle --------------------------------------------------------------------------------

    async def start(self, *, require_connection: bool = False) -> None:
        """Start supervising; wait up to `start_timeout_s` for every instance to connect.

        All of them, not the first: keys map to instances, and a key whose instance is still starting
        would be refused (503) by a service that already serves. When the bound passes with some
        instances up, the rest join in the background (a frozen broker holds up only its own keys).
        Without `require_connection` a broker that is down is not an error: sends raise
        `ProducerUnavailable` until the supervisor connects. With it, raise `ProducerUnavailable`.
        """
        supervisor = self._supervisor
        if supervisor.running:
            return
        supervisor.start()
        try:
            await asyncio.wait_for(supervisor.all_started.wait(), self._config.start_timeout_s)
        except TimeoutError:
            if supervisor.connected.is_set():
                return  # some instances serve; the others keep trying in the background
            if require_connection:
                await self.stop()
                raise ProducerUnavailable(
                    f"no Kafka connection to {self._config.bootstrap_servers} "
                    f"within {self._config.start_timeout_s}s"
                ) from None
            log.warning(
                "kafka not reachable yet; will keep trying",
                extra={"bootstrap": self._config.bootstrap_servers},
            )

    async def stop(self, timeout: float | None = None) -> None:
        """Flush what is pending and close, all within `timeout` (default `stop_timeout_s`)."""
        await self._supervisor.stop(self._config.stop_timeout_s if timeout is None else timeout)

    async def flush(self, timeout: float) -> None:
        """Wait until every record handed to the producer so far was sent, at most `timeout`."""
        producers = self._supervisor.producers()
        if not producers:
            return
        try:
            await asyncio.wait_for(asyncio.gather(*(p.flush() for p in producers)), timeout)
        except TimeoutError:
            raise ProduceTimeout(f"flush did not finish within {timeout}s") from None

    # --- sending ----------------------------------------------------------------------------------

    async def send(
        self,
        topic: str,
        key: bytes | None,
        value: bytes,
        headers: Sequence[tuple[str, bytes]] | None = None,
        *,
        timeout: float,
    ) -> RecordMetadata:
        """Return the broker's acknowledgement of one record, or raise a `ProduceError` by `timeout`."""
        supervisor = self._supervisor
        instances = supervisor.instances
        instance = next((i for i in instances if i.live), None)
        any_live = instance.producer if instance is not None else None
        if instance is None or any_live is None:
            raise ProducerUnavailable("no connected Kafka producer")
        self._pending += 1
        try:
            # asyncio.timeout bounds both the enqueue (which waits on metadata and can hang, #1101) and
            # the acknowledgement; cancelling the per-record future never cancels other records.
            async with asyncio.timeout(timeout):
                if len(instances) == 1:
                    delivery = await any_live.send(topic, value=value, key=key, headers=list(headers or ()))
                else:
                    partition = await self._partition(any_live, topic, key)
                    instance = instances[partition % len(instances)]
                    producer = instance.producer
                    if producer is None or not instance.live:  # being rebuilt: only its keys wait
                        raise ProducerUnavailable("this key's Kafka producer is reconnecting")
                    delivery = await producer.send(
                        topic, value=value, key=key, partition=partition, headers=list(headers or ())
                    )
                metadata = await delivery
        except TimeoutError:
            self._timeouts += 1
            supervisor.note_timeout(instance)
            raise ProduceTimeout(f"no acknowledgement from Kafka within {timeout}s") from None
        except KafkaTimeoutError as exc:
            self._timeouts += 1
            supervisor.note_timeout(instance)
            raise ProduceTimeout(f"Kafka client timed out: {exc!r}") from exc
        except FATAL_ERRORS as exc:
            self._failures += 1
            supervisor.request_recreate(instance, type(exc).__name__)
            raise ProduceFailed(f"producer hit a fatal error: {exc!r}") from exc
        except KafkaError as exc:
            self._failures += 1
            raise ProduceFailed(f"Kafka rejected the record: {exc!r}") from exc
        except AssertionError as exc:
            # aiokafka asserts that an explicit partition is in its metadata; with several instances one
            # may briefly lag another after partitions were added.
            self._failures += 1
            raise ProduceFailed(f"partition not in this producer's metadata yet: {exc!r}") from exc
        finally:
            self._pending -= 1
        self._acked += 1
        self._last_ack = time.monotonic()
        instance.timeout_streak_since = None
        return metadata

    async def _partition(self, producer: KafkaProducerLike, topic: str, key: bytes | None) -> int:
        """Return the partition aiokafka (and the Java client) would choose for `key`: murmur2 of the key."""
        partitions = sorted(await producer.partitions_for(topic))
        if not partitions:
            raise ProduceFailed(f"topic {topic} has no partitions")
        return int(self._partitioner(key, partitions, partitions))

    # --- health -----------------------------------------------------------------------------------

    @property
    def connected(self) -> bool:
        """Tell whether a started producer is in place and not condemned (with several: any of them)."""
        return self._supervisor.live_producer() is not None

    def stats(self) -> ProducerStats:
        last = self._last_ack
        return ProducerStats(
            connected=self.connected,
            recreations=self._supervisor.recreations,
            acked=self._acked,
            timeouts=self._timeouts,
            failures=self._failures,
            seconds_since_ack=None if last is None else time.monotonic() - last,
        )

    async def topic_exists(self, topic: str, timeout: float | None = None) -> bool:
        """Ask the cluster (bounded) whether `topic` exists; False when it cannot be asked."""
        producer = self._supervisor.live_producer()
        client: Any = getattr(producer, "client", None)
        if producer is None or client is None:
            return False
        bound = self._config.metadata_timeout_s if timeout is None else timeout
        try:
            return await asyncio.wait_for(topic_exists(client, topic), bound)
        except (TimeoutError, KafkaError, OSError):
            return False
