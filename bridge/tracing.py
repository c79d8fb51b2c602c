"""OpenTelemetry tracing of the bridge: one `Tracing` per app, off unless an OTLP endpoint is configured.

A trace follows one notification from the ingress's HTTP request through its input record (W3C trace
context in the record headers `traceparent`/`tracestate`) to the worker's OMS read and the downstream
record, whose headers carry the context on to consumers (docs/tracing.md).

Each app builds its own `TracerProvider` and passes its `Tracing` down instead of installing a global
provider, so tests can build several apps in one process. When tracing is off, `setup_tracing` returns
`DISABLED`: callers check `tracing.enabled` (one attribute read) and then create no span and add no
header at all, which keeps the ingress's and the worker's hot paths as they were.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Final
from urllib.parse import unquote

# Only the (light) API at import time; the SDK and the exporter load when tracing is turned on.
from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.trace import Span, SpanKind, Status, StatusCode, Tracer
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from bridge import __version__
from bridge.settings import TracingSettings

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import SpanProcessor, TracerProvider
    from opentelemetry.sdk.trace.export import SpanExporter

log = logging.getLogger(__name__)

#: W3C trace-context header names, in HTTP requests and Kafka record headers alike.
TRACEPARENT: Final = "traceparent"
TRACESTATE: Final = "tracestate"
TRACE_HEADERS: Final = frozenset({TRACEPARENT, TRACESTATE})
#: Name of the instrumentation scope of every span.
SCOPE: Final = "vtex-kafka-bridge"
#: Spans go to `<endpoint>/v1/traces` (the OTLP/HTTP convention for a base URL).
TRACES_PATH: Final = "/v1/traces"
#: Most spans exported per OTLP request.
MAX_EXPORT_BATCH: Final = 512

_PROPAGATOR: Final = TraceContextTextMapPropagator()


class Tracing:
    """The spans of one app: its tracer, context propagation and a bounded shutdown.

    `DISABLED` (no provider) is what every app gets unless tracing is configured; its `enabled` is False
    and nothing should be called on it on a hot path.
    """

    def __init__(
        self, provider: TracerProvider | None, *, service_name: str = "", shutdown_timeout_s: float = 5.0
    ) -> None:
        self.provider = provider
        self.enabled = provider is not None
        self.service_name = service_name
        self.tracer: Tracer = (
            provider.get_tracer(SCOPE, __version__) if provider is not None else trace.NoOpTracer()
        )
        self._shutdown_timeout_s = shutdown_timeout_s

    def headers(self, context: Context | None = None) -> list[tuple[str, bytes]]:
        """Return the Kafka headers carrying `context` (default: the current one); empty without a span."""
        carrier: dict[str, str] = {}
        _PROPAGATOR.inject(carrier, context=context)
        return [(name, value.encode()) for name, value in carrier.items()]

    def span_headers(self, span: Span) -> list[tuple[str, bytes]]:
        """Return the Kafka headers that make `span` the parent of whatever reads the record."""
        return self.headers(trace.set_span_in_context(span))

    @staticmethod
    def from_headers(headers: Sequence[tuple[str, bytes | None]] | None) -> Context | None:
        """Return the context carried by Kafka record headers, or None when they carry none."""
        if not headers:
            return None
        carrier = {
            name: value.decode("latin-1") for name, value in headers if name in TRACE_HEADERS and value
        }
        if TRACEPARENT not in carrier:
            return None
        return _PROPAGATOR.extract(carrier)

    @staticmethod
    def from_http(headers: Mapping[str, str]) -> Context | None:
        """Return the context an HTTP request carries (a proxy or a caller that traces), else None."""
        if TRACEPARENT not in headers:
            return None
        return _PROPAGATOR.extract(headers)

    async def send(
        self,
        send: Callable[..., Awaitable[Any]],
        topic: str,
        key: bytes | None,
        value: bytes,
        headers: Sequence[tuple[str, bytes]],
        *,
        timeout: float,
        attributes: Mapping[str, str | int | bool] | None = None,
    ) -> Any:
        """Produce one record under a producer span (child of the current span) whose context it carries.

        `send` is a producer's `send(topic, key, value, headers, timeout=...)` returning the record's
        metadata; its partition and offset are recorded, its exception recorded and re-raised.
        """
        span_attributes: dict[str, str | int | bool] = {
            "messaging.system": "kafka",
            "messaging.operation.type": "send",
            "messaging.operation.name": "send",
            "messaging.destination.name": topic,
        }
        if key is not None:
            span_attributes["messaging.kafka.message.key"] = key.decode(errors="replace")
        if attributes:
            span_attributes.update(attributes)
        with self.tracer.start_as_current_span(
            f"send {topic}", kind=SpanKind.PRODUCER, attributes=span_attributes
        ) as span:
            carried = [*headers, *self.headers()]
            metadata = await send(topic, key, value, carried, timeout=timeout)
            partition, offset = getattr(metadata, "partition", None), getattr(metadata, "offset", None)
            if isinstance(partition, int):
                span.set_attribute("messaging.destination.partition.id", str(partition))
            if isinstance(offset, int):
                span.set_attribute("messaging.kafka.offset", offset)
            return metadata

    async def shutdown(self) -> None:
        """Export what is still queued, within `tracing_shutdown_timeout_s`, then stop exporting."""
        provider = self.provider
        if provider is None:
            return
        self.provider = None
        try:
            # The SDK's shutdown blocks (it joins its export thread): keep it off the event loop.
            await asyncio.wait_for(asyncio.to_thread(provider.shutdown), self._shutdown_timeout_s)
        except TimeoutError:
            log.warning("spans still queued were dropped at shutdown", extra={"service": self.service_name})


#: Tracing off: no provider, no spans, no headers.
DISABLED: Final = Tracing(None)


def setup_tracing(settings: TracingSettings, component: str) -> Tracing:
    """Return the tracing of one component (`ingress`, `worker`, `feed-poller`); `DISABLED` when off.

    Spans are batched in memory (at most `tracing_max_queue_size`; beyond that new ones are dropped,
    the service never waits for the collector) and exported over OTLP/HTTP by a background thread.
    """
    endpoint = settings.tracing_otlp_endpoint.strip()
    if not endpoint:
        return DISABLED
    from opentelemetry.exporter.otlp.proto.http import Compression
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    url = endpoint.rstrip("/")
    if not url.endswith(TRACES_PATH):
        url += TRACES_PATH
    exporter = OTLPSpanExporter(
        endpoint=url,
        headers=parse_headers(settings.tracing_otlp_headers.get_secret_value()),
        timeout=settings.tracing_export_timeout_s,
        compression=Compression.Gzip,
    )
    processor = BatchSpanProcessor(
        exporter,
        max_queue_size=settings.tracing_max_queue_size,
        schedule_delay_millis=settings.tracing_export_interval_s * 1000,
        max_export_batch_size=min(MAX_EXPORT_BATCH, settings.tracing_max_queue_size),
    )
    service = f"vtex-bridge-{component}"
    tracing = build_tracing(
        processor,
        service_name=service,
        sample_ratio=settings.tracing_sample_ratio,
        environment=settings.tracing_environment,
        shutdown_timeout_s=settings.tracing_shutdown_timeout_s,
    )
    log.info(
        "tracing on",
        extra={"service": service, "endpoint": url, "sample_ratio": settings.tracing_sample_ratio},
    )
    return tracing


def build_tracing(
    processor: SpanProcessor | SpanExporter,
    *,
    service_name: str,
    sample_ratio: float = 1.0,
    environment: str = "",
    shutdown_timeout_s: float = 5.0,
) -> Tracing:
    """Return an enabled `Tracing` whose spans go to `processor` (an exporter is wrapped synchronously,
    which is what tests want with the SDK's `InMemorySpanExporter`)."""
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExporter
    from opentelemetry.sdk.trace.sampling import ParentBased, TraceIdRatioBased

    attributes: dict[str, str] = {
        "service.name": service_name,
        "service.namespace": "vtex-bridge",
        "service.version": __version__,
        "service.instance.id": f"{socket.gethostname()}:{os.getpid()}",
    }
    if environment:
        attributes["deployment.environment.name"] = environment
    # The new trace a root span starts is kept with probability `sample_ratio`; every later span of the
    # trace (the produce, the worker's spans via the record headers) follows that first decision.
    provider = TracerProvider(
        resource=Resource(attributes),
        sampler=ParentBased(TraceIdRatioBased(sample_ratio)),
        shutdown_on_exit=False,  # each app shuts its own down, bounded; no atexit handler per test app
    )
    if isinstance(processor, SpanExporter):
        processor = SimpleSpanProcessor(processor)
    provider.add_span_processor(processor)
    return Tracing(provider, service_name=service_name, shutdown_timeout_s=shutdown_timeout_s)


def parse_headers(spec: str) -> dict[str, str]:
    """Return the headers of `name=value,name2=value2` (OTEL_EXPORTER_OTLP_HEADERS' format, URL-encoded)."""
    headers: dict[str, str] = {}
    for part in spec.split(","):
        name, sep, value = part.partition("=")
        if sep and name.strip():
            headers[unquote(name.strip()).lower()] = unquote(value.strip())
    return headers


def mark_error(span: Span, exc: BaseException) -> None:
    """Record `exc` on `span` and mark the span failed (for errors handled, not raised, by the caller)."""
    span.record_exception(exc)
    span.set_status(Status(StatusCode.ERROR, type(exc).__name__))
    span.set_attribute("error.type", type(exc).__name__)
