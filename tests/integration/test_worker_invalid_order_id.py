"""Defence in depth over a real broker: an input record whose OrderId is no VTEX order id (written before
the ingress checked ids, or by another producer) is dead-lettered by the worker with the reason, and its
id never reaches an OMS URL; the partition's other events are delivered."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from testkit.fake_oms import FakeOms, fake_oms
from testkit.kafka import create_topics, read_all
from testkit.worker import WorkerConfig, WorkerProcess, hook, produce

pytestmark = pytest.mark.integration
__all__ = ["fake_oms"]


class TestInvalidOrderIdOnTheInputTopic:
    async def test_dead_lettered_without_an_oms_call(
        self, kafka_bootstrap: str, fake_oms: FakeOms, tmp_path: Path
    ) -> None:
        config = WorkerConfig(kafka_bootstrap, fake_oms.base_url, partitions=1)
        await create_topics(kafka_bootstrap, config.input_topic, partitions=config.partitions)
        hostile = hook("../../api/catalog_system/pvt/products/GetProductById/1?x", "invoiced", 0.0)
        fine = hook("ord-fine", "invoiced", 1.0)
        await produce(kafka_bootstrap, config.input_topic, [hostile, fine])
        with WorkerProcess(config, tmp_path) as worker:
            await worker.start()
            dead = await read_all(kafka_bootstrap, config.dead_letter_topic, expected=1, timeout=60)
            status_topic = config.status_topic("invoiced")
            delivered = await read_all(kafka_bootstrap, status_topic, expected=1, timeout=60)
        letter = orjson.loads(dead[0].value)
        assert ("oms-bad-response", hostile.event_id) == (letter["reason"], letter["event_id"])
        assert "OrderId may hold only" in letter["detail"]
        assert [b"ord-fine"] == [r.key for r in delivered]
        assert set(fake_oms.calls) == {"ord-fine"}  # the hostile id was never put in a URL
