"""A worker on the RocksDB store opens every database under the one configured memory budget.

Over the real broker: the worker's per-partition databases (de-dup state and timelines) carry the
configured write buffers in the options RocksDB itself wrote, report the configured block cache as
their capacity, are counted and metered on /metrics, and keep no write-ahead log while they process
events (their contents are rebuilt from the changelogs).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from processors.rocks import MB
from testkit.fake_oms import FakeOms, fake_oms
from testkit.kafka import create_topics, wait_until
from testkit.worker import WorkerConfig, WorkerProcess, downstream, lifecycle, produce

pytestmark = pytest.mark.integration
__all__ = ["fake_oms"]


def gauges(text: str) -> dict[str, float]:
    """The worker's RocksDB gauges: memory by kind, and the count of open databases."""
    found: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == "vtex_bridge_processor_rocksdb_memory_bytes":
                found[sample.labels["kind"]] = sample.value
            elif sample.name == "vtex_bridge_processor_rocksdb_databases":
                found["databases"] = sample.value
    return found


def written_options(db_dir: Path) -> dict[str, str]:
    newest = sorted(db_dir.glob("OPTIONS-*"))[-1]
    pairs = (line.strip().split("=", 1) for line in newest.read_text().splitlines() if "=" in line)
    return dict(pairs)


class TestWorkerRocksOptions:
    async def test_worker_databases_open_under_the_configured_budget(
        self, kafka_bootstrap: str, fake_oms: FakeOms, tmp_path: Path
    ) -> None:
        config = WorkerConfig(kafka_bootstrap, fake_oms.base_url, partitions=3)
        config.extra.update(
            {
                "VTEX_BRIDGE_WORKER_STORE": "rocksdict://",
                "VTEX_BRIDGE_WORKER_ROCKSDB_MEMORY_MB": "96",
                "VTEX_BRIDGE_WORKER_ROCKSDB_WRITE_BUFFER_MB": "2",
            }
        )
        await create_topics(kafka_bootstrap, config.input_topic, partitions=config.partitions)
        events = [e for order in ("ord-r1", "ord-r2", "ord-r3") for e in lifecycle(order, 3)]
        await produce(kafka_bootstrap, config.input_topic, events)

        with WorkerProcess(config, tmp_path) as worker:
            await worker.start()
            topics = [config.status_topic(e.state or "") for e in events]

            async def all_there() -> bool:
                return len(await downstream(kafka_bootstrap, topics)) >= len(events)

            await wait_until(all_there, timeout=60, message="downstream records")
            metered = gauges(await worker.metrics())
            databases = sorted(p for p in (worker.work_dir / "data").rglob("*") if (p / "CURRENT").exists())
            options = {db.name: written_options(db) for db in databases}
            wal = [f for db in databases for f in db.glob("*.log")]
            wal_bytes = sum(f.stat().st_size for f in wal)
            assert 0 == await worker.terminate()
            assert [] == worker.error_lines()

        # Two databases per partition: de-dup state and timelines, all open, all with the set options.
        kinds = sorted(name.split("-")[0] for name in options)
        assert ["state"] * 3 + ["timeline"] * 3 == kinds, list(options)
        for name, written in options.items():
            assert written["write_buffer_size"] == str(2 * MB), name
            assert written["max_write_buffer_number"] == "2", name
            assert written["cache_index_and_filter_blocks"] == "true", name
            assert written["filter_policy"] == "bloomfilter", name
        assert 6 == metered["databases"]
        assert (96 * MB, 48 * MB, 96 * MB) == (
            metered["budget"],
            metered["memtable_limit"],
            metered["block_cache_capacity"],
        )
        assert 0 < metered["memtables"] <= metered["block_cache"]
        assert wal and 0 == wal_bytes  # written, yet no write-ahead log
