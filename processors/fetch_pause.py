"""Pause and resume fetching one input partition, at the Kafka consumer itself, without losing records.

Faust's own `Consumer.pause_partitions` only takes the partition out of the set its fetch loop yields
from, and that loop *drops* records of a partition outside the set that aiokafka already returned
(faust-streaming 0.15.3 `Consumer.getmany`): the consumer's position has moved past them, so they are
never read again and the partition's commits stop at the gap. aiokafka's `pause` is safe: records it
holds for a paused partition are discarded *before* its position moves, and fetched again on resume.
That consumer lives on Faust's consumer thread (its own event loop), so the call is handed to that
thread. Faust's thread runs queued calls on two workers, which may swap a pause and a resume made in
quick succession: each call therefore applies the state wanted *when it runs* (`wanted(partition)`),
so whatever the order the last call leaves the partition as the owner wants it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

from aiokafka import TopicPartition

from processors.faust_adapter import call_on_consumer_thread, kafka_consumer

log = logging.getLogger(__name__)


class PartitionPauser:
    """Make the consumer's fetching of `topic`'s partitions follow `wanted(partition)` (True = paused)."""

    def __init__(self, consumer: Callable[[], Any], topic: str, wanted: Callable[[int], bool]) -> None:
        """`consumer`: returns Faust's consumer (its thread owns the aiokafka consumer)."""
        self._consumer = consumer
        self._topic = topic
        self._wanted = wanted
        self._tasks: set[asyncio.Future[Any]] = set()

    def update(self, partition: int) -> None:
        """Apply the wanted state of `partition` on the consumer's thread (soon, not now)."""
        consumer = self._consumer()
        kafka = kafka_consumer(consumer)
        call = None if kafka is None else call_on_consumer_thread(consumer, self._apply, kafka, partition)
        if call is None:
            return  # not started (or stopping): nothing is fetched anyway
        task = asyncio.ensure_future(call)
        self._tasks.add(task)
        task.add_done_callback(self._done)

    def _apply(self, kafka: Any, partition: int) -> None:
        tp = TopicPartition(self._topic, partition)
        if tp not in kafka.assignment():
            return  # revoked meanwhile: a new assignment starts unpaused
        if self._wanted(partition):
            kafka.pause(tp)
        else:
            kafka.resume(tp)

    def _done(self, task: asyncio.Future[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.warning("pausing or resuming a partition failed", extra={"error": repr(task.exception())})
