"""What every process shares: the profile, the demo (`vtex-bridge dev`), the event loop, GC and logs."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class ProcessSettings(BaseModel):
    """Settings of what every process shares (a section of `bridge.settings.Settings`)."""

    model_config = ConfigDict(frozen=True)

    #: `production` (the default) or `dev`. Outside `dev` the ingress refuses to start unless every hook
    #: secret is at least 24 random-looking characters (docs/ingress.md, "Secrets"); `vtex-bridge dev`
    #: (`make run`) sets `dev` for the services it starts when it runs the simulator.
    profile: Literal["production", "dev"] = "production"

    #: Orders the demo's simulator drives through their lifecycles (0 = keep going until Ctrl-C).
    dev_orders: int = 0
    dev_rate_per_s: float = 20.0
    dev_workers: int = 1
    dev_refresh_s: float = 1.0
    #: Public URL VTEX should call for the ingress when running against a real account.
    dev_public_hook_url: str = ""

    #: Event loop of the services: uvloop cuts the loop's and the transports' share of CPU per event;
    #: `asyncio` is the standard library's, for debugging or a platform without uvloop.
    event_loop: Literal["uvloop", "asyncio"] = "uvloop"
    #: `gc.set_threshold` of the services. The default (700, 10, 10) runs a full collection every few
    #: thousand events once the heap holds the de-dup state, which cost the worker ~20 % of its CPU.
    gc_thresholds: tuple[int, int, int] = (50_000, 20, 100)

    log_level: str = "INFO"
    log_format: Literal["json", "text"] = "json"
    #: A warning or error repeated with the same message passes once per this many seconds, carrying how
    #: many were held back (`repeats_suppressed`); 0 = log every one (bridge.log_filters).
    log_repeat_interval_s: float = Field(default=10.0, ge=0.0)
