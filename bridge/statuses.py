"""The VTEX order workflow statuses the bridge knows (REFERENCE.md section 7).

One list shared by the ingress (nothing: it accepts any state), the processor's router, the hook/feed
CLI's validation and the simulator's lifecycles, so that a status added here is known everywhere.
"""

from __future__ import annotations

from typing import Final

#: Every status string VTEX documents in its status table, filter lists or examples.
KNOWN_STATUSES: Final[tuple[str, ...]] = (
    "order-created",
    "order-completed",
    "on-order-completed",
    "on-order-completed-ffm",
    "waiting-for-authorization",
    "waiting-for-order-authorization",
    "order-accepted",
    "payment-pending",
    "approve-payment",
    "payment-approved",
    "payment-denied",
    "window-to-change-payment",
    "window-to-change-seller",
    "waiting-for-mkt-authorization",
    "waiting-seller-handling",
    "waiting-ffmt-authorization",
    "waiting-for-manual-authorization",
    "waiting-for-fulfillment",
    "authorize-fulfillment",
    "window-to-cancel",
    "ready-for-handling",
    "start-handling",
    "handling",
    "ready-for-invoicing",
    "invoice",
    "invoiced",
    "invoice-after-cancellation-deny",
    "replaced",
    "request-cancel",
    "cancellation-requested",
    "waiting-for-seller-decision",
    "order-create-error",
    "order-creation-error",
    "cancel",
    "canceled",
)

#: Statuses accepted in a hook FromWorkflow filter (S4's list, 23 values).
HOOK_FILTER_STATUSES: Final[frozenset[str]] = frozenset(
    {
        "order-created",
        "on-order-completed",
        "waiting-for-order-authorization",
        "order-accepted",
        "payment-pending",
        "approve-payment",
        "payment-approved",
        "authorize-fulfillment",
        "window-to-cancel",
        "ready-for-handling",
        "start-handling",
        "handling",
        "invoice",
        "invoiced",
        "invoice-after-cancellation-deny",
        "replaced",
        "request-cancel",
        "cancellation-requested",
        "waiting-for-seller-decision",
        "order-create-error",
        "order-creation-error",
        "cancel",
        "canceled",
    }
)

#: The routing suffix for a state the bridge does not know, including "" and "null".
UNKNOWN_STATUS: Final[str] = "unknown"

_KNOWN: Final[frozenset[str]] = frozenset(KNOWN_STATUSES)


def is_known(state: str | None) -> bool:
    """Tell whether `state` is a documented VTEX status ("null" and "" are not)."""
    return state in _KNOWN
