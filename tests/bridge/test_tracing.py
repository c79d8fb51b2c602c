"""Unit tests of `bridge.tracing`: off by default, W3C context in Kafka headers, settings, shutdown."""

from __future__ import annotations

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from bridge.settings import load_settings
from bridge.tracing import DISABLED, TRACEPARENT, TRACESTATE, build_tracing, parse_headers, setup_tracing

PARENT = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"


class TestOffByDefault:
    """Without an OTLP endpoint there is no provider, no tracer work and no header."""

    def test_default_settings_turn_tracing_off(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.delenv("OTEL_EXPORTER_OTLP_ENDPOINT", raising=False)
        monkeypatch.delenv("VTEX_BRIDGE_TRACING_OTLP_ENDPOINT", raising=False)
        tracing = setup_tracing(load_settings(), "ingress")
        assert tracing is DISABLED
        assert (False, None) == (tracing.enabled, tracing.provider)

    def test_disabled_adds_no_headers(self) -> None:
        assert [] == DISABLED.headers()

    async def test_disabled_shutdown_is_a_no_op(self) -> None:
        await DISABLED.shutdown()


class TestSettings:
    """The standard OTLP variables are accepted besides ours; headers are a secret."""

    def test_standard_endpoint_name(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.delenv("VTEX_BRIDGE_TRACING_OTLP_ENDPOINT", raising=False)
        monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4318")
        assert "http://collector:4318" == load_settings().tracing_otlp_endpoint

    def test_prefixed_endpoint_name(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.delenv("OTEL_EXPORTER_OTLP_ENDPOINT", raising=False)
        monkeypatch.setenv("VTEX_BRIDGE_TRACING_OTLP_ENDPOINT", "http://c2:4318")
        assert "http://c2:4318" == load_settings().tracing_otlp_endpoint

    def test_export_headers_are_masked(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setenv("OTEL_EXPORTER_OTLP_HEADERS", "x-api-key=very-secret")
        settings = load_settings()
        assert "very-secret" not in repr(settings) + str(settings.public_view())
        assert {"x-api-key": "very-secret"} == parse_headers(settings.tracing_otlp_headers.get_secret_value())

    def test_sample_ratio_is_a_probability(self) -> None:
        with pytest.raises(ValueError):
            load_settings(tracing_sample_ratio=1.5)

    def test_header_list_format(self) -> None:
        expected = {"authorization": "Basic a b", "x-team": "ops"}
        assert expected == parse_headers("Authorization=Basic%20a%20b, x-team=ops,broken,=nameless")

    async def test_configured_endpoint_turns_tracing_on(self) -> None:
        tracing = setup_tracing(
            load_settings(tracing_otlp_endpoint="http://127.0.0.1:1", tracing_shutdown_timeout_s=2), "worker"
        )
        try:
            assert (True, "vtex-bridge-worker") == (tracing.enabled, tracing.service_name)
        finally:
            await tracing.shutdown()
        assert tracing.provider is None


class TestPropagation:
    """The W3C trace context goes into Kafka headers and comes back out as the same span context."""

    def test_headers_round_trip(self) -> None:
        exporter = InMemorySpanExporter()
        tracing = build_tracing(exporter, service_name="t")
        with tracing.tracer.start_as_current_span("parent") as span:
            headers = tracing.headers()
        names = [name for name, _ in headers]
        assert [TRACEPARENT] == names
        context = tracing.from_headers([("event_id", b"x"), *headers])
        assert context is not None
        carried = trace.get_current_span(context).get_span_context()
        assert (span.get_span_context().trace_id, span.get_span_context().span_id) == (
            carried.trace_id,
            carried.span_id,
        )

    def test_tracestate_is_carried(self) -> None:
        tracing = build_tracing(InMemorySpanExporter(), service_name="t")
        context = tracing.from_headers([(TRACEPARENT, PARENT.encode()), (TRACESTATE, b"vendor=abc")])
        assert context is not None
        assert [(TRACEPARENT, PARENT.encode()), (TRACESTATE, b"vendor=abc")] == tracing.headers(context)

    def test_no_or_bad_context(self) -> None:
        tracing = build_tracing(InMemorySpanExporter(), service_name="t")
        assert tracing.from_headers(None) is None
        assert tracing.from_headers([("event_id", b"x")]) is None
        garbage = tracing.from_headers([(TRACEPARENT, b"not-a-traceparent")])
        assert not trace.get_current_span(garbage).get_span_context().is_valid

    def test_http_context(self) -> None:
        tracing = build_tracing(InMemorySpanExporter(), service_name="t")
        assert tracing.from_http({}) is None
        context = tracing.from_http({TRACEPARENT: PARENT})
        assert (
            0x0AF7651916CD43DD8448EB211C80319C == trace.get_current_span(context).get_span_context().trace_id
        )


class TestSend:
    """A traced send is a producer span that the record's headers point to."""

    async def test_producer_span_and_headers(self) -> None:
        exporter = InMemorySpanExporter()
        tracing = build_tracing(exporter, service_name="t")
        sent: list[list[tuple[str, bytes]]] = []

        class Meta:
            partition, offset = 3, 42

        async def send(
            topic: str, key: bytes | None, value: bytes, headers: list[tuple[str, bytes]], *, timeout: float
        ) -> Meta:
            sent.append(headers)
            return Meta()

        await tracing.send(send, "in", b"o1", b"{}", [("event_id", b"e1")], timeout=1.0)
        (span,) = exporter.get_finished_spans()
        assert ("send in", SpanKind.PRODUCER) == (span.name, span.kind)
        assert span.attributes is not None
        assert ("3", 42, "o1") == (
            span.attributes["messaging.destination.partition.id"],
            span.attributes["messaging.kafka.offset"],
            span.attributes["messaging.kafka.message.key"],
        )
        context = tracing.from_headers(sent[0])
        assert span.context.span_id == trace.get_current_span(context).get_span_context().span_id
        assert ("event_id", b"e1") == sent[0][0]

    async def test_failed_send_is_an_error_span(self) -> None:
        exporter = InMemorySpanExporter()
        tracing = build_tracing(exporter, service_name="t")

        async def send(*args: object, **kwargs: object) -> None:
            raise TimeoutError("no ack")

        with pytest.raises(TimeoutError):
            await tracing.send(send, "in", b"o1", b"{}", [], timeout=1.0)
        (span,) = exporter.get_finished_spans()
        assert trace.StatusCode.ERROR == span.status.status_code


class TestSampling:
    """A ratio of 0 keeps no new trace, and the records then carry an unsampled context."""

    def test_ratio_zero_records_nothing(self) -> None:
        exporter = InMemorySpanExporter()
        tracing = build_tracing(exporter, service_name="t", sample_ratio=0.0)
        with tracing.tracer.start_as_current_span("root"):
            headers = tracing.headers()
        assert [] == list(exporter.get_finished_spans())
        flags = int(headers[0][1].decode().rsplit("-", 1)[1], 16)
        assert 0 == flags & 1  # the sampled bit is off: the worker keeps no span of it either
