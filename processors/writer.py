"""Transactional writer of one input partition: downstream records and state changes, atomically.

One aiokafka transactional producer per input partition, `transactional.id = <app id>-p<partition>`:
the id is stable per partition, so when the partition moves (rebalance, or a worker killed with -9),
the new owner's `init_transactions` fences the old producer and aborts its open transaction. Lanes of
the partition hand `write(records, state)` calls to one commit loop, which group-commits everything
waiting into one transaction (few transactions, many records) and only then applies the state changes
locally and resolves the callers, who then ack their input events. Either the downstream records and
the de-dup state of an event are both committed, or neither is visible to read_committed readers.

The writer also owns the partition's stores (`processors.partition_stores`: the de-dup state and the
timelines, loaded, checked and rebuilt there). After a failed transaction the outcome may be unknown (a
commit that timed out may or may not have landed), so retrying the same records could duplicate them.
Instead the writer starts a fresh producer (its `init_transactions` settles the old transaction: either
committed or aborted), rebuilds the state from the changelog (read_committed) and fails the group with
`RetryBatch`: the lanes then decide again against the state that really committed. A fenced producer
means the partition belongs to someone else: the callers get `PartitionLost` and must not ack.

The producer's start, bounded stop and fencing check, and why its bounds are what they are (failover
past a frozen broker), are `processors.txn_producer`; the timelines' part of a transaction is
`processors.txn_timelines`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import Callable, Sequence
from typing import Final

from aiokafka import AIOKafkaProducer
from aiokafka.errors import (
    InvalidProducerEpoch,
    KafkaError,
    ProducerFenced,
    TransactionalIdAuthorizationFailed,
)

from bridge.cancelling import cancel_until_done
from bridge.kafka_config import explain
from processors.partition_stores import PartitionStores, StateChange
from processors.records import Outgoing
from processors.state import PartitionState
from processors.timeline import TimelineOp
from processors.timeline_store import TimelineConfig, TimelineStore
from processors.txn_commit import GroupWrite, Rejected, commit_group
from processors.txn_producer import (
    DISCARD_TIMEOUT_S,
    FENCED,
    STOP_TIMEOUT_S,
    start_producer,
    stop_producer,
)

log = logging.getLogger(__name__)

#: Upper bound of records in one transaction (the rest wait for the next one).
MAX_GROUP_RECORDS: Final = 5000


class PartitionLost(Exception):
    """The partition's producer was fenced or closed: another worker owns it now."""


class RetryBatch(Exception):
    """The transaction failed and the state was rebuilt: decide the batch again, then write again."""


class RecordRejected(RetryBatch):
    """Kafka refused a record of *this* write (too large for its topic): the transaction failed for it.

    The state was rebuilt as for any failed transaction, but deciding the same records again would
    fail the same way: the caller must not write them again as they are (the pipeline dead-letters
    them). Other writes of the failed transaction get a plain `RetryBatch`.
    """


