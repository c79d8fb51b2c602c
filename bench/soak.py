"""Soak benchmark: the whole bridge under steady load for a bounded time, watched for growth and drift.

Every service is its own `vtex-bridge` process (simulator, worker, ingress, feed poller) on a Kafka
broker of its own (or `KAFKA_BOOTSTRAP_SERVERS`, then the broker is not sampled), loopback only. The
simulator drives `--rate` status changes per second in one-minute workloads, one after the other, with
duplicates and reordering; every change reaches the bridge twice, by hook and by Feed v3, as with a
real account that has both. Every `--sample-s` the benchmark samples each process's RSS, CPU time and
open fds, the worker group's lag on the input topic, the feed's backlog and the simulator's counts.

After `--minutes` the load stops, the bridge settles (VTEX has nothing pending, the feed is empty, the
worker committed the input's end) and the status topics are read back. The last line is JSON:

* `warmup_minutes`: at least `--warmup-minutes` (default min(5, 1/4 of the run)) and, on RocksDB, until
  the worker's RocksDB memory reached its level: its budget `--rocksdb-memory-mb` (default 32, small so
  it fills within the warm-up; the worker's `vtex_bridge_processor_rocksdb_memory_bytes`) or, when what it
  reads and writes is smaller, 90 % of its highest usage (`rocksdb_level_reached_min`, `rocksdb`);
* `processes.<name>`: each service's process tree summed (`process_count`: the ingress runs worker
  processes of its own): RSS at the end of warm-up and at the end, `rss_slope_mb_per_10min` after
  warm-up (least squares; also over the last half), for the worker and the ingress `rss_steps` (jumps
  of 2 MB or more between samples with the lag peak before each), CPU ms
  per event in the first and last window after warm-up and their `cpu_drift` (last ÷ first), fds;
* `lag` and `feed_backlog`: max, last and slope per minute after warm-up (plus the feed's oldest age);
* `simulator_cpu_ms_per_hook`: the simulator's CPU per hook attempt, first and last window and drift;
* `machine_load`: busy cores of the machine, of the soak's processes and of everything else, whole
  period and first/last window (the machine may be shared: the others' load is evidence, not noise);
* on `memory://`, `memory_growth`: new orders, event ids and timeline entries per 10 min times the sizing
  rule's cost per key (docs/operations.md) = the expected growth, next to the measured RSS slope;
* `accounting`: distinct events VTEX saw accepted vs distinct events on the status topics (and records,
  so a duplicate shows), dead letters; `targets`: each target of the soak and whether it was met.

An "event" is one status change of an order (one hook plus one feed item, same event id). Exit status:
0 when the accounting holds and every process lived, 1 otherwise (targets are reported, not enforced:
figures, not timed assertions). `--minutes 5` (or `SOAK_MINUTES=5 make soak`) is a short run.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import os
import secrets
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import aiohttp
import orjson
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from bench import soak_trace
from bench.common import (
    emit,
    kafka_broker_process,
    machine_description,
    process_cpu_seconds,
    progress,
    timestamp,
)
from bridge.aiokafka_fixes import client_of
from bridge.cli.dev.hook import EVERY_CHANGE, configure_every_change_hook
from bridge.cli.dev.supervisor import Child, Supervisor
from bridge.local_kafka import free_port
from bridge.settings import load_settings
from bridge.statuses import KNOWN_STATUSES
from bridge.vtex.config_api import ConfigApiClient
from bridge.vtex.config_models import FeedConfig, FeedQueue

DEFAULT_MINUTES: Final = 20.0
#: The load of the soak that found the growth this benchmark watches (issue: ~148 changes/s).
DEFAULT_RATE: Final = 148.0
DUPLICATE_RATE: Final = 0.2
REORDER_RATE: Final = 0.1
#: Seconds of load per workload the simulator is handed (the next starts when it finished).
CHUNK_S: Final = 60.0
#: Mean status changes per order of the default lifecycle mix (sizes a chunk; the exact count is used).
CHANGES_PER_ORDER: Final = 9.64
WINDOWS: Final = 4
#: Orders and delivery records the simulator keeps (about 3 and 2 minutes' worth at the default rate),
#: so its memory levels off within the warm-up: it holds an account's history otherwise.
SIM_MAX_ORDERS: Final = 3000
SIM_DELIVERY_RECORDS: Final = 20_000
READY_TIMEOUT_S: Final = 120.0
SETTLE_TIMEOUT_S: Final = 600.0
PARTITIONS: Final = 4
ROUTE_ALL: Final = "all"
#: Targets of the soak (issue 26): worker and ingress RSS slope after warm-up, CPU drift per process.
RSS_SLOPE_TARGET_MB: Final = 5.0
CPU_DRIFT_TARGET: Final = 1.2
RSS_TARGET_PROCESSES: Final = ("worker", "ingress")
HTTP_TIMEOUT_S: Final = 10.0
MB: Final = 1024 * 1024
#: A change of a process's RSS between two samples this large is a step (`rss_steps`).
RSS_STEP_MB: Final = 2.0
#: Seconds before a step in which the lag peak is looked for.
STEP_LAG_WINDOW_S: Final = 60.0
#: The worker's RocksDB budget in the soak (`worker_rocksdb_memory_mb`): small enough that the block
#: cache and memtables fill it within the warm-up, so the slope after it shows what grows beyond it.
DEFAULT_ROCKSDB_MEMORY_MB: Final = 32
MIN_ROCKSDB_MEMORY_MB: Final = 16
#: RocksDB's memory (block cache usage, memtables included) has reached its level at this share of it
#: (the budget, or the run's highest usage when RocksDB levels off below the budget).
BUDGET_REACHED: Final = 0.9
#: The sizing rule of `memory://` (docs/operations.md, measured by bench.store_memory), in bytes: per
#: order held (de-dup key 450 + timeline 220), per event id remembered, per timeline entry.
MEMORY_BYTES_PER_ORDER: Final = 450 + 220
MEMORY_BYTES_PER_EVENT_ID: Final = 140
MEMORY_BYTES_PER_ENTRY: Final = 290
#: Measured growth of a `memory://` worker / the rule's expected growth: target (issue: "not more").
MEMORY_GROWTH_RATIO_TARGET: Final = 1.2
#: The worker's /metrics series the soak samples, under the name a sample keeps them.
WORKER_METRICS: Final = {
    'vtex_bridge_processor_rocksdb_memory_bytes{kind="budget"}': "rocksdb_budget",
    'vtex_bridge_processor_rocksdb_memory_bytes{kind="block_cache"}': "rocksdb_block_cache",
    'vtex_bridge_processor_rocksdb_memory_bytes{kind="memtables"}': "rocksdb_memtables",
    "vtex_bridge_processor_state_keys": "state_keys",
    "vtex_bridge_processor_timeline_orders": "timeline_orders",
    'vtex_bridge_processor_events_total{outcome="emitted"}': "emitted",
}


#: The poller's backlog age gauge (one series per account).
FEED_AGE: Final = "vtex_bridge_feed_poller_backlog_age_seconds"


@dataclass
class Sample:
    """One look at every process and at the pipeline."""

    at: float
    rss_mb: dict[str, float]
    cpu_s: dict[str, float]
    fds: dict[str, int]
    transitions: int
    hooks_sent: int
    accepted_events: int
    lag: int | None
    feed_backlog: int
    feed_age_s: float | None
    #: The worker's own figures from its /metrics (`WORKER_METRICS`); empty when it did not answer.
    worker: dict[str, float] = field(default_factory=dict)
    #: CPU seconds the whole machine spent busy so far (/proc/stat) and those of the soak's processes
    #: (this harness and everything it started): the difference is the other load on the machine.
    machine_busy_s: float | None = None
    soak_cpu_s: float | None = None
    #: Processes in each named tree (the ingress runs worker processes of its own).
    procs: dict[str, int] = field(default_factory=dict)


@dataclass
class Run:
    """The services of one soak and how to reach them."""

    work_dir: Path
    bootstrap: str
    broker_pid: int | None
    store: str
    rocksdb_memory_mb: int = DEFAULT_ROCKSDB_MEMORY_MB
    name: str = field(default_factory=lambda: f"soak-{os.getpid()}-{int(time.time())}")
    sim_port: int = field(default_factory=free_port)
    ingress_port: int = field(default_factory=free_port)
    worker_port: int = field(default_factory=free_port)
    feed_port: int = field(default_factory=free_port)
    console_port: int = field(default_factory=free_port)
    ingress_metrics_port: int = field(default_factory=free_port)
    hook_secret: str = field(default_factory=lambda: secrets.token_urlsafe(32))
    children: dict[str, Child] = field(default_factory=dict)

    @property
    def input_topic(self) -> str:
        return f"{self.name}.in"

    @property
    def status_prefix(self) -> str:
        return f"{self.name}.st."

    @property
    def dead_letter_topic(self) -> str:
        return f"{self.name}.dlq"

    @property
    def sim_url(self) -> str:
        return f"http://127.0.0.1:{self.sim_port}"

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("VTEX_", "KAFKA_BOOTSTRAP"))}
        env.update(
            {
                "KAFKA_BOOTSTRAP_SERVERS": self.bootstrap,
                "VTEX_BRIDGE_INPUT_TOPIC": self.input_topic,
                "VTEX_BRIDGE_STATUS_TOPIC_PREFIX": self.status_prefix,
                "VTEX_BRIDGE_DEAD_LETTER_TOPIC": self.dead_letter_topic,
                "VTEX_BRIDGE_INPUT_TOPIC_PARTITIONS": str(PARTITIONS),
                "VTEX_BRIDGE_WORKER_APP_ID": self.name,
                "VTEX_BRIDGE_WORKER_STORE": self.store,
                "VTEX_BRIDGE_WORKER_ROCKSDB_MEMORY_MB": str(self.rocksdb_memory_mb),
                "VTEX_BRIDGE_WORKER_CREATE_TOPICS": "true",
                "VTEX_BRIDGE_TOPICS_ALLOW_UNDER_REPLICATED": "true",
                "VTEX_BRIDGE_WORKER_ROUTE_GROUPS": orjson.dumps({ROUTE_ALL: list(KNOWN_STATUSES)}).decode(),
                "VTEX_BRIDGE_WORKER_WEB_PORT": str(self.worker_port),
                "VTEX_BRIDGE_OMS_RATE_LIMIT_PER_S": "1000",
                "VTEX_BRIDGE_INGRESS_PORT": str(self.ingress_port),
                "VTEX_BRIDGE_INGRESS_METRICS_PORT": str(self.ingress_metrics_port),
                "VTEX_BRIDGE_SIM_PORT": str(self.sim_port),
                "VTEX_BRIDGE_SIM_MAX_ORDERS": str(SIM_MAX_ORDERS),
                "VTEX_BRIDGE_SIM_DELIVERY_RECORDS": str(SIM_DELIVERY_RECORDS),
                "VTEX_BRIDGE_VTEX_BASE_URL": self.sim_url,
                "VTEX_BRIDGE_FEED_POLL_HTTP_PORT": str(self.feed_port),
                "VTEX_BRIDGE_FEED_POLL_BACKLOG_INTERVAL_S": "5",
                "VTEX_BRIDGE_LOG_FORMAT": "json",
                # Secrets as production needs them (no development profile): the console stays on.
                "VTEX_BRIDGE_CONSOLE_ADMIN_TOKEN": secrets.token_urlsafe(32),
                "VTEX_BRIDGE_CONSOLE_PORT": str(self.console_port),
                "VTEX_BRIDGE_HOOK_SECRET": self.hook_secret,
                "PYTHONUNBUFFERED": "1",
            }
        )
        return env

    def pids(self) -> dict[str, int]:
        pids = {name: c.process.pid for name, c in self.children.items() if c.process is not None}
        if self.broker_pid is not None:
            pids["broker"] = self.broker_pid
        return pids

    def dead(self) -> list[str]:
        return [name for name, child in self.children.items() if not child.running]


# --- processes ------------------------------------------------------------------------------------


def _descendants(pid: int) -> list[int]:
    """Return `pid` and every process below it (a service may run helpers of its own)."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            with contextlib.suppress(OSError, IndexError, ValueError):
                ppid = int(Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()[1])
                children.setdefault(ppid, []).append(int(entry))
    out, todo = [], [pid]
    while todo:
        current = todo.pop()
        out.append(current)
        todo.extend(children.get(current, []))
    return out


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def process_figures(pids: dict[str, int]) -> tuple[dict[str, float], dict[str, float], dict[str, int]]:
    """Return RSS (MB), CPU seconds and open fds of each named process tree."""
    rss: dict[str, float] = {}
    cpu: dict[str, float] = {}
    fds: dict[str, int] = {}
    for name, pid in pids.items():
        r = c = 0.0
        f = 0
        for member in _descendants(pid):
            with contextlib.suppress(OSError, ValueError, IndexError):
                r += _rss_mb(member)
                c += process_cpu_seconds(member)
                f += len(os.listdir(f"/proc/{member}/fd"))
        rss[name], cpu[name], fds[name] = round(r, 1), c, f
    return rss, cpu, fds


