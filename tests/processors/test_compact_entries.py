"""Unit tests: what the stores keep for days is a compact copy, never a serializer's oversized buffer.

orjson (3.13) returns its output buffer without shrinking it: a few hundred bytes of JSON hold a 4 KB+
allocation, and a timeline keeps its entries for the whole TTL. `sys.getsizeof` does not show that (it
reports the object's length), so the allocation is measured with tracemalloc: what a batch of kept
objects adds to the traced memory, per object.
"""

from __future__ import annotations

import gc
import tracemalloc
from collections.abc import Callable, Iterator
from pathlib import Path

import orjson
import pytest

from processors.timeline import compact, decode_value, encode_entry, encode_value, entry
from processors.timeline_store import MemoryTimelines, RocksTimelines, loader

COUNT = 400


@pytest.fixture
def traced() -> Iterator[None]:
    tracemalloc.start()
    try:
        yield
    finally:
        tracemalloc.stop()


def allocated_per_object(make: Callable[[int], bytes]) -> tuple[float, int]:
    """Return (bytes allocated per object kept, length of one) for COUNT objects from `make`."""
    kept: list[bytes] = [b""] * COUNT
    gc.collect()
    before = tracemalloc.get_traced_memory()[0]
    for i in range(COUNT):
        kept[i] = make(i)
    gc.collect()
    return (tracemalloc.get_traced_memory()[0] - before) / COUNT, len(kept[0])


def typical(i: int) -> bytes:
    """An emitted event's entry (200-300 bytes, like most of a timeline)."""
    item = entry(
        1_790_000_000.0 + i,
        outcome="emitted",
        partition=3,
        offset=100_000 + i,
        event_id=f"{i:032x}",
        state="invoiced",
        source="hook",
        received_at="2026-03-01T12:00:00.1234567Z",
        seq=i,
    )
    return encode_entry(item, ("vtex.orders.status.invoiced", 3, 200_000 + i))


@pytest.mark.usefixtures("traced")
class TestCompactCopies:
    """A kept entry's allocation is within 2x its length, however it was made."""

    def test_orjson_output_is_oversized_which_is_why_entries_are_copied(self) -> None:
        # The premise: if orjson ever shrinks its buffer, `compact` is a plain copy and this fails first.
        size, length = allocated_per_object(lambda i: orjson.dumps({"t": i, "pad": "x" * 280}))
        assert size > 4 * length

    def test_bytes_of_bytes_is_no_copy(self) -> None:
        raw = orjson.dumps({"t": 1})
        assert bytes(raw) is raw and raw[:] is raw and compact(raw) is not raw and compact(raw) == raw

    def test_an_encoded_entry_is_compact(self) -> None:
        size, length = allocated_per_object(typical)
        assert 150 < length < 400
        assert size <= 2 * length

    def test_a_reloaded_entry_is_compact(self) -> None:
        value = encode_value([typical(i) for i in range(COUNT)])
        entries = iter(decode_value(value))
        size, length = allocated_per_object(lambda _: next(entries))
        assert size <= 2 * length

    def test_a_reloaded_store_holds_about_its_bytes(self) -> None:
        """A memory store rebuilt from the changelog: whole store (dict, lists, entries) within 2x."""
        values = [encode_value([typical(o * 8 + i) for i in range(8)]) for o in range(50)]
        gc.collect()
        before = tracemalloc.get_traced_memory()[0]
        store = MemoryTimelines()
        apply = loader(store)
        for o, value in enumerate(values):
            apply(f"order-{o:010d}-01", value)
        gc.collect()
        held = tracemalloc.get_traced_memory()[0] - before
        stored = sum(len(e) for o in store.order_ids() for e in store.get(o))
        assert len(store) == 50 and held <= 2 * stored

    def test_entries_read_from_rocksdb_are_compact(self, tmp_path: Path) -> None:
        store = RocksTimelines(tmp_path / "tl")
        store.put("o1", [typical(i) for i in range(COUNT)])
        entries = iter(store.get("o1"))
        size, length = allocated_per_object(lambda _: next(entries))
        store.close()
        assert size <= 2 * length
