"""Every touch of faust-streaming's and mode's private parts, each behind one small function.

The worker uses Faust for what it does well (group membership, fetching, committing acked offsets,
timers, the worker's lifecycle), but a few things it needs have no public call: the aiokafka consumer
Faust runs on its own thread, the offsets Faust last committed, acking an offset without holding its
message, a bound on its final commit, the seek after a rebalance of a partition with no committed
offset, and the worker's signal handlers. Each is here, with why, so an
upgrade of faust-streaming or mode means re-checking this module alone:
tests/processors/test_faust_adapter.py checks each private name still exists with the shape used here
on the pinned versions (faust-streaming 0.15.3, mode-streaming 0.7.1), and
tests/bridge/test_private_touches.py keeps every other module off them. aiokafka's own private
parts are in `bridge.aiokafka_fixes`.

Two of Faust's behaviours are worked around elsewhere without touching its internals, and their pin
tests are in the same test module: `Consumer._new_offset` (its off-by-one that
processors.ordered_acks guards against) and `Consumer.getmany` dropping records of a partition
paused through Faust (why processors.fetch_pause pauses at aiokafka instead).
"""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import faust
from aiokafka.errors import IllegalStateError
from faust.types import TP

log = logging.getLogger(__name__)


def kafka_consumer(consumer: Any) -> Any | None:
    """The aiokafka consumer inside Faust's consumer `consumer` (`app.consumer`), None before it started.

    Faust keeps it on its consumer thread (`_thread._consumer`) with no accessor; the worker needs it
    to shorten the fetch wait Faust hard-codes and to pause a partition without losing records.
    Call its methods only on that thread (`call_on_consumer_thread`), except to set plain attributes.
    """
    return getattr(getattr(consumer, "_thread", None), "_consumer", None)


def call_on_consumer_thread(consumer: Any, fun: Callable[..., Any], *args: Any) -> Awaitable[Any] | None:
    """Run `fun(*args)` on Faust's consumer thread (its own event loop); None when there is no thread.

    The aiokafka consumer belongs to that thread's loop: a call from the worker's loop must be handed
    over (`_thread.call_thread`), as Faust does for its own calls.
    """
    thread = getattr(consumer, "_thread", None)
    if thread is None:
        return None
    result: Awaitable[Any] = thread.call_thread(fun, *args)
    return result


def committed_offset(consumer: Any, tp: Any) -> int | None:
    """The offset Faust's consumer last committed for `tp` (None when none yet).

    Faust keeps it (`_committed_offset`) without a public accessor; the worker's lag (end minus
    committed, the autoscaling signal) is measured against it, not against the fetch position.
    """
    committed: int | None = consumer._committed_offset.get(tp)
    return committed


def bound_final_commit(app: faust.App, timeout_s: float) -> None:
    """Give up the offset commit Faust makes when it stops after `timeout_s` instead of waiting for it.

    Faust's consumer commits the acked offsets once more on its way down and stops the Kafka consumer
    only after that commit (and any commit still running) returned. While the broker is unreachable,
    aiokafka's commit waits for the group coordinator until it is found again, however long that is:
    the worker's stop then hung until its watchdog cut it short, and a SIGTERM during a broker outage
    always ended with exit code 3. Skipping that commit loses nothing: offsets not committed are read
    again by the partition's next owner, whose de-dup state (committed with the records) marks the
    events as done. Faust has no setting for it, so its consumer's `commit_and_end_transactions` is
    replaced by a bounded one (on this app's consumer only).
    """
    consumer: Any = app.consumer  # the method is Faust's Consumer's, not on its ConsumerT protocol
    commit = consumer.commit_and_end_transactions

    async def bounded() -> None:
        try:
            await asyncio.wait_for(commit(), timeout_s)
        except TimeoutError:
            log.warning(
                "final offset commit did not finish in time; skipped (the next owner re-reads and "
                "de-duplicates what it did not cover)",
                extra={"timeout_s": timeout_s},
            )

    consumer.commit_and_end_transactions = bounded


