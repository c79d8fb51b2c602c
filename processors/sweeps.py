"""The TTL sweeps: de-dup entries and timeline entries older than `worker_dedup_ttl_s` are dropped.

The de-dup memory of an order (`processors.dedup`) and its timeline (`processors.timeline_store`) would
grow forever without them. Both are rewritten through the partition's writer, in transactions of at
most `SWEEP_CHUNK` keys, so the changelogs see the expiry too. An order with a lane in flight is left
for the next sweep (its batch rewrites the memory anyway), and a partition whose writer is lost or
failing defers its sweep to the next one instead of retrying here.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from typing import Final

from processors import dedup
from processors.timeline import TimelineOp
from processors.writer import PartitionLost, PartitionWriter, RetryBatch

log = logging.getLogger(__name__)

#: State changes per sweep transaction (a sweep of a million expired keys is many small transactions).
SWEEP_CHUNK: Final = 1000


class Sweeper:
    """Expire old de-dup and timeline entries of the ready partitions' writers."""

    def __init__(
        self,
        *,
        ttl_s: float,
        clock: Callable[[], float],
        writers: Callable[[], Iterable[tuple[int, PartitionWriter]]],
        busy: Callable[[str], bool],
        swept: Callable[[], None] = lambda: None,
    ) -> None:
        """`writers`: the (partition, writer) pairs ready now; `busy(key)`: the order has a lane in
        flight; `swept`: called after each sweep (the runtime prunes what lanes left behind)."""
        self._ttl_s = ttl_s
        self._clock = clock
        self._writers = writers
        self._busy = busy
        self._swept = swept

    async def sweep(self) -> int:
        """Expire de-dup entries older than the TTL: rewrite or tombstone them; return keys changed."""
        now = self._clock()
        ttl = self._ttl_s
        changed = 0
        for partition, writer in list(self._writers()):
            changes: list[tuple[str, dedup.OrderMemory | None]] = []
            for order_id in writer.state.order_ids():
                if self._busy(order_id):
                    continue  # its lane rewrites the memory anyway; expire it next time
                memory = writer.state.get(order_id)
                kept = dedup.expire(memory, now, ttl)
                if kept is not memory:
                    changes.append((order_id, kept))
            for start in range(0, len(changes), SWEEP_CHUNK):
                chunk = changes[start : start + SWEEP_CHUNK]
                try:
                    await writer.write([], chunk)
                except (PartitionLost, RetryBatch):
                    log.info("sweep of partition %s deferred", partition)
                    break
                changed += len(chunk)
            changed += await self._sweep_timelines(partition, writer, now - ttl)
        self._swept()
        if changed:
            log.info("expired de-dup entries", extra={"keys": changed})
        return changed

    async def _sweep_timelines(self, partition: int, writer: PartitionWriter, cutoff: float) -> int:
        """Drop timeline entries recorded before `cutoff` (tombstone emptied timelines); return orders."""
        store = writer.timeline
        if store is None:
            return 0
        ops = [
            TimelineOp(order_id, expire_before=cutoff)
            for order_id in store.order_ids()
            if not self._busy(order_id) and _older(store.oldest(order_id), cutoff)
        ]
        for start in range(0, len(ops), SWEEP_CHUNK):
            try:
                await writer.write([], [], ops[start : start + SWEEP_CHUNK])
            except (PartitionLost, RetryBatch):
                log.info("timeline sweep of partition %s deferred", partition)
                return start
        return len(ops)


def _older(recorded: float | None, cutoff: float) -> bool:
    return recorded is not None and recorded < cutoff
