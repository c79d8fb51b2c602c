"""The records the processor writes: downstream (enriched) records and dead letters.

`Outgoing` is a Kafka record not yet sent; the transactional writer sends a batch of them atomically
with the de-dup state. Dead letters carry the original input value untouched, so `vtex-bridge replay`
can put it back on the input topic byte for byte.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson

from bridge.events import HEADER_EVENT_ID, DownstreamRecord, InputEvent, Lateness, utc_now_iso
from processors.routing import Route

HEADER_REASON = "dead_letter_reason"
#: On an order's first record after one of its events was dead-lettered: that event's id.
HEADER_FOLLOWS_DEAD_LETTER = "follows_dead_letter"


@dataclass(frozen=True, slots=True)
class Outgoing:
    topic: str
    key: bytes | None
    value: bytes | None
    headers: list[tuple[str, bytes]] = field(default_factory=list)
    partition: int | None = None


def downstream(
    event: InputEvent,
    order: Mapping[str, Any],
    route: Route,
    lateness: Lateness,
    sequence: int | None = None,
    trace_headers: Sequence[tuple[str, bytes]] = (),
    follows_dead_letter: str | None = None,
) -> Outgoing:
    """Return the enriched record of `event` for its route's topic, keyed by OrderId.

    `trace_headers` (`traceparent`/`tracestate`, only when tracing is on) let consumers continue the
    event's trace. `follows_dead_letter`: the id of the order's event dead-lettered since its previous
    record (the `follows_dead_letter` header says which event of the sequence is missing).
    """
    record = DownstreamRecord(
        event=event, order=order, route=route.name, lateness=lateness, sequence=sequence
    )
    headers = record.headers()
    if follows_dead_letter is not None:
        headers.append((HEADER_FOLLOWS_DEAD_LETTER, follows_dead_letter.encode()))
    if trace_headers:
        headers.extend(trace_headers)
    return Outgoing(route.topic, record.key(), record.encode(), headers)


def dead_letter(
    *,
    topic: str,
    input_topic: str,
    partition: int,
    offset: int,
    key: bytes | None,
    raw: bytes,
    reason: str,
    detail: str,
    event: InputEvent | None,
    trace_headers: Sequence[tuple[str, bytes]] = (),
    facts: Mapping[str, Any] | None = None,
) -> Outgoing:
    """Return the dead letter of one input record, keeping its value for replay.

    `facts` adds what the reason needs (e.g. `attempts`/`last_error` of a retry budget spent, `size`/
    `limit` of a record too large for its topic); never the order document.
    """
    value: dict[str, Any] = {
        "reason": reason,
        "detail": detail,
        "event_id": event.event_id if event else None,
        "order_id": event.order_id if event else None,
        "state": event.state if event else None,
        "input_topic": input_topic,
        "partition": partition,
        "offset": offset,
        "dead_lettered_at": utc_now_iso(),
    }
    if facts:
        value.update({k: v for k, v in facts.items() if k not in value})
    try:
        value["event"] = raw.decode()
    except UnicodeDecodeError:
        value["event_b64"] = base64.b64encode(raw).decode()
    headers = [(HEADER_REASON, reason.encode())]
    if event is not None:
        headers.append((HEADER_EVENT_ID, event.event_id.encode()))
    headers.extend(trace_headers)
    return Outgoing(topic, key, orjson.dumps(value), headers)


def original_value(dead_letter_value: bytes) -> bytes:
    """Return the input value a dead letter carries (inverse of `dead_letter`)."""
    value = orjson.loads(dead_letter_value)
    if "event" in value:
        return str(value["event"]).encode()
    return base64.b64decode(value["event_b64"])
