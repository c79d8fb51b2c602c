"""A bounded, self-healing, idempotent acks=all Kafka producer for every component that writes records.

aiokafka's `AIOKafkaProducer` is the right engine (batching, idempotence, acks=all) but two of its
failure modes would break the promise "an answer within a bound, and never a false success":

* while the broker is down, `send()` and `send_and_wait()` can wait forever and so can `stop()`
  (aio-libs/aiokafka#1101);
* after a broker blip an idempotent producer can hit `OutOfOrderSequenceNumber`: the sender task dies
  and every later record just sits in the accumulator until the process restarts
  (aio-libs/aiokafka#1017).

`ResilientProducer` wraps it: every `send` has a deadline and raises `ProduceTimeout`,
`ProduceFailed` or `ProducerUnavailable` instead of hanging; a supervisor task connects in the
background (so a service can start while Kafka is down), notices a wedged producer (dead sender task,
a fatal idempotence error, or only time-outs and no acknowledgement for `wedge_after_s`), drops it with a
bounded stop and builds a fresh one. A record is reported as sent only when the broker acknowledged it.

With `instances > 1` it runs that many producers and sends each record through
`instances[partition % instances]`, the partition being the one aiokafka would pick for the key. Each
aiokafka producer keeps a single produce request in flight per broker, so several overlap their round
trips under load, while one key still always travels through one producer (per-key order holds).

Each instance is supervised on its own: a wedged one is rebuilt while the others keep sending, and a
rebuild that cannot start within its bound (a frozen broker first in the bootstrap list) holds up no
other. aiokafka's request bound (3 s) is kept well below that start bound (10 s), so a start or a
metadata refresh that reaches an unresponsive broker moves on to the next one in time, and every
instance bootstraps from the list starting at a different broker.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Final, Protocol

from aiokafka import AIOKafkaProducer
from aiokafka.errors import (
    KafkaError,
    KafkaTimeoutError,
    OutOfOrderSequenceNumber,
    ProducerClosed,
    ProducerFenced,
    UnknownProducerId,
)
from aiokafka.partitioner import DefaultPartitioner
from aiokafka.structs import RecordMetadata

from bridge.kafka_config import client_kwargs, explain
from bridge.kafka_metadata import topic_exists

log = logging.getLogger(__name__)

#: Errors after which an idempotent producer never recovers by itself (aiokafka#1017).
FATAL_ERRORS: Final[tuple[type[BaseException], ...]] = (
    OutOfOrderSequenceNumber,
    ProducerFenced,
    UnknownProducerId,
    ProducerClosed,
)
#: How often the supervisor looks at the producer's health when nothing wakes it up.
SUPERVISE_INTERVAL_S: Final = 0.5
MAX_RESTART_BACKOFF_S: Final = 10.0
FORCE_CLOSE_TIMEOUT_S: Final = 2.0


class ProduceError(Exception):
    """A record was not acknowledged by Kafka; callers must not report success."""


class ProduceTimeout(ProduceError):
    """No acknowledgement within the deadline; the record may or may not reach Kafka later."""


class ProduceFailed(ProduceError):
    """Kafka or the client rejected the record (the cause is chained)."""


class ProducerUnavailable(ProduceError):
    """No connected producer right now (starting, reconnecting or stopped): nothing was sent."""


class KafkaProducerLike(Protocol):
    """The part of `AIOKafkaProducer` the wrapper uses; tests substitute fakes."""

    async def start(self) -> None: ...
    async def stop(self) -> None: ...
    async def flush(self) -> None: ...
    async def partitions_for(self, topic: str) -> set[int]: ...
    async def send(
        self,
        topic: str,
        value: bytes | None = None,
        key: bytes | None = None,
        partition: int | None = None,
        timestamp_ms: int | None = None,
        headers: Sequence[tuple[str, bytes]] | None = None,
    ) -> asyncio.Future[RecordMetadata]: ...


ProducerFactory = Callable[[], KafkaProducerLike]


@dataclass(frozen=True, slots=True)
class ProducerConfig:
    """How to build and supervise the underlying producer."""

    bootstrap_servers: str
    client_id: str = "vtex-bridge"
    linger_ms: int = 5
    max_batch_size: int = 64 * 1024
    #: aiokafka's own request bound; our per-send deadline is what callers see. Well below
    #: `start_timeout_s`: a request to a frozen broker must fail in time for the next broker to be tried.
    request_timeout_ms: int = 3_000
    start_timeout_s: float = 10.0
    stop_timeout_s: float = 5.0
    #: Only time-outs and no acknowledgement for this long means the producer is wedged.
    wedge_after_s: float = 10.0
    metadata_timeout_s: float = 2.0
    #: Underlying producers; records go to `instances[partition % instances]`. aiokafka keeps one produce
    #: request in flight per broker and producer, so several instances overlap their round trips. A key
    #: always maps to one partition and so to one instance: per-key order is kept.
    instances: int = 1


@dataclass(frozen=True, slots=True)
class ProducerStats:
    """A snapshot for metrics and readiness."""

    connected: bool
    recreations: int
    acked: int
    timeouts: int
    failures: int
    seconds_since_ack: float | None


@dataclass(slots=True)
class _Instance:
    """One aiokafka producer's place: the producer (None while it is being built) and its health."""

    producer: KafkaProducerLike | None = None
    recreate_reason: str | None = None
    timeout_streak_since: float | None = None

    @property
    def live(self) -> bool:
        return self.producer is not None and self.recreate_reason is None


