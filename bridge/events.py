"""The event contract shared by the ingress, the feed poller, backfill and the processor.

Two records travel through Kafka, both keyed by OrderId (so the partition, the de-dup state and the
ordering scope are one and the same thing):

* the **input event** on the input topic: the VTEX hook payload as VTEX sent it (PascalCase keys) minus
  `Origin.Key`, plus `event_id`, `received_at`, `source` (hook|feed|backfill) and `account`. The appKey
  is an identity the ingress checks; no consumer needs it, and every copy (input records, dead letters,
  the console) would spread it further, so it is not copied;
* the **downstream record** on a status topic: the same ids, the event's state, the full OMS order and
  the late flag.

`event_id` is a deterministic hash of OrderId + State + LastChange, the triple VTEX tells integrators to
de-duplicate on (REFERENCE.md §5), so a hook, its retries and the same event read from Feed v3 all carry
the same id. Their JSON Schemas live in `schemas/`; tests check that what this module builds validates.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Final, Literal

import orjson

from bridge.timestamps import InvalidTimestamp, canonical_timestamp
from bridge.vtex.order_document import order_json

Source = Literal["hook", "feed", "backfill"]
SOURCES: Final[tuple[str, ...]] = ("hook", "feed", "backfill")

#: Kafka record header names carried on every input and downstream record.
HEADER_EVENT_ID: Final = "event_id"
HEADER_SOURCE: Final = "source"
HEADER_STATE: Final = "state"
#: The VTEX account of a downstream record (also in its value), for consumers that route on headers.
HEADER_ACCOUNT: Final = "account"

NULL_STATE: Final = "null"


class InvalidEvent(ValueError):
    """Raised when a record on the input topic does not follow the contract."""


def normalize_state(state: object) -> str:
    """Return the state as routed and hashed: a JSON null and "" both become "null"."""
    if state is None or state == "":
        return NULL_STATE
    return str(state)


def compute_event_id(order_id: str, state: object, last_change: str) -> str:
    """Return the 32-hex id of the (OrderId, State, LastChange) triple.

    LastChange is canonicalized first so that a hook (`...2550122Z`) and a feed item or backfill that
    writes the same instant differently map to the same id; an unparsable value is hashed as is.
    """
    try:
        change = canonical_timestamp(last_change)
    except InvalidTimestamp:
        change = last_change
    material = "\x1f".join((order_id, normalize_state(state), change)).encode()
    return hashlib.sha256(material).hexdigest()[:32]


def utc_now_iso() -> str:
    """Return the current time as an ISO-8601 UTC string with microseconds."""
    return datetime.now(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


@dataclass(frozen=True, slots=True)
class InputEvent:
    """One VTEX order-status notification as it sits on the input topic."""

    payload: Mapping[str, Any]
    event_id: str
    received_at: str
    source: str
    account: str

    @property
    def order_id(self) -> str:
        return str(self.payload["OrderId"])

    @property
    def state(self) -> str:
        """The routed state ("null" for a null or empty State)."""
        return normalize_state(self.payload.get("State"))

    @property
    def last_state(self) -> str | None:
        value = self.payload.get("LastState")
        return None if value is None else str(value)

    @property
    def last_change(self) -> str:
        return str(self.payload["LastChange"])

    @property
    def current_change(self) -> str | None:
        value = self.payload.get("CurrentChange")
        return None if value is None else str(value)

    @property
    def domain(self) -> str | None:
        value = self.payload.get("Domain")
        return None if value is None else str(value)

    def key(self) -> bytes:
        """Return the Kafka key: the OrderId."""
        return self.order_id.encode()

    def headers(self) -> list[tuple[str, bytes]]:
        return [
            (HEADER_EVENT_ID, self.event_id.encode()),
            (HEADER_SOURCE, self.source.encode()),
            (HEADER_STATE, self.state.encode()),
        ]

    def to_value(self) -> dict[str, Any]:
        value = dict(self.payload)
        value.update(
            event_id=self.event_id,
            received_at=self.received_at,
            source=self.source,
            account=self.account,
        )
        return value

    def encode(self) -> bytes:
        return orjson.dumps(self.to_value())


_META_KEYS: Final = frozenset({"event_id", "received_at", "source", "account"})


def build_input_event(
    payload: Mapping[str, Any],
    *,
    source: Source,
    account: str | None = None,
    received_at: str | None = None,
) -> InputEvent:
    """Return the input event for a validated hook payload (or a feed item turned into one).

    `account` defaults to the payload's `Origin.Account`.
    """
    origin = payload.get("Origin") or {}
    return InputEvent(
        payload=_record_payload(payload),
        event_id=compute_event_id(str(payload["OrderId"]), payload.get("State"), str(payload["LastChange"])),
        received_at=received_at or utc_now_iso(),
        source=source,
        account=account or str(origin.get("Account", "")),
    )


def _record_payload(payload: Mapping[str, Any]) -> dict[str, Any]:
    """Return the payload to record: without the bridge's own keys and without the appKey (`Origin.Key`)."""
    value = {k: v for k, v in payload.items() if k not in _META_KEYS}
    origin = value.get("Origin")
    if isinstance(origin, Mapping) and "Key" in origin:
        value["Origin"] = {k: v for k, v in origin.items() if k != "Key"}
    return value


