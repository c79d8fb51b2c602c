"""Unit tests of the parked events' bookkeeping (`processors.parked.ParkedEvents`): no Kafka, no tasks."""

from __future__ import annotations

import tracemalloc

from processors.parked import ParkedEvents


def _ack() -> None:
    return None


def _events() -> ParkedEvents:
    """Account b parked 3, 7, 8 in partition 0 and 4 in partition 1; a parked 5 in 0."""
    events = ParkedEvents()
    events.park(0, "b", 3, _ack)
    events.park(0, "a", 5, _ack)
    events.park(0, "b", 7, _ack)
    events.park(0, "b", 8, _ack)
    events.park(1, "b", 4, _ack)
    return events


class TestParkedEvents:
    """Offsets per (partition, account), oldest first; per account; dropped on revocation."""

    def test_empty(self) -> None:
        events = ParkedEvents()
        assert not events.active(0, "b")
        assert events.oldest(0, "b") is None
        assert events.newest(0, "b") is None
        assert 0 == events.count(0, "b")
        assert not events.contains(0, "b", 3)
        assert events.take(0, "b", 3) is None
        assert events.get(0, "b", 3) is None
        assert [] == events.where()
        assert {} == events.by_account()
        assert not events.parked_for("b")
        assert 0 == len(events)
        assert 0 == events.forget([0])

    def test_park_and_look(self) -> None:
        events = _events()
        assert events.active(0, "b") and events.active(1, "b") and events.active(0, "a")
        assert not events.active(1, "a")
        assert (3, 8) == (events.oldest(0, "b"), events.newest(0, "b"))
        assert (4, 4) == (events.oldest(1, "b"), events.newest(1, "b"))
        assert (3, 1, 1) == (events.count(0, "b"), events.count(1, "b"), events.count(0, "a"))
        assert events.contains(0, "b", 7)
        assert not events.contains(0, "b", 5)  # a's offset, not b's
        assert not events.contains(1, "b", 3)
        assert {(0, "b"), (0, "a"), (1, "b")} == set(events.where())
        assert events.parked_for("a") and not events.parked_for("c")
        assert 5 == len(events)

    def test_by_account_names_every_account(self) -> None:
        events = _events()
        assert {"a": 1.0, "b": 4.0} == events.by_account()
        assert {"a": 1.0, "b": 4.0, "c": 0.0} == events.by_account(["c", "a"])

    def test_take_returns_the_ack(self) -> None:
        acks: list[int] = []
        events = ParkedEvents()
        events.park(0, "b", 3, lambda: acks.append(3))
        events.park(0, "b", 7, _ack)
        taken = events.take(0, "b", 3)
        assert taken is not None
        taken()
        assert [3] == acks
        assert not events.contains(0, "b", 3)
        assert 7 == events.oldest(0, "b")
        assert events.take(0, "b", 3) is None  # already taken
        assert 1 == len(events)

    def test_take_of_an_unknown_offset_returns_none_and_keeps_the_rest(self) -> None:
        events = _events()
        assert events.take(0, "b", 4) is None  # not parked (partition 1's offset)
        assert events.take(0, "c", 3) is None  # no such account
        assert events.take(2, "b", 3) is None  # no such partition
        assert 5 == len(events)

    def test_take_out_of_order_keeps_the_others_in_order(self) -> None:
        events = _events()
        assert events.take(0, "b", 7) is not None
        assert (3, 8, 2) == (events.oldest(0, "b"), events.newest(0, "b"), events.count(0, "b"))
        assert not events.contains(0, "b", 7) and events.contains(0, "b", 8)

    def test_get_leaves_the_entry_in_place(self) -> None:
        events = _events()
        assert events.get(0, "b", 7) is _ack
        assert events.contains(0, "b", 7)
        assert events.get(0, "b", 5) is None
        assert events.get(3, "b", 7) is None
        assert 5 == len(events)

    def test_active_turns_false_when_the_last_one_is_taken(self) -> None:
        events = _events()
        for offset in (3, 7):
            assert events.take(0, "b", offset) is not None
            assert events.active(0, "b")
        assert events.take(0, "b", 8) is not None
        assert not events.active(0, "b")
        assert events.oldest(0, "b") is None and events.newest(0, "b") is None
        assert (0, "b") not in events.where()
        assert events.active(1, "b")  # the other partition keeps its own
        assert {"a": 1.0, "b": 1.0} == events.by_account()

    def test_forget_returns_the_count(self) -> None:
        events = _events()
        assert 4 == events.forget([0])
        assert not events.active(0, "b") and not events.active(0, "a")
        assert [(1, "b")] == events.where()
        assert {"b": 1.0} == events.by_account()
        assert 1 == len(events)
        assert 0 == events.forget([0, 7])  # nothing left there
        assert 1 == events.forget({1})
        assert 0 == len(events)

    def test_park_again_after_forget(self) -> None:
        events = _events()
        events.forget([0])
        assert events.park(0, "b", 20, _ack)
        assert (20, 20) == (events.oldest(0, "b"), events.newest(0, "b"))

    def test_an_offset_read_again_stays_parked_once(self) -> None:
        """A record read twice without a revocation: the first reading stays parked, the second is
        refused (its caller acks it); an older offset not parked yet is placed in order."""
        events = _events()
        assert not events.park(0, "b", 7, _ack)
        assert 3 == events.count(0, "b")
        assert events.park(0, "b", 5, _ack)
        assert [3, 5, 7, 8] == [o for o in range(10) if events.contains(0, "b", o)]
        assert 3 == events.oldest(0, "b")

    def test_the_head_is_compacted_as_events_are_taken(self) -> None:
        events = ParkedEvents()
        for offset in range(1000):
            events.park(0, "b", offset, _ack)
        for offset in range(990):
            assert events.take(0, "b", offset) is not None
        assert (990, 999, 10) == (events.oldest(0, "b"), events.newest(0, "b"), events.count(0, "b"))
        events.park(0, "b", 1000, _ack)
        assert [990, 1000] == [events.oldest(0, "b"), events.newest(0, "b")]

    def test_a_parked_event_costs_little_memory(self) -> None:
        """Offset (8 bytes) and a pointer to the ack the worker already holds: far below a record."""
        acks = [(lambda: None) for _ in range(1)]
        events = ParkedEvents()
        tracemalloc.start()
        try:
            before = tracemalloc.take_snapshot()
            for offset in range(100_000):
                events.park(0, "b", offset, acks[0])
            after = tracemalloc.take_snapshot()
        finally:
            tracemalloc.stop()
        grown = sum(stat.size_diff for stat in after.compare_to(before, "filename"))
        assert grown / 100_000 < 40
