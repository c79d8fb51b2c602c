"""Unit tests of the ingress's spans (fake producer, in-memory span exporter, no broker)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import orjson
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from bridge.ingress.app import create_app
from bridge.ingress.state import STATE
from bridge.kafka_producer import ProducerUnavailable
from bridge.tracing import TRACE_HEADERS, TRACEPARENT, Tracing, build_tracing
from tests.support.ingress import ACCOUNT, FakeProducer, auth_headers, hook_payload, ingress_settings

ClientFactory = Callable[[web.Application], Awaitable[TestClient[Any, Any]]]
PATH = "/hooks/vtex"
INCOMING = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"


@pytest.fixture
def exporter() -> InMemorySpanExporter:
    return InMemorySpanExporter()


@pytest.fixture
def tracing(exporter: InMemorySpanExporter) -> Tracing:
    return build_tracing(exporter, service_name="vtex-bridge-ingress")


@pytest.fixture
def producer() -> FakeProducer:
    return FakeProducer()


async def traced_client(
    aiohttp_client: ClientFactory, producer: FakeProducer, tracing: Tracing
) -> TestClient[Any, Any]:
    return await aiohttp_client(create_app(ingress_settings(), producer=producer, tracing=tracing))


def by_name(exporter: InMemorySpanExporter) -> dict[str, ReadableSpan]:
    return {span.name: span for span in exporter.get_finished_spans()}


def attrs(span: ReadableSpan) -> dict[str, Any]:
    return dict(span.attributes or {})


class TestAcceptedHook:
    """An accepted hook is a server span with a producer child whose context the record carries."""

    async def test_request_and_produce_spans(
        self,
        aiohttp_client: ClientFactory,
        producer: FakeProducer,
        tracing: Tracing,
        exporter: InMemorySpanExporter,
    ) -> None:
        client = await traced_client(aiohttp_client, producer, tracing)
        response = await client.post(PATH, data=orjson.dumps(hook_payload("o-1")), headers=auth_headers())
        body = await response.json()
        assert 200 == response.status
        spans = by_name(exporter)
        assert {"POST /hooks/vtex", "send vtex.orders.hooks"} == set(spans)
        server, send = spans["POST /hooks/vtex"], spans["send vtex.orders.hooks"]
        assert (SpanKind.SERVER, SpanKind.PRODUCER) == (server.kind, send.kind)
        assert server.context is not None and send.parent is not None
        assert (server.context.trace_id, server.context.span_id) == (
            send.context.trace_id,
            send.parent.span_id,
        )
        assert server.parent is None  # VTEX sends no trace context: the hook starts the trace
        expected = {
            "http.response.status_code": 200,
            "bridge.outcome": "accepted",
            "vtex.order_id": "o-1",
            "vtex.state": "ready-for-handling",
            "vtex.event_id": body["event_id"],
            "vtex.account": ACCOUNT,
        }
        assert expected == {k: attrs(server)[k] for k in expected}
        assert ("0", body["offset"]) == (
            attrs(send)["messaging.destination.partition.id"],
            attrs(send)["messaging.kafka.offset"],
        )
        headers = dict(producer.records[0].headers)
        assert {"event_id", "source", "state", TRACEPARENT} == set(headers)
        carried = trace.get_current_span(tracing.from_headers(producer.records[0].headers))
        assert send.context.span_id == carried.get_span_context().span_id

    async def test_incoming_trace_is_continued(
        self,
        aiohttp_client: ClientFactory,
        producer: FakeProducer,
        tracing: Tracing,
        exporter: InMemorySpanExporter,
    ) -> None:
        client = await traced_client(aiohttp_client, producer, tracing)
        headers = {**auth_headers(), TRACEPARENT: INCOMING}
        response = await client.post(PATH, data=orjson.dumps(hook_payload()), headers=headers)
        assert 200 == response.status
        server = by_name(exporter)["POST /hooks/vtex"]
        assert server.parent is not None and server.context is not None
        assert (0x4BF92F3577B34DA6A3CE929D0E0E4736, 0x00F067AA0BA902B7) == (
            server.context.trace_id,
            server.parent.span_id,
        )


class TestUntrustedTraceparent:
    """Before authentication a caller's `traceparent` is ignored: its sampled flag forces nothing."""

    async def test_only_an_authenticated_caller_continues_its_trace(
        self, aiohttp_client: ClientFactory, producer: FakeProducer, exporter: InMemorySpanExporter
    ) -> None:
        never_sample = build_tracing(exporter, service_name="vtex-bridge-ingress", sample_ratio=0.0)
        client = await traced_client(aiohttp_client, producer, never_sample)
        body = orjson.dumps(hook_payload())
        for secret in ("wrong", None):  # a bad secret, no secret
            headers = {**(auth_headers(secret) if secret else {}), TRACEPARENT: INCOMING}
            assert 401 == (await client.post(PATH, data=body, headers=headers)).status
            ping = await client.post(PATH, data=b'{"hookConfig":"ping"}', headers=headers)
            assert 200 == ping.status
        assert () == tuple(exporter.get_finished_spans())  # a new root each time, which ratio 0 drops
        response = await client.post(PATH, data=body, headers={**auth_headers(), TRACEPARENT: INCOMING})
        assert 200 == response.status
        server = by_name(exporter)["POST /hooks/vtex"]
        assert server.context is not None and 0x4BF92F3577B34DA6A3CE929D0E0E4736 == server.context.trace_id

    async def test_unauthenticated_span_is_a_new_root(
        self,
        aiohttp_client: ClientFactory,
        producer: FakeProducer,
        tracing: Tracing,
        exporter: InMemorySpanExporter,
    ) -> None:
        client = await traced_client(aiohttp_client, producer, tracing)
        headers = {**auth_headers("wrong"), TRACEPARENT: INCOMING}
        assert 401 == (await client.post(PATH, data=orjson.dumps(hook_payload()), headers=headers)).status
        (server,) = exporter.get_finished_spans()
        assert server.parent is None and server.context is not None
        assert 0x4BF92F3577B34DA6A3CE929D0E0E4736 != server.context.trace_id