def decode_input_event(raw: bytes | Mapping[str, Any]) -> InputEvent:
    """Parse a record value from the input topic; raise `InvalidEvent` when it breaks the contract."""
    try:
        value = orjson.loads(raw) if isinstance(raw, (bytes, bytearray, str)) else dict(raw)
    except orjson.JSONDecodeError as exc:
        raise InvalidEvent(f"input record is not JSON: {exc}") from exc
    if not isinstance(value, dict):
        raise InvalidEvent("input record is not a JSON object")
    missing = [k for k in ("OrderId", "LastChange", "event_id", "source") if k not in value]
    if missing:
        raise InvalidEvent(f"input record lacks {', '.join(missing)}")
    if value["source"] not in SOURCES:
        raise InvalidEvent(f"input record has unknown source {value['source']!r}")
    return InputEvent(
        payload={k: v for k, v in value.items() if k not in _META_KEYS},
        event_id=str(value["event_id"]),
        received_at=str(value.get("received_at", "")),
        source=str(value["source"]),
        account=str(value.get("account", "")),
    )


@dataclass(frozen=True, slots=True)
class Lateness:
    """Whether an event arrived after a newer one of the same order was already emitted."""

    late: bool = False
    newer_state: str | None = None
    newer_change: str | None = None


@dataclass(frozen=True, slots=True)
class DownstreamRecord:
    """One enriched event on a status topic."""

    event: InputEvent
    order: Mapping[str, Any]
    route: str
    lateness: Lateness = field(default_factory=Lateness)
    processed_at: str = field(default_factory=utc_now_iso)
    #: 1, 2, 3… per order in emission order, across every status topic (None outside the processor).
    sequence: int | None = None

    def key(self) -> bytes:
        return self.event.key()

    def headers(self) -> list[tuple[str, bytes]]:
        headers = [*self.event.headers(), ("late", b"true" if self.lateness.late else b"false")]
        if self.event.account:
            headers.append((HEADER_ACCOUNT, self.event.account.encode()))
        return headers

    def to_value(self) -> dict[str, Any]:
        event = self.event
        return {
            "event_id": event.event_id,
            "order_id": event.order_id,
            "account": event.account,
            "source": event.source,
            "domain": event.domain,
            "state": event.state,
            "last_state": event.last_state,
            "last_change": event.last_change,
            "current_change": event.current_change,
            "received_at": event.received_at,
            "processed_at": self.processed_at,
            "route": self.route,
            "late": self.lateness.late,
            "newer_state": self.lateness.newer_state,
            "newer_change": self.lateness.newer_change,
            "order_status": self.order.get("status"),
            "order_sequence": self.sequence,
            "order": order_json(self.order),
        }

    def encode(self) -> bytes:
        return orjson.dumps(self.to_value())


def decode_downstream_record(raw: bytes) -> dict[str, Any]:
    """Parse a downstream record value (consumers and tests use it)."""
    value = orjson.loads(raw)
    if not isinstance(value, dict) or "event_id" not in value or "order" not in value:
        raise InvalidEvent("downstream record lacks event_id or order")
    return value
