"""pytest fixtures for the VTEX simulator: a running simulator on a free port and a hook receiver.

- `sim`: a simulator with the default config (plus http hooks allowed on loopback), function scope.
- `sim_factory`: `await sim_factory(clock=..., **SimConfig fields)` starts more, all stopped at teardown.
- `hook_receiver`: a recording HTTP endpoint on loopback whose answers a test scripts (status codes,
  delays), standing in for the bridge's ingress in simulator tests.
Registered in `tests/conftest.py` through `pytest_plugins`.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import orjson
import pytest
from aiohttp import web

from simulator.clock import Clock
from simulator.config import SimConfig
from simulator.server import SimHandle, run_simulator

#: Fixture defaults that differ from a production-faithful `SimConfig`: tests post hooks to http loopback.
FIXTURE_DEFAULTS: dict[str, Any] = {"allow_http_hooks": True}

SimFactory = Callable[..., Awaitable[SimHandle]]


@pytest.fixture
async def sim_factory() -> AsyncIterator[SimFactory]:
    """Return `start(clock=None, **config_overrides) -> SimHandle`; every simulator stops at teardown."""
    async with contextlib.AsyncExitStack() as stack:

        async def start(clock: Clock | None = None, **overrides: Any) -> SimHandle:
            config = SimConfig(**{**FIXTURE_DEFAULTS, **overrides})
            return await stack.enter_async_context(run_simulator(config, clock=clock))

        yield start


@pytest.fixture
async def sim(sim_factory: SimFactory) -> SimHandle:
    """Return a running simulator with the default configuration on a free loopback port."""
    return await sim_factory()


@dataclass
class Received:
    """One request the hook receiver got."""

    body: Any
    headers: dict[str, str]
    status: int


@dataclass
class HookReceiver:
    """A loopback HTTP endpoint that records requests and answers as scripted.

    `script` holds the next answers as (status, delay_s); when empty every request gets
    `default_status` at once. Pings (`{"hookConfig":"ping"}`) go to `pings`, the rest to `received`.
    """

    default_status: int = 200
    script: deque[tuple[int, float]] = field(default_factory=deque)
    ping_status: int = 200
    received: list[Received] = field(default_factory=list)
    pings: list[Received] = field(default_factory=list)
    url: str = ""

    async def handle(self, request: web.Request) -> web.Response:
        body = orjson.loads(await request.read())
        if body == {"hookConfig": "ping"}:
            self.pings.append(Received(body, dict(request.headers), self.ping_status))
            return web.Response(status=self.ping_status)
        status, delay = self.script.popleft() if self.script else (self.default_status, 0.0)
        if delay:
            await asyncio.sleep(delay)
        self.received.append(Received(body, dict(request.headers), status))
        return web.Response(status=status)

    def accepted_bodies(self) -> list[Any]:
        return [r.body for r in self.received if r.status == 200]


@pytest.fixture
async def hook_receiver() -> AsyncIterator[HookReceiver]:
    """Return a running `HookReceiver` (its `url` is set) stopped at teardown."""
    receiver = HookReceiver()
    app = web.Application()
    app.router.add_post("/hook", receiver.handle)
    runner = web.AppRunner(app, shutdown_timeout=1.0)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = next(a[1] for a in runner.addresses if isinstance(a, tuple))
    receiver.url = f"http://127.0.0.1:{port}/hook"
    try:
        yield receiver
    finally:
        await runner.cleanup()
