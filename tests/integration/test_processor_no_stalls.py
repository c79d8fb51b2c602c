"""No partition stalls, over a real broker, a worker process and a fake OMS: an order OMS fails for alone
is dead-lettered after its budget and its order continues (the next record names it); a partition whose
oldest event is stuck pauses at its bound and resumes; the oldest unfinished event's age is exported."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from testkit import probes
from testkit.fake_oms import FakeOms, fake_oms
from testkit.kafka import create_topics, read_all, wait_until
from testkit.worker import WorkerConfig, WorkerProcess, downstream, hook, produce

pytestmark = pytest.mark.integration
__all__ = ["fake_oms"]


def _config(bootstrap: str, oms: FakeOms, **extra: str) -> WorkerConfig:
    config = WorkerConfig(bootstrap, oms.base_url, partitions=1)
    config.extra.update(extra)
    return config


class TestPoisonOrder:
    """OMS answers 500 for one order only: its events are dead-lettered, the partition's commits advance."""

    async def test_dead_lettered_after_budget_then_the_order_continues(
        self, kafka_bootstrap: str, fake_oms: FakeOms, tmp_path: Path
    ) -> None:
        config = _config(
            kafka_bootstrap,
            fake_oms,
            VTEX_BRIDGE_WORKER_EVENT_RETRY_ATTEMPTS="2",
            VTEX_BRIDGE_WORKER_EVENT_RETRY_S="2",
        )
        await create_topics(kafka_bootstrap, config.input_topic, partitions=1)
        fake_oms.failing["ord-poison"] = 500
        poisoned = [hook("ord-poison", "handling", 1.0)]
        others = [hook(f"ord-ok-{i}", "invoiced", 0.0) for i in range(20)]
        with WorkerProcess(config, tmp_path) as worker:
            await worker.start()
            await produce(kafka_bootstrap, config.input_topic, poisoned)
            await wait_until(lambda: _called(fake_oms, "ord-poison"), timeout=30, message="poison read")
            await produce(kafka_bootstrap, config.input_topic, others)  # served while the poison fails
            topic = config.status_topic("invoiced")
            await wait_until(lambda: _count(kafka_bootstrap, topic, 20), timeout=60, message="others emitted")
            await wait_until(
                lambda: probes.caught_up(kafka_bootstrap, config.app_id, config.input_topic),
                timeout=60,
                message="the partition's committed offset reached its end",
            )
            dead = [orjson.loads(m.value) for m in await read_all(kafka_bootstrap, config.dead_letter_topic)]
            assert [("oms-unavailable", poisoned[0].event_id)] == [(d["reason"], d["event_id"]) for d in dead]
            assert dead[0]["attempts"] >= 2 and "500" in dead[0]["last_error"]
            # OMS serves the order again: its next event is emitted and names the dead-lettered one.
            del fake_oms.failing["ord-poison"]
            await produce(kafka_bootstrap, config.input_topic, [hook("ord-poison", "invoiced", 2.0)])
            await wait_until(lambda: _count(kafka_bootstrap, topic, 21), timeout=60, message="poison order")
            metrics = await worker.metrics()
            assert 'vtex_bridge_processor_oldest_unfinished_seconds{partition="0"}' in metrics
            assert 0 == await worker.terminate()
        records = [m for m in await read_all(kafka_bootstrap, topic) if m.key == b"ord-poison"]
        assert 1 == len(records)
        assert ("follows_dead_letter", poisoned[0].event_id.encode()) in list(records[0].headers)


class TestBoundedPartition:
    """A stuck head holds later events; at the bound the partition is paused, and resumed once it moves."""

    async def test_pause_at_the_bound_and_resume(
        self, kafka_bootstrap: str, fake_oms: FakeOms, tmp_path: Path
    ) -> None:
        config = _config(
            kafka_bootstrap,
            fake_oms,
            VTEX_BRIDGE_WORKER_MAX_UNFINISHED_PER_PARTITION="20",
            VTEX_BRIDGE_WORKER_EVENT_RETRY_ATTEMPTS="1000",  # never dead-lettered: the head stays stuck
        )
        await create_topics(kafka_bootstrap, config.input_topic, partitions=1)
        fake_oms.failing["ord-stuck"] = 500
        events = [hook("ord-stuck", "handling", 1.0)] + [
            hook(f"ord-b-{i}", "invoiced", 0.0) for i in range(60)
        ]
        with WorkerProcess(config, tmp_path) as worker:
            await worker.start()
            await produce(kafka_bootstrap, config.input_topic, events)
            await wait_until(lambda: _logged(worker, "pausing a partition"), timeout=60, message="paused")
            assert not await probes.caught_up(kafka_bootstrap, config.app_id, config.input_topic)
            del fake_oms.failing["ord-stuck"]
            await wait_until(
                lambda: probes.caught_up(kafka_bootstrap, config.app_id, config.input_topic),
                timeout=90,
                message="resumed and committed to the end",
            )
            assert _logged_now(worker, "resuming a paused partition")
            assert 0 == await worker.terminate()
        records = await downstream(
            kafka_bootstrap, [config.status_topic("invoiced"), config.status_topic("handling")]
        )
        assert 61 == len(records)
        assert [] == await read_all(kafka_bootstrap, config.dead_letter_topic, timeout=10)


async def _called(oms: FakeOms, order_id: str) -> bool:
    return oms.calls[order_id] > 0


async def _count(bootstrap: str, topic: str, n: int) -> bool:
    return len(await downstream(bootstrap, [topic])) >= n


def _logged_now(worker: WorkerProcess, text: str) -> bool:
    return text in worker.log_path.read_text(errors="replace")


async def _logged(worker: WorkerProcess, text: str) -> bool:
    return _logged_now(worker, text)
