"""Benchmark of the ingress: hooks/s and latency at a fixed offered load and at saturation.

Run: `.venv/bin/python -m bench.ingress [--rate 2000] [--seconds 10] [--connections 64]`.
It starts its own local broker unless KAFKA_BOOTSTRAP_SERVERS is set, runs the ingress in a separate
process (as in production, with the real `serve()`), drives it from this process over loopback, and
measures in the same run the two ceilings the ingress sits under:

* `aiohttp_200_only_per_s`: the same server and code path with a producer that acknowledges at once;
* `producer_only_per_s`: aiokafka alone (idempotent, acks=all, same linger) with the same concurrency,
  each record awaited like a hook awaits its acknowledgement;

and a peer doing the same job: a minimal Go + franz-go ingress (bench/peers/go-ingress: the same checks,
record and acknowledgement rule, no metrics or overload bound), built with `go build` when Go is present
(`peer.go` says why when it is not), at the same fixed load and at saturation -> `peer`,
`ratio_to_go_peer` (hooks/s at saturation), `cpu_per_hook_ratio_to_go_peer` and `p99_ratio_to_go_peer`
(at the fixed load); `cpu_us_per_hook` is the ingress's own CPU per hook at saturation.

The peer uses every core, so the production command `vtex-bridge ingress --workers N` (default 2,
`--workers 1` skips it) is measured the same way -> `workers`: its figures (CPU of the parent and every
worker) and the same three ratios to the peer.

Human-readable progress lines start with `#`; the last line is the JSON result.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import functools
import gc
import logging
import multiprocessing
import multiprocessing.connection
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol

import orjson
from aiokafka import AIOKafkaProducer
from aiokafka.structs import RecordMetadata, TopicPartition

from bench.common import (
    LoadResult,
    close_connections,
    closed_loop,
    emit,
    encode_post,
    histogram_quantile,
    kafka_broker,
    machine_description,
    open_connections,
    open_loop,
    parse_buckets,
    process_cpu_seconds,
    progress,
    timestamp,
)
from bench.gobuild import GoUnavailable
from bench.peers.go_ingress import GoIngressPeer
from bridge.events import build_input_event
from bridge.kafka_producer import ProducerStats
from bridge.settings import load_settings

ACCOUNT = "benchaccount"
APP_KEY = "vtexappkey-benchaccount-BENCH"
HEADER = "X-Bridge-Secret"
SECRET = "bench-Hq7Lw2Zx9Rk4Tm8Vn3BjPd5F"  # strong enough for the production profile
PARTITIONS = 12
#: Unmeasured load at the start of each phase (the broker's JIT, connections, first batches).
WARMUP_S = 3.0
SERVER_START_TIMEOUT_S = 30.0
SERVER_STOP_TIMEOUT_S = 30.0
STATES = (
    "order-created",
    "payment-pending",
    "payment-approved",
    "ready-for-handling",
    "handling",
    "invoiced",
)


class NullProducer:
    """Acknowledge every record at once without Kafka: the 200-only ceiling."""

    async def start(self, *, require_connection: bool = False) -> None:
        return None

    async def stop(self, timeout: float | None = None) -> None:
        return None

    async def send(
        self,
        topic: str,
        key: bytes | None,
        value: bytes,
        headers: Sequence[tuple[str, bytes]] | None = None,
        *,
        timeout: float,
    ) -> RecordMetadata:
        return RecordMetadata(topic, 0, TopicPartition(topic, 0), 0, None, 0, 0)

    @property
    def connected(self) -> bool:
        return True

    def stats(self) -> ProducerStats:
        return ProducerStats(True, 0, 0, 0, 0, None)

    async def topic_exists(self, topic: str, timeout: float | None = None) -> bool:
        return True


def bench_settings(bootstrap: str, topic: str) -> dict[str, Any]:
    return {
        "kafka_bootstrap_servers": bootstrap,
        "kafka_embedded": False,
        "input_topic": topic,
        "vtex_account": ACCOUNT,
        "vtex_app_key": APP_KEY,
        "hook_secret_header": HEADER,
        "hook_secret": SECRET,
        "log_level": "WARNING",
    }


def hooks(count: int) -> list[dict[str, Any]]:
    """Return `count` distinct, valid hook notifications over many orders."""
    result = []
    for index in range(count):
        order, step = divmod(index, len(STATES))
        result.append(
            {
                "Domain": "Marketplace",
                "OrderId": f"v{order:09d}bnch-01",
                "State": STATES[step],
                "LastState": STATES[step - 1] if step else "",
                "LastChange": f"2026-11-25T03:{step:02d}:00.{order % 10_000_000:07d}Z",
                "CurrentChange": f"2026-11-25T03:{step:02d}:01.{order % 10_000_000:07d}Z",
                "Origin": {"Account": ACCOUNT, "Key": APP_KEY},
            }
        )
    return result


def requests(path: str, count: int) -> list[bytes]:
    headers = {HEADER: SECRET, "Content-Type": "application/json"}
    return [encode_post(path, orjson.dumps(h), headers) for h in hooks(count)]


def load() -> str:
    """Return the 1-minute load average: other work on the machine skews every figure."""
    return f"{os.getloadavg()[0]:.2f}"


# --- the server process ---------------------------------------------------------------------------


def _started(conn: multiprocessing.connection.Connection, port: int) -> None:
    """What `vtex-bridge ingress` does once listening (freeze the start-up heap), then report the port."""
    gc.freeze()
    conn.send(port)


def _server_main(
    overrides: dict[str, Any], null_producer: bool, conn: multiprocessing.connection.Connection
) -> None:
    from bridge import process_runtime
    from bridge.ingress.server import serve
    from bridge.log import configure_logging

    settings = load_settings(**overrides)
    configure_logging("WARNING", "json")
    process_runtime.run(  # event loop and GC as `vtex-bridge ingress` sets them
        settings,
        serve(
            settings,
            host="127.0.0.1",
            port=0,
            producer=NullProducer() if null_producer else None,
            started=functools.partial(_started, conn),  # as `vtex-bridge ingress` does
            metrics_port=0,
            metrics_started=conn.send,  # sent before the hook port
        ),
    )


class ServerProcess:
    """The ingress served by `bridge.ingress.server.serve` in a child process; SIGTERM stops it."""

    def __init__(self, overrides: dict[str, Any], *, null_producer: bool) -> None:
        context = multiprocessing.get_context("spawn")
        parent, child = context.Pipe(duplex=False)
        self._conn = parent
        self._process = context.Process(
            target=_server_main, args=(overrides, null_producer, child), name="bench-ingress", daemon=True
        )
        self.port = 0
        self.metrics_port = 0

    def __enter__(self) -> ServerProcess:
        self._process.start()
        if not self._conn.poll(SERVER_START_TIMEOUT_S):
            self._stop()
            raise RuntimeError("the ingress server did not start in time")
        self.metrics_port = int(self._conn.recv())
        self.port = int(self._conn.recv())
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop()

    async def produce_latency_buckets(self) -> dict[float, float]:
        """Scrape the server's produce-latency histogram (empty for the 200-only server)."""
        import aiohttp

        timeout = aiohttp.ClientTimeout(total=10)
        async with (
            aiohttp.ClientSession(timeout=timeout) as session,
            session.get(f"http://127.0.0.1:{self.metrics_port}/metrics") as response,
        ):
            return parse_buckets(await response.text(), "vtex_bridge_ingress_produce_latency_seconds")

    def cpu_seconds(self) -> float:
        assert self._process.pid is not None
        return process_cpu_seconds(self._process.pid)

    def _stop(self) -> None:
        if self._process.is_alive():
            self._process.terminate()
            self._process.join(SERVER_STOP_TIMEOUT_S)
        if self._process.is_alive():
            self._process.kill()
            self._process.join(5)
        self._conn.close()


