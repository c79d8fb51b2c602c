"""How the runtime opens one partition's `PartitionWriter`, and retries opening it through broker trouble.

A writer is the partition's transactional producer plus its two stores (the de-dup state and, when
timelines are on, the timelines), each backed by its changelog topic and kept in memory or RocksDB per
`worker_store`. Opening one fences the partition's previous owner and loads the stores; the settings,
data directory and RocksDB memory budget it needs are the factory's, so the runtime only names the
partition.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Final, TypeVar

from aiokafka.errors import KafkaError

from bridge.settings import Settings
from processors.metrics import ProcessorMetrics
from processors.rocks import RocksMemory
from processors.state import changelog_topic, new_state
from processors.timeline_store import TimelineConfig, new_timelines, timeline_topic
from processors.writer import PartitionWriter

log = logging.getLogger(__name__)

T = TypeVar("T")

#: Bound of loading one partition's changelog at assignment.
LOAD_TIMEOUT_S: Final = 300.0


class WriterFactory:
    """Open the writer of one input partition; see the module docstring."""

    def __init__(
        self,
        settings: Settings,
        *,
        data_dir: Path,
        rocks: RocksMemory | None,
        metrics: ProcessorMetrics,
        linger_s: Callable[[int], float],
    ) -> None:
        """`linger_s(partition)`: how long the partition's writer waits for other lanes before a
        transaction (`processors.linger`)."""
        self._settings = settings
        self._data_dir = data_dir
        self._rocks = rocks
        self._metrics = metrics
        self._linger_s = linger_s
        self._changelog = changelog_topic(settings.worker_app_id)

    async def open(self, partition: int) -> PartitionWriter:
        """Start the writer of `partition` (fences the previous owner, loads the stores)."""
        settings = self._settings
        writer = PartitionWriter(
            bootstrap=settings.kafka_bootstrap_servers,
            app_id=settings.worker_app_id,
            partition=partition,
            changelog=self._changelog,
            state_factory=lambda: new_state(settings.worker_store, self._data_dir, partition, self._rocks),
            load_timeout_s=LOAD_TIMEOUT_S,
            produce_timeout_s=settings.worker_produce_timeout_s,
            backoff_max_s=settings.worker_retry_backoff_max_s,
            on_commit=lambda seconds, _n: self._metrics.txn_seconds.observe(seconds),
            group_linger_s=lambda: self._linger_s(partition),
            timeline=self._timeline_config(partition),
        )
        try:
            await writer.start()
        except BaseException:
            await writer.stop()
            raise
        return writer

    def _timeline_config(self, partition: int) -> TimelineConfig | None:
        settings = self._settings
        if not settings.worker_timeline_enabled:
            return None
        return TimelineConfig(
            changelog=timeline_topic(settings.worker_app_id),
            factory=lambda: new_timelines(settings.worker_store, self._data_dir, partition, self._rocks),
            max_entries=settings.worker_timeline_max_entries,
        )

    async def with_retry(self, partition: int, what: str, action: Callable[[], Awaitable[T]]) -> T:
        """Retry opening/retaking a partition through broker trouble (a crash would only restart it)."""
        attempt = 0
        while True:
            try:
                return await action()
            except (KafkaError, TimeoutError, OSError):
                attempt += 1
                log.warning("could not %s partition %s; retrying", what, partition, exc_info=True)
                await asyncio.sleep(min(self._settings.worker_retry_backoff_max_s, 0.2 * 2**attempt))
