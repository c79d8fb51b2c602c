"""The feed poller under faults: Kafka refusing records, VTEX throttling or missing the feed, unusable
items, and its /metrics and /healthz. VTEX is the simulator over loopback HTTP; Kafka is a scripted sink
except for the health check, which uses the real broker."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson
import pytest
from aiohttp.test_utils import TestClient

from bridge.events import decode_input_event
from bridge.feed_poller.config import PollerConfig
from bridge.feed_poller.metrics import PollerMetrics
from bridge.feed_poller.poller import FeedPoller
from bridge.feed_poller.service import create_app
from bridge.kafka_producer import ProduceFailed, ProducerConfig, ProducerUnavailable, ResilientProducer
from bridge.settings import load_settings
from bridge.statuses import KNOWN_STATUSES
from bridge.vtex.config_api import ConfigApiClient
from bridge.vtex.config_models import FeedConfig, FeedQueue, VtexRateLimited, WorkflowFilter
from processors.records import original_value
from simulator.server import SimHandle
from testkit.kafka import wait_until
from tests.support.sim import SimFactory

pytestmark = pytest.mark.integration

TOPIC = "input"
DEAD_LETTER = "dlq"


@dataclass
class ScriptedSink:
    """Stands in for the producer: records what was acknowledged; fails the next `fail_next` sends."""

    fail_next: int = 0
    connected: bool = True
    acked: list[tuple[str, bytes, bytes]] = field(default_factory=list)

    async def send(
        self,
        topic: str,
        key: bytes | None,
        value: bytes,
        headers: Sequence[tuple[str, bytes]] | None = None,
        *,
        timeout: float,
    ) -> Any:
        await asyncio.sleep(0)
        if self.fail_next > 0:
            self.fail_next -= 1
            raise ProduceFailed("injected")
        assert key is not None
        self.acked.append((topic, key, value))


def config(sim: SimHandle, maxlot: int = 10) -> PollerConfig:
    return PollerConfig(
        input_topic=TOPIC,
        dead_letter_topic=DEAD_LETTER,
        account=sim.config.account,
        app_key=sim.config.app_key,
        maxlot=maxlot,
        idle_s=0.05,
        rate_per_s=200.0,
        backoff_initial_s=0.05,
        backoff_max_s=0.2,
    )


def client_for(sim: SimHandle) -> ConfigApiClient:
    return ConfigApiClient(
        base_url=sim.base_url, app_key=sim.config.app_key, app_token=sim.config.app_token, timeout_s=5.0
    )


async def with_feed(sim: SimHandle, orders: int, visibility_s: int = 240) -> int:
    async with client_for(sim) as client:
        await client.set_feed_config(
            FeedConfig(WorkflowFilter(KNOWN_STATUSES), FeedQueue(visibility_s, 345600))
        )
    for transition in sim.workload(orders=orders).transitions():
        sim.emit(transition)
    return depth(sim)


def depth(sim: SimHandle) -> int:
    feed = sim.store.get_feed(sim.config.app_key)
    return 0 if feed is None else feed.queue.quantity()


class TestKafkaFailures:
    """A lot is committed only when every one of its records was acknowledged."""

    async def test_one_refused_record_commits_nothing(self, sim_factory: SimFactory) -> None:
        sim = await sim_factory(time_compression=100.0)
        total = await with_feed(sim, orders=2, visibility_s=100)  # back after 1 real second
        sink = ScriptedSink(fail_next=1)
        async with client_for(sim) as client:
            poller = FeedPoller(client, sink, config(sim, maxlot=5))
            with pytest.raises(ProduceFailed):
                await poller.poll_once()
            assert total == depth(sim)
            # The other order's records were acknowledged (the failed order's later ones were not even
            # sent, to keep its order), yet nothing was committed.
            assert 0 < len(sink.acked) < 5
            stop = asyncio.Event()
            task = asyncio.create_task(poller.run(stop))
            await wait_until(lambda: depth(sim) == 0, timeout=30, message="feed drained after the failure")
            stop.set()
            await asyncio.wait_for(task, 10)
        produced = {decode_input_event(v).event_id for _, _, v in sink.acked}
        assert total == len(produced)

    async def test_feed_is_not_read_while_kafka_is_down(self, sim: SimHandle) -> None:
        total = await with_feed(sim, orders=1)
        async with client_for(sim) as client:
            poller = FeedPoller(client, ScriptedSink(connected=False), config(sim))
            with pytest.raises(ProducerUnavailable):
                await poller.poll_once()
        assert 0 == sim.simulator.counters["feed_items_read"]
        assert total == depth(sim)

    async def test_records_of_one_order_keep_feed_order(self, sim_factory: SimFactory) -> None:
        sim = await sim_factory()
        await with_feed(sim, orders=3)
        sink = ScriptedSink()
        async with client_for(sim) as client:
            poller = FeedPoller(client, sink, config(sim))
            while depth(sim):
                await poller.poll_once()
        by_order: dict[bytes, list[str]] = {}
        for _, key, value in sink.acked:
            by_order.setdefault(key, []).append(decode_input_event(value).last_change)
        assert by_order and all(changes == sorted(changes) for changes in by_order.values())


class TestVtexFailures:
    """Throttling and a missing feed back off (honouring Retry-After) instead of hammering VTEX."""

    async def test_throttled_poller_backs_off_at_least_retry_after(self, sim_factory: SimFactory) -> None:
        sim = await sim_factory(rate_limit_per_minute=1)
        async with client_for(sim) as client:
            await client.set_feed_config(FeedConfig(WorkflowFilter(KNOWN_STATUSES), FeedQueue()))
        async with client_for(sim) as client:
            poller = FeedPoller(client, ScriptedSink(), config(sim))
            await poller.poll_once()  # the minute's one Feed v3 call
            with pytest.raises(VtexRateLimited) as caught:
                await poller.poll_once()
            retry_after = caught.value.retry_after
            assert retry_after is not None
            stop = asyncio.Event()
            task = asyncio.create_task(poller.run(stop))
            errors = poller.metrics.errors.labels(cause="rate_limited")
            await wait_until(lambda: errors._value.get() >= 1, timeout=10, message="a throttled poll")
            stop.set()
            await asyncio.wait_for(task, 10)
        assert poller.metrics.backoff_seconds._value.get() >= retry_after
        assert "rate_limited" in (poller.last_error or "")

    async def test_missing_feed_is_reported_and_unhealthy(self, sim: SimHandle) -> None:
        async with client_for(sim) as client:
            poller = FeedPoller(client, ScriptedSink(), config(sim))
            stop = asyncio.Event()
            task = asyncio.create_task(poller.run(stop))
            not_found = poller.metrics.errors.labels(cause="not_found")
            await wait_until(lambda: not_found._value.get() >= 2, timeout=10, message="404s backed off")
            stop.set()
            await asyncio.wait_for(task, 10)
        assert not poller.healthy(60.0)
        assert "feed set" in (poller.last_error or "") or "not_found" in (poller.last_error or "")


class TestUnusableItems:
    """An item that cannot become an event goes to the dead-letter topic and is committed."""

    async def test_dead_lettered_then_committed(self, sim: SimHandle) -> None:
        await with_feed(sim, orders=0)
        feed = sim.store.get_feed(sim.config.app_key)
        assert feed is not None
        feed.queue.push({"eventId": "BAD1", "state": "handling", "orderId": "has space-01"}, 0.0)
        feed.queue.push({"eventId": "BAD2", "state": "handling"}, 0.0)
        sink = ScriptedSink()
        async with client_for(sim) as client:
            poller = FeedPoller(client, sink, config(sim))
            result = await poller.poll_once()
        assert (2, 0, 2, 2) == (result.read, result.produced, result.dead_lettered, result.committed)
        assert {DEAD_LETTER} == {topic for topic, _, _ in sink.acked}
        letters = [orjson.loads(value) for _, _, value in sink.acked]
        assert {"unusable_feed_item"} == {letter["reason"] for letter in letters}
        assert any("lastChange" in letter["detail"] for letter in letters)
        # The processor's replay reads the original value back from the letter (same format).
        originals = [orjson.loads(original_value(value)) for _, _, value in sink.acked]
        assert {"BAD1", "BAD2"} == {o["eventId"] for o in originals}
        assert all("handle" not in o for o in originals)
        assert 0 == depth(sim)

    async def test_invalid_order_ids_are_dead_lettered_with_the_reason(self, sim: SimHandle) -> None:
        await with_feed(sim, orders=0)
        feed = sim.store.get_feed(sim.config.app_key)
        assert feed is not None
        bad_ids = ["../../api/catalog_system/pvt/products/GetProductById/1?x", "v1-01#x", "v1\x00-01"]
        for index, order_id in enumerate(bad_ids):
            item = {"eventId": f"BAD{index}", "state": "handling", "orderId": order_id}
            feed.queue.push({**item, "lastChange": "2026-11-25T03:00:00.0000000Z"}, 0.0)
        sink = ScriptedSink()
        async with client_for(sim) as client:
            poller = FeedPoller(client, sink, config(sim))
            result = await poller.poll_once()
        assert (3, 0, 3, 3) == (result.read, result.produced, result.dead_lettered, result.committed)
        letters = [orjson.loads(value) for _, _, value in sink.acked]
        assert {DEAD_LETTER} == {topic for topic, _, _ in sink.acked}
        assert all(letter["detail"].startswith("OrderId may hold only") for letter in letters)
        assert 0 == depth(sim)


class TestHttp:
    """/metrics exposes the poller's own registry; /healthz needs a recent read and a connected producer;
    /livez only a serving process."""

    async def test_metrics_and_health(
        self, sim: SimHandle, kafka_bootstrap: str, aiohttp_client: Any
    ) -> None:
        total = await with_feed(sim, orders=1)
        settings = load_settings(kafka_embedded=False, feed_poll_stale_after_s=60.0)
        producer = ResilientProducer(ProducerConfig(bootstrap_servers=kafka_bootstrap))
        async with client_for(sim) as client:
            poller = FeedPoller(client, ScriptedSink(), config(sim), PollerMetrics())
            http: TestClient[Any, Any] = await aiohttp_client(create_app(settings, poller, producer))
            response = await http.get("/healthz")
            assert 503 == response.status  # nothing read yet, no producer
            assert 200 == (await http.get("/livez")).status  # alive all the same: no restart helps
            await poller.poll_once()
            await producer.start(require_connection=True)
            try:
                response = await http.get("/healthz")
                assert 200 == response.status
                body = await response.json()
                assert {"status": "ok", "feed_read_recently": True, "producer_connected": True} == {
                    k: v for k, v in body.items() if k not in ("last_error", "accounts")
                }
                assert {sim.config.account: {"feed_read_recently": True, "last_error": None}} == body[
                    "accounts"
                ]
            finally:
                await producer.stop()
            metrics = await (await http.get("/metrics")).text()
        account = f'{{account="{sim.config.account}"}}'
        assert f"vtex_bridge_feed_poller_items_read_total{account} {float(min(total, 10))}" in metrics
        assert "vtex_bridge_feed_poller_last_success_timestamp_seconds" in metrics
