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
