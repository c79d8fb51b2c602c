"""Unit tests of the pipeline's spans: in-memory writer, OMS and span exporter; no broker, no network."""

from __future__ import annotations

from typing import Any

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanContext, SpanKind, StatusCode

from bridge.events import InputEvent
from bridge.tracing import DISABLED, TRACE_HEADERS, TRACEPARENT, Tracing, build_tracing
from bridge.vtex.errors import OrderNotFound
from processors.metrics import ProcessorMetrics
from processors.pipeline import Pipeline
from processors.records import Outgoing
from processors.routing import Router
from processors.tracing import OMS_SPAN
from processors.work import Work
from testkit.worker import hook
from tests.processors.test_pipeline import SETTINGS, FakeReader, FakeWriter

PROCESS = f"process {SETTINGS.input_topic}"


class Parts:
    """A traced pipeline, its fakes, and a second provider standing in for the ingress."""

    def __init__(self, *, traced: bool = True) -> None:
        self.exporter = InMemorySpanExporter()
        self.tracing = build_tracing(self.exporter, service_name="vtex-bridge-worker")
        self.ingress = build_tracing(InMemorySpanExporter(), service_name="vtex-bridge-ingress")
        self.writer, self.reader = FakeWriter(), FakeReader()
        self.pipeline = Pipeline(
            SETTINGS,
            oms=self.reader,
            router=Router("st."),
            metrics=ProcessorMetrics(100.0),
            writer_for=lambda p: self.writer,  # type: ignore[arg-type,return-value]
            clock=lambda: 1000.0,
            tracing=self.tracing if traced else DISABLED,
        )
        self.acks: list[str] = []

    def work(self, event: InputEvent, offset: int, *, traced: bool = True) -> tuple[Work, SpanContext | None]:
        """Return the input record of `event` as the ingress would produce it, and its producer span."""
        headers = event.headers()
        parent: SpanContext | None = None
        if traced:
            with self.ingress.tracer.start_as_current_span("send") as span:
                headers += self.ingress.headers()
            parent = span.get_span_context()
        work = Work(
            0,
            offset,
            event.key(),
            event.encode(),
            event,
            None,
            lambda: self.acks.append(event.event_id),
            headers,
        )
        return work, parent

    def spans(self, name: str) -> list[ReadableSpan]:
        return [span for span in self.exporter.get_finished_spans() if span.name == name]


def attrs(span: ReadableSpan) -> dict[str, Any]:
    return dict(span.attributes or {})


def carried(tracing: Tracing, record: Outgoing) -> SpanContext:
    return trace.get_current_span(tracing.from_headers(record.headers)).get_span_context()


