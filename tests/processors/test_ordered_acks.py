"""Faust sees acks only for the finished prefix of each partition, so it never commits past work in flight."""

from __future__ import annotations

import gc
import tracemalloc

from processors.ordered_acks import OrderedAcks


class Released:
    """The `release` of the tests: records (partition, offset) in call order."""

    def __init__(self) -> None:
        self.calls: list[tuple[int, int]] = []

    def __call__(self, partition: int, offset: int) -> None:
        self.calls.append((partition, offset))

    def offsets(self, partition: int = 0) -> list[int]:
        return [o for p, o in self.calls if p == partition]


class TestOrderedAcks:
    """Out-of-order completion across lanes releases offsets in offset order."""

    def test_later_offsets_wait_for_the_head(self) -> None:
        released = Released()
        acks = OrderedAcks(release=released)
        done = {o: acks.track(0, o) for o in (10, 11, 12)}
        done[12]()
        done[11]()
        assert [] == released.calls
        assert 3 == acks.waiting(0)
        done[10]()
        assert [10, 11, 12] == released.offsets()
        assert 0 == acks.waiting(0)

    def test_interleaved_finishes_release_in_offset_order(self) -> None:
        released = Released()
        acks = OrderedAcks(release=released)
        done = {o: acks.track(0, o) for o in range(8)}
        for offset, expected in (
            (3, []),
            (0, [0]),
            (2, [0]),
            (1, [0, 1, 2, 3]),
            (6, [0, 1, 2, 3]),
            (4, [0, 1, 2, 3, 4]),
            (7, [0, 1, 2, 3, 4]),
            (5, [0, 1, 2, 3, 4, 5, 6, 7]),
        ):
            done[offset]()
            assert expected == released.offsets(), offset
        more = {o: acks.track(0, o) for o in (8, 9)}  # after the span emptied
        more[9]()
        more[8]()
        assert list(range(10)) == released.offsets()

    def test_partitions_are_independent(self) -> None:
        released = Released()
        acks = OrderedAcks(release=released)
        slow = acks.track(0, 5)
        fast = acks.track(1, 7)
        fast()
        assert [(1, 7)] == released.calls
        slow()
        assert [(1, 7), (0, 5)] == released.calls

    def test_a_second_done_is_harmless(self) -> None:
        released = Released()
        acks = OrderedAcks(release=released)
        head = acks.track(0, 0)
        later = acks.track(0, 1)
        later()
        later()
        assert 1 == acks.unfinished(0)
        head()
        head()
        assert [0, 1] == released.offsets()
        acks.track(0, 2)
        head()
        later()
        assert [0, 1] == released.offsets()
        assert 1 == acks.unfinished(0)

    def test_an_offset_read_again_is_released_once_every_read_of_it_finished(self) -> None:
        released = Released()
        acks = OrderedAcks(release=released)
        first = acks.track(0, 4)
        again = acks.track(0, 4)
        first()
        assert [] == released.calls
        assert 1 == acks.unfinished(0)
        again()
        assert [4, 4] == released.offsets()  # Faust ignores an offset acked twice

    def test_revoked_partition_ignores_late_acks(self) -> None:
        released = Released()
        acks = OrderedAcks(release=released)
        first = acks.track(3, 1)
        acks.forget([3])
        first()
        assert [] == released.calls
        again = acks.track(3, 1)
        again()
        assert [(3, 1)] == released.calls

    def test_a_late_done_of_a_forgotten_incarnation_releases_nothing_of_the_new_one(self) -> None:
        released = Released()
        acks = OrderedAcks(release=released)
        old = {o: acks.track(3, o) for o in (1, 2)}
        acks.forget([3])
        new = {o: acks.track(3, o) for o in (1, 2)}  # the partition is assigned back, re-read from 1
        new[2]()
        old[1]()  # would release 1 and 2 if it counted for the new incarnation
        old[2]()
        assert [] == released.calls
        assert 2 == acks.waiting(3)
        assert 1 == acks.unfinished(3)
        new[1]()
        assert [(3, 1), (3, 2)] == released.calls

    def test_unfinished_counts_the_offsets_not_done(self) -> None:
        acks = OrderedAcks(release=Released())
        assert 0 == acks.unfinished(0)
        done = [acks.track(0, o) for o in range(5)]
        assert 5 == acks.unfinished(0)
        done[3]()
        done[1]()
        assert 3 == acks.unfinished(0)
        assert 5 == acks.waiting(0)
        done[0]()
        assert 2 == acks.unfinished(0)
        assert 3 == acks.waiting(0)  # 2, 3, 4: 3 finished waits for 2
        acks.forget([0])
        assert 0 == acks.unfinished(0)


