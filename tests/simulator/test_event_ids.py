"""The simulator's own event-id oracle agrees with the bridge's `compute_event_id` on what it sends."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bridge.events import compute_event_id
from bridge.timestamps import format_vtex_timestamp
from simulator.event_ids import expected_event_id

ORDER_IDS = st.from_regex(r"[A-Za-z0-9][A-Za-z0-9_-]{0,20}(-0[1-9])?", fullmatch=True)
STATES = st.one_of(st.none(), st.just(""), st.sampled_from(["invoiced", "payment-pending", "handling"]))
MOMENTS = st.datetimes(min_value=datetime(2020, 1, 1), max_value=datetime(2035, 1, 1), timezones=st.just(UTC))


class TestOracle:
    """Two independent implementations of the record contract give the same ids."""

    @given(order_id=ORDER_IDS, state=STATES, moment=MOMENTS)
    def test_agrees_with_the_bridge(self, order_id: str, state: str | None, moment: datetime) -> None:
        last_change = format_vtex_timestamp(moment)
        assert compute_event_id(order_id, state, last_change) == expected_event_id(
            order_id, state, last_change
        )

    def test_a_known_id(self) -> None:
        """Pinned: a change of the contract shows here and in README's "The records" together."""
        moment = datetime(2026, 11, 25, 3, 0, tzinfo=UTC) + timedelta(microseconds=123456)
        assert "da837b992dec212c899e4c64199a710d" == expected_event_id(
            "1234567890123-01", "invoiced", format_vtex_timestamp(moment)
        )

    def test_only_canonical_timestamps(self) -> None:
        with pytest.raises(ValueError, match="canonical"):
            expected_event_id("o-1", "invoiced", "2026-11-25T03:00:00Z")
