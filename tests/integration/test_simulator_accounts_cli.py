"""`vtex-bridge sim --accounts`: one real process serving several accounts, each with its own workload."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import sys
from pathlib import Path

import aiohttp
import pytest

from simulator.config import SimAccount

pytestmark = pytest.mark.integration

STARTUP_TIMEOUT_S = 30.0
STOP_TIMEOUT_S = 15.0
FEED = {"queue": {"visibilityTimeoutInSeconds": 60, "messageRetentionPeriodInSeconds": 3600}}


async def _read_line(stream: asyncio.StreamReader, pattern: str) -> re.Match[str]:
    async with asyncio.timeout(STARTUP_TIMEOUT_S):
        while True:
            line = (await stream.readline()).decode()
            if not line:
                raise AssertionError(f"process ended before printing {pattern!r}")
            match = re.search(pattern, line)
            if match:
                return match


class TestSimAccounts:
    """`--accounts 2` serves the primary and `{primary}-2`; an account drives its orders once its own
    feed is configured, the other keeps waiting for its configuration."""

    async def test_two_accounts(self) -> None:
        exe = Path(sys.executable).with_name("vtex-bridge")
        env = {**os.environ, "VTEX_BRIDGE_SIM_ORDERS": "2", "VTEX_BRIDGE_LOG_LEVEL": "WARNING"}
        env.pop("VTEX_ACCOUNT", None)
        args = ["sim", "--port", "0", "--rate", "0", "--accounts", "2"]
        process = await asyncio.create_subprocess_exec(
            str(exe), *args, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL
        )
        try:
            assert process.stdout is not None
            base_url = (await _read_line(process.stdout, r"listening on (http://127\.0\.0\.1:\d+)")).group(1)
            second = (await _read_line(process.stdout, r"account (\S+) at (http://\S+) ")).groups()
            assert ("simaccount-2", f"{base_url}/accounts/simaccount-2") == second
            account = SimAccount.made_up("simaccount-2")
            auth = {"X-VTEX-API-AppKey": account.app_key, "X-VTEX-API-AppToken": account.app_token}
            async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as http:
                async with http.post(f"{second[1]}/api/orders/feed/config", json=FEED, headers=auth) as resp:
                    assert 200 == resp.status, await resp.text()
                await _read_line(process.stdout, r"account simaccount-2: workload emitted")
                async with http.get(f"{second[1]}/_sim/stats") as resp:
                    assert 2 == (await resp.json())["orders"]
                async with http.get(f"{base_url}/_sim/stats") as resp:
                    assert 0 == (await resp.json())["orders"]  # the primary waits for its own hook or feed
            process.send_signal(signal.SIGTERM)
            assert 0 == await asyncio.wait_for(process.wait(), STOP_TIMEOUT_S)
        finally:
            if process.returncode is None:
                process.kill()
                await process.wait()
