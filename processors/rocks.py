"""One memory budget for all the RocksDB databases of a worker.

A worker opens two databases per assigned partition (de-dup state and timelines: 24 at 12 partitions,
more while a rebuild fills a fresh copy beside the old one). With RocksDB's defaults each has its own
64 MB write buffers (two of them) and its own block cache, so the worker's memory has no ceiling short
of 24 x 128 MB of memtables. Here every database shares:

- one LRU block cache of `worker_rocksdb_memory_mb` (index and bloom filter blocks are cached in it
  too, so table readers do not grow outside it), and
- one write-buffer manager that charges every memtable to that same cache and flushes the largest
  memtable once all of them together reach half the budget;

and each database gets small write buffers (`worker_rocksdb_write_buffer_mb`, at most two) so a
partition with little traffic does not sit on a large arena. The write-ahead log is off: the databases
are caches rebuilt from the changelog topics on every assignment (`processors.state`) and deleted on
close, so a WAL would only cost disk writes and page cache.

The figures are exported (`vtex_bridge_processor_rocksdb_memory_bytes`) so the budget can be compared with
what RocksDB really holds; docs/operations.md has the sizing rule and the pod limit that matches it.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Final

from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

if TYPE_CHECKING:
    from rocksdict import Rdict

    from bridge.settings import WorkerSettings

MB: Final = 1024 * 1024
#: Memtables per database: one being written and one being flushed.
WRITE_BUFFERS_PER_DB: Final = 2
#: Bloom filter size: about 1 % false positives.
BLOOM_BITS_PER_KEY: Final = 10
#: Files each database keeps open (their index and filter blocks live in the shared cache).
MAX_OPEN_FILES: Final = 64


class RocksMemory(Collector):
    """The shared block cache, write-buffer manager and options every database of a worker opens with."""

    def __init__(self, memory_mb: int, write_buffer_mb: int) -> None:
        from rocksdict import BlockBasedOptions, Cache, Options, WriteBufferManager, WriteOptions

        self.budget_bytes = memory_mb * MB
        self.write_buffer_bytes = write_buffer_mb * MB
        self.memtable_limit_bytes = self.budget_bytes // 2
        self.cache = Cache(self.budget_bytes)
        self.write_buffers = WriteBufferManager.new_write_buffer_manager_with_cache(
            self.memtable_limit_bytes, False, self.cache
        )
        table = BlockBasedOptions()
        table.set_block_cache(self.cache)
        table.set_cache_index_and_filter_blocks(True)
        # Most reads are of new orders, which no file holds: a bloom filter answers them from the cache.
        table.set_bloom_filter(BLOOM_BITS_PER_KEY, False)
        table.set_pin_l0_filter_and_index_blocks_in_cache(True)
        options = Options()
        options.create_if_missing(True)
        options.set_block_based_table_factory(table)
        options.set_write_buffer_manager(self.write_buffers)
        options.set_write_buffer_size(self.write_buffer_bytes)
        options.set_max_write_buffer_number(WRITE_BUFFERS_PER_DB)
        options.set_max_open_files(MAX_OPEN_FILES)
        # RocksDB's info log (a stats dump every 10 minutes) would grow for as long as the database
        # lives, weeks on a quiet worker: one rolled file of at most 1 MB is kept beside the current.
        options.set_max_log_file_size(MB)
        options.set_keep_log_file_num(1)
        self.options = options
        self.write_options = WriteOptions()
        # A property at run time; rocksdict's stub declares it a method.
        setattr(self.write_options, "disable_wal", True)  # noqa: B010
        self._open: dict[int, Rdict] = {}

    @classmethod
    def from_settings(cls, settings: WorkerSettings) -> RocksMemory:
        return cls(settings.worker_rocksdb_memory_mb, settings.worker_rocksdb_write_buffer_mb)

    def open(self, path: Path) -> Rdict:
        """Open (create) the database at `path` under this budget."""
        from rocksdict import Rdict

        db = Rdict(str(path), self.options)
        db.set_write_options(self.write_options)
        self._open[id(db)] = db
        return db

    def close(self, db: Rdict) -> None:
        """Close a database this budget opened."""
        self._open.pop(id(db), None)
        db.close()

    @property
    def databases(self) -> int:
        return len(self._open)

    def usage(self) -> dict[str, int]:
        """What the budget allows and what RocksDB holds now, in bytes.

        `block_cache_capacity` is what an open database itself reports (RocksDB's
        `rocksdb.block-cache-capacity`): it shows the budget really reached RocksDB.
        """
        usage = {
            "budget": self.budget_bytes,
            "memtable_limit": self.memtable_limit_bytes,
            "block_cache": int(self.cache.get_usage()),
            "memtables": int(self.write_buffers.get_usage()),
        }
        for db in self._open.values():
            usage["block_cache_capacity"] = int(db.property_int_value("rocksdb.block-cache-capacity") or 0)
            break
        return usage

    def collect(self) -> Iterator[Metric]:
        family = GaugeMetricFamily(
            "vtex_bridge_processor_rocksdb_memory_bytes",
            "RocksDB memory of this worker's databases: budget (worker_rocksdb_memory_mb), memtable_limit"
            " (flushes start there), block_cache (usage, memtables included), memtables, and"
            " block_cache_capacity as RocksDB reports it (while a database is open)",
            labels=["kind"],
        )
        for kind, value in self.usage().items():
            family.add_metric([kind], value)
        yield family
        yield GaugeMetricFamily(
            "vtex_bridge_processor_rocksdb_databases",
            "RocksDB databases open in this worker",
            value=self.databases,
        )


_default: RocksMemory | None = None


def default_memory() -> RocksMemory:
    """The budget of databases opened without one (tools and tests): the settings' defaults."""
    global _default
    if _default is None:
        from bridge.settings import Settings

        fields = Settings.model_fields
        _default = RocksMemory(
            int(fields["worker_rocksdb_memory_mb"].default),
            int(fields["worker_rocksdb_write_buffer_mb"].default),
        )
    return _default