class TestEventSpans:
    """Each event is a consumer span continuing its ingress trace; its records carry that span."""

    async def test_batch_of_two_traces_with_one_oms_read(self) -> None:
        parts = Parts()
        (a, parent_a), (b, parent_b) = (
            parts.work(hook("o1", "handling", 1.0), 0),
            parts.work(hook("o1", "invoiced", 2.0), 1),
        )
        await parts.pipeline.handle("o1", [a, b])
        process = parts.spans(PROCESS)
        (oms,) = parts.spans(OMS_SPAN)
        assert parent_a is not None and parent_b is not None
        assert [(parent_a.trace_id, parent_a.span_id), (parent_b.trace_id, parent_b.span_id)] == [
            (span.context.trace_id, span.parent.span_id) for span in process if span.parent is not None
        ]
        assert [SpanKind.CONSUMER] * 2 == [span.kind for span in process]
        assert [("emitted", True, "st.handling"), ("emitted", True, "st.invoiced")] == [
            (attrs(s)["bridge.outcome"], attrs(s)["bridge.acked"], attrs(s)["bridge.downstream_topic"])
            for s in process
        ]
        assert ["o1", "o1"] == [attrs(s)["vtex.order_id"] for s in process]
        # The one read serves both: a child of the first event's span, linked to the second's.
        assert oms.parent is not None
        assert (SpanKind.CLIENT, process[0].context.span_id) == (oms.kind, oms.parent.span_id)
        assert [process[1].context.span_id] == [link.context.span_id for link in oms.links]
        assert (200, 2) == (attrs(oms)["http.response.status_code"], attrs(oms)["bridge.events_served"])
        # Each downstream record names its own event's span.
        assert [s.context.span_id for s in process] == [
            carried(parts.tracing, r).span_id for r in parts.writer.records
        ]
        assert [a.event.event_id, b.event.event_id] == parts.acks  # type: ignore[union-attr]

    async def test_duplicate_is_named_and_reads_nothing(self) -> None:
        parts = Parts()
        event = hook("o1", "handling", 1.0)
        await parts.pipeline.handle("o1", [parts.work(event, 0)[0]])
        await parts.pipeline.handle("o1", [parts.work(event, 1)[0]])
        assert ["emitted", "duplicate"] == [attrs(s)["bridge.outcome"] for s in parts.spans(PROCESS)]
        assert 1 == len(parts.spans(OMS_SPAN))

    async def test_late_event(self) -> None:
        parts = Parts()
        await parts.pipeline.handle("o1", [parts.work(hook("o1", "invoiced", 5.0), 0)[0]])
        await parts.pipeline.handle("o1", [parts.work(hook("o1", "handling", 1.0), 1)[0]])
        assert ["emitted", "late"] == [attrs(s)["bridge.outcome"] for s in parts.spans(PROCESS)]

    async def test_record_without_context_starts_a_trace(self) -> None:
        parts = Parts()
        work, _ = parts.work(hook("o1", "handling", 1.0), 0, traced=False)
        await parts.pipeline.handle("o1", [work])
        (process,) = parts.spans(PROCESS)
        assert process.parent is None
        assert process.context.span_id == carried(parts.tracing, parts.writer.records[0]).span_id

    async def test_retry_is_an_event_not_new_spans(self) -> None:
        parts = Parts()
        parts.writer.fail_next = 1
        await parts.pipeline.handle("o1", [parts.work(hook("o1", "handling", 1.0), 0)[0]])
        (process,) = parts.spans(PROCESS)
        assert ["retry"] == [event.name for event in process.events]
        assert 1 == len(parts.writer.records)


class TestDeadLetters:
    """A dead-lettered event names its reason; its dead letter carries its span; failed reads are errors."""

    async def test_order_not_found(self) -> None:
        parts = Parts()
        parts.reader.errors = [OrderNotFound("nope", status=404)] * 1000
        work, parent = parts.work(hook("o2", "invoiced", 0.0), 0)
        await parts.pipeline.handle("o2", [work])
        (process,) = parts.spans(PROCESS)
        assert ("dead_lettered", "order-not-found") == (
            attrs(process)["bridge.outcome"],
            attrs(process)["bridge.dead_letter_reason"],
        )
        (dead,) = parts.writer.records
        assert "dlq" == dead.topic
        assert process.context.span_id == carried(parts.tracing, dead).span_id
        reads = parts.spans(OMS_SPAN)
        assert reads and {(StatusCode.ERROR, 404)} == {
            (s.status.status_code, attrs(s)["http.response.status_code"]) for s in reads
        }
        assert parent is not None and parent.trace_id == process.context.trace_id

    async def test_invalid_record(self) -> None:
        parts = Parts()
        bad = Work(0, 7, b"k", b"not json", None, "not JSON", lambda: None, [(TRACEPARENT, b"garbage")])
        await parts.pipeline.handle("k", [bad])
        (process,) = parts.spans(PROCESS)
        assert "invalid-event" == attrs(process)["bridge.dead_letter_reason"]


class TestTracingOff:
    """Without tracing (the default) no span is made and records gain no trace header, whatever came in."""

    @pytest.mark.parametrize("traced_input", [True, False])
    async def test_no_trace_headers(self, traced_input: bool) -> None:
        parts = Parts(traced=False)
        work, _ = parts.work(hook("o1", "handling", 1.0), 0, traced=traced_input)
        await parts.pipeline.handle("o1", [work])
        assert 1 == len(parts.writer.records)
        assert set() == {name for name, _ in parts.writer.records[0].headers} & TRACE_HEADERS
        assert () == parts.exporter.get_finished_spans()
