"""Per-order lanes: strict arrival order within a key, concurrency across keys, natural batching.

Each key (an OrderId) gets a FIFO queue and at most one runner task. The runner takes everything waiting
in its queue as one batch (so one OMS read serves every queued event of the order) and hands it to the
handler; the next batch starts only after the handler returned, so events of one order are processed
and emitted strictly in arrival order. At most `max_active` runners hold a slot at once (the OMS/Kafka
concurrency), and `submit` blocks while `max_pending` items wait in total: that is the backpressure
that stops the consumer from pulling when OMS is slow or down. Optionally keys fall into classes (the
worker's: VTEX accounts) and a class holds at most `max_active_per_class` slots, so the lanes of one
account whose OMS is down, each holding its slot while it retries, cannot take every slot from the
others.

A handler must not raise; if it does anyway the batch is retried after a backoff, never skipped. Each
lane belongs to one group (the input partition), so a rebalance can drain or abandon exactly the lanes
of the partitions it takes away. This module knows nothing of Faust or Kafka.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import Awaitable, Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Generic, TypeVar

log = logging.getLogger(__name__)

T = TypeVar("T")
Handler = Callable[[str, list[T]], Awaitable[None]]

#: Backoff after a handler raised unexpectedly, before the same batch is retried.
HANDLER_CRASH_BACKOFF_S = 1.0


class LanesClosed(RuntimeError):
    """The scheduler was closed (the worker is stopping): the item was not queued."""


@dataclass
class _Lane(Generic[T]):
    group: int
    queue: deque[T] = field(default_factory=deque)
    task: asyncio.Task[None] | None = None
    busy: int = 0  # items handed to the handler and not finished
    klass: str = ""  # the key's class (`slot_class`), "" without classes
    running: list[T] = field(default_factory=list)  # those items (read-only view: `items`)


class LaneScheduler(Generic[T]):
    """Run `handler(key, batch)` per key in order; see the module docstring."""

    def __init__(
        self,
        handler: Handler[T],
        *,
        max_active: int,
        max_pending: int,
        max_batch: int = 500,
        slot_class: Callable[[str], str] | None = None,
        max_active_per_class: int | None = None,
    ) -> None:
        self._handler = handler
        self._slots = asyncio.Semaphore(max(1, max_active))
        #: The class of a key (kept on its lane) and, with `max_active_per_class`, each class's own slots
        #: (taken before a shared one, so a lane waiting for its class's slot holds no shared slot).
        self._class_of = slot_class
        self._per_class_slots = bool(max_active_per_class) and slot_class is not None
        #: Items pending per class (`class_pending`), kept whenever keys have classes.
        self._class_pending: dict[str, int] = {}
        self._max_per_class = max(1, max_active_per_class or 1)
        self._class_slots: dict[str, asyncio.Semaphore] = {}
        self._max_pending = max(1, max_pending)
        self._max_batch = max(1, max_batch)
        self._lanes: dict[str, _Lane[T]] = {}
        self._pending = 0
        self._changed = asyncio.Condition()
        self._closed = False

    @property
    def pending(self) -> int:
        """Items submitted and not finished (queued or being handled)."""
        return self._pending

    @property
    def saturated(self) -> bool:
        """Whether every slot is taken: more keys wait to run than may run at once (a backlog)."""
        return self._slots.locked()

    @property
    def active_lanes(self) -> int:
        return len(self._lanes)

    def pending_by_lane(self) -> Iterator[tuple[str, int]]:
        """Yield `(key, items queued or being handled)` of every lane (e.g. for per-account gauges)."""
        for key, lane in list(self._lanes.items()):
            yield key, len(lane.queue) + lane.busy

    def items(self, key: str) -> tuple[list[T], list[T]]:
        """Return copies of `key`'s items being handled and of those queued behind them (read-only)."""
        lane = self._lanes.get(key)
        if lane is None:
            return [], []
        return list(lane.running), list(lane.queue)

    def has_lane(self, key: str) -> bool:
        return key in self._lanes

    def class_pending(self, name: str) -> int:
        """Items pending (queued or being handled) of the keys of class `name`."""
        return self._class_pending.get(name, 0)

    def class_of(self, key: str) -> str:
        """The class of `key` ("" when keys have no classes)."""
        return self._class_of(key) if self._class_of is not None else ""

    async def wait_class_room(self, name: str, bound: int) -> None:
        """Wait until fewer than `bound` items of class `name` are pending (or the scheduler closed)."""
        if self.class_pending(name) < bound:
            return
        async with self._changed:
            await self._changed.wait_for(lambda: self.class_pending(name) < bound or self._closed)

    def pending_in(self, groups: Iterable[int]) -> int:
        wanted = set(groups)
        return sum(len(lane.queue) + lane.busy for lane in self._lanes.values() if lane.group in wanted)

    async def submit(self, key: str, group: int, item: T) -> None:
        """Queue `item` behind every earlier item of `key`; wait while too many items are pending."""
        if self._pending >= self._max_pending:
            async with self._changed:
                await self._changed.wait_for(lambda: self._pending < self._max_pending or self._closed)
        if self._closed:
            raise LanesClosed("lane scheduler is closed")
        lane = self._lanes.get(key)
        if lane is None:
            lane = self._lanes[key] = _Lane(group=group, klass=self.class_of(key))
        lane.queue.append(item)
        self._pending += 1
        self._class_pending[lane.klass] = self._class_pending.get(lane.klass, 0) + 1
        if lane.task is None:
            lane.task = asyncio.create_task(self._run(key, lane), name=f"lane:{key}")

    def _class_slot(self, lane: _Lane[T]) -> contextlib.AbstractAsyncContextManager[object]:
        if not self._per_class_slots:
            return contextlib.nullcontext()
        slot = self._class_slots.get(lane.klass)
        if slot is None:
            slot = self._class_slots[lane.klass] = asyncio.Semaphore(self._max_per_class)
        return slot

    async def _run(self, key: str, lane: _Lane[T]) -> None:
        try:
            async with self._class_slot(lane), self._slots:
                while lane.queue:
                    size = min(len(lane.queue), self._max_batch)
                    batch = [lane.queue.popleft() for _ in range(size)]
                    lane.busy, lane.running = size, batch
                    await self._handle(key, batch)
                    lane.busy, lane.running = 0, []
                    await self._finished(size, lane.klass)
        finally:
            if self._lanes.get(key) is lane:
                del self._lanes[key]

    async def _handle(self, key: str, batch: list[T]) -> None:
        while True:
            try:
                await self._handler(key, batch)
                return
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("lane handler crashed; retrying the same batch", extra={"order_id": key})
                await asyncio.sleep(HANDLER_CRASH_BACKOFF_S)

    async def _finished(self, count: int, klass: str) -> None:
        self._pending -= count
        left = self._class_pending.get(klass, 0) - count
        if left > 0:
            self._class_pending[klass] = left
        else:
            self._class_pending.pop(klass, None)
        async with self._changed:
            self._changed.notify_all()

    async def wait_idle(self, groups: Iterable[int] | None = None, timeout: float | None = None) -> bool:
        """Wait until no item of `groups` (all when None) is pending; return False at the timeout."""
        wanted = None if groups is None else set(groups)

        def idle() -> bool:
            if wanted is None:
                return self._pending == 0
            return self.pending_in(wanted) == 0

        async with self._changed:
            try:
                await asyncio.wait_for(self._changed.wait_for(idle), timeout)
            except TimeoutError:
                return False
        return True

    async def abandon(self, groups: Iterable[int]) -> int:
        """Cancel the lanes of `groups` and drop their items (they stay unacked); return how many."""
        wanted = set(groups)
        doomed = [(key, lane) for key, lane in self._lanes.items() if lane.group in wanted]
        dropped = 0
        by_class: dict[str, int] = {}
        for key, lane in doomed:
            dropped += len(lane.queue) + lane.busy
            by_class[lane.klass] = by_class.get(lane.klass, 0) + len(lane.queue) + lane.busy
            lane.queue.clear()
            if lane.task is not None:
                lane.task.cancel()
            self._lanes.pop(key, None)
        for _key, lane in doomed:
            if lane.task is not None:
                await asyncio.gather(lane.task, return_exceptions=True)
        for klass, count in by_class.items():
            if count:
                await self._finished(count, klass)
        return dropped

    async def close(self) -> None:
        """Cancel every lane and wake blocked submitters; items left are dropped unacked."""
        self._closed = True
        await self.abandon({lane.group for lane in self._lanes.values()})
        async with self._changed:
            self._changed.notify_all()
