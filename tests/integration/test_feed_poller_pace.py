"""A Feed v3 backlog is drained with several lots in flight (real Kafka, simulator): every event reaches the
input topic once, one order's events in feed order, and the backlog metrics fall back to zero.

The speed itself is a benchmark's figure (`python -m bench.feed_pace`), not asserted here.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict

import orjson

from bridge.feed_poller.config import PollerConfig
from bridge.feed_poller.metrics import AccountPollerMetrics, PollerMetrics
from bridge.feed_poller.poller import FeedPoller
from bridge.kafka_producer import ProducerConfig, ResilientProducer
from bridge.statuses import KNOWN_STATUSES
from bridge.vtex.config_api import ConfigApiClient
from bridge.vtex.config_models import FeedConfig, FeedQueue, WorkflowFilter
from testkit.kafka import create_topics, read_all, unique, wait_until
from tests.support.sim import SimFactory

MAX_CONCURRENCY = 4


def gauge(metrics: AccountPollerMetrics, name: str) -> float | None:
    return metrics.registry.get_sample_value(f"vtex_bridge_feed_poller_{name}", {"account": metrics.account})


class TestBacklogPace:
    """A full backlog makes the poller use its whole concurrency, and it drains to zero."""

    async def test_drains_with_concurrent_lots(self, kafka_bootstrap: str, sim_factory: SimFactory) -> None:
        sim = await sim_factory(time_compression=1.0, rate_limit_per_minute=0)
        topic, dead_letter = unique("pace-in"), unique("pace-dlq")
        await create_topics(kafka_bootstrap, topic, dead_letter, partitions=3)
        client = ConfigApiClient(
            base_url=sim.base_url, app_key=sim.config.app_key, app_token=sim.config.app_token, timeout_s=5.0
        )
        producer = ResilientProducer(ProducerConfig(bootstrap_servers=kafka_bootstrap))
        await producer.start(require_connection=True)
        stop = asyncio.Event()
        try:
            async with client:
                await client.set_feed_config(
                    FeedConfig(WorkflowFilter(KNOWN_STATUSES), FeedQueue(240, 345600))
                )
                for transition in sim.workload(orders=60).transitions():
                    sim.emit(transition)
                depth = sim.state.feed_depth()[sim.config.app_key]
                assert depth > 40 * MAX_CONCURRENCY, "a backlog of many full lots"
                config = PollerConfig(
                    input_topic=topic,
                    dead_letter_topic=dead_letter,
                    account=sim.config.account,
                    app_key=sim.config.app_key,
                    idle_s=0.05,
                    rate_per_s=400.0,
                    max_concurrency=MAX_CONCURRENCY,
                    backlog_interval_s=0.1,
                )
                poller = FeedPoller(client, producer, config, PollerMetrics())
                task = asyncio.create_task(poller.run(stop))
                await wait_until(
                    lambda: (gauge(poller.metrics, "backlog_items") or 0) > 0,
                    timeout=30,
                    message="the backlog metric shows the queue",
                )
                await wait_until(
                    lambda: sim.state.feed_depth()[sim.config.app_key] == 0 or task.done(),
                    timeout=120,
                    message="feed drained",
                )
                await wait_until(
                    lambda: (
                        gauge(poller.metrics, "backlog_items") == 0.0
                        and gauge(poller.metrics, "backlog_age_seconds") == 0.0
                    ),
                    timeout=30,
                    message="backlog metrics back to zero",
                )
                stop.set()
                await asyncio.wait_for(task, 30)
        finally:
            stop.set()
            await producer.stop()
        assert MAX_CONCURRENCY == poller.max_lanes_used
        assert depth == sim.simulator.counters["feed_items_committed"]
        records = await read_all(kafka_bootstrap, topic, expected=depth)
        assert depth == len({orjson.loads(r.value)["event_id"] for r in records}) == len(records)
        changes: dict[bytes, list[str]] = defaultdict(list)
        for record in records:
            assert record.key is not None
            changes[record.key].append(orjson.loads(record.value)["LastChange"])
        assert all(sorted(c) == c for c in changes.values()), "one order's events in feed order"