def machine_busy_seconds() -> float | None:
    """CPU seconds all cores spent busy since boot (/proc/stat: everything but idle and iowait)."""
    with contextlib.suppress(OSError, ValueError, IndexError):
        fields = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:9]]
        user, nice, system, _idle, _iowait, irq, softirq, steal = fields
        return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")
    return None


def soak_cpu_seconds() -> float:
    """CPU seconds of this harness and every process it started (broker and services included)."""
    total = 0.0
    for member in _descendants(os.getpid()):
        with contextlib.suppress(OSError, ValueError, IndexError):
            total += process_cpu_seconds(member)
    return total


def parse_worker_metrics(text: str) -> dict[str, float]:
    """Pick `WORKER_METRICS` out of a Prometheus exposition; `events` sums every outcome."""
    out: dict[str, float] = {}
    events = 0.0
    for line in text.splitlines():
        if line.startswith("#") or " " not in line:
            continue
        series, value = line.rsplit(" ", 1)
        with contextlib.suppress(ValueError):
            if series in WORKER_METRICS:
                out[WORKER_METRICS[series]] = float(value)
            if series.startswith("vtex_bridge_processor_events_total{"):
                events += float(value)
    out["events"] = events
    return out


# --- the pipeline ---------------------------------------------------------------------------------


