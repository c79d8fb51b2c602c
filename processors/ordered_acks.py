"""Hand Faust the acks of each input partition in offset order, so it never commits past unfinished work.

Per-order lanes finish events out of offset order by design (a slow OMS read holds one order, not the
partition). Faust commits the first run of consecutive acked offsets, but its test for an unacked head
is off by one (`min(acked) - committed > 1` with `committed` = next offset to read) and absent when the
partition has no commit yet (faust-streaming 0.15.3 `Consumer._new_offset`): an event still in flight at
the head of a partition could be committed past and, if the worker then died or the partition moved,
never read again. Releasing acks only for the contiguous prefix of finished offsets makes Faust's
acked list always start where it fetched from, so its commit is exact.

The price is memory: every finished event behind an unfinished head stays queued (with Faust's event,
which holds the input record). So each partition has a bound (`limit`): at the bound the owner is told
to pause fetching that partition (`on_full`), and once the queue is back to half the bound, to resume
it (`on_room`). The head's age is exported (`oldest_age`), since a head that never finishes is what
holds a partition's committed offset back.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Iterable


class _Entry:
    __slots__ = ("ack", "done", "offset", "since")

    def __init__(self, offset: int, ack: Callable[[], object], since: float) -> None:
        self.offset = offset
        self.ack = ack
        self.done = False
        self.since = since


def _ignore(_partition: int) -> None:
    return None


class OrderedAcks:
    """Per-partition queues of submitted offsets; an offset's Faust ack waits for every earlier one."""

    def __init__(
        self,
        *,
        limit: int = 0,
        on_full: Callable[[int], None] = _ignore,
        on_room: Callable[[int], None] = _ignore,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """`limit` > 0 bounds each partition's queue (see the module docstring); 0 = unbounded."""
        self._queues: dict[int, deque[_Entry]] = {}
        self._limit = max(0, limit)
        self._on_full = on_full
        self._on_room = on_room
        self._clock = clock
        self._paused: set[int] = set()

    def track(self, partition: int, offset: int, ack: Callable[[], object]) -> Callable[[], None]:
        """Register a record read from `partition` (in offset order); return the ack to call when done."""
        queue = self._queues.setdefault(partition, deque())
        entry = _Entry(offset, ack, self._clock())
        queue.append(entry)
        if self._limit and len(queue) >= self._limit:
            # Called again while paused too: Faust's own buffer flow control may have resumed it.
            self._paused.add(partition)
            self._on_full(partition)

        def done() -> None:
            entry.done = True
            self._release(partition, queue)

        return done

    def _release(self, partition: int, queue: deque[_Entry]) -> None:
        if self._queues.get(partition) is not queue:
            return  # forgotten (revoked): Faust starts again from the committed offset
        while queue and queue[0].done:
            queue.popleft().ack()
        if partition in self._paused and len(queue) <= self._limit // 2:
            self._paused.discard(partition)
            self._on_room(partition)

    def forget(self, partitions: Iterable[int]) -> None:
        """Drop the queues of revoked partitions; their late acks are ignored."""
        for partition in partitions:
            self._queues.pop(partition, None)
            self._paused.discard(partition)

    def waiting(self, partition: int) -> int:
        return len(self._queues.get(partition, ()))

    def paused(self, partition: int) -> bool:
        """Whether `partition` is paused at the bound."""
        return partition in self._paused

    def oldest_age(self) -> dict[int, float]:
        """Seconds since the oldest unfinished event of each tracked partition was read (0 when none).

        The head of a queue is always unfinished (finished heads are released at once).
        """
        now = self._clock()
        return {p: (now - q[0].since if q else 0.0) for p, q in self._queues.items()}
