"""The Feed v3 queue of one appKey: SQS-like visibility timeout, commit by handle, retention.

Read items become invisible for `visibilityTimeoutInSeconds` and come back if not committed; each read
hands out a new handle and only the newest handle of an item commits it (as with SQS receipt handles).
Messages older than the retention period are dropped. Time is the simulator's `Clock` (VTEX seconds).
"""

from __future__ import annotations

import base64
import heapq
import random
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

from simulator.filters import FilterMatcher

#: Maximum retention VTEX accepts (14 days, REFERENCE §4).
MAX_RETENTION_S = 1_209_600
MAX_LOT = 10


@dataclass(slots=True)
class FeedMessage:
    event: dict[str, Any]
    enqueued_at: float
    visible_at: float
    handle: str | None = None
    receive_count: int = 0
    #: Enqueue number: tells a heap entry of this message from one of an earlier message of the same id.
    seq: int = 0
    in_flight: bool = False


class FeedQueue:
    """The messages of one feed, oldest first, with every call's cost independent of the queue's length.

    Three structures keep each operation proportional to what it touches, not to the history: the
    messages in enqueue order (retention drops from the front), a heap of the visible ones by enqueue
    number (a read pops the oldest), and a heap of the in-flight ones by the time they reappear (a read
    first moves the due ones back). Heap entries of messages committed or expired meanwhile are skipped
    when they surface. `ops` counts the entries examined, so tests pin the cost without timing it.
    """

    def __init__(self, rng: random.Random) -> None:
        self._rng = rng
        self._messages: OrderedDict[str, FeedMessage] = OrderedDict()
        self._by_handle: dict[str, str] = {}
        self._visible: list[tuple[int, str]] = []
        self._in_flight: list[tuple[float, int, str]] = []
        self._seq = 0
        self._last_enqueued = float("-inf")
        self._in_flight_count = 0
        #: Queue entries examined so far (heap pops and pushes, front checks): a cost measure for tests.
        self.ops = 0

    def push(self, event: dict[str, Any], now: float) -> None:
        key = str(event["eventId"])
        if key in self._messages:  # the same event id again: replace it (a new enqueue)
            self._remove(key)
        # Enqueue times never go backwards, so the front of `_messages` is always the oldest.
        self._last_enqueued = enqueued = max(now, self._last_enqueued)
        self._seq += 1
        self._messages[key] = FeedMessage(dict(event), enqueued, enqueued, seq=self._seq)
        heapq.heappush(self._visible, (self._seq, key))
        self.ops += 1

    def expire(self, retention_s: float, now: float) -> int:
        """Drop messages older than `retention_s`; return how many went (cost: those dropped + 1)."""
        dropped = 0
        while self._messages:
            self.ops += 1
            key, message = next(iter(self._messages.items()))
            if now - message.enqueued_at < retention_s:
                break
            self._remove(key)
            dropped += 1
        while self._visible:  # the expired visible messages' entries are the heap's oldest: drop them too
            seq, key = self._visible[0]
            top = self._messages.get(key)
            if top is not None and top.seq == seq and not top.in_flight:
                break
            self.ops += 1
            heapq.heappop(self._visible)
        return dropped

    def receive(self, maxlot: int, visibility_s: float, now: float) -> list[dict[str, Any]]:
        """Return up to `maxlot` visible items (oldest first) and hide them for `visibility_s`."""
        self._reappear(now)
        out: list[dict[str, Any]] = []
        while self._visible and len(out) < maxlot:
            self.ops += 1
            seq, key = heapq.heappop(self._visible)
            message = self._messages.get(key)
            if message is None or message.seq != seq or message.in_flight:
                continue  # committed, expired or replaced since it was queued here
            if message.handle is not None:
                self._by_handle.pop(message.handle, None)
            message.handle = self._new_handle()
            message.receive_count += 1
            message.visible_at = now + visibility_s
            message.in_flight = True
            self._in_flight_count += 1
            self._by_handle[message.handle] = key
            heapq.heappush(self._in_flight, (message.visible_at, seq, key))
            out.append({**message.event, "handle": message.handle})
        return out

    def commit(self, handles: list[str]) -> int:
        """Remove the items whose current handle is listed; unknown or stale handles are ignored."""
        removed = 0
        for handle in handles:
            key = self._by_handle.get(handle)
            if key is not None:
                self._remove(key)
                removed += 1
        return removed

    def quantity(self) -> int:
        """Count every message, in flight or not (the `quantity` of GET feed/config)."""
        return len(self._messages)

    def visible(self, now: float) -> int:
        self._reappear(now)
        return len(self._messages) - self._in_flight_count

    def oldest_age(self, now: float) -> float:
        first = next(iter(self._messages.values()), None)
        return 0.0 if first is None else max(0.0, now - first.enqueued_at)

    def _reappear(self, now: float) -> None:
        """Make the in-flight messages whose visibility timeout passed visible again."""
        while self._in_flight and self._in_flight[0][0] <= now:
            self.ops += 1
            visible_at, seq, key = heapq.heappop(self._in_flight)
            message = self._messages.get(key)
            if message is None or message.seq != seq or message.visible_at != visible_at:
                continue  # committed, expired, replaced, or read again (a newer entry stands for it)
            if not message.in_flight:
                continue
            message.in_flight = False
            self._in_flight_count -= 1
            heapq.heappush(self._visible, (seq, key))

    def _remove(self, key: str) -> None:
        message = self._messages.pop(key)
        if message.handle is not None:
            self._by_handle.pop(message.handle, None)
        if message.in_flight:
            self._in_flight_count -= 1

    def _new_handle(self) -> str:
        # SQS-style opaque receipt ("AQEB..."), long like VTEX's (REFERENCE §3).
        raw = self._rng.getrandbits(8 * 96).to_bytes(96, "big")
        return "AQEB" + base64.b64encode(raw).decode()


@dataclass(slots=True)
class FeedConfig:
    """One appKey's feed: filter, queue settings and the queue itself."""

    matcher: FilterMatcher
    visibility_timeout_s: int
    retention_s: int
    queue: FeedQueue
    last_event_at: float

    def to_json(self, now: float) -> dict[str, Any]:
        return {
            "filter": self.matcher.filter.to_json(),
            "queue": {
                "visibilityTimeoutInSeconds": self.visibility_timeout_s,
                "messageRetentionPeriodInSeconds": self.retention_s,
            },
            "quantity": self.queue.quantity(),
            "approximateAgeOfOldestMessageInSeconds": round(self.queue.oldest_age(now), 4),
        }