class Probe:
    """Long-lived clients for the samples: simulator stats, the poller's metrics, the group's lag."""

    def __init__(self, run: Run) -> None:
        self.run = run
        self.session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=HTTP_TIMEOUT_S))
        self.admin = AIOKafkaAdminClient(bootstrap_servers=run.bootstrap)
        self.consumer = AIOKafkaConsumer(bootstrap_servers=run.bootstrap, enable_auto_commit=False)

    async def start(self) -> None:
        await asyncio.wait_for(self.admin.start(), HTTP_TIMEOUT_S)
        await asyncio.wait_for(self.consumer.start(), HTTP_TIMEOUT_S)

    async def close(self) -> None:
        await self.session.close()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.admin.close(), HTTP_TIMEOUT_S)
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.consumer.stop(), HTTP_TIMEOUT_S)

    async def get_json(self, url: str, body: Any = None) -> Any:
        method = self.session.get if body is None else self.session.post
        kwargs = {} if body is None else {"json": body}
        async with method(url, **kwargs) as response:
            if response.status >= 300:
                raise RuntimeError(f"{url} answered {response.status}: {await response.text()}")
            return await response.json()

    async def sim_stats(self) -> dict[str, Any]:
        return dict(await self.get_json(f"{self.run.sim_url}/_sim/stats"))

    async def feed_age(self) -> float | None:
        with contextlib.suppress(aiohttp.ClientError, TimeoutError):
            url = f"http://127.0.0.1:{self.run.feed_port}/metrics"
            async with self.session.get(url) as response:
                ages = [
                    float(line.rsplit(" ", 1)[1])
                    for line in (await response.text()).splitlines()
                    if line.startswith((FEED_AGE + " ", FEED_AGE + "{"))
                ]
                return max(ages) if ages else None  # the oldest account's backlog
        return None

    async def worker_metrics(self) -> dict[str, float]:
        with contextlib.suppress(aiohttp.ClientError, TimeoutError):
            async with self.session.get(f"http://127.0.0.1:{self.run.worker_port}/metrics") as response:
                return parse_worker_metrics(await response.text())
        return {}

    async def lag(self) -> int | None:
        """Return records on the input topic the worker group has not committed yet (None: unknown)."""
        try:
            topic = self.run.input_topic
            partitions = self.consumer.partitions_for_topic(topic)
            if not partitions:
                await client_of(self.consumer).force_metadata_update()
                partitions = self.consumer.partitions_for_topic(topic) or set()
            tps = [TopicPartition(topic, p) for p in partitions]
            if not tps:
                return None
            end = await asyncio.wait_for(self.consumer.end_offsets(tps), HTTP_TIMEOUT_S)
            offsets = await asyncio.wait_for(
                self.admin.list_consumer_group_offsets(self.run.name), HTTP_TIMEOUT_S
            )
        except Exception:  # noqa: BLE001 - a sample without lag is a gap, not a failure
            return None
        committed = {tp: meta.offset for tp, meta in offsets.items() if tp.topic == topic}
        return int(sum(max(0, end[tp] - max(0, committed.get(tp, 0))) for tp in tps))

    async def sample(self, started: float) -> Sample:
        pids = self.run.pids()
        rss, cpu, fds = process_figures(pids)
        stats = await self.sim_stats()
        sender = stats["sender"]
        return Sample(
            at=time.monotonic() - started,
            rss_mb=rss,
            cpu_s=cpu,
            fds=fds,
            transitions=int(stats["transitions"]),
            hooks_sent=int(sender["sent"]),
            accepted_events=int(sender["accepted_events"]),
            lag=await self.lag(),
            feed_backlog=sum(int(n) for n in stats["feed_depth"].values()),
            feed_age_s=await self.feed_age(),
            worker=await self.worker_metrics(),
            machine_busy_s=machine_busy_seconds(),
            soak_cpu_s=await asyncio.to_thread(soak_cpu_seconds),
            procs={name: len(_descendants(pid)) for name, pid in pids.items()},
        )


