"""Helpers shared by the benchmarks: a broker to run against, a cheap HTTP/1.1 load generator, statistics.

The load generator speaks raw HTTP/1.1 over keep-alive loopback connections with pre-encoded requests,
so a request costs the client a few microseconds: on a 2-core machine the figures then measure the
server, not the client. Everything here targets 127.0.0.1 only and is bounded in count and time.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import os
import resource
import statistics
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import orjson

from bridge import local_kafka

CONNECT_TIMEOUT_S = 10.0
REQUEST_TIMEOUT_S = 10.0


def progress(message: str) -> None:
    """Print one human-readable progress line (the final line of a benchmark is its JSON)."""
    print(f"# {message}", flush=True)


def emit(result: dict[str, Any]) -> None:
    print(orjson.dumps(result).decode(), flush=True)


def memory_backed_dir() -> Path | None:
    """Return /dev/shm when it is there: the benchmarks measure our code, not the VM's shared disk."""
    shm = Path("/dev/shm")
    return shm if shm.is_dir() and os.access(shm, os.W_OK) else None


@dataclass(frozen=True)
class Broker:
    """The broker a benchmark runs against; `pid` is set when it is the local one started here."""

    bootstrap: str
    pid: int | None = None


@contextlib.contextmanager
def kafka_broker_process(version: str = "3.9.1", *, memory_backed: bool = False) -> Iterator[Broker]:
    """Yield the broker: KAFKA_BOOTSTRAP_SERVERS when set, else a fresh local one (with its pid)."""
    given = os.environ.get("KAFKA_BOOTSTRAP_SERVERS")
    if given:
        progress(f"using the Kafka cluster at {given}")
        yield Broker(given)
        return
    progress("starting a local Kafka broker (bridge.local_kafka)")
    libs = local_kafka.ensure_distribution(version)
    parent = memory_backed_dir() if memory_backed else None
    progress(f"broker data in {parent or tempfile.gettempdir()}")
    with tempfile.TemporaryDirectory(prefix="bench-kafka-", dir=parent) as tmp:
        broker = local_kafka.LocalKafka(libs=libs, work_dir=Path(tmp))
        broker.start()
        try:
            progress(f"broker ready at {broker.bootstrap}")
            yield Broker(broker.bootstrap, broker.process.pid if broker.process else None)
        finally:
            broker.stop()


@contextlib.contextmanager
def kafka_broker(version: str = "3.9.1", *, memory_backed: bool = False) -> Iterator[str]:
    """Yield a bootstrap address: KAFKA_BOOTSTRAP_SERVERS when set, else a fresh local broker."""
    with kafka_broker_process(version, memory_backed=memory_backed) as broker:
        yield broker.bootstrap


#: Repetitions of each reference measure in `machine_speed` (the best of three runs is reported).
_LOOP_ITERATIONS: Final = 2_000_000
_SYSCALLS: Final = 200_000


def _best_of_three(run: Callable[[], None]) -> float:
    best = float("inf")
    for _ in range(3):
        started = time.perf_counter()
        run()
        best = min(best, time.perf_counter() - started)
    return best


def _python_loop() -> None:
    total = 0
    for i in range(_LOOP_ITERATIONS):
        total += i


def _system_calls() -> None:
    getppid = os.getppid  # not cached by the C library: one real system call each
    for _ in range(_SYSCALLS):
        getppid()


@functools.cache
def machine_speed() -> dict[str, float]:
    """How fast this machine runs Python (`python_loop_s`: a 10 M-iteration `total += i` loop in a
    function) and a system call from Python (`syscall_ns`: `os.getppid()`).

    The VMs these benchmarks run on differ from one day to the next, and not evenly: on one the worker
    needed 0.94 ms of CPU per event against 0.39 ms on another with the same code (docs/performance.md),
    while a tight loop was not slow. Reported beside the figures, these give the next comparison
    across VMs something to go by; neither alone predicts the workload's speed.
    """
    return {
        "python_loop_s": round(_best_of_three(_python_loop) * 10_000_000 / _LOOP_ITERATIONS, 3),
        "syscall_ns": round(_best_of_three(_system_calls) * 1e9 / _SYSCALLS),
    }


def machine_description() -> dict[str, Any]:
    """Describe the machine the figures come from, with its speed (`machine_speed`)."""
    model = ""
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    memory_gb = 0.0
    with contextlib.suppress(OSError, ValueError, IndexError):
        memory_gb = int(Path("/proc/meminfo").read_text().split()[1]) / 1024 / 1024
    return {
        "cpus": os.cpu_count(),
        "cpu_model": model,
        "memory_gb": round(memory_gb, 1),
        "python": sys.version.split()[0],
        **machine_speed(),
    }


# --- load generation ------------------------------------------------------------------------------