class WorkersProcess:
    """`vtex-bridge ingress --workers N` (the production command) in a child process; SIGTERM stops it.

    Its CPU is the parent's and every worker's; the produce latency is read from the parent's /metrics,
    which sums the workers' histograms.
    """

    def __init__(self, overrides: dict[str, Any], workers: int) -> None:
        from bridge.local_kafka import free_port

        self.port, self.metrics_port = free_port(), free_port()
        self._env = {
            **os.environ,
            **{f"VTEX_BRIDGE_{key.upper()}": str(value) for key, value in overrides.items()},
            "VTEX_BRIDGE_INGRESS_HOST": "127.0.0.1",
            "VTEX_BRIDGE_INGRESS_PORT": str(self.port),
            "VTEX_BRIDGE_INGRESS_METRICS_PORT": str(self.metrics_port),
        }
        self._argv = [sys.executable, "-m", "bridge.cli", "ingress", "--workers", str(workers)]
        self._workers = workers
        self._process: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> WorkersProcess:
        self._process = subprocess.Popen(self._argv, env=self._env, stdin=subprocess.DEVNULL)  # noqa: S603
        deadline = time.monotonic() + SERVER_START_TIMEOUT_S
        while len(self._children()) < self._workers or not self._listening():
            if self._process.poll() is not None or time.monotonic() > deadline:
                self._stop()
                raise RuntimeError("the ingress workers did not start in time")
            time.sleep(0.2)
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop()

    def _listening(self) -> bool:
        import urllib.request

        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/healthz", timeout=2) as response:
                return bool(response.status == 200)
        except OSError:
            return False

    def _children(self) -> list[int]:
        assert self._process is not None
        path = Path(f"/proc/{self._process.pid}/task/{self._process.pid}/children")
        try:
            return [int(pid) for pid in path.read_text().split()]
        except OSError:
            return []

    async def produce_latency_buckets(self) -> dict[float, float]:
        import aiohttp

        timeout = aiohttp.ClientTimeout(total=10)
        async with (
            aiohttp.ClientSession(timeout=timeout) as session,
            session.get(f"http://127.0.0.1:{self.metrics_port}/metrics") as response,
        ):
            return parse_buckets(await response.text(), "vtex_bridge_ingress_produce_latency_seconds")

    def cpu_seconds(self) -> float:
        assert self._process is not None
        total = 0.0
        for pid in [self._process.pid, *self._children()]:
            with contextlib.suppress(OSError):
                total += process_cpu_seconds(pid)
        return total

    def _stop(self) -> None:
        if self._process is None:
            return
        if self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(SERVER_STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait(5)


# --- phases ---------------------------------------------------------------------------------------


def add_produce_latency(result: LoadResult, before: dict[float, float], after: dict[float, float]) -> None:
    """Add the server's produce latency (bucket upper bounds): the part of a hook's time spent on Kafka."""
    if after and any(after.values()):
        for q in (50, 99):
            bound = histogram_quantile(before, after, q / 100)
            result.extra[f"server_produce_p{q}_le_ms"] = None if bound is None else round(bound * 1000, 1)


class Server(Protocol):
    """What a load phase needs of the server under test: the bridge's ingress or the Go peer."""

    port: int

    async def produce_latency_buckets(self) -> dict[float, float]: ...

    def cpu_seconds(self) -> float: ...


async def saturate(server: Server, payloads: Sequence[bytes], connections: int, seconds: float) -> LoadResult:
    pool = await open_connections(server.port, connections)
    try:
        await closed_loop(pool, payloads, WARMUP_S)
        buckets, cpu = await server.produce_latency_buckets(), server.cpu_seconds()
        result = await closed_loop(pool, payloads, seconds)
        result.cpu_seconds = server.cpu_seconds() - cpu
        add_produce_latency(result, buckets, await server.produce_latency_buckets())
        return result
    finally:
        close_connections(pool)


async def offer(
    server: Server, payloads: Sequence[bytes], connections: int, rate: float, seconds: float
) -> LoadResult:
    pool = await open_connections(server.port, connections)
    try:
        await open_loop(pool, payloads, rate, WARMUP_S)
        buckets, cpu = await server.produce_latency_buckets(), server.cpu_seconds()
        result = await open_loop(pool, payloads, rate, seconds)
        result.cpu_seconds = server.cpu_seconds() - cpu
        add_produce_latency(result, buckets, await server.produce_latency_buckets())
        return result
    finally:
        close_connections(pool)


async def producer_only(
    bootstrap: str, topic: str, linger_ms: int, concurrency: int, seconds: float
) -> LoadResult:
    """Measure aiokafka alone: `concurrency` loops each awaiting its record's acknowledgement."""
    events = [build_input_event(h, source="hook") for h in hooks(20_000)]
    records = [(e.key(), e.encode(), e.headers()) for e in events]
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap,
        acks="all",
        enable_idempotence=True,
        linger_ms=linger_ms,
        max_batch_size=65536,
    )
    await asyncio.wait_for(producer.start(), 30)
    loop = asyncio.get_running_loop()

    async def run(duration: float) -> LoadResult:
        result = LoadResult()
        started = loop.time()
        end = started + duration

        async def worker(index: int) -> None:
            while loop.time() < end:
                key, value, headers = records[index % len(records)]
                sent = loop.time()
                delivery = await producer.send(topic, value=value, key=key, headers=headers)
                await asyncio.wait_for(delivery, 10)
                result.latencies.append(loop.time() - sent)
                result.statuses[200] += 1
                result.completed += 1
                index += concurrency

        await asyncio.gather(*(worker(i) for i in range(concurrency)))
        result.seconds = loop.time() - started
        return result

    try:
        await run(WARMUP_S)
        cpu = time.process_time()
        result = await run(seconds)
        result.cpu_seconds = time.process_time() - cpu
        return result
    finally:
        await asyncio.wait_for(producer.stop(), 30)


