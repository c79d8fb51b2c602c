"""Run `vtex-bridge worker` as a subprocess against a test broker, topics and fake OMS; build input
events, produce them and read the downstream records back.

Each `WorkerProcess` gets its own environment (broker, topic names, app id, web port, OMS URL) and
state directory; it can be stopped with SIGTERM (clean) or SIGKILL (crash). `start()` waits until the
worker owns partitions. Waits are async, so a fake OMS served by the test's event loop keeps
answering. Logs go to a file in the test's tmp dir, shown when a wait fails.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import time
import urllib.request
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
from aiokafka import AIOKafkaProducer

from bridge import stack_dumps
from bridge.events import InputEvent, build_input_event
from bridge.statuses import KNOWN_STATUSES
from bridge.stop_watchdog import STOP_TIMEOUT_EXIT_CODE
from bridge.timestamps import format_vtex_timestamp
from processors.writer import PartitionWriter
from testkit.kafka import read_all, unique

REPO = Path(__file__).resolve().parents[1]
VTEX_BRIDGE = REPO / ".venv" / "bin" / "vtex-bridge"


#: The console's admin token of test workers: strong enough for the production profile they run in.
CONSOLE_TOKEN = "Tw5Pq8Zk2Rv7Mx4Ny9Lb3Hc6"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class WorkerConfig:
    """The settings one test's workers share (as env vars)."""

    bootstrap: str
    oms_url: str
    app_id: str = field(default_factory=lambda: unique("proc"))
    input_topic: str = field(default_factory=lambda: unique("in"))
    status_prefix: str = field(default_factory=lambda: unique("st") + ".")
    dead_letter_topic: str = field(default_factory=lambda: unique("dlq"))
    partitions: int = 4
    extra: dict[str, str] = field(default_factory=dict)

    def env(self, web_port: int, console_port: int = 0) -> dict[str, str]:
        """The worker's environment; `console_port` 0 = any free port (for workers no test asks)."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("VTEX_BRIDGE_")}
        env.update(
            {
                "KAFKA_BOOTSTRAP_SERVERS": self.bootstrap,
                "VTEX_BRIDGE_VTEX_BASE_URL": self.oms_url,
                "VTEX_BRIDGE_WORKER_APP_ID": self.app_id,
                "VTEX_BRIDGE_INPUT_TOPIC": self.input_topic,
                "VTEX_BRIDGE_STATUS_TOPIC_PREFIX": self.status_prefix,
                "VTEX_BRIDGE_DEAD_LETTER_TOPIC": self.dead_letter_topic,
                "VTEX_BRIDGE_INPUT_TOPIC_PARTITIONS": str(self.partitions),
                "VTEX_BRIDGE_WORKER_WEB_PORT": str(web_port),
                "VTEX_BRIDGE_CONSOLE_PORT": str(console_port),
                "VTEX_BRIDGE_CONSOLE_ADMIN_TOKEN": CONSOLE_TOKEN,
                "VTEX_BRIDGE_OMS_RATE_LIMIT_PER_S": "1000",
                "VTEX_BRIDGE_WORKER_NOT_FOUND_GRACE_S": "1",
                "VTEX_BRIDGE_WORKER_RETRY_BACKOFF_MAX_S": "1",
                "VTEX_BRIDGE_OMS_BACKOFF_MAX_S": "0.2",
                "VTEX_BRIDGE_LOG_LEVEL": "INFO",
                "VTEX_BRIDGE_WORKER_SESSION_TIMEOUT_S": "6",
                "VTEX_BRIDGE_WORKER_CREATE_TOPICS": "true",  # as in development: no `topics apply` first
                "PYTHONUNBUFFERED": "1",
            }
        )
        env.update(self.extra)
        return env

    def status_topic(self, suffix: str) -> str:
        return self.status_prefix + suffix


class WorkerProcess:
    """One worker subprocess."""

    def __init__(self, config: WorkerConfig, work_dir: Path, name: str = "w") -> None:
        self.config = config
        self.port = free_port()
        self.console_port = free_port()
        self.work_dir = work_dir / name
        self.work_dir.mkdir(parents=True, exist_ok=True)
        self.log_path = self.work_dir / "worker.log"
        self.proc: subprocess.Popen[bytes] | None = None

    async def start(self, timeout: float = 90.0) -> WorkerProcess:
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(
                [str(VTEX_BRIDGE), "worker", "--data-dir", str(self.work_dir / "data")],
                env=self.config.env(self.port, self.console_port),
                cwd=self.work_dir,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        await self.wait_for(lambda h: bool(h.get("partitions")), timeout, "worker owns partitions")
        return self

    def health(self) -> dict[str, Any] | None:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/health", timeout=2) as response:
                value = orjson.loads(response.read())
                return value if isinstance(value, dict) else None
        except OSError:
            return None

    async def metrics(self) -> str:
        return await asyncio.to_thread(self._metrics)

    def _metrics(self) -> str:
        with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/metrics", timeout=2) as response:
            body: bytes = response.read()
            return body.decode()

    async def wait_for(self, predicate: Any, timeout: float, what: str) -> dict[str, Any]:
        """Poll /health until `predicate(health)`; the event loop stays free (the fake OMS lives there)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc is not None and self.proc.poll() is not None:
                raise AssertionError(f"worker exited ({self.proc.returncode}) before {what}:\n{self.tail()}")
            health = await asyncio.to_thread(self.health)
            if health is not None and predicate(health):
                return health
            await asyncio.sleep(0.2)
        raise AssertionError(f"timed out waiting for {what}:\n{self.tail()}")

    def error_lines(self) -> list[str]:
        """Return logged errors, minus the client libraries' reconnection chatter."""
        noise = ('"logger":"aiokafka', "Unable connect", "Missing sensor state")
        lines = self.log_path.read_text(errors="replace").splitlines()
        return [
            line
            for line in lines
            if ('"level":"error"' in line or '"level":"critical"' in line)
            and not any(n in line for n in noise)
        ]

    def tail(self, lines: int = 60) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    async def terminate(self, timeout: float = 60.0, *, cut_short_ok: bool = False) -> int:
        """SIGTERM and wait for the exit; return its code.

        A stop that the worker's watchdog cut short (`worker_stop_timeout_s`, exit code 3) fails here
        with the stacks it wrote, unless `cut_short_ok` (the caller then sees code 3).
        """
        if self.proc is None or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else 0
        start = self.log_path.stat().st_size
        self.proc.send_signal(signal.SIGTERM)
        try:
            code = await asyncio.to_thread(self.proc.wait, timeout)
        except subprocess.TimeoutExpired:
            await self.dump_stacks()
            self.proc.kill()
            self.proc.wait(10)
            raise AssertionError(
                f"worker did not stop on SIGTERM within {timeout}s; {self.stacks_since(start)}"
            ) from None
        if code == STOP_TIMEOUT_EXIT_CODE and not cut_short_ok:
            raise AssertionError(f"worker's stop was cut short by its watchdog; {self.stacks_since(start)}")
        return code

    def stacks_since(self, offset: int) -> str:
        """The stacks the worker wrote after `offset` in its log (tasks first), then its last log lines
        without the Kafka client's reconnection chatter (which buries everything after a broker outage):
        what CI shows of a long failure message is its beginning and its end."""
        with self.log_path.open("rb") as log:
            log.seek(offset)
            lines = log.read().decode(errors="replace").splitlines()
        stacks = [line for line in lines if not line.startswith("{")]
        tasks_at = next((i for i, line in enumerate(stacks) if line.startswith("--- asyncio tasks")), 0)
        stacks = stacks[tasks_at:] + stacks[:tasks_at]  # the await chains say more than the threads
        chatter = ("Unable connect", "Unable to update", "not ready", "Connection at", "Failed fetch")
        events = [line for line in lines if line.startswith("{") and not any(c in line for c in chatter)]
        return "its stacks:\n" + "\n".join(stacks) + "\nits last log lines:\n" + "\n".join(events[-40:])

    async def dump_stacks(self, timeout: float = 10.0) -> bool:
        """Have the worker write its threads' and tasks' stacks to its log (SIGUSR1); return whether
        they arrived within `timeout` (a worker stuck in C code writes only its threads')."""
        if self.proc is None or self.proc.poll() is not None:
            return False
        start = self.log_path.stat().st_size
        self.proc.send_signal(stack_dumps.DUMP_SIGNAL)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.log_path.open("rb") as log:
                log.seek(start)
                if stack_dumps.END_OF_DUMP.encode() in log.read():
                    return True
            await asyncio.sleep(0.1)
        return False

    def kill(self) -> None:
        """SIGKILL (a crash: no shutdown code runs)."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)

    def __enter__(self) -> WorkerProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        self.kill()


# --- input events and results -------------------------------------------------------------

BASE = datetime(2026, 3, 1, 12, 0, 0, tzinfo=UTC)


def hook(order_id: str, state: str | None, seconds: float, *, source: str = "hook") -> InputEvent:
    """Return an input event of `order_id` entering `state` at BASE + seconds."""
    moment = format_vtex_timestamp(BASE + timedelta(seconds=seconds))
    payload = {
        "Domain": "Marketplace",
        "OrderId": order_id,
        "State": state,
        "LastState": "",
        "LastChange": moment,
        "CurrentChange": moment,
        "Origin": {"Account": "simaccount", "Key": "vtexappkey-simaccount-BRIDGE"},
    }
    return build_input_event(payload, source=source)  # type: ignore[arg-type]


def lifecycle(order_id: str, steps: int, start: float = 0.0) -> list[InputEvent]:
    """Return `steps` successive events of one order through known statuses."""
    return [hook(order_id, KNOWN_STATUSES[i % len(KNOWN_STATUSES)], start + i) for i in range(steps)]


async def produce(bootstrap: str, topic: str, events: Iterable[InputEvent]) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", enable_idempotence=True, linger_ms=5)
    await asyncio.wait_for(producer.start(), 30)
    try:
        futures = [
            await producer.send(topic, key=e.key(), value=e.encode(), headers=e.headers()) for e in events
        ]
        await asyncio.wait_for(asyncio.gather(*futures), 60)
    finally:
        await producer.stop()


async def downstream(bootstrap: str, topics: Iterable[str]) -> list[dict[str, Any]]:
    """Return every committed downstream record of `topics`, with `_topic` and `_offset` added."""
    values: list[dict[str, Any]] = []
    for topic in topics:
        for message in await read_all(bootstrap, topic, timeout=30):
            value = orjson.loads(message.value)
            value["_topic"] = topic
            value["_offset"] = message.offset
            value["_timestamp"] = message.timestamp
            values.append(value)
    return values


def per_order_sequence(records: list[dict[str, Any]]) -> dict[str, list[str]]:
    """Return the event ids of each order in written order; all `records` must come from one topic
    (an order's records share a partition there, so their offsets are the emit order)."""
    by_order: dict[str, list[tuple[int, str]]] = defaultdict(list)
    for r in records:
        by_order[r["order_id"]].append((r["_offset"], r["event_id"]))
    return {k: [e for _, e in sorted(v)] for k, v in by_order.items()}


def duplicates(records: list[dict[str, Any]]) -> dict[str, int]:
    counts = Counter(r["event_id"] for r in records)
    return {k: v for k, v in counts.items() if v > 1}


def partition_writer(
    bootstrap: str, app_id: str, changelog: str, timeline: str | None = None
) -> PartitionWriter:
    """A `PartitionWriter` of partition 0 with in-memory state (and timelines when `timeline` names the
    changelog), with the short bounds the writer's integration tests use."""
    from processors.state import MemoryState
    from processors.timeline_store import MemoryTimelines, TimelineConfig

    return PartitionWriter(
        bootstrap=bootstrap,
        app_id=app_id,
        partition=0,
        changelog=changelog,
        state_factory=MemoryState,
        load_timeout_s=30,
        produce_timeout_s=5,
        backoff_max_s=0.5,
        timeline=None
        if timeline is None
        else TimelineConfig(changelog=timeline, factory=MemoryTimelines, max_entries=3),
    )
