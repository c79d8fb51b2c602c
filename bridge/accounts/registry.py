"""The configured accounts in order, and the checks each component asks of them (fail closed).

`AccountRegistry.from_settings` combines the settings' own account (`own_account`) and the accounts
file (`accounts_file`); repeated accounts are refused here. Components then ask what they need:
`require_app_tokens()` (OMS readers), `hook_accounts()` (the ingress: accounts with hook secrets,
which must be strong outside the `dev` profile) and `require_hook_secrets()`.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence

from pydantic import SecretStr

from bridge.accounts.accounts_file import accounts_file, read_accounts_file
from bridge.accounts.model import Account, AccountEntry, AccountsConfigError
from bridge.accounts.own_account import own_account_given, own_entry
from bridge.secret_strength import secret_problem, weak_secret_message
from bridge.settings import Settings

#: The package's one logger name (operators filter on it).
log = logging.getLogger("bridge.accounts")


class AccountRegistry:
    """The configured accounts, in order: the settings' own first (when configured), then the file's."""

    def __init__(self, entries: Sequence[AccountEntry], *, dev: bool = False) -> None:
        if not entries:
            raise AccountsConfigError(
                "no VTEX account is configured: set VTEX_ACCOUNT (and its credentials) "
                "or VTEX_BRIDGE_ACCOUNTS_FILE"
            )
        seen: dict[str, str] = {}
        for entry in entries:
            name = entry.account.name
            if name in seen:
                raise AccountsConfigError(
                    f"account {name!r} is configured twice ({seen[name]} and {entry.where}); "
                    "an account has one entry (one appKey for its OMS reads and its hook)"
                )
            seen[name] = entry.where
        self._entries = tuple(entries)
        self._by_name = {entry.account.name: entry for entry in self._entries}
        self._dev = dev
        self.default: Account = self._entries[0].account

    @classmethod
    def from_settings(cls, settings: Settings) -> AccountRegistry:
        """Build the registry from the settings and the accounts file (raises `AccountsConfigError`)."""
        path = accounts_file(settings)
        entries: list[AccountEntry] = []
        if path is None or own_account_given(settings):
            entries.append(own_entry(settings))
        if path is not None:
            entries.extend(read_accounts_file(path, settings))
        return cls(entries, dev=settings.profile == "dev")

    def get(self, name: str) -> Account | None:
        entry = self._by_name.get(name)
        return entry.account if entry is not None else None

    def names(self) -> tuple[str, ...]:
        return tuple(entry.account.name for entry in self._entries)

    def __iter__(self) -> Iterator[Account]:
        return iter(entry.account for entry in self._entries)

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, name: object) -> bool:
        return name in self._by_name

    def __repr__(self) -> str:
        return f"AccountRegistry(names={self.names()!r}, default={self.default.name!r})"

    def select(self, account: str | None, *, all_accounts: bool = False) -> tuple[Account, ...]:
        """Return the accounts a command's `--account NAME` / `--all-accounts` name (default: the default)."""
        if all_accounts:
            if account is not None:
                raise AccountsConfigError("--account and --all-accounts exclude each other")
            return tuple(self)
        if account is None:
            return (self.default,)
        found = self.get(account)
        if found is None:
            raise AccountsConfigError(f"unknown account {account!r}; configured: {', '.join(self.names())}")
        return (found,)

    def require_app_tokens(self) -> None:
        """Refuse a registry in which an account has no appToken (every OMS reader needs all of them)."""
        for entry in self._entries:
            if not entry.account.app_token.get_secret_value():
                raise AccountsConfigError(f"account {entry.account.name!r} ({entry.where}) has no app token")

    def require_hook_secrets(self) -> None:
        """Refuse a registry in which an account has no hook secret, or (outside dev) a weak one."""
        for entry in self._entries:
            if not entry.account.hook_secrets:
                raise AccountsConfigError(
                    f"account {entry.account.name!r} ({entry.where}) has no hook secret"
                )
        self._check_secret_strength(self._entries)

    def hook_accounts(self) -> tuple[Account, ...]:
        """Return the accounts whose hooks are accepted (those with a secret), fail closed on weak ones."""
        with_secrets = [entry for entry in self._entries if entry.account.hook_secrets]
        if not with_secrets:
            raise AccountsConfigError(
                "no hook account is configured (hook_secret is empty and no accounts file)"
            )
        self._check_secret_strength(with_secrets)
        return tuple(entry.account for entry in with_secrets)

    def public_view(self) -> list[dict[str, object]]:
        """Return every account with its token and secrets masked, the default marked."""
        return [{**account.public_view(), "default": account is self.default} for account in self]

    def _check_secret_strength(self, entries: Sequence[AccountEntry]) -> None:
        named = [
            (where, secret)
            for entry in entries
            for where, secret in zip(entry.secret_sources, entry.account.hook_secrets, strict=True)
        ]
        check_secret_strength(named, dev=self._dev)


def check_secret_strength(named: Sequence[tuple[str, SecretStr]], *, dev: bool) -> None:
    """Refuse (or, in the dev profile, warn of) every weak secret; `named` pairs where it is set with it."""
    for where, secret in named:
        problem = secret_problem(secret.get_secret_value())
        if problem is None:
            continue
        if not dev:
            raise AccountsConfigError(weak_secret_message(where, problem))
        extra = {"where": where, "problem": problem}
        log.warning("weak hook secret accepted because VTEX_BRIDGE_PROFILE=dev", extra=extra)