async def create_topic(bootstrap: str, topic: str) -> None:
    from aiokafka.admin import AIOKafkaAdminClient, NewTopic

    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await asyncio.wait_for(admin.start(), 30)
    try:
        await asyncio.wait_for(admin.create_topics([NewTopic(topic, PARTITIONS, 1)]), 30)
    finally:
        await admin.close()


async def delete_topics(bootstrap: str, topics: Sequence[str]) -> None:
    from aiokafka.admin import AIOKafkaAdminClient

    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await asyncio.wait_for(admin.start(), 30)
    try:
        await asyncio.wait_for(admin.delete_topics(list(topics)), 30)
    finally:
        await admin.close()


def go_peer(
    bootstrap: str, topic: str, path: str, linger_ms: int, payloads: Sequence[bytes], connections: int,
    width: int, rate: float, seconds: float,
) -> dict[str, Any]:  # fmt: skip
    """Measure the Go + franz-go peer like the ingress: the fixed load, then saturation."""
    settings = {"account": ACCOUNT, "app_key": APP_KEY, "header": HEADER, "secret": SECRET, "path": path}
    try:
        with GoIngressPeer(bootstrap=bootstrap, topic=topic, linger_ms=linger_ms, **settings) as server:
            progress(f"peer: Go + franz-go at {rate:.0f} hooks/s for {seconds}s (load {load()})")
            fixed = asyncio.run(offer(server, payloads, connections, rate, seconds))
            progress(f"  peer fixed load: {fixed.summary()}")
            progress(f"peer at saturation: {width} connections for {seconds}s (load {load()})")
            saturated = asyncio.run(saturate(server, payloads, width, seconds))
            progress(f"  peer saturation: {saturated.summary()}")
    except GoUnavailable as exc:
        progress(f"peer skipped: {exc}")
        return {"go": f"unavailable: {str(exc)[:300]}"}
    return {
        "go": "net/http + franz-go 1.22.3 (bench/peers/go-ingress)",
        "hooks_per_s": round(fixed.per_s, 1),
        "p50_ms": fixed.summary()["p50_ms"],
        "p99_ms": fixed.summary()["p99_ms"],
        "saturation_hooks_per_s": round(saturated.per_s, 1),
        "saturation_p99_ms": saturated.summary()["p99_ms"],
        "cpu_us_per_hook": saturated.summary()["cpu_us_per_request"],
        "non_200": sum(v for k, v in (fixed.statuses + saturated.statuses).items() if k != 200),
    }


