"""`bridge.vtex.filter_scope`: which filter replacements would notify fewer changes, and what they lose."""

from __future__ import annotations

import pytest

from bridge.statuses import HOOK_FILTER_STATUSES
from bridge.vtex.config_models import Filter, OrdersFilter, WorkflowFilter
from bridge.vtex.filter_scope import EVERY_CHANGE, describe, is_every_change, narrowing

EVERY_HOOK_STATUS = WorkflowFilter(tuple(sorted(HOOK_FILTER_STATUSES)))
INVOICED = OrdersFilter('status = "invoiced"', disable_single_fire=True)


class TestNarrowing:
    """Every change is the widest filter; a status list or an expression in its place narrows it."""

    def test_every_change_replaced_by_every_hook_status(self) -> None:
        found = narrowing(EVERY_CHANGE, EVERY_HOOK_STATUS)
        assert found is not None
        assert (
            "payment-denied" in found.lost
            and "null state" in found.lost
            and "does not document" in found.lost
        )
        now, desired, lost = found.lines()
        assert "every change of every order" in now and "23 status(es)" in desired
        assert lost.startswith("  no longer notified: the known status(es) ")

    @pytest.mark.parametrize(
        ("existing", "desired", "lost"),
        [
            (WorkflowFilter(("handling", "invoiced")), WorkflowFilter(("invoiced",)), "status(es) handling"),
            (EVERY_CHANGE, INVOICED, "does not hold"),
            (INVOICED, OrdersFilter('status = "invoiced"'), "after an order's first match"),
            (WorkflowFilter(("handling",)), INVOICED, "cannot be compared"),
            (INVOICED, OrdersFilter('status = "canceled"', True), "cannot be compared"),
        ],
    )
    def test_narrower(self, existing: Filter, desired: Filter, lost: str) -> None:
        found = narrowing(existing, desired)
        assert found is not None and lost in found.lost

    @pytest.mark.parametrize(
        ("existing", "desired"),
        [
            (WorkflowFilter(("invoiced",)), WorkflowFilter(("invoiced", "handling"))),
            (EVERY_HOOK_STATUS, EVERY_CHANGE),
            (INVOICED, EVERY_CHANGE),
            (OrdersFilter('status = "invoiced"'), INVOICED),
            (INVOICED, OrdersFilter('status  =  "invoiced"', True)),
            (EVERY_CHANGE, OrdersFilter("true", disable_single_fire=True)),
        ],
    )
    def test_not_narrower(self, existing: Filter, desired: Filter) -> None:
        assert narrowing(existing, desired) is None

    def test_every_change_needs_every_fire(self) -> None:
        assert is_every_change(EVERY_CHANGE)
        assert not is_every_change(OrdersFilter("$exists(orderId)", disable_single_fire=False))
        assert "once per order" in describe(OrdersFilter("$exists(orderId)"))