class TestMemory:
    def test_a_finished_offset_behind_an_unfinished_head_costs_a_few_bytes(self) -> None:
        """The head held (an account's OMS down) while 100,000 later events finish: each is an offset.

        A bound on memory, measured roughly: about 8 bytes per offset plus the array's slack, where
        keeping Faust's event held its input record (1-2 KB).
        """
        count = 100_000
        released = Released()
        gc.collect()
        tracemalloc.start()
        try:
            before = tracemalloc.get_traced_memory()[0]
            acks = OrderedAcks(release=released)
            head = acks.track(0, 0)
            for offset in range(1, count):
                acks.track(0, offset)()
            gc.collect()
            held = tracemalloc.get_traced_memory()[0] - before
        finally:
            tracemalloc.stop()
        assert count == acks.waiting(0)
        assert 1 == acks.unfinished(0)
        assert held / count < 20, f"{held / count:.1f} bytes per offset"
        head()
        assert count == len(released.calls)
        assert 0 == acks.waiting(0)


def _bounded(events: list[tuple[str, int]]) -> OrderedAcks:
    """Acks bounded to a span of 4 that note each pause ("full") and resume ("room") in `events`."""
    return OrderedAcks(
        release=Released(),
        limit=4,
        on_full=lambda p: events.append(("full", p)),
        on_room=lambda p: events.append(("room", p)),
    )


class TestBoundAndAge:
    """A partition whose head never finishes is paused at the bound, and its head's age is exported."""

    def test_pauses_at_the_bound_and_resumes_at_half(self) -> None:
        events: list[tuple[str, int]] = []
        acks = _bounded(events)
        head = acks.track(0, 0)
        later = [acks.track(0, o) for o in (1, 2)]
        assert [] == events
        later.append(acks.track(0, 3))
        assert [("full", 0)] == events
        assert acks.paused(0)
        for done in later:
            done()
        assert [("full", 0)] == events  # finished offsets behind the head stay in the span
        head()
        assert [("full", 0), ("room", 0)] == events
        assert not acks.paused(0)
        assert 0 == acks.waiting(0)

    def test_full_again_on_each_track_at_the_bound_and_room_at_half_the_span(self) -> None:
        events: list[tuple[str, int]] = []
        acks = _bounded(events)
        done = [acks.track(0, o) for o in range(5)]
        assert [("full", 0), ("full", 0)] == events
        done[0]()  # span 4: still at the bound
        done[1]()  # span 3
        assert [("full", 0), ("full", 0)] == events
        done[2]()  # span 2 = half
        assert [("full", 0), ("full", 0), ("room", 0)] == events
        assert 2 == acks.waiting(0)

    def test_other_partitions_are_not_paused(self) -> None:
        full: list[int] = []
        acks = OrderedAcks(release=Released(), limit=2, on_full=full.append)
        acks.track(0, 0)
        acks.track(0, 1)
        acks.track(1, 0)()
        assert [0] == full
        assert not acks.paused(1)

    def test_oldest_unfinished_age_per_partition(self) -> None:
        now = [100.0]
        acks = OrderedAcks(release=Released(), clock=lambda: now[0])
        head = acks.track(0, 0)
        now[0] = 105.0
        second = acks.track(0, 1)
        now[0] = 107.0
        third = acks.track(0, 2)
        acks.track(1, 0)()
        now[0] = 110.0
        assert {0: 10.0, 1: 0.0} == acks.oldest_age()
        second()
        assert {0: 10.0, 1: 0.0} == acks.oldest_age()
        head()
        assert {0: 3.0, 1: 0.0} == acks.oldest_age()
        third()
        acks.forget([1])
        assert {0: 0.0} == acks.oldest_age()
