"""The one-account shortcut: the account the single-account variables describe.

`VTEX_ACCOUNT`, `VTEX_APP_KEY`, `VTEX_APP_TOKEN` (or `VTEX_BRIDGE_VTEX_APP_TOKEN_FILE`), the hook secret
header and secrets and `VTEX_BASE_URL`. Next to an accounts file this account counts only when one of
them was set explicitly, so a file-only deployment does not also serve the simulator's default account.
"""

from __future__ import annotations

from typing import Final

from pydantic import SecretStr

from bridge.accounts.model import Account, AccountEntry, AccountsConfigError
from bridge.accounts.values import (
    check_base_url,
    positive_rate,
    read_token_file,
    real_base_url,
    resolve_base_url,
)
from bridge.settings import Settings, VtexSettings

#: Settings fields that, set explicitly next to an accounts file, add the settings' own account.
_OWN_ACCOUNT_FIELDS: Final = ("vtex_account", "vtex_app_key", "vtex_app_token", "vtex_app_token_file")


def own_app_token(settings: VtexSettings) -> SecretStr:
    """Return the settings' own appToken: the first line of `VTEX_BRIDGE_VTEX_APP_TOKEN_FILE`, else
    `VTEX_APP_TOKEN` (raises `AccountsConfigError` for an unreadable or empty file)."""
    if settings.vtex_app_token_file is None:
        return settings.vtex_app_token
    return SecretStr(read_token_file(settings.vtex_app_token_file, "VTEX_BRIDGE_VTEX_APP_TOKEN_FILE"))


def own_account_given(settings: Settings) -> bool:
    """Whether the single-account variables were set next to an accounts file (else only the file counts)."""
    given = settings.model_fields_set
    if any(name in given for name in _OWN_ACCOUNT_FIELDS):
        return True
    secrets = (settings.hook_secret, settings.hook_secret_previous)
    return "hook_secret" in given and any(s.get_secret_value() for s in secrets)


def own_entry(settings: Settings) -> AccountEntry:
    """Return the account the single-account variables describe (`VTEX_ACCOUNT` and the rest)."""
    name = settings.vtex_account  # validated by Settings
    configured = settings.vtex_base_url
    base_url = (
        resolve_base_url(configured, name) if configured else real_base_url(name, settings.vtex_environment)
    )
    check_base_url(base_url, "VTEX_BASE_URL")
    token = own_app_token(settings)
    named = [
        (variable, secret)
        for variable, secret in (
            ("VTEX_BRIDGE_HOOK_SECRET", settings.hook_secret),
            ("VTEX_BRIDGE_HOOK_SECRET_PREVIOUS", settings.hook_secret_previous),
        )
        if secret.get_secret_value()
    ]
    if not settings.vtex_app_key:
        raise AccountsConfigError("VTEX_APP_KEY must not be empty")
    if not settings.hook_secret_header:
        raise AccountsConfigError("VTEX_BRIDGE_HOOK_SECRET_HEADER must not be empty")
    account = Account(
        name=name,
        app_key=settings.vtex_app_key,
        app_token=token,
        hook_header=settings.hook_secret_header,
        hook_secrets=tuple(secret for _, secret in named),
        oms_rate_limit_per_s=positive_rate(settings.oms_rate_limit_per_s, "VTEX_BRIDGE_OMS_RATE_LIMIT_PER_S"),
        base_url=base_url,
    )
    return AccountEntry(account, "VTEX_ACCOUNT", tuple(variable for variable, _ in named))