async def start_services(
    run: Run, supervisor: Supervisor, probe: Probe, seed: int, worker_env: dict[str, str] | None = None
) -> None:
    """Start the simulator, worker, ingress and feed poller; configure the hook and the feed."""

    async def wait_http(name: str, url: str, ok: Any = None) -> None:
        deadline = time.monotonic() + READY_TIMEOUT_S
        while True:
            if not run.children[name].running:
                tail = "\n".join(run.children[name].log_tail(30))
                raise RuntimeError(f"{name} exited with {run.children[name].exit_code}:\n{tail}")
            with contextlib.suppress(aiohttp.ClientError, TimeoutError, RuntimeError, ValueError):
                body = await probe.get_json(url)
                if ok is None or ok(body):
                    return
            if time.monotonic() > deadline:
                raise RuntimeError(f"{name} did not answer {url} within {READY_TIMEOUT_S:.0f}s")
            await asyncio.sleep(0.5)

    run.children["simulator"] = supervisor.spawn(
        "simulator", "sim", "--allow-http-hooks", "--orders", "0", "--no-wait", "--rate-limit", "0",
        "--seed", str(seed), "--duplicate-rate", str(DUPLICATE_RATE), "--reorder-rate", str(REORDER_RATE),
    )  # fmt: skip
    await wait_http("simulator", f"{run.sim_url}/_sim/stats")
    run.children["worker"] = supervisor.spawn(
        "worker", "worker", "--data-dir", str(run.work_dir / "worker"), env=worker_env
    )
    await wait_http(
        "worker", f"http://127.0.0.1:{run.worker_port}/health", lambda body: bool(body.get("partitions"))
    )
    run.children["ingress"] = supervisor.spawn("ingress", "ingress")
    await wait_http("ingress", f"http://127.0.0.1:{run.ingress_port}/readyz")
    settings = load_settings(vtex_base_url=run.sim_url, kafka_embedded=False, hook_secret=run.hook_secret)
    await configure_every_change_hook(
        settings, f"http://127.0.0.1:{run.ingress_port}{settings.ingress_path}", allow_http=True
    )
    async with ConfigApiClient.from_settings(settings) as client:
        await client.set_feed_config(FeedConfig(filter=EVERY_CHANGE, queue=FeedQueue(240, 345600)))
    run.children["feed-poller"] = supervisor.spawn("feed-poller", "feed", "poll")
    await wait_http("feed-poller", f"http://127.0.0.1:{run.feed_port}/healthz")


async def drive(probe: Probe, rate: float, seed: int, stop: asyncio.Event) -> int:
    """Hand the simulator one-minute workloads back to back until `stop`; return how many were started."""
    orders = max(1, round(rate * CHUNK_S / CHANGES_PER_ORDER))
    chunks = 0
    while not stop.is_set():
        body = {"orders": orders, "seed": seed + chunks, "rate_per_s": rate}
        await probe.get_json(f"{probe.run.sim_url}/_sim/workload", body)
        chunks += 1
        while not stop.is_set():
            await asyncio.sleep(0.25)
            if not (await probe.sim_stats())["sender"]["running"]:
                break
    return chunks


async def settle(probe: Probe, run: Run) -> None:
    """Wait until VTEX has nothing pending, the feed is empty and the worker committed the input's end."""
    deadline = time.monotonic() + SETTLE_TIMEOUT_S
    while time.monotonic() < deadline:
        if run.dead():
            raise RuntimeError(f"died while settling: {run.dead()}")
        stats = await probe.sim_stats()
        sender = stats["sender"]
        idle = not (sender["pending"] or sender["held"] or sender["running"])
        if idle and not any(stats["feed_depth"].values()) and await probe.lag() == 0:
            return
        await asyncio.sleep(1.0)
    raise RuntimeError(f"the bridge did not settle within {SETTLE_TIMEOUT_S:.0f}s")


