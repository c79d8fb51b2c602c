"""The worker under OMS failures and with de-dup expiry, over a real broker and a fake OMS."""

from __future__ import annotations

from pathlib import Path

import pytest

from testkit.fake_oms import FakeOms, fake_oms
from testkit.kafka import create_topics, read_all, wait_until
from testkit.worker import WorkerConfig, WorkerProcess, downstream, hook, produce

pytestmark = pytest.mark.integration
__all__ = ["fake_oms"]


class TestDedupExpiry:
    """De-dup entries expire after the TTL: a tombstone reaches the changelog and the event counts as new."""

    async def test_expired_entry_is_tombstoned_and_forgotten(
        self, kafka_bootstrap: str, fake_oms: FakeOms, tmp_path: Path
    ) -> None:
        config = WorkerConfig(kafka_bootstrap, fake_oms.base_url, partitions=1)
        config.extra.update(
            {"VTEX_BRIDGE_WORKER_DEDUP_TTL_S": "2", "VTEX_BRIDGE_WORKER_DEDUP_SWEEP_INTERVAL_S": "0.5"}
        )
        await create_topics(kafka_bootstrap, config.input_topic, partitions=1)
        event = hook("ord-ttl", "invoiced", 0.0)
        topic = config.status_topic("invoiced")
        changelog = f"{config.app_id}-dedup-changelog"
        with WorkerProcess(config, tmp_path) as worker:
            await worker.start()
            await produce(kafka_bootstrap, config.input_topic, [event, event])  # second is a duplicate
            await wait_until(
                lambda: _has(kafka_bootstrap, changelog, lambda m: m.value is None),
                timeout=30,
                message="tombstone",
            )
            assert 1 == len(await downstream(kafka_bootstrap, [topic]))
            await produce(kafka_bootstrap, config.input_topic, [event])  # after expiry: new again
            await wait_until(lambda: _count(kafka_bootstrap, topic, 2), timeout=30, message="re-emitted")
            assert 0 == await worker.terminate()
        keys = {m.key for m in await read_all(kafka_bootstrap, changelog, timeout=30)}
        assert {b"ord-ttl"} == keys


class TestOmsFailures:
    """OMS outages hold events back (no dead letters); credential errors halt consumption until fixed."""

    async def test_credentials_error_halts_then_resumes(
        self, kafka_bootstrap: str, fake_oms: FakeOms, tmp_path: Path
    ) -> None:
        config = WorkerConfig(kafka_bootstrap, fake_oms.base_url, partitions=2)
        await create_topics(kafka_bootstrap, config.input_topic, partitions=2)
        events = [hook(f"ord-auth-{i}", "invoiced", 0.0) for i in range(5)]
        fake_oms.auth_broken = True
        with WorkerProcess(config, tmp_path) as worker:
            await worker.start()
            await produce(kafka_bootstrap, config.input_topic, events)
            await worker.wait_for(lambda h: h.get("halted") is True, 30, "halted")
            assert "vtex_bridge_processor_halted 1.0" in await worker.metrics()
            fake_oms.auth_broken = False
            topic = config.status_topic("invoiced")
            await wait_until(lambda: _count(kafka_bootstrap, topic, 5), timeout=60, message="resumed")
            await worker.wait_for(lambda h: h.get("halted") is False, 30, "not halted")
            assert 0 == await worker.terminate()
        assert [] == await read_all(kafka_bootstrap, config.dead_letter_topic, timeout=10)

    async def test_oms_outage_is_retried_not_dead_lettered(
        self, kafka_bootstrap: str, fake_oms: FakeOms, tmp_path: Path
    ) -> None:
        config = WorkerConfig(kafka_bootstrap, fake_oms.base_url, partitions=2)
        await create_topics(kafka_bootstrap, config.input_topic, partitions=2)
        events = [hook(f"ord-down-{i}", "handling", 0.0) for i in range(5)]
        fake_oms.fail_next(503, times=30)
        fake_oms.fail_next(429, times=3, headers={"Retry-After": "0.2"})
        with WorkerProcess(config, tmp_path) as worker:
            await worker.start()
            await produce(kafka_bootstrap, config.input_topic, events)
            topic = config.status_topic("handling")
            await wait_until(lambda: _count(kafka_bootstrap, topic, 5), timeout=90, message="all emitted")
            assert 'vtex_bridge_processor_retries_total{cause="oms"}' in await worker.metrics()
            assert 0 == await worker.terminate()
        assert [] == await read_all(kafka_bootstrap, config.dead_letter_topic, timeout=10)
        assert 5 == len(await downstream(kafka_bootstrap, [topic]))


async def _count(bootstrap: str, topic: str, n: int) -> bool:
    return len(await downstream(bootstrap, [topic])) >= n


async def _has(bootstrap: str, topic: str, predicate: object) -> bool:
    messages = await read_all(bootstrap, topic, timeout=10)
    return any(predicate(m) for m in messages)  # type: ignore[operator]
