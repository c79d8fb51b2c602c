"""`create_app(config)`: the aiohttp application serving every simulated VTEX endpoint.

One process serves several VTEX accounts: each account is a whole simulator (`Simulator`: orders, hook,
feed, rate limit, chaos knobs, hook sender) mounted as a sub-application under `/accounts/{account}/`,
so a bridge reaches account X at the base URL `http://HOST:PORT/accounts/X` (the registry's
`{account}` template). The root serves the primary account (`config.account`) too, so single-account
clients keep working unprefixed. A Host header `X.…` selects account X as VTEX's own host names do
(`simulator.hosts`). `GET /_sim/accounts` lists the accounts served.

Each runtime bundle sits under the typed key `simulator.context.SIMULATOR` of its (sub-)application;
each hook sender's HTTP session opens and closes with the app (`cleanup_ctx`), and its deliveries are
cancelled on shutdown. All accounts share one clock, so compressed time runs alike for all of them.
"""

from __future__ import annotations

import random
from collections.abc import AsyncIterator
from functools import partial

from aiohttp import web

from simulator import control_api, feed_api, hook_config, metrics, oms, oms_list
from simulator.accounts_api import ACCOUNT_PREFIX, list_accounts, unknown_account
from simulator.clock import Clock, CompressedClock
from simulator.config import SimConfig
from simulator.context import ACCOUNTS, SIMULATOR, Simulator
from simulator.controls import Controls
from simulator.hosts import serve_by_host
from simulator.http_util import vtex_errors
from simulator.rate_limit import RateLimiter
from simulator.sender import HookSender
from simulator.state import SimState


def build_simulator(config: SimConfig, clock: Clock | None = None) -> Simulator:
    """Return a fresh runtime bundle for `config`'s primary account (the sender is started by the app)."""
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
    clock = clock or CompressedClock(config.time_compression)
    primary = build_simulator(config, clock)
    app = web.Application(middlewares=[vtex_errors])
    _serve_account(app, primary, owner=True)
    accounts = {config.account: primary}
    for account in config.accounts:
        accounts[account.name] = build_simulator(config.for_account(account), clock)
    app[ACCOUNTS] = accounts
    app.router.add_get("/_sim/accounts", list_accounts)
    for name, sim in accounts.items():
        # The primary account is also reachable by prefix: one base-URL template serves every account.
        sub = web.Application()
        _serve_account(sub, sim, owner=sim is not primary)
        app.add_subapp(f"{ACCOUNT_PREFIX}{name}/", sub)
    app.router.add_route("*", ACCOUNT_PREFIX + "{account}/{tail:.*}", unknown_account)
    serve_by_host(app, accounts, partial(_serve_account, owner=False))
    return app


def _serve_account(app: web.Application, sim: Simulator, *, owner: bool) -> None:
    """Add one account's endpoints to `app`; the `owner` app opens and closes the account's sender."""
    app[SIMULATOR] = sim
    for table in (oms.routes, oms_list.routes, hook_config.routes, feed_api.routes, control_api.routes):
        app.router.add_routes(table)
    metrics.install(app)
    if owner:
        app.cleanup_ctx.append(_sender_lifecycle)


async def _sender_lifecycle(app: web.Application) -> AsyncIterator[None]:
    sender = app[SIMULATOR].sender
    await sender.open()
    try:
        yield
    finally:
        await sender.close()
