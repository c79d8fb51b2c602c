"""`docker compose up` flows: the compose file's services, run as local processes, bring orders to Kafka.

See tests/deploy/compose_local.py for how a compose service becomes a local process. The broker is the
test's own (the compose file's `kafka` service is the image of the same Kafka version).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from aiokafka import AIOKafkaConsumer
from aiokafka.admin import AIOKafkaAdminClient

from bridge.local_kafka import LocalKafka
from tests.deploy.compose_local import ComposeAsProcesses, default_services, load_compose

STATUS_PREFIX = "vtex.orders.status."
FLOW_TIMEOUT_S = 180.0


class TestComposeFile:
    """Static promises of the compose file that the flow test cannot see."""

    def test_every_long_running_service_has_a_healthcheck(self) -> None:
        compose = load_compose()
        services = compose["services"]
        missing = [
            name
            for name in default_services(compose)
            if services[name].get("restart") != "no" and "healthcheck" not in services[name]
        ]
        assert [] == missing

    def test_ports_are_published_on_loopback_only(self) -> None:
        services = load_compose()["services"].items()
        published = [(name, str(port)) for name, spec in services for port in spec.get("ports", [])]
        assert [] == [(name, port) for name, port in published if not port.startswith("127.0.0.1:")]

    def test_kafka_writes_its_log_into_the_volume(self) -> None:
        kafka = load_compose()["services"]["kafka"]
        log_dirs = kafka["environment"]["KAFKA_LOG_DIRS"]
        assert any(volume.endswith(f":{log_dirs}") for volume in kafka["volumes"])


@pytest.fixture
def compose(own_kafka: LocalKafka, tmp_path: Path) -> Iterator[ComposeAsProcesses]:
    stack = ComposeAsProcesses(load_compose(), own_kafka.bootstrap, tmp_path)
    try:
        yield stack
    finally:
        stack.down()


@pytest.mark.integration
class TestComposeUp:
    """`docker compose up`, as processes: setup succeeds, every service turns healthy, orders flow."""

    async def test_simulated_orders_reach_the_status_topics(
        self, compose: ComposeAsProcesses, own_kafka: LocalKafka
    ) -> None:
        await asyncio.to_thread(compose.up)
        await asyncio.to_thread(compose.wait_completed, "setup")
        records = await _status_records(own_kafka.bootstrap, at_least=20, timeout=FLOW_TIMEOUT_S)
        assert len(records) >= 20, _logs(compose)
        for name, service in compose.planned.items():
            if not service.one_shot:
                await asyncio.to_thread(compose.wait_healthy, name)


async def _status_records(bootstrap: str, *, at_least: int, timeout: float) -> list[bytes]:
    """Read the status topics (read_committed) until `at_least` records arrived or the deadline passed."""
    deadline = time.monotonic() + timeout
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        topics: list[str] = []
        while not topics and time.monotonic() < deadline:
            topics = [t for t in await admin.list_topics() if t.startswith(STATUS_PREFIX)]
            if not topics:
                await asyncio.sleep(0.5)
    finally:
        await admin.close()
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        isolation_level="read_committed",
        metadata_max_age_ms=1000,
    )
    await consumer.start()
    records: list[bytes] = []
    try:
        consumer.subscribe(pattern=rf"^{STATUS_PREFIX.replace('.', '[.]')}.*")
        while len(records) < at_least and time.monotonic() < deadline:
            batch = await consumer.getmany(timeout_ms=500)
            records.extend(m.value for msgs in batch.values() for m in msgs if m.value is not None)
    finally:
        await consumer.stop()
    return records


def _logs(compose: ComposeAsProcesses) -> str:
    return "\n".join(f"--- {name}\n{compose.tail(name)}" for name in compose.children)
