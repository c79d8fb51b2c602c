"""Session-wide fixtures: a real Kafka broker for every integration test.

How to run: `make test` (lint, types and every test). The broker comes from `KAFKA_BOOTSTRAP_SERVERS`
when set, else from testcontainers when a Docker engine answers, else the project starts its own local
Apache Kafka from Maven Central's jars (cached in ~/.cache/vtex-kafka-bridge; the first run downloads
~50 MB). Nothing is skipped when Docker is absent. Each test uses fresh topic and group names.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from bridge.local_kafka import LocalKafka
from testkit import kafka as kafka_support

pytest_plugins = ["tests.support.sim"]


@pytest.fixture(scope="session")
def kafka_bootstrap(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Return the bootstrap address of a real Kafka broker for the whole session."""
    given = os.environ.get("KAFKA_BOOTSTRAP_SERVERS")
    if given:
        yield given
    elif kafka_support.docker_engine_answers():
        with kafka_support.testcontainers_kafka() as bootstrap:
            yield bootstrap
    else:
        with kafka_support.local_broker(tmp_path_factory.mktemp("kafka")) as broker:
            yield broker.bootstrap


@pytest.fixture
def own_kafka(tmp_path: Path) -> Iterator[LocalKafka]:
    """Return a private local broker that the test may stop, kill and restart (fault injection)."""
    with kafka_support.local_broker(tmp_path / "kafka") as broker:
        yield broker
