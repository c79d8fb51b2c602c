"""The filter options shared by `hook set|ensure` and `feed set`, and the filter they describe.

One place for the option names, the filter they build (checked like VTEX would: a JSONata syntax error
would make VTEX match nothing, silently) and the default when none is given: every change, because a
FromWorkflow list cannot name every state VTEX notifies.
"""

from __future__ import annotations

import argparse
import sys

from bridge.settings import ControlSettings
from bridge.vtex.config_models import (
    Filter,
    OrdersFilter,
    WorkflowFilter,
    build_filter,
    status_warnings,
)


def add_filter_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the filter options shared by `hook set|ensure` and `feed set`."""
    group = parser.add_argument_group("filter (FromWorkflow: --status; FromOrders: --expression)")
    group.add_argument(
        "--status",
        action="append",
        default=[],
        metavar="STATUS[,STATUS]",
        help="FromWorkflow status to notify (repeatable or comma-separated)",
    )
    group.add_argument("--expression", help="FromOrders JSONata expression evaluated on the order JSON")
    group.add_argument(
        "--disable-single-fire",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="FromOrders: fire on every change while the order matches (default: once)",
    )
    group.add_argument(
        "--type", dest="filter_type", choices=("FromWorkflow", "FromOrders"), help="filter type (inferred)"
    )


def filter_from_args(args: argparse.Namespace, *, for_hook: bool, fallback: Filter | None) -> Filter:
    """Return the filter the options describe (or `fallback`), warning about unlikely statuses."""
    from bridge.expressions import compile_expression

    statuses = [s for value in args.status for s in value.split(",")]
    given = statuses or args.expression is not None or args.disable_single_fire is not None
    if not given and args.filter_type is None and fallback is not None:
        chosen = fallback
    else:
        chosen = build_filter(
            filter_type=args.filter_type,
            statuses=statuses,
            expression=args.expression,
            disable_single_fire=args.disable_single_fire,
        )
    if isinstance(chosen, OrdersFilter):
        compile_expression(chosen.expression)  # a syntax error would make VTEX match nothing, silently
    else:
        for warning in status_warnings(chosen.statuses, for_hook=for_hook):
            print(f"warning: {warning}", file=sys.stderr)
    return chosen


def default_hook_filter(settings: ControlSettings) -> Filter:
    """Return the filter of the settings: the expression, else the statuses, else every change.

    Every change (FromOrders `$exists(orderId)`, `disableSingleFire`) is the default because a
    FromWorkflow list cannot name every state VTEX notifies (the null state, `payment-denied`,
    undocumented statuses): those would never reach the bridge."""
    from bridge.vtex.filter_scope import EVERY_CHANGE

    if settings.control_hook_expression:
        return OrdersFilter(settings.control_hook_expression, settings.control_hook_disable_single_fire)
    statuses = [s.strip() for s in settings.control_hook_statuses.split(",") if s.strip()]
    if not statuses:
        return EVERY_CHANGE
    return WorkflowFilter(tuple(dict.fromkeys(statuses)))
