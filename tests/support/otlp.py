"""A tiny OTLP/HTTP trace receiver on loopback: what an OpenTelemetry collector would get from the bridge.

It accepts `POST /v1/traces` (protobuf `ExportTraceServiceRequest`, gzip or not) and keeps every span
with the `service.name` of the process that sent it, so a test can check that one trace spans the
ingress and a worker running in another process.
"""

from __future__ import annotations

import contextlib
import gzip
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue

PROTOBUF = "application/x-protobuf"
GZIP_MAGIC = b"\x1f\x8b"


@dataclass(frozen=True)
class ReceivedSpan:
    service: str
    name: str
    kind: int
    trace_id: str
    span_id: str
    parent_span_id: str
    attributes: dict[str, Any]
    links: tuple[str, ...]
    status_code: int


@dataclass
class OtlpReceiver:
    """Collects spans; `endpoint` is valid inside `running()`."""

    spans: list[ReceivedSpan] = field(default_factory=list)
    requests: int = 0
    endpoint: str = ""

    async def _traces(self, request: web.Request) -> web.Response:
        body = await request.read()  # aiohttp already inflates a `Content-Encoding: gzip` body
        if body[:2] == GZIP_MAGIC:
            body = gzip.decompress(body)
        message = ExportTraceServiceRequest()
        message.ParseFromString(body)
        self.requests += 1
        for resource_spans in message.resource_spans:
            resource = {a.key: _value(a.value) for a in resource_spans.resource.attributes}
            for scope_spans in resource_spans.scope_spans:
                for span in scope_spans.spans:
                    self.spans.append(
                        ReceivedSpan(
                            service=str(resource.get("service.name", "")),
                            name=span.name,
                            kind=span.kind,
                            trace_id=span.trace_id.hex(),
                            span_id=span.span_id.hex(),
                            parent_span_id=span.parent_span_id.hex(),
                            attributes={a.key: _value(a.value) for a in span.attributes},
                            links=tuple(link.span_id.hex() for link in span.links),
                            status_code=span.status.code,
                        )
                    )
        return web.Response(body=ExportTraceServiceResponse().SerializeToString(), content_type=PROTOBUF)

    def trace(self, trace_id: str) -> list[ReceivedSpan]:
        return [span for span in self.spans if span.trace_id == trace_id]

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[OtlpReceiver]:
        app = web.Application()
        app.router.add_post("/v1/traces", self._traces)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = next(a[1] for a in runner.addresses if isinstance(a, tuple))
        self.endpoint = f"http://127.0.0.1:{port}"
        try:
            yield self
        finally:
            await runner.cleanup()


def _value(value: AnyValue) -> Any:
    kind = value.WhichOneof("value")
    return getattr(value, kind) if kind else None
