"""The runtime bundle of one simulator (state, clock, controls, sender, limiter) and its app key."""

from __future__ import annotations

import random
from collections import Counter
from dataclasses import dataclass, field

from aiohttp import web

from simulator.clock import Clock
from simulator.config import SimConfig
from simulator.controls import Controls
from simulator.rate_limit import RateLimiter
from simulator.sender import HookSender
from simulator.state import SimState


@dataclass(slots=True)
class Simulator:
    """Everything a running simulator holds; handlers reach it through `request.app[SIMULATOR]`."""

    config: SimConfig
    clock: Clock
    state: SimState
    controls: Controls
    sender: HookSender
    limiter: RateLimiter
    #: Chaos draws (OMS errors); seeded so a run with the same seed and requests fails the same way.
    chaos_rng: random.Random
    counters: Counter[str] = field(default_factory=Counter)

    @property
    def store(self) -> SimState:
        """Alias of `state` (orders, hook configs, feeds)."""
        return self.state


SIMULATOR = web.AppKey("simulator", Simulator)
#: On the root application: every account served, by name, the primary one first.
ACCOUNTS = web.AppKey("accounts", dict[str, Simulator])
