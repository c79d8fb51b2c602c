"""De-duplication and per-order memory, as pure functions over one plain-data record per order.

The state is keyed by OrderId (like the input topic, so it lives on the same partition and moves with
it) and holds the event ids already emitted for that order with the wall-clock time they were seen, plus
the newest change emitted (for lateness). VTEX tells integrators to de-duplicate on OrderId + State +
LastChange (REFERENCE.md section 5); `event_id` is that triple's hash. A Faust table never expires keys,
so expiry is explicit: `expire` drops ids older than the TTL and returns None when nothing is left, which
the caller turns into a delete (a tombstone in the changelog, so compaction frees the key).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any


@dataclass(frozen=True, slots=True)
class OrderMemory:
    """What the processor remembers about one order; serialised as JSON in the changelog."""

    seen: Mapping[str, float] = field(default_factory=dict)  # event_id -> epoch seconds first emitted
    newest_state: str | None = None
    newest_change: str | None = None  # canonical timestamp of the newest change emitted
    #: input position ("partition:offset") -> epoch seconds it was dead-lettered. Stops the *same input
    #: record*, reprocessed after a crash, from being dead-lettered twice; a replayed copy sits at a new
    #: offset, so it is processed (and, failing again, dead-lettered) afresh.
    dead: Mapping[str, float] = field(default_factory=dict)
    #: Records emitted for the order so far: the next record's `order_sequence` is this plus one. Kept in
    #: the same transaction as the records, so a crash never reuses or skips a number.
    emitted: int = 0
    #: The event id of the order's last dead-lettered event, until the order's next record names it
    #: (`follows_dead_letter` header): a consumer sees that one event of the order is missing between
    #: its records, and which.
    skipped: str | None = None

    def to_json(self) -> dict[str, Any]:
        value: dict[str, Any] = {
            "seen": dict(self.seen),
            "newest_state": self.newest_state,
            "newest_change": self.newest_change,
            "dead": dict(self.dead),
            "emitted": self.emitted,
        }
        if self.skipped is not None:
            value["skipped"] = self.skipped
        return value

    @classmethod
    def from_json(cls, value: Mapping[str, Any] | None) -> OrderMemory:
        if not value:
            return EMPTY
        return cls(
            seen={str(k): float(v) for k, v in (value.get("seen") or {}).items()},
            newest_state=value.get("newest_state"),
            newest_change=value.get("newest_change"),
            dead={str(k): float(v) for k, v in (value.get("dead") or {}).items()},
            emitted=int(value.get("emitted") or 0),
            skipped=value.get("skipped"),
        )


EMPTY = OrderMemory()


def is_duplicate(memory: OrderMemory, event_id: str, now: float, ttl_s: float) -> bool:
    """Tell whether `event_id` was already emitted within the TTL (an expired entry counts as new)."""
    seen_at = memory.seen.get(event_id)
    return seen_at is not None and now - seen_at < ttl_s


def remember(memory: OrderMemory, event_id: str, now: float, state: str, change: str | None) -> OrderMemory:
    """Return the memory after emitting `event_id`; the newest change only moves forward."""
    seen = dict(memory.seen)
    seen[event_id] = now
    emitted = memory.emitted + 1
    if change is not None and (memory.newest_change is None or change >= memory.newest_change):
        return OrderMemory(
            seen=seen, newest_state=state, newest_change=change, dead=memory.dead, emitted=emitted
        )
    return replace(memory, seen=seen, emitted=emitted, skipped=None)


def was_dead_lettered(memory: OrderMemory, position: str, now: float, ttl_s: float) -> bool:
    """Tell whether the input record at `position` was already dead-lettered within the TTL."""
    at = memory.dead.get(position)
    return at is not None and now - at < ttl_s


def remember_dead(memory: OrderMemory, position: str, now: float, event_id: str | None = None) -> OrderMemory:
    """Return the memory after dead-lettering the input record at `position` (event `event_id`)."""
    skipped = memory.skipped if event_id is None else event_id
    return replace(memory, dead={**memory.dead, position: now}, skipped=skipped)


def expire(memory: OrderMemory, now: float, ttl_s: float) -> OrderMemory | None:
    """Return the memory without ids older than the TTL; None when no id is left (delete the key)."""
    kept = {k: v for k, v in memory.seen.items() if now - v < ttl_s}
    dead = {k: v for k, v in memory.dead.items() if now - v < ttl_s}
    if not kept and not dead:
        return None
    if len(kept) == len(memory.seen) and len(dead) == len(memory.dead):
        return memory
    return replace(memory, seen=kept, dead=dead)