class ResilientProducer:
    """An idempotent acks=all producer whose every operation is bounded and which rebuilds itself."""

    def __init__(self, config: ProducerConfig, *, factory: ProducerFactory | None = None) -> None:
        self._config = config
        self._factory: ProducerFactory = factory or self._default_factory
        self._instances = [_Instance() for _ in range(max(1, config.instances))]
        self._bootstrap_turn = -1
        self._partitioner = DefaultPartitioner()
        self._supervisor: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()
        self._connected = asyncio.Event()
        #: Every instance has started once: `start` waits for it, so no key is refused at start-up.
        self._all_started = asyncio.Event()
        self._stopping = False
        self._last_ack: float | None = None
        self._recreations = 0
        self._acked = 0
        self._timeouts = 0
        self._failures = 0
        self._pending = 0
        self._retired: set[asyncio.Task[None]] = set()

    def _default_factory(self) -> KafkaProducerLike:
        config = self._config
        kwargs = client_kwargs(config.bootstrap_servers)
        # Each new producer starts its bootstrap at another broker: a frozen first one holds none up.
        servers = kwargs["bootstrap_servers"].split(",")
        self._bootstrap_turn = (self._bootstrap_turn + 1) % len(servers)
        kwargs["bootstrap_servers"] = servers[self._bootstrap_turn :] + servers[: self._bootstrap_turn]
        producer: KafkaProducerLike = AIOKafkaProducer(
            **kwargs,
            client_id=config.client_id,
            acks="all",
            enable_idempotence=True,
            linger_ms=config.linger_ms,
            max_batch_size=config.max_batch_size,
            request_timeout_ms=config.request_timeout_ms,
        )
        return producer

    # --- lifecycle --------------------------------------------------------------------------------

    async def start(self, *, require_connection: bool = False) -> None:
        """Start supervising; wait up to `start_timeout_s` for every instance to connect.

        All of them, not the first: keys map to instances, and a key whose instance is still starting
        would be refused (503) by a service that already serves. When the bound passes with some
        instances up, the rest join in the background (a frozen broker holds up only its own keys).
        Without `require_connection` a broker that is down is not an error: sends raise
        `ProducerUnavailable` until the supervisor connects. With it, raise `ProducerUnavailable`.
        """
        if self._supervisor is not None:
            return
        self._stopping = False
        self._supervisor = asyncio.create_task(self._supervise(), name="resilient-producer-supervisor")
        try:
            await asyncio.wait_for(self._all_started.wait(), self._config.start_timeout_s)
        except TimeoutError:
            if self._connected.is_set():
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
        bound = self._config.stop_timeout_s if timeout is None else timeout
        self._stopping = True
        self._wake.set()
        if self._supervisor is not None:
            self._supervisor.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._supervisor
            self._supervisor = None
        producers = [i.producer for i in self._instances if i.producer is not None]
        for instance in self._instances:
            instance.producer, instance.recreate_reason, instance.timeout_streak_since = None, None, None
        self._connected.clear()
        self._all_started.clear()
        if producers:
            await asyncio.gather(*(self._close(p, bound) for p in producers))
        for task in list(self._retired):
            task.cancel()
        if self._retired:
            await asyncio.gather(*self._retired, return_exceptions=True)

    async def flush(self, timeout: float) -> None:
        """Wait until every record handed to the producer so far was sent, at most `timeout`."""
        producers = [i.producer for i in self._instances if i.producer is not None]
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
        instances = self._instances
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
            self._note_timeout(instance)
            raise ProduceTimeout(f"no acknowledgement from Kafka within {timeout}s") from None
        except KafkaTimeoutError as exc:
            self._note_timeout(instance)
            raise ProduceTimeout(f"Kafka client timed out: {exc!r}") from exc
        except FATAL_ERRORS as exc:
            self._failures += 1
            self._request_recreate(instance, type(exc).__name__)
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
        return any(i.live for i in self._instances)

    def stats(self) -> ProducerStats:
        last = self._last_ack
        return ProducerStats(
            connected=self.connected,
            recreations=self._recreations,
            acked=self._acked,
            timeouts=self._timeouts,
            failures=self._failures,
            seconds_since_ack=None if last is None else time.monotonic() - last,
        )

    async def topic_exists(self, topic: str, timeout: float | None = None) -> bool:
        """Ask the cluster (bounded) whether `topic` exists; False when it cannot be asked."""
        producer = next((i.producer for i in self._instances if i.live), None)
        client: Any = getattr(producer, "client", None)
        if producer is None or client is None:
            return False
        bound = self._config.metadata_timeout_s if timeout is None else timeout
        try:
            return await asyncio.wait_for(topic_exists(client, topic), bound)
        except (TimeoutError, KafkaError, OSError):
            return False

    # --- supervision ------------------------------------------------------------------------------

    def _note_timeout(self, instance: _Instance) -> None:
        self._timeouts += 1
        now = time.monotonic()
        if instance.timeout_streak_since is None:
            instance.timeout_streak_since = now
        elif now - instance.timeout_streak_since >= self._config.wedge_after_s:
            self._request_recreate(instance, "no acknowledgement, only time-outs")

    def _request_recreate(self, instance: _Instance, reason: str) -> None:
        if instance.recreate_reason is None and instance.producer is not None:
            instance.recreate_reason = reason
            self._wake.set()

    def _wedged_reason(self, instance: _Instance) -> str | None:
        if instance.recreate_reason is not None:
            return instance.recreate_reason
        sender = getattr(getattr(instance.producer, "_sender", None), "sender_task", None)
        if sender is not None and sender.done():
            return "sender task died"
        streak = instance.timeout_streak_since
        if streak is not None and time.monotonic() - streak >= self._config.wedge_after_s:
            return "no acknowledgement, only time-outs"
        return None

    async def _supervise(self) -> None:
        backoff = 0.2
        while not self._stopping:
            for index, instance in enumerate(self._instances):
                reason = self._wedged_reason(instance) if instance.producer is not None else None
                if reason is not None:
                    self._retire(index, reason)
            if any(i.producer is None for i in self._instances):
                if await self._connect():
                    backoff = 0.2
                    continue
                await self._sleep(backoff)
                backoff = min(backoff * 2, MAX_RESTART_BACKOFF_S)
                continue
            await self._sleep(SUPERVISE_INTERVAL_S)

    async def _sleep(self, seconds: float) -> None:
        self._wake.clear()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wake.wait(), seconds)

    async def _connect(self) -> bool:
        """Start every missing instance at once, each on its own bound; return whether all are live.

        An instance is put to work as soon as its start returns: one that cannot start (e.g. its first
        bootstrap broker is frozen) holds up no other.
        """
        missing = [index for index, instance in enumerate(self._instances) if instance.producer is None]
        starts = [asyncio.ensure_future(self._start_one(index)) for index in missing]
        handled: set[int] = set()
        try:
            for started in asyncio.as_completed(starts):
                index, producer = await started
                if producer is None:
                    continue
                handled.add(index)
                if self._stopping:
                    await self._close(producer, self._config.stop_timeout_s)
                    continue
                self._instances[index] = _Instance(producer)
                self._connected.set()
                if all(i.producer is not None for i in self._instances):
                    self._all_started.set()
                log.info(
                    "kafka producer connected",
                    extra={"bootstrap": self._config.bootstrap_servers, "instance": index},
                )
        finally:  # stopped meanwhile: no started producer may be left running unowned
            for task in starts:
                task.cancel()
            for task in starts:
                if task.done() and not task.cancelled() and task.exception() is None:
                    index, producer = task.result()
                    if producer is not None and index not in handled:
                        await self._close(producer, self._config.stop_timeout_s)
        return all(i.producer is not None for i in self._instances)

    async def _start_one(self, index: int) -> tuple[int, KafkaProducerLike | None]:
        producer = self._factory()
        try:
            await asyncio.wait_for(producer.start(), self._config.start_timeout_s)
        except asyncio.CancelledError:
            await asyncio.shield(self._close(producer, self._config.stop_timeout_s))
            raise
        except (TimeoutError, KafkaError, OSError) as exc:
            # A refused password or a missing ACL does not fix itself: an ERROR saying which, not a warning.
            hint = explain(exc)
            log.log(
                logging.ERROR if hint else logging.WARNING,
                "kafka producer could not connect" + (f": {hint}" if hint else ""),
                extra={"bootstrap": self._config.bootstrap_servers, "error": repr(exc), "instance": index},
            )
            await self._close(producer, self._config.stop_timeout_s)
            return index, None
        return index, producer

    def _retire(self, index: int, reason: str) -> None:
        """Drop one instance now and close it in the background (its stop may hang, #1101)."""
        producer = self._instances[index].producer
        self._instances[index] = _Instance()
        if not any(i.live for i in self._instances):
            self._connected.clear()
        self._recreations += 1
        log.warning("kafka producer is wedged; recreating it", extra={"reason": reason, "instance": index})
        if producer is not None:
            task = asyncio.create_task(self._close(producer, self._config.stop_timeout_s))
            self._retired.add(task)
            task.add_done_callback(self._retired.discard)

    @staticmethod
    async def _close(producer: KafkaProducerLike, timeout: float) -> None:
        try:
            await asyncio.wait_for(producer.stop(), timeout)
        except TimeoutError:
            log.warning(
                "kafka producer did not stop within its bound; closing it by force",
                extra={"timeout": timeout},
            )
            await ResilientProducer._force_close(producer)
        except Exception as exc:
            log.warning("kafka producer stop failed", extra={"error": repr(exc)})
            await ResilientProducer._force_close(producer)

    @staticmethod
    async def _force_close(producer: KafkaProducerLike) -> None:
        await force_close(producer)


async def force_close(producer: Any) -> None:
    """Cancel the sender and close the connections when a graceful stop hangs (aiokafka#1101).

    Records still queued in that producer are lost to it; their senders already got (or will get by
    their own deadline) an error, never a success. The partition writers use it too, for a producer
    whose transaction is abandoned anyway (the next producer's `init_transactions` settles it).
    """
    parts: list[Any] = [getattr(producer, "_sender", None), getattr(producer, "client", None)]
    for part in parts:
        if part is None:
            continue
        try:
            await asyncio.wait_for(part.close(), FORCE_CLOSE_TIMEOUT_S)
        except Exception as exc:
            log.warning("forced close of a kafka producer part failed", extra={"error": repr(exc)})