async def emitted(run: Run) -> tuple[int, int, int]:
    """Return (distinct event ids, records) on the status topics and records on the dead-letter topic."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=run.bootstrap,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        isolation_level="read_committed",
    )
    await consumer.start()
    try:
        await client_of(consumer).force_metadata_update()
        topics = [t for t in await consumer.topics() if t.startswith(run.status_prefix)]
        topics.append(run.dead_letter_topic)
        tps = [TopicPartition(t, p) for t in topics for p in sorted(consumer.partitions_for_topic(t) or ())]
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        end = await consumer.end_offsets(tps)
        ids: set[bytes] = set()
        records = dead = 0
        while not all([await consumer.position(tp) >= end[tp] for tp in tps]):
            for tp, batch in (await consumer.getmany(timeout_ms=500, max_records=5000)).items():
                if tp.topic == run.dead_letter_topic:
                    dead += len(batch)
                    continue
                records += len(batch)
                for record in batch:
                    event_id = next((v for k, v in record.headers if k == "event_id"), None)
                    if event_id is None:
                        event_id = str(orjson.loads(record.value)["event_id"]).encode()
                    ids.add(event_id)
        return len(ids), records, dead
    finally:
        await consumer.stop()


# --- figures --------------------------------------------------------------------------------------


def slope_per_s(points: Sequence[tuple[float, float]]) -> float:
    """Least-squares slope of (t, y) points (0 with fewer than two)."""
    if len(points) < 2:
        return 0.0
    n = len(points)
    mean_t = sum(t for t, _ in points) / n
    mean_y = sum(y for _, y in points) / n
    var = sum((t - mean_t) ** 2 for t, _ in points)
    if var == 0:
        return 0.0
    return sum((t - mean_t) * (y - mean_y) for t, y in points) / var


def _ratio(last: float | None, first: float | None) -> float | None:
    return round(last / first, 3) if last is not None and first else None


def windows(samples: Sequence[Sample], count: int = WINDOWS) -> list[tuple[Sample, Sample]]:
    """Split the samples into `count` consecutive windows of equal duration: (first, last) sample each."""
    if len(samples) < 2:
        return []
    start, end = samples[0].at, samples[-1].at
    bounds = [start + (end - start) * i / count for i in range(count + 1)]
    out = []
    for lo, hi in itertools.pairwise(bounds):
        inside = [s for s in samples if lo <= s.at <= hi]
        if len(inside) >= 2:
            out.append((inside[0], inside[-1]))
    return out


def per_unit(a: Sample, b: Sample, name: str, units: int) -> float | None:
    if units <= 0 or name not in a.cpu_s or name not in b.cpu_s:
        return None
    return (b.cpu_s[name] - a.cpu_s[name]) * 1000 / units


def budget_reached_at(samples: Sequence[Sample], fraction: float = BUDGET_REACHED) -> float | None:
    """When the worker's RocksDB memory (block cache usage, which the memtables are charged to) first
    reached `fraction` of its level: the budget, or the highest usage of the run when the data it
    reads and writes is smaller than the budget (RocksDB then levels off below it: blocks of deleted
    files leave the cache and flushed memtables free their share). None on `memory://` (no budget)."""
    usage = [(s.at, s.worker["rocksdb_block_cache"]) for s in samples if "rocksdb_block_cache" in s.worker]
    budgets = [s.worker["rocksdb_budget"] for s in samples if "rocksdb_budget" in s.worker]
    if not usage or not budgets:
        return None
    level = fraction * min(max(budgets), max(used for _, used in usage))
    return next(at for at, used in usage if used >= level)


def warmup_end(samples: Sequence[Sample], minimum_s: float) -> tuple[float, float | None]:
    """The warm-up: at least `minimum_s` (the services' own start-up: the simulator fills its order cap)
    and, on RocksDB, until its memory reached its level (`budget_reached_at`), so the slope after it is
    that of a worker whose RocksDB memory no longer grows. Returns (end of the warm-up, when RocksDB
    reached its level or None)."""
    reached = budget_reached_at(samples)
    return max(minimum_s, reached or 0.0), reached


def rss_steps(measured: Sequence[Sample], name: str) -> list[dict[str, Any]]:
    """A process's RSS steps: changes of at least `RSS_STEP_MB` between two samples, each with the
    worker group's lag peak in the minute before it. A worker catching up a backlog holds more events
    at once and its heap keeps that high-water mark (a step up after a lag peak), or gives memory back
    (a step down); growth with the run's length instead (anything kept per order or event) is a
    steady slope without steps."""
    steps: list[dict[str, Any]] = []
    for a, b in itertools.pairwise(measured):
        change = b.rss_mb.get(name, 0.0) - a.rss_mb.get(name, 0.0)
        if abs(change) >= RSS_STEP_MB:
            lags = [s.lag for s in measured if b.at - STEP_LAG_WINDOW_S <= s.at <= b.at and s.lag is not None]
            steps.append(
                {"at_min": round(b.at / 60, 1), "mb": round(change, 1), "lag_peak": max(lags, default=None)}
            )
    return steps


def rocksdb_figures(samples: Sequence[Sample]) -> dict[str, Any]:
    """The worker's RocksDB memory as it reports it: budget, highest and last usage (block cache with
    the memtables charged to it), memtables at the end, and whether the usage came near the budget."""
    usage = [s.worker.get("rocksdb_block_cache", 0.0) for s in samples]
    budget = max(s.worker.get("rocksdb_budget", 0.0) for s in samples)
    return {
        "budget_mb": round(budget / MB, 1),
        "usage_mb_max": round(max(usage) / MB, 1),
        "usage_mb_end": round(usage[-1] / MB, 1),
        "memtables_mb_end": round(samples[-1].worker.get("rocksdb_memtables", 0.0) / MB, 1),
        "budget_full": max(usage) >= BUDGET_REACHED * budget,
    }


def machine_load(measured: Sequence[Sample], spans: Sequence[tuple[Sample, Sample]]) -> dict[str, Any]:
    """Busy cores of the whole machine, of the soak's processes and of everything else (other load),
    over the measured period and in its first and last window (CPU-per-event drift follows the
    others' load: a busier machine costs more CPU per event in cache misses and migrations)."""

    def cores(a: Sample, b: Sample) -> dict[str, float | None]:
        span = b.at - a.at
        if span <= 0 or None in (a.machine_busy_s, b.machine_busy_s, a.soak_cpu_s, b.soak_cpu_s):
            return {"busy": None, "soak": None, "others": None}
        busy = (b.machine_busy_s or 0.0) - (a.machine_busy_s or 0.0)
        soak = (b.soak_cpu_s or 0.0) - (a.soak_cpu_s or 0.0)
        return {
            "busy": round(busy / span, 2),
            "soak": round(soak / span, 2),
            "others": round(max(0.0, busy - soak) / span, 2),
        }

    whole = cores(measured[0], measured[-1])
    out: dict[str, Any] = {"cpus": os.cpu_count(), **{f"{k}_cores": v for k, v in whole.items()}}
    if spans:
        out["others_cores_first_window"] = cores(*spans[0])["others"]
        out["others_cores_last_window"] = cores(*spans[-1])["others"]
    return out


def memory_growth(measured: Sequence[Sample]) -> dict[str, Any] | None:
    """On `memory://`: the worker's growth the sizing rule expects (orders, event ids and timeline
    entries added x their cost per key) next to the measured RSS slope; None without the counts or on
    RocksDB (a worker that reports a RocksDB budget: its orders live on disk)."""
    have = [s for s in measured if {"state_keys", "emitted", "events"} <= s.worker.keys()]
    if len(have) < 2 or any("rocksdb_budget" in s.worker for s in have):
        return None

    def per_10min(key: str) -> float:
        return slope_per_s([(s.at, s.worker.get(key, 0.0)) for s in have]) * 600

    orders, ids, entries = per_10min("state_keys"), per_10min("emitted"), per_10min("events")
    measured_mb = slope_per_s([(s.at, s.rss_mb["worker"]) for s in have if "worker" in s.rss_mb]) * 600
    expected_mb = (
        orders * MEMORY_BYTES_PER_ORDER + ids * MEMORY_BYTES_PER_EVENT_ID + entries * MEMORY_BYTES_PER_ENTRY
    ) / (1024 * 1024)
    return {
        "new_orders_per_10min": round(orders),
        "new_event_ids_per_10min": round(ids),
        "new_timeline_entries_per_10min": round(entries),
        "expected_mb_per_10min": round(expected_mb, 1),
        "measured_mb_per_10min": round(measured_mb, 1),
        "ratio": round(measured_mb / expected_mb, 2) if expected_mb > 0 else None,
    }


def summarize(samples: Sequence[Sample], warmup_s: float) -> dict[str, Any]:
    measured = [s for s in samples if s.at >= warmup_s] or list(samples)
    spans = windows(measured)
    first, last = (spans[0], spans[-1]) if spans else (None, None)
    processes: dict[str, Any] = {}
    for name in samples[-1].rss_mb:
        points = [(s.at, s.rss_mb[name]) for s in measured if name in s.rss_mb]
        row: dict[str, Any] = {
            "rss_mb_warm": measured[0].rss_mb.get(name),
            "rss_mb_end": measured[-1].rss_mb.get(name),
            "rss_mb_max": max(s.rss_mb.get(name, 0.0) for s in samples),
            "rss_slope_mb_per_10min": round(slope_per_s(points) * 600, 1),
            # The leveled-off figure when a store's budget fills after the warm-up.
            "rss_slope_last_half_mb_per_10min": round(slope_per_s(points[len(points) // 2 :]) * 600, 1),
            **({"rss_steps": rss_steps(measured, name)} if name in RSS_TARGET_PROCESSES else {}),
            "process_count": measured[-1].procs.get(name),
            "fds_warm": measured[0].fds.get(name),
            "fds_end": measured[-1].fds.get(name),
        }
        if first is not None and last is not None:
            cpu_first = per_unit(*first, name, first[1].transitions - first[0].transitions)
            cpu_last = per_unit(*last, name, last[1].transitions - last[0].transitions)
            row["cpu_ms_per_event_first"] = None if cpu_first is None else round(cpu_first, 3)
            row["cpu_ms_per_event_last"] = None if cpu_last is None else round(cpu_last, 3)
            row["cpu_drift"] = _ratio(cpu_last, cpu_first)
        processes[name] = row
    lags = [(s.at, float(s.lag)) for s in measured if s.lag is not None]
    backlog = [(s.at, float(s.feed_backlog)) for s in measured]
    ages = [s.feed_age_s for s in measured if s.feed_age_s is not None]
    sim_hook: dict[str, Any] = {}
    if first is not None and last is not None:
        hook_first = per_unit(*first, "simulator", first[1].hooks_sent - first[0].hooks_sent)
        hook_last = per_unit(*last, "simulator", last[1].hooks_sent - last[0].hooks_sent)
        sim_hook = {
            "first": None if hook_first is None else round(hook_first, 3),
            "last": None if hook_last is None else round(hook_last, 3),
            "drift": _ratio(hook_last, hook_first),
        }
    span = measured[-1].at - measured[0].at
    growth = memory_growth(measured)
    end = measured[-1].worker
    rocksdb = rocksdb_figures(samples) if "rocksdb_budget" in end else None
    return {
        "measured_s": round(span, 1),
        "events_per_s": round((measured[-1].transitions - measured[0].transitions) / span, 1)
        if span
        else None,
        "window_s": round(span / WINDOWS, 1),
        "processes": processes,
        "lag": trend(lags),
        "feed_backlog": {**trend(backlog), "oldest_age_s_max": round(max(ages), 1) if ages else None},
        "simulator_cpu_ms_per_hook": sim_hook,
        "machine_load": machine_load(measured, spans),
        **({"rocksdb": rocksdb} if rocksdb is not None else {}),
        **({"memory_growth": growth} if growth is not None else {}),
    }


def trend(points: Sequence[tuple[float, float]]) -> dict[str, Any]:
    """Max, last, slope per minute, and the mean of the first and last quarter of the points."""
    quarter = max(1, len(points) // WINDOWS)

    def mean(part: Sequence[tuple[float, float]]) -> float | None:
        return round(sum(y for _, y in part) / len(part), 1) if part else None

    return {
        "max": int(max((y for _, y in points), default=0)),
        "last": int(points[-1][1]) if points else None,
        "slope_per_min": round(slope_per_s(points) * 60, 1),
        "first_window_mean": mean(points[:quarter]),
        "last_window_mean": mean(points[-quarter:]),
    }


def bounded(row: dict[str, Any], slack: float) -> bool:
    """A queue is bounded when its last window's mean is within 1.5x its first's (plus `slack`)."""
    first, last = row["first_window_mean"], row["last_window_mean"]
    return first is not None and last is not None and last <= 1.5 * first + slack


def targets(summary: dict[str, Any], accounting: dict[str, Any]) -> dict[str, Any]:
    processes = summary["processes"]
    growth = summary.get("memory_growth")
    rss = {
        name: processes[name]["rss_slope_mb_per_10min"] <= RSS_SLOPE_TARGET_MB
        for name in RSS_TARGET_PROCESSES
        # On memory:// the worker grows with the orders it holds: judged against the sizing rule instead.
        if name in processes and not (name == "worker" and growth is not None)
    }
    store: dict[str, Any] = {}
    if growth is not None:
        ratio = growth["ratio"]
        store[f"worker_growth_le_{MEMORY_GROWTH_RATIO_TARGET:g}x_sizing_rule"] = (
            ratio is not None and ratio <= MEMORY_GROWTH_RATIO_TARGET
        )
    drift = {
        name: row.get("cpu_drift") is not None and row["cpu_drift"] <= CPU_DRIFT_TARGET
        for name, row in processes.items()
    }
    return {
        f"rss_slope_le_{RSS_SLOPE_TARGET_MB:g}mb_per_10min": rss,
        f"cpu_drift_le_{CPU_DRIFT_TARGET:g}": drift,
        "emitted_equals_accepted": accounting["ok"],
        # Slack: about a second of input (hook + feed copies) and a few lots of the feed.
        "lag_bounded": bounded(summary["lag"], slack=500.0),
        "feed_backlog_bounded": bounded(summary["feed_backlog"], slack=100.0),
        **store,
    }


# --- the run --------------------------------------------------------------------------------------


async def soak(
    bootstrap: str, broker_pid: int | None, args: argparse.Namespace, work_dir: Path, argv: list[str] | None
) -> dict[str, Any]:
    rocks = not args.store.startswith("memory")
    run = Run(
        work_dir=work_dir,
        bootstrap=bootstrap,
        broker_pid=broker_pid,
        store=args.store,
        rocksdb_memory_mb=args.rocksdb_memory_mb,
    )
    supervisor = Supervisor(log_dir=work_dir / "logs", base_env=run.env())
    probe = Probe(run)
    samples: list[Sample] = []
    try:
        await probe.start()
        progress(f"starting simulator, worker ({args.store}), ingress and feed poller; logs in {work_dir}")
        worker_env = soak_trace.trace_env(work_dir) if args.trace_worker_memory else None
        await start_services(run, supervisor, probe, args.seed, worker_env)
        duration_s = args.minutes * 60
        minimum_s = args.warmup_minutes * 60 if args.warmup_minutes is not None else min(300, duration_s / 4)
        progress(
            f"load: {args.rate:g} changes/s ({DUPLICATE_RATE:.0%} duplicates, {REORDER_RATE:.0%} reordered) "
            f"by hook and feed for {args.minutes:g} min, warm-up at least {minimum_s / 60:.1f} min"
            + (
                f" and until RocksDB's memory levels off (budget {args.rocksdb_memory_mb} MB)"
                if rocks
                else ""
            )
        )
        stop = asyncio.Event()
        started, started_wall = time.monotonic(), time.time()
        driver = asyncio.create_task(drive(probe, args.rate, args.seed, stop))
        try:
            while time.monotonic() - started < duration_s:
                if run.dead() or driver.done():
                    break
                samples.append(await probe.sample(started))
                s = samples[-1]
                if len(samples) % max(1, round(60 / args.sample_s)) == 0:
                    cache = s.worker.get("rocksdb_block_cache")
                    progress(
                        f"{s.at / 60:5.1f} min: {s.transitions} changes, lag {s.lag}, feed {s.feed_backlog}, "
                        f"RSS MB {s.rss_mb}"
                        + ("" if cache is None else f", RocksDB cache {cache / MB:.1f} MB")
                    )
                await asyncio.sleep(max(0.0, args.sample_s - (time.monotonic() - started - s.at)))
        finally:
            stop.set()
            chunks = await asyncio.wait_for(driver, 2 * CHUNK_S) if not driver.done() else driver.result()
        if run.dead():
            raise RuntimeError(f"died under load: {run.dead()}")
        progress(f"load stopped after {chunks} workloads; settling")
        await settle(probe, run)
        sender = (await probe.sim_stats())["sender"]
        distinct, records, dead = await emitted(run)
    finally:
        await probe.close()
        await asyncio.to_thread(supervisor.stop_all)
    accounting = {
        "accepted_events": sender["accepted_events"],
        "hook_notifications": sender["notifications"],
        "hook_duplicates": sender["duplicates"],
        "emitted_events": distinct,
        "emitted_records": records,
        "dead_letters": dead,
        "ok": sender["accepted_events"] == distinct == records and dead == 0,
    }
    if args.samples_out is not None:
        args.samples_out.write_bytes(b"".join(orjson.dumps(s) + b"\n" for s in samples))
    warmup_s, reached_s = warmup_end(samples, minimum_s)
    summary = summarize(samples, warmup_s)
    if args.trace_worker_memory:
        # CPU per event of a traced run is not comparable: tracing is part of it.
        summary["worker_python_growth"] = soak_trace.growth(work_dir, started_wall + warmup_s)
    return {
        "benchmark": "soak",
        "at": timestamp(),
        "command": " ".join(["python -m bench.soak", *(argv or [])]),
        "minutes": args.minutes,
        "warmup_minutes": round(warmup_s / 60, 2),
        "rocksdb_memory_mb": args.rocksdb_memory_mb if rocks else None,
        "rocksdb_level_reached_min": None if reached_s is None else round(reached_s / 60, 2),
        "rate_per_s": args.rate,
        "duplicate_rate": DUPLICATE_RATE,
        "reorder_rate": REORDER_RATE,
        "store": args.store,
        "samples": len(samples),
        **summary,
        "accounting": accounting,
        "targets": targets(summary, accounting),
        "machine": {**machine_description(), "loadavg_end": [round(v, 2) for v in os.getloadavg()]},
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument(
        "--minutes",
        type=float,
        default=float(os.environ.get("SOAK_MINUTES", DEFAULT_MINUTES)),
        help="minutes of load (default: SOAK_MINUTES or 20)",
    )
    parser.add_argument("--warmup-minutes", type=float, help="excluded from slopes (default: min(5, 1/4))")
    parser.add_argument("--rate", type=float, default=DEFAULT_RATE, help="status changes per second")
    parser.add_argument(
        "--store", default="rocksdict://", help="worker store: rocksdict:// (default) or memory://"
    )
    parser.add_argument(
        "--rocksdb-memory-mb",
        type=int,
        default=DEFAULT_ROCKSDB_MEMORY_MB,
        help=f"the worker's RocksDB budget (worker_rocksdb_memory_mb; default {DEFAULT_ROCKSDB_MEMORY_MB}, "
        "small so it fills within the warm-up)",
    )
    parser.add_argument(
        "--trace-worker-memory",
        action="store_true",
        help="trace the worker's Python allocations and report what grew after the warm-up (costs CPU)",
    )
    parser.add_argument("--sample-s", type=float, default=10.0, help="seconds between samples")
    parser.add_argument("--seed", type=int, default=26)
    parser.add_argument("--samples-out", type=Path, help="also write every sample there (JSON lines)")
    argv = sys.argv[1:] if argv is None else argv
    args = parser.parse_args(argv)
    if "://" not in args.store:  # `make soak STORE=memory`
        args.store += "://"
    if not args.store.startswith(("memory://", "rocksdb://", "rocksdict://")):
        parser.error("--store must be memory://, rocksdict:// or rocksdb://")
    if not 0 < args.minutes <= 24 * 60 or args.rate <= 0 or args.sample_s <= 0:
        parser.error("--minutes must be in (0, 1440], --rate and --sample-s positive")
    if args.rocksdb_memory_mb < MIN_ROCKSDB_MEMORY_MB:
        parser.error(
            f"--rocksdb-memory-mb must be at least {MIN_ROCKSDB_MEMORY_MB} (worker_rocksdb_memory_mb)"
        )
    with (
        kafka_broker_process(memory_backed=True) as broker,
        tempfile.TemporaryDirectory(prefix="bench-soak-") as tmp,
    ):
        try:
            result = asyncio.run(soak(broker.bootstrap, broker.pid, args, Path(tmp), argv))
        except RuntimeError as exc:
            logs = Path(tmp) / "logs"
            for log in sorted(logs.glob("*.log")) if logs.is_dir() else []:
                progress(f"--- {log.name} (last lines)")
                for line in log.read_text(errors="replace").splitlines()[-15:]:
                    progress(line)
            emit({"benchmark": "soak", "error": str(exc)})
            return 1
    emit(result)
    return 0 if result["accounting"]["ok"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
