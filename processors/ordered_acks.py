"""Hand Faust the acks of each input partition in offset order, so it never commits past unfinished work.

Per-order lanes finish events out of offset order by design (a slow OMS read holds one order, not the
partition). Faust commits the first run of consecutive acked offsets, but its test for an unacked head
is off by one (`min(acked) - committed > 1` with `committed` = next offset to read) and absent when the
partition has no commit yet (faust-streaming 0.15.3 `Consumer._new_offset`): an event still in flight at
the head of a partition could be committed past and, if the worker then died or the partition moved,
never read again. Releasing an offset (`release(partition, offset)`, the worker's Faust ack,
`processors.faust_adapter.offset_acker`) only once it and every earlier offset of its partition
finished makes Faust's acked list always start where it fetched from, so its commit is exact.

Memory: nothing of an event is kept, only its offset. A partition keeps the offsets it tracked and has
not released yet in an `array('q')` (8 bytes each, compacted as the released head grows) and, for the
unfinished ones alone, the time each was tracked. So a finished event behind an unfinished head costs
about 8 bytes: a head held for many minutes (an account's OMS down, its events parked, processors.parked)
lets the partition flow on for hundreds of thousands of later events.

The span of a partition (offsets tracked and not released: everything from its oldest unfinished event
on) is bounded (`limit`): it is also how many events the partition's next owner reads again after a
restart, from the committed offset, which is harmless (the de-dup state, committed with the records,
marks them done) but costs that re-read. At the bound the owner is told to pause fetching that partition
(`on_full`), and once the span is back to half the bound, to resume it (`on_room`). The head's age is
exported (`oldest_age`), since a head that never finishes is what holds a partition's committed offset
back.
"""

from __future__ import annotations

import time
from array import array
from collections.abc import Callable, Iterable


def _ignore(_partition: int) -> None:
    return None


class _Partition:
    """The offsets of one partition (one assignment of it) tracked and not yet released."""

    __slots__ = ("head", "offsets", "repeats", "unfinished")

    def __init__(self) -> None:
        #: Tracked offsets in track (= offset) order; `offsets[head:]` are not released yet.
        self.offsets = array("q")
        self.head = 0
        #: Unfinished offsets -> when they were tracked (oldest first, as tracked).
        self.unfinished: dict[int, float] = {}
        #: Unfinished offsets tracked more than once (a re-read without a revocation) -> extra times.
        self.repeats: dict[int, int] = {}

    def span(self) -> int:
        return len(self.offsets) - self.head


class _Done:
    """The `done` of one tracked offset: a small object rather than a closure, since a parked event
    (`processors.parked`) keeps it for as long as its account's OMS is down."""

    __slots__ = ("_acks", "_called", "_offset", "_partition", "_state")

    def __init__(self, acks: OrderedAcks, state: _Partition, partition: int, offset: int) -> None:
        self._acks = acks
        self._state = state
        self._partition = partition
        self._offset = offset
        self._called = False

    def __call__(self) -> None:
        if self._called:
            return
        self._called = True
        self._acks.finish(self._partition, self._state, self._offset)


class OrderedAcks:
    """Per-partition runs of tracked offsets; an offset is released only after every earlier one."""

    def __init__(
        self,
        *,
        release: Callable[[int, int], object],
        limit: int = 0,
        on_full: Callable[[int], None] = _ignore,
        on_room: Callable[[int], None] = _ignore,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """`release(partition, offset)` is called for each offset, in offset order, once it and every
        earlier tracked offset of its partition finished. `limit` > 0 bounds each partition's span (see
        the module docstring); 0 = unbounded."""
        self._release_offset = release
        self._partitions: dict[int, _Partition] = {}
        self._limit = max(0, limit)
        self._on_full = on_full
        self._on_room = on_room
        self._clock = clock
        self._paused: set[int] = set()

    def track(self, partition: int, offset: int) -> Callable[[], None]:
        """Register a record read from `partition` (in offset order); return the `done` to call when it
        finished (a second call is ignored)."""
        state = self._partitions.get(partition)
        if state is None:
            state = self._partitions[partition] = _Partition()
        state.offsets.append(offset)
        if offset in state.unfinished:
            state.repeats[offset] = state.repeats.get(offset, 0) + 1
        else:
            state.unfinished[offset] = self._clock()
        if self._limit and state.span() >= self._limit:
            # Called again while paused too: Faust's own buffer flow control may have resumed it.
            self._paused.add(partition)
            self._on_full(partition)
        return _Done(self, state, partition, offset)

    def finish(self, partition: int, state: _Partition, offset: int) -> None:
        """Mark `offset` finished and release what it held back (called by its `done`)."""
        if self._partitions.get(partition) is not state:
            return  # forgotten (revoked): Faust starts again from the committed offset
        repeats = state.repeats.get(offset)
        if repeats:
            if repeats == 1:
                del state.repeats[offset]
            else:
                state.repeats[offset] = repeats - 1
            return
        state.unfinished.pop(offset, None)
        offsets = state.offsets
        if not state.span() or offsets[state.head] != offset:
            return  # an earlier offset is still unfinished (the head always is)
        head = state.head
        unfinished = state.unfinished
        end = len(offsets)
        while head < end and offsets[head] not in unfinished:
            self._release_offset(partition, offsets[head])
            head += 1
        if head == end:
            del offsets[:]
            head = 0
        elif head > end // 2:
            del offsets[:head]
            head = 0
        state.head = head
        if partition in self._paused and state.span() <= self._limit // 2:
            self._paused.discard(partition)
            self._on_room(partition)

    def forget(self, partitions: Iterable[int]) -> None:
        """Drop the tracked offsets of revoked partitions; their late `done` calls are ignored."""
        for partition in partitions:
            self._partitions.pop(partition, None)
            self._paused.discard(partition)

    def waiting(self, partition: int) -> int:
        """Offsets of `partition` tracked and not released yet (its span)."""
        state = self._partitions.get(partition)
        return state.span() if state is not None else 0

    def unfinished(self, partition: int) -> int:
        """Offsets of `partition` tracked and not finished yet."""
        state = self._partitions.get(partition)
        return len(state.unfinished) if state is not None else 0

    def paused(self, partition: int) -> bool:
        """Whether `partition` is paused at the bound."""
        return partition in self._paused

    def oldest_age(self) -> dict[int, float]:
        """Seconds since the oldest unfinished event of each tracked partition was read (0 when none).

        The head of a partition's span is always unfinished (finished heads are released at once) and
        the oldest unfinished one (offsets are tracked in order).
        """
        now = self._clock()
        return {
            p: (now - s.unfinished[s.offsets[s.head]] if s.span() else 0.0)
            for p, s in self._partitions.items()
        }
