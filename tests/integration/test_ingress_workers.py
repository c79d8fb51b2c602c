"""`vtex-bridge ingress --workers 2` over a real broker and real HTTP: both processes serve hooks on one
port, /metrics sums them, SIGTERM drains both with no accepted hook lost, a worker that dies stops all."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import threading
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import aiohttp
import orjson
import pytest
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample

from bridge.events import decode_input_event
from bridge.local_kafka import free_port
from testkit.kafka import create_topics, read_all, unique, wait_until
from tests.support.ingress import ACCOUNT, APP_KEY, HEADER, SECRET, auth_headers, hook_payload

pytestmark = pytest.mark.integration


@dataclass
class Ingress:
    process: subprocess.Popen[bytes]
    base: str
    metrics: str
    topic: str
    tmp: Path
    lines: list[str]
    reader: threading.Thread
    env: dict[str, str]

    def log(self) -> str:
        """The parent's stderr so far (both workers write there too)."""
        return "".join(self.lines)

    def full_log(self) -> str:
        """The whole of stderr, once the process exited (waits for the reader to reach its end)."""
        self.reader.join(30)
        return self.log()

    def started(self) -> bool:
        """True once the parent saw every worker listen (before that, a dead worker is a failed start)."""
        return '"msg":"ingress workers listening"' in self.log()


@pytest.fixture
def ingress_workers(kafka_bootstrap: str, tmp_path: Path) -> Iterator[Ingress]:
    """`vtex-bridge ingress --workers 2` on free ports (its metrics directory under `tmp_path`)."""
    port, metrics_port, topic = free_port(), free_port(), unique("ingress-workers")
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("VTEX_")},
        "KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap,
        "VTEX_BRIDGE_INPUT_TOPIC": topic,
        "VTEX_BRIDGE_INGRESS_PORT": str(port),
        "VTEX_BRIDGE_INGRESS_METRICS_PORT": str(metrics_port),
        "VTEX_ACCOUNT": ACCOUNT,
        "VTEX_APP_KEY": APP_KEY,
        "VTEX_BRIDGE_HOOK_SECRET_HEADER": HEADER,
        "VTEX_BRIDGE_HOOK_SECRET": SECRET,
        "TMPDIR": str(tmp_path),
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "bridge.cli", "ingress", "--workers", "2"],
        env=env,
        stderr=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
    )
    lines: list[str] = []
    assert process.stderr is not None
    reader = threading.Thread(target=_collect, args=(process.stderr, lines), daemon=True)
    reader.start()
    try:
        yield Ingress(
            process,
            f"http://127.0.0.1:{port}",
            f"http://127.0.0.1:{metrics_port}/metrics",
            topic,
            tmp_path,
            lines,
            reader,
            env,
        )
    finally:
        if process.poll() is None:
            process.kill()
        process.wait(timeout=30)
        reader.join(30)
        process.stderr.close()


def _collect(stream: IO[bytes], lines: list[str]) -> None:
    """Read `stream` line by line into `lines` until it closes (the tests read the log while it runs)."""
    for raw in iter(stream.readline, b""):
        lines.append(raw.decode(errors="replace"))


@contextlib.asynccontextmanager
async def fresh_connections() -> AsyncIterator[aiohttp.ClientSession]:
    """A session opening a new connection per request: SO_REUSEPORT spreads connections, not requests."""
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(force_close=True)) as session:
        yield session


async def wait_ready(session: aiohttp.ClientSession, ingress: Ingress) -> None:
    async def ready() -> bool:
        assert ingress.process.poll() is None, "ingress exited early"
        with contextlib.suppress(aiohttp.ClientError):
            async with session.get(f"{ingress.base}/readyz") as response:
                return response.status == 200
        return False

    await wait_until(ready, timeout=60, interval=0.2, message="ingress ready")


async def scrape(session: aiohttp.ClientSession, ingress: Ingress) -> list[Sample]:
    """Return every sample the parent's /metrics serves."""
    async with session.get(ingress.metrics) as response:
        assert 200 == response.status
        text = await response.text()
    return [sample for family in text_string_to_metric_families(text) for sample in family.samples]


def worker_pids(samples: list[Sample]) -> dict[str, float]:
    """Return the hooks each live worker accepted, by pid."""
    return {s.labels["pid"]: s.value for s in samples if s.name == "vtex_bridge_ingress_worker_accepted"}


def accepted_total(samples: list[Sample]) -> float:
    return sum(
        s.value
        for s in samples
        if s.name == "vtex_bridge_ingress_requests_total" and s.labels.get("outcome") == "accepted"
    )


def payload(index: int) -> dict[str, Any]:
    return hook_payload(order_id=f"v{index:07d}wrk-01", LastChange=f"2026-11-25T03:00:00.{index:07d}Z")