class TestRefusedHook:
    """A refused hook is still a span, naming the refusal; only a 5xx marks it failed."""

    async def test_unauthorized(
        self,
        aiohttp_client: ClientFactory,
        producer: FakeProducer,
        tracing: Tracing,
        exporter: InMemorySpanExporter,
    ) -> None:
        client = await traced_client(aiohttp_client, producer, tracing)
        response = await client.post(PATH, data=orjson.dumps(hook_payload()), headers=auth_headers("wrong"))
        assert 401 == response.status
        (server,) = exporter.get_finished_spans()
        assert (401, "unauthorized") == (
            attrs(server)["http.response.status_code"],
            attrs(server)["bridge.outcome"],
        )
        assert StatusCode.ERROR != server.status.status_code

    async def test_kafka_down(
        self, aiohttp_client: ClientFactory, tracing: Tracing, exporter: InMemorySpanExporter
    ) -> None:
        producer = FakeProducer(error=ProducerUnavailable("down"))
        client = await traced_client(aiohttp_client, producer, tracing)
        response = await client.post(PATH, data=orjson.dumps(hook_payload()), headers=auth_headers())
        assert 503 == response.status
        spans = by_name(exporter)
        server, send = spans["POST /hooks/vtex"], spans["send vtex.orders.hooks"]
        assert "kafka_unavailable" == attrs(server)["bridge.outcome"]
        assert (StatusCode.ERROR, StatusCode.ERROR) == (server.status.status_code, send.status.status_code)


class TestTracingOff:
    """With tracing off (the default) the record carries no trace header and the handler is the plain one."""

    async def test_no_trace_headers(self, aiohttp_client: ClientFactory, producer: FakeProducer) -> None:
        settings = ingress_settings(tracing_otlp_endpoint="")
        client = await aiohttp_client(create_app(settings, producer=producer))
        headers = {**auth_headers(), TRACEPARENT: INCOMING}  # even when the request carries one
        response = await client.post(PATH, data=orjson.dumps(hook_payload()), headers=headers)
        assert 200 == response.status
        assert set() == {name for name, _ in producer.records[0].headers} & TRACE_HEADERS


class TestOwnTracing:
    """An app that built its own tracing from the settings shuts it down on cleanup."""

    async def test_built_from_settings_and_shut_down(
        self, aiohttp_client: ClientFactory, producer: FakeProducer
    ) -> None:
        settings = ingress_settings(
            tracing_otlp_endpoint="http://127.0.0.1:9",
            tracing_shutdown_timeout_s=1,
            tracing_export_timeout_s=0.2,
        )
        app = create_app(settings, producer=producer)
        client = await aiohttp_client(app)
        state = app[STATE]
        assert (True, "vtex-bridge-ingress") == (state.tracing.enabled, state.tracing.service_name)
        await client.close()
        assert state.tracing.provider is None
