"""Benchmark of one processor worker (`vtex-bridge worker` subprocess) against an OMS with 50 ms latency.

Phases, each with fresh topics and a fresh worker:
0. warm-up: the latency workload for a while, then a throughput run, neither measured. A fresh broker's
   JVM compiles its hot paths during the first tens of seconds of load; until then its answers are
   slower and the e2e latency measured 2-5x higher (a production broker is warm). The paths of large
   transactions are compiled only under that load: after the latency workload alone, five throughput
   runs in a row gave 1,388, 1,570, 1,788, 2,052 and 2,075 events/s as the broker's CPU per event fell
   from 0.45 to 0.11 ms (and the worker's from 0.56 to 0.42: a slow broker costs it CPU too);
1. throughput: N pre-produced events of distinct orders (no batching help), worker started, time until
   every downstream record is committed; `--throughput-runs` times, each with a fresh worker ->
   `events_per_s` is their median (`events_per_s_runs` all of them): the same code on this VM measured
   ±15 % from one run to the next (so did a plain CPU loop). The worker has a core of its own meanwhile,
   the broker and this harness the other(s) (`bench.common.own_core`, `worker_core` in the output): the
   engine's capacity, not how the scheduler shares two cores among three busy processes. One more run
   with the cores shared -> `events_per_s_shared_cores` (`--shared-cores`: every run shared);
2. naive baseline: the same worker with one lane (`worker_max_in_flight_orders=1`) on fewer events,
   i.e. one event at a time, with a core of its own as in 1 -> `naive_events_per_s`, `ratio`;
3. latency (cores shared: at this rate the broker and the harness need more than one core between
   them): order lifecycles produced at 500 events/s for a while against a running worker; end-to-end
   = downstream record seen (read_committed) - event produced; `--latency-runs` times, each with a fresh
   worker -> `e2e_p99_ms` is the median run's p99 (`e2e_p99_ms_runs` all of them: one run's p99 is its
   50th slowest event, and the same code measured 200-660 ms from one run to the next on this VM), and
   `order_kept` (each order's records in produced order, on one grouped topic, in every run);
4. bursty: bursts of many events per order -> `oms_calls_per_event` (target <= 0.5);
5. the peer, Quix Streams 3.28.1 doing the same job one message at a time with exactly-once
   (bench/peers/quix), in one process against the same OMS and broker: its throughput over
   `--peer-events` distinct orders (first to last record, so its start-up is not counted) ->
   `peer.quix_events_per_s` and `ratio_to_quix`; then both it and the worker at a low rate
   (`LOW_RATE_PER_S` events/s of order lifecycles) -> `peer.quix_e2e_p99_ms_low_rate`,
   `e2e_p99_ms_low_rate` and their ratio. Without the peer's virtualenv (no PyPI) the line says why.
6. the design's floor: a bare consume → transactional produce of records of the same size, no OMS,
   de-dup or ordering (bench/peers/bare_pipeline.py), on the throughput workload with a core of its
   own -> `bare_cpu_ms_per_event` and `worker_cpu_ratio_to_bare` (the worker's CPU per event over it).

Every phase also reports where the machine's CPU went per event (`cpu_ms_per_event`: the worker, the
local broker, this harness with the fake OMS, producer and sink, and their total): on a 2-core machine
the three share the cores, so the total bounds what any worker can reach here (2 cores / total).

The OMS is the tests' fake OMS (real HTTP on loopback) with its latency set to 50 ms. Throughput and
latency runs set the OMS budget high (`oms_rate_limit_per_s`), since VTEX's real 100/s budget would
measure the budget rather than the worker; the bursty run keeps the default budget.
Usage: `.venv/bin/python -m bench.processor [--events 20000]`; prints progress then one JSON line.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import sys
import time
from collections import defaultdict
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from bench.common import (
    Broker,
    cpu_ms_per_item,
    cpu_snapshot,
    emit,
    kafka_broker_process,
    machine_description,
    own_core,
    percentile,
    progress,
)
from bench.peers.quix_peer import PeerUnavailable, QuixProcessor
from bridge.events import HEADER_EVENT_ID, InputEvent
from bridge.statuses import KNOWN_STATUSES
from testkit.fake_oms import APP_KEY, APP_TOKEN, EXAMPLE_ORDER, FakeOms
from testkit.kafka import create_topics
from testkit.worker import WorkerConfig, WorkerProcess, hook, lifecycle

OMS_LATENCY_S = 0.05
HOOKS_PER_S = 500
#: The low rate at which the worker's and the peer's latency are compared (events/s).
LOW_RATE_PER_S = 10


class Sink:
    """Counts committed downstream records as they appear; remembers when each event_id arrived."""

    def __init__(self, bootstrap: str, topics: list[str]) -> None:
        self._consumer = AIOKafkaConsumer(
            *topics,
            bootstrap_servers=bootstrap,
            isolation_level="read_committed",
            auto_offset_reset="earliest",
            enable_auto_commit=False,
            group_id=None,
            metadata_max_age_ms=1000,
        )
        self.seen: dict[str, float] = {}
        self.per_order: dict[str, list[str]] = defaultdict(list)
        self.count = 0
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        await asyncio.wait_for(self._consumer.start(), 30)
        self._task = asyncio.create_task(self._run())

    async def _run(self) -> None:
        while True:
            batch = await self._consumer.getmany(timeout_ms=100)
            now = time.monotonic()
            for messages in batch.values():
                for m in messages:
                    # Headers and key, not the 11 kB value: the sink shares the CPU with the worker.
                    event_id = dict(m.headers)[HEADER_EVENT_ID].decode()
                    self.seen.setdefault(event_id, now)
                    self.per_order[m.key.decode() if m.key else ""].append(event_id)
                    self.count += 1

    async def wait_count(self, n: int, timeout: float, alive: Callable[[], bool] = lambda: True) -> bool:
        """Wait for `n` records until the deadline, or until the processor (`alive`) is gone."""
        deadline = time.monotonic() + timeout
        while self.count < n and time.monotonic() < deadline and alive():
            await asyncio.sleep(0.05)
        return self.count >= n

    def forget(self, event: InputEvent) -> None:
        """Drop a probe's record from the counts, as if it had never been written."""
        self.count -= len(self.per_order.pop(event.order_id, []))
        self.seen.pop(event.event_id, None)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        await asyncio.wait_for(self._consumer.stop(), 30)


