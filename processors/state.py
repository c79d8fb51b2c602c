"""The de-dup table: per-partition order memory, backed by a compacted, transactional changelog topic.

Why not a `faust.Table`: its changelog is written by Faust's own (non-transactional) producer and read
back read-uncommitted, so it cannot be made atomic with the downstream records; the state write and the
downstream write must commit or abort together (see docs/processor.md). So the table is ours: the
changelog topic `<app id>-dedup-changelog` has the input topic's partition count, record key = OrderId,
value = `OrderMemory` JSON, tombstone = deleted (expired) key. Partition p of the changelog belongs to
partition p of the input (same key, same partitioner), so the state moves with the partition.

On assignment a partition's state is rebuilt by reading its changelog partition with `read_committed`
up to the last stable offset (aborted writes of a killed worker are invisible). Local storage is a dict
(`memory://`) or a RocksDB database per partition (`rocksdict://`), chosen by `settings.worker_store`;
every RocksDB database of a worker shares one memory budget (`processors.rocks`).
"""

from __future__ import annotations

import asyncio
import fcntl
import logging
import os
import re
import shutil
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Final, Protocol

import orjson
from aiokafka import AIOKafkaConsumer, TopicPartition

from bridge.kafka_config import client_kwargs
from processors.dedup import EMPTY, OrderMemory
from processors.rocks import RocksMemory, default_memory

log = logging.getLogger(__name__)

LOAD_BATCH_TIMEOUT_MS: Final = 500
START_TIMEOUT_S: Final = 30.0
#: aiokafka's bound of one request of a changelog reader (its default is 40 s, past START_TIMEOUT_S):
#: a start or a metadata refresh that reaches a frozen broker moves on to the next one in time, so a
#: writer's recovery after a broker froze is not held up by the very broker that made it fail.
REQUEST_TIMEOUT_MS: Final = 5_000
#: How long a changelog reader's stop may take before it is left to finish in the background. Closing a
#: TLS connection waits for the broker's close_notify, up to asyncio's SSL shutdown timeout (30 s), which
#: Kafka's TLS 1.3 listener does not always send; the records were read by then, so nothing is lost.
READER_STOP_TIMEOUT_S: Final = 3.0


def changelog_topic(app_id: str) -> str:
    return f"{app_id}-dedup-changelog"


class PartitionState(Protocol):
    """Order memory of one partition, as last committed."""

    def get(self, order_id: str) -> OrderMemory: ...

    def apply(self, order_id: str, memory: OrderMemory | None) -> None: ...

    def order_ids(self) -> Iterator[str]: ...

    def __len__(self) -> int: ...

    def close(self) -> None: ...


class MemoryState:
    """A dict of OrderMemory; lost on exit, rebuilt from the changelog."""

    def __init__(self) -> None:
        self._data: dict[str, OrderMemory] = {}

    def get(self, order_id: str) -> OrderMemory:
        return self._data.get(order_id, EMPTY)

    def apply(self, order_id: str, memory: OrderMemory | None) -> None:
        if memory is None:
            self._data.pop(order_id, None)
        else:
            self._data[order_id] = memory

    def order_ids(self) -> Iterator[str]:
        return iter(list(self._data))

    def __len__(self) -> int:
        return len(self._data)

    def close(self) -> None:
        self._data.clear()


#: Names of the database directories the stores create (`new_state`, `new_timelines`).
STORE_DIR: Final = re.compile(r"^(state|timeline)-p\d+-[0-9a-f]{8}$")
#: Database directories this process has open, and the directories already swept of stale ones. A
#: POSIX lock never excludes the process that holds it, so the sweep must know this process's own.
_open_paths: set[Path] = set()
_swept: set[Path] = set()


def remove_stale(data_dir: Path) -> list[str]:
    """Delete the database directories a killed process left in `data_dir`; return their names.

    Each is rebuilt from its changelog on assignment and deleted on close, so one that no process has
    open is garbage: without this a worker killed -9 would leave its databases (two per partition) on
    the volume at every crash. One whose RocksDB LOCK another process holds is left alone.
    """
    removed = []
    for path in sorted(data_dir.iterdir()) if data_dir.is_dir() else []:
        if not STORE_DIR.match(path.name) or path.resolve() in _open_paths or _locked(path / "LOCK"):
            continue
        shutil.rmtree(path, ignore_errors=True)
        removed.append(path.name)
    if removed:
        log.info("removed stale store directories", extra={"directory": str(data_dir), "count": len(removed)})
    return removed


