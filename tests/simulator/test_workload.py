"""Contract tests of the seeded workload generator shared by the hook sender and benchmarks."""

from __future__ import annotations

import itertools
import re

import pytest

from simulator.workload import (
    CANCELLED,
    HAPPY,
    INVOICE_AFTER_CANCELLATION_DENY,
    KINDS,
    PAYMENT_DENIED,
    UNDOCUMENTED_STATUSES,
    generate_workload,
)


class TestDeterminism:
    """The same seed always gives the same orders, lifecycles and timestamps; another seed does not."""

    def test_same_seed_same_workload(self) -> None:
        assert generate_workload(7, 50) == generate_workload(7, 50)

    def test_other_seed_other_workload(self) -> None:
        first = [lc.order_id for lc in generate_workload(7, 20).lifecycles]
        second = [lc.order_id for lc in generate_workload(8, 20).lifecycles]
        assert first != second


class TestOrderIds:
    """Order ids look like VTEX's `{13 digits}-01` and ids and sequences are unique."""

    def test_shape_and_uniqueness(self) -> None:
        workload = generate_workload(3, 500)
        ids = [lc.order_id for lc in workload.lifecycles]
        assert all(re.fullmatch(r"\d{13}-01", i) for i in ids)
        assert len(ids) == len(set(ids))
        assert len(ids) == len({i[7:13] for i in ids})


class TestLifecycles:
    """Each kind follows its documented status sequence; transitions interleave in time order."""

    def test_every_kind_has_its_sequence(self) -> None:
        for kind in KINDS:
            lifecycle = generate_workload(1, 1, mix={kind: 1.0}).lifecycles[0]
            assert kind == lifecycle.kind
            states = lifecycle.states
            if kind == "happy":
                assert HAPPY == states
            elif kind == "payment_denied":
                assert PAYMENT_DENIED == states
            elif kind == "cancelled":
                assert CANCELLED == states
            elif kind == "invoice_after_cancellation_deny":
                assert INVOICE_AFTER_CANCELLATION_DENY == states
            elif kind == "unknown_status":
                assert 1 == len([s for s in states if s in UNDOCUMENTED_STATUSES])
            else:
                assert (None, *HAPPY) == states

    def test_last_state_chains_and_time_increases(self) -> None:
        for lifecycle in generate_workload(5, 30).lifecycles:
            transitions = lifecycle.transitions
            assert transitions[0].last_state is None
            for before, after in itertools.pairwise(transitions):
                assert before.state == after.last_state
                assert before.at < after.at

    def test_global_order_keeps_per_order_order(self) -> None:
        workload = generate_workload(9, 40)
        seen: dict[str, int] = {}
        ordered = workload.transitions()
        assert len(workload) == len(ordered)
        for transition in ordered:
            assert seen.get(transition.order_id, -1) + 1 == transition.step
            seen[transition.order_id] = transition.step
        assert sorted(t.at for t in ordered) == [t.at for t in ordered]

    def test_default_mix_covers_every_kind(self) -> None:
        kinds = {lc.kind for lc in generate_workload(11, 400).lifecycles}
        assert set(KINDS) == kinds


class TestInvalidArguments:
    """Bad mixes and counts are refused with a clear ValueError."""

    @pytest.mark.parametrize("mix", [{"nope": 1.0}, {"happy": 0.0}])
    def test_bad_mix(self, mix: dict[str, float]) -> None:
        with pytest.raises(ValueError):
            generate_workload(1, 3, mix=mix)

    def test_negative_orders(self) -> None:
        with pytest.raises(ValueError):
            generate_workload(1, -1)
