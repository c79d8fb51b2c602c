"""Runtime knobs of a running simulator: chaos tests and `POST /_sim/controls` flip these live."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from simulator.config import SimConfig

_RATES = (
    "oms_429_rate",
    "oms_5xx_rate",
    "oms_timeout_rate",
    "duplicate_rate",
    "reorder_rate",
    "hook_failure_rate",
)


class InvalidControl(ValueError):
    """A control update named an unknown knob or gave it an out-of-range value."""


@dataclass(slots=True)
class Controls:
    """Mutable runtime knobs; rates are probabilities in [0, 1], durations real seconds."""

    oms_latency_s: float = 0.0
    oms_429_rate: float = 0.0
    oms_5xx_rate: float = 0.0
    oms_timeout_rate: float = 0.0
    duplicate_rate: float = 0.0
    reorder_rate: float = 0.0
    #: Probability that the simulated VTEX fails to reach the receiver at all (network fault).
    hook_failure_rate: float = 0.0
    #: When True the hook sender holds new deliveries (VTEX outage); they go out when resumed.
    hook_paused: bool = False
    #: Per-order OMS faults, order id -> "500" | "hang" | "oversized" (simulator/poison.py).
    oms_poison: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_config(cls, config: SimConfig) -> Controls:
        return cls(
            oms_latency_s=config.oms_latency_s,
            oms_429_rate=config.oms_429_rate,
            oms_5xx_rate=config.oms_5xx_rate,
            oms_timeout_rate=config.oms_timeout_rate,
            duplicate_rate=config.duplicate_rate,
            reorder_rate=config.reorder_rate,
        )

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def update(self, changes: dict[str, Any]) -> None:
        """Apply `changes` atomically: validate every value first, then set them all."""
        known = {f.name: f for f in dataclasses.fields(self)}
        validated: dict[str, Any] = {}
        for name, value in changes.items():
            if name not in known:
                raise InvalidControl(f"unknown control {name!r}")
            if name == "oms_poison":
                validated[name] = _poison(value)
                continue
            if name == "hook_paused":
                if not isinstance(value, bool):
                    raise InvalidControl("hook_paused must be a boolean")
                validated[name] = value
                continue
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise InvalidControl(f"{name} must be a number")
            if name in _RATES and not 0.0 <= value <= 1.0:
                raise InvalidControl(f"{name} must be between 0 and 1")
            if value < 0:
                raise InvalidControl(f"{name} must not be negative")
            validated[name] = float(value)
        for name, value in validated.items():
            setattr(self, name, value)


def _poison(value: Any) -> dict[str, str]:
    """Validate an `oms_poison` map: order ids to one of `simulator.poison.MODES`."""
    from simulator.poison import MODES

    if not isinstance(value, dict):
        raise InvalidControl("oms_poison must be an object of order id -> mode")
    for order_id, mode in value.items():
        if mode not in MODES:
            raise InvalidControl(f"oms_poison[{order_id!r}] must be one of {', '.join(MODES)}")
    return {str(k): str(v) for k, v in value.items()}
