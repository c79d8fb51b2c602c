"""Unit tests of the worker's store choice and of the one memory budget its RocksDB databases share.

The rule (docs/operations.md, "Worker memory"): RocksDB is the default store, bounded by
`worker_rocksdb_memory_mb`; the in-memory store grows with every order kept within the TTL, so only
`make run` (the local demo, whose state lives as long as its broker) chooses it.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pydantic
import pytest
from prometheus_client.parser import text_string_to_metric_families

from bridge.cli.dev.plan import make_plan
from bridge.settings import load_settings
from processors.rocks import MB, RocksMemory, default_memory
from processors.runtime import Runtime
from processors.state import RocksState, new_state, remove_stale
from processors.timeline_store import RocksTimelines, new_timelines
from testkit.fake_oms import UnusedOms


def options_file(db_dir: Path) -> dict[str, str]:
    """The options RocksDB itself wrote for the database at `db_dir` (its newest OPTIONS file)."""
    newest = sorted(db_dir.glob("OPTIONS-*"))[-1]
    pairs = (line.strip().split("=", 1) for line in newest.read_text().splitlines() if "=" in line)
    return dict(pairs)


def rocksdb_gauges(text: str) -> dict[str, float]:
    """`vtex_bridge_processor_rocksdb_memory_bytes` by kind, from a /metrics text."""
    return {
        sample.labels["kind"]: sample.value
        for family in text_string_to_metric_families(text)
        if family.name == "vtex_bridge_processor_rocksdb_memory_bytes"
        for sample in family.samples
    }


class TestStoreChoice:
    """RocksDB unless told otherwise; `make run` alone picks the memory store; bad URLs are refused."""

    def test_default_is_rocksdb(self) -> None:
        settings = load_settings()
        assert settings.worker_store == "rocksdict://"
        assert (256, 4) == (settings.worker_rocksdb_memory_mb, settings.worker_rocksdb_write_buffer_mb)

    def test_unknown_store_is_refused(self) -> None:
        with pytest.raises(pydantic.ValidationError, match="worker_store"):
            load_settings(worker_store="redis://")

    def test_make_run_uses_the_memory_store(self, tmp_path: Path) -> None:
        plan = make_plan(load_settings(), "127.0.0.1:1", tmp_path)
        assert plan.env["VTEX_BRIDGE_WORKER_STORE"] == "memory://"

    def test_make_run_keeps_an_explicit_store(self, tmp_path: Path) -> None:
        plan = make_plan(load_settings(worker_store="rocksdb://"), "127.0.0.1:1", tmp_path)
        assert "VTEX_BRIDGE_WORKER_STORE" not in plan.env

    def test_a_runtime_on_rocksdb_has_one_budget_and_exports_it(self, tmp_path: Path) -> None:
        runtime = Runtime(load_settings(worker_rocksdb_memory_mb=96), data_dir=tmp_path, oms=UnusedOms())
        assert runtime.rocks is not None and runtime.rocks.budget_bytes == 96 * MB
        gauges = rocksdb_gauges(runtime.metrics.render().decode())
        assert (96 * MB, 48 * MB) == (gauges["budget"], gauges["memtable_limit"])
        memory = Runtime(load_settings(worker_store="memory://"), data_dir=tmp_path, oms=UnusedOms())
        assert memory.rocks is None


class TestSharedBudget:
    """Every database opens with the small write buffers and the shared cache; the WAL is off."""

    def test_databases_open_with_the_configured_options(self, tmp_path: Path) -> None:
        memory = RocksMemory(memory_mb=32, write_buffer_mb=2)
        state = new_state("rocksdict://", tmp_path, 0, memory)
        timelines = new_timelines("rocksdict://", tmp_path, 0, memory)
        assert isinstance(state, RocksState) and isinstance(timelines, RocksTimelines)
        assert memory.databases == 2
        assert memory.usage()["block_cache_capacity"] == 32 * MB  # as RocksDB itself reports it
        for db_dir in tmp_path.iterdir():
            written = options_file(db_dir)
            assert written["write_buffer_size"] == str(2 * MB)
            assert written["max_write_buffer_number"] == "2"
            assert written["max_open_files"] == "64"
            assert written["cache_index_and_filter_blocks"] == "true"
            assert (written["max_log_file_size"], written["keep_log_file_num"]) == (str(MB), "1")
        state.close()
        timelines.close()
        assert memory.databases == 0 and list(tmp_path.iterdir()) == []

    def test_memtables_are_charged_to_the_one_cache_and_the_wal_stays_empty(self, tmp_path: Path) -> None:
        memory = RocksMemory(memory_mb=32, write_buffer_mb=2)
        stores = [new_timelines("rocksdict://", tmp_path, p, memory) for p in range(3)]
        for i in range(3000):
            stores[i % 3].put(f"order-{i}", [b'{"t":1.0,"pad":"' + b"x" * 300 + b'"}'])
        usage = memory.usage()
        assert usage["budget"] == 32 * MB and usage["memtable_limit"] == 16 * MB
        assert 0 < usage["memtables"] <= usage["block_cache"]
        wal = list(tmp_path.glob("*/*.log"))
        assert wal and all(f.stat().st_size == 0 for f in wal)
        for store in stores:
            store.close()

    def test_tools_without_settings_share_the_default_budget(self) -> None:
        assert default_memory() is default_memory()
        assert default_memory().budget_bytes == load_settings().worker_rocksdb_memory_mb * MB


class TestStaleDirectories:
    """What a killed worker left in its data directory goes when the next store opens there."""

    def test_left_over_databases_are_removed_live_ones_kept(self, tmp_path: Path) -> None:
        from rocksdict import Rdict

        stale = tmp_path / "state-p3-0123abcd"
        Rdict(str(stale)).close()  # closed without its directory removed: a crash's leftover
        unrelated = tmp_path / "faust"
        unrelated.mkdir()
        held = tmp_path / "timeline-p1-89abcdef"
        opens = f"import rocksdict, sys; d = rocksdict.Rdict({str(held)!r}); "
        script = opens + "print(1, flush=True); sys.stdin.read()"
        other = subprocess.Popen(
            [sys.executable, "-c", script], stdin=subprocess.PIPE, stdout=subprocess.PIPE
        )
        try:
            assert other.stdout is not None and other.stdout.readline().strip() == b"1"
            memory = RocksMemory(memory_mb=16, write_buffer_mb=1)
            mine = new_state("rocksdict://", tmp_path, 0, memory)
            assert not stale.exists() and held.exists() and unrelated.exists()
            # A second store in the same directory keeps the first (this process holds it).
            assert remove_stale(tmp_path) == []
            assert 1 == len(list(tmp_path.glob("state-p0-*/CURRENT")))
            mine.close()
        finally:
            other.communicate(b"", timeout=30)
        assert remove_stale(tmp_path) == [held.name]  # its process is gone
