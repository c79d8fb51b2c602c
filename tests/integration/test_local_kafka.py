"""The project's own broker starts, answers, stops cleanly and leaves no JVM behind."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from bridge import local_kafka
from testkit.kafka import KAFKA_VERSION

pytestmark = pytest.mark.integration


class TestLocalKafka:
    """`LocalKafka` manages one real broker's whole lifecycle."""

    def test_start_answer_stop(self, tmp_path: Path) -> None:
        libs = local_kafka.ensure_distribution(KAFKA_VERSION)
        broker = local_kafka.LocalKafka(libs=libs, work_dir=tmp_path)
        broker.start()
        assert broker.process is not None
        pid = broker.process.pid
        assert local_kafka.broker_answers(broker.bootstrap)
        broker.stop()
        assert not local_kafka.process_alive(pid)
        assert not local_kafka.broker_answers(broker.bootstrap)

    def test_restart_keeps_data_directory(self, tmp_path: Path) -> None:
        libs = local_kafka.ensure_distribution(KAFKA_VERSION)
        broker = local_kafka.LocalKafka(libs=libs, work_dir=tmp_path)
        broker.start()
        meta = (tmp_path / "data" / "meta.properties").read_text()
        broker.stop()
        broker.start()
        try:
            assert meta == (tmp_path / "data" / "meta.properties").read_text()
            assert local_kafka.broker_answers(broker.bootstrap)
        finally:
            broker.stop()

    def test_failure_reports_log_tail(self, tmp_path: Path) -> None:
        broker = local_kafka.LocalKafka(libs=tmp_path / "no-jars", work_dir=tmp_path / "w")
        with pytest.raises(local_kafka.LocalKafkaError) as info:
            broker.start(timeout=30)
        assert "Kafka" in str(info.value) or "format" in str(info.value)

    def test_detached_up_status_down(self, tmp_path: Path) -> None:
        port = local_kafka.free_port()
        # jars come from the shared cache; state and data go to a private one
        libs = local_kafka.ensure_distribution(KAFKA_VERSION)
        cache = tmp_path / "cache"
        (cache / f"kafka-{KAFKA_VERSION}").mkdir(parents=True)
        os.symlink(libs, cache / f"kafka-{KAFKA_VERSION}" / "libs")
        state = local_kafka.detached_up(KAFKA_VERSION, port, cache)
        try:
            assert f"127.0.0.1:{port}" == state.bootstrap
            assert local_kafka.detached_up(KAFKA_VERSION, port, cache).pid == state.pid
            # Asked for something else (another port, a cluster, SASL_SSL): refused, naming what runs.
            for other in ({"port": port + 1}, {"brokers": 3}, {"secure": True}):
                with pytest.raises(local_kafka.LocalKafkaError) as refused:
                    local_kafka.detached_up(
                        KAFKA_VERSION,
                        int(other.get("port", port)),
                        cache,
                        brokers=int(other.get("brokers", 1)),
                        secure=bool(other.get("secure", False)),
                    )
                assert f"already running: 127.0.0.1:{port} (1 broker, plaintext only)" in str(refused.value)
                assert "kafka down" in str(refused.value)
            assert local_kafka.broker_answers(state.bootstrap)
        finally:
            stopped = local_kafka.detached_down(cache)
        assert stopped is not None
        assert not local_kafka.process_alive(state.pid)
        assert local_kafka.DetachedState.read(cache) is None
