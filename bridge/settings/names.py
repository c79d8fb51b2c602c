"""Environment-variable naming shared by every settings section, and the simulator's credentials."""

from __future__ import annotations

from pydantic import AliasChoices

ENV_PREFIX = "VTEX_BRIDGE_"

#: Credentials of the embedded simulator; only ever used against loopback.
SIMULATOR_ACCOUNT = "simaccount"
SIMULATOR_APP_KEY = "vtexappkey-simaccount-BRIDGE"
SIMULATOR_APP_TOKEN = "sim-app-token-not-a-secret"


def env_alias(name: str) -> AliasChoices:
    """Accept `NAME` with our prefix and, for ecosystem-wide names, without it."""
    return AliasChoices(f"{ENV_PREFIX}{name}", name)
