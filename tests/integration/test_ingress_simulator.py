"""The simulator's hook sender against the real ingress and a real broker: every 200 is in Kafka as sent."""

from __future__ import annotations

from collections import Counter

import orjson
import pytest

from bridge.events import decode_input_event
from bridge.settings import load_settings
from bridge.vtex.config_api import ConfigApiClient
from bridge.vtex.config_models import HookConfig, OrdersFilter
from testkit.kafka import create_topics, read_all, unique, wait_until
from tests.support.ingress import running_ingress
from tests.support.sim import SimFactory

pytestmark = pytest.mark.integration

SECRET = "sim-ingress-Tq8Wz3Lx7Nv2Rk5Pj9Hd"  # strong enough for the production profile


class TestSimulatorThroughIngress:
    """With duplicates and reordering on, each accepted delivery is exactly one record, byte for byte."""

    async def test_every_accepted_delivery_is_in_kafka(
        self, kafka_bootstrap: str, sim_factory: SimFactory
    ) -> None:
        sim = await sim_factory(duplicate_rate=0.2, reorder_rate=0.2, seed=11)
        topic = unique("ingress-sim")
        await create_topics(kafka_bootstrap, topic, partitions=4)
        settings = load_settings(
            kafka_bootstrap_servers=kafka_bootstrap,
            kafka_embedded=False,
            input_topic=topic,
            hook_secret=SECRET,
            vtex_base_url=sim.base_url,
            log_format="text",
        )
        async with running_ingress(settings) as port:
            url = f"http://127.0.0.1:{port}{settings.ingress_path}"
            hook = HookConfig(
                filter=OrdersFilter("$exists(orderId)", disable_single_fire=True),
                url=url,
                headers={settings.hook_secret_header: SECRET},
            )
            async with ConfigApiClient.from_settings(settings) as client:
                await client.set_hook_config(hook)
            await sim.sender.run(sim.workload(orders=12), rate_per_s=0)
            await sim.sender.drain(timeout=60)
            await wait_until(
                lambda: sim.sender.stats()["pending"] == 0, timeout=60, message="deliveries done"
            )

        accepted = [r for r in sim.sender.records if r.outcome == "accepted"]
        assert accepted, "the simulator delivered nothing"
        assert any(r.duplicate for r in accepted), "the workload should include duplicate deliveries"
        records = await read_all(kafka_bootstrap, topic, expected=len(accepted), timeout=60)
        assert len(accepted) == len(records)

        events = [decode_input_event(r.value) for r in records]
        assert {r.event_id for r in accepted} == {e.event_id for e in events}
        assert Counter(r.event_id for r in accepted) == Counter(e.event_id for e in events)
        # As sent, less the appKey (Origin.Key), which the ingress checks and does not copy.
        recorded = [{**r.payload, "Origin": {"Account": r.payload["Origin"]["Account"]}} for r in accepted]
        sent_payloads = {orjson.dumps(p, option=orjson.OPT_SORT_KEYS) for p in recorded}
        for record, event in zip(records, events, strict=True):
            assert event.order_id.encode() == record.key
            assert "hook" == event.source
            assert orjson.dumps(dict(event.payload), option=orjson.OPT_SORT_KEYS) in sent_payloads
            assert event.event_id.encode() == dict(record.headers)["event_id"]
