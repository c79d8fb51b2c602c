"""Unit tests of the de-dup decision and its TTL expiry."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from processors import dedup
from processors.dedup import (
    EMPTY,
    OrderMemory,
    expire,
    is_duplicate,
    remember,
    remember_dead,
    was_dead_lettered,
)

TTL = 100.0


class TestDuplicateDecision:
    """An event id is a duplicate while it was emitted less than a TTL ago."""

    def test_new_event_is_not_a_duplicate(self) -> None:
        assert False is is_duplicate(EMPTY, "e1", now=10.0, ttl_s=TTL)

    def test_emitted_event_is_a_duplicate_within_ttl(self) -> None:
        memory = remember(EMPTY, "e1", 10.0, "invoiced", "2026-01-01T00:00:00.0000000Z")
        assert True is is_duplicate(memory, "e1", now=10.0 + TTL - 0.001, ttl_s=TTL)

    def test_expired_entry_counts_as_new(self) -> None:
        memory = remember(EMPTY, "e1", 10.0, "invoiced", None)
        assert False is is_duplicate(memory, "e1", now=10.0 + TTL, ttl_s=TTL)

    def test_newest_change_only_moves_forward(self) -> None:
        memory = remember(EMPTY, "e2", 1.0, "invoiced", "2026-01-02T00:00:00.0000000Z")
        memory = remember(memory, "e1", 2.0, "handling", "2026-01-01T00:00:00.0000000Z")
        assert ("invoiced", "2026-01-02T00:00:00.0000000Z") == (memory.newest_state, memory.newest_change)
        assert {"e1", "e2"} == set(memory.seen)


class TestExpiry:
    """Expiry drops ids older than the TTL and asks for a delete (tombstone) when nothing is left."""

    def test_all_expired_means_delete(self) -> None:
        memory = remember(EMPTY, "e1", 0.0, "invoiced", None)
        assert None is expire(memory, now=TTL, ttl_s=TTL)

    def test_keeps_fresh_ids(self) -> None:
        memory = remember(remember(EMPTY, "old", 0.0, "a", None), "new", 50.0, "b", None)
        kept = expire(memory, now=TTL + 1, ttl_s=TTL)
        assert kept is not None
        assert {"new"} == set(kept.seen)

    def test_unchanged_memory_is_returned_as_is(self) -> None:
        memory = remember(EMPTY, "e1", 50.0, "a", None)
        assert memory is expire(memory, now=60.0, ttl_s=TTL)

    def test_dead_letter_marks_expire_too(self) -> None:
        memory = remember_dead(EMPTY, "3:17", 0.0)
        assert True is was_dead_lettered(memory, "3:17", 1.0, TTL)
        assert None is expire(memory, now=TTL, ttl_s=TTL)

    @given(
        st.dictionaries(st.text(min_size=1, max_size=5), st.floats(0, 1000), max_size=20), st.floats(0, 2000)
    )
    def test_expire_never_keeps_an_old_id_nor_drops_a_fresh_one(
        self, seen: dict[str, float], now: float
    ) -> None:
        memory = OrderMemory(seen=seen)
        result = expire(memory, now, TTL)
        kept = {} if result is None else dict(result.seen)
        assert {k for k, v in seen.items() if now - v < TTL} == set(kept)


class TestSerialisation:
    """The changelog value round-trips through JSON-able data."""

    def test_round_trip(self) -> None:
        memory = remember_dead(
            remember(EMPTY, "e1", 1.5, "invoiced", "2026-01-01T00:00:00.0000000Z"), "0:1", 2.0
        )
        assert memory == OrderMemory.from_json(memory.to_json())

    def test_none_is_empty(self) -> None:
        assert EMPTY == OrderMemory.from_json(None)


class TestOrderSequence:
    """Each emitted record of an order gets the next number; the count survives the changelog."""

    def test_remember_counts_emitted_records(self) -> None:
        memory = dedup.EMPTY
        for i, change in enumerate(["2026-01-01T00:00:02.0000000Z", "2026-01-01T00:00:01.0000000Z"], 1):
            memory = dedup.remember(memory, f"e{i}", 100.0, "state", change)
            assert i == memory.emitted
        assert memory == dedup.OrderMemory.from_json(memory.to_json())

    def test_old_changelog_entries_start_at_zero(self) -> None:
        assert 0 == dedup.OrderMemory.from_json({"seen": {"e": 1.0}}).emitted
