"""Broker outage: hooks get 503 within the bound, never a false 200, and the ingress recovers by itself."""

from __future__ import annotations

import asyncio
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import orjson
import pytest
from aiohttp.test_utils import TestClient

from bridge.events import decode_input_event
from bridge.ingress.app import create_app
from bridge.local_kafka import LocalKafka
from testkit.kafka import create_topics, read_all, unique, wait_until
from tests.support.ingress import auth_headers, hook_payload, ingress_settings

pytestmark = pytest.mark.integration

#: The ingress promises an answer within 4 s; allow scheduling slack on a busy 2-core machine.
ANSWER_BOUND_S = 4.0 + 0.75


class Poster:
    """Post numbered hooks and remember what was answered, and how fast."""

    def __init__(self, client: TestClient[Any, Any]) -> None:
        self.client = client
        self.count = 0
        self.accepted: list[str] = []
        self.outcomes: list[tuple[int, float]] = []

    async def post(self) -> int:
        self.count += 1
        payload = hook_payload(
            order_id=f"v{self.count:07d}out-01", LastChange=f"2026-11-25T03:00:00.{self.count:07d}Z"
        )
        started = time.monotonic()
        response = await self.client.post("/hooks/vtex", data=orjson.dumps(payload), headers=auth_headers())
        body = await response.json()
        self.outcomes.append((response.status, time.monotonic() - started))
        if response.status == 200:
            self.accepted.append(body["event_id"])
        else:
            assert (503, "1") == (response.status, response.headers["Retry-After"]), body
        return response.status


class TestBrokerOutage:
    """Kill the broker under load, then start it again."""

    async def test_outage_and_recovery(self, aiohttp_client: Any, own_kafka: LocalKafka) -> None:
        loop = asyncio.get_running_loop()
        # The broker's JVM dies with the thread that started it (PR_SET_PDEATHSIG), so restart it from a
        # thread that lives as long as the test.
        jvm_thread = ThreadPoolExecutor(max_workers=1)
        topic = unique("ingress-outage")
        await create_topics(own_kafka.bootstrap, topic, partitions=2)
        settings = ingress_settings(
            kafka_bootstrap_servers=own_kafka.bootstrap,
            input_topic=topic,
            ingress_producer_wedge_after_s=3.0,
        )
        client: TestClient[Any, Any] = await aiohttp_client(create_app(settings))
        poster = Poster(client)
        try:
            assert [200] * 5 == [await poster.post() for _ in range(5)]

            own_kafka.kill()
            # Concurrent hooks while the broker is dead: each gets its answer within the bound.
            during: list[int] = []
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline:
                during.extend(await asyncio.gather(*(poster.post() for _ in range(10))))
            assert 503 in during
            assert max(elapsed for _, elapsed in poster.outcomes) < ANSWER_BOUND_S

            await loop.run_in_executor(jvm_thread, own_kafka.start)

            async def recovered() -> bool:
                return await poster.post() == 200

            await wait_until(recovered, timeout=60, interval=0.2, message="ingress recovery after restart")
            assert [200] * 5 == [await poster.post() for _ in range(5)]
            assert 200 == (await client.get("/readyz")).status

            records = await read_all(own_kafka.bootstrap, topic, timeout=60)
            in_kafka = {decode_input_event(r.value).event_id for r in records}
            missing = set(poster.accepted) - in_kafka
            assert set() == missing, f"{len(missing)} hooks answered 200 are not in Kafka"
        finally:
            await client.close()
            await loop.run_in_executor(jvm_thread, own_kafka.stop)
            jvm_thread.shutdown(wait=True)
