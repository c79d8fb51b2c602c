"""The operator console, served by every worker on its own port (docs/console.md)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, SecretStr


class ConsoleSettings(BaseModel):
    """Settings of the operator console (a section of `bridge.settings.Settings`)."""

    model_config = ConfigDict(frozen=True)

    #: Listen address and port of the console's page and API (not /metrics: that is worker_web_port).
    console_host: str = "127.0.0.1"
    console_port: int = 6067
    #: Bearer token for reads and replay. Required outside the dev profile: 24+ random characters.
    console_admin_token: SecretStr = SecretStr("")
    #: Bearer token for reads only (optional; the same rule when set).
    console_read_token: SecretStr = SecretStr("")
    #: Header an authenticating reverse proxy puts the user's identity in (e.g. `X-Forwarded-User`);
    #: empty = not used. Believed only from `console_proxy_trusted_sources`.
    console_proxy_user_header: str = ""
    #: IPs or networks (JSON list, e.g. `["10.0.5.0/24"]`) the proxy connects from.
    console_proxy_trusted_sources: list[str] = Field(default_factory=list)
    #: Host names the console answers to besides loopback names and worker_advertised_url's host
    #: (JSON list, e.g. `["console.example.com"]`); any other Host header gets 421.
    console_allowed_hosts: list[str] = Field(default_factory=list)