async def produce(
    bootstrap: str, topic: str, events: list[InputEvent], rate: float | None = None
) -> dict[str, float]:
    """Produce `events` (paced at `rate`/s when given); return event_id -> monotonic send time."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", enable_idempotence=True, linger_ms=2)
    await asyncio.wait_for(producer.start(), 30)
    sent: dict[str, float] = {}
    try:
        started = time.monotonic()
        futures = []
        for i, event in enumerate(events):
            if rate is not None:
                due = started + i / rate
                delay = due - time.monotonic()
                if delay > 0:
                    await asyncio.sleep(delay)
            sent[event.event_id] = time.monotonic()
            futures.append(await producer.send(topic, key=event.key(), value=event.encode()))
        await asyncio.wait_for(asyncio.gather(*futures), 120)
    finally:
        await producer.stop()
    return sent


@contextlib.asynccontextmanager
async def bare_pipeline(config: WorkerConfig, work: Path, name: str) -> AsyncIterator[Running]:
    """Run the design's floor (bench/peers/bare_pipeline.py) on the phase's topics; yield it."""
    (work / name).mkdir(parents=True, exist_ok=True)
    env = {
        **os.environ,
        "BARE_BOOTSTRAP": config.bootstrap,
        "BARE_INPUT": config.input_topic,
        "BARE_OUTPUT": config.status_topic("all"),
        "BARE_GROUP": f"bare-{config.input_topic}",
        "BARE_ORDER_FILE": str(EXAMPLE_ORDER),
    }
    with (work / name / "bare.log").open("ab") as log:
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bench.peers.bare_pipeline", env=env, stdout=log, stderr=log
        )
    try:
        yield Running(process.pid, lambda: process.returncode is None)
        process.terminate()
        await asyncio.wait_for(process.wait(), 30)
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()


@dataclass(frozen=True)
class Running:
    """The processor of a phase: its pid, and whether it still runs."""

    pid: int
    alive: Callable[[], bool]


@contextlib.asynccontextmanager
async def bridge_worker(config: WorkerConfig, work: Path, name: str) -> AsyncIterator[Running]:
    """Run `vtex-bridge worker` for the phase; yield it once it is ready."""
    worker = WorkerProcess(config, work, name)
    try:
        await worker.start()
        proc = worker.proc
        assert proc is not None
        yield Running(proc.pid, lambda: proc.poll() is None)
        await worker.terminate()
    finally:
        worker.kill()


@contextlib.asynccontextmanager
async def quix_peer(config: WorkerConfig, work: Path, name: str) -> AsyncIterator[Running]:
    """Run the Quix Streams peer on the phase's topics; yield it."""
    with QuixProcessor(
        bootstrap=config.bootstrap,
        input_topic=config.input_topic,
        output_topic=config.status_topic("all"),
        group=f"quix-{config.input_topic}",
        oms_url=config.oms_url,
        oms_app_key=APP_KEY,
        oms_app_token=APP_TOKEN,
        work=work / name,
    ) as peer:
        yield Running(peer.pid, lambda: peer.running)
        if not peer.running:  # a crashed peer would look like a slow one
            raise RuntimeError(f"the Quix Streams peer exited:\n{peer.log_tail()}")