class _Connection(asyncio.Protocol):
    """One keep-alive HTTP/1.1 connection carrying one request at a time."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.buffer = bytearray()
        self.waiter: asyncio.Future[int] | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        end = self.buffer.find(b"\r\n\r\n")
        if end < 0:
            return
        head = bytes(self.buffer[:end]).lower()
        at = head.find(b"content-length:")
        length = 0
        if at >= 0:
            stop = head.find(b"\r\n", at)
            length = int(head[at + 15 : stop if stop >= 0 else len(head)])
        total = end + 4 + length
        if len(self.buffer) < total:
            return
        status = int(head[9:12])
        del self.buffer[:total]
        waiter, self.waiter = self.waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_result(status)

    def connection_lost(self, exc: Exception | None) -> None:
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_exception(ConnectionError("connection lost"))

    async def request(self, data: bytes) -> int:
        assert self.transport is not None
        self.waiter = asyncio.get_running_loop().create_future()
        self.transport.write(data)
        return await asyncio.wait_for(self.waiter, REQUEST_TIMEOUT_S)


def encode_post(path: str, body: bytes, headers: dict[str, str]) -> bytes:
    """Return one pre-encoded HTTP/1.1 POST."""
    lines = [f"POST {path} HTTP/1.1", "Host: 127.0.0.1", f"Content-Length: {len(body)}"]
    lines += [f"{k}: {v}" for k, v in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


@dataclass
class LoadResult:
    """What one load phase measured."""

    completed: int = 0
    seconds: float = 0.0
    latencies: list[float] = field(default_factory=list)
    statuses: Counter[int] = field(default_factory=Counter)
    errors: int = 0
    #: CPU seconds the measured process (the server, or the producer) used during the phase.
    cpu_seconds: float | None = None
    #: Further figures of the phase (e.g. the server's own produce latency).
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def per_s(self) -> float:
        return self.completed / self.seconds if self.seconds else 0.0

    def summary(self) -> dict[str, Any]:
        return {
            "per_s": round(self.per_s, 1),
            "completed": self.completed,
            "p50_ms": round(percentile(self.latencies, 50) * 1000, 2),
            "p99_ms": round(percentile(self.latencies, 99) * 1000, 2),
            "max_ms": round(max(self.latencies, default=0.0) * 1000, 2),
            "statuses": {str(k): v for k, v in sorted(self.statuses.items())},
            "errors": self.errors,
            "cpu_us_per_request": (
                round(self.cpu_seconds / self.completed * 1e6, 1)
                if self.cpu_seconds and self.completed
                else None
            ),
            **self.extra,
        }


def percentile(values: Sequence[float], pct: float) -> float:
    if not values:
        return 0.0
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=1000, method="inclusive")[int(pct * 10) - 1]


async def open_connections(port: int, count: int) -> list[_Connection]:
    loop = asyncio.get_running_loop()
    connections = []
    for _ in range(count):
        _, protocol = await asyncio.wait_for(
            loop.create_connection(_Connection, "127.0.0.1", port), CONNECT_TIMEOUT_S
        )
        connections.append(protocol)
    return connections


def close_connections(connections: Sequence[_Connection]) -> None:
    for connection in connections:
        if connection.transport is not None:
            connection.transport.close()


async def closed_loop(
    connections: Sequence[_Connection], requests: Sequence[bytes], seconds: float
) -> LoadResult:
    """Send back-to-back on every connection for `seconds`: the saturation throughput."""
    loop = asyncio.get_running_loop()
    result = LoadResult()
    started = loop.time()
    end = started + seconds
    width = len(connections)

    async def worker(connection: _Connection, index: int) -> None:
        while loop.time() < end:
            sent = loop.time()
            try:
                status = await connection.request(requests[index % len(requests)])
            except (ConnectionError, TimeoutError):
                result.errors += 1
                return
            result.latencies.append(loop.time() - sent)
            result.statuses[status] += 1
            result.completed += 1
            index += width

    await asyncio.gather(*(worker(c, i) for i, c in enumerate(connections)))
    result.seconds = loop.time() - started
    return result


async def open_loop(
    connections: Sequence[_Connection], requests: Sequence[bytes], rate: float, seconds: float
) -> LoadResult:
    """Offer `rate` requests/s for `seconds` whatever the answers' pace.

    Latency counts from each request's scheduled time, so waiting for a free connection is included
    (no coordinated omission).
    """
    loop = asyncio.get_running_loop()
    result = LoadResult()
    free: asyncio.Queue[_Connection] = asyncio.Queue()
    for connection in connections:
        free.put_nowait(connection)
    total = int(rate * seconds)
    started = loop.time() + 0.01
    tasks: set[asyncio.Task[None]] = set()

    async def one(index: int, scheduled: float) -> None:
        connection = await free.get()
        try:
            status = await connection.request(requests[index % len(requests)])
        except (ConnectionError, TimeoutError):
            result.errors += 1
            return
        free.put_nowait(connection)
        result.latencies.append(loop.time() - scheduled)
        result.statuses[status] += 1
        result.completed += 1

    for index in range(total):
        scheduled = started + index / rate
        delay = scheduled - loop.time()
        if delay > 0.0005:
            await asyncio.sleep(delay)
        task = asyncio.create_task(one(index, scheduled))
        tasks.add(task)
        task.add_done_callback(tasks.discard)
    if tasks:
        # A request still waiting then (no free connection: failed ones are not put back, or no answer)
        # counts as an error; a very busy machine must not end the whole benchmark run.
        _, late = await asyncio.wait(set(tasks), timeout=REQUEST_TIMEOUT_S * 2)
        for task in late:
            task.cancel()
        await asyncio.gather(*late, return_exceptions=True)
        result.errors += len(late)
    result.seconds = loop.time() - started
    return result


def process_cpu_seconds(pid: int) -> float:
    """Return the user+system CPU seconds process `pid` used so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@contextlib.contextmanager
