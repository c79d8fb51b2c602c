"""The accounts file (`VTEX_BRIDGE_ACCOUNTS_FILE`): a JSON list of accounts, parsed and checked at start.

The format is in `bridge.accounts`. Every entry keeps where it came from (`<file> entry <n>`), so an
error names the entry to fix; unknown keys, bad names, unreadable token files are refused.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any, Final

import orjson
from pydantic import SecretStr

from bridge.accounts.model import Account, AccountEntry, AccountsConfigError
from bridge.accounts.values import (
    ACCOUNT_PLACEHOLDER,
    check_base_url,
    positive_rate,
    read_token_file,
    real_base_url,
    resolve_base_url,
)
from bridge.identifiers import account_name_problem
from bridge.settings import Settings, VtexSettings

MAX_SECRETS: Final = 2
_ALLOWED_KEYS: Final = frozenset(
    {
        "account",
        "app_key",
        "app_token",
        "app_token_file",
        "header",
        "secrets",
        "oms_rate_limit_per_s",
        "base_url",
    }
)


def accounts_file(settings: Settings) -> Path | None:
    """Return the accounts file (`accounts_file`, or its older name `hook_accounts_file`), if any."""
    new, old = settings.accounts_file, settings.hook_accounts_file
    if new is not None and old is not None and new != old:
        raise AccountsConfigError(
            "VTEX_BRIDGE_ACCOUNTS_FILE and VTEX_BRIDGE_HOOK_ACCOUNTS_FILE name different files; "
            "set only VTEX_BRIDGE_ACCOUNTS_FILE"
        )
    return new if new is not None else old


def read_accounts_file(path: Path, settings: Settings) -> list[AccountEntry]:
    """Parse the accounts file (format in the module docstring); entries keep where they came from."""
    try:
        data = orjson.loads(path.read_bytes())
    except OSError as exc:
        raise AccountsConfigError(f"cannot read accounts file {path}: {exc.strerror}") from None
    except orjson.JSONDecodeError as exc:
        raise AccountsConfigError(f"accounts file {path} is not JSON: {exc}") from None
    if not isinstance(data, list):
        raise AccountsConfigError(f"accounts file {path} must hold a JSON list of accounts")
    return [_parse_entry(path, index, entry, settings) for index, entry in enumerate(data)]


def _parse_entry(path: Path, index: int, entry: Any, settings: Settings) -> AccountEntry:
    where = f"{path} entry {index}"
    if not isinstance(entry, dict):
        raise AccountsConfigError(f"{where} must be an object")
    unknown = set(entry) - _ALLOWED_KEYS
    if unknown:
        raise AccountsConfigError(f"{where} has unknown keys {sorted(unknown)}")
    name, app_key = entry.get("account"), entry.get("app_key")
    header = entry.get("header", settings.hook_secret_header)
    if not all(isinstance(v, str) and v for v in (name, app_key, header)):
        raise AccountsConfigError(f"{where} needs non-empty strings account, app_key (and header)")
    assert isinstance(name, str) and isinstance(app_key, str) and isinstance(header, str)
    problem = account_name_problem(name)
    if problem is not None:
        raise AccountsConfigError(f"{where}: account {name!r} {problem}")
    entry_where, where = where, f"{where} (account {name!r})"
    secrets = _secrets(entry, where)
    base_url = _entry_base_url(entry, name, settings, where)
    rate = entry.get("oms_rate_limit_per_s", settings.oms_rate_limit_per_s)
    account = Account(
        name=name,
        app_key=app_key,
        app_token=_entry_token(entry, path, where),
        hook_header=header,
        hook_secrets=secrets,
        oms_rate_limit_per_s=positive_rate(rate, f"{where} oms_rate_limit_per_s"),
        base_url=base_url,
    )
    sources = tuple(f"secret {j + 1} of account {name!r} in {path}" for j in range(len(secrets)))
    return AccountEntry(account, entry_where, sources)


def _secrets(entry: Mapping[str, Any], where: str) -> tuple[SecretStr, ...]:
    if "secrets" not in entry:
        return ()
    values = entry["secrets"]
    if not isinstance(values, list) or not all(isinstance(s, str) for s in values):
        raise AccountsConfigError(f"{where} needs secrets: a list of one or two strings")
    if not 1 <= len(values) <= MAX_SECRETS:
        raise AccountsConfigError(f"{where} needs one or two secrets (or no `secrets` key)")
    if any(not value for value in values):
        raise AccountsConfigError(f"{where} has an empty secret")
    return tuple(SecretStr(value) for value in values)


def _entry_token(entry: Mapping[str, Any], path: Path, where: str) -> SecretStr:
    token, token_file = entry.get("app_token"), entry.get("app_token_file")
    if token is not None and token_file is not None:
        raise AccountsConfigError(f"{where} sets both app_token and app_token_file; keep one")
    if token_file is not None:
        if not isinstance(token_file, str) or not token_file:
            raise AccountsConfigError(f"{where} app_token_file must be a non-empty path")
        file = Path(token_file)
        if not file.is_absolute():
            file = path.parent / file
        return SecretStr(read_token_file(file, f"{where} app_token_file"))
    if token is None:
        return SecretStr("")
    if not isinstance(token, str) or not token:
        raise AccountsConfigError(f"{where} app_token must be a non-empty string")
    return SecretStr(token)


def _entry_base_url(entry: Mapping[str, Any], name: str, settings: VtexSettings, where: str) -> str:
    configured = entry.get("base_url")
    if configured is not None:
        if not isinstance(configured, str) or not configured:
            raise AccountsConfigError(f"{where} base_url must be a non-empty string")
        url = resolve_base_url(configured, name)
        check_base_url(url, f"{where} base_url")
        return url
    if ACCOUNT_PLACEHOLDER in settings.vtex_base_url:
        url = resolve_base_url(settings.vtex_base_url, name)
        check_base_url(url, "VTEX_BASE_URL")
        return url
    return real_base_url(name, settings.vtex_environment)