async def until_consuming(bootstrap: str, topic: str, sink: Sink, running: Running) -> None:
    """Send one probe event and wait for its record: the peer gives no readiness signal, and a phase
    that starts producing while it still joins its group would time its start-up as latency."""
    probe = hook("probe-000000", "invoiced", 0.0)
    await produce(bootstrap, topic, [probe])
    if not await sink.wait_count(1, 300, running.alive):
        raise RuntimeError("the processor did not consume a probe event within 300 s")
    sink.forget(probe)


async def run_phase(
    broker: Broker,
    oms: FakeOms,
    work: Path,
    name: str,
    events: list[InputEvent],
    *,
    extra: dict[str, str],
    rate: float | None = None,
    start_worker_first: bool = False,
    timeout: float = 600,
    worker_core: bool = False,
    kind: str = "bridge",
) -> dict[str, Any]:
    """Run `events` through a fresh processor of `kind` (bridge: `vtex-bridge worker`; quix: the Quix
    Streams peer; bare: the consume → transactional produce floor); with `worker_core`, it has a core
    of its own meanwhile (`bench.common.own_core`)."""
    peer = kind != "bridge"
    bootstrap = broker.bootstrap
    config = WorkerConfig(bootstrap, oms.base_url, partitions=12)
    config.extra.update({"VTEX_BRIDGE_LOG_LEVEL": "WARNING", **extra})
    config.extra["VTEX_BRIDGE_WORKER_ROUTE_GROUPS"] = orjson.dumps({"all": list(KNOWN_STATUSES)}).decode()
    await create_topics(bootstrap, config.input_topic, partitions=config.partitions)
    if peer:  # the worker creates its output topics itself
        await create_topics(bootstrap, config.status_topic("all"), partitions=config.partitions)
    sink = Sink(bootstrap, [config.status_topic("all")])
    await sink.start()
    calls_before = oms.total_calls
    processor = {"bridge": bridge_worker, "quix": quix_peer, "bare": bare_pipeline}[kind](config, work, name)
    try:
        if not start_worker_first:
            sent = await produce(bootstrap, config.input_topic, events, rate)
        async with processor as running:
            if kind == "quix" and start_worker_first:
                await until_consuming(bootstrap, config.input_topic, sink, running)
            pid = running.pid
            pids = {"worker": pid, "broker": broker.pid}
            with contextlib.ExitStack() as pinning:
                cores = None
                if worker_core:
                    cores = pinning.enter_context(own_core(pid, [broker.pid, os.getpid()]))
                cpu_before = cpu_snapshot(pids)
                started = time.monotonic()
                if start_worker_first:
                    sent = await produce(bootstrap, config.input_topic, events, rate)
                done = await sink.wait_count(len(events), timeout, running.alive)
                elapsed = time.monotonic() - started
                cpu = cpu_ms_per_item(cpu_before, cpu_snapshot(pids), len(events))
    finally:
        await sink.stop()
    expected: dict[str, list[str]] = defaultdict(list)
    for e in events:
        expected[e.order_id].append(e.event_id)
    latencies = [(sink.seen[k] - t) * 1000 for k, t in sent.items() if k in sink.seen]
    arrivals = sorted(sink.seen.values())
    result = {
        "events": len(events),
        "completed": done,
        "seconds": round(elapsed, 3),
        "events_per_s": round(len(events) / elapsed, 1),
        # First to last downstream record: the rate once running, whatever the start-up took.
        "running_events_per_s": round((len(arrivals) - 1) / (arrivals[-1] - arrivals[0]), 1)
        if len(arrivals) > 1 and arrivals[-1] > arrivals[0]
        else None,
        "oms_calls": oms.total_calls - calls_before,
        "worker_cpu_ms_per_event": cpu["worker"],
        "cpu_ms_per_event": cpu,
        "order_kept": dict(sink.per_order) == dict(expected),
        "p99_ms": round(percentile(latencies, 99), 1) if latencies else None,
        "p50_ms": round(percentile(latencies, 50), 1) if latencies else None,
        "worker_core": cores,
    }
    progress(f"{name}: {result}")
    return result


