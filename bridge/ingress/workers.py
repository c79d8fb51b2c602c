"""`vtex-bridge ingress --workers N`: N ingress processes on one port, one /metrics for all of them.

One Python process serves hooks on one core; a host with more cores would sit idle while the ingress
saturates. Here a parent process starts N worker processes (multiprocessing's spawn: fresh
interpreters, nothing inherited but the settings), each running the ordinary `serve()` with its own
Kafka producer on the same hook port with SO_REUSEPORT: the kernel spreads incoming connections over
them. The parent holds the port (bound with SO_REUSEPORT, never listening, so it receives no
connection) from before the first worker starts to after the last one stopped, so `--port 0` means one
free port for all, and a port already taken fails at once.

Metrics: the workers write theirs to a per-run directory (prometheus_client's multiprocess mode,
`PROMETHEUS_MULTIPROC_DIR`, created by the parent before the first worker starts and removed after the
last one stopped); the parent serves `/metrics` on the metrics port with a `MultiProcessCollector`:
counters and histograms summed over the workers, each gauge aggregated as its `multiprocess_mode` says
(bridge.ingress.metrics), `vtex_bridge_ingress_worker_accepted` per worker (label `pid`).

Supervision: SIGTERM/SIGINT to the parent is passed to every worker, which drains as a single ingress
does (stops listening, lets in-flight hooks finish, flushes its producer); the parent exits 0 once all
exited 0. A worker that exits on its own (crash, failed start) stops the others the same way and the
parent exits 1: the orchestrator restarts the whole ingress, rather than the parent restarting one
worker in a loop while a fault (a configuration refused, memory) persists. A worker whose parent is
gone (killed) sees its pipe close and stops too.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import math
import multiprocessing
import multiprocessing.connection
import os
import shutil
import signal
import socket
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from bridge.settings import Settings

log = logging.getLogger("bridge.ingress")

#: The environment variable prometheus_client reads, at import, to write metrics to files.
MULTIPROC_ENV: Final = "PROMETHEUS_MULTIPROC_DIR"
#: Workers have this long to listen (a producer start is bounded by 10 s, the broker may be down).
START_TIMEOUT_S: Final = 60.0
#: Past the drain (`ingress_shutdown_timeout_s` for in-flight hooks, as much again for the flush), a
#: worker still running is killed.
STOP_MARGIN_S: Final = 5.0
#: cgroup v2: "<quota> <period>" in microseconds, or "max <period>" without a CPU limit.
CGROUP_CPU_MAX: Final = Path("/sys/fs/cgroup/cpu.max")


def available_cpus(cpu_max: Path = CGROUP_CPU_MAX) -> int:
    """Return the CPUs this process may use: its affinity, capped by a cgroup v2 CPU quota (a pod limit)."""
    try:
        cpus = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # not Linux
        cpus = os.cpu_count() or 1
    with contextlib.suppress(OSError, ValueError):
        quota, period = cpu_max.read_text().split()[:2]
        if quota != "max":
            cpus = min(cpus, max(1, math.ceil(int(quota) / int(period))))
    return max(1, cpus)


def worker_count(settings: Settings) -> int:
    """Return how many ingress processes to run: the setting, else 1 in the dev profile, else the CPUs."""
    if settings.ingress_workers is not None:
        return settings.ingress_workers
    return 1 if settings.profile == "dev" else available_cpus()


def reserve_port(host: str, port: int) -> socket.socket:
    """Bind (never listen on) `host:port` with SO_REUSEPORT; return the socket holding the port.

    The workers bind the same port with SO_REUSEPORT; the kernel routes connections only to listening
    sockets, so this one takes none. Raises OSError when the port is taken.
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    holder = socket.socket(family, socket.SOCK_STREAM)
    try:
        holder.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        holder.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        holder.bind((host, port))
    except OSError:
        holder.close()
        raise
    return holder