def _locked(lock_file: Path) -> bool:
    """Whether another process holds RocksDB's lock on `lock_file` (a missing file is not held)."""
    try:
        fd = os.open(lock_file, os.O_RDWR)
    except OSError:
        return False
    try:
        fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        return True
    else:
        fcntl.lockf(fd, fcntl.LOCK_UN)
        return False
    finally:
        os.close(fd)


class RocksBytes:
    """A RocksDB database of order id -> bytes for one partition, counting its keys.

    Rebuilt from a changelog on every assignment, so it starts clean and is deleted on close (what a
    killed process left is deleted by the next one to open a store in the directory, `remove_stale`).
    The de-dup state and the timelines each keep one per partition (keeps RSS flat at many keys).
    """

    def __init__(self, path: Path, memory: RocksMemory | None = None) -> None:
        if path.exists():
            shutil.rmtree(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        if path.parent.resolve() not in _swept:
            _swept.add(path.parent.resolve())
            remove_stale(path.parent)
        self._path = path
        self._memory = memory or default_memory()
        self._db = self._memory.open(path)
        _open_paths.add(path.resolve())
        self._count = 0

    def get(self, order_id: str) -> bytes | None:
        raw = self._db.get(order_id.encode())
        return None if raw is None else bytes(raw)

    def put(self, order_id: str, value: bytes | None) -> None:
        """Store `value`, or delete the key when it is None."""
        key = order_id.encode()
        exists = self._db.get(key) is not None
        if value is None:
            if exists:
                del self._db[key]
                self._count -= 1
        else:
            self._db[key] = value
            self._count += 0 if exists else 1

    def order_ids(self) -> Iterator[str]:
        return (k.decode() if isinstance(k, bytes) else str(k) for k in self._db.keys())  # noqa: SIM118 (Rdict iterates items)

    def __len__(self) -> int:
        return self._count

    def close(self) -> None:
        self._memory.close(self._db)
        _open_paths.discard(self._path.resolve())
        shutil.rmtree(self._path, ignore_errors=True)


def is_rocks(store_url: str) -> bool:
    """Whether `worker_store` asks for RocksDB (`rocksdb://` or `rocksdict://`) rather than memory."""
    return store_url.startswith(("rocksdb", "rocksdict"))


class RocksBacked:
    """What a store over one `RocksBytes` answers the same way whatever it keeps in it."""

    def __init__(self, path: Path, memory: RocksMemory | None = None) -> None:
        self._db = RocksBytes(path, memory)

    def order_ids(self) -> Iterator[str]:
        return self._db.order_ids()

    def __len__(self) -> int:
        return len(self._db)

    def close(self) -> None:
        self._db.close()


class RocksState(RocksBacked):
    """OrderMemory JSON in a RocksDB database per partition."""

    def get(self, order_id: str) -> OrderMemory:
        raw = self._db.get(order_id)
        return EMPTY if raw is None else OrderMemory.from_json(orjson.loads(raw))

    def apply(self, order_id: str, memory: OrderMemory | None) -> None:
        self._db.put(order_id, encode_memory(memory))


def new_state(
    store_url: str, data_dir: Path, partition: int, memory: RocksMemory | None = None
) -> PartitionState:
    """Return an empty state for `partition` in the configured store (RocksDB: under `memory`)."""
    if is_rocks(store_url):
        # A unique directory: a rebuild fills a fresh state while the old one still serves reads.
        return RocksState(data_dir / f"state-p{partition}-{uuid.uuid4().hex[:8]}", memory)
    return MemoryState()


def decode_memory(value: bytes | None) -> OrderMemory | None:
    return None if value is None else OrderMemory.from_json(orjson.loads(value))


def encode_memory(memory: OrderMemory | None) -> bytes | None:
    return None if memory is None else orjson.dumps(memory.to_json())


@dataclass(frozen=True, slots=True)
class Loaded:
    records: int
    end: int  # the changelog's read_committed end offset the state reflects


def _state_consumer(bootstrap: str) -> AIOKafkaConsumer:
    return AIOKafkaConsumer(
        **client_kwargs(bootstrap),
        enable_auto_commit=False,
        isolation_level="read_committed",
        auto_offset_reset="earliest",
        max_partition_fetch_bytes=8 * 1024 * 1024,
        request_timeout_ms=REQUEST_TIMEOUT_MS,
    )


async def changelog_end(bootstrap: str, topic: str, partition: int) -> int:
    """Return the read_committed end offset (LSO) of a changelog partition."""
    consumer = _state_consumer(bootstrap)
    await asyncio.wait_for(consumer.start(), START_TIMEOUT_S)
    try:
        tp = TopicPartition(topic, partition)
        return int((await asyncio.wait_for(consumer.end_offsets([tp]), START_TIMEOUT_S))[tp])
    finally:
        await _stop_reader(consumer, topic, partition)


async def _stop_reader(consumer: AIOKafkaConsumer, topic: str, partition: int) -> None:
    """Stop a changelog reader within `READER_STOP_TIMEOUT_S`; a slower close goes on in the background.

    A load (or an end-offset lookup) that got its answer must not fail, and be retried from scratch,
    because closing the reader's connections is slow.
    """
    stopping = asyncio.ensure_future(consumer.stop())
    done, _ = await asyncio.wait({stopping}, timeout=READER_STOP_TIMEOUT_S)
    if not done:
        _closing.add(stopping)
        stopping.add_done_callback(_closed)
        log.debug("changelog reader still closing", extra={"topic": topic, "partition": partition})
    elif not stopping.cancelled() and stopping.exception() is not None:
        log.debug(
            "changelog reader stop failed",
            extra={"topic": topic, "partition": partition, "error": repr(stopping.exception())},
        )


#: Reader stops left to finish in the background (a reference keeps each task alive until it ends).
_closing: set[asyncio.Future[None]] = set()


def _closed(stopping: asyncio.Future[None]) -> None:
    _closing.discard(stopping)
    if not stopping.cancelled():
        stopping.exception()  # retrieved: a failed background close is not worth a warning


async def load_partition(
    bootstrap: str, topic: str, partition: int, state: PartitionState, *, timeout_s: float
) -> Loaded:
    """Replay changelog partition `partition` (read_committed, to the LSO) into `state`.

    Call only after the partition's transactional producer started: its `init_transactions` aborts a
    killed predecessor's open transaction, which would otherwise hold the LSO back until it times out.
    """

    def apply(order_id: str, value: bytes | None) -> None:
        state.apply(order_id, decode_memory(value))

    started = time.monotonic()
    loaded = await load_changelog(bootstrap, topic, partition, apply, timeout_s=timeout_s)
    log.info(
        "state partition loaded",
        extra={
            "partition": partition,
            "records": loaded.records,
            "keys": len(state),
            "seconds": time.monotonic() - started,
        },
    )
    return loaded


async def load_changelog(
    bootstrap: str,
    topic: str,
    partition: int,
    apply: Callable[[str, bytes | None], None],
    *,
    timeout_s: float,
) -> Loaded:
    """Replay one changelog partition (read_committed, to the LSO): `apply(key, value)` per record."""
    consumer = _state_consumer(bootstrap)
    await asyncio.wait_for(consumer.start(), START_TIMEOUT_S)
    started = time.monotonic()
    count = 0
    try:
        tp = TopicPartition(topic, partition)
        consumer.assign([tp])
        await asyncio.wait_for(consumer.seek_to_beginning(tp), START_TIMEOUT_S)
        end = (await asyncio.wait_for(consumer.end_offsets([tp]), START_TIMEOUT_S))[tp]
        while await asyncio.wait_for(consumer.position(tp), START_TIMEOUT_S) < end:
            if time.monotonic() - started > timeout_s:
                raise TimeoutError(f"changelog {topic}[{partition}] not loaded within {timeout_s}s")
            batch = await consumer.getmany(tp, timeout_ms=LOAD_BATCH_TIMEOUT_MS)
            for message in batch.get(tp, []):
                if message.key is None:
                    continue
                apply(message.key.decode(), message.value)
                count += 1
    finally:
        await _stop_reader(consumer, topic, partition)
    log.debug(
        "changelog partition read",
        extra={
            "topic": topic,
            "partition": partition,
            "records": count,
            "seconds": time.monotonic() - started,
        },
    )
    return Loaded(count, int(end))
