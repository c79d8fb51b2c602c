"""Slow and unauthenticated senders can neither starve VTEX's hooks nor grow the ingress's memory unbounded.

Over real loopback HTTP and a real Kafka broker:
- a request head that never completes is cut after `ingress_header_timeout_s` (aiohttp has no header
  timeout of its own; bridge.ingress.server turns its keep-alive timer into one);
- unauthenticated requests stalling their body hold only their own small bound: every genuine hook is
  still accepted while they stall, and the ones beyond the bound get 503 at once;
- 2,000 connections dribbling their heads into a `vtex-bridge ingress` process grow its memory by less
  than `SLOW_CONNECTIONS_RSS_BOUND_MB`, and all of them are closed by the server within the timeout.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from typing import Final

import aiohttp
import orjson
import pytest

from bridge.local_kafka import free_port
from testkit.kafka import create_topics, unique, wait_until
from tests.support.ingress import (
    ACCOUNT,
    APP_KEY,
    HEADER,
    SECRET,
    auth_headers,
    hook_payload,
    ingress_settings,
    running_ingress,
)

pytestmark = pytest.mark.integration

SLOW_CONNECTIONS: Final = 2000
#: The stated bound: what 2,000 stalled connections may add to the ingress process's resident memory.
SLOW_CONNECTIONS_RSS_BOUND_MB: Final = 32.0
PARTIAL_HEAD: Final = b"POST /hooks/vtex HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: "


async def _status_of(reader: asyncio.StreamReader) -> int:
    """Return the status code of the answer on `reader` (its status line only)."""
    line = await reader.readline()
    return int(line.split()[1]) if line.startswith(b"HTTP/1.1 ") else 0


async def _post_hooks(port: int, count: int, prefix: str) -> list[int]:
    async with aiohttp.ClientSession() as session:

        async def one(index: int) -> int:
            payload = hook_payload(order_id=f"v{prefix}{index:04d}-01")
            url = f"http://127.0.0.1:{port}/hooks/vtex"
            async with session.post(url, data=orjson.dumps(payload), headers=auth_headers()) as response:
                return response.status

        return list(await asyncio.gather(*(one(i) for i in range(count))))


class TestHeaderTimeout:
    """A head dribbled byte by byte is cut after the header timeout; other clients are unaffected."""

    async def test_incomplete_head_is_cut(self, kafka_bootstrap: str) -> None:
        topic = unique("ingress-slow-head")
        await create_topics(kafka_bootstrap, topic, partitions=1)
        settings = ingress_settings(
            kafka_bootstrap_servers=kafka_bootstrap, input_topic=topic, ingress_header_timeout_s=1.0
        )
        async with running_ingress(settings) as port:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(PARTIAL_HEAD)
            started = time.monotonic()

            async def dribble() -> None:
                with contextlib.suppress(ConnectionError):
                    while True:
                        writer.write(b"x")
                        await writer.drain()
                        await asyncio.sleep(0.1)

            dribbler = asyncio.create_task(dribble())
            try:
                data = await asyncio.wait_for(reader.read(), timeout=15)  # EOF: the server closed it
            finally:
                dribbler.cancel()
                writer.close()
            elapsed = time.monotonic() - started
            assert b"" == data
            assert 0.8 <= elapsed < 6.0, elapsed
            assert [200] == await _post_hooks(port, 1, "head")


class TestAuthenticationBeforeAdmission:
    """Stalled unauthenticated requests hold their own bound only, never the budget of VTEX's hooks."""

    async def test_stalled_unauthenticated_bodies_do_not_block_hooks(self, kafka_bootstrap: str) -> None:
        topic = unique("ingress-unauth-budget")
        await create_topics(kafka_bootstrap, topic, partitions=1)
        settings = ingress_settings(
            kafka_bootstrap_servers=kafka_bootstrap,
            input_topic=topic,
            ingress_max_in_flight=4,
            ingress_max_unauthenticated_in_flight=2,
            ingress_body_timeout_s=8.0,  # ample for the hooks below, even on a loaded machine
        )
        stalled_head = (
            b"POST /hooks/vtex HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            b'Content-Length: 500\r\n\r\n{"hookConfig":'
        )
        async with running_ingress(settings) as port:
            connections = [await asyncio.open_connection("127.0.0.1", port) for _ in range(20)]
            try:
                for _, writer in connections:
                    writer.write(stalled_head)
                answers = [asyncio.create_task(_status_of(reader)) for reader, _ in connections]

                def refused_at_once() -> bool:
                    return sum(1 for a in answers if a.done()) >= 18

                await wait_until(refused_at_once, timeout=10, message="18 unauthenticated requests refused")
                assert 2 == sum(1 for a in answers if not a.done())
                # Two stalled bodies hold the unauthenticated bound now; VTEX's budget is untouched.
                statuses = await _post_hooks(port, 4, "a") + await _post_hooks(port, 4, "b")
                assert [200] * 8 == statuses
                stalled = [a for a in answers if not a.done()]
                assert 2 == len(stalled)
                done = await asyncio.wait_for(asyncio.gather(*answers), timeout=30)
            finally:
                for _, writer in connections:
                    writer.close()
        assert {503: 18, 408: 2} == Counter(done)


