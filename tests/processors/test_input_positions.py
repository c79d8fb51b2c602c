"""`unread_events`: the part of the lag that is not read yet (the work lag adds the events in flight)."""

from __future__ import annotations

from processors.input_positions import unread_events


def test_a_partition_that_handed_nothing_to_the_lanes_counts_its_whole_lag() -> None:
    assert 40.0 == unread_events({0: 40.0}, lambda p: 100, {})


def test_events_read_and_held_behind_the_committed_offset_are_not_counted() -> None:
    """Committed at 60 (a parked or unfinished event there), end 100, read up to 89: 10 unread."""
    assert 10.0 == unread_events({0: 40.0}, lambda p: 100, {0: 89})


def test_everything_read_is_zero_and_never_negative() -> None:
    assert 0.0 == unread_events({0: 40.0, 1: 5.0}, lambda p: 100, {0: 99, 1: 120})


def test_never_more_than_the_lag_itself() -> None:
    """A stale position (before a rebalance re-read from the committed offset) cannot inflate it."""
    assert 5.0 == unread_events({0: 5.0}, lambda p: 100, {0: 10})


def test_an_unknown_high_watermark_counts_the_lag() -> None:
    assert 7.0 == unread_events({0: 7.0}, lambda p: None, {0: 3})


def test_partitions_add_up() -> None:
    assert 13.0 == unread_events({0: 40.0, 1: 3.0}, {0: 100, 1: 50}.get, {0: 89})
