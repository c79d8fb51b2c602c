"""Shared helpers of the simulator's contract tests: an HTTP client session and VTEX auth headers."""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import pytest

from bridge.settings import SIMULATOR_APP_KEY, SIMULATOR_APP_TOKEN

AUTH = {"X-VTEX-API-AppKey": SIMULATOR_APP_KEY, "X-VTEX-API-AppToken": SIMULATOR_APP_TOKEN}
BAD_AUTH = {"X-VTEX-API-AppKey": SIMULATOR_APP_KEY, "X-VTEX-API-AppToken": "wrong"}


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    timeout = aiohttp.ClientTimeout(total=10)
    async with aiohttp.ClientSession(timeout=timeout) as session:
        yield session
