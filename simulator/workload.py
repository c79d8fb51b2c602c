"""Seeded order lifecycles: which orders exist and which statuses each goes through, and when.

One generator serves the hook sender, the feed, the `make run` demo and the benchmarks, so that a
seed names the same traffic everywhere. A workload is plain data (no I/O): a tuple of per-order
lifecycles, each a sequence of transitions with timestamps, and `transitions()` interleaves them in
global time order (events of one order always stay in lifecycle order).

Lifecycle kinds follow REFERENCE.md §7; the exact sequences are our inference of typical flows.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Final

HAPPY: Final = (
    "order-created",
    "on-order-completed",
    "payment-pending",
    "payment-approved",
    "window-to-cancel",
    "ready-for-handling",
    "start-handling",
    "handling",
    "invoice",
    "invoiced",
)
PAYMENT_DENIED: Final = (
    "order-created",
    "on-order-completed",
    "payment-pending",
    "payment-denied",
    "cancel",
    "canceled",
)
CANCELLED: Final = (
    "order-created",
    "on-order-completed",
    "payment-pending",
    "payment-approved",
    "window-to-cancel",
    "request-cancel",
    "cancel",
    "canceled",
)
INVOICE_AFTER_CANCELLATION_DENY: Final = (
    "order-created",
    "on-order-completed",
    "payment-pending",
    "payment-approved",
    "window-to-cancel",
    "ready-for-handling",
    "start-handling",
    "handling",
    "request-cancel",
    "waiting-for-seller-decision",
    "invoice-after-cancellation-deny",
    "invoiced",
)
#: Invented status strings that VTEX does not document: the bridge must route them, not crash.
UNDOCUMENTED_STATUSES: Final = ("waiting-for-payment-review", "shipping-on-hold")

KINDS: Final = (
    "happy",
    "payment_denied",
    "cancelled",
    "invoice_after_cancellation_deny",
    "unknown_status",
    "null_state",
)
DEFAULT_MIX: Final[Mapping[str, float]] = {
    "happy": 0.70,
    "payment_denied": 0.08,
    "cancelled": 0.10,
    "invoice_after_cancellation_deny": 0.04,
    "unknown_status": 0.04,
    "null_state": 0.04,
}
#: Fixed default start, so `generate_workload(seed, n)` is fully reproducible.
DEFAULT_START: Final = datetime(2026, 1, 5, 12, 0, 0, tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class Transition:
    """One status change of one order; `state` None is VTEX's "null" status (incomplete order)."""

    order_id: str
    state: str | None
    last_state: str | None
    at: datetime
    step: int
    order_index: int


@dataclass(frozen=True, slots=True)
class OrderLifecycle:
    order_id: str
    index: int
    kind: str
    transitions: tuple[Transition, ...]

    @property
    def states(self) -> tuple[str | None, ...]:
        return tuple(t.state for t in self.transitions)

    @property
    def created_at(self) -> datetime:
        return self.transitions[0].at


@dataclass(frozen=True, slots=True)
class Workload:
    seed: int
    lifecycles: tuple[OrderLifecycle, ...]

    def transitions(self) -> list[Transition]:
        """Return every transition in global time order (ties keep order index, then step)."""
        every = [t for lc in self.lifecycles for t in lc.transitions]
        return sorted(every, key=lambda t: (t.at, t.order_index, t.step))

    def __len__(self) -> int:
        return sum(len(lc.transitions) for lc in self.lifecycles)


def states_for(kind: str, rng: random.Random) -> tuple[str | None, ...]:
    """Return the status sequence of one lifecycle kind."""
    if kind == "happy":
        return HAPPY
    if kind == "payment_denied":
        return PAYMENT_DENIED
    if kind == "cancelled":
        return CANCELLED
    if kind == "invoice_after_cancellation_deny":
        return INVOICE_AFTER_CANCELLATION_DENY
    if kind == "unknown_status":
        position = HAPPY.index("payment-approved") + 1
        return (*HAPPY[:position], rng.choice(UNDOCUMENTED_STATUSES), *HAPPY[position:])
    if kind == "null_state":
        # An order first seen without status (the "Status Null" the docs warn about), then normal.
        return (None, *HAPPY)
    raise ValueError(f"unknown lifecycle kind {kind!r}; expected one of {', '.join(KINDS)}")


def order_id_for(rng: random.Random, taken: set[str]) -> str:
    """Return a fresh `{13 digits}-01` id whose sequence (last 6 digits) is unique too."""
    for _ in range(1000):
        group = str(rng.randrange(10**12, 10**13))
        if group[-6:] not in taken:
            taken.add(group[-6:])
            return f"{group}-01"
    raise RuntimeError("could not draw a unique order id")  # pragma: no cover - 10^6 sequences


def generate_workload(
    seed: int,
    orders: int,
    *,
    mix: Mapping[str, float] | None = None,
    start: datetime = DEFAULT_START,
    mean_interarrival_s: float = 2.0,
    step_s: tuple[float, float] = (5.0, 120.0),
) -> Workload:
    """Return `orders` seeded lifecycles; the same arguments always give the same workload."""
    if orders < 0:
        raise ValueError("orders must not be negative")
    weights = dict(mix or DEFAULT_MIX)
    unknown = set(weights) - set(KINDS)
    if unknown:
        raise ValueError(f"unknown lifecycle kinds {sorted(unknown)}")
    kinds = [k for k in KINDS if weights.get(k, 0.0) > 0]
    if not kinds and orders:
        raise ValueError("the mix gives no lifecycle kind a positive weight")
    rng = random.Random(seed)
    taken: set[str] = set()
    created = start
    lifecycles: list[OrderLifecycle] = []
    for index in range(orders):
        created += timedelta(seconds=rng.expovariate(1.0 / mean_interarrival_s))
        kind = rng.choices(kinds, weights=[weights[k] for k in kinds])[0]
        order_id = order_id_for(rng, taken)
        at = created
        transitions: list[Transition] = []
        previous: str | None = None
        for step, state in enumerate(states_for(kind, rng)):
            if step:
                at += timedelta(seconds=rng.uniform(*step_s), microseconds=rng.randrange(1, 10**6))
            transitions.append(Transition(order_id, state, previous, at, step, index))
            previous = state
        lifecycles.append(OrderLifecycle(order_id, index, kind, tuple(transitions)))
    return Workload(seed, tuple(lifecycles))