def claim_port(port: int) -> socket.socket | None:
    """Refuse a second multi-worker ingress on `port`: hold an abstract Unix socket named after it.

    SO_REUSEPORT lets any process of the same user bind the port again, so a second `vtex-bridge
    ingress --workers N` started by mistake would silently take part of the hooks (with another
    configuration, perhaps). The abstract socket lives in the same network namespace as the port and
    goes away with the process, even killed. Raises OSError (EADDRINUSE) naming the problem when
    another ingress holds it; returns None where abstract sockets do not exist (not Linux).
    """
    if not sys.platform.startswith("linux"):
        return None
    claim = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        claim.bind(f"\0vtex-bridge-ingress:{port}")
    except OSError as exc:
        claim.close()
        raise OSError(
            errno.EADDRINUSE, f"port {port} is already served by another vtex-bridge ingress on this host"
        ) from exc
    return claim


@dataclass(frozen=True)
class WorkerArgs:
    """What a worker process needs (pickled to it): the parent's settings and its logging."""

    settings: Settings
    host: str
    port: int
    log_level: str


def _worker_main(args: WorkerArgs, conn: multiprocessing.connection.Connection) -> None:
    """Entry point of a worker process: the set-up `vtex-bridge` does, then `serve()` until stopped."""
    import gc

    from bridge import aiokafka_fixes, kafka_config, process_runtime
    from bridge.ingress.server import serve
    from bridge.log import configure_logging

    settings = args.settings
    configure_logging(args.log_level, settings.log_format, settings.log_repeat_interval_s)
    aiokafka_fixes.install()
    kafka_config.install(settings)

    def started(port: int) -> None:
        gc.freeze()  # as `vtex-bridge ingress` does: the start-up heap lives as long as the process
        conn.send(port)

    async def main() -> None:
        stop = asyncio.Event()
        # The parent gone (even killed): its end of the pipe closes, this worker stops.
        asyncio.get_running_loop().add_reader(conn.fileno(), stop.set)
        await serve(
            settings, host=args.host, port=args.port, started=started, stop=stop, worker=True,
        )  # fmt: skip

    process_runtime.run(settings, main())


class Workers:
    """The worker processes of one run: start, watch, stop."""

    def __init__(self, args: WorkerArgs, count: int) -> None:
        self._args = args
        self._count = count
        self._context = multiprocessing.get_context("spawn")
        self._processes: list[multiprocessing.process.BaseProcess] = []
        self._conns: list[multiprocessing.connection.Connection] = []

    @property
    def pids(self) -> list[int]:
        return [p.pid for p in self._processes if p.pid is not None]

    def start(self) -> None:
        """Start every worker (each then starts its producer and listens)."""
        for index in range(self._count):
            parent, child = self._context.Pipe(duplex=False)
            process = self._context.Process(
                target=_worker_main, args=(self._args, child), name=f"ingress-worker-{index}", daemon=False
            )
            process.start()
            child.close()
            self._processes.append(process)
            self._conns.append(parent)

    async def wait_listening(self, timeout: float) -> bool:
        """Wait until every worker listens; False when one exited first or the bound passed."""
        deadline = time.monotonic() + timeout
        waiting = list(zip(self._processes, self._conns, strict=True))
        while waiting:
            if time.monotonic() > deadline or self.exited() is not None:
                return False
            for process, conn in list(waiting):
                if conn.poll():
                    with contextlib.suppress(EOFError, OSError):
                        conn.recv()
                        waiting.remove((process, conn))
                        continue
                    return False  # closed without a word: the worker is gone
            await asyncio.sleep(0.05)
        return True

    def exited(self) -> multiprocessing.process.BaseProcess | None:
        """Return a worker that is no longer running, if any."""
        return next((p for p in self._processes if p.exitcode is not None), None)

    def watch(self, loop: asyncio.AbstractEventLoop, on_exit: Callable[[], None]) -> None:
        """Call `on_exit` when any worker's process ends (its sentinel becomes readable)."""
        for process in self._processes:
            loop.add_reader(process.sentinel, on_exit)

    def unwatch(self, loop: asyncio.AbstractEventLoop) -> None:
        for process in self._processes:
            loop.remove_reader(process.sentinel)

    async def stop(self, drain_s: float) -> list[int | None]:
        """SIGTERM every worker, wait up to `drain_s` for them, kill the rest; return the exit codes."""
        for process in self._processes:
            if process.exitcode is None and process.pid is not None:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(process.pid, signal.SIGTERM)
        deadline = time.monotonic() + drain_s
        while any(p.exitcode is None for p in self._processes) and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        for process in self._processes:
            if process.exitcode is None:
                log.error("ingress worker did not stop in time; killing it", extra={"pid": process.pid})
                process.kill()
                process.join(5)
        for conn in self._conns:
            conn.close()
        return [p.exitcode for p in self._processes]


