"""The writers of the input partitions assigned to this worker, each with its "ready" event.

A partition is ready once its writer is open (its predecessor fenced, its state loaded) or retaken
after a rebalance; records fetched before that wait on the event (`processors.runtime.Runtime.submit`).
A writer fenced while the group still assigns the partition here (a zombie briefly took our
transactional id) is healed in the background: retaken, which fences the zombie back and reloads.
Closing is bounded per writer and done side by side (`close`), because during a broker outage every
close takes its whole bound.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable
from typing import Final

from bridge.cancelling import cancel_all
from processors.timeline_store import TimelineStore
from processors.writer import PartitionWriter
from processors.writer_factory import WriterFactory

log = logging.getLogger(__name__)

#: How long a closing writer may take to commit what is queued before its producer stops.
CLOSE_IDLE_S: Final = 5.0


class PartitionWriters:
    """The assigned partitions' writers and ready events; see the module docstring."""

    def __init__(self, factory: WriterFactory, rebalance_lock: asyncio.Lock) -> None:
        self._factory = factory
        #: The owner's rebalance lock: healing must not run while an assignment opens or closes writers.
        self._rebalance_lock = rebalance_lock
        self.writers: dict[int, PartitionWriter] = {}
        #: Assigned partitions' ready events (set once the writer is open or retaken).
        self.ready_events: dict[int, asyncio.Event] = {}
        self._healing: dict[int, asyncio.Task[None]] = {}

    def expect(self, partitions: Iterable[int], *, fresh: bool) -> None:
        """Give each of `partitions` a ready event (`fresh`: a new one even when it has one)."""
        for partition in partitions:
            if fresh:
                self.ready_events[partition] = asyncio.Event()
            else:
                self.ready_events.setdefault(partition, asyncio.Event())

    def forget(self, partition: int) -> None:
        """The partition was revoked: records waiting for it give up (its writer stays open)."""
        self.ready_events.pop(partition, None)

    def is_ready(self, partition: int) -> bool:
        ready = self.ready_events.get(partition)
        return ready is not None and ready.is_set()

    def owns(self, partition: int) -> bool:
        """Tell whether `partition` is assigned here and ready."""
        return partition in self.writers and self.is_ready(partition)

    def ready_partitions(self) -> list[int]:
        return sorted(p for p, event in self.ready_events.items() if event.is_set())

    def ready_writers(self) -> list[tuple[int, PartitionWriter]]:
        """The writers of the partitions assigned here and ready (not revoked, not being reopened)."""
        return [(p, w) for p, w in self.writers.items() if self.is_ready(p)]

    def writer_for(self, partition: int) -> PartitionWriter | None:
        """Return the writer of a ready partition (None when revoked); start healing a lost one."""
        writer = self.writers.get(partition)
        if writer is None or not self.is_ready(partition):
            return None
        if writer.lost and partition not in self._healing:
            self._healing[partition] = asyncio.create_task(self._heal(partition, writer))
        return writer

    def timelines(self, partition: int) -> TimelineStore | None:
        """Return the committed timelines of `partition` when it is assigned here and ready, else None."""
        writer = self.writers.get(partition)
        return writer.timeline if writer is not None and self.is_ready(partition) else None

    async def _heal(self, partition: int, writer: PartitionWriter) -> None:
        try:
            async with self._rebalance_lock:
                if self.writers.get(partition) is writer and writer.lost:
                    log.warning(
                        "retaking a fenced partition still assigned here", extra={"partition": partition}
                    )
                    await self._factory.with_retry(partition, "heal", writer.retake)
        finally:
            self._healing.pop(partition, None)

    async def stop_healing(self) -> None:
        await cancel_all(list(self._healing.values()))

    async def retake(self, partition: int) -> bool:
        """Retake a partition that stays here; return whether its local state was kept."""
        writer = self.writers[partition]
        kept = await self._factory.with_retry(partition, "retake", writer.retake)
        self._mark_ready(partition)
        return kept

    async def open(self, partition: int) -> bool:
        """Open a new partition's writer (fencing its previous owner, loading its state)."""
        writer = await self._factory.with_retry(partition, "open", lambda: self._factory.open(partition))
        self.writers[partition] = writer
        self._mark_ready(partition)
        return False

    def _mark_ready(self, partition: int) -> None:
        ready = self.ready_events.get(partition)
        if ready is not None:
            ready.set()

    async def close(self, partitions: list[int]) -> None:
        """Close writers side by side: each close is bounded (idle wait, then the producer's stop), but
        one after the other those bounds add up, and while the broker is down every close takes its
        whole bound (12 partitions: 3 minutes, past any supervisor's grace period)."""
        results = await asyncio.gather(
            *(self._close(partition) for partition in partitions), return_exceptions=True
        )
        for partition, result in zip(partitions, results, strict=True):
            if isinstance(result, Exception):  # one writer's failure leaves the others' closes whole
                log.warning("closing a writer failed", extra={"partition": partition, "error": repr(result)})
            elif isinstance(result, BaseException):
                raise result

    async def _close(self, partition: int) -> None:
        writer = self.writers.pop(partition, None)
        self.ready_events.pop(partition, None)
        if writer is not None:
            try:
                await asyncio.wait_for(writer.idle(), CLOSE_IDLE_S)
            except TimeoutError:
                log.warning("writer did not go idle before close", extra={"partition": partition})
            await writer.stop()
