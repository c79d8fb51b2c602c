"""The VTEX account the bridge serves (the one-account shortcut) and the accounts file
(docs/accounts.md)."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator

from bridge.identifiers import account_name_problem
from bridge.settings.names import SIMULATOR_ACCOUNT, SIMULATOR_APP_KEY, SIMULATOR_APP_TOKEN, env_alias


class VtexSettings(BaseModel):
    """Settings of the one-account shortcut (a section of `bridge.settings.Settings`)."""

    model_config = ConfigDict(frozen=True)

    vtex_account: str = Field(default=SIMULATOR_ACCOUNT, validation_alias=env_alias("VTEX_ACCOUNT"))
    vtex_app_key: str = Field(default=SIMULATOR_APP_KEY, validation_alias=env_alias("VTEX_APP_KEY"))
    vtex_app_token: SecretStr = Field(
        default=SecretStr(SIMULATOR_APP_TOKEN), validation_alias=env_alias("VTEX_APP_TOKEN")
    )
    #: File holding the appToken (first line), read instead of `VTEX_APP_TOKEN` when set.
    vtex_app_token_file: Path | None = None
    #: Empty means the real VTEX URL for the account (`https://{account}.vtexcommercestable.com.br`).
    #: May hold `{account}` (a template for every account of the registry, bridge/accounts.py).
    vtex_base_url: str = Field(default="", validation_alias=env_alias("VTEX_BASE_URL"))
    vtex_environment: str = "vtexcommercestable"
    #: JSON file listing the VTEX accounts served besides (or instead of) the one above; format in
    #: docs/accounts.md. `VTEX_BRIDGE_HOOK_ACCOUNTS_FILE` (`hook_accounts_file`) is its older name.
    accounts_file: Path | None = None

    @field_validator("vtex_account", "vtex_environment")
    @classmethod
    def _host_label(cls, value: str) -> str:
        """The account and environment become labels of VTEX's host name: refuse anything else."""
        problem = account_name_problem(value)
        if problem is not None:
            raise ValueError(problem)
        return value

    def vtex_url(self) -> str:
        """Return the VTEX base URL: the configured one, else the account's real one."""
        if self.vtex_base_url:
            return self.vtex_base_url.replace("{account}", self.vtex_account).rstrip("/")
        return f"https://{self.vtex_account}.{self.vtex_environment}.com.br"
