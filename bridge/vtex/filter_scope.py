"""What a hook filter notifies, and whether replacing one filter by another would notify less.

A hook whose filter is replaced by a narrower one stops notifying some changes without any error:
VTEX just never sends them, although the bridge has status topics waiting for them. The widest filter
is FromOrders `$exists(orderId)` with `disableSingleFire: true`: every change of every order, including
the states a FromWorkflow list cannot name (the null state of an incomplete order, `payment-denied` and
statuses VTEX does not document), which is why it is the bridge's default. `narrowing(existing, desired)`
says what would stop being notified, so `hook set|ensure` can show it and refuse unless told to
replace the filter.

Only what can be decided from the filters themselves is claimed: a JSONata expression is not compared
with another one, so replacing one expression by a different one (other than the every-change one)
counts as possibly narrowing.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final

from bridge.statuses import KNOWN_STATUSES
from bridge.vtex.config_models import Filter, OrdersFilter, WorkflowFilter

#: FromOrders expressions true for every order (compared without whitespace).
EVERY_ORDER_EXPRESSIONS: Final = frozenset({"$exists(orderId)", "$exists(orderId)=true", "true"})
#: The bridge's default hook and feed filter: every change of every order.
EVERY_CHANGE: Final = OrdersFilter("$exists(orderId)", disable_single_fire=True)
#: States no FromWorkflow list can name, yet VTEX notifies on an every-change filter.
UNNAMEABLE: Final = "the null state of incomplete orders and statuses VTEX does not document"
#: How many statuses a filter's description names before it says "and N more" (what a narrowing
#: loses is always named in full).
SHOWN_STATUSES: Final = 8


def _normal(expression: str) -> str:
    return re.sub(r"\s+", "", expression)


def is_every_change(flt: Filter) -> bool:
    """Return True when `flt` notifies every change of every order."""
    return (
        isinstance(flt, OrdersFilter)
        and flt.disable_single_fire
        and _normal(flt.expression) in EVERY_ORDER_EXPRESSIONS
    )


def _names(statuses: list[str], limit: int | None = None) -> str:
    shown = ", ".join(statuses[:limit])
    more = len(statuses) - limit if limit is not None else 0
    return f"{shown} and {more} more" if more > 0 else shown


def describe(flt: Filter) -> str:
    """Return one line saying what `flt` notifies."""
    if is_every_change(flt):
        assert isinstance(flt, OrdersFilter)
        return f"FromOrders `{flt.expression}`, every change of every order"
    if isinstance(flt, OrdersFilter):
        when = (
            "on every change while it holds"
            if flt.disable_single_fire
            else "once per order, when it first holds"
        )
        return f"FromOrders `{flt.expression}`, {when}"
    return f"FromWorkflow, {len(flt.statuses)} status(es): {_names(list(flt.statuses), SHOWN_STATUSES)}"


@dataclass(frozen=True, slots=True)
class Narrowing:
    """The changes an existing filter notifies that the desired one would not (or might not)."""

    existing: Filter
    desired: Filter
    #: What would stop being notified, one phrase.
    lost: str

    def lines(self) -> list[str]:
        """Return the difference as the CLI prints it: now, desired, no longer notified."""
        return [
            f"  now:     {describe(self.existing)}",
            f"  desired: {describe(self.desired)}",
            f"  no longer notified: {self.lost}",
        ]


def narrowing(existing: Filter, desired: Filter) -> Narrowing | None:
    """Return what replacing `existing` by `desired` would stop notifying, None when nothing would."""
    if existing == desired or is_every_change(desired):
        return None
    if isinstance(existing, WorkflowFilter) and isinstance(desired, WorkflowFilter):
        lost = [s for s in existing.statuses if s not in set(desired.statuses)]
        return Narrowing(existing, desired, f"status(es) {_names(lost)}") if lost else None
    if (
        isinstance(existing, OrdersFilter)
        and isinstance(desired, OrdersFilter)
        and _normal(existing.expression) == _normal(desired.expression)
    ):
        if existing.disable_single_fire and not desired.disable_single_fire:
            return Narrowing(existing, desired, "every change after an order's first match")
        return None
    if is_every_change(existing):
        if isinstance(desired, WorkflowFilter):
            named = set(desired.statuses)
            others = [s for s in KNOWN_STATUSES if s not in named]
            known = f"the known status(es) {_names(others)}, " if others else ""
            return Narrowing(existing, desired, f"{known}{UNNAMEABLE}")
        return Narrowing(existing, desired, "every change for which the new expression does not hold")
    return Narrowing(
        existing, desired, "possibly some changes: the two filters cannot be compared, check them"
    )
