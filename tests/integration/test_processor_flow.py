"""The worker end to end over a real broker: de-dup, ordering, enrichment, routing, lateness, DLQ."""

from __future__ import annotations

import asyncio
from pathlib import Path

import orjson
import pytest

from bridge.statuses import KNOWN_STATUSES
from bridge.validation import validate
from testkit.fake_oms import FakeOms, fake_oms
from testkit.kafka import create_topics, read_all, wait_until
from testkit.worker import (
    WorkerConfig,
    WorkerProcess,
    downstream,
    duplicates,
    hook,
    lifecycle,
    per_order_sequence,
    produce,
)

pytestmark = pytest.mark.integration
__all__ = ["fake_oms"]


class TestWorkerFlow:
    """One worker turns input events into de-duplicated, ordered, enriched, routed records."""

    async def test_dedup_order_enrich_route_late(
        self, kafka_bootstrap: str, fake_oms: FakeOms, tmp_path: Path
    ) -> None:
        # Every known status grouped into one topic: its offsets then show the true per-order emit order.
        config = WorkerConfig(kafka_bootstrap, fake_oms.base_url, partitions=3)
        config.extra["VTEX_BRIDGE_WORKER_ROUTE_GROUPS"] = orjson.dumps({"all": list(KNOWN_STATUSES)}).decode()
        await create_topics(kafka_bootstrap, config.input_topic, partitions=config.partitions)
        orders = [f"ord-{i}" for i in range(6)]
        events = [e for order in orders for e in lifecycle(order, 5)]
        dup_hook = events[2]
        dup_feed = hook(events[3].order_id, events[3].state, 3.0, source="feed")  # same triple, from the feed
        late = hook("ord-late", "payment-pending", 1.0)
        newer = hook("ord-late", "invoiced", 10.0)
        unknown = hook("ord-odd", "brand-new-status", 0.0)
        null_state = hook("ord-odd", None, 1.0)
        stream = [*events, dup_hook, dup_feed, newer, late, unknown, null_state]
        await produce(kafka_bootstrap, config.input_topic, stream)
        fake_oms.statuses["ord-late"] = "invoiced"

        with WorkerProcess(config, tmp_path) as worker:
            await worker.start()
            topics = [config.status_topic("all"), config.status_topic("unknown")]
            expected = len(events) + 4

            async def all_there() -> bool:
                return len(await downstream(kafka_bootstrap, topics)) >= expected

            await wait_until(all_there, timeout=60, message="downstream records")
            assert 0 == await worker.terminate()
            assert [] == worker.error_lines()

        records = await downstream(kafka_bootstrap, topics)
        assert expected == len(records)
        assert {} == duplicates(records)
        for record in records:
            validate("downstream-event", {k: v for k, v in record.items() if not k.startswith("_")})
            assert config.status_topic(record["route"]) == record["_topic"]
        sequence = per_order_sequence([r for r in records if r["route"] == "all"])
        for order in orders:
            assert [e.event_id for e in events if e.order_id == order] == sequence[order]
        by_id = {r["event_id"]: r for r in records}
        assert (True, "invoiced") == (by_id[late.event_id]["late"], by_id[late.event_id]["newer_state"])
        assert False is by_id[newer.event_id]["late"]
        assert ("unknown", "unknown") == (
            by_id[unknown.event_id]["route"],
            by_id[null_state.event_id]["route"],
        )
        assert "invoiced" == by_id[late.event_id]["order_status"]
        assert "ord-0" == by_id[events[0].event_id]["order"]["orderId"]
        # One OMS read per order burst: every order's events were waiting when the worker started.
        assert fake_oms.total_calls <= len(orders) * 5

    async def test_permanent_404_is_dead_lettered_and_replayed(
        self, kafka_bootstrap: str, fake_oms: FakeOms, tmp_path: Path
    ) -> None:
        config = WorkerConfig(kafka_bootstrap, fake_oms.base_url, partitions=2)
        await create_topics(kafka_bootstrap, config.input_topic, partitions=config.partitions)
        missing = hook("ord-missing", "invoiced", 0.0)
        fine = hook("ord-fine", "invoiced", 0.0)
        fake_oms.not_found_calls["ord-missing"] = -1
        await produce(kafka_bootstrap, config.input_topic, [missing, fine])
        topic = config.status_topic("invoiced")
        with WorkerProcess(config, tmp_path) as worker:
            await worker.start()
            dead = await read_all(kafka_bootstrap, config.dead_letter_topic, expected=1, timeout=60)
            value = orjson.loads(dead[0].value)
            assert ("order-not-found", missing.event_id) == (value["reason"], value["event_id"])
            assert 1 == len(await read_all(kafka_bootstrap, topic, expected=1, timeout=30))

            # The order becomes readable; replay moves the dead letter back to the input topic.
            fake_oms.not_found_calls.pop("ord-missing")
            proc = await asyncio.create_subprocess_exec(
                str(Path(".venv/bin/vtex-bridge").resolve()),
                "replay",
                env=config.env(worker.port),
            )
            assert 0 == await asyncio.wait_for(proc.wait(), 60)
            records = await read_all(kafka_bootstrap, topic, expected=2, timeout=60)
            assert {missing.event_id, fine.event_id} == {orjson.loads(r.value)["event_id"] for r in records}
            assert 0 == await worker.terminate()