class PartitionWriter:
    """Group-commit loop of one partition; see the module docstring."""

    def __init__(
        self,
        *,
        bootstrap: str,
        app_id: str,
        partition: int,
        changelog: str,
        state_factory: Callable[[], PartitionState],
        load_timeout_s: float,
        produce_timeout_s: float,
        backoff_max_s: float,
        group_linger_s: float | Callable[[], float] = 0.005,
        on_commit: Callable[[float, int], None] | None = None,
        timeline: TimelineConfig | None = None,
    ) -> None:
        self.partition = partition
        self._bootstrap = bootstrap
        self._txn_id = f"{app_id}-p{partition}"
        self._changelog = changelog
        #: The de-dup state and timelines, with their changelogs' ends (`processors.partition_stores`).
        self._stores = PartitionStores(
            bootstrap=bootstrap,
            partition=partition,
            changelog=changelog,
            state_factory=state_factory,
            load_timeout_s=load_timeout_s,
            timeline=timeline,
        )
        self._timeout = produce_timeout_s
        self._backoff_max = backoff_max_s
        #: Seconds to wait for more writes before a transaction; a callable lets the owner adapt it.
        self._group_linger: Callable[[], float] = (
            group_linger_s if callable(group_linger_s) else lambda: float(group_linger_s)
        )
        #: Whether the last transaction grouped several writes (only then is lingering worth it).
        self._concurrent = False
        self._on_commit = on_commit
        self._queue: asyncio.Queue[GroupWrite] = asyncio.Queue()
        self._producer: AIOKafkaProducer | None = None
        self._task: asyncio.Task[None] | None = None
        self._lost = False
        self._timeline_config = timeline

    @property
    def lost(self) -> bool:
        return self._lost

    @property
    def state(self) -> PartitionState:
        """The partition's de-dup state as committed (replaced when it is rebuilt)."""
        return self._stores.state

    @property
    def timeline(self) -> TimelineStore | None:
        """The partition's order timelines as committed (None when switched off)."""
        return self._stores.timeline

    async def start(self) -> None:
        """Fence any predecessor with our transactional id, load the state, start the commit loop."""
        self._producer = await self._new_producer()
        await self._stores.load()
        self._task = asyncio.create_task(self._loop(), name=f"writer:p{self.partition}")

    async def retake(self) -> bool:
        """Take the partition again after a rebalance that left it here; return True if state was kept.

        A new producer with our transactional id fences any zombie and settles its open transaction.
        If the changelog's end is still where our last commit left it, nobody else wrote to this
        partition meanwhile and the local state is exact; otherwise it is rebuilt.
        """
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.idle(), STOP_TIMEOUT_S)
        old, self._producer = self._producer, None
        if old is not None:
            try:
                await stop_producer(old, DISCARD_TIMEOUT_S if self._lost else STOP_TIMEOUT_S)
            except Exception:
                log.warning("stopping the previous producer failed", exc_info=True)
        self._producer = await self._new_producer()
        unchanged = await self._stores.unchanged()
        kept = not self._lost and unchanged
        if not kept:
            await self._stores.reload()
        self._lost = False
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._loop(), name=f"writer:p{self.partition}")
        return kept

    async def _new_producer(self) -> AIOKafkaProducer:
        try:
            return await start_producer(self._bootstrap, self._txn_id, self._timeout)
        except TransactionalIdAuthorizationFailed as exc:
            self._log_refused(exc)
            raise

    def _log_refused(self, exc: TransactionalIdAuthorizationFailed) -> None:
        """A missing ACL, not another owner, and no retry fixes it: an ERROR that names it."""
        log.error(
            "transactional producer refused: %s",
            explain(exc),
            extra={"partition": self.partition, "transactional_id": self._txn_id},
        )

    async def write(
        self, records: Sequence[Outgoing], state: Sequence[StateChange], timeline: Sequence[TimelineOp] = ()
    ) -> None:
        """Commit `records`, `state` and `timeline` changes in one transaction (shared with other lanes).

        Raise `PartitionLost` (do not ack) or `RetryBatch` (decide again against `self.state`).
        """
        if self._lost or self._task is None or self._task.done():
            raise PartitionLost(f"partition {self.partition} is not writable")
        item = GroupWrite(records, state, timeline)
        self._queue.put_nowait(item)
        await asyncio.shield(item.done)

    async def idle(self) -> None:
        """Wait until every queued write is committed or failed."""
        await self._queue.join()

    async def _loop(self) -> None:
        while True:
            first = await self._queue.get()
            joinable = self._concurrent or not self._queue.empty()
            if joinable and self._queue.qsize() < MAX_GROUP_RECORDS // 10:
                # A short wait lets concurrent lanes join this transaction: fewer, larger transactions
                # cost the broker far less than many small ones (each writes markers to every partition).
                # Only when lanes do write concurrently: a lone writer would just wait for nobody (and
                # the owner is not even asked how long to wait).
                # Counted from when the first write was queued: one that waited behind the previous
                # commit already gave the others that long to join.
                linger = self._group_linger() - (time.monotonic() - first.queued)
                if linger > 0:
                    await asyncio.sleep(linger)
            group = [first]
            count = len(first.records) + len(first.state) + len(first.timeline)
            while not self._queue.empty() and count < MAX_GROUP_RECORDS:
                item = self._queue.get_nowait()
                group.append(item)
                count += len(item.records) + len(item.state) + len(item.timeline)
            self._concurrent = len(group) > 1
            try:
                await self._commit_with_retry(group)
            except PartitionLost as exc:
                self._fail(group, exc)
                self._lost = True
                while not self._queue.empty():  # every later write fails too
                    self._fail([self._queue.get_nowait()], exc)
                    self._queue.task_done()
                return
            except Exception as exc:  # a bug or an unforeseen client error: never leave callers hanging
                log.exception("unexpected error in the commit loop", extra={"partition": self.partition})
                try:
                    await self._recover()
                except PartitionLost as lost:
                    self._fail(group, lost)
                    self._lost = True
                    return
                self._fail(group, RetryBatch(repr(exc)))
            except asyncio.CancelledError:
                self._fail(group, PartitionLost("writer stopped"))
                raise
            finally:
                for _ in group:
                    self._queue.task_done()

    def _fail(self, group: list[GroupWrite], exc: Exception) -> None:
        for item in group:
            if not item.done.done():
                item.done.set_exception(exc)
                item.done.exception()  # mark retrieved: an abandoned caller must not log "never retrieved"

    async def _commit_with_retry(self, group: list[GroupWrite]) -> None:
        try:
            started = time.perf_counter()
            committed = await asyncio.wait_for(
                commit_group(
                    self._producer,
                    group,
                    partition=self.partition,
                    changelog_topic=self._changelog,
                    timeout=self._timeout,
                    timeline_config=self._timeline_config,
                    timeline_store=self.timeline,
                ),
                self._timeout * 4,
            )
        except Rejected as exc:
            log.warning(
                "transaction failed on a record Kafka refuses; settling it, failing that write only",
                extra={"partition": self.partition, "error": repr(exc.cause)},
            )
            await self._recover()
            self._fail(exc.writes, RecordRejected(repr(exc.cause)))
            self._fail(group, RetryBatch(repr(exc.cause)))
            return
        except FENCED as exc:
            if isinstance(exc, TransactionalIdAuthorizationFailed):
                self._log_refused(exc)
            else:
                log.warning(
                    "transactional producer fenced", extra={"partition": self.partition, "error": repr(exc)}
                )
            raise PartitionLost(str(exc)) from exc
        except (KafkaError, TimeoutError, OSError) as exc:
            log.warning(
                "transaction failed; settling it and rebuilding the state",
                extra={"partition": self.partition, "error": repr(exc)},
            )
            await self._recover()
            self._fail(group, RetryBatch(repr(exc)))
            return
        if self._on_commit is not None:
            self._on_commit(time.perf_counter() - started, sum(len(i.records) for i in group))
        self._stores.committed(
            (change for item in group for change in item.state),
            committed.timelines,
            committed.changelog_offset,
            committed.timeline_offset,
        )
        for item in group:
            if not item.done.done():
                item.done.set_result(None)

    async def _recover(self) -> None:
        """Replace the producer and rebuild the state until both succeed (backing off), or fenced."""
        attempt = 0
        while True:
            attempt += 1
            old, self._producer = self._producer, None
            if old is not None:
                try:
                    await stop_producer(old, DISCARD_TIMEOUT_S)
                except Exception:
                    log.warning("stopping a failed producer failed", exc_info=True)
            try:
                self._producer = await self._new_producer()
                await self._stores.reload()
            except (ProducerFenced, InvalidProducerEpoch) as exc:
                raise PartitionLost(str(exc)) from exc
            except Exception:
                delay = min(self._backoff_max, 0.2 * 2**attempt) * random.uniform(0.5, 1.0)
                log.warning(
                    "partition recovery failed; retrying", extra={"partition": self.partition}, exc_info=True
                )
                await asyncio.sleep(delay)
                continue
            return

    async def stop(self) -> None:
        """Stop the loop (queued writes fail with PartitionLost) and the producer."""
        self._lost = True
        if self._task is not None:
            await cancel_until_done(self._task)
            self._task = None
        while not self._queue.empty():
            self._fail([self._queue.get_nowait()], PartitionLost("writer stopped"))
            self._queue.task_done()
        producer, self._producer = self._producer, None
        if producer is not None:
            await stop_producer(producer)
        self._stores.close()