def own_core(measured: int, others: Sequence[int | None]) -> Iterator[dict[str, list[int]] | None]:
    """Give process `measured` a core of its own and `others` (broker, this harness) the rest, meanwhile.

    On a 2-core machine the worker otherwise shares its core with the broker and the load generator:
    the scheduler moves them across both cores and the worker, one Python process, is preempted
    whenever they run (measured: 0.5-0.9 of a core while the box was 40 % idle). A worker in
    production has its CPU (a pod's request); pinning measures that worker's capacity rather than how
    this box's scheduler shares two cores among three busy processes. Every thread of each process is
    pinned (threads started later inherit it) and set back afterwards. Yields the split for the
    report, or None where pinning is impossible (one CPU, not Linux): the phase then runs as it is.
    """
    try:
        available = sorted(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        available = []
    if len(available) < 2:
        yield None
        return
    mine, rest = {available[-1]}, set(available[:-1])
    pids = [pid for pid in (measured, *others) if pid is not None]
    try:
        _pin_process(measured, mine)
        for pid in pids[1:]:
            _pin_process(pid, rest)
        yield {"measured": sorted(mine), "others": sorted(rest)}
    finally:
        for pid in pids:
            _pin_process(pid, set(available))


def _pin_process(pid: int, cpus: set[int]) -> None:
    """Set the CPU affinity of every thread of `pid` (a process' affinity is per thread on Linux)."""
    with contextlib.suppress(OSError):
        for task in os.listdir(f"/proc/{pid}/task"):
            with contextlib.suppress(OSError):  # a thread that just ended
                os.sched_setaffinity(int(task), cpus)


def cpu_snapshot(pids: Mapping[str, int | None]) -> dict[str, float]:
    """Return CPU seconds used so far by each named process and by this one ("harness").

    On a small machine every process of a benchmark shares the cores: the split says where they went.
    """
    usage = resource.getrusage(resource.RUSAGE_SELF)
    snapshot = {"harness": usage.ru_utime + usage.ru_stime}
    for name, pid in pids.items():
        if pid is not None:
            with contextlib.suppress(OSError, ValueError, IndexError):
                snapshot[name] = process_cpu_seconds(pid)
    return snapshot


def cpu_ms_per_item(before: dict[str, float], after: dict[str, float], items: int) -> dict[str, float]:
    """Return CPU milliseconds per item of each process measured in both snapshots, and their sum."""
    split = {k: (after[k] - before[k]) * 1000 / max(1, items) for k in before if k in after}
    split["total"] = sum(split.values())
    return {k: round(v, 3) for k, v in split.items()}


def histogram_quantile(before: dict[float, float], after: dict[float, float], q: float) -> float | None:
    """Return the upper bound of the bucket holding quantile `q` of what was observed between two scrapes."""
    bounds = sorted(after)
    total = after[bounds[-1]] - before.get(bounds[-1], 0.0)
    if total <= 0:
        return None
    for bound in bounds:
        if after[bound] - before.get(bound, 0.0) >= q * total:
            return bound
    return bounds[-1]


def parse_buckets(metrics_text: str, name: str) -> dict[float, float]:
    """Return {upper bound: cumulative count} of histogram `name` in a Prometheus text exposition."""
    buckets: dict[float, float] = {}
    prefix = f'{name}_bucket{{le="'
    for line in metrics_text.splitlines():
        if line.startswith(prefix):
            bound, value = line[len(prefix) :].split('"}', 1)
            buckets[float(bound)] = float(value)
    return buckets


def timestamp() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
