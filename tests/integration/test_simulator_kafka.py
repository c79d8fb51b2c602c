"""The simulator's delivery records line up with what a receiver put into real Kafka.

A minimal receiver stands in for the ingress: it produces each notification to Kafka (acks=all) and
answers 200 only after the ack, failing some requests on purpose. With duplicates, reordering and
failures switched on, the event ids in Kafka are exactly `sender.accepted_events().event_ids`: the
comparison every end-to-end test of the bridge makes.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from itertools import cycle

import orjson
import pytest
from aiohttp import web
from aiokafka import AIOKafkaProducer

from bridge.events import compute_event_id
from simulator.filters import parse_filter
from testkit.kafka import create_topics, read_all, unique
from tests.support.sim import SimFactory

pytestmark = pytest.mark.integration

SEND_TIMEOUT_S = 30.0


@pytest.fixture
async def kafka_receiver(kafka_bootstrap: str) -> AsyncIterator[tuple[str, str]]:
    """Return (url, topic) of a receiver that produces to Kafka and fails every 7th request with 503."""
    topic = unique("sim-hooks")
    await create_topics(kafka_bootstrap, topic, partitions=3)
    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap, enable_idempotence=True, acks="all")
    await asyncio.wait_for(producer.start(), SEND_TIMEOUT_S)
    failing = cycle([False] * 6 + [True])

    async def handle(request: web.Request) -> web.Response:
        body = await request.read()
        payload = orjson.loads(body)
        if payload == {"hookConfig": "ping"}:
            return web.Response(status=200)
        if next(failing):
            return web.Response(status=503)
        await asyncio.wait_for(
            producer.send_and_wait(topic, body, key=str(payload["OrderId"]).encode()), SEND_TIMEOUT_S
        )
        return web.Response(status=200)

    app = web.Application()
    app.router.add_post("/hook", handle)
    runner = web.AppRunner(app, shutdown_timeout=1.0)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = next(a[1] for a in runner.addresses if isinstance(a, tuple))
    try:
        yield f"http://127.0.0.1:{port}/hook", topic
    finally:
        await runner.cleanup()
        await producer.stop()


class TestAcceptedEventsMatchKafka:
    """Every accepted event is in Kafka and nothing else is, despite duplicates, reordering and failures."""

    async def test_compare(
        self, sim_factory: SimFactory, kafka_receiver: tuple[str, str], kafka_bootstrap: str
    ) -> None:
        url, topic = kafka_receiver
        sim = await sim_factory(
            duplicate_rate=0.2, reorder_rate=0.2, retry_base_s=0.01, time_compression=100.0
        )
        every_change = {"type": "FromOrders", "expression": "$exists(orderId)", "disableSingleFire": True}
        sim.state.set_hook(sim.config.app_key, parse_filter(every_change), url, {})
        await sim.sender.run(sim.workload(20), rate_per_s=0)
        await sim.sender.drain(timeout=60)
        stats = sim.sender.stats()
        assert 0 == stats["dropped"]
        assert stats["retried"] > 0
        assert stats["duplicates"] > 0
        records = await read_all(kafka_bootstrap, topic, expected=stats["accepted"])
        in_kafka = [orjson.loads(r.value) for r in records]
        ids = {compute_event_id(p["OrderId"], p["State"], p["LastChange"]) for p in in_kafka}
        accepted = sim.sender.accepted_events()
        assert accepted.event_ids == ids
        assert len(sim.workload(20)) == len(accepted.event_ids)
        assert stats["accepted"] == len(in_kafka)  # duplicates reached Kafka: de-dup is the processor's job
