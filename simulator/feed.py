"""The Feed v3 queue of one appKey: SQS-like visibility timeout, commit by handle, retention.

Read items become invisible for `visibilityTimeoutInSeconds` and come back if not committed; each read
hands out a new handle and only the newest handle of an item commits it (as with SQS receipt handles).
Messages older than the retention period are dropped. Time is the simulator's `Clock` (VTEX seconds).
"""

from __future__ import annotations

import base64
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


class FeedQueue:
    """The messages of one feed, oldest first."""

    def __init__(self, rng: random.Random) -> None:
        self._rng = rng
        self._messages: OrderedDict[str, FeedMessage] = OrderedDict()
        self._by_handle: dict[str, str] = {}

    def push(self, event: dict[str, Any], now: float) -> None:
        self._messages[str(event["eventId"])] = FeedMessage(dict(event), now, now)

    def expire(self, retention_s: float, now: float) -> int:
        """Drop messages older than `retention_s`; return how many went."""
        dropped = [k for k, m in self._messages.items() if now - m.enqueued_at >= retention_s]
        for key in dropped:
            self._remove(key)
        return len(dropped)

    def receive(self, maxlot: int, visibility_s: float, now: float) -> list[dict[str, Any]]:
        """Return up to `maxlot` visible items (oldest first) and hide them for `visibility_s`."""
        out: list[dict[str, Any]] = []
        for key, message in self._messages.items():
            if len(out) >= maxlot:
                break
            if message.visible_at > now:
                continue
            if message.handle is not None:
                self._by_handle.pop(message.handle, None)
            message.handle = self._new_handle()
            message.receive_count += 1
            message.visible_at = now + visibility_s
            self._by_handle[message.handle] = key
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
        return sum(1 for m in self._messages.values() if m.visible_at <= now)

    def oldest_age(self, now: float) -> float:
        first = next(iter(self._messages.values()), None)
        return 0.0 if first is None else max(0.0, now - first.enqueued_at)

    def _remove(self, key: str) -> None:
        message = self._messages.pop(key)
        if message.handle is not None:
            self._by_handle.pop(message.handle, None)

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
