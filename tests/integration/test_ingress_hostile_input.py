"""Hostile input at the ingress, over real HTTP and a real Kafka broker: refused with a clear 4xx, nothing
produced, no secret or appKey leaked, and the metrics kept off the public port."""

from __future__ import annotations

import logging
import time
from typing import Any

import aiohttp
import orjson
import pytest

from bridge.events import decode_input_event
from testkit.kafka import create_topics, read_all, unique
from tests.support.ingress import (
    ACCOUNT,
    APP_KEY,
    HEADER,
    auth_headers,
    hook_payload,
    ingress_settings,
    running_ingress_ports,
)

pytestmark = pytest.mark.integration

HOSTILE_ORDER_IDS = [
    "../../../../api/catalog_system/pvt/products/GetProductById/1?x",
    "v1000001abc-01#x",
    "v1000001abc-01?a=1",
    "v1000001abc-01\x00",
    "..",
    "v1000001abc-01\n",
    "x" * 129,
]


def nested(depth: int) -> bytes:
    """Return JSON text nesting objects `depth` levels deep (orjson writes at most 254)."""
    return b'{"a":' * depth + b"1" + b"}" * depth


async def post(
    session: aiohttp.ClientSession, url: str, body: bytes, headers: dict[str, str]
) -> tuple[int, Any]:
    async with session.post(url, data=body, headers=headers) as response:
        return response.status, await response.json(content_type=None)


class TestHostileInput:
    async def test_refused_and_nothing_produced(self, kafka_bootstrap: str) -> None:
        topic = unique("ingress-hostile")
        await create_topics(kafka_bootstrap, topic, partitions=1)
        settings = ingress_settings(kafka_bootstrap_servers=kafka_bootstrap, input_topic=topic)
        async with running_ingress_ports(settings) as ports, aiohttp.ClientSession() as session:
            url = f"http://127.0.0.1:{ports.hook}{settings.ingress_path}"
            for order_id in HOSTILE_ORDER_IDS:
                status, body = await post(
                    session, url, orjson.dumps(hook_payload(order_id=order_id)), auth_headers()
                )
                assert (422, "schema_violation", "OrderId") == (status, body["error"], body["field"]), (
                    order_id
                )
                assert body["message"].startswith("OrderId ")
            # 254..1,023 levels parse but could not be re-serialized: a 4xx, never a 503 VTEX retries.
            for depth in (40, 254, 500, 1023, 1100):
                payload = orjson.dumps(hook_payload())[:-1] + b',"Extra":' + nested(depth) + b"}"
                status, body = await post(session, url, payload, auth_headers())
                assert 400 <= status < 500, (depth, status, body)
            status, body = await post(
                session, url, orjson.dumps(hook_payload(order_id="SLR-1234567890123-01")), auth_headers()
            )
            assert 200 == status, body
        records = await read_all(kafka_bootstrap, topic, expected=1, timeout=20)
        assert [b"SLR-1234567890123-01"] == [r.key for r in records]
        event = decode_input_event(records[0].value)
        assert {"Account": ACCOUNT} == event.payload["Origin"]
        assert APP_KEY.encode() not in records[0].value

    async def test_metrics_on_their_own_port(self, kafka_bootstrap: str) -> None:
        topic = unique("ingress-metrics-port")
        await create_topics(kafka_bootstrap, topic, partitions=1)
        settings = ingress_settings(kafka_bootstrap_servers=kafka_bootstrap, input_topic=topic)
        async with running_ingress_ports(settings) as ports, aiohttp.ClientSession() as session:
            assert ports.hook != ports.metrics
            async with session.get(f"http://127.0.0.1:{ports.hook}/metrics") as response:
                assert 404 == response.status
            async with session.get(f"http://127.0.0.1:{ports.metrics}/metrics") as response:
                text = await response.text()
                assert 200 == response.status
            assert "vtex_bridge_ingress_requests_total" in text
            async with session.get(f"http://127.0.0.1:{ports.metrics}/hooks/vtex") as response:
                assert 404 == response.status  # and no hook is served on the metrics port

    async def test_unauthenticated_pings_are_logged_throttled(
        self, kafka_bootstrap: str, caplog: pytest.LogCaptureFixture
    ) -> None:
        topic = unique("ingress-pings")
        await create_topics(kafka_bootstrap, topic, partitions=1)
        settings = ingress_settings(kafka_bootstrap_servers=kafka_bootstrap, input_topic=topic)
        pings = 50
        with caplog.at_level(logging.INFO, logger="bridge.ingress"):
            async with running_ingress_ports(settings) as ports, aiohttp.ClientSession() as session:
                url = f"http://127.0.0.1:{ports.hook}{settings.ingress_path}"
                started = time.monotonic()
                for _ in range(pings):
                    status, _ = await post(session, url, b'{"hookConfig":"ping"}', {HEADER + "-other": "x"})
                    assert 200 == status
                seconds = time.monotonic() - started
                async with session.get(f"http://127.0.0.1:{ports.metrics}/metrics") as response:
                    text = await response.text()
        logged = [r for r in caplog.records if r.getMessage() == "hook configuration ping"]
        assert f'vtex_bridge_ingress_requests_total{{outcome="ping_unauthenticated"}} {pings}.0' in text
        assert 1 <= len(logged) <= int(seconds) + 2  # one line per (started) clock second at most
        assert len(logged) < pings
