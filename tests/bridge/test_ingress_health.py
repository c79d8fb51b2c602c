"""Unit tests of health, readiness, metrics and the producer lifecycle of the ingress app."""

from __future__ import annotations

from typing import Any

import orjson
from aiohttp.test_utils import TestClient

from bridge.ingress.app import create_app
from tests.support.ingress import FakeProducer, auth_headers, hook_payload, ingress_settings, metrics_text


class TestProbes:
    """healthz says the process lives; readyz needs a connected producer and the input topic."""

    async def test_healthz(self, aiohttp_client: Any) -> None:
        client: TestClient[Any, Any] = await aiohttp_client(
            create_app(ingress_settings(), producer=FakeProducer())
        )
        response = await client.get("/healthz")
        assert (200, {"status": "alive"}) == (response.status, await response.json())

    async def test_ready(self, aiohttp_client: Any) -> None:
        client: TestClient[Any, Any] = await aiohttp_client(
            create_app(ingress_settings(), producer=FakeProducer())
        )
        response = await client.get("/readyz")
        assert 200 == response.status
        assert {"status": "ready", "producer_connected": True, "topic_exists": True} == await response.json()

    async def test_not_ready_without_producer(self, aiohttp_client: Any) -> None:
        app = create_app(ingress_settings(), producer=FakeProducer(connected_flag=False))
        client: TestClient[Any, Any] = await aiohttp_client(app)
        response = await client.get("/readyz")
        assert (503, False) == (response.status, (await response.json())["producer_connected"])

    async def test_not_ready_without_topic(self, aiohttp_client: Any) -> None:
        app = create_app(ingress_settings(), producer=FakeProducer(topic_present=False))
        client: TestClient[Any, Any] = await aiohttp_client(app)
        response = await client.get("/readyz")
        assert (503, False) == (response.status, (await response.json())["topic_exists"])


class TestMetrics:
    """/metrics (own port) exposes outcomes, produce latency, in-flight and the last hook per account."""

    async def test_not_on_the_hook_port(self, aiohttp_client: Any) -> None:
        client: TestClient[Any, Any] = await aiohttp_client(
            create_app(ingress_settings(), producer=FakeProducer())
        )
        response = await client.get("/metrics")
        assert (404, "not_found") == (response.status, (await response.json())["error"])

    async def test_after_one_hook(self, aiohttp_client: Any) -> None:
        app = create_app(ingress_settings(), producer=FakeProducer())
        client: TestClient[Any, Any] = await aiohttp_client(app)
        await client.post("/hooks/vtex", data=orjson.dumps(hook_payload()), headers=auth_headers())
        text = await metrics_text(app)
        assert 'vtex_bridge_ingress_requests_total{outcome="accepted"} 1.0' in text
        assert "vtex_bridge_ingress_produce_latency_seconds_count 1.0" in text
        assert "vtex_bridge_ingress_in_flight 0.0" in text
        assert 'vtex_bridge_ingress_last_hook_received_timestamp_seconds{account="acme"}' in text
        assert "vtex_bridge_ingress_kafka_producer_connected 1.0" in text

    async def test_apps_do_not_share_metrics(self, aiohttp_client: Any) -> None:
        first: TestClient[Any, Any] = await aiohttp_client(
            create_app(ingress_settings(), producer=FakeProducer())
        )
        second = create_app(ingress_settings(), producer=FakeProducer())
        await aiohttp_client(second)
        await first.post("/hooks/vtex", data=orjson.dumps(hook_payload()), headers=auth_headers())
        text = await metrics_text(second)
        assert 'vtex_bridge_ingress_requests_total{outcome="accepted"} 0.0' in text


class TestLifecycle:
    """The app starts the producer it is given and stops (flushes) it on cleanup."""

    async def test_start_and_stop(self, aiohttp_client: Any) -> None:
        producer = FakeProducer()
        client: TestClient[Any, Any] = await aiohttp_client(create_app(ingress_settings(), producer=producer))
        assert (True, False) == (producer.started, producer.stopped)
        await client.close()
        assert True is producer.stopped
