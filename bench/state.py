"""Benchmark of the de-dup state: RSS at many keys with RocksDB, and changelog recovery time.

1. `rss`: a child process fills a `RocksState` (rocksdict) with `--keys` orders (one event id each,
   the typical memory of an order) and reports its RSS growth -> `rss_mb_rocksdb` at `keys`
   (target <= 1 GB at 10 M keys). The same for the dict store at `--dict-keys` for comparison.
2. `recovery`: `--recovery-keys` changelog records in one partition, then `load_partition` (the code a
   worker runs on assignment, read_committed) into a memory state -> `recovery_s`, and into a RocksDB
   state -> `recovery_s_rocksdb` (target <= 30 s at 1 M).
Usage: `.venv/bin/python -m bench.state [--keys 10000000] [--recovery-keys 1000000]`; one JSON line last.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import multiprocessing
import tempfile
import time
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaProducer

from bench.common import emit, kafka_broker, machine_description, progress
from processors.dedup import OrderMemory
from processors.state import MemoryState, encode_memory, load_partition, new_state
from testkit.kafka import create_topics, unique


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def memory_of(i: int) -> OrderMemory:
    return OrderMemory(
        seen={f"{i:032x}": 1_790_000_000.0 + i % 1000},
        newest_state="invoiced",
        newest_change="2026-03-01T12:00:00.0000000Z",
    )


def _fill(store: str, keys: int, out: Any) -> None:
    gc.collect()
    with tempfile.TemporaryDirectory(prefix="bench-state-") as tmp:
        before = rss_mb()
        state = new_state(store, Path(tmp), 0)
        started = time.monotonic()
        for i in range(keys):
            state.apply(f"order-{i:010d}-01", memory_of(i))
        elapsed = time.monotonic() - started
        gc.collect()
        out.put(
            {
                "store": store,
                "keys": len(state),
                "rss_mb": round(rss_mb() - before, 1),
                "fill_s": round(elapsed, 1),
            }
        )
        state.close()


def measure_rss(store: str, keys: int) -> dict[str, Any]:
    """Fill a state in a fresh child process (so earlier work does not pollute RSS)."""
    queue: multiprocessing.Queue[dict[str, Any]] = multiprocessing.Queue()
    child = multiprocessing.Process(target=_fill, args=(store, keys, queue))
    child.start()
    result = queue.get(timeout=3600)
    child.join(60)
    progress(f"rss {result}")
    return result


async def measure_recovery(bootstrap: str, keys: int) -> dict[str, Any]:
    topic = unique("bench-changelog")
    await create_topics(bootstrap, topic, partitions=1, **{"cleanup.policy": "compact"})
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap,
        acks="all",
        enable_idempotence=True,
        linger_ms=20,
        max_batch_size=512 * 1024,
    )
    await asyncio.wait_for(producer.start(), 30)
    started = time.monotonic()
    try:
        pending = []
        for i in range(keys):
            value = encode_memory(memory_of(i))
            pending.append(
                await producer.send(topic, key=f"order-{i:010d}-01".encode(), value=value, partition=0)
            )
            if len(pending) >= 20000:
                await asyncio.wait_for(asyncio.gather(*pending), 120)
                pending.clear()
        await asyncio.wait_for(asyncio.gather(*pending), 120)
    finally:
        await producer.stop()
    progress(f"wrote {keys} changelog records in {time.monotonic() - started:.1f}s")
    state = MemoryState()
    started = time.monotonic()
    records = (await load_partition(bootstrap, topic, 0, state, timeout_s=3600)).records
    elapsed = time.monotonic() - started
    with tempfile.TemporaryDirectory(prefix="bench-recovery-") as tmp:
        rocks = new_state("rocksdict://", Path(tmp), 0)
        started = time.monotonic()
        await load_partition(bootstrap, topic, 0, rocks, timeout_s=3600)
        rocks_elapsed = time.monotonic() - started
        rocks.close()
    result = {
        "keys": len(state),
        "records": records,
        "recovery_s": round(elapsed, 2),
        "recovery_s_rocksdb": round(rocks_elapsed, 2),
    }
    progress(f"recovery {result}")
    return result


async def main(args: argparse.Namespace) -> None:
    rocks = measure_rss("rocksdict://", args.keys)
    in_dict = measure_rss("memory://", args.dict_keys)
    with kafka_broker() as bootstrap:
        recovery = await measure_recovery(bootstrap, args.recovery_keys)
    emit(
        {
            "benchmark": "state",
            "machine": machine_description(),
            "keys": rocks["keys"],
            "rss_mb_rocksdb": rocks["rss_mb"],
            "rss_ok": rocks["rss_mb"] <= 1024,
            "dict_keys": in_dict["keys"],
            "rss_mb_dict": in_dict["rss_mb"],
            # The baseline beside the figure: memory per key of RocksDB relative to the in-memory store.
            "rss_per_key_ratio_rocksdb_to_dict": round(
                (rocks["rss_mb"] / max(1, rocks["keys"]))
                / max(1e-9, in_dict["rss_mb"] / max(1, in_dict["keys"])),
                4,
            ),
            "recovery_keys": recovery["keys"],
            "recovery_s": recovery["recovery_s"],
            "recovery_s_rocksdb": recovery["recovery_s_rocksdb"],
            "recovery_ok": max(recovery["recovery_s"], recovery["recovery_s_rocksdb"]) <= 30,
        }
    )


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--keys", type=int, default=10_000_000)
    parser.add_argument("--dict-keys", type=int, default=1_000_000)
    parser.add_argument("--recovery-keys", type=int, default=1_000_000)
    return parser.parse_args()


if __name__ == "__main__":
    asyncio.run(main(parse_args()))
