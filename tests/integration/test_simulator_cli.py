"""`vtex-bridge sim` as users run it: a real process that serves, configures its hook, drives orders,
answers `/_sim/stats`, and stops cleanly on SIGTERM."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import sys
from pathlib import Path

import aiohttp
import pytest

from testkit.kafka import wait_until
from tests.support.sim import HookReceiver

pytestmark = pytest.mark.integration

STARTUP_TIMEOUT_S = 30.0
STOP_TIMEOUT_S = 15.0


async def _read_line(stream: asyncio.StreamReader, pattern: str) -> re.Match[str]:
    async with asyncio.timeout(STARTUP_TIMEOUT_S):
        while True:
            line = (await stream.readline()).decode()
            if not line:
                raise AssertionError(f"process ended before printing {pattern!r}")
            match = re.search(pattern, line)
            if match:
                return match


class TestSimCommand:
    """The command serves on the given address, drives its orders to the hook and exits 0 on SIGTERM."""

    async def test_serve_drive_stop(self, hook_receiver: HookReceiver) -> None:
        exe = Path(sys.executable).with_name("vtex-bridge")
        env = {**os.environ, "VTEX_BRIDGE_SIM_ORDERS": "3", "VTEX_BRIDGE_LOG_LEVEL": "WARNING"}
        args = ["sim", "--port", "0", "--rate", "0", "--allow-http-hooks", "--seed", "5"]
        args += ["--hook-url", hook_receiver.url, "--hook-header", "X-Bridge-Secret=s3cret"]
        process = await asyncio.create_subprocess_exec(
            str(exe), *args, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL
        )
        try:
            assert process.stdout is not None
            match = await _read_line(process.stdout, r"listening on (http://127\.0\.0\.1:\d+)")
            base_url = match.group(1)
            await _read_line(process.stdout, r"workload emitted")
            async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as http:

                async def all_accepted() -> bool:
                    async with http.get(f"{base_url}/_sim/stats") as resp:
                        stats = await resp.json()
                    sender = stats["sender"]
                    return bool(sender["notifications"]) and sender["accepted"] == sender["notifications"]

                await wait_until(all_accepted, timeout=30, message="every notification accepted")
                async with http.get(f"{base_url}/_sim/stats") as resp:
                    stats = await resp.json()
            assert 3 == stats["orders"]
            assert len(hook_receiver.accepted_bodies()) == stats["sender"]["accepted"]
            assert 1 == len(hook_receiver.pings)
            assert {"s3cret"} == {r.headers["X-Bridge-Secret"] for r in hook_receiver.received}
            process.send_signal(signal.SIGTERM)
            assert 0 == await asyncio.wait_for(process.wait(), STOP_TIMEOUT_S)
        finally:
            if process.returncode is None:
                process.kill()
                await process.wait()
