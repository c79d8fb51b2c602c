"""What the hook sender records per notification, so tests can compare VTEX's view with Kafka's."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from simulator.state import Notification

Outcome = Literal["pending", "accepted", "dropped"]


@dataclass(slots=True)
class DeliveryRecord:
    """One notification VTEX tried to deliver (a duplicate re-send is a record of its own)."""

    seq: int
    notification: Notification
    event_id: str
    duplicate: bool = False
    attempts: int = 0
    outcome: Outcome = "pending"
    #: Result of each attempt: the HTTP status as text, "timeout", "connection-error" or "injected-failure".
    results: list[str] = field(default_factory=list)
    first_attempt_at: float | None = None
    finished_at: float | None = None

    @property
    def payload(self) -> dict[str, Any]:
        return self.notification.payload

    def to_json(self) -> dict[str, Any]:
        return {
            "seq": self.seq,
            "event_id": self.event_id,
            "app_key": self.notification.app_key,
            "payload": self.payload,
            "duplicate": self.duplicate,
            "attempts": self.attempts,
            "outcome": self.outcome,
            "results": list(self.results),
        }


@dataclass(slots=True)
class DeliveryTotals:
    """Running totals over every notification ever recorded, kept as they happen.

    The records themselves live in a bounded ring (`SimConfig.delivery_records`), so `stats()` and the
    metrics read these instead of walking the records: their cost does not grow with history.
    """

    notifications: int = 0
    sent: int = 0
    accepted: int = 0
    dropped: int = 0
    retried: int = 0
    duplicates: int = 0
    #: Distinct events accepted: non-duplicate notifications that ended accepted (a duplicate re-sends an
    #: event that was accepted already).
    accepted_events: int = 0

    @property
    def pending(self) -> int:
        return self.notifications - self.accepted - self.dropped


@dataclass(frozen=True, slots=True)
class AcceptedEvents:
    """The events the receiver accepted at least once: one payload per event id, in acceptance order."""

    payloads: tuple[dict[str, Any], ...]
    event_ids: frozenset[str]
