"""Spans of the ingress, used only when tracing is on (`bridge.tracing`; docs/tracing.md).

`traced_hook` wraps the hook handler in a server span (continuing the request's own `traceparent`
only when the request carries a valid secret header: an unauthenticated caller's sampled flag must not
force tracing on, nor its ids end up in our traces); `send_traced` produces the input record under a
producer span whose context rides in the record headers, which is how the worker's spans join the same
trace. When tracing is off the app registers the plain handler and the handler calls the producer
directly: no span, no header, no cost.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import orjson
from aiohttp import web
from aiokafka.structs import RecordMetadata
from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.trace import SpanKind, Status, StatusCode

from bridge.events import InputEvent
from bridge.ingress.state import STATE, IngressState, header_check

Handler = Callable[[web.Request], Awaitable[web.Response]]


def traced_hook(handler: Handler, route: str) -> Handler:
    """Return `handler` inside a `POST <route>` server span that records the answer and its outcome."""
    name = f"POST {route}"

    async def handle(request: web.Request) -> web.Response:
        tracing = request.app[STATE].tracing
        attributes = {"http.request.method": "POST", "http.route": route, "url.path": request.path}
        # Untrusted until authenticated: without a valid secret header the span is a new root, which
        # the configured sampler alone decides on.
        parent = tracing.from_http(request.headers) if header_check(request).ok else Context()
        with tracing.tracer.start_as_current_span(
            name, context=parent, kind=SpanKind.SERVER, attributes=attributes
        ) as span:
            response = await handler(request)
            if not span.is_recording():  # sampled out: only its context travels on
                return response
            span.set_attribute("http.response.status_code", response.status)
            outcome = _outcome(response)
            if outcome:
                span.set_attribute("bridge.outcome", outcome)
            if response.status >= 500:  # a 4xx is the sender's fault, not a failure of this span
                span.set_status(Status(StatusCode.ERROR, outcome or str(response.status)))
            return response

    return handle


async def send_traced(state: IngressState, event: InputEvent, timeout: float) -> RecordMetadata:
    """Produce `event` to the input topic under a producer span; name the event on the request's span."""
    tracing = state.tracing
    # The current span is the request's (`traced_hook`), in this task's context.
    request_span = trace.get_current_span()
    if request_span.is_recording():
        request_span.set_attributes(
            {
                "vtex.order_id": event.order_id,
                "vtex.state": event.state,
                "vtex.event_id": event.event_id,
                "vtex.account": event.account,
            }
        )
    record: RecordMetadata = await tracing.send(
        state.producer.send,
        state.input_topic,
        event.key(),
        event.encode(),
        event.headers(),
        timeout=timeout,
        attributes={"vtex.event_id": event.event_id},
    )
    return record


def _outcome(response: web.Response) -> str | None:
    """Return the answer's `error` code or `status` (`accepted`, `pong`): the outcome of the hook."""
    body = response.body
    if not isinstance(body, bytes):
        return None
    try:
        value = orjson.loads(body)
    except orjson.JSONDecodeError:
        return None
    if not isinstance(value, dict):
        return None
    outcome = value.get("error") or value.get("status")
    return outcome if isinstance(outcome, str) else None
