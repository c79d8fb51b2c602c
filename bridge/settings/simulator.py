"""The VTEX simulator (`vtex-bridge sim`, the tests and the demo)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class SimulatorSettings(BaseModel):
    """Settings of the simulator (a section of `bridge.settings.Settings`)."""

    model_config = ConfigDict(frozen=True)

    sim_host: str = "127.0.0.1"
    sim_port: int = 8090
    sim_seed: int = 42
    #: Orders `vtex-bridge sim` drives through their lifecycles once a hook or feed is configured.
    sim_orders: int = 100
    #: Lifecycle transitions per second (0 = as fast as possible).
    sim_rate_per_s: float = 10.0
    sim_oms_latency_s: float = 0.0
    sim_oms_429_rate: float = 0.0
    sim_oms_5xx_rate: float = 0.0
    sim_oms_timeout_rate: float = 0.0
    #: VTEX's documented Get-order throttle; 0 = unlimited.
    sim_rate_limit_per_minute: int = 6000
    #: VTEX seconds per real second (hook retry back-off, feed visibility/retention).
    sim_time_compression: float = 1.0
    #: Accept plain-http hook URLs on loopback (VTEX accepts https only); the local demo needs it.
    sim_allow_http_hooks: bool = False
    #: Host names besides loopback whose plain-http hook URLs the simulator accepts (JSON list, e.g.
    #: `["ingress"]` in docker-compose, where the ingress is not on loopback).
    sim_allow_http_hook_hosts: list[str] = Field(default_factory=list)
    sim_duplicate_rate: float = 0.0
    sim_reorder_rate: float = 0.0
    #: Delivery records the simulator keeps for `/_sim/deliveries` (the newest; its counts cover all).
    sim_delivery_records: int = Field(default=50_000, ge=1)
    #: Orders the simulated account holds at most (0 = no bound; past it the oldest-created is forgotten).
    sim_max_orders: int = Field(default=0, ge=0)