@contextlib.contextmanager
def ingress_process(kafka_bootstrap: str, topic: str, header_timeout_s: float) -> Iterator[tuple[int, int]]:
    """Run `vtex-bridge ingress` (the production command: uvloop, its GC settings); yield port and pid."""
    port = free_port()
    env = {
        **os.environ,
        "KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap,
        "VTEX_BRIDGE_INPUT_TOPIC": topic,
        "VTEX_BRIDGE_INGRESS_PORT": str(port),
        "VTEX_BRIDGE_INGRESS_METRICS_PORT": str(free_port()),
        "VTEX_BRIDGE_INGRESS_HEADER_TIMEOUT_S": str(header_timeout_s),
        "VTEX_ACCOUNT": ACCOUNT,
        "VTEX_APP_KEY": APP_KEY,
        "VTEX_BRIDGE_HOOK_SECRET_HEADER": HEADER,
        "VTEX_BRIDGE_HOOK_SECRET": SECRET,
        "VTEX_BRIDGE_LOG_LEVEL": "WARNING",
        "VTEX_BRIDGE_INGRESS_WORKERS": "1",  # the memory measured is the one serving process's
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "bridge.cli", "ingress"], env=env, stdout=subprocess.DEVNULL
    )
    try:
        yield port, process.pid
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


def rss_mb(pid: int) -> float:
    """Resident memory of process `pid` in MiB."""
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS")


class TestManySlowConnections:
    """2,000 connections that dribble their heads: memory stays bounded, the server closes them all."""

    async def test_memory_bounded_and_all_cut(self, kafka_bootstrap: str) -> None:
        topic = unique("ingress-slowloris")
        await create_topics(kafka_bootstrap, topic, partitions=1)
        header_timeout_s = 12.0
        with ingress_process(kafka_bootstrap, topic, header_timeout_s) as (port, pid):

            async def up() -> bool:
                with contextlib.suppress(aiohttp.ClientError, OSError):
                    return [200] == await _post_hooks(port, 1, "warm")
                return False

            await wait_until(up, timeout=60, message="ingress serving")
            baseline = rss_mb(pid)
            connections: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = []
            started = time.monotonic()
            for _ in range(SLOW_CONNECTIONS // 200):
                batch = await asyncio.gather(
                    *(asyncio.open_connection("127.0.0.1", port) for _ in range(200))
                )
                for _, writer in batch:
                    writer.write(PARTIAL_HEAD + b"a" * 1024)
                connections.extend(batch)
            connected_s = time.monotonic() - started
            closed = [asyncio.create_task(reader.read()) for reader, _ in connections]
            try:
                peak = baseline
                while time.monotonic() - started < header_timeout_s - 2.0:
                    for _, writer in connections:
                        if not writer.is_closing():
                            writer.write(b"a")  # a byte now and then: never a complete head
                    peak = max(peak, rss_mb(pid))
                    await asyncio.sleep(0.5)
                # Genuine hooks are still served while the slow connections are held.
                assert [200, 200] == await _post_hooks(port, 2, "during")
                peak = max(peak, rss_mb(pid))
                results = await asyncio.wait_for(
                    asyncio.gather(*closed, return_exceptions=True), timeout=header_timeout_s + 30
                )
                cut_after_s = time.monotonic() - started
            finally:
                for task in closed:
                    task.cancel()
                for _, writer in connections:
                    writer.close()
        grown = peak - baseline
        print(
            f"\n{SLOW_CONNECTIONS} slow connections (opened in {connected_s:.1f} s): ingress RSS "
            f"{baseline:.1f} -> peak {peak:.1f} MiB (+{grown:.1f}, {grown * 1024 / SLOW_CONNECTIONS:.1f} "
            f"KiB each; bound {SLOW_CONNECTIONS_RSS_BOUND_MB:.0f} MiB); all cut after {cut_after_s:.1f} s "
            f"(header timeout {header_timeout_s:.0f} s)"
        )
        assert all(r == b"" or isinstance(r, ConnectionError) for r in results)
        assert grown < SLOW_CONNECTIONS_RSS_BOUND_MB