class TestTwoWorkers:
    async def test_both_serve_and_metrics_sum_them(
        self, kafka_bootstrap: str, ingress_workers: Ingress
    ) -> None:
        ingress = ingress_workers
        await create_topics(kafka_bootstrap, ingress.topic, partitions=4)
        accepted: list[str] = []
        async with fresh_connections() as session:
            await wait_ready(session, ingress)

            async def post(index: int) -> None:
                async with session.post(
                    f"{ingress.base}/hooks/vtex", data=orjson.dumps(payload(index)), headers=auth_headers()
                ) as response:
                    assert 200 == response.status, await response.text()
                    accepted.append((await response.json())["event_id"])

            async def both_answered() -> bool:
                # Hooks in batches on new connections, until each worker's count shows some (the second
                # worker may still be starting when the first answers /readyz).
                first = len(accepted)
                await asyncio.gather(*(post(first + i) for i in range(20)))
                per_worker = worker_pids(await scrape(session, ingress))
                return len(per_worker) == 2 and all(count > 0 for count in per_worker.values())

            await wait_until(
                both_answered, timeout=60, interval=0.2, message="hooks answered by both workers"
            )

            async def all_counted() -> bool:
                return sum(worker_pids(await scrape(session, ingress)).values()) == len(accepted)

            await wait_until(all_counted, timeout=30, interval=0.2, message="every hook on /metrics")
            samples = await scrape(session, ingress)
        hooks = len(accepted)
        assert hooks == accepted_total(samples)  # one counter, summed over the workers
        histogram = [s for s in samples if s.name == "vtex_bridge_ingress_produce_latency_seconds_count"]
        assert [hooks] == [s.value for s in histogram]
        connected = [s.value for s in samples if s.name == "vtex_bridge_ingress_kafka_producer_connected"]
        assert [1.0] == connected
        records = await read_all(kafka_bootstrap, ingress.topic, expected=hooks)
        assert set(accepted) == {decode_input_event(r.value).event_id for r in records}

    async def test_sigterm_drains_every_worker(self, kafka_bootstrap: str, ingress_workers: Ingress) -> None:
        ingress = ingress_workers
        await create_topics(kafka_bootstrap, ingress.topic, partitions=4)
        accepted: list[str] = []
        async with fresh_connections() as session:
            await wait_ready(session, ingress)
            stop_posting = asyncio.Event()

            async def poster(first: int) -> None:
                index = first
                while not stop_posting.is_set():
                    try:
                        async with session.post(
                            f"{ingress.base}/hooks/vtex",
                            data=orjson.dumps(payload(index)),
                            headers=auth_headers(),
                        ) as response:
                            if response.status == 200:
                                accepted.append((await response.json())["event_id"])
                    except aiohttp.ClientError:
                        await asyncio.sleep(0.01)  # the port closed: stopping
                    index += 16

            posters = [asyncio.create_task(poster(i)) for i in range(16)]
            await wait_until(lambda: len(accepted) >= 40, timeout=30, message="hooks accepted")

            async def both_serving() -> bool:
                counts = worker_pids(await scrape(session, ingress)).values()
                return len(counts) == 2 and all(count > 0 for count in counts)

            await wait_until(both_serving, timeout=30, interval=0.2, message="both workers serving")
            pids = [int(p) for p in worker_pids(await scrape(session, ingress))]
            ingress.process.send_signal(signal.SIGTERM)
            code = await asyncio.to_thread(ingress.process.wait, 60)
            stop_posting.set()
            await asyncio.wait_for(asyncio.gather(*posters), 30)
        assert 0 == code
        log = ingress.full_log()
        assert 2 == log.count('"msg":"ingress listening"') and log.count('"msg":"ingress stopped"') == 3
        assert SECRET not in log
        for pid in pids:  # no worker outlives the parent
            assert not Path(f"/proc/{pid}").exists() or "zombie" in Path(f"/proc/{pid}/status").read_text()
        assert [] == list(ingress.tmp.glob("vtex-bridge-ingress-metrics-*"))  # its metrics directory removed
        records = await read_all(kafka_bootstrap, ingress.topic, expected=len(set(accepted)))
        assert set(accepted) <= {decode_input_event(r.value).event_id for r in records}

    async def test_a_dead_worker_stops_the_ingress(
        self, kafka_bootstrap: str, ingress_workers: Ingress
    ) -> None:
        ingress = ingress_workers
        await create_topics(kafka_bootstrap, ingress.topic)
        async with fresh_connections() as session:
            await wait_ready(session, ingress)
            await wait_until(
                lambda: _has_two(session, ingress),
                timeout=30,
                interval=0.2,
                message="two workers on /metrics",
            )
            pids = [int(p) for p in worker_pids(await scrape(session, ingress))]
        # Killed before the parent saw both listen, the run is a failed start (another message).
        await wait_until(ingress.started, timeout=30, message="the parent saw both workers listen")
        os.kill(pids[0], signal.SIGKILL)
        assert 1 == await asyncio.to_thread(ingress.process.wait, 60)
        log = ingress.full_log()
        assert "ingress worker exited; stopping the others" in log
        assert not Path(f"/proc/{pids[1]}").exists()

    async def test_a_second_ingress_on_the_same_port_is_refused(
        self, kafka_bootstrap: str, ingress_workers: Ingress
    ) -> None:
        """SO_REUSEPORT would let it take part of the hooks silently: it stops at once, saying why."""
        await create_topics(kafka_bootstrap, ingress_workers.topic)
        async with fresh_connections() as session:
            await wait_ready(session, ingress_workers)
        env = {**ingress_workers.env, "VTEX_BRIDGE_INGRESS_METRICS_PORT": str(free_port())}
        second = await asyncio.to_thread(
            subprocess.run,
            [sys.executable, "-m", "bridge.cli", "ingress", "--workers", "2"],
            env=env,
            capture_output=True,
            timeout=60,
        )
        assert 1 == second.returncode
        assert b"is already served by another vtex-bridge ingress" in second.stderr
        assert ingress_workers.process.poll() is None  # the first one serves on


async def _has_two(session: aiohttp.ClientSession, ingress: Ingress) -> bool:
    return len(worker_pids(await scrape(session, ingress))) == 2
