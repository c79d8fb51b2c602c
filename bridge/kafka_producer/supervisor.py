"""The failover half of the resilient producer: build, watch and rebuild each underlying producer.

A background task connects every instance (so a service can start while Kafka is down), notices a
wedged one (dead sender task, a fatal idempotence error, or only time-outs and no acknowledgement for
`wedge_after_s`), drops it with a bounded stop in the background and builds a fresh one. Each instance
is supervised on its own: a rebuild that cannot start within its bound (a frozen broker first in the
bootstrap list) holds up no other.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from dataclasses import dataclass
from typing import Final

from aiokafka.errors import KafkaError

from bridge.aiokafka_fixes import sender_task
from bridge.cancelling import cancel_all, cancel_until_done
from bridge.kafka_config import explain
from bridge.kafka_producer.closing import close_producer
from bridge.kafka_producer.config import ProducerConfig
from bridge.kafka_producer.factory import KafkaProducerLike, ProducerFactory

#: The package's one logger name, whichever module logs (operators and tests filter on it).
log = logging.getLogger("bridge.kafka_producer")

#: How often the supervisor looks at the producer's health when nothing wakes it up.
SUPERVISE_INTERVAL_S: Final = 0.5
MAX_RESTART_BACKOFF_S: Final = 10.0


@dataclass(slots=True)
class Instance:
    """One aiokafka producer's place: the producer (None while it is being built) and its health."""

    producer: KafkaProducerLike | None = None
    recreate_reason: str | None = None
    timeout_streak_since: float | None = None

    @property
    def live(self) -> bool:
        return self.producer is not None and self.recreate_reason is None


class ProducerSupervisor:
    """Keeps `config.instances` started producers in place, rebuilding any that wedges."""

    def __init__(self, config: ProducerConfig, factory: ProducerFactory) -> None:
        self._config = config
        self._factory = factory
        #: Replaced element by element, never as a whole: senders index it by partition.
        self.instances = [Instance() for _ in range(max(1, config.instances))]
        self.recreations = 0
        #: At least one instance serves.
        self.connected = asyncio.Event()
        #: Every instance has started once: `start` waits for it, so no key is refused at start-up.
        self.all_started = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()
        self._stopping = False
        self._retired: set[asyncio.Task[None]] = set()

    @property
    def running(self) -> bool:
        return self._task is not None

    def start(self) -> None:
        """Start the supervising task (it connects every instance in the background)."""
        self._stopping = False
        self._task = asyncio.create_task(self._supervise(), name="resilient-producer-supervisor")

    async def stop(self, bound: float) -> None:
        """Stop supervising and close every producer, each within `bound`."""
        self._stopping = True
        self._wake.set()
        if self._task is not None:
            await cancel_until_done(self._task)
            self._task = None
        producers = self.producers()
        for instance in self.instances:
            instance.producer, instance.recreate_reason, instance.timeout_streak_since = None, None, None
        self.connected.clear()
        self.all_started.clear()
        if producers:
            await asyncio.gather(*(close_producer(p, bound) for p in producers))
        await cancel_all(list(self._retired))

    def producers(self) -> list[KafkaProducerLike]:
        """Every producer in place (live or condemned)."""
        return [i.producer for i in self.instances if i.producer is not None]

    def live_producer(self) -> KafkaProducerLike | None:
        """The first producer in place and not condemned, if any."""
        return next((i.producer for i in self.instances if i.live), None)

    # --- health reported by the senders -----------------------------------------------------------

    def note_timeout(self, instance: Instance) -> None:
        """Count a send's time-out; a streak of only time-outs for `wedge_after_s` condemns it."""
        now = time.monotonic()
        if instance.timeout_streak_since is None:
            instance.timeout_streak_since = now
        elif now - instance.timeout_streak_since >= self._config.wedge_after_s:
            self.request_recreate(instance, "no acknowledgement, only time-outs")

    def request_recreate(self, instance: Instance, reason: str) -> None:
        """Condemn `instance` (no more sends) and wake the supervisor to rebuild it."""
        if instance.recreate_reason is None and instance.producer is not None:
            instance.recreate_reason = reason
            self._wake.set()

    def _wedged_reason(self, instance: Instance) -> str | None:
        if instance.recreate_reason is not None:
            return instance.recreate_reason
        sender = sender_task(instance.producer)
        if sender is not None and sender.done():
            return "sender task died"
        streak = instance.timeout_streak_since
        if streak is not None and time.monotonic() - streak >= self._config.wedge_after_s:
            return "no acknowledgement, only time-outs"
        return None

    # --- the supervising task ---------------------------------------------------------------------

    async def _supervise(self) -> None:
        backoff = 0.2
        while not self._stopping:
            for index, instance in enumerate(self.instances):
                reason = self._wedged_reason(instance) if instance.producer is not None else None
                if reason is not None:
                    self._retire(index, reason)
            if any(i.producer is None for i in self.instances):
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
        missing = [index for index, instance in enumerate(self.instances) if instance.producer is None]
        starts = [asyncio.ensure_future(self._start_one(index)) for index in missing]
        handled: set[int] = set()
        try:
            for started in asyncio.as_completed(starts):
                index, producer = await started
                if producer is None:
                    continue
                handled.add(index)
                if self._stopping:
                    await close_producer(producer, self._config.stop_timeout_s)
                    continue
                self.instances[index] = Instance(producer)
                self.connected.set()
                if all(i.producer is not None for i in self.instances):
                    self.all_started.set()
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
                        await close_producer(producer, self._config.stop_timeout_s)
        return all(i.producer is not None for i in self.instances)

    async def _start_one(self, index: int) -> tuple[int, KafkaProducerLike | None]:
        producer = self._factory()
        try:
            await asyncio.wait_for(producer.start(), self._config.start_timeout_s)
        except asyncio.CancelledError:
            await asyncio.shield(close_producer(producer, self._config.stop_timeout_s))
            raise
        except (TimeoutError, KafkaError, OSError) as exc:
            # A refused password or a missing ACL does not fix itself: an ERROR saying which, not a warning.
            hint = explain(exc)
            log.log(
                logging.ERROR if hint else logging.WARNING,
                "kafka producer could not connect" + (f": {hint}" if hint else ""),
                extra={"bootstrap": self._config.bootstrap_servers, "error": repr(exc), "instance": index},
            )
            await close_producer(producer, self._config.stop_timeout_s)
            return index, None
        return index, producer

    def _retire(self, index: int, reason: str) -> None:
        """Drop one instance now and close it in the background (its stop may hang, #1101)."""
        producer = self.instances[index].producer
        self.instances[index] = Instance()
        if not any(i.live for i in self.instances):
            self.connected.clear()
        self.recreations += 1
        log.warning("kafka producer is wedged; recreating it", extra={"reason": reason, "instance": index})
        if producer is not None:
            task = asyncio.create_task(close_producer(producer, self._config.stop_timeout_s))
            self._retired.add(task)
            task.add_done_callback(self._retired.discard)
