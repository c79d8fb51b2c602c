"""Spans of the worker's pipeline, used only when tracing is on (`bridge.tracing`; docs/tracing.md).

One batch of one order gets a `BatchTrace`: a consumer span `process <input topic>` per input record,
child of the context its headers carry (the ingress's producer span), so ingress and worker share one
trace; the span lasts until the record is acked and names its outcome. The batch's one OMS read (shared
by every new event of the order in the batch) is a client span under the first of those events, linked
to the others. Downstream records and dead letters carry their event's span in their headers.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Final
from urllib.parse import urlsplit

from opentelemetry import trace
from opentelemetry.trace import Link, Span, SpanKind

from bridge.tracing import Tracing, mark_error
from bridge.vtex.oms import ORDER_PATH
from processors.work_view import WorkView

if TYPE_CHECKING:
    pass

#: Name of the OMS read's span (the HTTP client convention: method and route template).
OMS_SPAN: Final = "GET " + ORDER_PATH.replace("{order_id}", "{orderId}")


class BatchTrace:
    """The spans of one batch; see the module docstring. `end()` must be called once, always."""

    def __init__(
        self, tracing: Tracing, batch: Sequence[WorkView], *, topic: str, group: str, oms_url: str
    ) -> None:
        self._tracing = tracing
        self._oms_host = urlsplit(oms_url).hostname or ""
        self._spans: dict[int, Span] = {}
        name = f"process {topic}"
        for work in batch:
            attributes: dict[str, str | int] = {
                "messaging.system": "kafka",
                "messaging.operation.type": "process",
                "messaging.operation.name": "process",
                "messaging.destination.name": topic,
                "messaging.destination.partition.id": str(work.partition),
                "messaging.kafka.offset": work.offset,
                "messaging.consumer.group.name": group,
            }
            event = work.event
            if event is not None:
                attributes.update(
                    {
                        "vtex.order_id": event.order_id,
                        "vtex.state": event.state,
                        "vtex.event_id": event.event_id,
                        "vtex.account": event.account,
                        "bridge.source": event.source,
                    }
                )
            parent = tracing.from_headers(work.headers)
            self._spans[id(work)] = tracing.tracer.start_span(
                name, context=parent, kind=SpanKind.CONSUMER, attributes=attributes
            )

    def outcome(self, work: WorkView, outcome: str, **attributes: str | bool) -> None:
        """Name what became of `work` (duplicate, emitted, late, dead_lettered, invalid); last one wins."""
        span = self._spans[id(work)]
        span.set_attribute("bridge.outcome", outcome)
        for name, value in attributes.items():
            span.set_attribute(f"bridge.{name}", value)

    def headers(self, work: WorkView) -> list[tuple[str, bytes]]:
        """Return the trace headers of the records `work` produces: its span is their parent."""
        return self._tracing.span_headers(self._spans[id(work)])

    def oms(self, order_id: str, served: Sequence[WorkView]) -> OmsSpans:
        """Return what wraps the OMS reads done for the events `served` (the first is the parent)."""
        spans = [self._spans[id(work)] for work in served]
        return OmsSpans(self._tracing, order_id, spans, self._oms_host)

    def retry(self, attempt: int) -> None:
        """Note on every span that the batch failed transiently and is being retried."""
        for span in self._spans.values():
            span.add_event("retry", {"bridge.attempt": attempt})

    def end(self, *, acked: bool) -> None:
        for span in self._spans.values():
            span.set_attribute("bridge.acked", acked)
            span.end()


class OmsSpans:
    """Client spans of the OMS reads of one batch: one per `get_order` call (its HTTP retries inside)."""

    def __init__(self, tracing: Tracing, order_id: str, served: Sequence[Span], host: str) -> None:
        self._tracer = tracing.tracer
        self._order_id = order_id
        self._host = host
        self._parent = trace.set_span_in_context(served[0]) if served else None
        # One read serves several events, possibly of several traces: each other event's span is linked.
        self._links = [Link(span.get_span_context()) for span in served[1:]]
        self._served = len(served)

    async def call(self, get_order: Callable[[str], Awaitable[Mapping[str, Any]]]) -> Mapping[str, Any]:
        """Run `get_order(order_id)` under a client span; record the answer or the error, re-raise it."""
        attributes: dict[str, str | int] = {
            "http.request.method": "GET",
            "url.template": ORDER_PATH,
            "server.address": self._host,
            "vtex.order_id": self._order_id,
            "bridge.events_served": self._served,
        }
        span = self._tracer.start_span(
            OMS_SPAN, context=self._parent, kind=SpanKind.CLIENT, attributes=attributes, links=self._links
        )
        try:
            order = await get_order(self._order_id)
        except BaseException as exc:
            status = getattr(exc, "status", None)
            if isinstance(status, int):
                span.set_attribute("http.response.status_code", status)
            mark_error(span, exc)
            raise
        else:
            span.set_attribute("http.response.status_code", 200)
            return order
        finally:
            span.end()
