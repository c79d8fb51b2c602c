"""Benchmark of the worker's memory per order on both stores: the figures behind the sizing rule.

Each measurement runs in a fresh child process (earlier work does not pollute its RSS) and fills the
stores the way a worker keeps them once its changelogs are loaded, with typical orders: `--ids` event
ids remembered per order (one per status emitted) and `--entries` timeline entries per order (those
statuses plus duplicates, each a real encoded entry of 200-300 bytes).

1. `memory://`: de-dup keys alone, then their timelines -> `memory_dedup_bytes_per_key` and
   `memory_timeline_bytes_per_entry` (RSS growth / count) and their sum per order. The same-run
   baseline is the encoded length of what is kept: `memory_timeline_entry_overhead` = RSS per entry /
   bytes per entry (the unit tests pin <= 2), and `uncompacted_entry_bytes`: what an entry held when it
   was orjson's own output buffer (the regression this guards against).
2. `rocksdict://`: `--rocks-orders` orders spread over `--partitions` partitions (two databases each,
   like a worker) under one budget `--rocks-memory-mb` -> RSS growth at half and at all of them, then
   after reading every order once (the block cache fills up to the budget and RSS levels off at the
   budget plus RocksDB's own allocations), RocksDB's own accounting, and disk per order;
   `rss_per_order_ratio_rocksdb_to_memory` compares the two stores in this run.
Usage: `.venv/bin/python -m bench.store_memory [--orders 50000] [--rocks-orders 200000]`; JSON line last.
Bounded: under a minute and < 600 MB of RAM, < 200 MB of disk at the defaults.
"""

from __future__ import annotations

import argparse
import gc
import multiprocessing
import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson

from bench.common import emit, machine_description, progress
from processors.dedup import OrderMemory
from processors.rocks import MB, RocksMemory
from processors.state import MemoryState, RocksState
from processors.timeline import encode_entry, entry
from processors.timeline_store import MemoryTimelines, RocksTimelines

STATUSES = ("order-created", "payment-pending", "payment-approved", "ready-for-handling", "handling")


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def order_id(i: int) -> str:
    return f"{1_400_000_000_000 + i}-01"


def memory_of(i: int, ids: int) -> OrderMemory:
    """An order's de-dup memory after `ids` statuses: event ids are 32-hex hashes, like real ones."""
    return OrderMemory(
        seen={f"{i:024x}{n:08x}": 1_790_000_000.0 + i % 1000 + n for n in range(ids)},
        newest_state="invoiced",
        newest_change="2026-03-01T12:00:00.1234567Z",
        emitted=ids,
    )


def entries_of(i: int, count: int, encode: Callable[[Any, tuple[str, int, int]], bytes]) -> list[bytes]:
    """An order's timeline: emitted entries with their record's position, every third a duplicate."""
    out = []
    for n in range(count):
        outcome = "duplicate" if n % 3 == 2 else "emitted"
        status = STATUSES[n % len(STATUSES)]
        item = entry(
            1_790_000_000.0 + i % 1000 + n,
            outcome=outcome,
            partition=i % 12,
            offset=1_000_000 + i * count + n,
            event_id=f"{i:024x}{n:08x}",
            state=status,
            source="hook",
            received_at="2026-03-01T12:00:00.1234567Z",
            seq=n + 1 if outcome == "emitted" else None,
        )
        record = ("vtex.orders.status." + status, i % 12, 10_000_000 + i) if outcome == "emitted" else None
        out.append(encode(item, record))  # type: ignore[arg-type]
    return out


def raw_orjson(item: Any, record: tuple[str, int, int] | None) -> bytes:
    """Encode an entry as the timeline did before its entries were compact copies (the baseline)."""
    if record is not None:
        item.fields["rec"] = list(record)
    return orjson.dumps(item.fields)


