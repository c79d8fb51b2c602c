"""`create_app(config)`: the aiohttp application serving every simulated VTEX endpoint.

The runtime bundle (`Simulator`) sits under the typed key `simulator.context.SIMULATOR`; the hook
sender's HTTP session opens and closes with the app (`cleanup_ctx`), and its deliveries are cancelled
on shutdown.
"""

from __future__ import annotations

import random
from collections.abc import AsyncIterator

from aiohttp import web

from simulator import control_api, feed_api, hook_config, metrics, oms, oms_list
from simulator.clock import Clock, CompressedClock
from simulator.config import SimConfig
from simulator.context import SIMULATOR, Simulator
from simulator.controls import Controls
from simulator.http_util import vtex_errors
from simulator.rate_limit import RateLimiter
from simulator.sender import HookSender
from simulator.state import SimState


def build_simulator(config: SimConfig, clock: Clock | None = None) -> Simulator:
    """Return a fresh runtime bundle for `config` (the sender is started by the app)."""
    clock = clock or CompressedClock(config.time_compression)
    state = SimState(config, clock)
    controls = Controls.from_config(config)
    return Simulator(
        config=config,
        clock=clock,
        state=state,
        controls=controls,
        sender=HookSender(state, controls, clock, config),
        limiter=RateLimiter(config.rate_limit_per_minute),
        chaos_rng=random.Random(f"chaos:{config.seed}"),
    )


def create_app(config: SimConfig, clock: Clock | None = None) -> web.Application:
    """Build the simulator application; `clock` defaults to real time compressed by the config."""
    app = web.Application(middlewares=[vtex_errors])
    app[SIMULATOR] = build_simulator(config, clock)
    for table in (oms.routes, oms_list.routes, hook_config.routes, feed_api.routes, control_api.routes):
        app.router.add_routes(table)
    metrics.install(app)
    app.cleanup_ctx.append(_sender_lifecycle)
    return app


async def _sender_lifecycle(app: web.Application) -> AsyncIterator[None]:
    sender = app[SIMULATOR].sender
    await sender.open()
    try:
        yield
    finally:
        await sender.close()
