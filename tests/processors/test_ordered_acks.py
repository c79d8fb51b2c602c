"""Faust sees acks only for the finished prefix of each partition, so it never commits past work in flight."""

from __future__ import annotations

import functools

from processors.ordered_acks import OrderedAcks


class TestOrderedAcks:
    """Out-of-order completion across lanes releases acks in offset order."""

    def test_later_offsets_wait_for_the_head(self) -> None:
        released: list[int] = []
        acks = OrderedAcks()
        done = {o: acks.track(0, o, functools.partial(released.append, o)) for o in (10, 11, 12)}
        done[12]()
        done[11]()
        assert [] == released
        assert 3 == acks.waiting(0)
        done[10]()
        assert [10, 11, 12] == released
        assert 0 == acks.waiting(0)

    def test_partitions_are_independent(self) -> None:
        released: list[tuple[int, int]] = []
        acks = OrderedAcks()
        slow = acks.track(0, 5, lambda: released.append((0, 5)))
        fast = acks.track(1, 7, lambda: released.append((1, 7)))
        fast()
        assert [(1, 7)] == released
        slow()
        assert [(1, 7), (0, 5)] == released

    def test_revoked_partition_ignores_late_acks(self) -> None:
        released: list[int] = []
        acks = OrderedAcks()
        first = acks.track(3, 1, lambda: released.append(1))
        acks.forget([3])
        first()
        assert [] == released
        again = acks.track(3, 1, lambda: released.append(101))
        again()
        assert [101] == released


class TestBoundAndAge:
    """A partition whose head never finishes is paused at the bound, and its head's age is exported."""

    def test_pauses_at_the_bound_and_resumes_at_half(self) -> None:
        events: list[tuple[str, int]] = []
        acks = OrderedAcks(
            limit=4,
            on_full=lambda p: events.append(("full", p)),
            on_room=lambda p: events.append(("room", p)),
        )
        head = acks.track(0, 0, lambda: None)
        later = [acks.track(0, o, lambda: None) for o in (1, 2)]
        assert [] == events
        later.append(acks.track(0, 3, lambda: None))
        assert [("full", 0)] == events
        assert acks.paused(0)
        for done in later:
            done()
        assert [("full", 0)] == events  # finished events behind the head stay queued
        head()
        assert [("full", 0), ("room", 0)] == events
        assert not acks.paused(0)
        assert 0 == acks.waiting(0)

    def test_other_partitions_are_not_paused(self) -> None:
        full: list[int] = []
        acks = OrderedAcks(limit=2, on_full=full.append)
        acks.track(0, 0, lambda: None)
        acks.track(0, 1, lambda: None)
        acks.track(1, 0, lambda: None)()
        assert [0] == full
        assert not acks.paused(1)

    def test_oldest_unfinished_age_per_partition(self) -> None:
        now = [100.0]
        acks = OrderedAcks(clock=lambda: now[0])
        head = acks.track(0, 0, lambda: None)
        now[0] = 105.0
        second = acks.track(0, 1, lambda: None)
        acks.track(1, 0, lambda: None)()
        now[0] = 110.0
        assert {0: 10.0, 1: 0.0} == acks.oldest_age()
        head()
        assert {0: 5.0, 1: 0.0} == acks.oldest_age()
        second()
        acks.forget([1])
        assert {0: 0.0} == acks.oldest_age()
