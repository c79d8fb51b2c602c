"""Hand Faust the acks of each input partition in offset order, so it never commits past unfinished work.

Per-order lanes finish events out of offset order by design (a slow OMS read holds one order, not the
partition). Faust commits the first run of consecutive acked offsets, but its test for an unacked head
is off by one (`min(acked) - committed > 1` with `committed` = next offset to read) and absent when the
partition has no commit yet (faust-streaming 0.15.3 `Consumer._new_offset`): an event still in flight at
the head of a partition could be committed past and, if the worker then died or the partition moved,
never read again. Releasing acks only for the contiguous prefix of finished offsets makes Faust's
acked list always start where it fetched from, so its commit is exact.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable


class _Entry:
    __slots__ = ("ack", "done", "offset")

    def __init__(self, offset: int, ack: Callable[[], object]) -> None:
        self.offset = offset
        self.ack = ack
        self.done = False


class OrderedAcks:
    """Per-partition queues of submitted offsets; an offset's Faust ack waits for every earlier one."""

    def __init__(self) -> None:
        self._queues: dict[int, deque[_Entry]] = {}

    def track(self, partition: int, offset: int, ack: Callable[[], object]) -> Callable[[], None]:
        """Register a record read from `partition` (in offset order); return the ack to call when done."""
        queue = self._queues.setdefault(partition, deque())
        entry = _Entry(offset, ack)
        queue.append(entry)

        def done() -> None:
            entry.done = True
            self._release(partition, queue)

        return done

    def _release(self, partition: int, queue: deque[_Entry]) -> None:
        if self._queues.get(partition) is not queue:
            return  # forgotten (revoked): Faust starts again from the committed offset
        while queue and queue[0].done:
            queue.popleft().ack()

    def forget(self, partitions: Iterable[int]) -> None:
        """Drop the queues of revoked partitions; their late acks are ignored."""
        for partition in partitions:
            self._queues.pop(partition, None)

    def waiting(self, partition: int) -> int:
        return len(self._queues.get(partition, ()))