def _measure_memory(orders: int, ids: int, entries: int, baseline_entries: int, out: Any) -> None:
    gc.collect()
    start = rss_mb()
    state = MemoryState()
    for i in range(orders):
        state.apply(order_id(i), memory_of(i, ids))
    gc.collect()
    after_state = rss_mb()
    timelines = MemoryTimelines()
    entry_bytes = 0
    for i in range(orders):
        kept = entries_of(i, entries, encode_entry)
        entry_bytes += sum(len(e) for e in kept)
        timelines.put(order_id(i), kept)
    gc.collect()
    after_timelines = rss_mb()
    raw: list[bytes] = []
    for i in range(baseline_entries // entries):
        raw.extend(entries_of(orders + i, entries, raw_orjson))
    gc.collect()
    after_raw = rss_mb()
    out.put(
        {
            "dedup_bytes_per_key": (after_state - start) * MB / orders,
            "timeline_bytes_per_entry": (after_timelines - after_state) * MB / (orders * entries),
            "entry_bytes": entry_bytes / (orders * entries),
            "uncompacted_entry_bytes": (after_raw - after_timelines) * MB / max(1, len(raw)),
            "rss_mb": after_timelines - start,
        }
    )


def _directory_bytes(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


def _measure_rocks(orders: int, ids: int, entries: int, partitions: int, budget_mb: int, out: Any) -> None:
    gc.collect()
    start = rss_mb()
    tmp = Path(tempfile.mkdtemp(prefix="bench-store-memory-"))
    try:
        memory = RocksMemory(budget_mb, 4)
        states = [RocksState(tmp / f"state-p{p}", memory) for p in range(partitions)]
        timelines = [RocksTimelines(tmp / f"timeline-p{p}", memory) for p in range(partitions)]
        half = start
        started = time.monotonic()
        for i in range(orders):
            p = i % partitions
            states[p].apply(order_id(i), memory_of(i, ids))
            timelines[p].put(order_id(i), entries_of(i, entries, encode_entry))
            if i == orders // 2:
                gc.collect()
                half = rss_mb()
        elapsed = time.monotonic() - started
        gc.collect()
        end = rss_mb()
        usage = memory.usage()
        for i in range(orders):  # every order read once, as its next event would: fills the block cache
            p = i % partitions
            states[p].get(order_id(i))
            timelines[p].get(order_id(i))
        gc.collect()
        after_reads = rss_mb()
        cache_after_reads = memory.usage()["block_cache"]
        for store in (*states, *timelines):
            store._db._db.flush()  # what is still in memtables, so the disk figure counts every order
        disk = _directory_bytes(tmp)
        out.put(
            {
                "rss_mb_half": half - start,
                "rss_mb": end - start,
                "block_cache_mb": usage["block_cache"] / MB,
                "memtables_mb": usage["memtables"] / MB,
                "rss_mb_after_reads": after_reads - start,
                "block_cache_mb_after_reads": cache_after_reads / MB,
                "disk_bytes_per_order": disk / orders,
                "fill_s": elapsed,
                "databases": memory.databases,
            }
        )
        for store in (*states, *timelines):
            store.close()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def in_child(target: Callable[..., None], *args: Any) -> dict[str, Any]:
    """Run one measurement in a fresh process and return what it reported."""
    context = multiprocessing.get_context("spawn")
    queue = context.Queue()
    child = context.Process(target=target, args=(*args, queue))
    child.start()
    result: dict[str, Any] = queue.get(timeout=1800)
    child.join(60)
    progress(f"{target.__name__.strip('_')}: {result}")
    return result


def main(args: argparse.Namespace) -> None:
    memory = in_child(_measure_memory, args.orders, args.ids, args.entries, args.baseline_entries)
    rocks = in_child(
        _measure_rocks, args.rocks_orders, args.ids, args.entries, args.partitions, args.rocks_memory_mb
    )
    per_order_memory = memory["dedup_bytes_per_key"] + args.entries * memory["timeline_bytes_per_entry"]
    emit(
        {
            "benchmark": "store_memory",
            "machine": machine_description(),
            "orders": args.orders,
            "ids_per_order": args.ids,
            "entries_per_order": args.entries,
            "entry_bytes": round(memory["entry_bytes"], 1),
            "memory_dedup_bytes_per_key": round(memory["dedup_bytes_per_key"]),
            "memory_timeline_bytes_per_entry": round(memory["timeline_bytes_per_entry"]),
            "memory_bytes_per_order": round(per_order_memory),
            "memory_orders_per_gb": round(1024 * MB / per_order_memory),
            # Same-run baselines: the encoded length of an entry, and what it held as orjson's buffer.
            "memory_timeline_entry_overhead": round(
                memory["timeline_bytes_per_entry"] / memory["entry_bytes"], 2
            ),
            "uncompacted_entry_bytes": round(memory["uncompacted_entry_bytes"]),
            "compact_to_uncompacted_ratio": round(
                memory["timeline_bytes_per_entry"] / max(1.0, memory["uncompacted_entry_bytes"]), 3
            ),
            "rocks_orders": args.rocks_orders,
            "rocks_partitions": args.partitions,
            "rocks_databases": rocks["databases"],
            "rocks_memory_mb": args.rocks_memory_mb,
            "rocks_rss_mb_at_half": round(rocks["rss_mb_half"], 1),
            "rocks_rss_mb": round(rocks["rss_mb"], 1),
            "rocks_block_cache_mb": round(rocks["block_cache_mb"], 1),
            "rocks_memtables_mb": round(rocks["memtables_mb"], 1),
            "rocks_rss_mb_after_reads": round(rocks["rss_mb_after_reads"], 1),
            "rocks_block_cache_mb_after_reads": round(rocks["block_cache_mb_after_reads"], 1),
            "rocks_within_budget": rocks["block_cache_mb_after_reads"] <= args.rocks_memory_mb * 1.05,
            "rocks_disk_bytes_per_order": round(rocks["disk_bytes_per_order"]),
            "rocks_fill_s": round(rocks["fill_s"], 1),
            "rss_per_order_ratio_rocksdb_to_memory": round(
                (rocks["rss_mb_after_reads"] * MB / args.rocks_orders) / per_order_memory, 3
            ),
        }
    )


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--orders", type=int, default=50_000, help="orders in the memory store")
    parser.add_argument("--ids", type=int, default=5, help="event ids remembered per order")
    parser.add_argument("--entries", type=int, default=7, help="timeline entries per order")
    parser.add_argument("--baseline-entries", type=int, default=20_000, help="uncompacted entries")
    parser.add_argument("--rocks-orders", type=int, default=200_000, help="orders in the RocksDB store")
    parser.add_argument("--partitions", type=int, default=12, help="partitions (two databases each)")
    parser.add_argument("--rocks-memory-mb", type=int, default=256, help="worker_rocksdb_memory_mb")
    return parser.parse_args()


if __name__ == "__main__":
    main(parse_args())
