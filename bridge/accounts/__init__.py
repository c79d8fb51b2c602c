"""The one registry of the VTEX accounts the bridge serves: credentials, hook secrets, OMS budget, URL.

Every component (ingress, worker, feed poller, hook/feed commands, backfill, console, simulator demo)
asks this module which accounts exist, so an account configured once is served everywhere alike.

Two sources, combined:

- The single-account variables (`VTEX_ACCOUNT`, `VTEX_APP_KEY`, `VTEX_APP_TOKEN` or
  `VTEX_BRIDGE_VTEX_APP_TOKEN_FILE`, `VTEX_BRIDGE_HOOK_SECRET_HEADER`, `VTEX_BRIDGE_HOOK_SECRET`,
  `VTEX_BRIDGE_HOOK_SECRET_PREVIOUS`, `VTEX_BASE_URL`): the one-account shortcut. Without an accounts
  file they are the registry (their defaults are the embedded simulator's). With a file, their account
  is added only when one of `VTEX_ACCOUNT`, `VTEX_APP_KEY`, `VTEX_APP_TOKEN(_FILE)` or a non-empty hook
  secret is set, so a file-only deployment does not also serve the simulator's default account.
- The accounts file (`VTEX_BRIDGE_ACCOUNTS_FILE`; `VTEX_BRIDGE_HOOK_ACCOUNTS_FILE` is the older name of
  the same setting), a JSON list of objects:

      [{"account": "acme", "app_key": "vtexappkey-acme-ABC", "app_token_file": "/run/secrets/acme",
        "header": "X-Bridge-Secret", "secrets": ["new-secret", "old-secret"],
        "oms_rate_limit_per_s": 90, "base_url": "https://acme.vtexcommercestable.com.br"}]

  `account` and `app_key` are required. `app_token` (or `app_token_file`, its first line; a relative
  path is relative to the accounts file) may be left out where only hooks are received; `secrets`
  (one or two, for rotation) where no hook is received; `header` defaults to
  `VTEX_BRIDGE_HOOK_SECRET_HEADER`; `oms_rate_limit_per_s` to `VTEX_BRIDGE_OMS_RATE_LIMIT_PER_S`.

Base URL of an account: its own `base_url`, else `VTEX_BASE_URL` when that holds `{account}` (a
template, e.g. one simulator serving `/accounts/{account}/...`), else VTEX's
`https://{account}.{environment}.com.br`. A `VTEX_BASE_URL` without `{account}` applies to the
settings' own account only.

Validation happens here, at start: bad names, repeated accounts, unknown keys, unreadable token files
raise `AccountsConfigError` naming the entry or variable, never a secret. Secrets stay `SecretStr`.
Each component then checks what it needs: `require_app_tokens()` (OMS readers), `hook_accounts()`
(the ingress: accounts with hook secrets, which must be strong outside the `dev` profile — fail closed)
and `require_hook_secrets()` (every account must have one, e.g. to configure all hooks).

Modules: `model` (Account, the error), `own_account` (the single-account variables), `accounts_file`
(parsing the file), `values` (checks both share), `registry` (the combined, ordered accounts) and
`order_keys` (an order's key in the worker's state). The names below are re-exported because the
ingress, worker, feed poller, commands and tests import them from `bridge.accounts`.
"""

from __future__ import annotations

from bridge.accounts.accounts_file import MAX_SECRETS, accounts_file, read_accounts_file
from bridge.accounts.model import (
    MASK,
    UNKNOWN_ACCOUNT_LABEL,
    Account,
    AccountEntry,
    AccountsConfigError,
)
from bridge.accounts.order_keys import ORDER_KEY_SEPARATOR, input_key, order_key, split_order_key
from bridge.accounts.own_account import own_app_token
from bridge.accounts.registry import AccountRegistry, check_secret_strength
from bridge.accounts.values import ACCOUNT_PLACEHOLDER, real_base_url, resolve_base_url

__all__ = [
    "ACCOUNT_PLACEHOLDER",
    "MASK",
    "MAX_SECRETS",
    "ORDER_KEY_SEPARATOR",
    "UNKNOWN_ACCOUNT_LABEL",
    "Account",
    "AccountEntry",
    "AccountRegistry",
    "AccountsConfigError",
    "accounts_file",
    "check_secret_strength",
    "input_key",
    "order_key",
    "own_app_token",
    "read_accounts_file",
    "real_base_url",
    "resolve_base_url",
    "split_order_key",
]
