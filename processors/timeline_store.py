"""Where a partition's order timelines live: locally per partition, backed by a compacted changelog.

Like the de-dup table (`processors.state`), and for the same reason (it must commit atomically with the
downstream records), this is not a Faust table: the changelog topic `<app id>-timeline-changelog` has the
input topic's partition count, record key = OrderId, value = the order's bounded timeline as a JSON
array (`processors.timeline.encode_value`), tombstone = timeline expired. Partition p of it belongs to
partition p of the input, is written by that partition's transactional writer and rebuilt
(read_committed) whenever the de-dup state is, so both always describe the same committed history.

Locally a timeline is a list of encoded entries: in a dict (`memory://`) or, when the worker keeps its
state in RocksDB, newline-joined in a RocksDB database per partition (orjson never writes a raw newline).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from bridge.topic_names import timeline_topic as timeline_topic
from processors.rocks import RocksMemory
from processors.state import RocksBacked, is_rocks
from processors.timeline import decode_value, entry_time


class TimelineStore(Protocol):
    """Committed timelines of one partition: order id -> encoded entries, oldest first."""

    def get(self, order_id: str) -> list[bytes]: ...

    def put(self, order_id: str, entries: list[bytes] | None) -> None: ...

    def oldest(self, order_id: str) -> float | None: ...

    def order_ids(self) -> Iterator[str]: ...

    def __len__(self) -> int: ...

    def close(self) -> None: ...


class MemoryTimelines:
    """A dict of entry lists; lost on exit, rebuilt from the changelog."""

    def __init__(self) -> None:
        self._data: dict[str, list[bytes]] = {}

    def get(self, order_id: str) -> list[bytes]:
        return self._data.get(order_id, [])

    def put(self, order_id: str, entries: list[bytes] | None) -> None:
        if entries:
            self._data[order_id] = entries
        else:
            self._data.pop(order_id, None)

    def oldest(self, order_id: str) -> float | None:
        entries = self._data.get(order_id)
        return entry_time(entries[0]) if entries else None

    def order_ids(self) -> Iterator[str]:
        return iter(list(self._data))

    def __len__(self) -> int:
        return len(self._data)

    def close(self) -> None:
        self._data.clear()


class RocksTimelines(RocksBacked):
    """Newline-joined entries in a RocksDB database per partition (keeps RSS flat at many orders)."""

    def get(self, order_id: str) -> list[bytes]:
        raw = self._db.get(order_id)
        return [] if raw is None else raw.split(b"\n")

    def put(self, order_id: str, entries: list[bytes] | None) -> None:
        self._db.put(order_id, b"\n".join(entries) if entries else None)

    def oldest(self, order_id: str) -> float | None:
        raw = self._db.get(order_id)
        if raw is None:
            return None
        newline = raw.find(b"\n")
        return entry_time(raw if newline < 0 else raw[:newline])


def new_timelines(
    store_url: str, data_dir: Path, partition: int, memory: RocksMemory | None = None
) -> TimelineStore:
    """Return an empty timeline store for `partition` in the configured store (RocksDB: under `memory`)."""
    if is_rocks(store_url):
        return RocksTimelines(data_dir / f"timeline-p{partition}-{uuid.uuid4().hex[:8]}", memory)
    return MemoryTimelines()


def loader(store: TimelineStore) -> Callable[[str, bytes | None], None]:
    """Return how one changelog record is applied to `store` while it is rebuilt."""

    def apply(order_id: str, value: bytes | None) -> None:
        store.put(order_id, decode_value(value))

    return apply


@dataclass(frozen=True, slots=True)
class TimelineConfig:
    """What a partition writer needs to keep timelines: their changelog, store and bound."""

    changelog: str
    factory: Callable[[], TimelineStore]
    max_entries: int
