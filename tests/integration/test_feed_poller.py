"""The feed poller moves every Feed v3 event to Kafka, loses nothing when killed before its commit, and
its re-deliveries carry the same event ids as the first delivery and as the hooks (real Kafka, simulator).
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Sequence
from typing import Any

import pytest

from bridge.events import build_input_event, decode_input_event
from bridge.feed_poller.config import PollerConfig
from bridge.feed_poller.metrics import PollerMetrics
from bridge.feed_poller.poller import FeedPoller
from bridge.feed_poller.service import run_poller
from bridge.kafka_producer import ProducerConfig, ResilientProducer
from bridge.settings import Settings, load_settings
from bridge.statuses import KNOWN_STATUSES
from bridge.vtex.config_api import ConfigApiClient
from bridge.vtex.config_models import FeedConfig, FeedItem, FeedQueue, HookConfig, WorkflowFilter
from simulator.server import SimHandle
from testkit.kafka import create_topics, read_all, unique, wait_until
from tests.support.sim import HookReceiver, SimFactory

pytestmark = pytest.mark.integration

#: VTEX seconds per real second in the simulator: a 40 s visibility timeout passes in 2 real seconds.
COMPRESSION = 20.0
VISIBILITY_S = 40
LOT = 4
ALL_STATUSES = WorkflowFilter(KNOWN_STATUSES)


class SimulatedCrash(Exception):
    """Raised between Kafka's acknowledgement and the commit, like a process dying there."""


def poller_settings(sim: SimHandle, bootstrap: str, topic: str, dead_letter: str) -> Settings:
    return load_settings(
        vtex_base_url=sim.base_url,
        kafka_bootstrap_servers=bootstrap,
        kafka_embedded=False,
        input_topic=topic,
        dead_letter_topic=dead_letter,
        feed_poll_maxlot=LOT,
        feed_poll_idle_s=0.05,
        feed_poll_rate_per_s=200.0,
        feed_poll_backoff_initial_s=0.05,
        feed_poll_backoff_max_s=0.5,
    )


def client_for(sim: SimHandle) -> ConfigApiClient:
    return ConfigApiClient(
        base_url=sim.base_url, app_key=sim.config.app_key, app_token=sim.config.app_token, timeout_s=5.0
    )


async def topics(bootstrap: str) -> tuple[str, str]:
    topic, dead_letter = unique("feed-input"), unique("feed-dlq")
    await create_topics(bootstrap, topic, dead_letter, partitions=3)
    return topic, dead_letter


async def configure_and_emit(sim: SimHandle, orders: int, hook_url: str | None = None) -> int:
    """Configure the feed (and the hook), drive `orders` orders through their lifecycles; return the depth."""
    async with client_for(sim) as client:
        await client.set_feed_config(FeedConfig(ALL_STATUSES, FeedQueue(VISIBILITY_S, 345600)))
        if hook_url is not None:
            await client.set_hook_config(HookConfig(ALL_STATUSES, hook_url, {}))
    for transition in sim.workload(orders=orders).transitions():
        sim.emit(transition)
    depth = feed_depth(sim)
    assert depth > LOT * 2, "the workload should fill several lots"
    return depth


async def hook_event_ids(receiver: HookReceiver, count: int) -> set[str]:
    """Return the event ids of the first `count` hooks the receiver accepted (same filter as the feed)."""
    await wait_until(lambda: len(receiver.accepted_bodies()) >= count, timeout=30, message="hooks delivered")
    return {build_input_event(b, source="hook").event_id for b in receiver.accepted_bodies()}


def feed_depth(sim: SimHandle) -> int:
    feed = sim.store.get_feed(sim.config.app_key)
    return 0 if feed is None else feed.queue.quantity()


def event_ids(records: Sequence[Any]) -> Counter[str]:
    return Counter(decode_input_event(r.value).event_id for r in records)


async def drain(settings: Settings, sim: SimHandle) -> None:
    """Run a healthy poller until the feed is empty (everything produced and committed), then stop it."""
    stop = asyncio.Event()
    task = asyncio.create_task(run_poller(settings, stop, serve_http=False))
    try:
        await wait_until(lambda: feed_depth(sim) == 0 or task.done(), timeout=60, message="feed drained")
    finally:
        stop.set()
        await asyncio.wait_for(task, 30)