def seek_uncommitted_to_start(app: faust.App) -> None:
    """Make Faust's seek after each rebalance also rewind the partitions that have no committed offset.

    After every rebalance Faust seeks each assigned partition back to its committed offset
    (`Consumer.perform_seek`): records fetched before the rebalance but not finished were dropped
    (their partition was revoked) and must be read again. Faust leaves that seek to aiokafka's
    `seek_to_committed`, which does nothing for a partition with no committed offset (nothing acked
    yet: a new input topic, or a new generation's after `topics reshard`). Such a partition kept its
    fetch position past the dropped records, which were never processed; once a later record was
    acked, the commit jumped over them. The replacement seeks those partitions to their first offset,
    as `auto_offset_reset="earliest"` (the worker's setting) would for a fresh consumer; records read
    again are de-duplicated like any repeat. On this app's consumer only.
    """
    consumer: Any = app.consumer  # `perform_seek` calls the consumer's own `seek_to_committed`
    seek_to_committed = consumer.seek_to_committed

    async def seek_including_uncommitted() -> Mapping[Any, int | None]:
        committed: Mapping[Any, int | None] = await seek_to_committed()
        uncommitted = [tp for tp, offset in committed.items() if not offset]
        if uncommitted:
            try:
                await consumer._thread.seek_to_beginning(*uncommitted)
            except IllegalStateError:  # revoked meanwhile: the assignment that follows seeks again
                log.debug("partition no longer assigned; not rewound", extra={"partitions": len(uncommitted)})
        return committed

    consumer.seek_to_committed = seek_including_uncommitted


class AckedOffset:
    """What Faust's `Consumer.ack` needs of a consumed message, and nothing more (see `offset_acker`)."""

    __slots__ = ("__weakref__", "acked", "offset", "partition", "topic", "tp")

    def __init__(self, tp: TP, offset: int) -> None:
        self.topic = tp.topic
        self.partition = tp.partition
        self.offset = offset
        self.tp = tp
        self.acked = False


def offset_acker(app: faust.App, topic: str) -> Callable[[int, int], object]:
    """A function acking `(partition, offset)` of `topic` with Faust's consumer (`app.consumer.ack`).

    Faust commits the contiguous run of acked offsets of each partition and needs nothing else of the
    message: `Consumer.ack` reads its `acked` flag, `tp`, `offset` and `topic`, and drops it from its
    weak set of unacked messages (so it must be hashable and weak-referenceable). The worker releases
    an offset only once every earlier one finished (processors.ordered_acks); holding the real event
    (its `ack`) until then would keep every input record behind an unfinished head alive, 1-2 KB each
    instead of the 8 bytes of an offset. So a stand-in (`AckedOffset`) is acked instead; the real
    message, never acked (`stream.noack()`), leaves Faust's weak set when it is collected.
    """
    tps: dict[int, TP] = {}

    def ack(partition: int, offset: int) -> object:
        tp = tps.get(partition)
        if tp is None:
            tp = tps[partition] = TP(topic, partition)
        consumer: Any = app.consumer  # `ack` takes a Message; the stand-in has what it reads of one
        return consumer.ack(AckedOffset(tp, offset))

    return ack


def worker_class(
    *,
    on_stop_signal: Callable[[], None],
    after_signal_handlers: Callable[[], None],
    on_sigusr1: Callable[[], None],
    on_sigusr2: Callable[[faust.Worker], None],
) -> type[faust.Worker]:
    """A `faust.Worker` with the bridge's signal handling, through mode's private hooks (no public ones).

    - SIGTERM/SIGINT: `on_stop_signal()` first (arms the stop watchdog), then mode's shutdown
      (`_schedule_shutdown`);
    - once mode installed its handlers: `after_signal_handlers()`;
    - SIGUSR1: `on_sigusr1()` instead of mode's dump, which pretty-prints every frame's local
      variables (settings, tokens) to stderr (`_on_sigusr1`);
    - SIGUSR2: `on_sigusr2(worker)` instead of mode's, which stops the event loop in pdb, stalling
      every partition (`_on_sigusr2`).
    """

    class Worker(faust.Worker):
        def _schedule_shutdown(self, signal: signal.Signals) -> None:
            on_stop_signal()
            super()._schedule_shutdown(signal)

        def install_signal_handlers(self) -> None:
            super().install_signal_handlers()
            after_signal_handlers()

        def _on_sigusr1(self) -> None:
            on_sigusr1()

        def _on_sigusr2(self) -> None:
            on_sigusr2(self)

    return Worker