async def supervise(
    settings: Settings, *, host: str, port: int, count: int, metrics_dir: Path,
    started: Callable[[int, int], None] | None = None, stop: asyncio.Event | None = None,
) -> int:  # fmt: skip
    """Run `count` workers on `host:port` and /metrics for all of them until a signal; return the exit code.

    `started(port, metrics_port)` is called once every worker listens. Exit code 0 after a stop asked
    for and obeyed by every worker, 1 when a worker failed or exited on its own.
    """
    from aiohttp import web

    from bridge.ingress.app import create_shared_metrics_app
    from bridge.ingress.server import bound_port

    holder = reserve_port(host, port)
    bound = int(holder.getsockname()[1])
    try:
        claim = claim_port(bound)
    except OSError:
        holder.close()
        raise
    loop = asyncio.get_running_loop()
    stop = stop or asyncio.Event()
    handled: list[signal.Signals] = []
    for sig in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
            handled.append(sig)
    metrics_runner = web.AppRunner(create_shared_metrics_app(metrics_dir), access_log=None)
    await metrics_runner.setup()
    level = logging.getLevelName(logging.getLogger().getEffectiveLevel())
    workers = Workers(WorkerArgs(settings, host, bound, str(level)), count)
    failed = asyncio.Event()
    drain_s = 2 * settings.ingress_shutdown_timeout_s + STOP_MARGIN_S
    ok = False
    try:
        wanted = settings.ingress_metrics_port
        await web.TCPSite(metrics_runner, settings.ingress_metrics_host, wanted).start()
        metrics_port = bound_port(metrics_runner, wanted)
        workers.start()
        workers.watch(loop, failed.set)
        if not await workers.wait_listening(START_TIMEOUT_S):
            log.error("ingress cannot start: a worker did not start listening", extra={"workers": count})
            return 1
        log.info(
            "ingress workers listening",
            extra={
                "url": f"http://{host}:{bound}{settings.ingress_path}",
                "metrics_url": f"http://{settings.ingress_metrics_host}:{metrics_port}/metrics",
                "workers": count,
                "pids": workers.pids,
            },
        )
        if started is not None:
            started(bound, metrics_port)
        waits = [asyncio.ensure_future(stop.wait()), asyncio.ensure_future(failed.wait())]
        await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
        for waiter in waits:
            waiter.cancel()
        if failed.is_set() and not stop.is_set():
            gone = workers.exited()
            log.error(
                "ingress worker exited; stopping the others",
                extra={"pid": gone.pid if gone else None, "exit_code": gone.exitcode if gone else None},
            )
        else:
            ok = True
            log.info("ingress stopping: every worker drains its in-flight hooks")
    finally:
        workers.unwatch(loop)
        codes = await workers.stop(drain_s)
        for sig in handled:
            loop.remove_signal_handler(sig)
        await metrics_runner.cleanup()
        holder.close()
        if claim is not None:
            claim.close()
        log.info("ingress stopped", extra={"exit_codes": codes})
    return 0 if ok and all(code == 0 for code in codes) else 1


def run(settings: Settings, *, host: str, port: int, count: int) -> int:
    """Run the workers in a fresh metrics directory (removed afterwards); return the exit code."""
    from bridge import process_runtime

    metrics_dir = Path(tempfile.mkdtemp(prefix="vtex-bridge-ingress-metrics-"))
    previous = os.environ.get(MULTIPROC_ENV)
    os.environ[MULTIPROC_ENV] = str(metrics_dir)  # inherited by the workers, read by prometheus_client
    try:
        return process_runtime.run(
            settings, supervise(settings, host=host, port=port, count=count, metrics_dir=metrics_dir)
        )
    finally:
        if previous is None:
            os.environ.pop(MULTIPROC_ENV, None)
        else:
            os.environ[MULTIPROC_ENV] = previous
        shutil.rmtree(metrics_dir, ignore_errors=True)
