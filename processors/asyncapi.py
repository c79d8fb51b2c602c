"""Render the AsyncAPI 3.0 document of the downstream topics from the routing and the JSON Schemas.

Other teams generate consumers from it, so it must never drift from what the processor writes: it is
built from the same `Router` the worker uses, `schemas/asyncapi.json` is its committed rendering for
the default settings, and a test compares the two (`vtex-bridge asyncapi > schemas/asyncapi.json`
refreshes it).
"""

from __future__ import annotations

from typing import Any

from bridge import __version__
from bridge.events import HEADER_ACCOUNT, HEADER_EVENT_ID, HEADER_SOURCE, HEADER_STATE
from bridge.settings import Settings
from bridge.tracing import TRACEPARENT, TRACESTATE
from processors.records import HEADER_FOLLOWS_DEAD_LETTER
from processors.routing import router_for

GUARANTEES = (
    "Records are keyed by OrderId: all records of one order are in one partition of each topic, in the "
    "order the bridge received them. Each record carries a deterministic `event_id` (OrderId + State + "
    "LastChange); the bridge emits each event once, and consumers may de-duplicate on it as well. "
    "Records are written in Kafka transactions: consume with `isolation.level=read_committed`. An event "
    "older than one already emitted for its order is still emitted, with `late: true` and the newer "
    "state named in `newer_state`, so consumers that keep order state never move backwards."
)


def _channel_id(suffix: str) -> str:
    return f"status-{suffix}"


def render(settings: Settings) -> dict[str, Any]:
    """Return the AsyncAPI document for the topics `settings` route to."""
    router = router_for(settings)
    channels: dict[str, Any] = {}
    operations: dict[str, Any] = {}
    for topic in router.topics():
        prefix = next(p for p in router.prefixes() if topic.startswith(p))
        suffix = topic.removeprefix(prefix)
        # With per-account topics a channel's id names the account's prefix too.
        key = f"{prefix.rstrip('.')}.{suffix}" if router.per_account else suffix
        channel = _channel_id(key)
        channels[channel] = {
            "address": topic,
            "description": (
                'Events whose state is unknown, empty or "null".'
                if suffix == "unknown"
                else f"Order notifications routed to `{suffix}`."
            ),
            "messages": {"orderEvent": {"$ref": "#/components/messages/orderEvent"}},
        }
        operations[f"receive-{key}"] = {
            "action": "receive",
            "channel": {"$ref": f"#/channels/{channel}"},
            "messages": [{"$ref": f"#/channels/{channel}/messages/orderEvent"}],
        }
    return {
        "asyncapi": "3.0.0",
        "info": {
            "title": "vtex-kafka-bridge downstream topics",
            "version": __version__,
            "description": GUARANTEES,
        },
        "defaultContentType": "application/json",
        "channels": channels,
        "operations": operations,
        "components": {
            "messages": {
                "orderEvent": {
                    "name": "orderEvent",
                    "title": "An enriched VTEX order notification",
                    "payload": {"$ref": "downstream-event.schema.json"},
                    "headers": {
                        "type": "object",
                        "properties": {
                            HEADER_EVENT_ID: {
                                "type": "string",
                                "description": "Same as the value's event_id.",
                            },
                            HEADER_SOURCE: {"enum": ["hook", "feed", "backfill"]},
                            HEADER_STATE: {"type": "string", "description": "The event's routed state."},
                            "late": {"enum": ["true", "false"]},
                            HEADER_ACCOUNT: {
                                "type": "string",
                                "description": "Same as the value's account: the VTEX account the "
                                "order belongs to.",
                            },
                            HEADER_FOLLOWS_DEAD_LETTER: {
                                "type": "string",
                                "description": "Only on an order's first record after one of its events "
                                "was dead-lettered: that event's event_id (the dead-letter topic holds it "
                                "with its reason).",
                            },
                            TRACEPARENT: {
                                "type": "string",
                                "description": "W3C trace context of the bridge's span that wrote the "
                                "record (only when the bridge traces, docs/tracing.md): a consumer's span "
                                "continues the trace of the VTEX notification.",
                            },
                            TRACESTATE: {
                                "type": "string",
                                "description": "W3C trace state accompanying `traceparent`, when any.",
                            },
                        },
                    },
                    "bindings": {
                        "kafka": {
                            "key": {"type": "string", "description": "The VTEX OrderId."},
                            "bindingVersion": "0.5.0",
                        }
                    },
                }
            }
        },
    }
