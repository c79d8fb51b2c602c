"""`run_simulator(config)`: serve the simulator on loopback for the duration of an `async with`.

Used by the pytest fixtures, `vtex-bridge sim` and benchmarks. The handle gives the base URL and
direct access to the state, the runtime controls and the hook sender of the running instance; for a
simulator serving several accounts, `handle.account(name)` is the same view of one account (its
`base_url` ends in `/accounts/{name}`) and `base_url_template` is what a bridge's registry takes.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Final

from aiohttp import web

from simulator.clock import Clock
from simulator.config import SimConfig
from simulator.context import ACCOUNTS, SIMULATOR, Simulator
from simulator.controls import Controls
from simulator.sender import HookSender
from simulator.state import SimState
from simulator.workload import DEFAULT_START, Transition, Workload, generate_workload

SHUTDOWN_TIMEOUT_S: Final = 5.0


@dataclass(frozen=True, slots=True)
class SimHandle:
    """A running simulator."""

    base_url: str
    host: str
    port: int
    simulator: Simulator
    #: Every account served, by name, the primary one first.
    accounts: Mapping[str, Simulator] = field(default_factory=dict)

    @property
    def root_url(self) -> str:
        """The simulator's URL without an account prefix (where the primary account is served too)."""
        return f"http://{self.host}:{self.port}"

    @property
    def base_url_template(self) -> str:
        """The VTEX base URL of any account served: `{account}` stands for the account's name."""
        return f"{self.root_url}/accounts/{{account}}"

    @property
    def account_names(self) -> tuple[str, ...]:
        return tuple(self.accounts) or (self.config.account,)

    def account(self, name: str) -> SimHandle:
        """Return the handle of account `name` (KeyError naming the accounts served when unknown)."""
        if name not in self.accounts:
            raise KeyError(
                f"the simulator serves no account {name!r} (it serves {', '.join(self.account_names)})"
            )
        base = f"{self.root_url}/accounts/{name}"
        return SimHandle(base, self.host, self.port, self.accounts[name], self.accounts)

    def each_account(self) -> tuple[SimHandle, ...]:
        """Return one handle per account served, the primary one first."""
        return tuple(self.account(name) for name in self.account_names)

    @property
    def config(self) -> SimConfig:
        return self.simulator.config

    @property
    def state(self) -> SimState:
        return self.simulator.state

    @property
    def store(self) -> SimState:
        return self.simulator.state

    @property
    def sender(self) -> HookSender:
        return self.simulator.sender

    @property
    def controls(self) -> Controls:
        return self.simulator.controls

    @property
    def clock(self) -> Clock:
        return self.simulator.clock

    def workload(
        self,
        orders: int | None = None,
        *,
        mix: Mapping[str, float] | None = None,
        start: datetime | None = None,
    ) -> Workload:
        """Return the seeded workload of this simulator's config (defaults: config.orders and config.mix).

        `start` defaults to config.start_time, else the workload generator's fixed start.
        """
        count = self.config.orders if orders is None else orders
        chosen = mix if mix is not None else (dict(self.config.mix) or None)
        if start is None and self.config.start_time:
            start = datetime.fromisoformat(self.config.start_time)
        return generate_workload(self.config.seed, count, mix=chosen, start=start or DEFAULT_START)

    def emit(self, transition: Transition) -> None:
        """Apply one transition now (state, feed, hook) without pacing."""
        self.sender.emit(transition)

    def auth_headers(self) -> dict[str, str]:
        """Return the headers that authenticate as the main appKey."""
        return {"X-VTEX-API-AppKey": self.config.app_key, "X-VTEX-API-AppToken": self.config.app_token}


@contextlib.asynccontextmanager
async def run_simulator(
    config: SimConfig, host: str = "127.0.0.1", port: int = 0, *, clock: Clock | None = None
) -> AsyncIterator[SimHandle]:
    """Serve the simulator on `host:port` (0 = a free port) until the block exits."""
    from simulator.app import create_app

    app = create_app(config, clock)
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=SHUTDOWN_TIMEOUT_S)
    await runner.setup()
    try:
        site = web.TCPSite(runner, host, port)
        await site.start()
        bound = _bound_port(runner, port)
        accounts: dict[str, Simulator] = app[ACCOUNTS]
        yield SimHandle(f"http://{host}:{bound}", host, bound, app[SIMULATOR], accounts)
    finally:
        await runner.cleanup()


def _bound_port(runner: web.AppRunner, requested: int) -> int:
    for address in runner.addresses:
        if isinstance(address, tuple) and len(address) >= 2:
            return int(address[1])
    return requested
