"""Hook and feed filters (REFERENCE §4-5): parse and validate a `filter` body, then match orders.

`FromWorkflow` matches listed statuses; `FromOrders` evaluates a JSONata expression (jsonata-python, a
port of the reference implementation) against the Get-order document. The two are mutually exclusive:
mixing their fields is a 409, as the Feed v3 guide says. `disableSingleFire: false` lets an order in
only once after it first matches; `true` fires on every change while it matches.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import jsonata

from bridge.statuses import KNOWN_STATUSES
from simulator.errors import MSG_FILTER_CONFLICT

log = logging.getLogger(__name__)


class FilterError(ValueError):
    """The filter body is invalid; `status` is the HTTP code to answer (400 or 409)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass(frozen=True, slots=True)
class WorkflowFilter:
    statuses: tuple[str, ...]

    def to_json(self) -> dict[str, Any]:
        return {"type": "FromWorkflow", "status": list(self.statuses)}


@dataclass(frozen=True, slots=True)
class OrdersFilter:
    expression: str
    disable_single_fire: bool
    compiled: Any = field(compare=False, repr=False)

    def to_json(self) -> dict[str, Any]:
        return {
            "type": "FromOrders",
            "expression": self.expression,
            "disableSingleFire": self.disable_single_fire,
        }


Filter = WorkflowFilter | OrdersFilter


def all_statuses_filter() -> WorkflowFilter:
    """Return the filter a feed gets when its configuration omits one (all statuses, REFERENCE §4)."""
    return WorkflowFilter(KNOWN_STATUSES)


def parse_filter(raw: object) -> Filter:
    """Validate a `filter` object from a configuration body; raise `FilterError` when it is invalid."""
    if not isinstance(raw, Mapping):
        raise FilterError(400, "filter must be an object")
    kind = raw.get("type")
    if kind == "FromWorkflow":
        if "expression" in raw or "disableSingleFire" in raw:
            raise FilterError(409, MSG_FILTER_CONFLICT)
        statuses = raw.get("status")
        if (
            not isinstance(statuses, list)
            or not statuses
            or not all(isinstance(s, str) and s for s in statuses)
        ):
            raise FilterError(400, "FromWorkflow filter needs a non-empty status list of strings")
        return WorkflowFilter(tuple(dict.fromkeys(statuses)))
    if kind == "FromOrders":
        if "status" in raw:
            raise FilterError(409, MSG_FILTER_CONFLICT)
        expression = raw.get("expression")
        if not isinstance(expression, str) or not expression.strip():
            raise FilterError(400, "FromOrders filter needs a JSONata expression")
        single = raw.get("disableSingleFire", False)
        if not isinstance(single, bool):
            raise FilterError(400, "disableSingleFire must be a boolean")
        try:
            compiled = jsonata.Jsonata(expression)
        except Exception as exc:  # jsonata raises JException (a RuntimeError) on syntax errors
            raise FilterError(400, f"Invalid JSONata expression: {exc}") from exc
        # Orders are plain JSON already; the library's recursive type check costs ~4 ms per order.
        compiled.set_validate_input(False)
        return OrdersFilter(expression, single, compiled)
    raise FilterError(400, "filter.type must be FromWorkflow or FromOrders")


class FilterMatcher:
    """One configured filter plus its single-fire memory (which orders already entered)."""

    def __init__(self, flt: Filter) -> None:
        self.filter = flt
        self._fired: set[str] = set()

    def matches(self, order: Mapping[str, Any]) -> bool:
        """Tell whether this change of `order` (its document after the change) creates an event."""
        flt = self.filter
        if isinstance(flt, WorkflowFilter):
            return order.get("status") in flt.statuses
        try:
            result = flt.compiled.evaluate(order)
        except Exception as exc:  # a runtime error in the expression means "no match", not a crash
            log.debug("filter expression failed", extra={"order_id": order.get("orderId"), "error": str(exc)})
            return False
        if not result:
            return False
        if flt.disable_single_fire:
            return True
        order_id = str(order.get("orderId"))
        if order_id in self._fired:
            return False
        self._fired.add(order_id)
        return True


def statuses_of(flt: Filter) -> Iterable[str]:
    return flt.statuses if isinstance(flt, WorkflowFilter) else ()