class TestFeedToKafka:
    """Every feed event reaches the input topic once, keyed and identified like the hook of that change."""

    async def test_feed_events_match_the_hooks(
        self, kafka_bootstrap: str, sim_factory: SimFactory, hook_receiver: HookReceiver
    ) -> None:
        sim = await sim_factory(time_compression=1.0)  # no visibility expiry during this test
        topic, dead_letter = await topics(kafka_bootstrap)
        depth = await configure_and_emit(sim, orders=5, hook_url=hook_receiver.url)
        hook_ids = Counter(await hook_event_ids(hook_receiver, depth))
        assert depth == len(hook_ids)

        await drain(poller_settings(sim, kafka_bootstrap, topic, dead_letter), sim)

        records = await read_all(kafka_bootstrap, topic, expected=depth)
        assert depth == len(records)
        assert hook_ids == event_ids(records)
        for record in records:
            event = decode_input_event(record.value)
            assert (event.order_id.encode(), "feed", sim.config.account) == (
                record.key,
                event.source,
                event.account,
            )
            assert {"OrderId", "State", "LastChange", "Domain", "Origin"} <= set(event.payload)
            assert ("event_id", event.event_id.encode()) in record.headers
        assert [] == await read_all(kafka_bootstrap, dead_letter)


class TestKilledBetweenAckAndCommit:
    """A poller dying after Kafka's ack but before the commit loses nothing: the lot comes back after the
    visibility timeout, is produced again with the same event ids, and the de-dup absorbs the copies."""

    @pytest.mark.parametrize("how", ["crash", "cancel"])
    async def test_lot_reappears_with_equal_event_ids(
        self, how: str, kafka_bootstrap: str, sim_factory: SimFactory, hook_receiver: HookReceiver
    ) -> None:
        sim = await sim_factory(time_compression=COMPRESSION)
        topic, dead_letter = await topics(kafka_bootstrap)
        depth = await configure_and_emit(sim, orders=4, hook_url=hook_receiver.url)
        settings = poller_settings(sim, kafka_bootstrap, topic, dead_letter)
        # The hooks of the same changes: every one must end up in Kafka through the feed, same ids.
        expected = await hook_event_ids(hook_receiver, depth)
        assert depth == len(expected)

        crashed_lot = await self.kill_after_ack(how, settings)

        in_kafka = event_ids(await read_all(kafka_bootstrap, topic, expected=LOT))
        assert dict.fromkeys(crashed_lot, 1) == dict(in_kafka), "the lot was acknowledged before the kill"
        assert depth == feed_depth(sim), "nothing was committed"

        await drain(settings, sim)  # the lot is invisible for VTEX's visibility timeout, then comes back

        final = event_ids(await read_all(kafka_bootstrap, topic))
        assert expected == set(final), "every feed event is in Kafka, nothing else"
        assert all(final[i] >= 2 for i in crashed_lot), "the killed lot was produced again..."
        assert len(final) == depth, "...with the same event ids, so de-dup by event_id leaves one each"

    @staticmethod
    async def kill_after_ack(how: str, settings: Settings) -> set[str]:
        """Run a poller that dies between ack and commit of its first lot; return that lot's event ids."""
        lot: list[FeedItem] = []
        acked = asyncio.Event()

        async def die(items: Sequence[FeedItem]) -> None:
            lot.extend(items)
            acked.set()
            if how == "crash":
                raise SimulatedCrash
            await asyncio.Event().wait()  # hang until killed

        if how == "crash":
            with pytest.raises(SimulatedCrash):
                await asyncio.wait_for(
                    run_poller(settings, asyncio.Event(), before_commit=die, serve_http=False), 60
                )
        else:
            producer = ResilientProducer(ProducerConfig(bootstrap_servers=settings.kafka_bootstrap_servers))
            await producer.start(require_connection=True)
            try:
                async with ConfigApiClient.from_settings(settings) as client:
                    poller = FeedPoller(
                        client,
                        producer,
                        PollerConfig.from_settings(settings),
                        PollerMetrics(),
                        before_commit=die,
                    )
                    task = asyncio.create_task(poller.run(asyncio.Event()))
                    await asyncio.wait_for(acked.wait(), 60)
                    task.cancel()
                    with pytest.raises(asyncio.CancelledError):
                        await task
            finally:
                await producer.stop()
        assert LOT == len(lot)
        return {
            build_input_event(
                {"OrderId": i.order_id, "State": i.state, "LastChange": i.last_change},
                source="feed",
                account="x",
            ).event_id
            for i in lot
        }
