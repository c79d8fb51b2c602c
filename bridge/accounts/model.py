"""What an account is (credentials, hook secrets, OMS budget, URL) and the error its configuration raises.

Plain frozen data with secrets as `SecretStr`, so an account can be handed to any component and shown
(`public_view`, token and secrets masked) without leaking a credential.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Final

from pydantic import SecretStr

MASK: Final = "**********"
#: Metric label of events whose account is not configured (no account name starts with `_`).
UNKNOWN_ACCOUNT_LABEL: Final = "_unknown"


class AccountsConfigError(ValueError):
    """The accounts configuration is unusable; the message names the entry/variable, never a secret."""


@dataclass(frozen=True, slots=True)
class Account:
    """One VTEX account: how to read its orders (appKey/appToken, budget, URL) and accept its hooks."""

    name: str
    app_key: str
    #: Empty where only hooks are received; `AccountRegistry.require_app_tokens` checks.
    app_token: SecretStr
    hook_header: str
    #: Zero (no hooks received for it), one, or two during a rotation.
    hook_secrets: tuple[SecretStr, ...]
    #: The account's OMS Get-order budget for the whole worker group (calls/s).
    oms_rate_limit_per_s: float
    #: Resolved, without a trailing `/`.
    base_url: str

    def public_view(self) -> dict[str, object]:
        """Return the account as plain data with the token and secrets masked (`vtex-bridge config`)."""
        return {
            "account": self.name,
            "app_key": self.app_key,
            "app_token": MASK if self.app_token.get_secret_value() else "",
            "header": self.hook_header,
            "secrets": [MASK for _ in self.hook_secrets],
            "oms_rate_limit_per_s": self.oms_rate_limit_per_s,
            "base_url": self.base_url,
        }


@dataclass(frozen=True, slots=True)
class AccountEntry:
    """An account and where it was configured, so that errors can name the place to fix."""

    account: Account
    #: `VTEX_ACCOUNT` or `<file> entry <n>`.
    where: str
    #: Where each hook secret was set, in the order of `account.hook_secrets`.
    secret_sources: tuple[str, ...] = field(default=())
