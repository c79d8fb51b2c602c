"""The VTEX accounts whose hooks the ingress accepts, and how they authenticate.

An account is accepted when the notification's `Origin.Account` and `Origin.Key` name it and the request
carries its custom header (configured in VTEX's `hook.headers`) with one of its secrets. Two secrets per
account let an operator rotate without dropping hooks: add the new one, reconfigure the hook in VTEX,
remove the old one.

Accounts come from the settings (`vtex_account`, `vtex_app_key`, `hook_secret_header`, `hook_secret`,
`hook_secret_previous`) plus, optionally, a JSON file (`hook_accounts_file`), a list of objects:

    [{"account": "acme", "app_key": "vtexappkey-acme-ABC", "header": "X-Bridge-Secret",
      "secrets": ["new-secret", "old-secret"]}]

`header` is optional (defaults to `hook_secret_header`); `secrets` holds one or two non-empty strings.
`account` must be a VTEX account name (`bridge.identifiers`).

Fail closed: unless `settings.profile` is `dev`, every secret must pass `bridge.secret_strength` (at
least 24 random-looking characters, no placeholder, not the public default), else the ingress does not
start and the error names the variable (or file entry) to set. In `dev` a weak secret is only warned of.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import orjson
from pydantic import SecretStr

from bridge.identifiers import account_name_problem
from bridge.secret_strength import secret_problem, weak_secret_message
from bridge.settings import Settings

log = logging.getLogger(__name__)

MAX_SECRETS: Final = 2
_ALLOWED_KEYS: Final = frozenset({"account", "app_key", "header", "secrets"})


class AccountsConfigError(ValueError):
    """The accounts configuration is unusable; the message names the entry, never a secret."""


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
        problem = account_name_problem(self.account)
        if problem is not None:
            raise AccountsConfigError(f"account {self.account!r} {problem}")
        if not 1 <= len(self.secrets) <= MAX_SECRETS:
            raise AccountsConfigError(f"account {self.account!r} needs one or two secrets")
        if any(not s.get_secret_value() for s in self.secrets):
            raise AccountsConfigError(f"account {self.account!r} has an empty secret")


def load_accounts(settings: Settings) -> tuple[HookAccount, ...]:
    """Return every configured account: the settings' own (when it has a secret) and the file's."""
    accounts: list[HookAccount] = []
    named = [
        (name, secret)
        for name, secret in (
            ("VTEX_BRIDGE_HOOK_SECRET", settings.hook_secret),
            ("VTEX_BRIDGE_HOOK_SECRET_PREVIOUS", settings.hook_secret_previous),
        )
        if secret.get_secret_value()
    ]
    secrets = [secret for _, secret in named]
    if secrets:
        accounts.append(
            HookAccount(
                account=settings.vtex_account,
                app_key=settings.vtex_app_key,
                header=settings.hook_secret_header,
                secrets=tuple(secrets),
            )
        )
    if settings.hook_accounts_file is not None:
        from_file = read_accounts_file(settings.hook_accounts_file, settings.hook_secret_header)
        accounts.extend(from_file)
        named.extend(
            (f"secret {j + 1} of account {entry.account!r} in {settings.hook_accounts_file}", secret)
            for entry in from_file
            for j, secret in enumerate(entry.secrets)
        )
    seen: set[tuple[str, str]] = set()
    for entry in accounts:
        pair = (entry.account, entry.app_key)
        if pair in seen:
            raise AccountsConfigError(
                f"account {entry.account!r} with app key {entry.app_key!r} is listed twice"
            )
        seen.add(pair)
    if not accounts:
        raise AccountsConfigError("no hook account is configured (hook_secret is empty and no accounts file)")
    check_secret_strength(named, dev=settings.profile == "dev")
    return tuple(accounts)


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


def read_accounts_file(path: Path, default_header: str) -> list[HookAccount]:
    """Parse the accounts file (format in the module docstring)."""
    try:
        data = orjson.loads(path.read_bytes())
    except OSError as exc:
        raise AccountsConfigError(f"cannot read accounts file {path}: {exc.strerror}") from None
    except orjson.JSONDecodeError as exc:
        raise AccountsConfigError(f"accounts file {path} is not JSON: {exc}") from None
    if not isinstance(data, list):
        raise AccountsConfigError(f"accounts file {path} must hold a JSON list of accounts")
    return [_parse_entry(path, index, entry, default_header) for index, entry in enumerate(data)]


def _parse_entry(path: Path, index: int, entry: Any, default_header: str) -> HookAccount:
    where = f"{path} entry {index}"
    if not isinstance(entry, dict):
        raise AccountsConfigError(f"{where} must be an object")
    unknown = set(entry) - _ALLOWED_KEYS
    if unknown:
        raise AccountsConfigError(f"{where} has unknown keys {sorted(unknown)}")
    account, app_key = entry.get("account"), entry.get("app_key")
    header = entry.get("header", default_header)
    secrets = entry.get("secrets")
    if not all(isinstance(v, str) and v for v in (account, app_key, header)):
        raise AccountsConfigError(f"{where} needs non-empty strings account, app_key (and header)")
    if not isinstance(secrets, list) or not all(isinstance(s, str) for s in secrets):
        raise AccountsConfigError(f"{where} needs secrets: a list of one or two strings")
    try:
        return HookAccount(
            account=str(account), app_key=str(app_key), header=str(header), secrets=_secrets(secrets)
        )
    except AccountsConfigError as exc:
        raise AccountsConfigError(f"{where}: {exc}") from None


def _secrets(values: Sequence[str]) -> tuple[SecretStr, ...]:
    return tuple(SecretStr(v) for v in values)
