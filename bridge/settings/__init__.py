"""Typed, frozen configuration read once per process from the environment.

Every component (ingress, worker, simulator, CLI, feed poller) receives a `Settings` object built by
`load_settings()`; nothing else in the code base reads `os.environ`. `Settings` is composed of one
section per component (`KafkaSettings`, `WorkerSettings`, ...; a module each in this package): a
component that needs one section only takes that section's type, so the type checker shows what it
reads, while the environment variables and attribute names stay flat (`VTEX_BRIDGE_WORKER_APP_ID` is
`settings.worker_app_id`) — the names operators already use. All variables share the prefix
`VTEX_BRIDGE_`; the few names that the wider ecosystem already uses (`KAFKA_BOOTSTRAP_SERVERS`,
`VTEX_ACCOUNT`, `VTEX_APP_KEY`, `VTEX_APP_TOKEN`) are accepted without it. Defaults are safe for local
use: loopback addresses, the embedded simulator's credentials, small limits. Secrets are `SecretStr`, so
they never show in `repr`, logs or `vtex-bridge config`.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from bridge.settings.console import ConsoleSettings
from bridge.settings.control import ControlSettings
from bridge.settings.ingress import IngressSettings
from bridge.settings.kafka import KafkaSettings
from bridge.settings.names import ENV_PREFIX, SIMULATOR_ACCOUNT, SIMULATOR_APP_KEY, SIMULATOR_APP_TOKEN
from bridge.settings.process import ProcessSettings
from bridge.settings.simulator import SimulatorSettings
from bridge.settings.topics import TopicsSettings
from bridge.settings.tracing import TracingSettings
from bridge.settings.vtex import VtexSettings
from bridge.settings.worker import WorkerSettings

__all__ = [
    "ENV_PREFIX",
    "SIMULATOR_ACCOUNT",
    "SIMULATOR_APP_KEY",
    "SIMULATOR_APP_TOKEN",
    "ConsoleSettings",
    "ControlSettings",
    "IngressSettings",
    "KafkaSettings",
    "ProcessSettings",
    "Settings",
    "SimulatorSettings",
    "TopicsSettings",
    "TracingSettings",
    "VtexSettings",
    "WorkerSettings",
    "load_settings",
]


# Bases listed last-first: pydantic collects fields from the last base on, so `vtex-bridge config`
# lists Kafka first and tracing last.
class Settings(
    TracingSettings,
    ProcessSettings,
    ControlSettings,
    SimulatorSettings,
    ConsoleSettings,
    WorkerSettings,
    IngressSettings,
    VtexSettings,
    TopicsSettings,
    KafkaSettings,
    BaseSettings,
):
    """All configuration of the bridge: every section, read from the environment at once."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        frozen=True,
        extra="ignore",
        populate_by_name=True,
    )

    def public_view(self) -> dict[str, object]:
        """Return the settings as plain data with every secret masked, for `vtex-bridge config`."""
        view: dict[str, object] = {}
        for name, value in self.model_dump().items():
            if isinstance(value, SecretStr):
                view[name] = "**********" if value.get_secret_value() else ""
            elif isinstance(value, Path):
                view[name] = str(value)
            else:
                view[name] = value
        return view


def load_settings(**overrides: object) -> Settings:
    """Read the environment once; `overrides` (by field name) win, which is what tests use."""
    settings = Settings(**overrides)  # type: ignore[arg-type]
    if "kafka_embedded" not in overrides:
        embedded = not _bootstrap_given()
        settings = settings.model_copy(update={"kafka_embedded": embedded})
    return settings


def _bootstrap_given() -> bool:
    """Tell whether the caller named a Kafka cluster (the one place besides pydantic to read env)."""
    import os

    return bool(
        os.environ.get("KAFKA_BOOTSTRAP_SERVERS") or os.environ.get(f"{ENV_PREFIX}KAFKA_BOOTSTRAP_SERVERS")
    )