def measure_workers(
    overrides: dict[str, Any], workers: int, payloads: Sequence[bytes], connections: int, width: int,
    rate: float, seconds: float,
) -> tuple[LoadResult, LoadResult] | None:  # fmt: skip
    """Measure `vtex-bridge ingress --workers N` like the single process: the fixed load, then saturation."""
    if workers < 2:
        return None
    with WorkersProcess(overrides, workers) as server:
        progress(f"ingress --workers {workers} at {rate:.0f} hooks/s for {seconds}s (load {load()})")
        fixed = asyncio.run(offer(server, payloads, connections, rate, seconds))
        progress(f"  workers fixed load: {fixed.summary()}")
        progress(
            f"ingress --workers {workers} at saturation: {width} connections for {seconds}s (load {load()})"
        )
        saturated = asyncio.run(saturate(server, payloads, width, seconds))
        progress(f"  workers saturation: {saturated.summary()}")
    return fixed, saturated


def workers_figures(
    measured: tuple[LoadResult, LoadResult] | None, workers: int, peer: dict[str, Any]
) -> dict[str, Any] | None:
    """The `--workers N` figures and their ratios to the Go peer (which uses every core too)."""
    if measured is None:
        return None
    fixed, saturated = measured
    cpu = saturated.summary()["cpu_us_per_request"]
    return {
        "workers": workers,
        "hooks_per_s": round(fixed.per_s, 1),
        "p50_ms": fixed.summary()["p50_ms"],
        "p99_ms": fixed.summary()["p99_ms"],
        "saturation_hooks_per_s": round(saturated.per_s, 1),
        "saturation_p99_ms": saturated.summary()["p99_ms"],
        "cpu_us_per_hook": cpu,
        "non_200": sum(v for k, v in (fixed.statuses + saturated.statuses).items() if k != 200)
        + fixed.errors
        + saturated.errors,
        "ratio_to_go_peer": round(saturated.per_s / peer["saturation_hooks_per_s"], 3)
        if peer.get("saturation_hooks_per_s")
        else None,
        "cpu_per_hook_ratio_to_go_peer": round(cpu / peer["cpu_us_per_hook"], 2)
        if peer.get("cpu_us_per_hook") and cpu
        else None,
        "p99_ratio_to_go_peer": round(fixed.summary()["p99_ms"] / peer["p99_ms"], 2)
        if peer.get("p99_ms")
        else None,
    }


