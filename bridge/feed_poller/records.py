"""What a feed item becomes: the same input record the ingress would produce, or a dead letter.

An item that can never become an event (no OrderId, no LastChange, breaks the hook schema) goes to the
dead-letter topic so it cannot block the queue forever. Dead letters follow the processor's shape
(`processors.records.dead_letter`: same header, same keys, the original value under "event"), so
`vtex-bridge replay` and operators read one format.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Final

import orjson

from bridge.events import build_input_event, utc_now_iso
from bridge.feed_poller.config import PollerConfig
from bridge.feed_poller.convert import to_hook_payload
from bridge.validation import SchemaViolation, validate
from bridge.vtex.config_models import FeedItem

#: The poller's logger name, kept for every module of the poll path (operators filter on it).
log = logging.getLogger("bridge.feed_poller.poller")

HEADER_REASON: Final = "dead_letter_reason"
REASON_UNUSABLE: Final = "unusable_feed_item"


@dataclass(frozen=True, slots=True)
class FeedRecord:
    """One record to produce for a feed item: its input record, or its dead letter (`event_id` None)."""

    item: FeedItem
    key: bytes
    value: bytes
    headers: list[tuple[str, bytes]]
    topic: str
    event_id: str | None


def feed_record(item: FeedItem, config: PollerConfig, input_topic: str) -> FeedRecord:
    """Return the input record of `item` (to `input_topic`), or its dead letter when it cannot be one."""
    problem = item.problem
    if problem is None:
        payload = to_hook_payload(item, account=config.account, app_key=config.app_key)
        try:
            validate("hook-notification", payload)
        except SchemaViolation as exc:
            problem = f"breaks the hook schema at {exc.path}: {exc}"
        else:
            event = build_input_event(payload, source="feed", account=config.account)
            return FeedRecord(item, event.key(), event.encode(), event.headers(), input_topic, event.event_id)
    log.error(
        "unusable feed item dead-lettered",
        extra={
            "account": config.account,
            "order_id": item.order_id,
            "feed_event_id": item.event_id,
            "reason": problem,
        },
    )
    original = {k: v for k, v in item.raw.items() if k != "handle"}  # a handle is a credential
    value = orjson.dumps(
        {
            "reason": REASON_UNUSABLE,
            "detail": problem,
            "event_id": None,
            "order_id": item.order_id or None,
            "state": item.state,
            "input_topic": None,
            "partition": None,
            "offset": None,
            "dead_lettered_at": utc_now_iso(),
            "source": "feed",
            "account": config.account,
            "event": orjson.dumps(original).decode(),
        }
    )
    key = (item.order_id or item.event_id or "unknown").encode()
    headers = [(HEADER_REASON, REASON_UNUSABLE.encode()), ("source", b"feed")]
    return FeedRecord(item, key, value, headers, config.dead_letter_topic, None)
