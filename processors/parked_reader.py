"""Read parked events (`processors.parked`) again from the input topic once their account has room.

One task per (input partition, account) with parked events: it waits until the account holds fewer
than its bound of events in the lanes, reads the partition from the oldest parked offset with a consumer
of its own (no group: it only reads, and commits nothing), and hands each parked record back to the
runtime (`resubmit`), in offset order, waiting for room before each. Records that are not parked (other
accounts', or the account's own that went to the lanes directly) are skipped. It ends when nothing of
that account is parked in that partition any more: from then on the live consumer hands the account's
events to the lanes directly, after every parked one, so each order keeps its order.

When the live consumer parks an offset older than this reader's position (it was behind the reader),
the reader seeks back to it. A parked offset the input topic no longer holds (its retention deleted it
while the account was parked) is given up with an error log and acked, so the partition moves on.
Revocation cancels the partition's tasks (`stop`); what they had not handed back stays unacked and the
next owner reads it again from the committed offset.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any, Final, Protocol

from aiokafka import AIOKafkaConsumer, TopicPartition

from bridge.cancelling import cancel_all
from bridge.kafka_config import client_kwargs
from processors.parked import Ack, ParkedEvents

log = logging.getLogger(__name__)

#: Records per fetch of a reader, and how long a fetch waits for records before the reader looks again.
FETCH_RECORDS: Final = 500
FETCH_WAIT_MS: Final = 500
#: A reader seeks to the oldest parked offset instead of reading through more records than this.
SKIP_AHEAD: Final = 2 * FETCH_RECORDS
#: How long a reader that failed waits before the next one starts (a broker that refuses at once must
#: not turn the restart into a busy loop of failures).
RETRY_BACKOFF_S = 1.0


class _Record(Protocol):
    offset: int
    key: bytes | None
    value: bytes | None
    headers: Any


Resubmit = Callable[[int, _Record, Ack], Awaitable[None]]


class _Reader(Protocol):
    async def start(self) -> None: ...
    async def stop(self) -> None: ...
    def assign(self, partitions: list[TopicPartition]) -> None: ...
    def seek(self, partition: TopicPartition, offset: int) -> None: ...
    async def getmany(
        self, *partitions: TopicPartition, timeout_ms: int = 0, max_records: int | None = None
    ) -> dict[TopicPartition, list[Any]]: ...


class ParkedReader:
    """Hands parked events back to the lanes as their accounts get room; see the module docstring."""

    def __init__(
        self,
        parked: ParkedEvents,
        *,
        topic: str,
        room: Callable[[str], Awaitable[None]],
        resubmit: Resubmit,
        consumer: Callable[[], _Reader],
        expired: Callable[[str], None] = lambda account: None,
    ) -> None:
        """`room(account)` returns once the account may take one more event into the lanes;
        `resubmit(partition, record, ack)` queues a record read back in its lane; `consumer()`
        builds an unstarted consumer (`input_consumer`); `expired(account)` counts a parked event the
        input topic no longer held."""
        self._parked = parked
        self._topic = topic
        self._room = room
        self._resubmit = resubmit
        self._consumer = consumer
        self._expired_one = expired
        self._tasks: dict[tuple[int, str], asyncio.Task[None]] = {}

    def wake(self, partition: int, account: str) -> None:
        """Make sure a reader runs for `account`'s parked events in `partition`."""
        self._start(partition, account, 0.0)

    def _start(self, partition: int, account: str, delay: float) -> None:
        where = (partition, account)
        if where in self._tasks or not self._parked.active(partition, account):
            return
        task = asyncio.create_task(
            self._read(partition, account, delay), name=f"parked:{partition}:{account}"
        )
        self._tasks[where] = task
        task.add_done_callback(lambda done: self._ended(where, done))

    def reading(self) -> list[tuple[int, str]]:
        return sorted(self._tasks)

    async def stop(self, partitions: set[int] | None = None) -> None:
        """Cancel the readers of `partitions` (all when None) and wait until they ended."""
        doomed = [task for (p, _a), task in self._tasks.items() if partitions is None or p in partitions]
        await cancel_all(doomed)

    def _ended(self, where: tuple[int, str], task: asyncio.Task[None]) -> None:
        if self._tasks.get(where) is task:
            del self._tasks[where]
        if task.cancelled():
            return
        failed = task.exception() is not None
        if failed:
            log.error(
                "reading parked events failed; retrying",
                extra={"partition": where[0], "account": where[1], "error": repr(task.exception())},
            )
        # Parked again meanwhile, or failed: start over from the oldest (after a pause when it failed).
        self._start(*where, RETRY_BACKOFF_S if failed else 0.0)

    async def _read(self, partition: int, account: str, delay: float = 0.0) -> None:
        if delay > 0:
            await asyncio.sleep(delay)
        await self._room(account)
        if not self._parked.active(partition, account):
            return
        tp = TopicPartition(self._topic, partition)
        consumer = self._consumer()
        try:
            await consumer.start()
            consumer.assign([tp])
            log.info(
                "reading parked events again",
                extra={
                    "partition": partition,
                    "account": account,
                    "parked": self._parked.count(partition, account),
                },
            )
            position: int | None = None  # the next offset this consumer returns
            while (oldest := self._parked.oldest(partition, account)) is not None:
                if position is None or oldest < position or oldest - position > SKIP_AHEAD:
                    # Far ahead: what lies between is not parked. Behind: the live consumer, slower
                    # than this reader, parked an offset this reader had passed.
                    consumer.seek(tp, oldest)
                    position = oldest
                batch = await consumer.getmany(tp, timeout_ms=FETCH_WAIT_MS, max_records=FETCH_RECORDS)
                for record in batch.get(tp, []):
                    if record.offset < position:
                        continue
                    self._expired(partition, account, position, record.offset)
                    position = record.offset + 1
                    if not self._parked.contains(partition, account, record.offset):
                        continue
                    await self._room(account)
                    # Taken only once it is queued: meanwhile the account stays parked here (its later
                    # events park behind this one instead of overtaking it while `resubmit` waits for
                    # the lanes' pending bound), and a resubmit that raised leaves it parked for the
                    # next reader instead of unacked and forgotten (holding the partition's commit).
                    ack = self._parked.get(partition, account, record.offset)
                    if ack is not None:
                        await self._resubmit(partition, record, ack)
                        self._parked.take(partition, account, record.offset)
                    oldest = self._parked.oldest(partition, account)
                    if oldest is None or oldest < position:
                        break  # done, or seek back
            log.info("parked events read again", extra={"partition": partition, "account": account})
        finally:
            await consumer.stop()

    def _expired(self, partition: int, account: str, start: int, end: int) -> None:
        """Give up the parked offsets in `[start, end)`: the reader read from `start` and the log's next
        record is `end`, so they are no longer in the input topic (its retention deleted them while the
        account was parked). Their acks are called so the partition's committed offset moves on."""
        while (oldest := self._parked.oldest(partition, account)) is not None and start <= oldest < end:
            ack = self._parked.take(partition, account, oldest)
            log.error(
                "a parked event is no longer in the input topic (retention deleted it): given up",
                extra={"partition": partition, "account": account, "offset": oldest},
            )
            self._expired_one(account)
            if ack is not None:
                ack()


def input_consumer(bootstrap: str) -> Callable[[], AIOKafkaConsumer]:
    """A factory of group-less consumers of the input topic, secured like every client of the worker."""

    def build() -> AIOKafkaConsumer:
        return AIOKafkaConsumer(
            **client_kwargs(bootstrap),
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            max_partition_fetch_bytes=1024 * 1024,
        )

    return build