async def main(args: argparse.Namespace) -> None:
    oms = FakeOms(latency_s=OMS_LATENCY_S)
    await oms.start()
    work = Path(args.work_dir)
    fast = {
        "VTEX_BRIDGE_OMS_RATE_LIMIT_PER_S": "100000",
        "VTEX_BRIDGE_WORKER_MAX_IN_FLIGHT_ORDERS": "512",
        "VTEX_BRIDGE_OMS_MAX_CONNECTIONS": "256",
    }
    steps = 5
    own = not args.shared_cores

    def lifecycles(prefix: str, seconds: int, rate: int = HOOKS_PER_S) -> list[InputEvent]:
        """Order lifecycles at `rate` for `seconds`, each order's steps spread over the run."""
        orders = rate * seconds // steps
        per_order = [lifecycle(f"{prefix}{i:06d}", steps, start=0.0) for i in range(orders)]
        return [per_order[o][s] for s in range(steps) for o in range(orders)]

    def distinct(prefix: str, count: int) -> list[InputEvent]:
        """One event each of `count` different orders (no batching help)."""
        return [hook(f"{prefix}{i:07d}", "invoiced", 0.0) for i in range(count)]

    async def paced_lifecycles(broker: Broker, name: str, seconds: int) -> dict[str, Any]:
        """A phase of order lifecycles offered at HOOKS_PER_S to a worker already running."""
        events = lifecycles(f"{name}-", seconds)
        return await run_phase(
            broker, oms, work, name, events, extra=fast, rate=HOOKS_PER_S, start_worker_first=True
        )

    async def against_quix(broker: Broker) -> dict[str, Any]:
        """The peer's throughput, and both processors' latency at LOW_RATE_PER_S (section 5 above)."""
        low_rate_events = lifecycles("low-", args.low_rate_seconds, LOW_RATE_PER_S)
        try:
            quix = await run_phase(
                broker, oms, work, "quix-throughput", distinct("q", args.peer_events), extra={},
                kind="quix", timeout=900,
            )  # fmt: skip
            quix_low = await run_phase(
                broker, oms, work, "quix-low-rate", low_rate_events, extra={}, rate=LOW_RATE_PER_S,
                start_worker_first=True, kind="quix",
            )  # fmt: skip
        except PeerUnavailable as exc:
            progress(f"peer unavailable: {exc}")
            return {"peer": {"quix": f"unavailable: {str(exc)[:300]}"}}
        ours_low = await run_phase(
            broker, oms, work, "low-rate", low_rate_events, extra=fast, rate=LOW_RATE_PER_S,
            start_worker_first=True,
        )  # fmt: skip
        return {
            "peer": {
                "quix": "quixstreams 3.28.1, one process, exactly-once, commit interval 0.1 s",
                "quix_events_per_s": quix["running_events_per_s"],
                "quix_cpu_ms_per_event": quix["worker_cpu_ms_per_event"],
                "quix_e2e_p99_ms_low_rate": quix_low["p99_ms"],
                "quix_completed": bool(quix["completed"] and quix_low["completed"]),
            },
            "low_rate_per_s": LOW_RATE_PER_S,
            "e2e_p99_ms_low_rate": ours_low["p99_ms"],
            "e2e_p99_ratio_to_quix_low_rate": round(ours_low["p99_ms"] / quix_low["p99_ms"], 2)
            if ours_low["p99_ms"] and quix_low["p99_ms"]
            else None,
        }

    try:
        # In memory when possible: the figures are the worker's, not the VM disk's write-back stalls.
        with kafka_broker_process(memory_backed=True) as broker:
            if args.warmup_seconds > 0:
                await paced_lifecycles(broker, "warmup", args.warmup_seconds)
            if args.warmup_events > 0:
                warm = distinct("w", args.warmup_events)
                await run_phase(broker, oms, work, "warmup-throughput", warm, extra=fast)
            runs = []
            for run in range(max(1, args.throughput_runs)):
                events = distinct(f"t{run}-", args.events)
                runs.append(
                    await run_phase(
                        broker, oms, work, f"throughput-{run + 1}", events, extra=fast, worker_core=own
                    )
                )
            throughput = sorted(runs, key=lambda r: float(r["events_per_s"]))[len(runs) // 2]
            # The same run with the cores shared as the scheduler likes: how much the pinning matters.
            shared = (
                await run_phase(
                    broker, oms, work, "throughput-shared", distinct("s", args.events), extra=fast
                )
                if throughput["worker_core"]
                else throughput
            )
            naive_events = distinct("n", args.naive_events)
            naive = await run_phase(
                broker,
                oms,
                work,
                "naive",
                naive_events,
                extra={
                    "VTEX_BRIDGE_OMS_RATE_LIMIT_PER_S": "100000",
                    "VTEX_BRIDGE_WORKER_MAX_IN_FLIGHT_ORDERS": "1",
                },
                worker_core=own,  # the ratio compares like with like
            )
            latencies = [
                await paced_lifecycles(broker, f"latency-{run + 1}", args.latency_seconds)
                for run in range(max(1, args.latency_runs))
            ]
            latency = sorted(latencies, key=lambda r: float(r["p99_ms"] or 0.0))[len(latencies) // 2]
            burst_orders = [lifecycle(f"b{i:05d}", 10) for i in range(args.burst_orders)]
            bursty = [e for events in burst_orders for e in events]
            burst = await run_phase(
                broker,
                oms,
                work,
                "bursty",
                bursty,
                extra={"VTEX_BRIDGE_WORKER_MAX_IN_FLIGHT_ORDERS": "256"},
            )
            peers = await against_quix(broker) if args.peer_events > 0 else {}
            bare = await run_phase(
                broker, oms, work, "bare", distinct("f", args.events), extra={}, kind="bare", worker_core=own
            )
    finally:
        await oms.stop()
    naive_rate = naive["events_per_s"]
    emit(
        {
            "benchmark": "processor",
            "machine": machine_description(),
            "oms_latency_ms": OMS_LATENCY_S * 1000,
            "events_per_s": throughput["events_per_s"],
            "events_per_s_runs": [r["events_per_s"] for r in runs],
            # The throughput and naive runs give the worker a core of its own (None: cores shared).
            "worker_core": throughput["worker_core"],
            "events_per_s_shared_cores": shared["events_per_s"],
            "naive_events_per_s": naive_rate,
            "ratio": round(throughput["events_per_s"] / naive_rate, 1) if naive_rate else None,
            "worker_cpu_ms_per_event": throughput["worker_cpu_ms_per_event"],
            "events_per_cpu_s": round(1000 / throughput["worker_cpu_ms_per_event"], 1)
            if throughput["worker_cpu_ms_per_event"]
            else None,
            # Where the cores went per event in the throughput phase, and what that total allows here.
            "throughput_cpu_ms_per_event": throughput["cpu_ms_per_event"],
            "cpu_bound_events_per_s": round(
                1000 * (os.cpu_count() or 1) / throughput["cpu_ms_per_event"]["total"], 1
            )
            if throughput["cpu_ms_per_event"].get("total")
            else None,
            "e2e_p99_ms": latency["p99_ms"],
            "e2e_p50_ms": latency["p50_ms"],
            "e2e_p99_ms_runs": [r["p99_ms"] for r in latencies],
            "hooks_per_s": HOOKS_PER_S,
            "order_kept": bool(all(r["order_kept"] for r in latencies) and bursty and burst["order_kept"]),
            "oms_calls_per_event": round(burst["oms_calls"] / max(1, burst["events"]), 3),
            "all_completed": all(p["completed"] for p in (throughput, shared, naive, *latencies, burst)),
            **peers,
            # The design's floor in the same run: consume → transactional produce of records of the
            # same size, no OMS, de-dup or ordering (bench/peers/bare_pipeline.py).
            "bare_events_per_s": bare["events_per_s"],
            "bare_cpu_ms_per_event": bare["worker_cpu_ms_per_event"],
            "worker_cpu_ratio_to_bare": round(
                throughput["worker_cpu_ms_per_event"] / bare["worker_cpu_ms_per_event"], 2
            )
            if bare["worker_cpu_ms_per_event"]
            else None,
            "ratio_to_quix": round(throughput["events_per_s"] / peers["peer"]["quix_events_per_s"], 1)
            if peers.get("peer", {}).get("quix_events_per_s")
            else None,
            "phases": {
                "throughput": throughput,
                "throughput_shared_cores": shared,
                "naive": naive,
                "latency": latency,
                "bursty": burst,
            },
        }
    )


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--events", type=int, default=20000)
    parser.add_argument("--naive-events", type=int, default=150)
    parser.add_argument("--latency-seconds", type=int, default=10)
    parser.add_argument("--latency-runs", type=int, default=3)
    parser.add_argument("--warmup-seconds", type=int, default=20)
    parser.add_argument("--warmup-events", type=int, default=40000)
    parser.add_argument("--throughput-runs", type=int, default=3)
    parser.add_argument(
        "--shared-cores",
        action="store_true",
        help="do not give the worker a core of its own in the throughput and naive runs",
    )
    parser.add_argument("--burst-orders", type=int, default=300)
    parser.add_argument(
        "--peer-events", type=int, default=300, help="events through the Quix Streams peer (0: no peer)"
    )
    parser.add_argument("--low-rate-seconds", type=int, default=20, help="length of the low-rate phases")
    parser.add_argument("--work-dir", default="/tmp/bench-processor")
    return parser.parse_args()


if __name__ == "__main__":
    from bridge import process_runtime
    from bridge.settings import load_settings

    # The harness (fake OMS, producer, sink) shares the cores with the worker and timestamps the records:
    # the worker's loop and GC thresholds keep it lean and free of the long full collections that would
    # show up as latency that is not the worker's.
    process_runtime.run(load_settings(), main(parse_args()))