def run(
    rate: float, seconds: float, connections: int, saturation_connections: int, workers: int = 2
) -> dict[str, Any]:
    """Run every phase and return the result (also printed as the final JSON line by `main`)."""
    defaults = load_settings()
    path, linger_ms = defaults.ingress_path, defaults.ingress_linger_ms
    payloads = requests(path, 50_000)
    run_id = uuid.uuid4().hex[:8]
    with kafka_broker(memory_backed=True) as bootstrap:
        topics = [f"bench-ingress-{run_id}", f"bench-producer-{run_id}"]
        for topic in topics:
            asyncio.run(create_topic(bootstrap, topic))
        overrides = bench_settings(bootstrap, topics[0])
        try:
            width = saturation_connections
            progress(f"ceiling 1/2: same server, no Kafka, {width} connections, {seconds}s (load {load()})")
            with ServerProcess(overrides, null_producer=True) as server:
                ceiling_http = asyncio.run(saturate(server, payloads, width, seconds))
                progress(f"  200-only: {ceiling_http.summary()}")
                # The same fixed load without Kafka: shows what the client and HTTP alone add.
                fixed_http = asyncio.run(offer(server, payloads, connections, rate, seconds))
                progress(f"  200-only at {rate:.0f}/s: {fixed_http.summary()}")

            with ServerProcess(overrides, null_producer=False) as server:
                progress(
                    f"ingress at a fixed offered load of {rate:.0f} hooks/s for {seconds}s (load {load()})"
                )
                fixed = asyncio.run(offer(server, payloads, connections, rate, seconds))
                progress(f"  fixed load: {fixed.summary()}")
                progress(f"ingress at saturation: {width} connections for {seconds}s (load {load()})")
                saturated = asyncio.run(saturate(server, payloads, width, seconds))
                progress(f"  saturation: {saturated.summary()}")
            multi = measure_workers(overrides, workers, payloads, connections, width, rate, seconds)
            peer = go_peer(bootstrap, topics[0], path, linger_ms, payloads, connections, width, rate, seconds)
            # Last: its burst of writes must not slow the ingress phases down.
            progress(f"ceiling 2/2: aiokafka alone, {width} concurrent sends, {seconds}s (load {load()})")
            ceiling_kafka = asyncio.run(producer_only(bootstrap, topics[1], linger_ms, width, seconds))
            progress(f"  producer-only: {ceiling_kafka.summary()}")
        finally:
            asyncio.run(delete_topics(bootstrap, topics))
    return {
        "benchmark": "ingress",
        "at": timestamp(),
        "machine": machine_description(),
        "offered_per_s": rate,
        "hooks_per_s": round(fixed.per_s, 1),
        "p50_ms": fixed.summary()["p50_ms"],
        "p99_ms": fixed.summary()["p99_ms"],
        "saturation_hooks_per_s": round(saturated.per_s, 1),
        "saturation_p50_ms": saturated.summary()["p50_ms"],
        "saturation_p99_ms": saturated.summary()["p99_ms"],
        "aiohttp_200_only_per_s": round(ceiling_http.per_s, 1),
        "producer_only_per_s": round(ceiling_kafka.per_s, 1),
        "ratio_to_200_only": round(saturated.per_s / ceiling_http.per_s, 3) if ceiling_http.per_s else None,
        "ratio_to_producer_only": round(saturated.per_s / ceiling_kafka.per_s, 3)
        if ceiling_kafka.per_s
        else None,
        "non_200": {
            "fixed": sum(v for k, v in fixed.statuses.items() if k != 200) + fixed.errors,
            "saturation": sum(v for k, v in saturated.statuses.items() if k != 200) + saturated.errors,
        },
        "phases": {
            "fixed": fixed.summary(),
            "saturation": saturated.summary(),
            "aiohttp_200_only": ceiling_http.summary(),
            "aiohttp_200_only_fixed": fixed_http.summary(),
            "producer_only": ceiling_kafka.summary(),
        },
        "cpu_us_per_hook": saturated.summary()["cpu_us_per_request"],
        "peer": peer,
        "ratio_to_go_peer": round(saturated.per_s / peer["saturation_hooks_per_s"], 3)
        if peer.get("saturation_hooks_per_s")
        else None,
        "cpu_per_hook_ratio_to_go_peer": round(
            saturated.summary()["cpu_us_per_request"] / peer["cpu_us_per_hook"], 2
        )
        if peer.get("cpu_us_per_hook") and saturated.summary()["cpu_us_per_request"]
        else None,
        "p99_ratio_to_go_peer": round(fixed.summary()["p99_ms"] / peer["p99_ms"], 2)
        if peer.get("p99_ms")
        else None,
        "workers": workers_figures(multi, workers, peer),
        "load_average_after": load(),
        "settings": {
            "connections": connections,
            "saturation_connections": saturation_connections,
            "seconds": seconds,
            "linger_ms": linger_ms,
            "producer_instances": defaults.ingress_producer_instances,
            "partitions": PARTITIONS,
        },
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.ingress", description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=float, default=2000.0, help="fixed offered load, hooks/s")
    parser.add_argument("--seconds", type=float, default=10.0, help="length of each measured phase")
    parser.add_argument("--connections", type=int, default=256, help="client connections at the fixed load")
    parser.add_argument(
        "--saturation-connections", type=int, default=256, help="client connections at saturation"
    )
    parser.add_argument(
        "--workers", type=int, default=2, help="also measure `ingress --workers N` (below 2: skip it)"
    )
    args = parser.parse_args(argv)
    widths = (args.connections, args.saturation_connections)
    if not (0 < args.rate <= 50_000 and 0 < args.seconds <= 120 and all(0 < w <= 1024 for w in widths)):
        parser.error("rate must be in (0, 50000], seconds in (0, 120], connections in (0, 1024]")
    logging.basicConfig(level=logging.WARNING)
    logging.getLogger("aiokafka").setLevel(logging.CRITICAL)  # its connection retries while the broker starts
    emit(run(args.rate, args.seconds, args.connections, args.saturation_connections, args.workers))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
