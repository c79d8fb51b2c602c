"""The VTEX accounts whose hooks the ingress accepts, and how they authenticate.

An account is accepted when the notification's `Origin.Account` and `Origin.Key` name it and the request
carries its custom header (configured in VTEX's `hook.headers`) with one of its secrets. Two secrets per
account let an operator rotate without dropping hooks: add the new one, reconfigure the hook in VTEX,
remove the old one.

The accounts are those of the one registry (`bridge.accounts`: the settings' own account plus the
accounts file) that have a hook secret; an account without one (e.g. one read only through its feed)
posts no hooks here.

Fail closed: unless `settings.profile` is `dev`, every secret must pass `bridge.secret_strength` (at
least 24 random-looking characters, no placeholder, not the public default), else the ingress does not
start and the error names the variable (or file entry) to set. In `dev` a weak secret is only warned of.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from pydantic import SecretStr

from bridge import accounts
from bridge.accounts import (
    MAX_SECRETS,
    Account,
    AccountRegistry,
    AccountsConfigError,
    check_secret_strength,
)
from bridge.settings import Settings

__all__ = [
    "MAX_SECRETS",
    "AccountsConfigError",
    "HookAccount",
    "check_secret_strength",
    "load_accounts",
    "read_accounts_file",
]


@dataclass(frozen=True, slots=True)
class HookAccount:
    """One VTEX account (and appKey) allowed to post hooks, with its header name and secrets."""

    account: str
    app_key: str
    header: str
    secrets: tuple[SecretStr, ...]

    def __post_init__(self) -> None:
        if not self.account or not self.app_key or not self.header:
            raise AccountsConfigError("an account needs a non-empty account, app_key and header")
        if not 1 <= len(self.secrets) <= MAX_SECRETS:
            raise AccountsConfigError(f"account {self.account!r} needs one or two secrets")
        if any(not s.get_secret_value() for s in self.secrets):
            raise AccountsConfigError(f"account {self.account!r} has an empty secret")

    @classmethod
    def of(cls, account: Account) -> HookAccount:
        return cls(account.name, account.app_key, account.hook_header, account.hook_secrets)


def load_accounts(settings: Settings) -> tuple[HookAccount, ...]:
    """Return every account whose hooks are accepted (raises `AccountsConfigError`, fail closed)."""
    return tuple(HookAccount.of(a) for a in AccountRegistry.from_settings(settings).hook_accounts())


def read_accounts_file(path: Path, default_header: str) -> list[HookAccount]:
    """Parse an accounts file alone (format in `bridge.accounts`): its accounts that have hook secrets."""
    entries = accounts.read_accounts_file(path, Settings(hook_secret_header=default_header))
    return [HookAccount.of(entry.account) for entry in entries if entry.account.hook_secrets]
